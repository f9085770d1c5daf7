"""Where the service may connect, decided on addresses, not on how a URL spells them.

A hook request names its FHIR server, and a FHIR server names its `next` pages: both are
attacker-controlled URLs. `https://127.1`, `https://2130706433`, `https://0x7f000001`,
`https://0177.0.0.1`, `https://0` and a host name that resolves to 10.x are all loopback or
private to the operating system's resolver, whatever a string check says. So the host is
resolved here, every address it resolves to is checked, and the connection is made to the
checked address (pinned), never resolved again by the HTTP library (DNS rebinding between the
check and the connect). TLS still verifies the certificate against the host name.

Hosts a site allow-lists (`LEUKEMIA_CDS_FHIR_ALLOWED_HOSTS`, and the http test hosts
`LEUKEMIA_CDS_FHIR_HTTP_HOSTS`) may resolve to private addresses: that is what listing them is
for (an EHR's FHIR server inside the hospital network).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from service.config import Settings


@dataclass(frozen=True, slots=True)
class Target:
    """A URL's host and port, and the checked address to connect to."""

    host: str
    port: int
    address: str


class Refused(Exception):
    """This URL must not be contacted; the message is safe to show the caller."""


def resolve(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host` (tests replace this seam: their
    FHIR host names resolve nowhere)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


Resolver = Callable[[str, int], list[str]]


def check(url: str, settings: Settings, resolver: Resolver | None = None) -> Target:
    """The address `url` may be fetched from, or Refused (why, in words safe to show)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise Refused("fhirServer is not an absolute URL")
    if parts.username or parts.password:
        raise Refused("fhirServer must not carry credentials")
    listed = False
    if parts.scheme == "http":
        if host not in settings.fhir_http_hosts:
            raise Refused(f"fhirServer host {host!r} is not https and not listed in "
                          "LEUKEMIA_CDS_FHIR_HTTP_HOSTS")
        listed = True
    elif parts.scheme != "https":
        raise Refused("fhirServer must use https")
    elif settings.fhir_allowed_hosts:
        if not any(_host_matches(host, p) for p in settings.fhir_allowed_hosts):
            raise Refused(f"fhirServer host {host!r} is not in LEUKEMIA_CDS_FHIR_ALLOWED_HOSTS")
        listed = True
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("fhirServer has an invalid port") from None
    try:
        addresses = (resolver or resolve)(host, port)
    except (OSError, UnicodeError):
        addresses = []
    if not addresses:
        raise Refused(f"fhirServer host {host!r} does not resolve")
    if not listed:
        private = [a for a in addresses if not _is_public(a)]
        if private:  # one private answer is enough to refuse: the client may connect to it
            raise Refused(f"fhirServer host {host!r} resolves to a private or reserved "
                          "address and is not allow-listed (LEUKEMIA_CDS_FHIR_ALLOWED_HOSTS)")
    return Target(host, port, addresses[0])


def _is_public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(ip.is_global) and not ip.is_multicast


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


# --- pinning: the HTTP library connects to the checked address, never resolves again --------

_pins = threading.local()  # (host, port) -> address, for the calling thread (or greenlet)


class pinned:  # a context manager, read as a phrase: `with pinned(target):`
    """While active, connections this thread opens to `target.host` go to `target.address`."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def __enter__(self) -> Target:
        table = getattr(_pins, "table", None)
        if table is None:
            table = _pins.table = {}
        table[(self.target.host, self.target.port)] = self.target.address
        return self.target

    def __exit__(self, *exc: object) -> None:
        _pins.table.pop((self.target.host, self.target.port), None)


def _pinned_address(conn: HTTPConnection) -> str:
    table = getattr(_pins, "table", None) or {}
    address = table.get((conn.host.lower().rstrip("."), conn.port))
    if address is None:  # a connection nobody checked: refuse rather than resolve
        raise NewConnectionError(conn, "connection to an address that was not checked")
    return str(address)


class _PinnedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        self._dns_host = _pinned_address(self)
        return super()._new_conn()


class _PinnedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        self._dns_host = _pinned_address(self)  # SNI and certificate check keep self.host
        return super()._new_conn()


class _PinnedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _PinnedHTTPConnection


class _PinnedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _PinnedHTTPSConnection


class PinnedAdapter(HTTPAdapter):
    """A requests transport whose connections go only to addresses `pinned` names."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PinnedHTTPPool,
                                                   "https": _PinnedHTTPSPool}
