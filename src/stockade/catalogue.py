"""The one place that lists every domain's parts for the seams that run them.

- ``MODELS``: every domain's models module, so that ``Base.metadata`` knows every table
  (Alembic's autogenerate, the schema test, and SQLAlchemy resolving relationships by name).
- :func:`job_catalogue`: every background job, by name, for the scheduler and ``stockade jobs``.

The seams (``db``, ``jobs``) know no domain: they receive these lists from the app and the CLI.
A new domain adds its models module and its jobs here.
"""

from __future__ import annotations

import functools
from types import ModuleType

from stockade.abuse import models as abuse_models
from stockade.accounts import models as accounts_models
from stockade.accounts.email_domains import models as email_domains_models
from stockade.accounts.recovery import models as recovery_models
from stockade.accounts.twofactor import models as twofactor_models
from stockade.advisories import models as advisories_models
from stockade.db import ratelimit
from stockade.events import models as events_models
from stockade.index import held as held_models
from stockade.index import models as index_models
from stockade.index import provenance as provenance_models
from stockade.jobs import models as jobs_models
from stockade.jobs.interface import Job
from stockade.lifecycle import models as lifecycle_models
from stockade.mirror import models as mirror_models
from stockade.oidc import models as oidc_models
from stockade.orgs import models as orgs_models
from stockade.staging import models as staging_models
from stockade.stats import models as stats_models
from stockade.storage import holds as blob_holds_models
from stockade.tlog import models as tlog_models
from stockade.tokens import models as tokens_models
from stockade.tuf import models as tuf_models
from stockade.verified import models as verified_models
from stockade.webhooks import models as webhooks_models

__all__ = ["MODELS", "find_job", "job_catalogue"]

MODELS: tuple[ModuleType, ...] = (
    ratelimit,
    events_models,
    jobs_models,
    accounts_models,
    twofactor_models,
    recovery_models,
    email_domains_models,
    orgs_models,
    tlog_models,
    index_models,
    tokens_models,
    lifecycle_models,
    abuse_models,
    oidc_models,
    provenance_models,
    stats_models,
    advisories_models,
    mirror_models,
    blob_holds_models,
    staging_models,
    held_models,
    verified_models,
    webhooks_models,
    tuf_models,
)


@functools.cache
def job_catalogue() -> dict[str, Job]:
    """Every background job, by name. The job modules (and what they bring: upstream clients,
    advisory parsers, DNS) are imported on the first call, by the scheduler or ``stockade jobs``,
    so a worker started without the scheduler never loads them."""
    from stockade.accounts.email_domains.job import EMAIL_DOMAINS_JOB
    from stockade.advisories.job import ADVISORIES_JOB
    from stockade.mirror.job import MIRROR_JOB
    from stockade.staging.expiry import STAGING_EXPIRE_JOB
    from stockade.stats.critical import CRITICAL_PROJECTS_JOB
    from stockade.stats.security import SECURITY_SNAPSHOT_JOB
    from stockade.tuf.job import TUF_JOB
    from stockade.upkeep.spool import SPOOL_CLEAN_JOB
    from stockade.upkeep.sweep import ORPHAN_SWEEP_JOB
    from stockade.verified.job import VERIFIED_DOMAINS_JOB
    from stockade.webhooks.job import WEBHOOKS_JOB

    return {
        job.name: job
        for job in (
            EMAIL_DOMAINS_JOB,
            CRITICAL_PROJECTS_JOB,
            SECURITY_SNAPSHOT_JOB,
            ADVISORIES_JOB,
            MIRROR_JOB,
            SPOOL_CLEAN_JOB,
            ORPHAN_SWEEP_JOB,
            STAGING_EXPIRE_JOB,
            WEBHOOKS_JOB,
            VERIFIED_DOMAINS_JOB,
            TUF_JOB,
        )
    }


def find_job(name: str) -> Job | None:
    """The job called ``name``, or None."""
    return job_catalogue().get(name)
