"""User agents in a few words, for the security-history tables."""

from __future__ import annotations

import json

import pytest

from stockade.web.useragents import short_agent

UV = "uv/0.9.5 " + json.dumps(
    {
        "installer": {"name": "uv", "version": "0.9.5"},
        "python": "3.12.3",
        "implementation": {"name": "CPython", "version": "3.12.3"},
        "distro": {"name": "Debian GNU/Linux", "version": "12", "id": "bookworm"},
        "system": {"name": "Linux", "release": "6.1.0-18-amd64"},
        "cpu": "x86_64",
        "ci": None,
    }
)
PIP = "pip/24.0 " + json.dumps(
    {
        "ci": None,
        "cpu": "arm64",
        "installer": {"name": "pip", "version": "24.0"},
        "system": {"name": "Darwin", "release": "23.1.0"},
    }
)


@pytest.mark.parametrize(
    ("agent", "short"),
    [
        (UV, "uv 0.9 on Linux"),
        (PIP, "pip 24.0 on macOS"),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/131.0.6778.85 Safari/537.36",
            "Chrome 131 on Linux",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox 128 on Windows",
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
            "Edge 120 on Windows",
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
            "Safari 17.1 on iOS",
        ),
        ("twine/6.1.0 CPython/3.11.2", "twine 6.1"),
        ("python-httpx/0.27.0", "python-httpx 0.27"),
        ("stockade-cli", "stockade-cli"),
        ("", "—"),
        (None, "—"),
        ("uv/0.9 {not json", "uv 0.9"),
        ("x" * 100, "x" * 39 + "…"),
    ],
)
def test_short_agent(agent: str | None, short: str) -> None:
    assert short_agent(agent) == short
