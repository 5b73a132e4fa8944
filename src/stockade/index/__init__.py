"""The index: projects, releases, files, upload, and the simple and JSON read APIs."""
