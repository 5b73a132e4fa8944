"""HTTP ``Range`` requests (RFC 9110): one byte range, or the whole file."""

from __future__ import annotations

__all__ = ["RangeNotSatisfiable", "parse_range"]


class RangeNotSatisfiable(Exception):
    """The range lies wholly outside the file (answered 416)."""


def parse_range(
    header: str | None, size: int, if_range: str | None = None, etag: str | None = None
) -> tuple[int, int] | None:
    """The half-open span ``[start, end)`` to send, or None for the whole file.

    Several ranges, a malformed header, or an ``If-Range`` that does not match are all
    answered with the whole file, which RFC 9110 allows.
    """
    if not header or (if_range is not None and if_range.strip() != etag):
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash:
        return None
    try:
        if first == "":
            suffix = int(last)
            if suffix <= 0:
                raise RangeNotSatisfiable(header)
            return (max(0, size - suffix), size)
        start = int(first)
        end = int(last) + 1 if last else size
    except ValueError:
        return None
    if start >= size:
        raise RangeNotSatisfiable(header)
    if start < 0 or end <= start:
        return None
    return (start, min(end, size))
