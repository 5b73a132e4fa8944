"""Moving an index, or part of one, between machines: ``stockade export`` writes a bundle
(the database's rows, the blobs they reference, a manifest with the sha256 of each) and
``stockade import bundle`` verifies and merges one into another index, whatever the backends
on either side (SQLite + files, PostgreSQL + S3)."""
