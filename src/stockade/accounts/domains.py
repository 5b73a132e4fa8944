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
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.dns_check import Delegation, DnsChecker, checker_from_setting
from stockade.accounts.mails import deliver
from stockade.accounts.models import User, UserEmail
from stockade.accounts.rdap import RdapClient, RdapDomain, RdapUnavailable
from stockade.accounts.recovery_mails import domain_unverified_mail
from stockade.accounts.recovery_models import EmailDomainCheck
from stockade.db import Database
from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.jobs.registry import Job, JobContext, JobResult
from stockade.mail import Message

__all__ = [
    "BAD_STATUSES",
    "EMAIL_DOMAINS_JOB",
    "FREEMAIL",
    "DomainUntrusted",
    "DomainVerdict",
    "VouchRefused",
    "check_domains",
    "domain_of",
    "domain_refusal",
    "judge",
    "vouch_for_email",
]

log = logging.getLogger(__name__)

JOB_ORIGIN = Origin(ip_address=None, user_agent="stockade-job:email-domains")
OK, UNKNOWN = "ok", "unknown"
EXPIRED, PENDING_DELETE, UNDELEGATED = "expired", "pending-delete", "undelegated"
BAD_STATUSES = frozenset({EXPIRED, PENDING_DELETE, UNDELEGATED})
# An unknown or bad domain is asked again after this long rather than after the full interval.
UNKNOWN_RETRY = dt.timedelta(days=1)
# One run stops starting new domains after this long (well inside the job's lease).
TIME_BUDGET = dt.timedelta(minutes=15)
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


def _skipped(domain: str) -> bool:
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


def _due_domains(
    session: Session, *, now: dt.datetime, recheck: dt.timedelta, batch: int
) -> list[str]:
    """Domains of verified addresses, and bad domains, not checked recently; never-checked
    ones first."""
    domains = {
        domain_of(a)
        for a in session.scalars(select(UserEmail.email_lower).where(UserEmail.verified.is_(True)))
    }
    # A bad domain is rechecked even when no verified address is left on it: once it recovers
    # its addresses can be verified again.
    domains |= set(
        session.scalars(
            select(EmailDomainCheck.domain).where(EmailDomainCheck.status.in_(BAD_STATUSES))
        )
    )
    domains = {d for d in domains if not _skipped(d)}
    checks = {
        c.domain: c
        for c in session.scalars(
            select(EmailDomainCheck).where(EmailDomainCheck.domain.in_(domains))
        )
    }
    due: list[tuple[dt.datetime, str]] = []
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    for domain in domains:
        check = checks.get(domain)
        if check is None:
            due.append((oldest, domain))
            continue
        wait = UNKNOWN_RETRY if check.status == UNKNOWN or check.status in BAD_STATUSES else recheck
        if check.checked_at <= now - wait:
            due.append((check.checked_at, domain))
    due.sort()
    return [d for _, d in due[:batch]]


@dataclass
class _Outcome:
    changes: list[str] = field(default_factory=list)
    mail: list[Message] = field(default_factory=list)


def _unverify(
    session: Session,
    verdict: DomainVerdict,
    site_name: str,
    outcome: _Outcome,
) -> None:
    """Unverify the addresses a verdict condemns, with an event each and mail to the owner."""
    # LIKE narrows (escaped: "_" is a wildcard), the exact domain comparison decides (an
    # address written with a trailing dot is on the same domain).
    candidates = session.scalars(
        select(UserEmail)
        .where(
            UserEmail.verified.is_(True),
            UserEmail.email_lower.contains("@" + verdict.domain, autoescape=True),
        )
        .with_for_update()
    ).all()
    emails = [e for e in candidates if domain_of(e.email_lower) == verdict.domain]
    for email in emails:
        if verdict.status in BAD_STATUSES:
            reason_key = verdict.status
        elif (
            verdict.registered_at is not None
            and email.verified_at is not None
            and verdict.registered_at > email.verified_at
        ):
            reason_key = "re-registered"
        else:
            continue
        email.verified = False
        user = session.get(User, email.user_id)
        assert user is not None
        record(
            session,
            "account:email:unverified",
            origin=JOB_ORIGIN,
            user_id=user.id,
            email=email.email,
            reason=reason_key,
            detail=verdict.detail,
        )
        outcome.changes.append(
            f"unverified {email.email} (user {user.username}): {reason_key}, {verdict.detail}"
        )
        for other in user.emails:
            # Never to an address on the condemned domain: whoever holds it now reads it.
            if (
                other.verified
                and other.id != email.id
                and domain_of(other.email_lower) != verdict.domain
            ):
                outcome.mail.append(
                    domain_unverified_mail(
                        site_name=site_name,
                        username=user.username,
                        address=other.email,
                        unverified=email.email,
                        reason=REASONS[reason_key],
                    )
                )


