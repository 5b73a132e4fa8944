"""TUF metadata (``/tuf/``) and the signed pages, served as stored bytes."""
