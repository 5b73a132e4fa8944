"""``/favicon.ico``: the site's icon, a palisade of pale stakes on the header's blue.

Drawn here as a 32 by 32 PNG inside an ICO container (Windows Vista's format, which every browser
reads), so no binary file has to ship with the package."""

from __future__ import annotations

import struct
import zlib

from fastapi import APIRouter
from starlette.responses import Response

__all__ = ["ICON", "router"]

router = APIRouter(include_in_schema=False)

SIZE = 32
_BRAND = (0x1F, 0x3A, 0x5F, 0xFF)
_STAKE = (0xF3, 0xF5, 0xF8, 0xFF)
_CLEAR = (0, 0, 0, 0)


def _pixel(x: int, y: int) -> tuple[int, int, int, int]:
    # Five stakes, 4 px wide with 2 px gaps, pointed at the top; a rail across them.
    if not (1 <= x <= 30 and 1 <= y <= 30):
        return _CLEAR
    stake = (x - 2) % 6
    if x < 2 or x > 29 or stake >= 4:
        return _STAKE if 18 <= y <= 20 else _BRAND
    peak = 4 + abs(stake * 2 - 3) // 2
    return _STAKE if y >= peak and y <= 27 else _BRAND


def _png() -> bytes:
    rows = b"".join(
        b"\x00" + b"".join(bytes(_pixel(x, y)) for x in range(SIZE)) for y in range(SIZE)
    )

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 9))
        + chunk(b"IEND", b"")
    )


def _ico(png: bytes) -> bytes:
    directory = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", SIZE, SIZE, 0, 0, 1, 32, len(png), 6 + 16)
    return directory + entry + png


ICON = _ico(_png())


@router.get("/favicon.ico")
def favicon() -> Response:
    """The icon browsers ask for on every site; cached for a day."""
    return Response(
        ICON,
        media_type="image/vnd.microsoft.icon",
        headers={"cache-control": "max-age=86400, public"},
    )
