"""Coverage-guided fuzzing (atheris, libFuzzer) of every parser that reads untrusted bytes:
filenames, METADATA/PKG-INFO, wheels (zip), sdists (tar), the upload form's multipart body
and API tokens (macaroons). The only exception allowed is the parser's typed refusal, with a
one-line message; anything else is a crash, and libFuzzer stops with the input that caused it.

    python tests/unit/fuzz/atheris_targets.py TARGET [libFuzzer flags…]

e.g. ``-max_total_time=60 -rss_limit_mb=1024``: libFuzzer's RSS limit is the memory bound (a
run above it fails as an out-of-memory crash). ``test_atheris.py`` runs each target for a few
seconds; ``bench/fuzz.sh`` for longer. Seed inputs (valid files of each kind) are written to a
fresh corpus folder first, so the fuzzer starts from real syntax."""

from __future__ import annotations

import gzip
import io
import os
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import atheris

# Run as a script: the tests' helpers (support.*) are imported as the suite imports them.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

# Coverage is measured in our code and in the parsers it hands bytes to.
INSTRUMENTED = ["stockade", "packaging", "pymacaroons"]

with atheris.instrument_imports(include=INSTRUMENTED):
    from stockade.dists import DistError, inspect_distribution, parse_filename
    from stockade.dists.metadata import validate_metadata
    from stockade.web.publish.multipart import FormError
    from support.forms import read_form_bytes

# Scratch files (the archive under test, the spool, the token database, the seed corpus):
# the caller's folder, for libFuzzer ends the process without Python's clean-up.
WORK = Path(os.environ.get("STOCKADE_FUZZ_WORK") or tempfile.mkdtemp(prefix="stockade-atheris-"))
METADATA = b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nSummary: s\nRequires-Dist: a>=1\n"
WHEEL = b"Wheel-Version: 1.0\nGenerator: x\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def _one_line(exc: BaseException) -> None:
    message = str(exc)
    if not message or "\n" in message:
        raise AssertionError(f"refusal without a one-line message: {exc!r}")


def _wheel() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("demo/__init__.py", "x = 1\n" * 40)
        archive.writestr("demo-1.0.dist-info/METADATA", METADATA)
        archive.writestr("demo-1.0.dist-info/WHEEL", WHEEL)
        archive.writestr("demo-1.0.dist-info/RECORD", "")
    return buffer.getvalue()


def _tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in (("demo-1.0/PKG-INFO", METADATA), ("demo-1.0/setup.py", b"x = 1\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


# -- the targets: each takes the fuzzer's bytes ----------------------------------------------


def filename(data: bytes) -> None:
    try:
        parse_filename(data.decode("utf-8", "replace"))
    except DistError as exc:
        _one_line(exc)


def metadata(data: bytes) -> None:
    try:
        validate_metadata(data, "PKG-INFO")
    except DistError as exc:
        _one_line(exc)


def _inspect(content: bytes, name: str) -> None:
    path = WORK / name
    path.write_bytes(content)
    try:
        inspect_distribution(path, name)
    except DistError as exc:
        _one_line(exc)
    finally:
        path.unlink()


def wheel(data: bytes) -> None:
    _inspect(data, "demo-1.0-py3-none-any.whl")


def sdist(data: bytes) -> None:
    # The fuzzer mutates the tar stream itself; compressing it here keeps gzip's checksums
    # from hiding the tar reader from the fuzzer.
    _inspect(gzip.compress(data, compresslevel=1), "demo-1.0.tar.gz")


BOUNDARY = b"fuzzboundary"
FORM_SEED = (
    b"--fuzzboundary\r\n"
    b'Content-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
    b"--fuzzboundary\r\n"
    b'Content-Disposition: form-data; name="content"; filename="demo-1.0.tar.gz"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\nbytes\r\n"
    b"--fuzzboundary--\r\n"
)


def multipart(data: bytes) -> None:
    spool = WORK / "spool"
    spool.mkdir(exist_ok=True)
    try:
        read_form_bytes(data, spool, BOUNDARY, chunk=61, max_size=100_000)
    except FormError as exc:
        _one_line(exc)
    left = list(spool.iterdir())
    if left:
        raise AssertionError(f"spool files left behind: {left}")


class _Tokens:
    """A real index database (SQLite, migrated) with one user and one token: the fuzzer
    mutates that token, so it reaches the signature and caveat checks, not only the decoder."""

    def __init__(self) -> None:
        # Imported only for this target: every model is a few seconds of instrumenting.
        with atheris.instrument_imports(include=INSTRUMENTED):
            import stockade.catalogue  # noqa: F401  (every model, for the foreign keys)
            from stockade.accounts.services import create_user
            from stockade.db import Database
            from stockade.db.migrate import upgrade
            from stockade.events.services import CLI
            from stockade.tokens.services import create_token

        self.db = Database(f"sqlite:///{WORK / 'tokens.sqlite3'}")
        upgrade(self.db)
        self.secret = "fuzz-secret-key"
        with self.db.write() as session:
            user = create_user(
                session, "alice", email="a@example.test", password="correct horse 1", origin=CLI
            )
            self.token = create_token(
                session, user, secret_key=self.secret, name="fuzz", projects=["demo"], origin=CLI
            )

    def __call__(self, data: bytes) -> None:
        from stockade.tokens.services import TokenError, check_token

        with self.db.read() as session:
            try:
                check_token(session, data.decode("utf-8", "replace"), secret_key=self.secret)
            except TokenError as exc:
                _one_line(exc)


TARGETS: dict[str, Callable[[], tuple[Callable[[bytes], None], list[bytes]]]] = {
    "filename": lambda: (filename, [b"demo-1.0-py3-none-any.whl", b"demo-1.0.tar.gz"]),
    "metadata": lambda: (metadata, [METADATA]),
    "wheel": lambda: (wheel, [_wheel()]),
    "sdist": lambda: (sdist, [_tar()]),
    "multipart": lambda: (multipart, [FORM_SEED]),
}


def _tokens() -> tuple[Callable[[bytes], None], list[bytes]]:
    check = _Tokens()
    return check, [check.token.encode()]


TARGETS["token"] = _tokens


def main() -> None:
    name, flags = sys.argv[1], sys.argv[2:]
    target, seeds = TARGETS[name]()
    corpus = WORK / "corpus"
    corpus.mkdir(exist_ok=True)
    for i, seed in enumerate(seeds):
        (corpus / f"seed-{i}").write_bytes(seed)
    atheris.Setup([sys.argv[0], *flags, str(corpus)], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
