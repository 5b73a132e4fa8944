"""Webhooks: a signed JSON POST to a URL when something happens to a project."""
