"""TOTP codes: the RFC 6238 parameters, the ±1 step window, and what counts as a code."""

from __future__ import annotations

import base64

import pyotp
import pytest

from stockade.accounts.twofactor.totp import matching_step, new_secret, normalize_code, qr_svg

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
T = 1700000000  # TOTP(SECRET).at(T) == "406058"


def test_known_vector_and_window() -> None:
    assert pyotp.TOTP(SECRET).at(T) == "406058"
    step = T // 30
    assert matching_step(SECRET, "406058", now=T) == step
    assert matching_step(SECRET, "406 058", now=T) == step
    assert matching_step(SECRET, "406058", now=T + 30) == step  # one step late: accepted
    assert matching_step(SECRET, "406058", now=T - 30) == step  # one step early: accepted
    assert matching_step(SECRET, "406058", now=T + 60) is None  # two steps: refused
    assert matching_step(SECRET, "406058", now=T - 60) is None


@pytest.mark.parametrize("code", ["", "40605", "4060588", "40605a", "٤٠٦٠٥٨", "406-058"])
def test_only_six_ascii_digits_are_codes(code: str) -> None:
    assert normalize_code(code) is None
    assert matching_step(SECRET, code, now=T) is None


def test_secrets_are_160_bits_and_the_qr_code_is_plain_svg() -> None:
    secret = new_secret()
    assert len(secret) == 32 and secret != new_secret()
    assert len(base64.b32decode(secret)) == 20
    svg = qr_svg(pyotp.TOTP(secret).provisioning_uri(name="alice", issuer_name="stockade"))
    assert svg.startswith("<svg") and "<script" not in svg
