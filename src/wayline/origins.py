"""Web origins: which pages may send a workspace's events from the browser.

An origin is what a browser puts in the ``Origin`` header: ``scheme://host[:port]``, the
scheme and host in lower case, no default port, no path. Entries are kept in that form, so
a match is a string comparison; ``https://*.example.com`` matches every subdomain of
``example.com`` (not ``example.com`` itself: list both to allow both).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from wayline.errors import WaylineError

_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*$")
_HOST = re.compile(r"^(\*\.)?[a-z0-9-]+(\.[a-z0-9-]+)*$|^\[[0-9a-f:.]+\]$")
#: Longest origin kept (the column's width).
MAX_LENGTH = 255


class InvalidOrigin(WaylineError):
    """Not an origin: expected scheme://host[:port], e.g. https://shop.example.com."""

    def __init__(self, text: str, reason: str) -> None:
        super().__init__(f"{text!r} is not an origin: {reason}")
        self.text = text
        self.reason = reason


def normalise_origin(text: str) -> str:
    """``text`` as a browser sends it in ``Origin``; :class:`InvalidOrigin` if it is not one."""
    raw = text.strip()
    if not raw:
        raise InvalidOrigin(text, "it is empty")
    if len(raw) > MAX_LENGTH:
        raise InvalidOrigin(text, f"it is over {MAX_LENGTH} characters")
    if "://" not in raw:
        raise InvalidOrigin(text, "expected scheme://host[:port], e.g. https://shop.example.com")
    parts = urlsplit(raw)
    scheme = parts.scheme.lower()
    if not _SCHEME.match(scheme):
        raise InvalidOrigin(text, f"the scheme {parts.scheme!r} is not valid")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidOrigin(text, "an origin has no path, query or fragment")
    if parts.username is not None or parts.password is not None:
        raise InvalidOrigin(text, "an origin has no user name or password")
    netloc = parts.netloc.lower()
    host, colon, port_text = (
        netloc.rpartition(":") if not netloc.endswith("]") else (netloc, "", "")
    )
    if not colon:
        host, port_text = netloc, ""
    if not host or not _HOST.match(host):
        raise InvalidOrigin(text, f"the host {host or '(none)'!r} is not valid")
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidOrigin(text, f"the port {port_text!r} is not valid")
        port = int(port_text)
        if _DEFAULT_PORTS.get(scheme) != port:
            return f"{scheme}://{host}:{port}"
    return f"{scheme}://{host}"


def origin_allowed(origin: str, allowed: Iterable[str]) -> bool:
    """Whether the ``Origin`` header's value matches one of the (normalised) ``allowed``."""
    origin = origin.strip().lower().rstrip("/")
    scheme, sep, rest = origin.partition("://")
    for entry in allowed:
        if entry == origin:
            return True
        entry_scheme, _, entry_rest = entry.partition("://")
        if sep and entry_rest.startswith("*.") and entry_scheme == scheme:
            # *.example.com: any host ending in .example.com, on the entry's port
            suffix = entry_rest[1:]
            if rest.endswith(suffix) and len(rest) > len(suffix) and "/" not in rest:
                return True
    return False
