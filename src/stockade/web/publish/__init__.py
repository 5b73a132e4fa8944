"""Publishing over HTTP: the legacy upload form and its streaming reader."""
