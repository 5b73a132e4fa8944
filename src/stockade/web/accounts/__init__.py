"""Account pages: register, log in, settings."""
