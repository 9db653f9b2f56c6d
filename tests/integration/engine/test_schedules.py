"""Schedule entries: the audience enters at the moment, once per occurrence."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.integration.engine.world import World
from wayline.engine.catalog import Catalog
from wayline.engine.compile import compile_journey, not_yet_run
from wayline.engine.schedules import Scheduler
from wayline.journeys import load_journey_text
from wayline.segments.lifecycle import apply_segments
from wayline.segments.loading import read_segment_text
from wayline.store import Store, schema
from wayline.store.journeys import JourneyStatus, JourneyStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine

NEWSLETTER = """
id: newsletter
entry: {at: "2026-01-02T09:00:00", timezone: workspace, audience: all}
nodes:
  - id: mail
    type: send
    channel: log
    template: news
    next: done
  - id: done
    type: exit
"""

DAILY = """
id: daily
entry: {cron: "0 9 * * *", timezone: UTC, audience: all}
re_entry: {policy: always}
nodes:
  - id: mail
    type: send
    channel: log
    template: digest
    next: done
  - id: done
    type: exit
"""


def _runs(world: World) -> list[tuple[str, str, int]]:
    r = schema.journey_schedule_runs
    with world.store.engine.connect() as conn:
        return [
            (row.occurrence, row.state, row.entered)
            for row in conn.execute(sa.select(r).order_by(r.c.occurrence))
        ]


def _customers(world: World, *users: str, **traits: str) -> None:
    for user in users:
        world.identify(user, **traits)


def test_everyone_enters_once_at_the_moment_in_the_workspace_zone(
    store: Store, clock: ManualClock
) -> None:
    world = World.build(store, clock, NEWSLETTER, timezone="Europe/Paris")
    _customers(world, "ann", "bob")
    world.machine.advance(days=1, hours=7, minutes=59)  # Jan 2, 07:59 UTC, 08:59 in Paris
    assert world.instances() == []
    world.machine.advance(minutes=1)
    instances = world.instances()
    assert len(instances) == 2
    assert {i.entered_at for i in instances} == {datetime(2026, 1, 2, 8, 0, tzinfo=UTC)}
    world.machine.advance(days=3)
    assert len(world.instances()) == 2
    assert len(world.outbox()) == 2
    assert _runs(world) == [("2026-01-02T08:00:00+00:00", "done", 2)]
    assert world.trace("newsletter", "ann")[0] == (
        "mail",
        "entered",
        "entered on schedule (2026-01-02T08:00:00+00:00)",
    )


def test_a_cron_fires_every_occurrence_once(store: Store, clock: ManualClock) -> None:
    world = World.build(store, clock, DAILY)
    _customers(world, "ann", "bob")
    world.machine.advance(days=3)  # Jan 1, 2 and 3 at 09:00
    assert [(occ[:13], state, n) for occ, state, n in _runs(world)] == [
        ("2026-01-01T09", "done", 2),
        ("2026-01-02T09", "done", 2),
        ("2026-01-03T09", "done", 2),
    ]
    assert len(world.instances()) == 6
    assert {i.entered_at.hour for i in world.instances()} == {9}


def test_an_occurrence_before_the_journey_was_applied_does_not_fire(
    store: Store, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    world = World.build(store, clock, NEWSLETTER)
    _customers(world, "ann")
    world.machine.advance(days=2)
    assert world.instances() == []
    assert _runs(world) == []


def test_a_paused_journey_skips_its_occurrences(store: Store, clock: ManualClock) -> None:
    world = World.build(store, clock, DAILY)
    _customers(world, "ann")
    JourneyStore(world.store).set_status(world.workspace, "daily", JourneyStatus.PAUSED)
    world.machine.advance(days=2)
    assert world.instances() == []
    JourneyStore(world.store).set_status(world.workspace, "daily", JourneyStatus.ACTIVE)
    world.machine.advance(days=1)  # resumed on Jan 3 at 00:00: only Jan 3 fires
    assert [occ[:10] for occ, _, _ in _runs(world)] == ["2026-01-03"]


def test_each_customer_enters_at_that_local_time(store: Store, clock: ManualClock) -> None:
    world = World.build(
        store, clock, NEWSLETTER.replace("timezone: workspace", "timezone: customer")
    )
    world.identify("tokyo", timezone="Asia/Tokyo")
    world.identify("new-york", timezone="America/New_York")
    world.identify("nowhere")  # the workspace's zone: UTC
    world.machine.advance(days=3)
    entered = {s: world.trace("newsletter", s)[0] for s in ("tokyo", "new-york", "nowhere")}
    assert all(e[1] == "entered" for e in entered.values())
    instances = {i.profile_id: i for i in world.instances()}
    assert instances[world.profile_id("tokyo")].entered_at == datetime(2026, 1, 2, 0, tzinfo=UTC)
    assert instances[world.profile_id("nowhere")].entered_at == datetime(2026, 1, 2, 9, tzinfo=UTC)
    assert instances[world.profile_id("new-york")].entered_at == datetime(
        2026, 1, 2, 14, tzinfo=UTC
    )
    assert all(i.state == "done" for i in instances.values())
    assert _runs(world) == [("2026-01-02T09:00:00", "done", 3)]


def test_two_schedulers_enrol_each_customer_once(store: Store, clock: ManualClock) -> None:
    world = World.build(store, clock, NEWSLETTER)
    _customers(world, *(f"c{i}" for i in range(9)))
    clock.set(datetime(2026, 1, 2, 9, 0, tzinfo=UTC))
    schedulers = [
        Scheduler(
            world.store,
            Catalog(JourneyStore(world.store), compile_journey, refresh=0),
            clock,
            batch_size=2,
        )
        for _ in range(2)
    ]
    errors: list[BaseException] = []

    def run(scheduler: Scheduler) -> None:
        try:
            idle = 0
            while idle < 3:
                idle = 0 if scheduler.step() else idle + 1
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    # and a scheduler started afresh (a restart) fires nothing again
    restarted = Scheduler(
        world.store, Catalog(JourneyStore(world.store), compile_journey, refresh=0), clock
    )
    assert restarted.step() == 0
    assert len(world.instances()) == 9
    assert len({i.profile_id for i in world.instances()}) == 9
    assert _runs(world) == [("2026-01-02T09:00:00+00:00", "done", 9)]


def test_a_segment_audience_enrols_the_members_at_the_moment(
    store: Store, clock: ManualClock
) -> None:
    text = NEWSLETTER.replace("audience: all", "audience: vip")
    assert not_yet_run(load_journey_text(text, "n.yaml")) == []
    world = World.build(store, clock, text)
    world.machine = TimeMachine.for_segments(store, clock)
    assert isinstance(store, SqlStore)
    vip = read_segment_text("id: vip\nname: VIP\nwhere: {trait: plan, eq: vip}").segment
    apply_segments(store, clock, world.workspace, [vip])
    _customers(world, "ann", "cy", plan="vip")
    _customers(world, "bob", plan="free")
    world.machine.advance(days=3)
    entered = {i.profile_id for i in world.instances()}
    assert entered == {world.profile_id("ann"), world.profile_id("cy")}
    assert _runs(world) == [("2026-01-02T09:00:00+00:00", "done", 2)]


def test_a_schedule_with_audience_all_is_not_reported_as_not_run() -> None:
    assert not_yet_run(load_journey_text(DAILY, "daily.yaml")) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_cron_every_minute_over_a_long_pause_fires_only_the_latest(
    store: Store, clock: ManualClock
) -> None:
    world = World.build(store, clock, DAILY.replace("0 9 * * *", "* * * * *"))
    _customers(world, "ann")
    world.machine.runtime.loops = [
        loop for loop in world.machine.runtime.loops if loop.name != "scheduler"
    ]
    world.machine.advance(hours=5)
    scheduler = Scheduler(
        world.store, Catalog(JourneyStore(world.store), compile_journey, refresh=0), clock
    )
    while scheduler.step():
        pass
    # 00:00 fired while the customer was created; of the 300 minutes since, only the last
    assert [occ for occ, _, _ in _runs(world)] == [
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T05:00:00+00:00",
    ]
