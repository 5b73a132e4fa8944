"""PEP 740 attestations: verified at upload, served as provenance."""
