"""The domain-resurrection defence: stop trusting addresses whose domain lapsed.

When a maintainer's email domain expires, whoever registers it next receives the password
reset mail (PyPI's ``ctx`` incident, 2022). The ``email-domains`` job looks up each domain of a
verified address through RDAP and the DNS, and unverifies the addresses of a domain that is

- **expired**: its RDAP ``expiration`` event is in the past *and* that is corroborated: the
  DNS no longer delegates it (NXDOMAIN), or RDAP puts it on hold ("client hold", "server
  hold"). A past expiration date alone is not enough (registries auto-renew, and an expired
  date with a live delegation is usually a renewal the registry has not published yet): such a
  domain is "unknown", changes nothing and is asked again the next day;
- **pending delete**: RDAP status "pending delete" or "redemption period" (or "pending
  restore");
- **undelegated**: the DNS answers NXDOMAIN for it (no name servers), or RDAP has no record
  of it (404) *and* the DNS agrees it is gone;
- **re-registered**: its RDAP ``registration`` event is later than the moment the address
  was verified (only those addresses: ones verified since then are fine).

Being wrong costs a user their reset path, so only evidence counts: a DNS resolver failure or
timeout, an RDAP server that cannot be reached, or RDAP and DNS disagreeing (404 but still
delegated) make the domain "unknown" and change nothing; unknown domains are retried the next
day. A TLD without an RDAP service is judged by the DNS alone.

A healthy domain is checked again every ``email_domain_recheck_days`` days; an unknown or a
bad one every day, so that a renewed domain recovers (its addresses stay unverified, but can be
verified again). One run checks at most ``email_domain_batch`` domains (never-checked and
oldest first) and stops after ``TIME_BUDGET``; the rest wait for the next run. A domain whose
check fails unexpectedly (a malformed RDAP document, a network error) counts as unknown and
does not stop the run; the mail each domain causes is sent once its transaction committed.
Big free-mail providers and the reserved TLDs (.test, .example, .invalid, .localhost) are
skipped. The result is kept in ``email_domain_checks``; while a domain's status is bad, its
addresses cannot be verified again (``domain_refusal``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.email_domains.dns import Delegation
from stockade.accounts.email_domains.models import EmailDomainCheck
from stockade.accounts.email_domains.rdap import RdapDomain
from stockade.accounts.models import User, UserEmail
from stockade.db.base import utcnow
from stockade.events.services import Origin, record

__all__ = [
    "BAD_STATUSES",
    "FREEMAIL",
    "DomainUntrusted",
    "DomainVerdict",
    "VouchRefused",
    "domain_of",
    "domain_refusal",
    "judge",
    "vouch_for_email",
]


OK, UNKNOWN = "ok", "unknown"
EXPIRED, PENDING_DELETE, UNDELEGATED = "expired", "pending-delete", "undelegated"
BAD_STATUSES = frozenset({EXPIRED, PENDING_DELETE, UNDELEGATED})
# An unknown or bad domain is asked again after this long rather than after the full interval.
UNKNOWN_RETRY = dt.timedelta(days=1)
_PENDING_DELETE_STATUSES = {
    "pending delete",
    "redemption period",
    "pendingdelete",
    "redemptionperiod",
    "pending restore",
    "pendingrestore",
}
# Statuses that corroborate a past expiration date: the registry took the domain off the air.
_HOLD_STATUSES = {"client hold", "server hold", "clienthold", "serverhold"}
REASONS = {
    EXPIRED: "its domain has expired",
    PENDING_DELETE: "its domain is about to be deleted by its registry",
    UNDELEGATED: "its domain no longer exists in the DNS",
    "re-registered": "its domain was registered again, by someone, after the address was verified",
}
# Providers that will not lapse; checking them is wasted effort.
FREEMAIL = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "pm.me",
        "gmx.com",
        "gmx.de",
        "gmx.net",
        "web.de",
        "yandex.ru",
        "mail.ru",
        "qq.com",
        "163.com",
        "fastmail.com",
        "zoho.com",
    }
)
# RFC 2606 / 6761 names nobody can register.
_RESERVED_TLDS = frozenset({"test", "example", "invalid", "localhost", "local"})


def domain_of(address: str) -> str:
    """The lower-cased domain of an email address."""
    return address.rpartition("@")[2].lower().strip(".")


def is_skipped(domain: str) -> bool:
    return domain in FREEMAIL or domain.rpartition(".")[2] in _RESERVED_TLDS or "." not in domain


@dataclass(frozen=True)
class DomainVerdict:
    """The conclusion about one domain."""

    domain: str
    status: str
    detail: str
    registered_at: dt.datetime | None = None


def judge(
    domain: str, rdap: RdapDomain | None, rdap_error: str | None, dns: Delegation, now: dt.datetime
) -> DomainVerdict:
    """Combine the RDAP answer (None: no RDAP service for the TLD) and the DNS answer."""
    if dns is Delegation.UNKNOWN:
        return DomainVerdict(domain, UNKNOWN, "DNS lookup failed")
    if rdap_error is not None:
        if dns is Delegation.GONE:
            return DomainVerdict(domain, UNDELEGATED, f"NXDOMAIN (RDAP unavailable: {rdap_error})")
        return DomainVerdict(domain, UNKNOWN, f"RDAP unavailable: {rdap_error}")
    if rdap is None:  # the TLD has no RDAP service: the DNS alone decides
        if dns is Delegation.GONE:
            return DomainVerdict(domain, UNDELEGATED, "NXDOMAIN (no RDAP service for the TLD)")
        return DomainVerdict(domain, OK, "delegated (no RDAP service for the TLD)")
    if not rdap.found:
        if dns is Delegation.GONE:
            return DomainVerdict(domain, UNDELEGATED, "not registered (RDAP 404) and NXDOMAIN")
        return DomainVerdict(domain, UNKNOWN, "RDAP has no record but the DNS still delegates it")
    if _PENDING_DELETE_STATUSES & set(rdap.statuses):
        return DomainVerdict(
            domain, PENDING_DELETE, "RDAP status: " + ", ".join(rdap.statuses), rdap.registered_at
        )
    if rdap.expires_at is not None and rdap.expires_at <= now:
        held = sorted(_HOLD_STATUSES & set(rdap.statuses))
        if held:
            detail = f"expired {rdap.expires_at:%Y-%m-%d}, RDAP status: {', '.join(held)}"
            return DomainVerdict(domain, EXPIRED, detail, rdap.registered_at)
        if dns is Delegation.GONE:
            detail = f"expired {rdap.expires_at:%Y-%m-%d} and NXDOMAIN"
            return DomainVerdict(domain, EXPIRED, detail, rdap.registered_at)
        return DomainVerdict(
            domain,
            UNKNOWN,
            f"expiration date {rdap.expires_at:%Y-%m-%d} passed but still delegated, not on hold",
        )
    if dns is Delegation.GONE:
        return DomainVerdict(domain, UNDELEGATED, "registered but NXDOMAIN", rdap.registered_at)
    detail = f"registered {rdap.registered_at:%Y-%m-%d}" if rdap.registered_at else "registered"
    return DomainVerdict(domain, OK, detail, rdap.registered_at)


class DomainUntrusted(Exception):
    """An address cannot be verified while its domain's last check was bad."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def domain_refusal(session: Session, address: str) -> str | None:
    """Why ``address`` may not be verified now (its domain's last check was bad), or None."""
    domain = domain_of(address)
    check = session.scalar(select(EmailDomainCheck).where(EmailDomainCheck.domain == domain))
    if check is None or check.status not in BAD_STATUSES:
        return None
    return (
        f"The domain {domain} cannot be trusted for email at the moment ({REASONS[check.status]}; "
        f"checked {check.checked_at:%Y-%m-%d}). Use an address on another domain."
    )


