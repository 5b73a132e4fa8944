"""Settings: read once at start-up from ``<data>/stockade.toml``, overridden by ``STOCKADE_*``.

Every key of :class:`Settings` can be set in the TOML file (same name) or in the environment as
``STOCKADE_<KEY>`` in upper case (``STOCKADE_DATABASE_URL``, ``STOCKADE_STORAGE_URL`` …).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import secrets
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

__all__ = ["ConfigError", "Settings", "UpstreamSettings", "load_settings"]

MiB = 1024 * 1024
PROVENANCE_REGRESSION_CHOICES = ("refuse", "hold", "warn")
GiB = 1024 * MiB


class ConfigError(ValueError):
    """A setting has a value stockade cannot use."""


@dataclass(frozen=True)
class UpstreamSettings:
    """One ``[[upstream]]`` table of ``stockade.toml`` (see ``stockade.mirror``)."""

    name: str
    url: str
    files_url: str = ""
    username: str = ""
    password: str = ""
    ttl_seconds: int = 600
    cooldown_days: float = 0.0
    priority: int = 0


@dataclass(frozen=True)
class Settings:
    """Validated, immutable configuration of one stockade instance."""

    data_dir: Path
    database_url: str
    storage_url: str
    base_url: str = ""
    secret_key: str = ""
    max_file_size: int = 100 * MiB
    max_project_size: int = 10 * GiB
    # An upload whose body stalls this long (seconds without a byte) is refused with 408.
    upload_idle_timeout: float = 60.0
    # CPU seconds a large description (README) may take to render; over it the upload is
    # refused (0: no limit).
    description_render_seconds: float = 10.0
    # How often each worker looks for pages changed by other workers (seconds).
    cache_poll_interval: float = 0.25
    # Upper bound on rendered pages kept in one worker's memory.
    page_cache_bytes: int = 64 * MiB
    # Worker count for `stockade serve`.
    workers: int = 1
    log_level: str = "info"
    # "text", or "json": one JSON object per line for the app's logs and the access log.
    log_format: str = "text"
    # Log one line per request (uvicorn's access log).
    access_log: bool = False
    # Outgoing mail: "" writes each message to <data>/outbox/ as an .eml file; otherwise
    # smtp://[user:password@]host[:port][?starttls=1] (or smtps:// for implicit TLS).
    mail_url: str = ""
    mail_from: str = "stockade <noreply@localhost>"
    # The name people see in page titles and mail.
    site_name: str = "stockade"

    # -- two-factor authentication and account safety --------------------------------------
    # Index-wide 2FA requirement: "none", "critical" (maintainers of critical projects) or
    # "all" (every upload and management action). Per-project opt-in applies at every level.
    two_factor_required: str = "critical"
    # WebAuthn relying party: its id (a domain) and the origin browsers report. Empty: taken
    # from base_url, else from the request's host.
    webauthn_rp_id: str = ""
    webauthn_origin: str = ""
    # RDAP server for the email-domain checks. Empty: the server the IANA RDAP bootstrap
    # registry names for each domain's TLD.
    rdap_url: str = ""
    rdap_bootstrap_url: str = "https://data.iana.org/rdap/dns.json"
    # DNS server for the email-domain checks, "host" or "host:port". Empty: the system's.
    dns_resolver: str = ""
    # A domain is re-checked at most this often; one run checks at most this many domains.
    email_domain_recheck_days: int = 30
    email_domain_batch: int = 500

    # Run due background jobs (email-domain checks …) in a thread of each web worker; a
    # database lock makes sure only one worker runs a job at a time.
    scheduler: bool = True
    # Webhooks may send to loopback and private addresses (otherwise only an administrator
    # can allow that, per webhook): for a test or an index on a private network.
    webhooks_allow_private: bool = False

    # -- TUF (PEP 458), on once `stockade tuf init` has run ---------------------------------
    # The online key (bins, snapshot, timestamp) as a securesystemslib private-key URI (a KMS
    # or an HSM). Empty: the key file <data>/tuf/online.pem.
    tuf_online_signer: str = ""
    # Seconds between metadata batches: a burst of uploads within one costs one snapshot.
    tuf_batch_interval: float = 1.0

    # -- release lifecycle ------------------------------------------------------------------
    # A release accepts new files for this many days after its first upload (0: forever).
    closed_release_days: int = 14
    # A deleted project's name stays reserved for its former owners this many days
    # (critical projects: forever).
    deleted_name_reserved_days: int = 365

    # -- trusted publishing and attestations ----------------------------------------------
    # OIDC issuers of the built-in providers (GitHub Enterprise Server, self-managed GitLab).
    oidc_github_issuer: str = "https://token.actions.githubusercontent.com"
    oidc_gitlab_issuer: str = "https://gitlab.com"
    oidc_google_issuer: str = "https://accounts.google.com"
    # The audience CI jobs request their OIDC tokens for. Empty: the base URL's host name.
    oidc_audience: str = ""
    # Sigstore trust root (a trusted_root.json) for attestations. Empty: the production root
    # bundled with sigstore.
    sigstore_trust_root: str = ""
    # `stockade serve` speaks HTTPS itself when both are set (PEM files).
    tls_cert: str = ""
    tls_key: str = ""

    # -- supply-chain alarms ------------------------------------------------------------------
    # Where the secret scanner (GitHub's by default) publishes the public keys it signs token
    # leak reports with ({"public_keys": [{"key_identifier", "key", "is_current"}]}).
    secret_scanning_keys_url: str = "https://api.github.com/meta/public_keys/secret_scanning"  # noqa: S105  (a public URL)
    # An upload that breaks its project's provenance pattern (its last
    # provenance_window releases all trusted-published, all attested, or all from one
    # repository and workflow): "refuse", "hold" (stored, not listed until an owner confirms
    # with 2FA) or "warn". Projects may choose their own.
    provenance_regression: str = "hold"
    provenance_window: int = 3

    # -- downloads and critical projects ------------------------------------------------------
    # Download counts are kept in memory and written this often (seconds).
    download_flush_interval: float = 5.0
    # The top this many percent of projects by downloads over the window are critical.
    critical_percent: float = 1.0
    critical_window_days: int = 180
    # The `critical` 2FA rule is enforced from this date (ISO, UTC); before it, uploads by
    # maintainers without 2FA succeed with a warning. Empty: enforced now.
    two_factor_enforce_after: str = ""

    # -- nothing left behind ------------------------------------------------------------------
    # An upload's spool file (in <data>/tmp) untouched this long (seconds) belongs to a dead
    # request: the spool job and `stockade admin fsck` remove it.
    spool_max_age: float = 3600.0
    # An unreferenced blob is deleted by the orphan sweep only once its hold (taken by the
    # upload that wrote it, or by the sweep when it first saw it) is this old (seconds).
    orphan_grace: float = 86400.0

    # -- names ------------------------------------------------------------------------------
    # New names one edit away from the this many most popular projects are refused.
    typosquat_top_n: int = 1000

    # -- organizations and namespaces (PEP 752) -------------------------------------------------
    # A new organization waits for an administrator's approval (`stockade org approve`).
    org_approval_required: bool = True
    # The deepest namespace an administrator may grant, in hyphens (PEP 752's depth limit).
    namespace_max_hyphens: int = 2

    # -- known vulnerabilities ----------------------------------------------------------------
    # URLs of OSV advisories (a zip such as OSV's PyPI export, or one document), separated by
    # spaces or commas, re-imported every six hours. Empty: only `stockade advisories import`.
    advisory_urls: str = ""
    # Refuse uploads of a version that a known advisory affects.
    refuse_vulnerable_uploads: bool = False

    # -- the transparency log (stockade.tlog) ---------------------------------------------------
    # The log's Ed25519 key (PEM, PKCS#8); empty: <data>/log.key, made on first use.
    log_key_file: str = ""
    # The checkpoints' origin line and the key's name; empty: base_url's host and path + "/log".
    log_origin: str = ""

    # -- the mirror ---------------------------------------------------------------------------
    # Upstream indexes (``[[upstream]]`` tables); STOCKADE_UPSTREAM_URL adds one named "upstream".
    upstream: tuple[UpstreamSettings, ...] = ()
    upstream_url: str = ""
    # Every cached upstream project is checked again at least this often (seconds).
    mirror_recheck_seconds: int = 86400
    # Upstream requests: timeout (seconds) and the largest project page read (bytes).
    mirror_timeout: float = 20.0
    mirror_max_page_bytes: int = 32 * MiB
    # Largest upstream file the mirror fetches (bytes); bigger ones answer 502.
    mirror_max_file_size: int = 4 * GiB
    # Largest project list read by `stockade mirror sync --project-list` (bytes).
    mirror_max_list_bytes: int = 512 * MiB

    @property
    def upstreams(self) -> tuple[UpstreamSettings, ...]:
        """The configured upstreams, STOCKADE_UPSTREAM_URL's first."""
        if not self.upstream_url:
            return self.upstream
        single = UpstreamSettings(name="upstream", url=self.upstream_url)
        return (single, *(u for u in self.upstream if u.name != "upstream"))

    @property
    def tmp_dir(self) -> Path:
        """Where uploads are spooled while they are hashed and checked."""
        return self.data_dir / "tmp"


