"""Every kind of first-party caveat fails closed: a token holder may add caveats (attenuation),
and one this index cannot read, or that does not hold now, refuses the token; it never widens
or ignores anything."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from pymacaroons import Macaroon

from stockade.tokens.services import TOKEN_PREFIX, TokenError, check_token
from support.index import Index

NOW = int(time.time())

REFUSED: dict[str, tuple[Any, str]] = {
    "not JSON": ("upload to anything", "does not understand"),
    "a JSON list": ([], "does not understand"),
    "no kind": ({"names": ["demo"]}, "does not understand"),
    "an unknown kind": ({"t": "scope", "all": True}, "does not understand"),
    "a kind that is not a string": ({"t": ["user"]}, "does not understand"),
    "another user": ({"t": "user", "id": -1}, "does not belong to its user"),
    "a user id as a string": ({"t": "user", "id": "1"}, "does not belong to its user"),
    "a publisher on a user token": ({"t": "publisher", "id": 1}, "trusted publisher"),
    "project names not a list": ({"t": "projects", "names": "demo"}, "malformed project"),
    "a project name not a string": ({"t": "projects", "names": [1]}, "malformed project"),
    "no project names": ({"t": "projects"}, "malformed project"),
    "expiry as strings": ({"t": "expiry", "nbf": "0", "exp": "9999999999"}, "malformed expiry"),
    "expiry as booleans": ({"t": "expiry", "nbf": False, "exp": True}, "malformed expiry"),
    "expiry as floats": ({"t": "expiry", "nbf": 0.0, "exp": 1e12}, "malformed expiry"),
    "no expiry bounds": ({"t": "expiry"}, "malformed expiry"),
    "not yet valid": ({"t": "expiry", "nbf": NOW + 3600, "exp": NOW + 7200}, "not yet valid"),
    "expired": ({"t": "expiry", "nbf": 0, "exp": NOW - 1}, "expired"),
}


def _attenuated(token: str, caveat: Any) -> str:
    m = Macaroon.deserialize(token[len(TOKEN_PREFIX) :])
    m.add_first_party_caveat(caveat if isinstance(caveat, str) else json.dumps(caveat))
    return TOKEN_PREFIX + m.serialize()


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_caveat_that_cannot_be_read_or_does_not_hold_refuses_the_token(
    index: Index, case: str
) -> None:
    caveat, reason = REFUSED[case]
    token = _attenuated(index.token(), caveat)
    with index.db.read() as session, pytest.raises(TokenError) as info:
        check_token(session, token, secret_key=index.settings.secret_key)
    assert reason in str(info.value)


def test_caveats_that_hold_narrow_the_token(index: Index) -> None:
    token = index.token()
    narrowed = _attenuated(
        _attenuated(token, {"t": "projects", "names": ["demo", "other"]}),
        {"t": "projects", "names": ["demo"]},
    )
    now = int(time.time())  # not NOW: the module may have been imported minutes ago
    narrowed = _attenuated(narrowed, {"t": "expiry", "nbf": now - 60, "exp": now + 60})
    with index.db.read() as session:
        checked = check_token(session, narrowed, secret_key=index.settings.secret_key)
    assert checked.allows("demo") and not checked.allows("other")
