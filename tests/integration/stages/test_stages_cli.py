"""wayline stages apply / show / customer, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wayline.cli import app
from wayline.events import parse_message
from wayline.settings import Settings
from wayline.stages.tracker import StageTracker
from wayline.store import open_store
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, drain_profiles


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("WAYLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("WAYLINE_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(app, ["workspace", "create", "shop"]).exit_code == 0
    return runner


def ingest(tmp_path: Path, database_url: str, events: list[tuple[str, str, int]]) -> None:
    """(userId, event, days ago) as track events, then the profile consumer and the
    tracker run to rest."""
    store = open_store(Settings(data_dir=tmp_path, database_url=database_url))
    try:
        assert isinstance(store, SqlStore)
        (ws,) = store.list_workspaces()
        now = datetime.now(UTC)
        rows = [
            parse_message(
                {
                    "type": "track",
                    "userId": user,
                    "event": event,
                    "messageId": f"{user}-{i}",
                    "timestamp": (now - timedelta(days=ago)).isoformat(),
                },
                received_at=now,
            )
            for i, (user, event, ago) in enumerate(events)
        ]
        store.append_events(ws.id, rows)
        drain_profiles(store)
        tracker = StageTracker(store, ManualClock(now))
        while tracker.step():
            pass
    finally:
        store.close()


def test_apply_show_and_one_customer(cli: CliRunner, tmp_path: Path, database_url: str) -> None:
    ingest(
        tmp_path,
        database_url,
        [("ann", "Product Viewed", 10), ("ann", "Checkout Started", 8), ("bob", "Page Viewed", 3)],
    )
    result = cli.invoke(app, ["stages", "apply", "--preset", "ecommerce"])
    assert result.exit_code == 0, result.output
    assert result.output == "stage model version 1 (created), 2 customers in a stage\n"
    shown = cli.invoke(app, ["stages", "show"])
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[1] == "awareness: 1 customers, typical -, stalled after -"
    assert lines[2] == "consideration: 0 customers, typical 2.0d, stalled after 6.0d"
    assert lines[3] == "decision: 1 customers, typical -, stalled after -"
    ingest(tmp_path, database_url, [("bob", "Order Completed", 0)])
    one = cli.invoke(app, ["stages", "customer", "bob"])
    assert one.exit_code == 0, one.output
    assert one.output.splitlines()[0].startswith("purchase since ")
    assert "entered purchase (from awareness)" in one.output.splitlines()[1]


def test_bad_models_and_arguments(cli: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "stages.yaml"
    bad.write_text("stages:\n  - name: awareness\n    stall_after: soon\n")
    result = cli.invoke(app, ["stages", "apply", str(bad)])
    assert result.exit_code == 1
    assert result.output.strip().startswith(f"{bad}:3:")
    assert "stall_after" in result.output
    assert cli.invoke(app, ["stages", "apply"]).exit_code == 2
    assert cli.invoke(app, ["stages", "apply", "--preset", "shop"]).exit_code == 2
    assert cli.invoke(app, ["stages", "show"]).exit_code == 1


def test_reports_use_the_workspaces_model(cli: CliRunner, tmp_path: Path) -> None:
    own = tmp_path / "stages.yaml"
    own.write_text("stages:\n  - name: curious\n    events: [Page Viewed]\n")
    assert cli.invoke(app, ["stages", "apply", str(own)]).exit_code == 0
    result = cli.invoke(app, ["report", "stages", "--workspace", "shop", "--json"])
    assert result.exit_code == 0, result.output
    assert '"stage": "curious"' in result.output
    preset = cli.invoke(
        app, ["report", "stages", "--workspace", "shop", "--json", "--preset", "saas"]
    )
    assert '"stage": "curious"' not in preset.output


def test_segments_naming_a_stage_the_model_lacks_are_refused(
    cli: CliRunner, tmp_path: Path
) -> None:
    segment = tmp_path / "s.yaml"
    segment.write_text("id: s\nwhere:\n  any:\n    - {stage: [decision, purchace]}\n")
    # without a model, any name is accepted (the model may come later)
    assert cli.invoke(app, ["segments", "apply", str(segment)]).exit_code == 0
    assert cli.invoke(app, ["stages", "apply", "--preset", "ecommerce"]).exit_code == 0
    result = cli.invoke(app, ["segments", "apply", str(segment)])
    assert result.exit_code == 1
    assert result.output == (
        f"{segment}:4:26: where.any[0].stage[1]: no stage 'purchace' in the workspace's "
        "stage model (did you mean 'purchase'?)\n"
    )
    # a model that drops a stage the stored segment names is refused, in one line
    model = tmp_path / "stages.yaml"
    model.write_text(
        "stages:\n  - {name: awareness, events: [Page Viewed]}\n"
        "  - {name: purchase, events: [Order Completed]}\n"
    )
    result = cli.invoke(app, ["stages", "apply", str(model)])
    assert result.exit_code == 1
    assert result.output == (
        f"{model}: the model drops stages that segments use (segment 's' uses 'decision'); "
        "change those segments first\n"
    )
