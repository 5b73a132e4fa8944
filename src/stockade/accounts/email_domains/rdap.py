"""RDAP (RFC 9083) domain lookups: is a domain registered, since when, until when, in what state.

The RDAP server of a domain is found through the IANA bootstrap registry (RFC 9224) for its
TLD; the registry document is cached on disk for a day. A configured base URL (setting
``rdap_url``) replaces the bootstrap: every domain is looked up there.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

__all__ = ["BOOTSTRAP_MAX_AGE", "RdapClient", "RdapDomain", "RdapUnavailable"]

BOOTSTRAP_MAX_AGE = 24 * 60 * 60  # seconds
_TIMEOUT = 10.0


class RdapUnavailable(Exception):
    """The RDAP server could not answer (network error, timeout, 5xx, nonsense)."""


@dataclass(frozen=True)
class RdapDomain:
    """What RDAP says about one domain. ``found`` is False for a 404 (not registered)."""

    name: str
    found: bool
    statuses: tuple[str, ...] = ()
    registered_at: dt.datetime | None = None
    expires_at: dt.datetime | None = None


def _parse_date(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def parse_domain(name: str, document: dict[str, Any]) -> RdapDomain:
    """Read the status and the registration and expiration events of an RDAP domain object."""
    events: dict[str, dt.datetime] = {}
    for event in document.get("events") or []:
        if isinstance(event, dict):
            when = _parse_date(event.get("eventDate"))
            action = str(event.get("eventAction", "")).lower()
            if when is not None and action:
                events[action] = when
    statuses = tuple(str(s).lower() for s in document.get("status") or [] if isinstance(s, str))
    return RdapDomain(
        name=name,
        found=True,
        statuses=statuses,
        registered_at=events.get("registration"),
        expires_at=events.get("expiration"),
    )


class RdapClient:
    """Looks domains up over RDAP, through the bootstrap registry or one fixed server."""

    def __init__(
        self,
        *,
        base_url: str = "",
        bootstrap_url: str,
        cache_dir: Path | None,
        timeout: float = _TIMEOUT,
    ) -> None:
        self.base_url = base_url
        self.bootstrap_url = bootstrap_url
        self.cache_path = cache_dir / "rdap-bootstrap.json" if cache_dir else None
        self._timeout = timeout
        # Made on first use: httpx (and its TLS context) stays out of a worker whose daily job
        # has no domain to look up.
        self._client: httpx.Client | None = None
        self._services: list[tuple[list[str], list[str]]] | None = None

    @property
    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            self._client = httpx.Client(
                timeout=self._timeout,
                follow_redirects=True,
                headers={"Accept": "application/rdap+json, application/json"},
            )
        return self._client

    def close(self) -> None:
        """Close the HTTP connections."""
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> RdapClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- bootstrap ------------------------------------------------------------------------

    def _load_bootstrap(self) -> list[tuple[list[str], list[str]]]:
        if self._services is not None:
            return self._services
        document = None
        path = self.cache_path
        if (
            path is not None
            and path.exists()
            and time.time() - path.stat().st_mtime < (BOOTSTRAP_MAX_AGE)
        ):
            try:
                document = json.loads(path.read_text("utf-8"))
            except (OSError, ValueError):
                document = None
        if document is None:
            import httpx

            try:
                response = self._http.get(self.bootstrap_url)
                response.raise_for_status()
                document = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise RdapUnavailable(f"RDAP bootstrap registry unavailable: {exc}") from exc
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_text(json.dumps(document), "utf-8")
                os.replace(tmp, path)
        services = []
        for entry in document.get("services") or [] if isinstance(document, dict) else []:
            if isinstance(entry, list) and len(entry) >= 2:
                tlds = [str(t).lower().strip(".") for t in entry[0]]
                urls = [str(u) for u in entry[1]]
                services.append((tlds, urls))
        self._services = services
        return services

    def server_for(self, domain: str) -> str | None:
        """The RDAP base URL for ``domain`` (ending in "/"), or None if its TLD has none."""
        if self.base_url:
            return self.base_url.rstrip("/") + "/"
        labels = domain.lower().strip(".").split(".")
        best: tuple[int, str] | None = None
        for tlds, urls in self._load_bootstrap():
            for tld in tlds:
                parts = tld.split(".")
                if labels[-len(parts) :] == parts and (best is None or len(parts) > best[0]):
                    https = [u for u in urls if u.startswith("https://")]
                    best = (len(parts), (https or urls)[0])
        if best is None:
            return None
        return best[1].rstrip("/") + "/"

    # -- lookups --------------------------------------------------------------------------

    def lookup(self, domain: str) -> RdapDomain | None:
        """What RDAP says about ``domain``; None when its TLD has no RDAP service.

        A 404 gives ``found=False``. Raises RdapUnavailable for any other failure.
        """
        server = self.server_for(domain)
        if server is None:
            return None
        import httpx

        try:
            response = self._http.get(f"{server}domain/{domain}")
        except httpx.HTTPError as exc:
            raise RdapUnavailable(f"{domain}: {exc}") from exc
        if response.status_code == 404:
            return RdapDomain(name=domain, found=False)
        if response.status_code != 200:
            raise RdapUnavailable(f"{domain}: RDAP server answered {response.status_code}")
        try:
            document = response.json()
        except ValueError as exc:
            raise RdapUnavailable(f"{domain}: RDAP answer is not JSON") from exc
        if not isinstance(document, dict):
            raise RdapUnavailable(f"{domain}: RDAP answer is not an object")
        return parse_domain(domain, document)

    def lookup_registered(self, domain: str) -> RdapDomain | None:
        """Like lookup, walking up from a subdomain ("mail.example.org") to the name that is
        registered ("example.org"): RDAP knows only registered names."""
        labels = domain.lower().strip(".").split(".")
        found = self.lookup(domain)
        while found is not None and not found.found and len(labels) > 2:
            labels = labels[1:]
            found = self.lookup(".".join(labels))
        return found
