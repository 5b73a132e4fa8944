"""The public security dashboard."""
