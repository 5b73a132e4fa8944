"""Use cases: the flows that compose several domains (publishing a file through the legacy
upload API). They sit above the domains and below the face; no domain imports them."""
