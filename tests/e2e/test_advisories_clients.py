"""Known vulnerabilities with real clients against `stockade serve --workers 2`: pip-audit asks
the index's OSV API (`-s osv --osv-url <index>/v1/query`), both over a pinned requirements file
and over one it resolves from the index's /simple/ (`--index-url`); Chromium shows a vulnerable
release's advisories at desktop and phone widths."""

from __future__ import annotations

import csv
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from e2e.browser import chromium, watched_page
from e2e.conftest import BIN, LiveServer, client_env, run
from support.advisories import IDNA_ADVISORY
from support.backend import CORPUS

pytestmark = pytest.mark.e2e

ROWS = list(csv.DictReader((CORPUS / "MANIFEST.tsv").open(encoding="utf-8"), delimiter="\t"))
DEPSET = [r for r in ROWS if r["notes"].startswith("depset py311-linux")]
PINNED = {r["normalized_name"]: r["version"] for r in DEPSET}
# An advisory written for this test (the year says it is not real) on a version the corpus has.
IDNA = PINNED["idna"]
ADVISORY = IDNA_ADVISORY


@pytest.fixture(scope="module")
def loaded(live: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    """The index with requests and its dependencies, the corpus's 210 advisories and ours."""
    live.twine_upload([CORPUS / "dists" / r["filename"] for r in DEPSET])
    folder = tmp_path_factory.mktemp("advisories")
    (folder / "PYSEC-2099-10.json").write_text(json.dumps(ADVISORY))
    out = run(
        [
            str(BIN / "stockade"),
            "advisories",
            "import",
            str(CORPUS / "advisories"),
            str(folder),
            "--data",
            str(live.data),
        ],
        env=live.env,
    ).stderr
    assert "211 added" in out, out
    return live


@pytest.fixture(scope="module")
def scratch_tools(loaded: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> LiveServer:
    """pip, wheel and setuptools on the index: pip-audit's scratch environment upgrades them
    before it resolves, from whatever index pip is given. Fetched once from the public index by
    pip itself, then uploaded, so that every package pip-audit installs comes from stockade."""
    folder = tmp_path_factory.mktemp("wheelhouse")
    run(
        [
            str(BIN / "python"),
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary",
            ":all:",
            "-d",
            str(folder),
            "pip",
            "wheel",
            "setuptools",
        ],
        # From PyPI only, never from the indexes this machine's pip configuration adds.
        env=client_env(PIP_INDEX_URL="https://pypi.org/simple/"),
    )
    # wheel needs packaging: the corpus has it.
    wheels = [*sorted(folder.glob("*.whl")), CORPUS / "dists" / "packaging-25.0-py3-none-any.whl"]
    loaded.twine_upload(wheels)
    return loaded


def _audit(*args: str, env: dict[str, str]) -> tuple[int, dict[str, list[dict[str, object]]]]:
    proc = subprocess.run(
        [str(BIN / "pip-audit"), "-f", "json", "--progress-spinner", "off", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode in (0, 1) and proc.stdout.strip(), (proc.returncode, proc.stderr)
    report = json.loads(proc.stdout)
    return proc.returncode, {d["name"]: d.get("vulns", []) for d in report["dependencies"]}


def _ids(vulns: list[dict[str, object]]) -> set[str]:
    return {str(v["id"]) for v in vulns} | {str(a) for v in vulns for a in v["aliases"]}  # type: ignore[attr-defined]


def test_pip_audit_pinned_requirements_against_the_osv_api(
    loaded: LiveServer, tmp_path: Path
) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("".join(f"{name}=={version}\n" for name, version in PINNED.items()))
    code, found = _audit(
        "-r",
        str(req),
        "--disable-pip",
        "--no-deps",
        "-s",
        "osv",
        "--osv-url",
        f"{loaded.url}/v1/query",
        env=client_env(),
    )
    assert code == 1
    assert "PYSEC-2099-10" in _ids(found["idna"])
    [vuln] = found["idna"]
    assert vuln["fix_versions"] == ["99.0"]
    assert all(not vulns for name, vulns in found.items() if name != "idna")


def test_pip_audit_resolves_from_the_index_and_audits(
    scratch_tools: LiveServer, tmp_path: Path
) -> None:
    loaded = scratch_tools
    req = tmp_path / "requirements.txt"
    req.write_text("requests\n")
    # The scratch environment's own set-up asks the index under test too.
    env = client_env(PIP_INDEX_URL=f"{loaded.url}/simple/")
    code, found = _audit(
        "-r",
        str(req),
        "--index-url",
        f"{loaded.url}/simple/",
        "-s",
        "osv",
        "--osv-url",
        f"{loaded.url}/v1/query",
        env=env,
    )
    assert code == 1
    assert {"requests", "urllib3", "idna", "certifi", "charset-normalizer"} <= set(found)
    assert "PYSEC-2099-10" in _ids(found["idna"])
    paths = loaded.requested_paths()
    assert "/simple/requests/" in paths and "/simple/idna/" in paths


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def test_release_page_shows_its_advisories(loaded: LiveServer, browser: Browser) -> None:
    for width, height in ((1280, 900), (390, 844)):
        w = watched_page(browser, width=width, height=height)
        page = w.page
        page.goto(f"{loaded.url}/project/idna/{IDNA}/")
        badge = page.locator("h1 .badge.danger")
        expect(badge).to_have_text("1 known vulnerability")
        section = page.locator("section.vulnerabilities")
        expect(section.get_by_role("link", name="PYSEC-2099-10")).to_be_visible()
        expect(section).to_contain_text("Test advisory on idna")
        expect(section).to_contain_text("Fixed in 99.0")
        expect(section).to_contain_text("CVE-2099-10")
        badge.click()
        expect(section.get_by_role("heading")).to_be_in_viewport()
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        assert w.errors == [] and not [m for m in w.console if "Content Security Policy" in m]
        # A release no advisory affects shows none.
        page.goto(f"{loaded.url}/project/requests/")
        expect(page.locator("section.vulnerabilities")).to_have_count(0)
        w.page.context.close()
