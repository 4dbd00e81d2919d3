"""The model reference pages, rendered from the catalog in every language that has a catalog."""
