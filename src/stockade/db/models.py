"""Imports every domain's models so that ``Base.metadata`` knows every table."""

from stockade.accounts import models as accounts_models
from stockade.events import models as events_models
from stockade.index import models as index_models
from stockade.tokens import models as tokens_models

__all__ = ["accounts_models", "events_models", "index_models", "tokens_models"]
