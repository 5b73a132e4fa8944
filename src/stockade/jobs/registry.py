"""What a job is, and the catalogue of every job stockade knows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from stockade.config import Settings
from stockade.db import Database
from stockade.mail import Mailer

__all__ = ["Job", "JobContext", "JobResult", "all_jobs", "find_job"]


@dataclass(frozen=True)
class JobContext:
    """What a job may use: the settings, the database and the mailer."""

    settings: Settings
    db: Database
    mailer: Mailer


@dataclass
class JobResult:
    """What one run changed: one line per change, and a one-line summary."""

    summary: str = ""
    changes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    """A named, idempotent piece of background work (running it twice does no harm)."""

    name: str
    description: str
    # How often the scheduler runs it.
    interval: dt.timedelta
    run: Callable[[JobContext], JobResult]


def all_jobs() -> dict[str, Job]:
    """Every job, by name. Domain packages define their jobs; they are listed here."""
    # Imported here: the domains import this module for the Job type.
    from stockade.accounts.email_domains.job import EMAIL_DOMAINS_JOB
    from stockade.stats.critical import CRITICAL_PROJECTS_JOB
    from stockade.stats.security import SECURITY_SNAPSHOT_JOB

    jobs = (EMAIL_DOMAINS_JOB, CRITICAL_PROJECTS_JOB, SECURITY_SNAPSHOT_JOB)
    return {job.name: job for job in jobs}


def find_job(name: str) -> Job | None:
    """The job called ``name``, or None."""
    return all_jobs().get(name)
