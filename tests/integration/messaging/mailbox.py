"""A real SMTP server for tests (aiosmtpd) that keeps what it accepts."""

from __future__ import annotations

import socket
import ssl
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def parse(raw: bytes) -> EmailMessage:
    mail = message_from_bytes(raw, policy=policy.default)
    assert isinstance(mail, EmailMessage)
    return mail


class Mailbox:
    """An SMTP server on 127.0.0.1.

    Recipients ``refused@…`` get ``550``, ``busy@…`` get ``451``. With ``login``
    (user, password) it requires AUTH (over plain text: tests only).
    """

    def __init__(
        self, login: tuple[str, str] | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []
        self.sessions = 0
        self.lock = threading.Lock()
        self.port = free_port()
        self.login = login
        self.tls = tls
        self.tls_sessions = 0
        self.controller: Controller | None = None

    def start(self) -> None:
        # a stopped controller cannot start again: a new one takes the same port
        extra: dict[str, Any] = {}
        if self.login is not None:
            extra = {
                "auth_required": True,
                "auth_require_tls": False,
                "authenticator": self._authenticate,
            }
        if self.tls is not None:
            extra.update(tls_context=self.tls, require_starttls=True)
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port, **extra)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and self.login == (
            data.login.decode(),
            data.password.decode(),
        )
        return AuthResult(success=ok, handled=False)

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        with self.lock:
            self.sessions += 1
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("refused@"):
            return "550 5.1.1 no such mailbox"
        if address.startswith("busy@"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if session.ssl is not None:
                self.tls_sessions += 1
            self.messages.append(
                (envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content))
            )
        return "250 OK queued"

    def raw(self) -> list[bytes]:
        with self.lock:
            return [raw for _, _, raw in self.messages]

    def received(self) -> list[EmailMessage]:
        return [parse(raw) for raw in self.raw()]
