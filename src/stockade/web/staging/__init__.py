"""The Upload 2.0 API (PEP 694) at ``/upload/``."""
