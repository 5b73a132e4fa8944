"""Accounts: users, passwords, browser sessions and login, single-use mailed links, settings.

Sub-packages: ``twofactor/`` (TOTP, security keys, recovery codes, the second login step),
``recovery/`` (password reset, admin-reviewed account recovery), ``email_domains/`` (the
RDAP and DNS checks that stop trusting addresses whose domain lapsed)."""
