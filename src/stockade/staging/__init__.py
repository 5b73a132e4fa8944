"""Staged releases (PEP 694 publishing sessions): a use case beside the legacy upload."""
