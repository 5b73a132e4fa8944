"""stockade: a self-hostable Python package index."""

__version__ = "0.1.0"
