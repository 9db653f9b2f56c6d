"""The demo's steps against a running Wayline: email to the mail sink, the sample shop's
customers, and stage thresholds worked out from them.

``scripts/demo`` runs them once ``wayline serve`` answers:
``python -m wayline.demo.loader --url URL --credentials FILE --smtp-port PORT``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from wayline.errors import WaylineError
from wayline.sample import sample_calls

#: The demo shop's sender.
SENDER = {"from_email": "shop@example.com", "from_name": "Trailhead Outfitters"}
BATCH = 500


def _checked(response: httpx.Response, what: str) -> Any:
    if response.status_code != 200:
        raise WaylineError(f"{what} answered {response.status_code}: {response.text[:200]}")
    return response.json()


class DemoShop:
    """One workspace of a running Wayline, seen through its APIs."""

    def __init__(self, url: str, *, write_key: str, admin_token: str) -> None:
        self.url = url
        self.write_key = write_key
        self.admin = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {admin_token}"}, timeout=120
        )

    def close(self) -> None:
        self.admin.close()

    def send_email_to(self, host: str, port: int) -> None:
        """The workspace's email goes to the SMTP server at ``host``:``port``."""
        settings = {"host": host, "port": port, "security": "none", **SENDER}
        _checked(
            self.admin.put("/api/v1/channels/email", json=settings), "PUT /api/v1/channels/email"
        )

    def send_sample(self, customers: int, *, seed: int = 7) -> int:
        """The sample shop's customers, through the tracking API; returns the events sent."""
        sent = 0
        batch: list[dict[str, Any]] = []
        with httpx.Client(base_url=self.url, auth=(self.write_key, ""), timeout=60) as client:
            for call in sample_calls(customers, seed=seed):
                batch.append(call)
                if len(batch) == BATCH:
                    _checked(client.post("/v1/batch", json={"batch": batch}), "/v1/batch")
                    sent, batch = sent + len(batch), []
            if batch:
                _checked(client.post("/v1/batch", json={"batch": batch}), "/v1/batch")
                sent += len(batch)
        return sent

    def staged(self) -> int:
        """Customers who are in a stage now."""
        r = self.admin.get("/api/v1/stages")
        return sum(s["customers"] for s in _checked(r, "GET /api/v1/stages")["stages"])

    def wait_for_stages(self, customers: int, *, timeout: float = 180) -> int:
        """Wait until ``customers`` customers have a stage: the stage tracker, which runs
        behind the profiles, has then read every event of the sample."""
        deadline = time.monotonic() + timeout
        while (found := self.staged()) < customers:
            if time.monotonic() > deadline:
                raise WaylineError(f"only {found} of {customers} customers have a stage yet")
            time.sleep(0.5)
        return found

    def refresh_stages(self) -> dict[str, Any]:
        """Apply the e-commerce stages again: the typical time of each stage, and so who
        is stalled, is worked out from the customers now there."""
        r = self.admin.put("/api/v1/stages", json={"preset": "ecommerce"})
        found: dict[str, Any] = _checked(r, "PUT /api/v1/stages")
        return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Load the demo shop into a running Wayline.")
    parser.add_argument("--url", required=True)
    parser.add_argument("--credentials", type=Path, required=True)
    parser.add_argument("--smtp-host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--customers", type=int, default=1000)
    args = parser.parse_args(argv)
    creds = json.loads(args.credentials.read_text())
    shop = DemoShop(args.url, write_key=creds["write_key"], admin_token=creds["admin_token"])
    try:
        shop.send_email_to(args.smtp_host, args.smtp_port)
        sent = shop.send_sample(args.customers)
        print(f"sent {sent} sample events for {args.customers} customers", flush=True)
        shop.wait_for_stages(args.customers)
        shop.refresh_stages()
    except (WaylineError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        shop.close()


if __name__ == "__main__":
    main()
