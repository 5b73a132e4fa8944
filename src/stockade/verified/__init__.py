"""Verified details: which of a project's URLs are shown as verified."""
