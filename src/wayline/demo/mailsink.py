"""A local SMTP server for the demo that keeps every message it receives as a file.

Nothing leaves the machine: the demo workspace's email channel points here, and
``wayline demo inbox`` reads the files back (:mod:`wayline.demo.inbox`). Each message is
written as ``<data dir>/mail/NNNNNN.eml`` (the raw message, as received), under a
temporary name first, so a reader never sees half a message.

Run it on its own with ``python -m wayline.demo.mailsink --data-dir DIR --port PORT``;
it serves until SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

#: The folder of the data dir that holds the received messages.
MAIL_FOLDER = "mail"


def mail_dir(data_dir: Path) -> Path:
    return data_dir / MAIL_FOLDER


class MailSink:
    """An SMTP server on ``host``:``port`` that stores what it accepts in ``folder``."""

    def __init__(self, folder: Path, *, port: int, host: str = "127.0.0.1") -> None:
        self.folder = folder
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._next = 0
        self._controller: Controller | None = None

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        numbers = [int(p.stem) for p in self.folder.glob("*.eml") if p.stem.isdigit()]
        self._next = max(numbers, default=0) + 1
        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def keep(self, raw: bytes) -> Path:
        """Store one message under the next number; returns its file."""
        with self._lock:
            number, self._next = self._next, self._next + 1
        path = self.folder / f"{number:06d}.eml"
        partial = self.folder / f".{number:06d}.part"
        partial.write_bytes(raw)
        os.replace(partial, path)
        return path

    # aiosmtpd's handler hook: called once per message, after DATA.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        self.keep(raw)
        return "250 OK"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Keep the demo's email in DATA_DIR/mail.")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port: {args.port} is not a port (1 to 65535)")
    sink = MailSink(mail_dir(args.data_dir), host=args.host, port=args.port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        sink.start()
    except OSError as exc:
        sys.exit(f"error: cannot listen on {args.host}:{args.port}: {exc}")
    print(f"mail sink on {sink.host}:{sink.port}, keeping mail in {sink.folder}", flush=True)
    # a wait without a timeout would not wake for the signal handler
    while not stop.wait(0.5):
        pass
    sink.stop()


if __name__ == "__main__":
    main()