_INT_KEYS = {
    "max_file_size",
    "max_project_size",
    "page_cache_bytes",
    "workers",
    "email_domain_recheck_days",
    "email_domain_batch",
    "closed_release_days",
    "deleted_name_reserved_days",
    "typosquat_top_n",
    "namespace_max_hyphens",
    "critical_window_days",
    "mirror_recheck_seconds",
    "mirror_max_page_bytes",
    "mirror_max_file_size",
    "mirror_max_list_bytes",
}
_FLOAT_KEYS = {
    "cache_poll_interval",
    "download_flush_interval",
    "critical_percent",
    "mirror_timeout",
    "upload_idle_timeout",
    "description_render_seconds",
    "spool_max_age",
    "orphan_grace",
    "tuf_batch_interval",
}
_BOOL_KEYS = {
    "scheduler",
    "access_log",
    "refuse_vulnerable_uploads",
    "org_approval_required",
    "webhooks_allow_private",
}


def _coerce(key: str, value: Any) -> Any:
    try:
        if key in _INT_KEYS:
            return int(value)
        if key in _FLOAT_KEYS:
            return float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {key!r} must be a number, got {value!r}") from exc
    if key in _BOOL_KEYS:
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("1", "true", "yes", "on"):
            return True
        if str(value).lower() in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"setting {key!r} must be true or false, got {value!r}")
    if key == "data_dir":
        return Path(value)
    if key == "upstream":
        return _upstreams(value)
    return str(value)


