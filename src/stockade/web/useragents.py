"""A user agent in a few words for the security-history tables: "uv 0.9 on Linux",
"Firefox 128 on Windows", "twine 6.1". The full string stays available (the pages put it in a
``title``); this only has to be short and recognisable, never exact."""

from __future__ import annotations

import json
import re

__all__ = ["short_agent"]

# pip and uv send "NAME/VERSION {json}" (PEP-less, but both follow pip's linehaul format).
_LINEHAUL = re.compile(r"^[\w.-]+/\S+ (\{.*\})\s*$", re.S)
_BROWSERS = (
    ("Edge", re.compile(r"\bEdg(?:e|A|iOS)?/(\d+)")),
    ("Firefox", re.compile(r"\b(?:Firefox|FxiOS)/(\d+)")),
    ("Chrome", re.compile(r"\b(?:Headless)?(?:Chrome|Chromium|CriOS)/(\d+)")),
    ("Safari", re.compile(r"\bVersion/(\d+(?:\.\d+)?).*\bSafari/")),
)
_SYSTEMS = (
    ("Android", re.compile(r"\bAndroid\b")),
    ("iOS", re.compile(r"\b(?:iPhone|iPad|iPod)\b")),
    ("Windows", re.compile(r"\bWindows\b")),
    ("macOS", re.compile(r"\b(?:Mac OS X|Macintosh|Darwin)\b")),
    ("Linux", re.compile(r"\bLinux\b")),
)
_TOOL = re.compile(r"^([A-Za-z][\w.-]*)/v?(\d+(?:\.\d+)?)")
_MAX = 40


def _minor(version: object) -> str:
    match = re.match(r"\d+(?:\.\d+)?", str(version))
    return match.group(0) if match else str(version)[:12]


def _system(text: str) -> str | None:
    return next((name for name, pattern in _SYSTEMS if pattern.search(text)), None)


def _on(name: str, system: str | None) -> str:
    return f"{name} on {system}" if system else name


def _linehaul(payload: str) -> str | None:
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    installer = data.get("installer")
    if not isinstance(installer, dict) or not installer.get("name"):
        return None
    name = f"{installer['name']} {_minor(installer.get('version', ''))}".strip()
    system = data.get("system")
    system_name = system.get("name") if isinstance(system, dict) else None
    return _on(name, _system(str(system_name)) or system_name or None)


def short_agent(agent: str | None) -> str:
    """A short, readable name for ``agent`` (an HTTP User-Agent); "—" when there is none."""
    if not agent or not agent.strip():
        return "—"
    agent = agent.strip()
    structured = _LINEHAUL.match(agent)
    if structured:
        named = _linehaul(structured.group(1))
        if named:
            return named
    if agent.startswith("Mozilla/"):
        for name, pattern in _BROWSERS:
            match = pattern.search(agent)
            if match:
                return _on(f"{name} {match.group(1)}", _system(agent))
    tool = _TOOL.match(agent)
    if tool:
        return _on(f"{tool.group(1)} {tool.group(2)}", _system(agent[tool.end() :]))
    return agent if len(agent) <= _MAX else agent[: _MAX - 1].rstrip() + "…"
