"""The legacy upload API: what is accepted, what is refused and why, and that refusals store
nothing."""

from __future__ import annotations

import hashlib
import io
import random
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from stockade.events.models import Event
from stockade.index.models import File, FilenameRegistry, JournalEntry, Project, Release, Role
from stockade.index.paths import blob_key
from support.builders import metadata_text, sdist_bytes, sdist_name, wheel_bytes, wheel_name
from support.index import Index


def counts(index: Index) -> dict[str, int]:
    with index.db.read() as s:
        rows = {
            model.__tablename__: s.scalar(select(func.count()).select_from(model)) or 0
            for model in (Project, Release, File, FilenameRegistry, JournalEntry, Role)
        }
    rows["blobs"] = len(list(index.app.context.storage.iter_keys("blobs/")))
    return rows


def test_first_upload_creates_project_owned_by_uploader(index: Index) -> None:
    data = wheel_bytes("Demo.Pkg", "1.0")
    r = index.upload(data, wheel_name("Demo.Pkg", "1.0"))
    assert r.status_code == 200, r.text
    with index.db.read() as s:
        project = s.scalar(select(Project))
        assert project is not None
        assert (project.name, project.normalized_name) == ("Demo.Pkg", "demo-pkg")
        role = s.scalar(select(Role))
        assert role is not None and role.role_name == "Owner"
        assert role.user_id == index.user().id
        f = s.scalar(select(File))
        assert f is not None
        assert f.sha256_digest == hashlib.sha256(data).hexdigest()
        assert f.size == len(data)
        tags = [e.tag for e in s.scalars(select(Event).order_by(Event.id))]
    assert "project:create" in tags and "file:upload" in tags
    stored = b"".join(index.app.context.storage.iter_range(blob_key(f.sha256_digest)))
    assert stored == data


def test_same_file_twice_is_ok_and_changes_nothing(index: Index) -> None:
    data = wheel_bytes("demo", "1.0")
    assert index.upload(data, wheel_name("demo", "1.0")).status_code == 200
    before = counts(index)
    r = index.upload(data, wheel_name("demo", "1.0"))
    assert r.status_code == 200
    assert counts(index) == before


def test_used_filename_with_new_bytes_is_refused(index: Index) -> None:
    name = wheel_name("demo", "1.0")
    assert index.upload(wheel_bytes("demo", "1.0"), name).status_code == 200
    before = counts(index)
    other = wheel_bytes("demo", "1.0", files={"demo/extra.py": b"x = 1\n"})
    r = index.upload(other, name)
    assert r.status_code == 400
    assert r.text.startswith("File already exists")
    assert counts(index) == before


def test_upload_to_someone_elses_project_is_forbidden(index: Index) -> None:
    assert index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")).status_code == 200
    before = counts(index)
    r = index.upload(
        wheel_bytes("demo", "1.1"), wheel_name("demo", "1.1"), token=index.token("mallory")
    )
    assert r.status_code == 403
    assert "isn't allowed to upload to project 'demo'" in r.text
    assert counts(index) == before


def test_project_scoped_token(index: Index) -> None:
    assert index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")).status_code == 200
    scoped = index.token(project="demo")
    assert (
        index.upload(
            wheel_bytes("demo", "1.1"), wheel_name("demo", "1.1"), token=scoped
        ).status_code
        == 200
    )
    r = index.upload(wheel_bytes("other", "1.0"), wheel_name("other", "1.0"), token=scoped)
    assert r.status_code == 403
    assert "project-scoped token is not valid" in r.text


