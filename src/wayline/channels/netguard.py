"""Keeps outbound connections (webhooks, the SMS provider, SMTP) off the network Wayline
itself runs in (server-side request forgery).

A journey author chooses webhook URLs, a workspace's admin the SMS and SMTP servers;
without a guard, ``http://169.254.169.254/`` or ``http://localhost:5432/`` would let them
reach cloud metadata or internal services from inside. Targets are checked where the
connection is made: the host is resolved, every address it resolves to must be public (or
allow-listed), and the connection goes to one of those checked addresses. There is no
second lookup between check and connect, so a DNS answer that changes in between (DNS
rebinding) cannot slip an internal address in.

What remains: an allow-listed *host name* is trusted whatever it resolves to at connect
time (allow-list IP addresses where you can); a pooled keep-alive connection, checked when
it was opened, is reused while it lives; and a public host that forwards requests inward
(an open proxy) is beyond what an address check can see. Redirects are never followed.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from wayline.errors import WaylineError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[..., list[tuple[Any, ...]]]

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: RFC 8215: NAT64 for a local network; what it embeds, and where, is the network's choice.
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
#: The deprecated IPv4-compatible form (``::127.0.0.1``); ``::`` and ``::1`` are themselves.
_V4_COMPATIBLE = ipaddress.ip_network("::/96")


class TargetRefused(WaylineError):
    """The target is on a loopback or private network and is not allow-listed."""


def _embedded_v4(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, 6to4, NAT64), or
    itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in _NAT64 or (ip in _V4_COMPATIBLE and int(ip) > 1):
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def refusal(ip: IPAddress) -> str | None:
    """Why a webhook may not go to this address (a kind of address), or None if it may."""
    if ip in _NAT64_LOCAL:
        return "NAT64 local-use"
    ip = _embedded_v4(ip)
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private:
        return "private"
    if ip.is_multicast:
        return "multicast"
    if not ip.is_global:
        return "non-public"
    return None


class AllowList:
    """``WAYLINE_WEBHOOK_ALLOWED_HOSTS``: host names and IP addresses, comma-separated."""

    def __init__(self, spec: str = "") -> None:
        self.names: set[str] = set()
        self.addresses: set[IPAddress] = set()
        for item in spec.split(","):
            entry = item.strip().strip("[]").rstrip(".").lower()
            if not entry:
                continue
            try:
                self.addresses.add(ipaddress.ip_address(entry))
            except ValueError:
                self.names.add(entry)

    def allows(self, host: str, ip: IPAddress) -> bool:
        return host.strip("[]").rstrip(".").lower() in self.names or ip in self.addresses

    def lists(self, host: str) -> bool:
        """Whether ``host`` (a name or an address) is itself on the list."""
        entry = host.strip("[]").rstrip(".").lower()
        try:
            return ipaddress.ip_address(entry) in self.addresses
        except ValueError:
            return entry in self.names


def plain_http_refusal(url: str, allowed: AllowList) -> str | None:
    """Why ``url`` may not be used as a provider's base URL (plain ``http://`` to a host not
    allow-listed: credentials would cross the network in the clear), or None if it may."""
    if not url.startswith("http://"):
        return None
    host = urlsplit(url).hostname or ""
    if allowed.lists(host):
        return None
    return (
        "must be an https:// URL; plain http:// only to a host in"
        " WAYLINE_WEBHOOK_ALLOWED_HOSTS (development)"
    )


def checked_addresses(
    host: str, port: int, allowed: AllowList, resolve: Resolver = socket.getaddrinfo
) -> list[IPAddress]:
    """The addresses of ``host``, once every one of them has passed the guard. Raises
    :class:`TargetRefused`, or :class:`OSError` when the host cannot be resolved."""
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except UnicodeError as exc:
        raise socket.gaierror(f"not a host name: {exc}") from None
    addresses: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if ip not in addresses:
            addresses.append(ip)
    for ip in addresses:
        reason = refusal(ip)
        if reason is not None and not allowed.allows(host, ip):
            shown = host if host == str(ip) else f"{host} ({ip})"
            raise TargetRefused(
                f"refused to connect to {shown}: a {reason} address; allow it with"
                " WAYLINE_WEBHOOK_ALLOWED_HOSTS"
            )
    return addresses


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend, connecting only to checked addresses."""

    def __init__(self, allowed: AllowList, resolve: Resolver = socket.getaddrinfo) -> None:
        self.allowed = allowed
        self._resolve = resolve
        self._inner = httpcore.SyncBackend()

    def check(self, host: str, port: int) -> list[IPAddress]:
        """The addresses of ``host``, once every one of them has passed the guard."""
        try:
            return checked_addresses(host, port, self.allowed, self._resolve)
        except socket.gaierror as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        error: Exception = httpcore.ConnectError(f"{host} has no address")
        for ip in self.check(host, port):
            try:
                return self._inner.connect_tcp(
                    str(ip), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise TargetRefused("webhooks do not connect to unix sockets")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over :class:`GuardedBackend`. It never uses a proxy: a proxy
    would make the connection, unchecked."""

    def __init__(self, allowed: AllowList, *, limits: httpx.Limits) -> None:
        super().__init__(limits=limits)
        # httpx 0.28 takes no network backend, so its connection pool is made again with
        # ours. The guard tests in tests/integration/test_webhook_channel.py fail loudly
        # should a later httpx stop using this pool.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allowed),
        )
