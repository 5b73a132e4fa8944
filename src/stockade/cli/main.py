"""stockade: serve the index and manage it from the shell.

Every option also reads a 'STOCKADE_*' environment variable, as the settings do.
"""

from __future__ import annotations

import json
import logging
import logging.config
import os
import shutil
import sys
from typing import Annotated

import typer

from stockade.cli import (
    abuse,
    admin,
    advisories,
    bundle,
    events,
    held,
    jobs,
    lifecycle,
    mirror,
    moving,
    orgs,
    policy,
    publishers,
    roles,
    stats,
    tlog,
    tokens,
    tuf,
    upkeep,
    users,
    webhooks,
)
from stockade.cli import publish as publish_cmd
from stockade.cli.common import DataOpt, err, group, migrated, settings_from
from stockade.cli.verify import verify_command
from stockade.config import write_template
from stockade.logs import log_config
from stockade.metrics import MULTIPROC_ENV
from stockade.upkeep.permissions import PRIVATE_UMASK, make_private
from stockade.upkeep.spool import clean_spools

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None, help=__doc__)
db_app = group(help="Database maintenance.")
app.add_typer(db_app, name="db")
app.command("publish")(publish_cmd.publish)
app.add_typer(users.app, name="user")
app.add_typer(tokens.app, name="token")
app.add_typer(roles.app, name="role")
app.add_typer(orgs.app, name="org")
app.add_typer(orgs.namespace_app, name="namespace")
app.add_typer(events.app, name="events")
app.add_typer(jobs.app, name="jobs")
app.add_typer(stats.app, name="stats")
app.add_typer(publishers.app, name="publisher")
# `held` adds `release held` and `release confirm` to the release group.
assert held.release_held is not None
app.add_typer(webhooks.app, name="webhook")
app.add_typer(lifecycle.release_app, name="release")
app.add_typer(lifecycle.project_app, name="project")
app.add_typer(advisories.app, name="advisories")
app.add_typer(mirror.app, name="mirror")
app.add_typer(tuf.app, name="tuf")
app.add_typer(mirror.view_app, name="view")
app.add_typer(moving.app, name="import")
moving.app.command("bundle")(bundle.import_bundle_command)
app.command("export")(bundle.export)
# `stockade admin`: its commands are registered by the domain modules that define them.
app.add_typer(admin.app, name="admin")
app.add_typer(tlog.app, name="log")
app.command("verify")(verify_command)
_ADMIN_COMMAND_MODULES = (abuse, policy, upkeep)
# How long a stopping worker lets requests in flight (an upload's body, a download) finish
# before it cancels them; a cancelled upload leaves nothing (its spool is removed, nothing
# was written). Long enough for a 100 MiB upload over a slow link to end, short enough for a
# service manager's stop timeout (systemd: 90 s).
GRACEFUL_SHUTDOWN_SECONDS = 30


