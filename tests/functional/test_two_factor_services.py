"""The two-factor services other domains rely on: enrol TOTP, list factors, remove them all."""

from __future__ import annotations

import threading

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
from support.clock import SettableClock
from support.index import Index
from support.threads import run_threads


def test_enable_totp_then_remove_all(index: Index) -> None:
    alice = index.user("alice")
    secret = pyotp.random_base32(32)
    totp, now = pyotp.TOTP(secret), SettableClock.mid_step()()
    window = {totp.at(now + step) for step in (-30, 0, 30)}
    wrong = next(c for c in ("000000", "111111", "222222", "333333") if c not in window)
    with index.db.write() as session:
        user = session.get(User, alice.id)
        assert user is not None
        assert two_factor_methods(session, user.id) == []
        with pytest.raises(TwoFactorError):
            enable_totp(session, user, secret, wrong, origin=CLI, now=now)
        codes = enable_totp(session, user, secret, totp.at(now), origin=CLI, now=now)
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
    totp, now = pyotp.TOTP(secret), SettableClock.mid_step()()
    with index.db.write() as session:
        user = session.get(User, alice.id)
        assert user is not None
        enable_totp(session, user, secret, totp.at(now - 30), origin=CLI, now=now)
    code = totp.at(now)
    barrier = threading.Barrier(2)

    def use() -> bool:
        barrier.wait()
        with index.db.write() as session:
            row = totp_of(session, alice.id)
            assert row is not None
            return spend_code(session, row, code, now=now)

    results = run_threads([use, use])
    assert sorted(results) == [False, True]
