"""Parsing and validating uploaded distribution files (wheels and sdists).

Pure functions, no database or HTTP: given a file on disk and the name it was
uploaded under, :func:`inspect_distribution` returns validated metadata or
raises :class:`DistError` with a one-line reason worded like PyPI's.
"""

from stockade.dists.archives import DEFAULT_LIMITS, ArchiveLimits
from stockade.dists.errors import DistError
from stockade.dists.filenames import FilenameInfo, parse_filename
from stockade.dists.inspection import DistInfo, inspect_distribution
from stockade.dists.metadata import ACCEPTED_METADATA_VERSIONS
from stockade.dists.tags import is_valid_platform_tag

__all__ = [
    "ACCEPTED_METADATA_VERSIONS",
    "DEFAULT_LIMITS",
    "ArchiveLimits",
    "DistError",
    "DistInfo",
    "FilenameInfo",
    "inspect_distribution",
    "is_valid_platform_tag",
    "parse_filename",
]
