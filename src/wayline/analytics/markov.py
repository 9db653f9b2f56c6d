"""Data-driven attribution from an absorbing Markov chain, solved exactly.

The chain's transient states are the last ``order`` channels a customer has touched (at
the start of a path, the fewer seen so far) plus a start state; it is absorbed in
*conversion* or *null*. Transition probabilities are the observed frequencies over all
paths. The probability of converting from the start is the solution of ``(I - Q) x = r``
(``Q``: transient → transient, ``r``: transient → conversion), solved with a sparse LU
factorisation rather than simulated.

A channel's *removal effect* is the share of that probability lost when every state that
contains the channel leads to null instead; the conversions (and revenue) are divided in
proportion to the removal effects.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csc_matrix, identity
from scipy.sparse.linalg import spsolve

State = tuple[str, ...]
_START: State = ()


@dataclass(frozen=True, slots=True)
class PathCount:
    """One distinct path (a sequence of channels) and how often it ended each way."""

    path: Sequence[str]
    conversions: int
    nulls: int
    revenue: float = 0.0


class Chain:
    """Transition counts of an order-``order`` chain over the given paths."""

    def __init__(self, paths: Iterable[PathCount], order: int) -> None:
        self.order = order
        self.to_state: dict[State, dict[State, float]] = defaultdict(lambda: defaultdict(float))
        self.to_conversion: dict[State, float] = defaultdict(float)
        self.to_null: dict[State, float] = defaultdict(float)
        self.to_value: dict[State, float] = defaultdict(float)
        for p in paths:
            if not p.path:
                continue
            weight = p.conversions + p.nulls
            state = _START
            for channel in p.path:
                after = (*state, channel)[-order:]
                self.to_state[state][after] += weight
                state = after
            self.to_conversion[state] += p.conversions
            self.to_null[state] += p.nulls
            self.to_value[state] += p.revenue
        self.states: list[State] = sorted(
            {_START, *self.to_state, *(s for t in self.to_state.values() for s in t)}
        )
        self.channels: list[str] = sorted({c for s in self.states for c in s})

    def conversion_probability(self, removed: str | None = None, *, value: bool = False) -> float:
        """P(conversion) from the start; with ``removed``, its states lead to null.

        With ``value``, the expected revenue instead: each step into conversion carries
        the mean revenue of the conversions observed from that state."""
        index = {s: i for i, s in enumerate(self.states)}
        gone = {s for s in self.states if removed is not None and removed in s}
        rows, cols, values = [], [], []
        r = np.zeros(len(self.states))
        for state in self.states:
            if state in gone:
                continue
            targets = self.to_state.get(state, {})
            total = sum(targets.values()) + self.to_conversion[state] + self.to_null[state]
            if total == 0:
                continue
            i = index[state]
            for target, n in targets.items():
                if target not in gone:
                    rows.append(i)
                    cols.append(index[target])
                    values.append(n / total)
            r[i] = (self.to_value if value else self.to_conversion)[state] / total
        size = len(self.states)
        q = csc_matrix((values, (rows, cols)), shape=(size, size))
        x = spsolve((identity(size, format="csc") - q).tocsc(), r)
        return float(np.atleast_1d(x)[index[_START]])

    def removal_effects(self, *, value: bool = False) -> dict[str, float]:
        """Channel → the share of conversion probability (or expected revenue) lost
        without it."""
        base = self.conversion_probability(value=value)
        if base <= 0:
            return {c: 0.0 for c in self.channels}
        return {c: 1 - self.conversion_probability(c, value=value) / base for c in self.channels}


def shares(effects: dict[str, float]) -> dict[str, float]:
    """Removal effects normalised to sum to 1."""
    total = sum(effects.values())
    return {c: (e / total if total > 0 else 0.0) for c, e in effects.items()}
