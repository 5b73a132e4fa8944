"""Trusted publishing: OIDC publishers, the token exchange, short-lived upload tokens."""
