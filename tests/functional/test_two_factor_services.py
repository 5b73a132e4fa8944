"""The two-factor services other domains rely on: enrol TOTP, list factors, remove them all."""

from __future__ import annotations

import threading
import time

import pyotp
import pytest
from sqlalchemy import func, select

from stockade.accounts.models import User
from stockade.accounts.twofactor.factors import (
    TwoFactorError,
    enable_totp,
    has_two_factor,
    remove_all_factors,
    totp_of,
    two_factor_methods,
)
from stockade.accounts.twofactor.models import RecoveryCode, TotpSecret, WebAuthnKey
from stockade.accounts.twofactor.totp import spend_code
from stockade.events.models import Event
from stockade.events.services import CLI
from support.index import Index


def test_enable_totp_then_remove_all(index: Index) -> None:
    alice = index.user("alice")
    secret = pyotp.random_base32(32)
    with index.db.write() as session:
        user = session.get(User, alice.id)
        assert user is not None
        assert two_factor_methods(session, user.id) == []
        with pytest.raises(TwoFactorError):
            enable_totp(
                session,
                user,
                secret,
                "000000" if pyotp.TOTP(secret).now() != "000000" else "111111",
                origin=CLI,
            )
        codes = enable_totp(session, user, secret, pyotp.TOTP(secret).now(), origin=CLI)
    assert len(codes) == 8 and len(set(codes)) == 8
    with index.db.write() as session:
        assert two_factor_methods(session, alice.id) == ["totp"]
        assert has_two_factor(session, alice.id)
        user = session.get(User, alice.id)
        assert user is not None
        with pytest.raises(TwoFactorError, match="already"):
            enable_totp(session, user, pyotp.random_base32(32), "123456", origin=CLI)
    with index.db.write() as session:
        session.add(
            WebAuthnKey(user_id=alice.id, label="yubi", credential_id="abc", public_key=b"k")
        )
    with index.db.write() as session:
        assert two_factor_methods(session, alice.id) == ["totp", "webauthn"]
        remove_all_factors(session, alice.id, origin=CLI, actor_id=None, reason="recovery")
    with index.db.read() as session:
        assert two_factor_methods(session, alice.id) == []
        assert not has_two_factor(session, alice.id)
        for model in (TotpSecret, WebAuthnKey, RecoveryCode):
            assert session.scalar(select(func.count()).select_from(model)) == 0
        tags = session.scalars(
            select(Event.tag).where(Event.user_id == alice.id).order_by(Event.id)
        ).all()
    assert tags.count("account:two_factor:add") == 1
    assert tags.count("account:recovery_codes:generate") == 1
    assert tags.count("account:two_factor:remove") == 2
    assert tags[-1] == "account:recovery_codes:remove"


def test_one_code_passes_once_even_when_used_concurrently(index: Index) -> None:
    alice = index.user("alice")
    secret = pyotp.random_base32(32)
    totp = pyotp.TOTP(secret)
    with index.db.write() as session:
        user = session.get(User, alice.id)
        assert user is not None
        enable_totp(session, user, secret, totp.at(time.time() - 30), origin=CLI)
    code = totp.now()
    barrier = threading.Barrier(2)
    results: list[bool] = []

    def use() -> None:
        barrier.wait()
        with index.db.write() as session:
            row = totp_of(session, alice.id)
            assert row is not None
            results.append(spend_code(session, row, code))

    threads = [threading.Thread(target=use) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