@app.command()
def serve(
    data: DataOpt = None,
    host: Annotated[str, typer.Option(envvar="STOCKADE_HOST")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="STOCKADE_PORT")] = 8080,
    workers: Annotated[int | None, typer.Option(envvar="STOCKADE_WORKERS")] = None,
    tls_cert: Annotated[
        str | None,
        typer.Option(
            "--tls-cert", envvar="STOCKADE_TLS_CERT", help="Serve HTTPS: PEM certificate."
        ),
    ] = None,
    tls_key: Annotated[
        str | None,
        typer.Option("--tls-key", envvar="STOCKADE_TLS_KEY", help="Serve HTTPS: PEM private key."),
    ] = None,
    log_json: Annotated[
        bool,
        typer.Option("--log-json", help='Log one JSON object per line (log_format = "json").'),
    ] = False,
) -> None:
    """Create or migrate the database, then serve the index (over HTTPS with --tls-cert and
    --tls-key: trusted publishing clients such as 'uv publish' call the index over HTTPS)."""
    settings = settings_from(
        data,
        create=True,
        workers=workers,
        tls_cert=tls_cert,
        tls_key=tls_key,
        log_format="json" if log_json else None,
    )
    if bool(settings.tls_cert) != bool(settings.tls_key):
        err.print("[red]error:[/] --tls-cert and --tls-key go together")
        raise typer.Exit(2)
    for path in (settings.tls_cert, settings.tls_key):
        if path and not os.path.isfile(path):
            err.print(f"[red]error:[/] no such file: {path}")
            raise typer.Exit(2)
    scheme = "https" if settings.tls_cert else "http"
    json_logs = settings.log_format == "json"
    if json_logs:
        # From here on everything this command says is a log line, as the workers' are.
        logging.config.dictConfig(log_config(settings.log_level))

    def said(line: str) -> None:
        # One line each, never wrapped at the terminal's width: a path stays whole (to copy).
        err.print(line, soft_wrap=True, markup=False, highlight=False)

    say = logging.getLogger("stockade.serve").warning if json_logs else said
    if write_template(settings.data_dir):
        say(f"wrote default settings to {settings.data_dir / 'stockade.toml'}")
    migrated(settings).dispose()
    for tightened in make_private(settings):
        say(f"made {tightened} private to its owner")
    # No request runs yet: every spool file is a killed worker's leftover.
    removed = clean_spools(settings, older_than=0)
    if removed:
        say(f"removed {len(removed)} abandoned upload spool file(s) from {settings.tmp_dir}")
    # The workers' counters, summed by whichever worker answers /metrics (stockade.metrics).
    metrics_dir = settings.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(mode=0o700)
    os.environ[MULTIPROC_ENV] = str(metrics_dir)
    # Workers are separate processes: hand them the resolved settings through the environment.
    os.environ["STOCKADE_DATA_DIR"] = str(settings.data_dir)
    os.environ["STOCKADE_DATABASE_URL"] = settings.database_url
    os.environ["STOCKADE_STORAGE_URL"] = settings.storage_url
    os.environ["STOCKADE_LOG_FORMAT"] = settings.log_format
    (logging.getLogger("stockade.serve").info if json_logs else said)(
        f"stockade serving {scheme}://{host}:{port}/ (data: {settings.data_dir}, "
        f"workers: {settings.workers})"
    )
    log_config_file = settings.data_dir / "log-config.json"
    if json_logs:
        log_config_file.write_text(json.dumps(log_config(settings.log_level), indent=1), "utf-8")
    # Replace this process with a fresh uvicorn: the CLI, Alembic and the migration code stay
    # out of the server's memory (and the PID stays the same for whoever started us).
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "stockade.web.app:create_app_from_env",
        "--factory",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(settings.workers),
        "--log-level",
        settings.log_level,
        "--timeout-graceful-shutdown",
        str(GRACEFUL_SHUTDOWN_SECONDS),
        # In JSON, the app writes the access log itself (uvicorn's has no duration).
        "--access-log" if settings.access_log and not json_logs else "--no-access-log",
        # The app applies the proxy headers itself, only where the client's address is used
        # (stockade.web.app._behind_proxies); no Server header names the software.
        "--no-proxy-headers",
        "--no-server-header",
    ]
    if json_logs:
        argv += ["--log-config", str(log_config_file)]
    if settings.tls_cert:
        argv += ["--ssl-certfile", settings.tls_cert, "--ssl-keyfile", settings.tls_key]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606  (our own interpreter, fixed arguments)


@db_app.command("migrate")
def db_migrate(data: DataOpt = None) -> None:
    """Create or upgrade the database schema."""
    migrated(settings_from(data, create=True)).dispose()
    err.print("database is up to date")


def main() -> None:
    """Entry point of the 'stockade' console script."""
    # Everything stockade creates (database, spools, blobs, settings) is its owner's alone.
    os.umask(PRIVATE_UMASK)
    app()
