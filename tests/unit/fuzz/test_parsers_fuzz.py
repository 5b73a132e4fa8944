"""Property-based fuzzing of every parser that reads untrusted bytes: whatever the input, the
only exception is the parser's own typed refusal (a one-line message), never a crash.

Short runs here (the suite's budget); ``bench/fuzz.sh`` runs the same properties longer."""

from __future__ import annotations

import io
import os
import zipfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.dists import DistError, inspect_distribution, parse_filename
from stockade.dists.metadata import validate_metadata
from stockade.web.publish.multipart import FormError
from support.forms import read_form_bytes

EXAMPLES = int(os.environ.get("STOCKADE_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Pieces of real syntax, so the fuzzer gets past the first check often.
FILENAME_PARTS = st.sampled_from(
    [
        "demo",
        "-",
        "_",
        ".",
        "1.0",
        "py3",
        "none",
        "any",
        ".whl",
        ".tar.gz",
        ".zip",
        "cp311",
        "manylinux_2_17_x86_64",
        "+local",
        "!",
        "..",
        "/",
        "\\",
        "\x00",
        "é",
        " ",
        "1!2.0.post1",
    ]
)


def _one_line(exc: BaseException) -> None:
    assert "\n" not in str(exc) and str(exc), repr(exc)


@FUZZ
@given(st.one_of(st.text(max_size=80), st.lists(FILENAME_PARTS, max_size=12).map("".join)))
def test_filenames(name: str) -> None:
    try:
        parse_filename(name)
    except DistError as exc:
        _one_line(exc)


METADATA_LINES = st.sampled_from(
    [
        "Metadata-Version: 2.1",
        "Metadata-Version: 2.4",
        "Metadata-Version: 9.9",
        "Name: demo",
        "Name: ",
        "Version: 1.0",
        "Version: x",
        "Requires-Dist: a (>=1",
        "Requires-Dist: b; os",
        "Classifier: Nope",
        "Author-email: <>",
        "Project-URL: a, b",
        "Dynamic: Name",
        "License-Expression: MIT AND",
        "Description-Content-Type: text/markdown; variant=x",
        "\tcontinued",
        ":",
        "Summary: " + "s" * 600,
        "Requires-Python: >=3.6.*",
    ]
)


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=2048),
        st.lists(METADATA_LINES, max_size=20).map(lambda ls: "\n".join(ls).encode()),
    )
)
def test_metadata(data: bytes) -> None:
    try:
        validate_metadata(data, "METADATA")
    except DistError as exc:
        _one_line(exc)


def _seed_wheel() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("demo/__init__.py", "x = 1\n" * 40)
        archive.writestr(
            "demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n"
        )
        archive.writestr(
            "demo-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: x\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        archive.writestr("demo-1.0.dist-info/RECORD", "")
    return buffer.getvalue()


SEED_WHEEL = _seed_wheel()


@FUZZ
@given(
    st.lists(
        st.tuples(st.integers(0, len(SEED_WHEEL) - 1), st.integers(0, 255)), min_size=1, max_size=8
    ),
    st.integers(0, len(SEED_WHEEL)),
)
def test_wheels(tmp_path_factory, flips: list[tuple[int, int]], keep: int) -> None:  # type: ignore[no-untyped-def]
    data = bytearray(SEED_WHEEL)
    for at, value in flips:
        data[at] = value
    path = tmp_path_factory.mktemp("fuzz") / "demo-1.0-py3-none-any.whl"
    path.write_bytes(bytes(data[: max(keep, 1)]))
    try:
        inspect_distribution(path, path.name)
    except DistError as exc:
        _one_line(exc)


BOUNDARY = b"fuzzboundary"
FORM_PIECES = st.sampled_from(
    [
        b"--" + BOUNDARY + b"\r\n",
        b"--" + BOUNDARY + b"--\r\n",
        b"\r\n",
        b'Content-Disposition: form-data; name="content"; filename="a.whl"\r\n',
        b'Content-Disposition: form-data; name="name"\r\n',
        b"Content-Disposition: form-data\r\n",
        b"Content-Type: application/octet-stream\r\n",
        b"\xff\xfe",
        b"value",
        b"x" * 300,
    ]
)


@FUZZ
@given(st.one_of(st.binary(max_size=1024), st.lists(FORM_PIECES, max_size=24).map(b"".join)))
def test_upload_forms(tmp_path_factory, body: bytes) -> None:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("spool")
    try:
        read_form_bytes(body, tmp, BOUNDARY)
    except FormError as exc:
        _one_line(exc)
    # Refused or taken, no spool file is left behind.
    assert not list(tmp.iterdir())


@FUZZ
@given(data=st.data())
def test_tokens(index, data) -> None:  # type: ignore[no-untyped-def]
    import base64

    from stockade.tokens.services import TOKEN_PREFIX, TokenError, check_token

    real = index.token()
    raw = data.draw(
        st.one_of(
            st.text(max_size=200),
            st.binary(max_size=300).map(
                lambda b: TOKEN_PREFIX + base64.urlsafe_b64encode(b).decode()
            ),
            # A real token with characters changed, cut or added.
            st.lists(
                st.tuples(st.integers(0, len(real) - 1), st.characters(codec="ascii")),
                min_size=1,
                max_size=6,
            ).map(lambda edits: _edit(real, edits)),
        )
    )
    with index.db.read() as session:
        try:
            check_token(session, raw, secret_key=index.settings.secret_key)
        except TokenError as exc:
            _one_line(exc)


def _edit(token: str, edits: list[tuple[int, str]]) -> str:
    chars = list(token)
    for at, char in edits:
        chars[at % len(chars)] = char
    return "".join(chars)


# XML-RPC calls: well-formed trees of XML-RPC's own elements (so the unmarshaller, not expat,
# sees the nonsense), then the same bytes cut or with bytes changed.
XMLRPC_TAGS = st.sampled_from(
    [
        "params", "param", "value", "int", "i4", "i8", "string", "boolean", "double", "base64",
        "dateTime.iso8601", "struct", "member", "name", "array", "data", "nil", "methodName",
    ]
)  # fmt: skip
XMLRPC_TEXT = st.sampled_from(["1", "x", "", "1e9", "AAAA", "===", "20260101T00:00:00", "-"])
XMLRPC_TREES = st.recursive(
    XMLRPC_TEXT,
    lambda inner: st.tuples(XMLRPC_TAGS, st.lists(inner, max_size=3)).map(
        lambda node: f"<{node[0]}>{''.join(node[1])}</{node[0]}>"
    ),
    max_leaves=25,
)


@FUZZ
@given(tree=XMLRPC_TREES, cut=st.integers(0, 2000), flip=st.binary(max_size=3))
def test_xmlrpc_call_parser(tree: str, cut: int, flip: bytes) -> None:
    from stockade.web.mirrorapi.xmlrpc import HostileXml, parse_call

    body = f"<methodCall><methodName>m</methodName>{tree}</methodCall>".encode()
    for candidate in (body, body[:cut], body[:cut] + flip + body[cut:]):
        try:
            method, params = parse_call(candidate)
        except HostileXml as exc:
            _one_line(exc)
        else:
            assert isinstance(method, str) and isinstance(params, tuple)
