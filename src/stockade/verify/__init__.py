"""``stockade verify``: a client's checks that files are the ones an index published."""
