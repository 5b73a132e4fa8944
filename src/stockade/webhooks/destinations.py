"""Where a webhook may send: an http(s) URL whose host resolves only to public addresses,
unless an administrator allowed private ones. The address checked is the address used: the
request goes to the resolved IP (with the URL's host name in ``Host`` and, for https, in SNI
and the certificate check), so a name that resolves differently a moment later (DNS
rebinding) cannot send it to the inside."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from stockade.errors import ServiceError

__all__ = ["Destination", "WebhookURLError", "resolve_destination", "validate_url"]

MAX_URL_LENGTH = 2048


class WebhookURLError(ServiceError):
    """A webhook URL that cannot be used (400)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)


@dataclass(frozen=True)
class Destination:
    """A checked URL and the address to connect to."""

    url: str
    host: str
    address: str
    port: int
    scheme: str

    @property
    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address."""
        parts = urlsplit(self.url)
        host = f"[{self.address}]" if ":" in self.address else self.address
        netloc = f"{host}:{self.port}"
        return parts._replace(netloc=netloc).geturl()


def validate_url(url: str) -> str:
    """The URL, stripped, if it has the shape of a webhook URL; raises WebhookURLError."""
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise WebhookURLError(f"A webhook URL is at most {MAX_URL_LENGTH} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookURLError(f"Invalid webhook URL: {exc}.") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookURLError("A webhook URL must be an http:// or https:// URL with a host.")
    if parts.username is not None or parts.password is not None:
        raise WebhookURLError("A webhook URL must not carry a user name or password.")
    if port == 0:
        raise WebhookURLError("Invalid webhook URL: port 0.")
    return url


# IPv6 prefixes that carry an IPv4 address (NAT64, 6to4): is_global does not look inside.
_EMBEDDING = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("2002::/16"))


def _allowed(address: str, allow_private: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address) and any(ip in net for net in _EMBEDDING):
        return allow_private
    if ip.is_multicast or ip.is_unspecified:
        return False
    return allow_private or ip.is_global


def resolve_destination(url: str, *, allow_private: bool) -> Destination:
    """Resolve the URL's host and pick the address to send to; raises WebhookURLError when it
    does not resolve, or resolves to any address that is not public (loopback, private,
    link-local, reserved) and private ones are not allowed."""
    url = validate_url(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise WebhookURLError(f"The webhook's host {host!r} does not resolve.") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise WebhookURLError(f"The webhook's host {host!r} does not resolve.")
    # Every address must pass: a name with one public and one private address is refused.
    if not all(_allowed(a, allow_private) for a in addresses):
        raise WebhookURLError(
            f"The webhook's host {host!r} resolves to a loopback, private or reserved address; "
            "only an administrator can allow that."
        )
    return Destination(url=url, host=host, address=addresses[0], port=port, scheme=parts.scheme)
