"""The version plan, decided from stored specs and counts alone (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from wayline.engine.versions import (
    CHANGED,
    CONTINUES,
    NEW,
    NEW_VERSION,
    RE_ENTERS,
    REMOVED,
    SAME,
    UNCHANGED,
    MappingInvalid,
    make_plan,
    parse_mapping,
)
from wayline.journeys.diff import diff_specs


def _spec(*nodes: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"id": "j", "entry": {"event": "E"}, **top, "nodes": list(nodes)}


def _delay(node_id: str, duration: str = "P1D", next_: str = "end") -> dict[str, Any]:
    return {"id": node_id, "type": "delay", "duration": duration, "next": next_}


END = {"id": "end", "type": "exit"}
V1 = _spec(_delay("a"), _delay("b"), END)
V2 = _spec(_delay("a"), _delay("b", "P2D"), _delay("c"), END, goal={"event": "Buy"})


def test_diff_names_added_removed_and_changed_fields() -> None:
    diff = diff_specs(V1, _spec(_delay("b", "P2D", "c"), _delay("c"), END, re_entry={}))
    assert diff.to_json() == {
        "added": ["c"],
        "removed": ["a"],
        "changed": [{"node": "b", "fields": ["duration", "next"]}],
        "journey": ["re_entry"],
    }
    assert diff_specs(V1, V1).empty


def test_new_unchanged_and_new_version() -> None:
    assert make_plan("j", V1, {}, {}, migrate=False, mapping={}).status == NEW
    same = make_plan("j", V1, {1: V1}, {}, migrate=False, mapping={})
    assert (same.status, same.version, same.diff) == (UNCHANGED, 1, None)
    changed = make_plan("j", V2, {1: V1}, {}, migrate=False, mapping={})
    assert (changed.status, changed.version, changed.previous) == (NEW_VERSION, 2, 1)


def test_each_node_with_customers_is_routed_by_how_it_changed() -> None:
    stored = {1: V1, 2: _spec(_delay("a"), _delay("x"), END)}
    inside = {(1, "a"): 5, (1, "b"): 3, (2, "x"): 2, (1, "end"): 0}
    plan = make_plan("j", V2, stored, inside, migrate=True, mapping={"x": "c"})
    assert [(x.version, x.node, x.customers, x.in_target) for x in plan.inside] == [
        (1, "a", 5, SAME),
        (1, "b", 3, CHANGED),
        (2, "x", 2, REMOVED),
    ]
    assert [(m.from_version, m.from_node, m.to_node, m.customers, m.how) for m in plan.moves] == [
        (1, "a", "a", 5, CONTINUES),
        (1, "b", "b", 3, RE_ENTERS),
        (2, "x", "c", 2, RE_ENTERS),
    ]
    assert plan.refused == ()


def test_mapping_an_unchanged_node_elsewhere_re_enters_and_a_missing_target_is_refused() -> None:
    plan = make_plan(
        "j", V2, {1: V1, 2: _spec(_delay("x"), END)}, {(1, "a"): 4, (2, "x"): 1},
        migrate=True, mapping={"a": "c"},
    )  # fmt: skip
    assert [(m.from_node, m.to_node, m.how) for m in plan.moves] == [("a", "c", RE_ENTERS)]
    assert [(r.version, r.node, r.customers) for r in plan.refused] == [(2, "x", 1)]
    assert "'x' (version 2, 1 customers)" in plan.refusal_message()


def test_without_migrate_nobody_moves() -> None:
    plan = make_plan("j", V2, {1: V1}, {(1, "a"): 4}, migrate=False, mapping={})
    assert (plan.moves, plan.refused) == ((), ())


@pytest.mark.parametrize(
    ("items", "says"),
    [
        (["a"], "expected OLD=NEW"),
        (["=b"], "expected OLD=NEW"),
        (["a=b", "a=c"], "mapped twice"),
    ],
)
def test_parse_mapping_refuses_malformed_items(items: list[str], says: str) -> None:
    with pytest.raises(MappingInvalid, match=says):
        parse_mapping(items)


def test_parse_mapping() -> None:
    assert parse_mapping(["a=b", " c = d "]) == {"a": "b", "c": "d"}


@pytest.mark.parametrize(
    ("mapping", "migrate", "says"),
    [
        ({"zz": "c"}, True, "no node 'zz' in a version before 2"),
        ({"a": "zz"}, True, "version 2 of j has no node 'zz'"),
        ({"a": "c"}, False, "needs --migrate"),
    ],
)
def test_a_mapping_must_name_real_nodes(mapping: dict[str, str], migrate: bool, says: str) -> None:
    with pytest.raises(MappingInvalid, match=says):
        make_plan("j", V2, {1: V1}, {}, migrate=migrate, mapping=mapping)