def _save(session: Session, verdict: DomainVerdict, now: dt.datetime) -> None:
    check = session.scalar(
        select(EmailDomainCheck).where(EmailDomainCheck.domain == verdict.domain)
    )
    if check is None:
        check = EmailDomainCheck(domain=verdict.domain)
        session.add(check)
    check.status = verdict.status
    check.detail = verdict.detail[:500]
    check.registered_at = verdict.registered_at
    check.checked_at = now


def _verdict(domain: str, rdap: RdapClient, dns: DnsChecker, now: dt.datetime) -> DomainVerdict:
    """Look ``domain`` up; anything unexpected (a malformed RDAP document, a network error)
    makes it unknown rather than stopping the run."""
    try:
        rdap_answer: RdapDomain | None = None
        rdap_error = None
        delegation = dns.delegation(domain)
        if delegation is not Delegation.UNKNOWN:
            try:
                rdap_answer = rdap.lookup_registered(domain)
            except RdapUnavailable as exc:
                rdap_error = str(exc)
        return judge(domain, rdap_answer, rdap_error, delegation, now)
    except Exception as exc:  # one bad domain must not stop the others
        log.warning("email-domains: checking %s failed", domain, exc_info=True)
        return DomainVerdict(domain, UNKNOWN, f"check failed: {type(exc).__name__}: {exc}"[:300])


def check_domains(
    db: Database,
    *,
    rdap: RdapClient,
    dns: DnsChecker,
    site_name: str,
    recheck: dt.timedelta,
    batch: int,
    only: Iterable[str] | None = None,
    send: Callable[[list[Message]], object] | None = None,
    budget: dt.timedelta = TIME_BUDGET,
) -> tuple[JobResult, list[Message]]:
    """Check the due domains (or just ``only``); returns what changed and the mail not sent.

    Each domain is judged and saved in its own transaction, so a long run holds no lock for
    long; with ``send``, each domain's mail goes out right after its transaction committed
    (and the list returned is empty). No new domain is started once ``budget`` has passed.
    """
    now = utcnow()
    deadline = time.monotonic() + budget.total_seconds()
    with db.read() as session:
        domains = (
            list(only)
            if only is not None
            else _due_domains(session, now=now, recheck=recheck, batch=batch)
        )
    counts: dict[str, int] = {}
    outcome = _Outcome()
    checked = 0
    for domain in domains:
        if time.monotonic() > deadline:
            outcome.changes.append(
                f"time budget used up: {len(domains) - checked} domain(s) left for the next run"
            )
            break
        verdict = _verdict(domain, rdap, dns, now)
        checked += 1
        counts[verdict.status] = counts.get(verdict.status, 0) + 1
        if verdict.status != OK:
            outcome.changes.append(f"{domain}: {verdict.status} ({verdict.detail})")
        mail_before = len(outcome.mail)
        with db.write() as session:
            _save(session, verdict, now)
            if verdict.status != UNKNOWN:
                _unverify(session, verdict, site_name, outcome)
        if send is not None and len(outcome.mail) > mail_before:
            send(outcome.mail[mail_before:])
            del outcome.mail[mail_before:]
    summary = f"checked {checked} domain(s)" + (
        ": " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) if counts else ""
    )
    unverified = sum(1 for c in outcome.changes if c.startswith("unverified "))
    summary += f"; {unverified} address(es) unverified"
    return JobResult(summary=summary, changes=outcome.changes), outcome.mail


def _run(ctx: JobContext) -> JobResult:
    settings = ctx.settings
    with RdapClient(
        base_url=settings.rdap_url,
        bootstrap_url=settings.rdap_bootstrap_url,
        cache_dir=settings.data_dir / "cache",
    ) as rdap:
        result, _ = check_domains(
            ctx.db,
            rdap=rdap,
            dns=checker_from_setting(settings.dns_resolver),
            site_name=settings.site_name,
            recheck=dt.timedelta(days=settings.email_domain_recheck_days),
            batch=settings.email_domain_batch,
            send=lambda mail: deliver(ctx.mailer, *mail),
        )
    return result


EMAIL_DOMAINS_JOB = Job(
    name="email-domains",
    description="Unverify email addresses whose domain expired, is being deleted, vanished "
    "from the DNS or was registered again (RDAP + DNS).",
    interval=dt.timedelta(days=1),
    run=_run,
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
