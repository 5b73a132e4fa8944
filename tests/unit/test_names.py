"""Name rules as pure functions: the ultranormalizer, the standard library, and typosquats of
the real most downloaded PyPI projects (the corpus ranking and the list bundled with stockade)."""

from __future__ import annotations

import csv
import time

import pytest

from stockade.abuse.names import PopularNames, bundled_popular_names, popular_names, stdlib_names
from stockade.index.names import ultranormalize
from support.backend import CORPUS

CYRILLIC_A = "\N{CYRILLIC SMALL LETTER A}"
CYRILLIC_E = "\N{CYRILLIC SMALL LETTER IE}"
CYRILLIC_O = "\N{CYRILLIC SMALL LETTER O}"
GREEK_OMICRON = "\N{GREEK SMALL LETTER OMICRON}"


def corpus_ranking() -> list[str]:
    with (CORPUS / "top-projects.tsv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [int(r["rank"]) for r in rows[:3]] == [1, 2, 3]
    return [r["name"] for r in rows]


@pytest.fixture(scope="module")
def top() -> PopularNames:
    """All 15,000 real top projects (the issue's list), not the default top 1000."""
    return PopularNames(corpus_ranking())


@pytest.mark.parametrize(
    ("name", "looks_like"),
    [
        ("Requests", "requests"),
        ("re-quests", "requests"),
        ("reque_sts", "requests"),
        ("Django", "djang0"),
        ("djang0", "djang0"),
        ("DJANGO", "djang0"),
        ("pillow", "p1110w"),
        ("PiLL0W", "p1110w"),
        # Unicode look-alikes: Cyrillic and Greek letters, full-width forms, accents.
        (f"r{CYRILLIC_E}qu{CYRILLIC_E}sts", "requests"),
        (f"p{CYRILLIC_A}nd{CYRILLIC_A}s", "pandas"),
        (f"b{GREEK_OMICRON}t{CYRILLIC_O}3", "b0t03"),
        ("\uff52\uff45\uff51\uff55\uff45\uff53\uff54\uff53", "requests"),  # full-width
        ("re\u0301quests", "requests"),  # e + combining acute accent
        ("\ufb01lelock", "f11e10ck"),  # the fi ligature
    ],
)
def test_ultranormalize_folds_what_looks_the_same(name: str, looks_like: str) -> None:
    assert ultranormalize(name) == looks_like


def test_ultranormalize_keeps_different_names_apart() -> None:
    assert ultranormalize("requests") != ultranormalize("request")
    assert ultranormalize("flask") != ultranormalize("flask2")
    assert ultranormalize("numpy") != ultranormalize("numba")


def test_stdlib_names_are_the_interpreters() -> None:
    names = stdlib_names()
    for module in ("os", "sys", "asyncio", "json", "typing", "xml", "urllib", "email"):
        assert module in names
    assert "requests" not in names
    assert not any(n.startswith("-") for n in names)  # _thread and friends are left out


def test_bundled_list_is_the_top_of_the_corpus_ranking() -> None:
    from packaging.utils import canonicalize_name

    bundled = bundled_popular_names()
    assert len(bundled) == 5000
    ranking = [canonicalize_name(n) for n in corpus_ranking()]
    assert list(bundled[:100]) == ranking[:100]
    assert bundled[0] == "boto3"
    assert "requests" in bundled[:10]


@pytest.mark.parametrize(
    ("candidate", "project", "rule"),
    [
        ("reqeusts", "requests", "two letters swapped"),
        ("requets", "requests", "one letter left out"),
        ("requestss", "requests", "one letter doubled"),
        ("rewuests", "requests", "one letter changed"),
        ("python-requests", "requests", "'python-' added"),
        ("py-requests", "requests", "'py-' added"),
        ("requests-python", "requests", "'-python' added"),
        ("numpy-py", "numpy", "'-py' added"),
        ("djang0", "django", "look-alike"),
        ("dj4ngo", "django", "one letter changed"),
        ("urlib3", "urllib3", "doubled letter made single"),
        ("urllib33", "urllib3", "one letter doubled"),
        ("flask3", None, None),  # a trailing version digit: a series, not a typo
        ("colourama", "colorama", "one letter added"),
        ("crypttography", "cryptography", "one letter doubled"),
        ("tenserflow", "tensorflow", "one letter changed"),
        ("matplotlb", "matplotlib", "one letter left out"),
        ("scikit_learn", None, None),  # the same project, another spelling
        ("Py-YAML", "pyyaml", "look-alike"),
        ("setuptool", "setuptools", "one letter left out"),
    ],
)
def test_real_typosquats_are_caught(
    top: PopularNames, candidate: str, project: str | None, rule: str | None
) -> None:
    found = top.collision(candidate)
    if project is None:
        assert found is None
        return
    assert found is not None, candidate
    assert found.project == project
    if rule == "look-alike":
        assert "look-alike" in found.rule
    elif rule is not None:
        assert rule in found.rule


@pytest.mark.parametrize(
    "legitimate",
    [
        "flask2",  # a version digit added
        "boto4",
        "reqs",
        "requests-toolbelt",
        "my-company-utils",
        "stockade",
        "acme-internal-client",
        "fox",  # short names are protected from look-alikes only (six, tox, ...)
        "requests",  # a popular name itself is that project, not a copy
        "numpy",
        "pyyaml",
    ],
)
def test_legitimate_names_pass(top: PopularNames, legitimate: str) -> None:
    assert top.collision(legitimate) is None


def test_the_most_popular_collision_is_named(top: PopularNames) -> None:
    # "boto" is popular itself; "botp" is one letter from boto, and boto3 is further away.
    found = top.collision("botp")
    assert found is not None
    assert found.project == "boto"


def test_top_n_limits_which_projects_are_protected() -> None:
    names = corpus_ranking()
    rank = names.index("tensorflow")
    assert popular_names(rank).collision("tensorfow") is None
    found = popular_names(rank + 1).collision("tensorfow")
    assert found is not None
    assert found.project == "tensorflow"


def test_local_top_projects_are_protected_too() -> None:
    popular = popular_names(100, local_top=("acme-widgets",))
    found = popular.collision("acme-widgetz")
    assert found is not None
    assert found.project == "acme-widgets"


def test_checking_a_name_takes_microseconds(top: PopularNames) -> None:
    candidates = ["reqeusts", "totally-new-name-here", "python-requests", "djang0", "x" * 60]
    start = time.perf_counter()
    for _ in range(200):
        for c in candidates:
            top.collision(c)
    per_check = (time.perf_counter() - start) / (200 * len(candidates))
    assert per_check < 0.002, f"{per_check * 1000:.2f} ms per name"
