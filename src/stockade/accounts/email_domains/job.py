"""The ``email-domains`` job: checks the due domains through RDAP and the DNS, and unverifies
the addresses of a lapsed one (the rules: :mod:`stockade.accounts.email_domains.check`)."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from stockade.accounts.email_domains.check import (
    BAD_STATUSES,
    OK,
    REASONS,
    UNKNOWN,
    UNKNOWN_RETRY,
    DomainVerdict,
    domain_of,
    is_skipped,
    judge,
)
from stockade.accounts.email_domains.dns import Delegation, DnsChecker, checker_from_setting
from stockade.accounts.email_domains.mails import domain_unverified_mail
from stockade.accounts.email_domains.models import EmailDomainCheck
from stockade.accounts.email_domains.rdap import RdapClient, RdapDomain, RdapUnavailable
from stockade.accounts.models import User, UserEmail
from stockade.db import Database
from stockade.db.base import utcnow
from stockade.events.services import Origin, record
from stockade.jobs.interface import Job, JobContext, JobResult
from stockade.mail import Message, deliver

__all__ = ["EMAIL_DOMAINS_JOB", "JOB_ORIGIN", "TIME_BUDGET", "check_domains"]

log = logging.getLogger(__name__)

JOB_ORIGIN = Origin(ip_address=None, user_agent="stockade-job:email-domains")


# One run stops starting new domains after this long (well inside the job's lease); the rest
# wait for the next run.
TIME_BUDGET = dt.timedelta(minutes=15)


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
    domains = {d for d in domains if not is_skipped(d)}
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
