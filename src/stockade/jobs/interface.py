"""What a job is: its name, how often it runs, and what it may use. The jobs themselves live
in their domains; ``stockade.catalogue`` lists them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from stockade.config import Settings
from stockade.db import Database
from stockade.mail import Mailer

__all__ = ["Job", "JobContext", "JobResult"]


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
