"""``wayline import``, end to end through the command line, on SQLite and PostgreSQL."""

from __future__ import annotations

import gzip
import shutil
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from wayline import cli
from wayline.profiles import process_inbox
from wayline.store import Store
from wayline.store.base import Cursor

ORDERS = (
    b"InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
    b"536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
    b"536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom\n"
    b"536366,22633,HAND WARMER,6,2010-12-01 08:28:00,1.85,,United Kingdom\n"
    b"536367,84879,ASSORTED BIRD,32,2010-12-01 08:34:00,1.69,13047.0\n"
    b"536368,22960,JAM MAKING SET,6,yesterday,4.25,13047.0,United Kingdom\n"
    b"536369,21756,BATH BUILDING BLOCK,3,2010-12-01 08:35:00,5.95,13047.0,United Kingdom\n"
)
ORDER_MAPPING = (
    "--map",
    "userId=CustomerID:int",
    "--map",
    "timestamp=InvoiceDate",
    "--map",
    "properties.order_id=InvoiceNo:str",
    "--map",
    "properties.price=UnitPrice",
    "--set",
    "event=Order Completed",
)


@pytest.fixture
def workspace(store: Store) -> str:
    return store.create_workspace("shop").workspace.id


@pytest.fixture
def run(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Any:  # the CLI, against this test's database
    monkeypatch.setenv("WAYLINE_DATABASE_URL", database_url)
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(cli.app, ["import", *args, "--data-dir", str(tmp_path)])

    return invoke


def _report(result: Any) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    report: dict[str, Any] = orjson.loads(result.stdout)
    return report


def _payloads(store: Store, expected: int) -> list[dict[str, Any]]:
    """The inbox in order. On PostgreSQL, rows become readable only once every older
    transaction of the cluster has ended, and other databases may be busy: so wait."""
    deadline = time.monotonic() + 60
    while True:
        events = store.read_inbox(Cursor(), 1000)
        if len(events) >= expected or time.monotonic() > deadline:
            return [orjson.loads(e.payload) for e in events]
        time.sleep(0.05)


def _process_profiles(store: Store, workspace: str, expected: int) -> None:
    deadline = time.monotonic() + 60
    while store.stats(workspace).profiles < expected and time.monotonic() < deadline:
        if not process_inbox(store, 1000):
            time.sleep(0.05)


def test_good_rows_land_bad_rows_are_reported_and_reimport_adds_nothing(
    store: Store, workspace: str, run: Any, tmp_path: Path
) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(ORDERS)
    rejects = tmp_path / "rejects.ndjson"

    first = _report(run("events", str(path), *ORDER_MAPPING, "--json", "--rejects", str(rejects)))

    assert (first["read"], first["landed"], first["already_present"]) == (6, 3, 0)
    assert first["rejected"] == 3
    assert [(r["line"], r["field"]) for r in first["rejections"]] == [
        (4, "userId"),
        (5, ""),
        (6, "timestamp"),
    ]
    assert "expected 8 columns, found 7" in first["rejections"][1]["error"]
    written = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert [w["line"] for w in written] == [4, 5, 6]
    assert written[0]["row"]["Description"] == "HAND WARMER"
    assert written[2]["row"]["InvoiceDate"] == "yesterday"
    assert store.stats(workspace).events == 3
    stored = store.rejections(workspace)
    assert sorted((r["source"], r["position"], r["field"]) for r in stored) == [
        ("import", 4, "userId"),
        ("import", 5, ""),
        ("import", 6, "timestamp"),
    ]

    renamed = tmp_path / "orders-again.csv"
    shutil.copy(path, renamed)
    again = _report(run("events", str(renamed), *ORDER_MAPPING, "--json"))
    assert (again["landed"], again["already_present"], again["rejected"]) == (0, 3, 3)
    assert store.stats(workspace).events == 3


def test_mapping_casts_and_constants_shape_the_events(
    store: Store, workspace: str, run: Any, tmp_path: Path
) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(ORDERS)
    _report(
        run(
            "events",
            str(path),
            *ORDER_MAPPING,
            "--set",
            "properties.currency=GBP",
            "--timezone",
            "Europe/London",
            "--json",
        )
    )
    first = _payloads(store, 3)[0]
    assert first["type"] == "track"
    assert first["event"] == "Order Completed"
    assert first["userId"] == "17850"
    assert first["timestamp"] == "2010-12-01T08:26:00.000Z"  # GMT in December
    assert first["properties"] == {
        "order_id": "536365",
        "price": 2.55,
        "currency": "GBP",
        "StockCode": "85123A",
        "Description": "WHITE HANGING HEART",
        "Quantity": 6,
        "Country": "United Kingdom",
    }


def test_identical_lines_in_a_file_are_two_events(
    store: Store, workspace: str, run: Any, tmp_path: Path
) -> None:
    path = tmp_path / "clicks.csv"
    path.write_bytes(
        b"userId,event,timestamp\n"
        b"u1,Clicked,2024-03-01T10:00:00Z\n"
        b"u1,Clicked,2024-03-01T10:00:00Z\n"
        b"u2,Clicked,2024-03-01T10:00:00Z\n"
    )
    assert _report(run("events", str(path), "--json"))["landed"] == 3
    assert _report(run("events", str(path), "--json"))["already_present"] == 3
    assert store.stats(workspace).events == 3


def test_gzip_csv(store: Store, workspace: str, run: Any, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv.gz"
    path.write_bytes(gzip.compress(ORDERS))
    report = _report(run("events", str(path), *ORDER_MAPPING, "--json"))
    assert (report["format"], report["landed"], report["rejected"]) == ("csv", 3, 3)
    assert [r["line"] for r in report["rejections"]] == [4, 5, 6]


def test_ndjson_messages_flat_records_and_malformed_lines(
    store: Store, workspace: str, run: Any, tmp_path: Path
) -> None:
    lines = [
        b'{"type": "identify", "userId": "u1", "traits": {"plan": "pro"}, "messageId": "m1"}',
        b'{"type": "track", "userId": "u1", "event": "Upgraded", "messageId": "m2",'
        b' "sentAt": "2024-01-01T00:00:05Z", "timestamp": "2024-01-01T00:00:00Z"}',
        b"",
        b'{"userId": "u2", "event": "Signed Up", "plan": "free"}',
        b'{"type": "track", "userId": "u2"',
        b'{"type": "track", "anonymousId": "a1"}',
    ]
    path = tmp_path / "events.ndjson.gz"
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))

    report = _report(run("events", str(path), "--json"))

    assert (report["read"], report["landed"], report["rejected"]) == (5, 3, 2)
    assert [(r["line"], r["field"]) for r in report["rejections"]] == [(5, ""), (6, "event")]
    by_id = {p["messageId"]: p for p in _payloads(store, 3)}
    assert by_id["m1"]["traits"] == {"plan": "pro"}
    assert by_id["m2"]["timestamp"] == "2024-01-01T00:00:00.000Z"  # not moved to "now"
    flat = next(p for p in by_id.values() if p.get("event") == "Signed Up")
    assert flat["type"] == "track"
    assert flat["properties"] == {"plan": "free"}
    assert _report(run("events", str(path), "--json"))["landed"] == 0


