"""Upstream adapters, one package per provider, found through the registry."""
