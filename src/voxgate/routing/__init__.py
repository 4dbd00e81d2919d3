"""Routes from the catalog, their credentials, and (later) retries and circuit breakers."""
