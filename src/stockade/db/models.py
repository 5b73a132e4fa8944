"""Imports every domain's models so that ``Base.metadata`` knows every table."""

from stockade.abuse import models as abuse_models
from stockade.accounts import models as accounts_models
from stockade.accounts.email_domains import models as email_domains_models
from stockade.accounts.recovery import models as recovery_models
from stockade.accounts.twofactor import models as twofactor_models
from stockade.attestations import models as attestations_models
from stockade.events import models as events_models
from stockade.index import models as index_models
from stockade.jobs import models as jobs_models
from stockade.lifecycle import models as lifecycle_models
from stockade.oidc import models as oidc_models
from stockade.stats import models as stats_models
from stockade.tokens import models as tokens_models

__all__ = [
    "abuse_models",
    "accounts_models",
    "attestations_models",
    "email_domains_models",
    "events_models",
    "index_models",
    "jobs_models",
    "lifecycle_models",
    "oidc_models",
    "recovery_models",
    "stats_models",
    "tokens_models",
    "twofactor_models",
]
