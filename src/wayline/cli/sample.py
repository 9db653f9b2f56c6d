"""``wayline sample``: send the sample journey data to a running Wayline."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer
from rich.console import Console

from wayline.errors import WaylineError
from wayline.sample import sample_calls

sample_app = typer.Typer(
    rich_markup_mode=None, no_args_is_help=True, help="Sample data for trying Wayline out."
)
console = Console(stderr=True)


@sample_app.command("send")
def send(
    url: Annotated[str, typer.Option(help="Wayline's base URL")],
    write_key: Annotated[str, typer.Option(help="The workspace's write key")],
    customers: Annotated[int, typer.Option(min=1, help="How many customers")] = 200,
    days: Annotated[int, typer.Option(min=1, help="Over how many past days")] = 30,
    seed: Annotated[int, typer.Option(help="Same seed, same data (and no doubles)")] = 7,
) -> None:
    """Send sample customer journeys through the tracking API (/v1/batch)."""
    batch: list[dict[str, object]] = []
    sent = 0
    with httpx.Client(base_url=url, auth=(write_key, ""), timeout=30) as client:

        def flush() -> None:
            nonlocal sent
            try:
                r = client.post("/v1/batch", json={"batch": batch})
            except httpx.HTTPError as exc:
                raise WaylineError(f"cannot reach {url}: {exc}") from None
            if r.status_code != 200:
                raise WaylineError(f"{url}/v1/batch answered {r.status_code}: {r.text[:200]}")
            sent += len(batch)
            batch.clear()

        for call in sample_calls(customers, days=days, seed=seed):
            batch.append(call)
            if len(batch) == 200:
                flush()
        if batch:
            flush()
    console.print(f"sent {sent} sample events for {customers} customers")
