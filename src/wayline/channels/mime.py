"""An email's bytes (``multipart/alternative``: plain text and HTML), written directly.

The standard library's ``email`` package parses back every header it is given and folds
them with a general algorithm: about 2 ms a message, more than everything else the
dispatcher does for an email. The messages Wayline sends have a fixed shape, so they are
written here, with the same result a mail reader sees: CRLF line ends, UTF-8 parts in
quoted-printable (long lines wrapped, as SMTP needs lines under 1,000 octets), non-ASCII
header text in RFC 2047 encoded words, headers up to RFC 5322's 998 characters unfolded
(a long ``List-Unsubscribe`` link stays a link). :func:`writable` says when a message
does not fit that shape (non-ASCII addresses, line breaks in a header); it is then built
with the ``email`` package instead.
"""

from __future__ import annotations

import binascii
import secrets
from collections.abc import Sequence
from email.header import Header
from email.utils import formataddr

#: Longest header line written as it is; longer ones go in encoded words.
MAX_HEADER = 998


def writable(headers: Sequence[tuple[str, str]], addresses: Sequence[str]) -> bool:
    """Whether the message can be written here: addresses in ASCII, no line breaks in a
    header value."""
    if not all(a.isascii() for a in addresses):
        return False
    return not any("\r" in v or "\n" in v for _, v in headers)


def address(name: str | None, email: str) -> str:
    """``Name <email>``, the name quoted or encoded as needed (``email`` is ASCII)."""
    return formataddr((name or "", email), charset="utf-8")


def _header(name: str, value: str) -> bytes:
    line = f"{name}: {value}"
    if value.isascii() and len(line) <= MAX_HEADER:
        return line.encode("ascii") + b"\r\n"
    encoded = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {encoded}\r\n".encode("ascii")


def _part(content_type: str, body: str) -> bytes:
    """A UTF-8 text part in quoted-printable, CRLF line ends."""
    data = body.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    encoded = binascii.b2a_qp(data, quotetabs=False, istext=True, header=False)
    return (
        f'Content-Type: {content_type}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    ).encode("ascii") + encoded


def alternative(headers: Sequence[tuple[str, str]], text: str, html: str) -> bytes:
    """The message: ``headers`` (already checked with :func:`writable`; address headers
    made with :func:`address`), then the plain-text and HTML parts."""
    boundary = f"=_wl_{secrets.token_hex(12)}"
    out = [_header(name, value) for name, value in headers]
    out.append(b"MIME-Version: 1.0\r\n")
    out.append(f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode())
    # the line break before a boundary belongs to the boundary: each part keeps its own
    mark = f"\r\n--{boundary}\r\n".encode()
    out += [mark[2:], _part("text/plain", text), mark, _part("text/html", html)]
    out.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(out)
