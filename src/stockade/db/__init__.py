"""The database seam: SQLAlchemy 2 engine set-up for SQLite and PostgreSQL, sessions, migrations."""

from stockade.db.base import Base, utcnow
from stockade.db.engine import Database

__all__ = ["Base", "Database", "utcnow"]
