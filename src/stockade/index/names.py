"""Projects' names: what a name looks like (its ultranormalized form), for look-alike checks."""

from __future__ import annotations

import unicodedata

__all__ = ["ultranormalize"]

# Letters of other scripts that render like Latin ones (lower case: folding happens after
# casefold). Unicode's confusables list is much longer; these are the ones seen in package
# names, plus every Cyrillic and Greek letter whose capital or small form is a Latin twin.
_CONFUSABLES = str.maketrans(
    {
        # Cyrillic
        "\N{CYRILLIC SMALL LETTER A}": "a",
        "\N{CYRILLIC SMALL LETTER VE}": "b",
        "\N{CYRILLIC SMALL LETTER IE}": "e",
        "\N{CYRILLIC SMALL LETTER IO}": "e",
        "\N{CYRILLIC SMALL LETTER SHHA}": "h",
        "\N{CYRILLIC SMALL LETTER EN}": "h",
        "\N{CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I}": "i",
        "\N{CYRILLIC SMALL LETTER YI}": "i",
        "\N{CYRILLIC SMALL LETTER JE}": "j",
        "\N{CYRILLIC SMALL LETTER KA}": "k",
        "\N{CYRILLIC SMALL LETTER EM}": "m",
        "\N{CYRILLIC SMALL LETTER O}": "o",
        "\N{CYRILLIC SMALL LETTER ER}": "p",
        "\N{CYRILLIC SMALL LETTER QA}": "q",
        "\N{CYRILLIC SMALL LETTER ES}": "c",
        "\N{CYRILLIC SMALL LETTER DZE}": "s",
        "\N{CYRILLIC SMALL LETTER TE}": "t",
        "\N{CYRILLIC SMALL LETTER U}": "y",
        "\N{CYRILLIC SMALL LETTER WE}": "w",
        "\N{CYRILLIC SMALL LETTER HA}": "x",
        "\N{CYRILLIC SMALL LETTER KOMI DE}": "d",
        "\N{LATIN SMALL LETTER SCRIPT G}": "g",
        # Greek
        "\N{GREEK SMALL LETTER ALPHA}": "a",
        "\N{GREEK SMALL LETTER BETA}": "b",
        "\N{GREEK SMALL LETTER EPSILON}": "e",
        "\N{GREEK SMALL LETTER ETA}": "n",
        "\N{GREEK SMALL LETTER IOTA}": "i",
        "\N{GREEK SMALL LETTER KAPPA}": "k",
        "\N{GREEK SMALL LETTER MU}": "u",
        "\N{GREEK SMALL LETTER NU}": "v",
        "\N{GREEK SMALL LETTER OMICRON}": "o",
        "\N{GREEK SMALL LETTER RHO}": "p",
        "\N{GREEK SMALL LETTER TAU}": "t",
        "\N{GREEK SMALL LETTER UPSILON}": "u",
        "\N{GREEK SMALL LETTER CHI}": "x",
        "\N{GREEK SMALL LETTER ZETA}": "z",
        # Latin letters without a dot or with a stroke
        "\N{LATIN SMALL LETTER DOTLESS I}": "i",
        "\N{LATIN SMALL LETTER DOTLESS J}": "j",
        "\N{LATIN SMALL LETTER L WITH STROKE}": "l",
    }
)


# PyPI's own folding of ASCII look-alikes, applied last (after lower-casing).
_ASCII_LOOKALIKES = str.maketrans({"l": "1", "i": "1", "o": "0"})


_SEPARATORS = str.maketrans("", "", "-_.")


def ultranormalize(name: str) -> str:
    """What a name looks like: NFKC, casefolded, confusable letters folded to Latin, ``-_.``
    removed, then ``l``/``i`` to ``1`` and ``o`` to ``0``.

    ``Requests``, ``re-quests``, ``reque_sts`` and ``requests`` spelt with a Cyrillic ``e`` all
    give ``requests``; ``djang0`` and ``Django`` both give ``djang0``."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    # Combining marks (an accent added to a letter) do not change how a name reads at a glance.
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", folded) if not unicodedata.combining(c)
    )
    folded = folded.translate(_CONFUSABLES).translate(_SEPARATORS)
    return folded.translate(_ASCII_LOOKALIKES)
