"""Structured logs (opt-in): one JSON object per line, for the app's logs and the access log.

``log_format = "json"`` (or ``STOCKADE_LOG_FORMAT=json``, or ``stockade serve --log-json``)
hands uvicorn :func:`log_config`: every logger (stockade's, uvicorn's) writes through
:class:`JsonFormatter` to stderr. The access log is then written by the app itself
(:func:`log_request`, logger ``stockade.access``), since uvicorn's carries no duration. Every
line holds ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``; a request's line
also ``method``, ``path``, ``status``, ``duration`` (seconds) and ``client``; a logged
exception its traceback under ``exception``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["ACCESS", "FORMATS", "JsonFormatter", "log_config", "log_request"]

FORMATS = ("text", "json")
ACCESS = logging.getLogger("stockade.access")
# Fields of a request's line, set as ``extra`` on its record.
_REQUEST_FIELDS = ("method", "path", "status", "duration", "client")


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _REQUEST_FIELDS:
            if key in record.__dict__:
                line[key] = record.__dict__[key]
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


def log_config(level: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn's ``--log-config``: every logger in JSON."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"stderr": handler},
        "root": {"handlers": ["stderr"], "level": level.upper()},
        "loggers": {
            # uvicorn's own handlers are replaced: its records reach the root's.
            name: {"handlers": [], "level": level.upper(), "propagate": True}
            for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
        },
    }


def log_request(scope: Mapping[str, Any], status: int, duration: float) -> None:
    """One access-log line for a finished request."""
    client = scope.get("client")
    query = scope.get("query_string", b"")
    path = scope.get("path", "") + ("?" + query.decode("latin-1") if query else "")
    ACCESS.info(
        "%s %s %d",
        scope.get("method", ""),
        path,
        status,
        extra={
            "method": scope.get("method", ""),
            "path": path,
            "status": status,
            "duration": round(duration, 6),
            "client": f"{client[0]}:{client[1]}" if client else None,
        },
    )