def _upstreams(value: Any) -> tuple[UpstreamSettings, ...]:
    if isinstance(value, tuple) and all(isinstance(v, UpstreamSettings) for v in value):
        return value
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ConfigError("upstream must be a list of [[upstream]] tables")
    known = {f.name for f in fields(UpstreamSettings)}
    result = []
    for table in value:
        unknown = set(table) - known
        if unknown:
            raise ConfigError(f"[[upstream]]: unknown key(s) {', '.join(sorted(unknown))}")
        if not table.get("name") or not table.get("url"):
            raise ConfigError("every [[upstream]] table needs a name and a url")
        try:
            result.append(
                UpstreamSettings(
                    name=str(table["name"]),
                    url=str(table["url"]),
                    files_url=str(table.get("files_url", "")),
                    username=str(table.get("username", "")),
                    password=str(table.get("password", "")),
                    ttl_seconds=int(table.get("ttl_seconds", 600)),
                    cooldown_days=float(table.get("cooldown_days", 0.0)),
                    priority=int(table.get("priority", 0)),
                )
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[[upstream]] {table['name']!r}: {exc}") from exc
    return tuple(result)


def data_folder(data_dir: Path | str | None, environ: Mapping[str, str] | None = None) -> Path:
    """The data folder: ``data_dir``, else ``STOCKADE_DATA_DIR``, else ``./stockade-data``."""
    env = os.environ if environ is None else environ
    return Path(data_dir or env.get("STOCKADE_DATA_DIR") or "stockade-data").resolve()


def load_settings(
    data_dir: Path | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build settings from defaults, ``stockade.toml``, the environment and explicit overrides.

    Later sources win. The data folder is created if needed; a secret key is generated and
    stored in ``<data>/secret_key`` on first use so that every worker shares it.
    """
    env = os.environ if environ is None else environ
    names = {f.name for f in fields(Settings)}
    data = data_folder(data_dir, env)
    data.mkdir(parents=True, exist_ok=True)

    values: dict[str, Any] = {}
    toml_path = data / "stockade.toml"
    if toml_path.exists():
        try:
            parsed = tomllib.loads(toml_path.read_text("utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{toml_path}: {exc}") from exc
        unknown = set(parsed) - names
        if unknown:
            raise ConfigError(f"{toml_path}: unknown setting(s) {', '.join(sorted(unknown))}")
        values.update(parsed)
    for name in names - {"upstream"}:
        env_value = env.get(f"STOCKADE_{name.upper()}")
        if env_value is not None and env_value != "":
            values[name] = env_value
    values.update(overrides or {})
    values = {k: _coerce(k, v) for k, v in values.items()}
    values["data_dir"] = data

    values.setdefault("database_url", f"sqlite:///{data / 'stockade.sqlite3'}")
    values.setdefault("storage_url", (data / "files").as_uri())
    if not values.get("secret_key"):
        values["secret_key"] = _stored_secret(data / "secret_key")
    base_url = str(values.get("base_url", "")).rstrip("/")
    values["base_url"] = base_url
    settings = Settings(**values)
    _validate(settings)
    return settings


TEMPLATE = """\
# stockade settings. Every key can also be set as a STOCKADE_<KEY> environment variable,
# which wins over this file. Uncomment a line to change it.

# database_url = "sqlite:///<this folder>/stockade.sqlite3"   # or "postgresql://user:pw@host/db"
# storage_url = "file://<this folder>/files"                  # or "s3://bucket/prefix?endpoint=…"
# base_url = "https://pypi.example.org"                       # default: the URL requests arrive at
# max_file_size = 104857600                                   # bytes per file (100 MiB)
# max_project_size = 10737418240                              # bytes per project (10 GiB)
# upload_idle_timeout = 60                                    # seconds an upload may stall
# description_render_seconds = 10                             # CPU budget of a large README
# workers = 1
# cache_poll_interval = 0.25                                  # seconds
# access_log = false
# tuf_batch_interval = 1                                      # seconds between TUF batches
# tuf_online_signer = ""                                      # default: tuf/online.pem here
# log_format = "text"                                         # or "json": one object a line
# mail_url = "smtp://user:password@mail.example.org:587?starttls=1"   # default: <data>/outbox/
# mail_from = "stockade <noreply@example.org>"
# site_name = "stockade"
# two_factor_required = "critical"                            # none | critical | all
# webauthn_rp_id = "pypi.example.org"                         # default: from base_url
# rdap_url = ""                                               # default: IANA RDAP bootstrap
# dns_resolver = ""                                           # "host:port"; default: the system's
# scheduler = true                                            # run due jobs in the web workers
# webhooks_allow_private = false                              # webhooks to private addresses
# closed_release_days = 14                                    # 0: releases never close
# deleted_name_reserved_days = 365
# typosquat_top_n = 1000
# org_approval_required = true                                # new organizations wait for an admin
# namespace_max_hyphens = 2                                   # PEP 752 depth limit of a namespace
# critical_percent = 1                                        # top % of projects by downloads
# critical_window_days = 180
# two_factor_enforce_after = "2027-01-01"                     # critical rule from; "" = now
# advisory_urls = "https://…/PyPI/all.zip"                    # OSV advisories, every 6 hours
# refuse_vulnerable_uploads = false                           # refuse known-vulnerable versions
# provenance_regression = "hold"                              # refuse | hold | warn
# provenance_window = 3                                       # releases that set a pattern
# secret_scanning_keys_url = "https://api.github.com/meta/public_keys/secret_scanning"
# mirror_recheck_seconds = 86400                              # re-check cached upstream projects
# log_key_file = ""                                           # transparency log key; <data>/log.key
# log_origin = ""                                             # default: base_url's host + "/log"
#
# Upstream indexes to mirror (or STOCKADE_UPSTREAM_URL=https://pypi.org/simple/ for one):
# [[upstream]]
# name = "pypi"
# url = "https://pypi.org/simple/"
# ttl_seconds = 600                                           # page freshness
# cooldown_days = 0                                           # hide files younger than this
# spool_max_age = 3600                                        # seconds before a spool is stale
# orphan_grace = 86400                                        # seconds before an orphan blob goes
"""


def write_template(data_dir: Path) -> bool:
    """Write a commented ``stockade.toml`` into a data folder that has none; True if written."""
    path = Path(data_dir) / "stockade.toml"
    if path.exists():
        return False
    path.write_text(TEMPLATE, encoding="utf-8")
    return True


def _stored_secret(path: Path) -> str:
    if path.exists():
        return path.read_text("ascii").strip()
    secret = secrets.token_urlsafe(48)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret)
    try:
        # Link fails if another process won the race; then its secret is the one to use.
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text("ascii").strip()


def _validate(settings: Settings) -> None:
    if settings.max_file_size <= 0 or settings.max_project_size <= 0:
        raise ConfigError("size limits must be positive")
    if settings.workers < 1:
        raise ConfigError("workers must be at least 1")
    if settings.log_format not in ("text", "json"):
        raise ConfigError(f"log_format must be text or json, got {settings.log_format!r}")
    if not settings.database_url.split(":", 1)[0].startswith(("sqlite", "postgresql")):
        raise ConfigError(f"unsupported database URL {settings.database_url!r}")
    if settings.two_factor_required not in ("none", "critical", "all"):
        raise ConfigError(
            "two_factor_required must be none, critical or all, "
            f"got {settings.two_factor_required!r}"
        )
    if settings.provenance_regression not in PROVENANCE_REGRESSION_CHOICES:
        raise ConfigError(
            "provenance_regression must be refuse, hold or warn, "
            f"got {settings.provenance_regression!r}"
        )
    if settings.provenance_window < 1:
        raise ConfigError("provenance_window must be at least 1")
    if not settings.secret_scanning_keys_url.startswith(("http://", "https://")):
        raise ConfigError("secret_scanning_keys_url must be an http(s) URL")
    for key in (
        "closed_release_days",
        "deleted_name_reserved_days",
        "typosquat_top_n",
        "namespace_max_hyphens",
    ):
        if getattr(settings, key) < 0:
            raise ConfigError(f"{key} must not be negative")
    if not 0 < settings.critical_percent <= 100 or settings.critical_window_days < 1:
        raise ConfigError("critical_percent must be in (0, 100], critical_window_days at least 1")
    if settings.spool_max_age <= 0 or settings.orphan_grace < 0:
        raise ConfigError("spool_max_age must be positive and orphan_grace not negative")
    if settings.download_flush_interval <= 0:
        raise ConfigError("download_flush_interval must be positive")
    if settings.two_factor_enforce_after:
        try:
            dt.date.fromisoformat(settings.two_factor_enforce_after)
        except ValueError as exc:
            raise ConfigError(
                "two_factor_enforce_after must be an ISO date (YYYY-MM-DD), "
                f"got {settings.two_factor_enforce_after!r}"
            ) from exc
    for up in settings.upstreams:
        if not up.url.startswith(("http://", "https://")):
            raise ConfigError(f"upstream {up.name!r}: url must start with http:// or https://")
        if up.ttl_seconds < 0 or up.cooldown_days < 0:
            raise ConfigError(f"upstream {up.name!r}: ttl_seconds and cooldown_days >= 0")
    if settings.mirror_recheck_seconds < 60 or settings.mirror_max_page_bytes <= 0:
        raise ConfigError("mirror_recheck_seconds must be >= 60, mirror_max_page_bytes > 0")
    if settings.base_url and not settings.base_url.startswith(("http://", "https://")):
        raise ConfigError(f"base_url must start with http:// or https://: {settings.base_url!r}")
    for url in settings.advisory_urls.replace(",", " ").split():
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"advisory_urls: not an http(s) URL: {url!r}")
    if settings.sigstore_trust_root and not Path(settings.sigstore_trust_root).is_file():
        raise ConfigError(
            f"sigstore_trust_root: no such file {settings.sigstore_trust_root!r} "
            "(a Sigstore trusted_root.json; empty for the production root bundled with sigstore)"
        )


def replace(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with some values changed (tests, CLI flags)."""
    return dataclasses.replace(settings, **changes)