@pytest.mark.parametrize(
    ("auth", "status"),
    [
        (None, 401),
        (("__token__", "stockade-nope.nope"), 403),
        (("__token__", "stockade-MDAxY2xvY2F0aW9uIHN0b2NrYWRlCjAwMjhpZGVudGlmaWVyIG5vcGUK"), 403),
        (("__token__", "garbage"), 403),
        # Found by fuzzing: pymacaroons' binary decoder raised struct.error (a 500).
        (("__token__", "stockade-M0"), 403),
        (("alice", "correct horse 1"), 403),
    ],
)
def test_bad_credentials(index: Index, auth: tuple[str, str] | None, status: int) -> None:
    index.user()
    data = wheel_bytes("demo", "1.0")
    r = index.client.post(
        "/legacy/",
        data={":action": "file_upload", "protocol_version": "1"},
        files={"content": (wheel_name("demo", "1.0"), data)},
        auth=auth,
    )
    assert r.status_code == status
    assert counts(index)["files"] == 0


def test_expired_token_is_refused(index: Index) -> None:
    import datetime as dt

    from stockade.db.base import utcnow
    from stockade.tokens.models import ApiToken

    token = index.token(expires_days=1)
    with index.db.write() as s:
        for t in s.scalars(select(ApiToken)):
            t.expires_at = utcnow() - dt.timedelta(seconds=1)
    r = index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0"), token=token)
    assert r.status_code == 403
    assert "expired" in r.text


