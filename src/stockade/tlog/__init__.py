"""The transparency log (RFC 6962/9162 Merkle tree of every file change)."""
