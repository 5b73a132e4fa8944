"""The mirror's admin pages."""
