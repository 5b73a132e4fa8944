"""The real test servers work: a throwaway PostgreSQL cluster and a second `weed mini`."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from support.servers import (
    SeaweedServer,
    postgres_available,
    start_postgres,
    start_seaweed,
)

pytestmark = pytest.mark.skipif(
    not postgres_available(),
    reason="PostgreSQL server binaries not found (apt-get install postgresql) "
    "and STOCKADE_TEST_PG_URL not set",
)


def _port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_start_postgres_gives_a_working_database(tmp_path: Path) -> None:
    import psycopg
    import sqlalchemy

    server = start_postgres(tmp_path / "pg")
    try:
        with psycopg.connect(**server.connect_kwargs()) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)

        url = server.create_database("contract_db")
        assert url == f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/contract_db"
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(sqlalchemy.text("SELECT current_database()")).scalar() == (
                "contract_db"
            )
        engine.dispose()

        held = psycopg.connect(**server.connect_kwargs("contract_db"))
        server.drop_database("contract_db")  # forces the open session out
        with pytest.raises(psycopg.OperationalError):
            held.execute("SELECT 1")
        held.close()
        with psycopg.connect(**server.connect_kwargs()) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_database WHERE datname = 'contract_db'"
            ).fetchone()
            assert row == (0,)
        server.drop_database("contract_db")  # dropping a missing database is fine
    finally:
        server.stop()
    if not server.external:
        assert server.proc is not None
        assert server.proc.poll() is not None
        assert _port_is_closed(server.port)
        assert (tmp_path / "pg" / "postgres.log").exists()


@pytest.mark.skipif(
    bool(os.environ.get("STOCKADE_TEST_PG_URL")), reason="external server: nothing to start"
)
def test_start_postgres_twice_side_by_side(tmp_path: Path) -> None:
    first = start_postgres(tmp_path / "one")
    second = start_postgres(tmp_path / "two")
    try:
        assert first.port != second.port
    finally:
        first.stop()
        second.stop()


def test_second_seaweed_coexists_and_stops_cleanly(
    seaweed_server: SeaweedServer, tmp_path: Path
) -> None:
    other = start_seaweed(tmp_path / "weed")
    try:
        assert set(other.ports.values()).isdisjoint(seaweed_server.ports.values())
        bucket = other.make_bucket("coexist")
        client = other.client()
        client.put_object(Bucket=bucket, Key="k", Body=b"v")
        assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
        client.close()
    finally:
        other.stop()
    assert other.proc.poll() is not None
    assert all(_port_is_closed(port) for port in other.ports.values())
    assert (tmp_path / "weed" / "weed.log").exists()
