"""Organizations' public pages and PEP 752's namespace API."""
