"""Nothing blocks the line: a row an inbox consumer cannot process is parked as a dead
letter while the rows after it flow on; once its cause is fixed, a retry (CLI or API)
processes it and the letter goes. On both stores."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from wayline.analytics.loader import WarehouseLoader
from wayline.analytics.warehouse import Warehouse, open_warehouse
from wayline.cli import main
from wayline.engine.compile import spec_of
from wayline.engine.loops import journey_runtime
from wayline.engine.triggers import Triggers
from wayline.events import parse_message
from wayline.journeys import load_journey_text
from wayline.profiles import ProfileConsumer
from wayline.runtime import Role, Runtime
from wayline.segments.consumer import SegmentConsumer
from wayline.segments.lifecycle import apply_segments
from wayline.segments.loading import read_segment_text
from wayline.segments.store import SegmentStore
from wayline.server import Process
from wayline.settings import Settings
from wayline.stages.lifecycle import apply_stage_model
from wayline.stages.store import StageStore
from wayline.stages.tracker import StageTracker
from wayline.store import Store, schema
from wayline.store.dead_letters import DeadLetterStore
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock

BAD = "bad-1"

ACTIVE = """
id: active
where: {event: Product Viewed, within: 7d}
"""
MODEL = """\
stages:
  - name: awareness
    events: [Page Viewed]
  - name: consideration
    events: [Product Viewed]
"""
WELCOME = """
id: welcome
entry: {event: Signed Up}
nodes:
  - {id: wait, type: delay, duration: 1d, next: done}
  - {id: done, type: exit}
"""


class Line:
    """A workspace and the inbox consumers of one process, run through their loops (so
    failures are isolated and parked as in ``wayline serve``) on a manual clock."""

    def __init__(self, store: Store, clock: ManualClock, warehouse: Warehouse) -> None:
        assert isinstance(store, SqlStore)
        self.store = store
        self.clock = clock
        self.warehouse = warehouse
        self.workspace = store.create_workspace("shop")
        self.letters = DeadLetterStore(store)
        self.ids = itertools.count()
        engine = journey_runtime(store, clock, refresh=0)
        self.triggers: Triggers = engine.triggers
        runtime = Runtime()
        consumers: list[Any] = [
            ProfileConsumer(store, self.letters, batch_size=50),
            WarehouseLoader(store, warehouse, batch_size=50, letters=self.letters),
            SegmentConsumer(store, clock, batch_size=50),
            StageTracker(store, clock, batch_size=50),
            engine.triggers,
        ]
        for consumer in consumers:
            runtime.consume(consumer.consumer, consumer, 0.01, letters=self.letters, max_attempts=3)
        runtime.add("worker", engine.worker.step, 0.01)
        self.loops = runtime.loops
        #: each consumer's own batch size
        self.sizes = self.batch_sizes()

    def batch_sizes(self) -> dict[str, int]:
        return {
            loop.name: loop.isolation.consumer.batch_size for loop in self.loops if loop.isolation
        }

    @property
    def ws(self) -> str:
        return self.workspace.workspace.id

    def settle(self) -> None:
        for _ in range(2000):
            pauses = [loop.turn() for loop in self.loops]
            if all(p is None for p in pauses):
                if self._caught_up():
                    return
                time.sleep(0.005)  # PostgreSQL: rows of transactions still committing
        raise TimeoutError("the loops did not settle")

    def _caught_up(self) -> bool:
        store = self.store
        with store.engine.connect() as conn:
            cursors = [store._cursor(conn, n) for n in ("profiles", "segments", "triggers")]
        cursors.append(self.warehouse.cursor())
        return not any(store.inbox_after(c) for c in cursors)

    def track(self, user: str, event: str, *, message_id: str | None = None) -> None:
        message = {
            "type": "track",
            "userId": user,
            "event": event,
            "messageId": message_id or f"m{next(self.ids)}",
            "timestamp": self.clock.now().isoformat(),
        }
        self.store.append_events(self.ws, [parse_message(message, received_at=self.clock.now())])

    def loaded(self) -> set[str]:
        """Message ids of the events in the warehouse."""
        table = self.warehouse.table()
        return set(self.warehouse.execute(table.select("message_id"))["message_id"].to_pylist())

    def profile(self, user: str) -> str | None:
        found = self.store.find_profile(self.ws, user)
        return None if found is None else found.profile.id

    def parked(self) -> list[tuple[str, str]]:
        return sorted((d.consumer, d.message_id) for d in self.letters.listing(self.ws))


@pytest.fixture
def line(store: Store, clock: ManualClock, tmp_path: Path) -> Iterator[Line]:
    warehouse = open_warehouse(
        Settings(data_dir=tmp_path, warehouse_url=f"duckdb:///{tmp_path / 'w.duckdb'}")
    )
    yield Line(store, clock, warehouse)
    warehouse.close()


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def operator(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """Runs ``wayline`` against the test's store."""
    monkeypatch.setenv("WAYLINE_DATABASE_URL", settings.resolved_database_url())
    return lambda *args: cli(capsys, *args, "--data-dir", str(settings.data_dir))