class VouchRefused(ValueError):
    """An operator cannot vouch for this address."""


def vouch_for_email(session: Session, user: User, address: str, *, origin: Origin) -> bool:
    """An operator vouches for ``address`` of ``user``: it becomes verified (added first when
    the account does not have it yet). Returns False when it was verified already.

    Refused for an address of another account, and for a domain whose last check was bad.
    Events: ``account:email:add`` (when added), ``account:email:verified`` (``vouched=True``).
    """
    lower = address.strip().lower()
    if "@" not in lower or "." not in domain_of(lower) or len(lower) > 254 or lower.endswith("."):
        raise VouchRefused(f"The email address {address!r} is not valid.")
    email = session.scalar(select(UserEmail).where(UserEmail.email_lower == lower))
    if email is not None and email.user_id != user.id:
        raise VouchRefused("This email address is already in use by another account.")
    if email is not None and email.verified:
        return False
    if (problem := domain_refusal(session, lower)) is not None:
        raise VouchRefused(problem)
    if email is None:
        email = UserEmail(
            user_id=user.id,
            email=address.strip(),
            email_lower=lower,
            primary=not user.emails,
            verified=False,
        )
        user.emails.append(email)
        session.flush()
        record(
            session,
            "account:email:add",
            origin=origin,
            user_id=user.id,
            email=email.email,
        )
    email.verified = True
    email.verified_at = utcnow()
    record(
        session,
        "account:email:verified",
        origin=origin,
        user_id=user.id,
        email=email.email,
        primary=email.primary,
        vouched=True,
    )
    return True
