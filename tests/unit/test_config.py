"""Settings: defaults, stockade.toml, STOCKADE_* overrides, validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockade.config import ConfigError, load_settings, write_template


def test_defaults_live_in_the_data_folder(tmp_path: Path) -> None:
    s = load_settings(tmp_path / "d", environ={})
    assert s.database_url == f"sqlite:///{tmp_path / 'd' / 'stockade.sqlite3'}"
    assert s.storage_url == (tmp_path / "d" / "files").as_uri()
    assert s.max_file_size == 100 * 1024 * 1024
    assert s.secret_key
    # The secret is generated once and shared by every process using the folder.
    assert load_settings(tmp_path / "d", environ={}).secret_key == s.secret_key
    assert (tmp_path / "d" / "secret_key").stat().st_mode & 0o077 == 0


def test_toml_then_environment(tmp_path: Path) -> None:
    (tmp_path / "stockade.toml").write_text('max_file_size = 1000\nbase_url = "https://a.test/"\n')
    s = load_settings(tmp_path, environ={})
    assert (s.max_file_size, s.base_url) == (1000, "https://a.test")
    s = load_settings(
        tmp_path,
        environ={
            "STOCKADE_MAX_FILE_SIZE": "2000",
            "STOCKADE_DATABASE_URL": "postgresql://u@h/db",
            "STOCKADE_STORAGE_URL": "s3://b/p?endpoint=http://127.0.0.1:1",
            "STOCKADE_ACCESS_LOG": "true",
        },
    )
    assert s.max_file_size == 2000
    assert s.database_url == "postgresql://u@h/db"
    assert s.storage_url.startswith("s3://b/p")
    assert s.access_log is True


@pytest.mark.parametrize(
    ("toml", "env"),
    [
        ("nonsense = 1\n", {}),
        ("max_file_size = 'big'\n", {}),
        ("", {"STOCKADE_MAX_FILE_SIZE": "-1"}),
        ("", {"STOCKADE_DATABASE_URL": "mysql://x"}),
        ("", {"STOCKADE_BASE_URL": "ftp://x"}),
        ("", {"STOCKADE_ACCESS_LOG": "maybe"}),
        ("max_file_size = \n", {}),
    ],
)
def test_bad_settings_are_refused(tmp_path: Path, toml: str, env: dict[str, str]) -> None:
    (tmp_path / "stockade.toml").write_text(toml)
    with pytest.raises(ConfigError):
        load_settings(tmp_path, environ=env)


def test_template_is_valid_and_never_overwrites(tmp_path: Path) -> None:
    assert write_template(tmp_path)
    default = load_settings(tmp_path, environ={})
    assert default.max_file_size == 100 * 1024 * 1024
    (tmp_path / "stockade.toml").write_text("workers = 3\n")
    assert not write_template(tmp_path)
    assert load_settings(tmp_path, environ={}).workers == 3
