"""`stockade … --help` for every command, run as a user runs it: plain words, no emoji made of
event names such as `account:email:verified`, no reStructuredText backticks, and a flag shown
as a flag (no `<bool>` label, `--help` included)."""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from stockade.cli.main import app

STOCKADE = str(Path(sys.executable).parent / "stockade")


# Typer builds its commands on its own copy of click: read them by their attributes.
def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, command in group.commands.items():
        if hasattr(command, "commands"):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name)


def flags(path: tuple[str, ...]) -> list[str]:
    command: Any = typer.main.get_command(app)
    for name in path:
        command = command.commands[name]
    return [
        max(p.opts, key=len)
        for p in command.params
        if getattr(p, "is_flag", False) and not getattr(p, "hidden", False)
    ]


def help_text(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(
        app, [*path, "--help"], prog_name="stockade", env={"COLUMNS": "100"}
    )
    assert result.exit_code == 0, (path, result.output)
    return result.output


def test_every_commands_help_reads_as_plain_text() -> None:
    paths = list(commands(typer.main.get_command(app)))
    assert ("user", "verify-email") in paths and ("admin", "quarantine") in paths
    texts = {path: help_text(path) for path in paths}
    problems: list[str] = []
    for path, text in texts.items():
        where = " ".join(("stockade", *path))
        if "`" in text:
            problems.append(f"{where}: a backtick")
        if "<bool>" in text:
            problems.append(f"{where}: a flag labelled <bool>")
        symbols = sorted({c for c in text if unicodedata.category(c) == "So"})
        if symbols:
            problems.append(f"{where}: symbols {symbols}")
        if not re.search(r"^\s*--help\s{2,}Show this message and exit\.$", text, re.M):
            problems.append(f"{where}: --help is not a plain flag")
        for flag in flags(path):
            if re.search(rf"^\s*(-\w, )?{re.escape(flag)}\s+<", text, re.M):
                problems.append(f"{where}: {flag} has a type label")
    assert problems == [], problems
    # The event name that used to become an envelope emoji reads as written.
    assert "'account:email:verified'" in " ".join(texts[("user", "verify-email")].split())
    # The installed command prints the same words (a new interpreter at every --help would take
    # minutes for them all on a busy machine: one is enough to show nothing differs).
    proc = subprocess.run(
        [STOCKADE, "user", "verify-email", "--help"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "100", "LANG": "C.UTF-8"},
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == texts[("user", "verify-email")].split()
    # A documented JSON shape keeps one key a line instead of being filled into a paragraph.
    for path, key in (
        (("token", "list"), "name"),
        (("user", "show"), "is_admin"),
        (("events", "list"), "tag"),
    ):
        assert re.search(rf"^\s*- {key}[:,] ", texts[path], re.M), texts[path]