def _zip_with_duplicate_entries() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("demo/__init__.py", "")
        zf.writestr("demo-1.0.dist-info/METADATA", metadata_text("demo", "1.0"))
        zf.writestr("demo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            zf.writestr("demo-1.0.dist-info/METADATA", metadata_text("evil", "1.0"))
    return buf.getvalue()


def _zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("demo-1.0.dist-info/METADATA", metadata_text("demo", "1.0"))
        zf.writestr("demo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nTag: py3-none-any\n")
        zf.writestr("demo/zeros.bin", b"\0" * (64 * 1024 * 1024))
    return buf.getvalue()


BAD_UPLOADS = {
    "garbage": (b"this is not a zip file at all", "demo-1.0-py3-none-any.whl", {}),
    "empty": (b"", "demo-1.0-py3-none-any.whl", {}),
    "zip sdist": (b"PK\x05\x06" + b"\0" * 18, "demo-1.0.zip", {}),
    "bz2 sdist": (b"BZh91AY&SY", "demo-1.0.tar.bz2", {}),
    "egg": (b"PK\x05\x06" + b"\0" * 18, "demo-1.0-py3.11.egg", {}),
    "zip bomb": (_zip_bomb(), "demo-1.0-py3-none-any.whl", {}),
    "traversal": (
        wheel_bytes("demo", "1.0", files={"../../evil.py": b"boom"}),
        "demo-1.0-py3-none-any.whl",
        {},
    ),
    "duplicate zip entries": (_zip_with_duplicate_entries(), "demo-1.0-py3-none-any.whl", {}),
    "name mismatch": (
        wheel_bytes("other", "1.0", dist_info_name="demo-1.0.dist-info"),
        "demo-1.0-py3-none-any.whl",
        {},
    ),
    "version mismatch": (
        wheel_bytes("demo", "2.0", dist_info_name="demo-1.0.dist-info"),
        "demo-1.0-py3-none-any.whl",
        {},
    ),
    "local version": (wheel_bytes("demo", "1.0+local"), "demo-1.0+local-py3-none-any.whl", {}),
    "legacy version": (sdist_bytes("demo", "2013d"), "demo-2013d.tar.gz", {}),
    "bad platform tag": (
        wheel_bytes("demo", "1.0", tag="cp311-cp311-amiga_500"),
        "demo-1.0-cp311-cp311-amiga_500.whl",
        {},
    ),
    "wrong sha256": (
        wheel_bytes("demo", "1.0"),
        "demo-1.0-py3-none-any.whl",
        {"sha256_digest": "0" * 64},
    ),
    "wrong blake2": (
        wheel_bytes("demo", "1.0"),
        "demo-1.0-py3-none-any.whl",
        {"blake2_256_digest": "0" * 64},
    ),
    "wrong md5": (
        wheel_bytes("demo", "1.0"),
        "demo-1.0-py3-none-any.whl",
        {"md5_digest": "0" * 32},
    ),
    "no digest": (
        wheel_bytes("demo", "1.0"),
        "demo-1.0-py3-none-any.whl",
        {"sha256_digest": "", "blake2_256_digest": ""},
    ),
    "bad action": (
        wheel_bytes("demo", "1.0"),
        "demo-1.0-py3-none-any.whl",
        {":action": "frobnicate"},
    ),
    "bad protocol": (
        wheel_bytes("demo", "1.0"),
        "demo-1.0-py3-none-any.whl",
        {"protocol_version": "2"},
    ),
    "form name differs": (
        wheel_bytes("demo", "1.0"),
        "demo-1.0-py3-none-any.whl",
        {"name": "other"},
    ),
    "form version differs": (
        wheel_bytes("demo", "1.0"),
        "demo-1.0-py3-none-any.whl",
        {"version": "9.9"},
    ),
    "filetype differs": (
        wheel_bytes("demo", "1.0"),
        "demo-1.0-py3-none-any.whl",
        {"filetype": "sdist"},
    ),
    "invalid metadata": (
        wheel_bytes(
            "demo",
            "1.0",
            metadata=metadata_text(
                "demo", "1.0", extra="Requires-Dist: this is not ( a requirement\n"
            ),
        ),
        "demo-1.0-py3-none-any.whl",
        {},
    ),
    "path in filename": (wheel_bytes("demo", "1.0"), "../demo-1.0-py3-none-any.whl", {}),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_bad_upload_is_refused_and_stores_nothing(index: Index, case: str) -> None:
    content, filename, fields = BAD_UPLOADS[case]
    index.token()
    before = counts(index)
    r = index.upload(content, filename, fields=fields)
    assert 400 <= r.status_code < 500, (case, r.status_code, r.text)
    message = r.text.strip()
    assert message and "\n" not in message, message
    assert "Traceback" not in message
    assert counts(index) == before
    assert not list(index.settings.tmp_dir.iterdir())


def test_oversized_file_is_refused(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from stockade.config import replace

    small = replace(settings, max_file_size=50_000)
    with Index.open(small) as idx:
        big = wheel_bytes(
            "demo", "1.0", files={"demo/blob.bin": random.Random(1).randbytes(100_000)}
        )
        r = idx.upload(big, wheel_name("demo", "1.0"))
        assert r.status_code == 400
        assert r.text.startswith("File too large")
        assert counts(idx)["files"] == 0
        assert not list(small.tmp_dir.iterdir())


def test_project_size_limit(settings) -> None:  # type: ignore[no-untyped-def]
    from stockade.config import replace

    limited = replace(settings, max_project_size=3000)
    with Index.open(limited) as idx:
        first = wheel_bytes("demo", "1.0")
        assert len(first) < 3000
        assert idx.upload(first, wheel_name("demo", "1.0")).status_code == 200
        r = idx.upload(
            wheel_bytes("demo", "1.1", files={"demo/x.bin": random.Random(2).randbytes(3000)}),
            wheel_name("demo", "1.1"),
        )
        assert r.status_code == 400
        assert r.text.startswith("Project size too large")


def test_one_sdist_per_release(index: Index) -> None:
    assert index.upload(sdist_bytes("demo", "1.0"), sdist_name("demo", "1.0")).status_code == 200
    other = sdist_bytes("Demo", "1.0", top="Demo-1.0")
    r = index.upload(other, "Demo-1.0.tar.gz")
    assert r.status_code == 400
    assert "Only one sdist" in r.text


def test_equivalent_versions_share_one_release(index: Index) -> None:
    assert index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")).status_code == 200
    r = index.upload(sdist_bytes("demo", "1.0.0"), sdist_name("demo", "1.0.0"))
    assert r.status_code == 200, r.text
    with index.db.read() as s:
        assert s.scalar(select(func.count()).select_from(Release)) == 1


def test_revoked_token_is_refused(index: Index) -> None:
    from stockade.events.services import CLI
    from stockade.tokens.models import ApiToken
    from stockade.tokens.services import revoke_token

    token = index.token()
    assert (
        index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0"), token=token).status_code
        == 200
    )
    with index.db.write() as s:
        for t in s.scalars(select(ApiToken)):
            revoke_token(s, t, actor_id=None, origin=CLI)
    r = index.upload(wheel_bytes("demo", "1.1"), wheel_name("demo", "1.1"), token=token)
    assert r.status_code == 403
    assert "revoked" in r.text


def test_attenuated_token_is_narrower(index: Index) -> None:
    """Anyone holding a token can add caveats; the index honours every one."""
    import json

    from pymacaroons import Macaroon

    from stockade.tokens.services import TOKEN_PREFIX

    token = index.token()
    assert (
        index.upload(wheel_bytes("one", "1.0"), wheel_name("one", "1.0"), token=token).status_code
        == 200
    )
    assert (
        index.upload(wheel_bytes("two", "1.0"), wheel_name("two", "1.0"), token=token).status_code
        == 200
    )
    m = Macaroon.deserialize(token[len(TOKEN_PREFIX) :])
    m.add_first_party_caveat(json.dumps({"t": "projects", "names": ["one"]}))
    narrow = TOKEN_PREFIX + m.serialize()
    assert (
        index.upload(wheel_bytes("one", "1.1"), wheel_name("one", "1.1"), token=narrow).status_code
        == 200
    )
    r = index.upload(wheel_bytes("two", "1.1"), wheel_name("two", "1.1"), token=narrow)
    assert r.status_code == 403
    m.add_first_party_caveat(json.dumps({"t": "expiry", "nbf": 0, "exp": 1}))
    r = index.upload(
        wheel_bytes("one", "1.2"), wheel_name("one", "1.2"), token=TOKEN_PREFIX + m.serialize()
    )
    assert r.status_code == 403
    assert "expired" in r.text
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert (
        index.upload(
            wheel_bytes("one", "1.3"), wheel_name("one", "1.3"), token=tampered
        ).status_code
        == 403
    )


def test_database_alone_cannot_forge_a_token(index: Index) -> None:
    """A macaroon minted with a guessed key (the database holds none) is refused."""
    import json

    from pymacaroons import Macaroon

    from stockade.tokens.models import ApiToken
    from stockade.tokens.services import TOKEN_PREFIX

    index.token()
    with index.db.read() as s:
        row = s.scalars(select(ApiToken)).one()
    forged = Macaroon(location="stockade", identifier=row.identifier, key=row.identifier)
    forged.add_first_party_caveat(json.dumps({"t": "user", "id": row.user_id}))
    r = index.upload(
        wheel_bytes("demo", "1.0"),
        wheel_name("demo", "1.0"),
        token=TOKEN_PREFIX + forged.serialize(),
    )
    assert r.status_code == 403


def test_token_use_is_an_event(index: Index) -> None:
    assert index.upload(wheel_bytes("demo", "1.0"), wheel_name("demo", "1.0")).status_code == 200
    with index.db.read() as s:
        uses = s.scalars(select(Event).where(Event.tag == "token:use")).all()
    assert len(uses) == 1
    assert uses[0].details["filename"] == "demo-1.0-py3-none-any.whl"
    assert uses[0].actor_id == index.user().id


def test_guessing_tokens_is_rate_limited(index: Index) -> None:
    from stockade.web.publish.legacy import UPLOAD_AUTH_FAILURES

    data = wheel_bytes("demo", "1.0")
    statuses = [
        index.upload(data, wheel_name("demo", "1.0"), token="stockade-guess").status_code
        for _ in range(UPLOAD_AUTH_FAILURES.count + 1)
    ]
    assert set(statuses[:-1]) == {403}
    assert statuses[-1] == 429
