"""PEP 740 provenance served over HTTP."""
