"""SMTP: reusable connections per thread and server, and what an SMTP answer means for a
delivery (4xx and network errors: try again; 5xx: permanent).

Connections pass the network guard of webhooks (``netguard.py``): the server's name is
resolved once, every address must be public or allow-listed, and the connection goes to a
checked address. A connection that fails is reported as that and nothing more, so that the
answers of test sends cannot tell a closed port from a filtered one.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
import threading
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from wayline.channels.base import Delivery
from wayline.channels.netguard import AllowList, checked_addresses

if TYPE_CHECKING:
    from wayline.channels.email import EmailSettings


class SmtpUnreachable(ConnectionError):
    """The SMTP server cannot be connected to."""


def guarded_socket(host: str, port: int, timeout: float, allowed: AllowList) -> socket.socket:
    """A TCP connection to a checked address of ``host`` (:class:`TargetRefused` if the
    guard refuses it; :class:`SmtpUnreachable`, with no detail, if it cannot be made)."""
    unreachable = SmtpUnreachable(f"cannot connect to the SMTP server {host}:{port}")
    try:
        addresses = checked_addresses(host, port, allowed)
    except OSError:
        raise unreachable from None
    for ip in addresses:
        try:
            return socket.create_connection((str(ip), port), timeout)
        except OSError:
            continue
    raise unreachable


class GuardedSMTP(smtplib.SMTP):
    """``smtplib.SMTP`` connecting through the guard."""

    def __init__(self, host: str, port: int, allowed: AllowList, timeout: float) -> None:
        self.allowed = allowed
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return guarded_socket(host, port, timeout, self.allowed)


class GuardedSMTPSSL(smtplib.SMTP_SSL):
    """``smtplib.SMTP_SSL`` connecting through the guard; the certificate is checked
    against the host name, not the address."""

    def __init__(
        self, host: str, port: int, allowed: AllowList, timeout: float, context: ssl.SSLContext
    ) -> None:
        self.allowed = allowed
        super().__init__(host, port, timeout=timeout, context=context)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        raw = guarded_socket(host, port, timeout, self.allowed)
        return self.context.wrap_socket(raw, server_hostname=host)


class SmtpConnections:
    """One reusable SMTP connection per thread and server."""

    def __init__(self, timeout: float, allowed: AllowList | None = None) -> None:
        self.timeout = timeout
        self.allowed = allowed or AllowList()
        self._local = threading.local()
        self._all: list[smtplib.SMTP] = []
        self._lock = threading.Lock()

    def _open(self, settings: EmailSettings, password: str | None) -> smtplib.SMTP:
        smtp: smtplib.SMTP
        if settings.security == "tls":
            smtp = GuardedSMTPSSL(
                settings.host,
                settings.port,
                self.allowed,
                self.timeout,
                ssl.create_default_context(),
            )
        else:
            smtp = GuardedSMTP(settings.host, settings.port, self.allowed, self.timeout)
        try:
            smtp.ehlo()
            if settings.security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, password or "")
        except BaseException:
            smtp.close()
            raise
        with self._lock:
            self._all.append(smtp)
        return smtp

    def send(
        self, settings: EmailSettings, password: str | None, sender: str, to: str, data: bytes
    ) -> None:
        key = (settings.host, settings.port, settings.security, settings.username)
        held: dict[Any, smtplib.SMTP] = self._local.__dict__.setdefault("held", {})
        for fresh in (False, True):
            smtp = held.get(key)
            if smtp is None or fresh:
                if smtp is not None:
                    self._drop(smtp)
                smtp = held[key] = self._open(settings, password)
            try:
                smtp.sendmail(sender, [to], data)
                return
            except smtplib.SMTPServerDisconnected:
                held.pop(key, None)
                self._drop(smtp)
                if fresh:
                    raise
            except (smtplib.SMTPException, OSError):
                # the conversation may be in any state: start the next one afresh
                held.pop(key, None)
                self._drop(smtp)
                raise

    def _drop(self, smtp: smtplib.SMTP) -> None:
        with self._lock:
            if smtp in self._all:
                self._all.remove(smtp)
        with contextlib.suppress(OSError):
            smtp.close()

    def close(self) -> None:
        with self._lock:
            every, self._all = self._all, []
        for smtp in every:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


def judge(exc: Exception) -> Delivery:
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(exc.recipients.values()), (550, b"refused"))
        error = f"recipient refused: {code} {_text(text)}"
        return Delivery.permanent(error) if code >= 500 else Delivery.transient(error)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return Delivery.transient(f"SMTP authentication failed: {exc.smtp_code}")
    if isinstance(exc, smtplib.SMTPResponseException):
        error = f"SMTP {exc.smtp_code} {_text(exc.smtp_error)}"
        return Delivery.permanent(error) if exc.smtp_code >= 500 else Delivery.transient(error)
    if isinstance(exc, SmtpUnreachable):
        return Delivery.transient(str(exc))
    return Delivery.transient(f"{type(exc).__name__}: {exc}".rstrip(": "))


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def wire_bytes(mail: EmailMessage) -> bytes:
    """The message as SMTP carries it: CRLF line ends (smtplib sends bytes as they are),
    and header lines up to RFC 5322's 998 characters. With the 78 of the default policy, a
    long link in ``List-Unsubscribe`` would be written as an encoded word
    (``=?utf-8?q?…``), which mailbox providers do not read as a link."""
    return mail.as_bytes(policy=mail.policy.clone(linesep="\r\n", max_line_length=998))
