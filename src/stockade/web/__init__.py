"""The web layer: the ASGI application, templates and the pages people see."""
