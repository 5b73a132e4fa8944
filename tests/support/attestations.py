"""Helpers for attestation tests: an index trusting the private Sigstore root, and a project
with a GitHub trusted publisher and a minted upload token."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from sqlalchemy import select

from stockade.config import Settings
from stockade.events.services import CLI
from stockade.index.models import Project
from stockade.oidc import services as oidc
from stockade.oidc.publishers import GitHubPublisherSpec
from support.builders import wheel_bytes, wheel_name
from support.index import Index
from support.sigstore_testroot import TestSigstore

__all__ = ["attested_index", "publisher_token"]


@contextlib.contextmanager
def attested_index(settings: Settings, root: TestSigstore) -> Iterator[Index]:
    """An index whose Sigstore trust root is ``root``."""
    configured = dataclasses.replace(settings, sigstore_trust_root=str(root.trusted_root))
    with Index.open(configured) as idx:
        yield idx


def publisher_token(index: Index, spec: GitHubPublisherSpec, name: str) -> str:
    """Project ``name`` (created by alice uploading version 0.1) with ``spec`` as its trusted
    publisher, and an upload token minted for that publisher."""
    first = index.upload(wheel_bytes(name, "0.1"), wheel_name(name, "0.1"))
    assert first.status_code == 200, first.text
    with index.db.write() as session:
        project = session.scalar(select(Project).where(Project.normalized_name == name))
        assert project is not None
        publisher_id = oidc.add_publisher(session, project, spec, origin=CLI, actor_id=None)
        return oidc.mint_upload_token(session, index.settings, publisher_id)
