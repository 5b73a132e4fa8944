"""API tokens over HTTP: reading them from requests, and the token pages."""
