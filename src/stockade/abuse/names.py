"""Names that cannot be squatted: look-alike folding and closeness to popular projects.

Pure functions, no database: :mod:`stockade.abuse.naming` applies them at project creation.

- :func:`stockade.index.names.ultranormalize` folds a name to what it *looks like*: Unicode
  compatibility forms (NFKC), case, Cyrillic and Greek letters that look Latin, separators
  (``-_.`` removed) and the ASCII look-alikes PyPI folds (``l``/``I``/``i`` to ``1``,
  ``o``/``O`` to ``0``). Two names with the same ultranormalized form are indistinguishable to a
  reader.
- :class:`PopularNames` answers, in a fraction of a millisecond, whether a name is one typo
  away from one of the popular projects it was built from (see :meth:`PopularNames.collision`).
  It walks the candidate's own one-edit neighbourhood (every letter changed, added or left out,
  over the 37 characters a PEP 503 name can hold) and looks each one up among the popular names:
  about 75 lookups per character of the candidate, whatever the number of popular names, and no
  index beyond the names themselves (a precomputed deletion index cost every worker ~5 MiB).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

from packaging.utils import canonicalize_name

from stockade.index.names import ultranormalize

__all__ = [
    "Collision",
    "PopularNames",
    "bundled_popular_names",
    "popular_names",
    "stdlib_names",
]


@functools.cache
def stdlib_names() -> frozenset[str]:
    """PEP 503 names of the standard library's top-level modules (``sys.stdlib_module_names``),
    private ones (``_thread``) left out: they cannot be project names."""
    return frozenset(canonicalize_name(m) for m in sys.stdlib_module_names if not m.startswith("_"))


@functools.cache
def bundled_popular_names() -> tuple[str, ...]:
    """PyPI's most downloaded projects, most downloaded first, as bundled with stockade
    (``data/top_pypi_projects.txt``)."""
    text = resources.files("stockade.abuse").joinpath("data/top_pypi_projects.txt").read_text()
    return tuple(
        canonicalize_name(line.strip())
        for line in text.splitlines()
        if line.strip() and not line.startswith("#")
    )


@dataclass(frozen=True)
class Collision:
    """A candidate name too close to a popular one: which, and by which rule (in words)."""

    project: str
    rule: str


_PREFIXES = ("python-", "py-")
_SUFFIXES = ("-python", "-py")
# Names shorter than this (popular or new) are compared by look-alikes and prefixes only: every
# short name is one letter away from many others (six, tox, fox, mix), so edits are not typos.
MIN_EDIT_LENGTH = 4
# What a PEP 503 normalized name is made of: the edits of a candidate stay among these.
_NAME_CHARACTERS = "abcdefghijklmnopqrstuvwxyz0123456789-"


def _version_digit(popular: str, candidate: str) -> bool:
    """A difference in a trailing digit only (``flask`` and ``flask2``, ``boto3`` and
    ``boto2``): a series of projects, not a slip of the finger."""
    a, b = popular, candidate
    if len(a) > len(b):
        a, b = b, a
    if len(b) == len(a) + 1:
        # A repeated digit (urllib33) is a slip of the finger after all.
        return b[:-1] == a and b[-1].isdigit() and b[-1] != a[-1:]
    return a[:-1] == b[:-1] and a[-1].isdigit() and b[-1].isdigit()


class PopularNames:
    """The popular projects a new name must not imitate, and the index to check it fast.

    Built from PEP 503 names, most popular first (earlier names win when a candidate is close to
    several). Build once and reuse: construction costs about a second per 100,000 names."""

    def __init__(self, names: Iterable[str], established: Iterable[str] = ()) -> None:
        # Real, established projects (the whole bundled list, beyond the top N checked against):
        # never refused, even when one is a letter away from a more popular one
        # (`futures` / `future`): they are projects in their own right, not copies.
        self.established = frozenset(canonicalize_name(n) for n in established)
        ordered: dict[str, int] = {}
        for name in names:
            ordered.setdefault(canonicalize_name(name), len(ordered))
        self.rank = ordered
        self.names: Sequence[str] = tuple(ordered)
        self._looks: dict[str, str] = {}
        for name in self.names:
            self._looks.setdefault(ultranormalize(name), name)

    def __len__(self) -> int:
        return len(self.names)

    def _best(self, found: Iterable[tuple[str, str]], candidate: str) -> Collision | None:
        hits = [(p, rule) for p, rule in found if p != candidate]
        if not hits:
            return None
        project, rule = min(hits, key=lambda h: self.rank[h[0]])
        return Collision(project, rule)

    def collision(self, candidate: str) -> Collision | None:
        """The most popular project ``candidate`` imitates, or None. A candidate that is itself
        a popular name is never refused here (it is that project, not a copy)."""
        name = canonicalize_name(candidate)
        if name in self.rank or name in self.established:
            return None
        looks = self._looks.get(ultranormalize(name))
        if looks is not None:
            return Collision(
                looks, "the same name once case, separators and look-alike characters are ignored"
            )
        for affix in _PREFIXES:
            if name.startswith(affix) and name[len(affix) :] in self.rank:
                return Collision(name[len(affix) :], f"the popular name with {affix!r} added")
        for affix in _SUFFIXES:
            if name.endswith(affix) and name[: -len(affix)] in self.rank:
                return Collision(name[: -len(affix)], f"the popular name with {affix!r} added")
        return self._best(self._edits(name), name)

    def _edits(self, name: str) -> Iterable[tuple[str, str]]:
        n = len(name)
        if n < MIN_EDIT_LENGTH:
            return
        for i in range(n):
            cut = name[:i] + name[i + 1 :]
            # One letter added (popular = candidate with one letter removed).
            if cut in self.rank and len(cut) >= MIN_EDIT_LENGTH and not _version_digit(cut, name):
                doubled = (i > 0 and name[i - 1] == name[i]) or (
                    i + 1 < n and name[i + 1] == name[i]
                )
                yield cut, "one letter doubled" if doubled else "one letter added"
            # One letter replaced.
            for c in _NAME_CHARACTERS:
                if c != name[i]:
                    popular = name[:i] + c + name[i + 1 :]
                    if popular in self.rank and not _version_digit(popular, name):
                        yield popular, "one letter changed"
            # One letter swapped with its neighbour.
            if i + 1 < n and name[i] != name[i + 1]:
                swapped = name[:i] + name[i + 1] + name[i] + name[i + 2 :]
                if swapped in self.rank and len(swapped) >= MIN_EDIT_LENGTH:
                    yield swapped, "two letters swapped"
        # One letter left out (candidate = popular with one letter removed).
        for j in range(n + 1):
            for c in _NAME_CHARACTERS:
                popular = name[:j] + c + name[j:]
                if popular not in self.rank or _version_digit(popular, name):
                    continue
                doubled = (j > 0 and c == name[j - 1]) or (j < n and c == name[j])
                yield popular, "a doubled letter made single" if doubled else "one letter left out"


@functools.lru_cache(maxsize=4)
def _cached(top_n: int, extra: tuple[str, ...]) -> PopularNames:
    bundled = bundled_popular_names()
    return PopularNames([*extra, *bundled[:top_n]], established=bundled)


def popular_names(top_n: int, local_top: Sequence[str] = ()) -> PopularNames:
    """The popular names for the ``typosquat_top_n`` setting: this index's own most downloaded
    projects (``local_top``, most downloaded first: empty until download counts exist) ahead of
    the bundled top ``top_n`` of PyPI. Cached per process for the same arguments."""
    return _cached(max(top_n, 0), tuple(local_top))
