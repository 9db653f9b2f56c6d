"""Cron expressions (as validated by ``journeys.timing``), in local wall time.

The occurrences are cronsim's, which follows Vixie cron to the letter: when the day of month
and the day of week are both restricted, a day matching either counts, and a field that
starts with ``*`` (``*/2`` too) counts as unrestricted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cronsim import CronSim

from wayline.journeys.timing import cron_fields, cron_problem


@dataclass(frozen=True, slots=True)
class CronSchedule:
    #: The five fields (a shorthand such as ``@daily`` spelt out).
    fields: str

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        """Raises ``ValueError`` for what the journey validator would refuse."""
        reason = cron_problem(expression)
        if reason:
            raise ValueError(f"not a cron expression: {expression!r}: {reason}")
        return cls(cron_fields(expression))

    def next_after(self, after: datetime) -> datetime | None:
        """The first occurrence strictly after ``after`` (naive local wall time), or
        ``None`` when there is none in the next 50 years."""
        return self._first(CronSim(self.fields, after))

    def latest_at_or_before(self, at: datetime) -> datetime | None:
        """The last occurrence at or before ``at`` (naive local wall time), or ``None``
        when there is none in the last 50 years."""
        # cronsim starts strictly before the moment it is given; occurrences fall on whole
        # minutes, so one second after ``at`` (to the second) includes ``at`` itself
        start = at.replace(microsecond=0) + timedelta(seconds=1)
        return self._first(CronSim(self.fields, start, reverse=True))

    @staticmethod
    def _first(occurrences: CronSim) -> datetime | None:
        try:
            return next(occurrences)
        except StopIteration:
            return None
