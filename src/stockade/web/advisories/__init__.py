"""Known vulnerabilities on the web: the OSV-compatible API and the administrators' page."""
