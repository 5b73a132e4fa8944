"""C2SP ``tlog-tiles`` paths: ``tile/<L>/<N>[.p/<W>]`` and ``tile/entries/<N>[.p/<W>]``, the
tile index written in groups of three digits, all but the last prefixed with ``x``."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["TILE_HEIGHT", "TILE_WIDTH", "Tile", "parse_tile_path", "tile_path"]

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT

_PATH = re.compile(r"(entries|[0-9]|[1-5][0-9]|6[0-3])/((?:x[0-9]{3}/)*[0-9]{3})(?:\.p/([0-9]+))?")


@dataclass(frozen=True)
class Tile:
    """Tile ``index`` at tile ``level`` (None: an entry bundle), ``width`` hashes or entries."""

    level: int | None
    index: int
    width: int

    @property
    def full(self) -> bool:
        return self.width == TILE_WIDTH


def tile_path(tile: Tile) -> str:
    digits = f"{tile.index:d}"
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    index = "/".join([*("x" + g for g in groups[:-1]), groups[-1]])
    level = "entries" if tile.level is None else str(tile.level)
    suffix = "" if tile.full else f".p/{tile.width}"
    return f"tile/{level}/{index}{suffix}"


def parse_tile_path(path: str) -> Tile | None:
    """The tile ``path`` (after ``tile/``) names, or None when it is not a tile path."""
    match = _PATH.fullmatch(path)
    if match is None:
        return None
    level_text, index_text, width_text = match.groups()
    index = int(index_text.replace("x", "").replace("/", ""))
    width = TILE_WIDTH if width_text is None else int(width_text)
    if width_text is not None and not (0 < width < TILE_WIDTH and width_text == str(width)):
        return None
    level = None if level_text == "entries" else int(level_text)
    tile = Tile(level, index, width)
    # One spelling per tile: no extra leading zero groups.
    return tile if tile_path(tile) == "tile/" + path else None
