"""Second factors: TOTP, WebAuthn security keys, recovery codes, and the second login step."""