@pytest.fixture
def api(settings: Settings, store: Store, clock: ManualClock) -> TestClient:
    return TestClient(Process(settings, [Role.API], store=store, clock=clock).app())


def fail_for(bad: str, real: Any) -> Any:
    """``real``, except that it raises for an event (or list of events) holding ``bad``."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        for arg in args:
            events = arg if isinstance(arg, list) else [arg]
            if any(getattr(e, "message_id", None) == bad for e in events):
                raise ValueError(f"cannot process {bad}")
        return real(*args, **kwargs)

    return wrapped


def test_an_unreadable_row_is_parked_by_profiles_and_loader_and_retried(
    line: Line, store: SqlStore, operator: Any, api: TestClient
) -> None:
    line.track("ann", "Page Viewed")
    # a row no consumer can read: its payload is not JSON
    with store._write() as conn:
        store._insert_events(
            conn,
            [
                {
                    "workspace_id": line.ws,
                    "message_id": BAD,
                    "type": "track",
                    "event": "Page Viewed",
                    "user_id": "carl",
                    "anonymous_id": None,
                    "timestamp": line.clock.now(),
                    "received_at": line.clock.now(),
                    "payload": b"{not json",
                }
            ],
        )
    for i in range(3):
        line.track("bob", "Page Viewed", message_id=f"after-{i}")
    line.settle()

    assert line.profile("bob") is not None
    assert line.profile("carl") is None
    assert {"after-0", "after-1", "after-2"} <= line.loaded()
    assert BAD not in line.loaded()
    assert line.parked() == [("loader", BAD), ("profiles", BAD)]
    # the failed batches have passed: back to the consumers' own batch size
    assert line.batch_sizes() == line.sizes
    (letter, *_) = line.letters.listing(line.ws)
    assert letter.error.startswith("orjson.JSONDecodeError: unexpected character")
    assert letter.attempts == 3

    code, out, err = operator("deadletters", "list", "-w", "shop", "--json")
    assert (code, err) == (0, "")
    assert sorted((r["consumer"], r["message_id"]) for r in orjson.loads(out)) == line.parked()

    admin = {"Authorization": f"Bearer {line.workspace.admin_token}"}
    listed = api.get("/api/v1/deadletters?consumer=loader", headers=admin).json()
    assert [(d["consumer"], d["message_id"]) for d in listed["dead_letters"]] == [("loader", BAD)]

    # retried before the cause is fixed: parked again, one more attempt
    assert operator("deadletters", "retry", "--all")[0] == 0
    line.settle()
    assert line.parked() == [("loader", BAD), ("profiles", BAD)]
    assert {d.attempts for d in line.letters.listing(line.ws)} == {4}

    body = orjson.dumps(
        {"type": "track", "userId": "carl", "event": "Page Viewed", "messageId": BAD}
    )
    with store._write() as conn:
        conn.execute(
            sa.update(schema.inbox).where(schema.inbox.c.message_id == BAD).values(payload=body)
        )
    code, out, _ = operator("deadletters", "retry", "--all")
    assert (code, out) == (0, "shop: 2 dead letters to retry\n")
    line.settle()
    assert line.profile("carl") is not None
    assert BAD in line.loaded()
    assert line.parked() == []
    assert operator("deadletters", "list")[1] == "shop: no dead letters\n"


def test_segments_park_a_failing_row_and_members_follow_the_rest(
    line: Line, monkeypatch: pytest.MonkeyPatch, api: TestClient
) -> None:
    apply_segments(line.store, line.clock, line.ws, [read_segment_text(ACTIVE).segment])
    import wayline.segments.consumer as consumer

    real = consumer._touch
    monkeypatch.setattr(consumer, "_touch", fail_for(BAD, real))
    line.track("ann", "Product Viewed", message_id=BAD)
    line.track("bob", "Product Viewed")
    line.settle()

    members = {p for p, _ in SegmentStore(line.store).members(line.ws, "active", limit=10)}
    assert line.profile("bob") in members
    assert line.profile("ann") not in members
    assert line.parked() == [("segments", BAD)]

    admin = {"Authorization": f"Bearer {line.workspace.admin_token}"}
    listed = api.get("/api/v1/deadletters", headers=admin)
    assert listed.status_code == 200
    (letter,) = listed.json()["dead_letters"]
    assert (letter["consumer"], letter["message_id"], letter["state"]) == (
        "segments",
        BAD,
        "parked",
    )
    metrics = api.get("/metrics").text
    assert 'wayline_dead_letters{consumer="segments"} 1.0' in metrics
    other = line.store.create_workspace("other")
    theirs = {"Authorization": f"Bearer {other.admin_token}"}
    assert api.get("/api/v1/deadletters", headers=theirs).json() == {"dead_letters": []}
    assert api.post(f"/api/v1/deadletters/{letter['id']}/retry", headers=theirs).status_code == 404

    monkeypatch.setattr(consumer, "_touch", real)  # the cause is fixed
    retried = api.post(f"/api/v1/deadletters/{letter['id']}/retry", headers=admin)
    assert retried.status_code == 200
    assert retried.json()["state"] == "retry"
    line.settle()
    members = {p for p, _ in SegmentStore(line.store).members(line.ws, "active", limit=10)}
    assert line.profile("ann") in members
    assert line.parked() == []


def test_stages_park_a_failing_row_and_place_the_rest(
    line: Line, monkeypatch: pytest.MonkeyPatch, operator: Any
) -> None:
    apply_stage_model(line.store, line.clock, line.ws, MODEL)
    from wayline.segments.consumer import owners as real

    # the tracker reads each event's owner through the name it imported
    monkeypatch.setattr("wayline.stages.tracker.owners", fail_for(BAD, real))
    line.track("ann", "Product Viewed", message_id=BAD)
    line.track("bob", "Product Viewed")
    line.settle()

    def stage(user: str) -> str | None:
        profile_id = line.profile(user)
        assert profile_id is not None
        place = StageStore(line.store).place(line.ws, profile_id)
        return None if place is None else place.stage

    assert stage("bob") == "consideration"
    assert stage("ann") is None
    assert line.parked() == [("stages", BAD)]
    (letter,) = line.letters.listing(line.ws)
    assert "cannot process bad-1" in letter.error.splitlines()[0]
    code, out, _ = operator("deadletters", "list", "--consumer", "stages")
    assert code == 0
    assert out.startswith(f"{letter.id}\tstages\tseq {letter.seq}\t{BAD}\t3 attempts\tparked\t")

    monkeypatch.setattr("wayline.stages.tracker.owners", real)
    assert operator("deadletters", "retry", str(letter.id))[0] == 0
    line.settle()
    assert stage("ann") == "consideration"
    assert line.parked() == []


def test_triggers_park_a_failing_row_and_enrol_the_rest(
    line: Line, monkeypatch: pytest.MonkeyPatch, api: TestClient, operator: Any
) -> None:
    journey = load_journey_text(WELCOME, "journey.yaml")
    JourneyStore(line.store).apply(line.ws, journey.id, journey.id, spec_of(journey))
    monkeypatch.setattr(line.triggers, "_entries", fail_for(BAD, line.triggers._entries))
    line.track("ann", "Signed Up", message_id=BAD)
    line.track("bob", "Signed Up")
    line.settle()

    def entered() -> set[str]:
        t = schema.journey_instances
        with line.store.engine.connect() as conn:
            return set(conn.scalars(sa.select(t.c.profile_id)))

    assert entered() == {line.profile("bob")}
    assert line.parked() == [("triggers", BAD)]
    code, out, _ = operator("deadletters", "list", "--consumer", "triggers", "--csv")
    assert code == 0
    assert out.splitlines()[0].startswith("id,consumer,seq,message_id")
    assert f",triggers,{line.letters.listing()[0].seq},{BAD}," in out

    monkeypatch.delattr(line.triggers, "_entries")
    (letter,) = line.letters.listing(line.ws)
    admin = {"Authorization": f"Bearer {line.workspace.admin_token}"}
    assert api.post(f"/api/v1/deadletters/{letter.id}/retry", headers=admin).status_code == 200
    line.settle()
    assert entered() == {line.profile("bob"), line.profile("ann")}
    assert line.parked() == []


def test_a_dropped_letter_is_forgotten(
    line: Line, monkeypatch: pytest.MonkeyPatch, api: TestClient, operator: Any
) -> None:
    monkeypatch.setattr(line.triggers, "_entries", fail_for(BAD, line.triggers._entries))
    journey = load_journey_text(WELCOME, "journey.yaml")
    JourneyStore(line.store).apply(line.ws, journey.id, journey.id, spec_of(journey))
    line.track("ann", "Signed Up", message_id=BAD)
    line.track("ann", "Signed Up", message_id="again")
    line.settle()
    (letter,) = line.letters.listing(line.ws)
    admin = {"Authorization": f"Bearer {line.workspace.admin_token}"}
    assert api.delete(f"/api/v1/deadletters/{letter.id}", headers=admin).status_code == 204
    assert api.delete(f"/api/v1/deadletters/{letter.id}", headers=admin).status_code == 404
    assert line.parked() == []
    code, _, err = operator("deadletters", "drop", str(letter.id))
    assert (code, err) == (1, f"error: no dead letter {letter.id} in shop\n")
    code, _, err = operator("deadletters", "retry")
    assert (code, err) == (1, "error: give a dead letter's ID or --all\n")


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_database_outage_parks_nothing(line: Line, store: SqlStore, database_url: str) -> None:
    """PostgreSQL refuses connections for a while: the consumer waits and tries again,
    suspects no row, and carries on once the database is back."""
    line.track("ann", "Page Viewed")
    line.settle()
    line.track("bob", "Page Viewed")
    name = sa.make_url(database_url).database
    admin = sa.create_engine(
        sa.make_url(database_url).set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        poolclass=sa.NullPool,
    )
    with admin.connect() as conn:
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        conn.exec_driver_sql(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )
    try:
        profiles = line.loops[0]
        for _ in range(10):
            assert profiles.turn()  # a failure: wait, then try again
        assert profiles.isolation is not None
        assert profiles.isolation.consumer.batch_size == 50  # no row was suspected
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.dispose()
    store.engine.dispose()
    line.clock.advance(timedelta(seconds=1))
    line.settle()
    assert line.parked() == []
    assert line.profile("bob") is not None
