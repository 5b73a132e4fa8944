"""API tokens used by upload clients (`__token__` + token)."""
