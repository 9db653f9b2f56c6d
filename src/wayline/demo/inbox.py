"""Reading the demo's mail sink: the messages received, and one message's text and links."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from html import unescape
from pathlib import Path

from wayline.demo.mailsink import mail_dir
from wayline.errors import WaylineError

_HREF = re.compile(r"""<a\b[^>]*?\bhref\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_URL = re.compile(r"https?://[^\s<>()\"']+")


class NoSuchMessage(WaylineError):
    """No message with that number in the inbox."""


@dataclass(frozen=True, kw_only=True)
class Received:
    """One message the sink kept, numbered from 1 in the order it arrived."""

    number: int
    path: Path
    to: str
    sender: str
    subject: str
    date: datetime | None

    def as_json(self) -> dict[str, object]:
        return {
            "number": self.number,
            "to": self.to,
            "from": self.sender,
            "subject": self.subject,
            "date": self.date.isoformat() if self.date else None,
            "file": str(self.path),
        }


@dataclass(frozen=True, kw_only=True)
class Opened:
    """A message read in full: its headers, plain text and every link in it."""

    received: Received
    text: str
    links: list[str]
    unsubscribe: str | None

    def as_json(self) -> dict[str, object]:
        return {
            **self.received.as_json(),
            "text": self.text,
            "links": self.links,
            "list_unsubscribe": self.unsubscribe,
        }


def _parse(path: Path) -> EmailMessage:
    mail = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage)
    return mail


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _received(number: int, path: Path, mail: EmailMessage) -> Received:
    return Received(
        number=number,
        path=path,
        to=str(mail.get("To", "")),
        sender=str(mail.get("From", "")),
        subject=str(mail.get("Subject", "")),
        date=_date(mail.get("Date")),
    )


class Inbox:
    """The messages in ``<data dir>/mail``, oldest first."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = mail_dir(data_dir)

    def _files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.glob("*.eml") if p.stem.isdigit())

    def messages(self) -> list[Received]:
        return [_received(n, p, _parse(p)) for n, p in enumerate(self._files(), start=1)]

    def open(self, number: int) -> Opened:
        files = self._files()
        if not 1 <= number <= len(files):
            raise NoSuchMessage(
                f"no message {number}: the inbox has {len(files)} (see wayline demo inbox)"
            )
        path = files[number - 1]
        mail = _parse(path)
        text_part = mail.get_body(preferencelist=("plain",))
        html_part = mail.get_body(preferencelist=("html",))
        text = text_part.get_content() if isinstance(text_part, EmailMessage) else ""
        links: list[str] = []
        if isinstance(html_part, EmailMessage):
            for a, b in _HREF.findall(html_part.get_content()):
                links.append(unescape(a or b))
        links += _URL.findall(text)
        header = str(mail.get("List-Unsubscribe", ""))
        unsubscribe = next(iter(re.findall(r"<(https?://[^>]+)>", header)), None)
        return Opened(
            received=_received(number, path, mail),
            text=text.strip(),
            links=list(dict.fromkeys(links)),
            unsubscribe=unsubscribe,
        )
