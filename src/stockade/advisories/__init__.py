"""Known vulnerabilities: OSV advisories imported (OSV JSON or PyPA advisory-database YAML),
merged by alias, and matched to versions with ``packaging``.

Matching is done on read, from an index on the normalized package name: a query, a page or an
upload check reads the advisories of one name and evaluates its versions and ECOSYSTEM ranges.
So a new advisory, a new release or a mirrored project is matched the moment it exists, and
the simple-API read path is untouched.

- ``osv``: one advisory document parsed and checked (pure).
- ``ranges``: whether a version is affected (pure).
- ``sources``: reading folders, zips, files and URLs of advisories, with bounds.
- ``importer``: writing them, idempotently, merged by alias; ``notices`` tells owners.
- ``queries``: what the JSON API, the OSV API, the pages and the upload check ask.
- ``job``: the scheduled re-import from configured URLs.
"""
