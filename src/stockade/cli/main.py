"""``stockade``: serve the index and manage it from the shell.

Every option also reads a ``STOCKADE_*`` environment variable, as the settings do.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Annotated

import typer

from stockade.cli import (
    abuse,
    admin,
    advisories,
    events,
    jobs,
    lifecycle,
    mirror,
    policy,
    publishers,
    roles,
    stats,
    tokens,
    upkeep,
    users,
)
from stockade.cli.common import DataOpt, err, migrated, settings_from
from stockade.config import write_template
from stockade.metrics import MULTIPROC_ENV
from stockade.upkeep.permissions import PRIVATE_UMASK, make_private
from stockade.upkeep.spool import clean_spools

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database maintenance.")
app.add_typer(db_app, name="db")
app.add_typer(users.app, name="user")
app.add_typer(tokens.app, name="token")
app.add_typer(roles.app, name="role")
app.add_typer(events.app, name="events")
app.add_typer(jobs.app, name="jobs")
app.add_typer(stats.app, name="stats")
app.add_typer(publishers.app, name="publisher")
app.add_typer(lifecycle.release_app, name="release")
app.add_typer(lifecycle.project_app, name="project")
app.add_typer(advisories.app, name="advisories")
app.add_typer(mirror.app, name="mirror")
app.add_typer(mirror.view_app, name="view")
# `stockade admin`: its commands are registered by the domain modules that define them.
app.add_typer(admin.app, name="admin")
_ADMIN_COMMAND_MODULES = (abuse, policy, upkeep)


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
) -> None:
    """Create or migrate the database, then serve the index (over HTTPS with --tls-cert and
    --tls-key: trusted publishing clients such as ``uv publish`` call the index over HTTPS)."""
    settings = settings_from(data, workers=workers, tls_cert=tls_cert, tls_key=tls_key)
    if bool(settings.tls_cert) != bool(settings.tls_key):
        err.print("[red]error:[/] --tls-cert and --tls-key go together")
        raise typer.Exit(2)
    for path in (settings.tls_cert, settings.tls_key):
        if path and not os.path.isfile(path):
            err.print(f"[red]error:[/] no such file: {path}")
            raise typer.Exit(2)
    scheme = "https" if settings.tls_cert else "http"
    if write_template(settings.data_dir):
        err.print(f"wrote default settings to {settings.data_dir / 'stockade.toml'}")
    migrated(settings).dispose()
    for tightened in make_private(settings):
        err.print(f"made {tightened} private to its owner")
    # No request runs yet: every spool file is a killed worker's leftover.
    removed = clean_spools(settings, older_than=0)
    if removed:
        err.print(f"removed {len(removed)} abandoned upload spool file(s) from {settings.tmp_dir}")
    # The workers' counters, summed by whichever worker answers /metrics (stockade.metrics).
    metrics_dir = settings.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(mode=0o700)
    os.environ[MULTIPROC_ENV] = str(metrics_dir)
    # Workers are separate processes: hand them the resolved settings through the environment.
    os.environ["STOCKADE_DATA_DIR"] = str(settings.data_dir)
    os.environ["STOCKADE_DATABASE_URL"] = settings.database_url
    os.environ["STOCKADE_STORAGE_URL"] = settings.storage_url
    err.print(
        f"stockade serving {scheme}://{host}:{port}/ (data: {settings.data_dir}, "
        f"workers: {settings.workers})"
    )
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
        "10",
        "--access-log" if settings.access_log else "--no-access-log",
        # The app applies the proxy headers itself, only where the client's address is used
        # (stockade.web.app._behind_proxies); no Server header names the software.
        "--no-proxy-headers",
        "--no-server-header",
    ]
    if settings.tls_cert:
        argv += ["--ssl-certfile", settings.tls_cert, "--ssl-keyfile", settings.tls_key]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, argv)  # noqa: S606  (our own interpreter, fixed arguments)


@db_app.command("migrate")
def db_migrate(data: DataOpt = None) -> None:
    """Create or upgrade the database schema."""
    migrated(settings_from(data)).dispose()
    err.print("database is up to date")


def main() -> None:
    """Entry point of the ``stockade`` console script."""
    # Everything stockade creates (database, spools, blobs, settings) is its owner's alone.
    os.umask(PRIVATE_UMASK)
    app()
