"""The scheduler: schedule entries (``at``, ``cron``) enrol their audience at the moment.

Each occurrence fires once: its row in ``journey_schedule_runs`` is inserted by whichever
process sees it due first (the insert of any other does nothing), on SQLite and on any
number of PostgreSQL workers, and across restarts. The audience is then enrolled page by
page, in profile id order; each page, with the run's cursor, is one transaction, claimed
with ``SKIP LOCKED``, so a crash repeats nothing and two workers never take one page.

Only the latest occurrence since the journey last changed (applied, resumed) fires: a
process down for a week does not send a week of daily messages at once.

``timezone: customer`` enters each customer at that wall time in their own zone (their
``timezone`` trait, else the workspace's). Such an occurrence opens when it is that time
somewhere on Earth (UTC+14): every customer is then enrolled to start at their local
moment, with their zone as it is then.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from wayline.clock import Clock
from wayline.engine.audience import audience_page
from wayline.engine.catalog import Catalog, CompiledJourney
from wayline.engine.cron import CronSchedule
from wayline.engine.enrolment import enrol
from wayline.engine.timing import zone_for
from wayline.store import schema
from wayline.store.journeys import JourneyStore, Step
from wayline.store.journeys.instances import workspace_zones
from wayline.store.sql import SqlStore

log = logging.getLogger("wayline.engine")

#: The earliest UTC offset in use (Kiribati): a local wall time happens first there.
EARLIEST = timedelta(hours=14)
RUNNING, DONE = "running", "done"


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


class Occurrence:
    """One firing of a schedule: its key, and when it opens (UTC)."""

    def __init__(self, key: str, opens: datetime, wall: datetime | None) -> None:
        self.key = key
        self.opens = opens
        #: For ``timezone: customer``: the local wall time every customer enters at.
        self.wall = wall


def _zone(schedule: Any, workspace_zone: str) -> ZoneInfo:
    return zone_for(
        "workspace" if schedule.timezone == "customer" else schedule.timezone, {}, workspace_zone
    )


def occurrence_at_or_before(schedule: Any, now: datetime, workspace_zone: str) -> Occurrence | None:
    """The latest occurrence that has opened by ``now``."""
    cron = CronSchedule.parse(schedule.cron) if schedule.cron else None
    if schedule.timezone == "customer":
        reach = _naive(now) + EARLIEST  # the latest wall time reached anywhere
        wall = schedule.at if cron is None else cron.latest_at_or_before(reach)
        if wall is None or wall > reach:
            return None
        return Occurrence(wall.isoformat(), wall.replace(tzinfo=UTC) - EARLIEST, wall)
    zone = _zone(schedule, workspace_zone)
    if cron is None:
        at = schedule.at
        moment = at if at.tzinfo is not None else at.replace(tzinfo=zone)
    else:
        wall = cron.latest_at_or_before(now.astimezone(zone).replace(tzinfo=None))
        if wall is None:
            return None
        moment = wall.replace(tzinfo=zone)
    moment = moment.astimezone(UTC)
    return Occurrence(moment.isoformat(), moment, None) if moment <= now else None


def next_opening(schedule: Any, after: datetime, workspace_zone: str) -> datetime | None:
    """When the first occurrence after ``after`` opens (for clocks that jump ahead)."""
    cron = CronSchedule.parse(schedule.cron) if schedule.cron else None
    if schedule.timezone == "customer":
        reach = _naive(after) + EARLIEST
        wall = schedule.at if cron is None else cron.next_after(reach)
        if wall is None or wall <= reach:
            return None
        return wall.replace(tzinfo=UTC) - EARLIEST
    zone = _zone(schedule, workspace_zone)
    if cron is None:
        at = schedule.at
        moment = (at if at.tzinfo is not None else at.replace(tzinfo=zone)).astimezone(UTC)
        return moment if moment > after else None
    wall = cron.next_after(after.astimezone(zone).replace(tzinfo=None))
    return None if wall is None else wall.replace(tzinfo=zone).astimezone(UTC)


class Scheduler:
    def __init__(
        self, store: SqlStore, catalog: Catalog, clock: Clock, *, batch_size: int = 500
    ) -> None:
        self.store = store
        self.journeys = JourneyStore(store)
        self.catalog = catalog
        self.clock = clock
        self.batch_size = batch_size

    def step(self) -> int:
        now = self.clock.now()
        return self._start(now) + self._enrol_page(now)

    def _schedulable(self) -> list[tuple[CompiledJourney, datetime]]:
        return list(self.catalog.scheduled())

    def _start(self, now: datetime) -> int:
        """Record every occurrence now due that has not fired yet."""
        scheduled = self._schedulable()
        if not scheduled:
            return 0
        r = schema.journey_schedule_runs
        with self.store.engine.connect() as conn:
            zones = workspace_zones(conn, (j.workspace_id for j, _ in scheduled))
            due: list[tuple[CompiledJourney, Occurrence]] = []
            for journey, since in scheduled:
                found = occurrence_at_or_before(
                    journey.schedule, now, zones.get(journey.workspace_id, "UTC")
                )
                if found is None or found.opens < since:
                    continue
                fired = conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(r)
                    .where(
                        r.c.workspace_id == journey.workspace_id,
                        r.c.journey_id == journey.journey_id,
                        r.c.occurrence == found.key,
                    )
                )
                if not fired:
                    due.append((journey, found))
        if not due:
            return 0  # an idle scheduler only reads: SQLite's write lock is ingestion's
        started = 0
        with self.store._write() as conn:
            for journey, found in due:
                stmt = (
                    self.store._insert(r)
                    .values(
                        workspace_id=journey.workspace_id,
                        journey_id=journey.journey_id,
                        occurrence=found.key,
                        version=journey.version,
                        state=RUNNING,
                        cursor="",
                        entered=0,
                        refused=0,
                        started_at=now,
                    )
                    .on_conflict_do_nothing(
                        index_elements=["workspace_id", "journey_id", "occurrence"]
                    )
                )
                started += conn.execute(stmt).rowcount or 0
        return started

    def _enrol_page(self, now: datetime) -> int:
        """Enrol the next page of one running occurrence's audience."""
        r = schema.journey_schedule_runs
        running = sa.select(r).where(r.c.state == RUNNING)
        with self.store.engine.connect() as conn:
            if conn.execute(running.limit(1)).first() is None:
                return 0
        with self.store._write() as conn:
            run = conn.execute(
                self.store._claim_rows(running.order_by(r.c.started_at).limit(1))
            ).first()
            if run is None:
                return 0
            where = (
                r.c.workspace_id == run.workspace_id,
                r.c.journey_id == run.journey_id,
                r.c.occurrence == run.occurrence,
            )
            journey = self.catalog.active(run.workspace_id, run.journey_id)
            if journey is None or journey.schedule is None:
                # paused, archived or no longer scheduled: the rest of the audience stays out
                conn.execute(sa.update(r).where(*where).values(state=DONE, finished_at=now))
                return 1
            members = audience_page(
                conn,
                run.workspace_id,
                journey.schedule.audience,
                after=run.cursor,
                limit=self.batch_size,
            )
            zone = workspace_zones(conn, [run.workspace_id]).get(run.workspace_id, "UTC")
            wall = (
                datetime.fromisoformat(run.occurrence)
                if journey.schedule.timezone == "customer"
                else None
            )
            steps: list[Step] = []
            entered = refused = 0
            for profile_id, traits in members:
                start = now
                if wall is not None:
                    local = wall.replace(tzinfo=zone_for("customer", traits, zone))
                    start = max(now, local.astimezone(UTC))
                result = enrol(
                    self.journeys,
                    conn,
                    journey,
                    profile_id,
                    "",
                    {"schedule": run.occurrence},
                    start,
                    steps,
                    reason=f"schedule ({run.occurrence})",
                )
                if isinstance(result, str):
                    refused += 1
                else:
                    entered += 1
            self.journeys.add_steps(conn, steps)
            values: dict[str, Any] = {
                "entered": r.c.entered + entered,
                "refused": r.c.refused + refused,
            }
            if members:
                values["cursor"] = members[-1][0]
            if len(members) < self.batch_size:
                values.update(state=DONE, finished_at=now)
            conn.execute(sa.update(r).where(*where).values(**values))
        return max(len(members), 1)

    def next_due(self, after: datetime) -> datetime | None:
        """When the next occurrence of any active schedule opens."""
        scheduled = self._schedulable()
        if not scheduled:
            return None
        with self.store.engine.connect() as conn:
            zones = workspace_zones(conn, (j.workspace_id for j, _ in scheduled))
        times = [
            t
            for journey, _ in scheduled
            if (t := next_opening(journey.schedule, after, zones.get(journey.workspace_id, "UTC")))
            is not None
        ]
        return min(times) if times else None
