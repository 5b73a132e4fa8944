"""Upkeep: nothing left behind, and the operator's copies. The spool cleaner, the orphan-blob
sweep, ``fsck`` (every invariant between the database, the blob store, the rendered pages and
the spool folder, and the repairs it can make), backup and restore, and a private data folder.

A use case above the domains: it reads every table that references a blob
(:mod:`stockade.upkeep.references`) and re-renders pages through the index.
"""