def test_parquet(store: Store, workspace: str, run: Any, tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    table = pa.table(
        {
            "customer": pa.array(["c1", "c2", None]),
            "name": pa.array(["Order Completed"] * 3),
            "at": pa.array(
                [datetime(2024, 5, 1, 12, 0, tzinfo=UTC)] * 3, pa.timestamp("ms", tz="UTC")
            ),
            "total": pa.array([Decimal("10.50"), Decimal("3.25"), Decimal("1.00")]),
            "items": pa.array([["a", "b"], [], ["c"]]),
        }
    )
    pq.write_table(table, path)

    mapping = ("--map", "userId=customer", "--map", "event=name", "--map", "timestamp=at")
    report = _report(run("events", str(path), *mapping, "--json"))

    assert (report["format"], report["landed"]) == ("parquet", 2)
    assert [(r["line"], r["field"]) for r in report["rejections"]] == [(3, "userId")]
    first = _payloads(store, 2)[0]
    assert first["userId"] == "c1"
    assert first["timestamp"] == "2024-05-01T12:00:00.000Z"
    assert first["properties"] == {"total": 10.5, "items": ["a", "b"]}
    assert _report(run("events", str(path), *mapping, "--json"))["already_present"] == 2


def test_profiles_import_makes_profiles_findable(
    store: Store, workspace: str, run: Any, tmp_path: Path
) -> None:
    path = tmp_path / "customers.csv"
    path.write_bytes(
        b"id,email,name,vip\n"
        b"c1,Ann@Example.com,Ann,true\n"
        b",nobody@example.com,Nobody,false\n"
        b"c2,bob@example.com,Bob,false\n"
    )
    report = _report(run("profiles", str(path), "--map", "userId=id", "--json"))
    assert (report["landed"], report["rejected"]) == (2, 1)
    assert report["rejections"][0]["line"] == 3
    assert report["rejections"][0]["field"] == "userId"

    _process_profiles(store, workspace, 2)

    by_user = store.find_profile(workspace, "c1")
    by_email = store.find_profile(workspace, "ann@example.com")
    assert by_user is not None
    assert by_email is not None
    assert by_user.profile.id == by_email.profile.id
    assert by_user.profile.traits == {"email": "Ann@Example.com", "name": "Ann", "vip": True}
    assert store.find_profile(workspace, "bob@example.com") is not None
    assert store.stats(workspace).profiles == 2


def test_human_report_lists_rejected_lines(
    store: Store, workspace: str, run: Any, tmp_path: Path
) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(ORDERS)
    result = run("events", str(path), *ORDER_MAPPING)
    assert result.exit_code == 0, result.output
    assert "3 new" in result.stdout
    assert "3 rejected" in result.stdout
    assert "either userId or anonymousId is required" in result.stdout
    strict = run("events", str(path), *ORDER_MAPPING, "--strict", "--quiet")
    assert strict.exit_code == 1


def test_workspace_must_be_chosen_when_there_are_several(
    store: Store, workspace: str, run: Any, tmp_path: Path
) -> None:
    other = store.create_workspace("other").workspace.id
    path = tmp_path / "clicks.csv"
    path.write_bytes(b"userId,event\nu1,Clicked\n")
    result = run("events", str(path), "--json")
    assert result.exit_code != 0
    assert "choose with --workspace" in str(result.exception)
    assert _report(run("events", str(path), "--workspace", "other", "--json"))["landed"] == 1
    assert store.stats(other).events == 1
    assert store.stats(workspace).events == 0


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("events", "{dir}/missing.csv"), "no such file"),
        (("events", "{dir}/orders.csv", "--map", "userId"), "expected TARGET=COLUMN"),
        (("events", "{dir}/orders.csv", "--map", "userId=Customer"), "no column 'Customer'"),
        (("events", "{dir}/orders.csv", "--format", "xml"), "unknown format 'xml'"),
        (("profiles", "{dir}/orders.txt"), "cannot tell the format"),
    ],
)
def test_file_and_mapping_errors_are_one_line(
    args: tuple[str, ...],
    says: str,
    store: Store,
    workspace: str,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "orders.csv").write_bytes(ORDERS)
    (tmp_path / "orders.txt").write_bytes(ORDERS)
    monkeypatch.setenv("WAYLINE_DATABASE_URL", database_url)
    argv = ["wayline", "import", *(a.format(dir=tmp_path) for a in args)]
    monkeypatch.setattr(sys, "argv", [*argv, "--data-dir", str(tmp_path)])

    with pytest.raises(SystemExit) as exited:
        cli.main()

    assert exited.value.code == 1
    captured = capsys.readouterr()
    output = captured.out + captured.err
    assert "Traceback" not in output
    assert output.count("error:") == 1
    # one message; the console may wrap it at the terminal's width
    assert says in " ".join(output.split())
    assert store.stats(workspace).events == 0


def test_a_file_cut_short_keeps_what_landed_and_says_so(
    store: Store, workspace: str, run: Any, tmp_path: Path
) -> None:
    lines = b"".join(
        orjson.dumps({"userId": f"u{n}", "event": "Viewed", "messageId": f"m{n}"}) + b"\n"
        for n in range(2000)
    )
    packed = gzip.compress(lines)
    path = tmp_path / "cut.ndjson.gz"
    path.write_bytes(packed[: len(packed) * 3 // 4])

    result = run("events", str(path), "--batch-size", "100", "--json")

    assert result.exit_code != 0
    message = str(result.exception)
    assert "cannot read past line" in message
    assert "landed before it" in message
    landed = store.stats(workspace).events
    assert 0 < landed < 2000
    # the rest of the file, complete this time, adds only what was missing
    path.write_bytes(packed)
    again = _report(run("events", str(path), "--json"))
    assert (again["landed"], again["already_present"]) == (2000 - landed, landed)
