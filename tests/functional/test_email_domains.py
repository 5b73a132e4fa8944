"""The domain-resurrection defence: the ``email-domains`` job against a real RDAP server and a
real DNS server on loopback, the job lock, the run record and the scheduler."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import os
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from stockade.accounts.email_domains.check import (
    VouchRefused,
    domain_refusal,
    vouch_for_email,
)
from stockade.accounts.email_domains.dns import checker_from_setting, resolver_address
from stockade.accounts.email_domains.job import check_domains
from stockade.accounts.email_domains.models import EmailDomainCheck
from stockade.accounts.email_domains.rdap import RdapClient, RdapUnavailable
from stockade.accounts.flows import start_verification
from stockade.accounts.forms import check_email
from stockade.accounts.models import User, UserEmail
from stockade.catalogue import find_job, job_catalogue
from stockade.config import Settings
from stockade.db.base import utcnow
from stockade.events.models import Event
from stockade.events.services import CLI
from stockade.jobs.interface import JobContext, JobResult
from stockade.jobs.models import JobLock, JobRun
from stockade.jobs.runner import JobBusy, run_job
from stockade.jobs.scheduler import Scheduler
from stockade.mail import Message, mailer_from_settings
from support.dns import DnsServer, dns_server
from support.index import Index, csrf_from, run_cli
from support.rdap import RdapServer, rdap_domain, rdap_server
from support.smtp import read_outbox
from support.threads import ReportingThread

REBORN_AT = "2025-06-01T00:00:00Z"


@pytest.fixture
def world() -> Iterator[tuple[RdapServer, DnsServer]]:
    with rdap_server() as rdap, dns_server() as dns:
        for name in ("lapsed.org", "good.org", "reborn.org", "dying.org", "fresh.org"):
            dns.zones.add(name)
        rdap.domains["good.org"] = rdap_domain("good.org")
        rdap.domains["fresh.org"] = rdap_domain("fresh.org")
        # Expired, and the registrar took it off the air (what corroborates the date).
        rdap.domains["lapsed.org"] = rdap_domain(
            "lapsed.org", expires="2026-01-01T00:00:00Z", status=("client hold",)
        )
        rdap.domains["reborn.org"] = rdap_domain("reborn.org", registered=REBORN_AT)
        rdap.domains["dying.org"] = rdap_domain(
            "dying.org", status=("pending delete", "redemption period")
        )
        # vanished.org: neither in RDAP (404) nor in the DNS (NXDOMAIN).
        dns.servfail.add("flaky.org")
        rdap.domains["flaky.org"] = rdap_domain("flaky.org", expires="2020-01-01T00:00:00Z")
        yield rdap, dns


def add_email(index: Index, username: str, address: str, *, verified_at: dt.datetime) -> None:
    user = index.user(username)
    with index.db.write() as s:
        s.add(
            UserEmail(
                user_id=user.id,
                email=address,
                email_lower=address.lower(),
                primary=False,
                verified=True,
                verified_at=verified_at,
            )
        )


def verified(index: Index) -> dict[str, bool]:
    with index.db.read() as s:
        return {e.email: e.verified for e in s.scalars(select(UserEmail))}


def outbox(index: Index) -> list[EmailMessage]:
    return read_outbox(index.settings.data_dir / "outbox")


def job_context(index: Index, **changes: Any) -> JobContext:
    settings = dataclasses.replace(index.settings, **changes)
    return JobContext(settings=settings, db=index.db, mailer=mailer_from_settings(settings))


def test_job_end_to_end_through_the_cli(index: Index, world: tuple[RdapServer, DnsServer]) -> None:
    rdap, dns = world
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    recently = utcnow() - dt.timedelta(days=2)
    for name in ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank"):
        index.user(name)
    add_email(index, "alice", "alice@lapsed.org", verified_at=long_ago)
    add_email(index, "alice", "alice@good.org", verified_at=long_ago)
    add_email(index, "bob", "bob@good.org", verified_at=long_ago)
    add_email(index, "carol", "carol@reborn.org", verified_at=long_ago)
    # Verified after the re-registration: the new owner of reborn.org is this user.
    add_email(index, "hank", "hank@reborn.org", verified_at=recently)
    add_email(index, "dave", "dave@dying.org", verified_at=long_ago)
    add_email(index, "erin", "erin@vanished.org", verified_at=long_ago)
    add_email(index, "frank", "frank@flaky.org", verified_at=long_ago)
    add_email(index, "gina", "gina@gmail.com", verified_at=long_ago)
    # The CLI reads the data folder's settings: the bootstrap registry and the DNS server.
    (index.settings.data_dir / "stockade.toml").write_text(
        f'rdap_bootstrap_url = "{rdap.bootstrap_url}"\ndns_resolver = "{dns.address}"\n'
    )

    result = run_cli(index, "jobs", "run", "email-domains")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "lapsed.org: expired (expired 2026-01-01, RDAP status: client hold)" in out
    assert "unverified alice@lapsed.org (user alice): expired" in out
    assert "dying.org: pending-delete" in out
    assert "vanished.org: undelegated (not registered (RDAP 404) and NXDOMAIN)" in out
    assert "unverified carol@reborn.org (user carol): re-registered" in out
    assert "flaky.org: unknown (DNS lookup failed)" in out
    assert "good.org" not in out and "hank@" not in out
    assert "checked 6 domain(s)" in result.stderr
    assert "4 address(es) unverified" in result.stderr.replace("\n", " ")

    state = verified(index)
    for address in (
        "alice@lapsed.org",
        "carol@reborn.org",
        "dave@dying.org",
        "erin@vanished.org",
    ):
        assert state[address] is False, address
    for address in (
        "alice@good.org",
        "bob@good.org",
        "hank@reborn.org",
        "frank@flaky.org",  # DNS failed: unknown, nothing changed (even though RDAP says expired)
        "gina@gmail.com",
        "alice@example.test",
    ):
        assert state[address] is True, address
    # Free-mail and reserved domains are never looked up; the flaky domain is not asked over
    # RDAP once the DNS failed.
    assert not {"gmail.com", "example.test", "flaky.org"} & set(rdap.looked_up())
    assert rdap.requests.count("/bootstrap/dns.json") == 1

    # Events, with the reason, against the owner.
    with index.db.read() as s:
        events = s.scalars(select(Event).where(Event.tag == "account:email:unverified")).all()
        reasons = {e.details["email"]: e.details["reason"] for e in events}
        checks = {c.domain: c.status for c in s.scalars(select(EmailDomainCheck))}
        run = s.scalars(select(JobRun)).one()
    assert reasons == {
        "alice@lapsed.org": "expired",
        "carol@reborn.org": "re-registered",
        "dave@dying.org": "pending-delete",
        "erin@vanished.org": "undelegated",
    }
    assert checks == {
        "lapsed.org": "expired",
        "good.org": "ok",
        "reborn.org": "ok",
        "dying.org": "pending-delete",
        "vanished.org": "undelegated",
        "flaky.org": "unknown",
    }
    assert run.status == "ok" and run.finished_at is not None
    assert run.summary is not None and "alice@lapsed.org" in run.summary

    # The owner hears about it on the other verified addresses, never on the lapsed one.
    mail = [m for m in outbox(index) if "was unverified" in str(m["Subject"])]
    to_alice = sorted(str(m["To"]) for m in mail if "alice" in str(m["To"]))
    assert to_alice == ["alice@example.test", "alice@good.org"]
    assert not any(str(m["To"]).endswith(("@lapsed.org", "@dying.org")) for m in mail)
    body = next(m for m in mail if m["To"] == "alice@good.org").get_body(("plain",))
    assert body is not None and "alice@lapsed.org" in str(body.get_content())

    # No password reset can go to the lapsed address any more (the page answers as always).
    page = index.client.post(
        "/account/reset-password/",
        data={
            "csrf_token": csrf_from(index.client, "/account/reset-password/"),
            "username": "alice@lapsed.org",
        },
    )
    assert page.status_code == 200 and "a password reset link is on its way" in page.text
    assert not [m for m in outbox(index) if str(m["Subject"]).startswith("Reset your")]
    with index.db.read() as s:
        refused = s.scalars(
            select(Event).where(Event.tag == "account:password:reset:refused")
        ).one()
    assert refused.details == {"reason": "unverified_email", "email": "alice@lapsed.org"}

    # Nor can the address be verified again by a mailed link while the domain stays bad.
    with index.db.write() as s:
        user = s.scalar(select(User).where(User.username_lower == "alice"))
        assert user is not None
        lapsed = next(e for e in user.emails if e.email == "alice@lapsed.org")
        pending = start_verification(s, user, lapsed)
    link = index.client.get(f"/account/verify-email/?token={pending.secret}")
    assert link.status_code == 400
    assert "The domain lapsed.org cannot be trusted for email at the moment" in link.text
    assert verified(index)["alice@lapsed.org"] is False

    # The operator cannot vouch for an address while its domain stays bad …
    vouch = run_cli(index, "user", "verify-email", "alice", "alice@lapsed.org")
    assert vouch.returncode == 1
    assert "lapsed.org cannot be trusted" in vouch.stderr
    # … but can on a healthy domain (the carol of reborn.org vouched for by an admin).
    with index.db.write() as s:
        carol = s.scalar(select(User).where(User.username_lower == "carol"))
        assert carol is not None
        assert vouch_for_email(s, carol, "carol@reborn.org", origin=CLI) is True
    assert verified(index)["carol@reborn.org"] is True

    listing = run_cli(index, "jobs", "list")
    assert listing.returncode == 0, listing.stderr
    assert "email-domains" in listing.stdout and "checked 6 domain(s)" in listing.stdout

    # A second run right away has nothing to do: the unknown domain is retried a day later.
    job = find_job("email-domains")
    assert job is not None
    ctx = job_context(index, rdap_bootstrap_url=rdap.bootstrap_url, dns_resolver=dns.address)
    assert run_job(ctx, job, holder="test").result.summary.startswith("checked 0 domain(s)")


def test_recheck_interval_batch_and_one_rdap_url(
    index: Index, world: tuple[RdapServer, DnsServer]
) -> None:
    rdap, dns = world
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    for address in ("a@good.org", "b@fresh.org", "c@reborn.org"):
        add_email(index, "alice", address, verified_at=long_ago)
    job = find_job("email-domains")
    assert job is not None
    ctx = job_context(
        index, rdap_url=f"{rdap.url}/rdap", dns_resolver=dns.address, email_domain_batch=2
    )

    first = run_job(ctx, job, holder="test").result
    assert first.summary.startswith("checked 2 domain(s)")
    second = run_job(ctx, job, holder="test").result
    assert second.summary.startswith("checked 1 domain(s)")
    third = run_job(ctx, job, holder="test").result
    assert third.summary.startswith("checked 0 domain(s)")
    # One base URL replaces the bootstrap registry.
    assert "/bootstrap/dns.json" not in rdap.requests
    assert sorted(rdap.looked_up()) == ["fresh.org", "good.org", "reborn.org"]

    # 31 days later good.org is due again (and only it); then reborn.org is re-registered.
    with index.db.write() as s:
        s.execute(
            update(EmailDomainCheck)
            .where(EmailDomainCheck.domain == "good.org")
            .values(checked_at=utcnow() - dt.timedelta(days=31))
        )
    rdap.requests.clear()
    fourth = run_job(ctx, job, holder="test").result
    assert fourth.summary.startswith("checked 1 domain(s)")
    assert rdap.looked_up() == ["good.org"]
    assert "c@reborn.org" in verified(index) and verified(index)["c@reborn.org"] is False


def test_the_lock_lets_one_worker_run_a_job(index: Index) -> None:
    job = find_job("email-domains")
    assert job is not None
    ctx = job_context(index, rdap_url="http://127.0.0.1:9/", dns_resolver="127.0.0.1:9")
    with index.db.write() as s:
        s.add(JobLock(name=job.name, holder="other:1:cli", locked_until=utcnow() + dt.timedelta(1)))
    with pytest.raises(JobBusy, match="other:1:cli"):
        run_job(ctx, job, holder="test")
    with index.db.read() as s:
        assert s.scalars(select(JobRun)).all() == []  # a run that never started is not recorded
    # A lease that ran out (a crashed worker) does not block anyone.
    with index.db.write() as s:
        s.execute(update(JobLock).values(locked_until=utcnow() - dt.timedelta(seconds=1)))
    record = run_job(ctx, job, holder="test")
    assert record.status == "ok"
    with index.db.read() as s:
        lock = s.get(JobLock, job.name)
        assert lock is not None and lock.holder is None and lock.locked_until is None


def test_a_failing_job_is_recorded_and_releases_the_lock(index: Index) -> None:
    job = find_job("email-domains")
    assert job is not None
    broken = dataclasses.replace(job, run=lambda ctx: 1 / 0)  # type: ignore[arg-type,return-value]
    ctx = job_context(index)
    with pytest.raises(ZeroDivisionError):
        run_job(ctx, broken, holder="test")
    with index.db.read() as s:
        run = s.scalars(select(JobRun)).one()
        lock = s.get(JobLock, job.name)
    assert run.status == "failed" and run.summary == "ZeroDivisionError: division by zero"
    assert lock is not None and lock.holder is None


def test_the_scheduler_runs_due_jobs_once(
    index: Index, world: tuple[RdapServer, DnsServer]
) -> None:
    rdap, dns = world
    add_email(index, "alice", "a@good.org", verified_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    scheduler = Scheduler(
        job_context(index, rdap_bootstrap_url=rdap.bootstrap_url, dns_resolver=dns.address),
        job_catalogue().values(),
    )
    # Other domains register jobs too: this one must run exactly once per due period.
    assert scheduler.run_due().count("email-domains") == 1
    assert "email-domains" not in scheduler.run_due()  # ran today: not due
    with index.db.write() as s:
        s.execute(update(JobRun).values(finished_at=utcnow() - dt.timedelta(days=1, minutes=1)))
        s.execute(update(JobRun).values(started_at=utcnow() - dt.timedelta(days=1, minutes=2)))
    assert scheduler.run_due().count("email-domains") == 1


def test_scheduler_setting_is_off_in_tests_and_on_by_default(settings: Settings) -> None:
    assert settings.scheduler is False
    assert Settings.__dataclass_fields__["scheduler"].default is True


def test_user_verify_email_adds_and_vouches(index: Index) -> None:
    index.user("alice")
    index.user("bob")
    result = run_cli(index, "user", "verify-email", "alice", "Alice@Work.example.org")
    assert result.returncode == 0, result.stderr
    assert "Alice@Work.example.org of alice is now verified" in result.stderr
    assert verified(index)["Alice@Work.example.org"] is True
    with index.db.read() as s:
        event = s.scalars(
            select(Event).where(Event.tag == "account:email:verified").order_by(Event.id.desc())
        ).first()
    assert event is not None and event.user_id == index.user("alice").id
    assert event.details == {"email": "Alice@Work.example.org", "primary": False, "vouched": True}
    assert event.user_agent == CLI.user_agent
    with index.db.write() as s:
        bob = s.scalar(select(User).where(User.username_lower == "bob"))
        assert bob is not None
        with pytest.raises(VouchRefused, match="another account"):
            vouch_for_email(s, bob, "alice@example.test", origin=CLI)
        with pytest.raises(VouchRefused, match="not valid"):
            vouch_for_email(s, bob, "nobody", origin=CLI)
        assert vouch_for_email(s, bob, "bob@example.test", origin=CLI) is False  # already


def test_the_bootstrap_registry_is_cached_on_disk_for_a_day(
    tmp_path: Path, world: tuple[RdapServer, DnsServer]
) -> None:
    rdap, _ = world
    rdap.tlds = ("org", "co.uk")
    with RdapClient(bootstrap_url=rdap.bootstrap_url, cache_dir=tmp_path) as client:
        assert client.server_for("a.example.co.uk") == f"{rdap.url}/rdap/"
        assert client.server_for("example.xyz") is None  # no RDAP service for the TLD
        found = client.lookup_registered("mail.good.org")  # walks up to the registered name
    assert found is not None and found.name == "good.org" and found.found
    assert rdap.looked_up() == ["mail.good.org", "good.org"]
    # Another process within the day reads the cached copy …
    with RdapClient(bootstrap_url=rdap.bootstrap_url, cache_dir=tmp_path) as client:
        assert client.server_for("good.org") == f"{rdap.url}/rdap/"
    assert rdap.requests.count("/bootstrap/dns.json") == 1
    # … and after a day fetches it again.
    cached = tmp_path / "rdap-bootstrap.json"
    old = time.time() - 25 * 3600
    os.utime(cached, (old, old))
    with RdapClient(bootstrap_url=rdap.bootstrap_url, cache_dir=tmp_path) as client:
        assert client.server_for("good.org") is not None
    assert rdap.requests.count("/bootstrap/dns.json") == 2
    # An RDAP server that fails is "unavailable", never "not registered".
    rdap.failing.add("good.org")
    with (
        RdapClient(bootstrap_url=rdap.bootstrap_url, cache_dir=tmp_path) as client,
        pytest.raises(RdapUnavailable, match="503"),
    ):
        client.lookup("good.org")


def test_two_workers_starting_a_job_at_once_run_it_once(index: Index) -> None:
    job = find_job("email-domains")
    assert job is not None
    started, release = threading.Event(), threading.Event()

    def slow(ctx: JobContext) -> JobResult:
        started.set()
        assert release.wait(10)
        return JobResult(summary="done")

    slow_job = dataclasses.replace(job, run=slow)
    ctx = job_context(index)
    outcomes: list[str] = []

    def worker(name: str) -> None:
        try:
            outcomes.append(run_job(ctx, slow_job, holder=name).status)
        except JobBusy:
            outcomes.append("busy")

    first = ReportingThread(functools.partial(worker, "worker-1"))
    first.start()
    assert started.wait(10)
    second = ReportingThread(functools.partial(worker, "worker-2"))
    second.start()
    second.result(10)
    release.set()
    first.result(10)
    assert outcomes == ["busy", "ok"]
    with index.db.read() as s:
        runs = s.scalars(select(JobRun)).all()
    assert [(r.holder, r.status, r.summary) for r in runs] == [("worker-1", "ok", "done")]


def test_the_app_starts_and_stops_its_scheduler(settings: Settings) -> None:
    def threads() -> int:
        return sum(1 for t in threading.enumerate() if t.name == "stockade-scheduler")

    before = threads()
    with Index.open(dataclasses.replace(settings, scheduler=True)):
        assert threads() == before + 1
    assert threads() == before
    with Index.open(settings):
        assert threads() == before  # off (as in every other test)


def _check(
    index: Index, rdap: RdapServer, dns: DnsServer, *only: str, **kwargs: Any
) -> tuple[JobResult, list[Message]]:
    with RdapClient(
        base_url=f"{rdap.url}/rdap", bootstrap_url="", cache_dir=index.settings.data_dir / "c"
    ) as client:
        return check_domains(
            index.db,
            rdap=client,
            dns=checker_from_setting(dns.address),
            site_name="test",
            recheck=dt.timedelta(days=30),
            batch=100,
            only=list(only) if only else None,
            **kwargs,
        )


def test_trailing_dots_and_like_wildcards_do_not_escape_or_widen_the_match(
    index: Index, world: tuple[RdapServer, DnsServer]
) -> None:
    rdap, dns = world
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    assert check_email("bob@lapsed.org.") is not None  # refused as typed
    add_email(index, "bob", "bob@lapsed.org.", verified_at=long_ago)  # stored before the fix
    add_email(index, "bob", "bob2@lapsed.org", verified_at=long_ago)
    add_email(index, "carol", "carol@my_site.org", verified_at=long_ago)  # NXDOMAIN, no RDAP
    add_email(index, "carol", "carol@myxsite.org", verified_at=long_ago)  # "_" matches "x"
    result, mail = _check(index, rdap, dns, "lapsed.org", "my_site.org")
    state = verified(index)
    assert state["bob@lapsed.org."] is False and state["bob2@lapsed.org"] is False
    assert state["carol@my_site.org"] is False and state["carol@myxsite.org"] is True
    # The owner hears of it only on addresses off the condemned domain.
    assert sorted({str(m.to) for m in mail}) == [
        "bob@example.test",
        "carol@example.test",
        "carol@myxsite.org",
    ]
    assert "3 address(es) unverified" in result.summary
    with index.db.write() as s:
        bob = s.scalar(select(User).where(User.username_lower == "bob"))
        assert bob is not None
        with pytest.raises(VouchRefused):
            vouch_for_email(s, bob, "bob3@good.org.", origin=CLI)


def test_an_expiry_date_alone_is_not_enough_and_bad_domains_recover_daily(
    index: Index, world: tuple[RdapServer, DnsServer]
) -> None:
    rdap, dns = world
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    dns.zones.add("renewed.org")
    rdap.domains["renewed.org"] = rdap_domain("renewed.org", expires="2020-01-01T00:00:00Z")
    add_email(index, "alice", "a@renewed.org", verified_at=long_ago)
    add_email(index, "alice", "a@lapsed.org", verified_at=long_ago)
    result, _ = _check(index, rdap, dns)
    assert "renewed.org: unknown (expiration date 2020-01-01 passed but still delegated" in (
        "\n".join(result.changes)
    )
    assert verified(index)["a@renewed.org"] is True
    assert verified(index)["a@lapsed.org"] is False
    # lapsed.org is renewed: a day later it is checked again, and trusted again.
    rdap.domains["lapsed.org"] = rdap_domain("lapsed.org")
    with index.db.write() as s:
        s.execute(update(EmailDomainCheck).values(checked_at=utcnow() - dt.timedelta(hours=25)))
        assert domain_refusal(s, "a@lapsed.org") is not None
    result, _ = _check(index, rdap, dns)
    assert result.summary.startswith("checked 2 domain(s)")
    with index.db.read() as s:
        assert domain_refusal(s, "a@lapsed.org") is None


def test_one_broken_domain_does_not_stop_the_run_and_mail_goes_per_domain(
    index: Index, world: tuple[RdapServer, DnsServer]
) -> None:
    rdap, dns = world
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    dns.zones.add("broken.org")
    rdap.domains["broken.org"] = {"objectClassName": "domain", "events": 5}  # malformed
    for address in ("a@broken.org", "a@dying.org", "a@lapsed.org"):
        add_email(index, "alice", address, verified_at=long_ago)
    sent: list[list[Message]] = []
    result, left = _check(
        index, rdap, dns, "broken.org", "dying.org", "lapsed.org", send=sent.append
    )
    assert left == []
    assert "broken.org: unknown (check failed: TypeError" in "\n".join(result.changes)
    # Per domain, to the addresses still verified: dying.org first (3 left), then lapsed.org.
    assert [len(batch) for batch in sent] == [3, 2]
    state = verified(index)
    assert state["a@broken.org"] is True
    assert state["a@dying.org"] is False and state["a@lapsed.org"] is False
    # A run out of time stops before the next domain; the rest are due next time.
    with index.db.write() as s:
        s.execute(update(UserEmail).values(verified=True))
        s.execute(update(EmailDomainCheck).values(checked_at=long_ago))
    result, _ = _check(index, rdap, dns, budget=dt.timedelta(0))
    assert result.summary.startswith("checked 0 domain(s)")
    assert any("time budget" in c for c in result.changes)


def test_dns_resolver_setting_accepts_ipv6(index: Index) -> None:
    assert resolver_address("[::1]:5353") == ("::1", 5353)
    assert resolver_address("::1") == ("::1", 53)
    assert resolver_address("127.0.0.1:5353") == ("127.0.0.1", 5353)
    assert resolver_address("192.0.2.1") == ("192.0.2.1", 53)
