"""Moving an index in and between machines: distribution files from a folder (pypiserver,
``pip download``) or a devpi export, and bundles written by ``stockade export``."""
