"""The HTTP surface: endpoints parse the request, call the gateway and render its answer."""
