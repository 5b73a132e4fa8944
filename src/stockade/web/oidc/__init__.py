"""Trusted publishing: PyPI's token-exchange endpoints and the publisher pages."""
