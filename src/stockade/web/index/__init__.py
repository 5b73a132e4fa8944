"""The index's public face: the simple API, files, the JSON API and the project pages."""
