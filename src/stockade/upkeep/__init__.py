"""Upkeep: nothing left behind. The spool cleaner, the orphan-blob sweep and ``fsck``, which
checks every invariant between the database, the blob store, the rendered pages and the spool
folder (and repairs what it can).

A use case above the domains: it reads every table that references a blob
(:mod:`stockade.upkeep.references`) and re-renders pages through the index.
"""
