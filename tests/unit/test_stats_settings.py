"""The settings of downloads and critical projects: defaults, environment, validation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from stockade.config import ConfigError, load_settings
from stockade.index.policy import critical_enforced, enforcement_date


def test_defaults_and_environment(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})
    assert settings.critical_percent == 1.0
    assert settings.critical_window_days == 180
    assert settings.two_factor_enforce_after == ""
    assert enforcement_date(settings) is None and critical_enforced(settings)
    settings = load_settings(
        tmp_path,
        environ={
            "STOCKADE_CRITICAL_PERCENT": "0.5",
            "STOCKADE_CRITICAL_WINDOW_DAYS": "90",
            "STOCKADE_TWO_FACTOR_ENFORCE_AFTER": "2027-03-01",
            "STOCKADE_DOWNLOAD_FLUSH_INTERVAL": "2",
        },
    )
    assert settings.critical_percent == 0.5
    assert settings.critical_window_days == 90
    assert settings.download_flush_interval == 2.0
    assert enforcement_date(settings) == dt.date(2027, 3, 1)
    assert not critical_enforced(settings, today=dt.date(2027, 2, 28))
    assert critical_enforced(settings, today=dt.date(2027, 3, 1))


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("two_factor_enforce_after", "next week", "two_factor_enforce_after must be an ISO date"),
        ("critical_percent", "0", "critical_percent must be in (0, 100]"),
        ("critical_percent", "101", "critical_percent must be in (0, 100]"),
        ("critical_window_days", "0", "critical_window_days at least 1"),
        ("download_flush_interval", "0", "download_flush_interval must be positive"),
    ],
)
def test_bad_values(tmp_path: Path, key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("]", r"\]")):
        load_settings(tmp_path, environ={f"STOCKADE_{key.upper()}": value})
