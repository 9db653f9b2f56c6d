from __future__ import annotations

import json
from datetime import time, timedelta
from pathlib import Path

import pytest
import yaml

from tests.unit.journeys.example import EXAMPLE, HEAD, load, one_problem, problems
from wayline.errors import JourneyInvalid, WaylineError
from wayline.journeys import Journey, load_journey, load_journey_text
from wayline.journeys.conditions import MessageCondition, WhereCondition
from wayline.journeys.entries import EventEntry, ReEntry
from wayline.journeys.filters import Check
from wayline.journeys.nodes import BranchNode, SplitNode, WaitForEventNode, WaitUntilNode


def test_the_issue_example_loads_as_written() -> None:
    journey = load(EXAMPLE)
    assert journey.id == "abandoned-cart"
    assert journey.name == "Abandoned cart recovery"
    assert isinstance(journey.entry, EventEntry)
    assert journey.entry.key == "properties.cart_id"
    assert journey.entry.where == {"properties.price": Check.model_validate({"gte": 10})}
    assert journey.re_entry == ReEntry(policy="after", cooldown=timedelta(days=7))
    assert journey.goal is not None
    assert (journey.goal.within, journey.goal.exit) == (timedelta(days=7), True)
    assert [n.id for n in journey.nodes] == [
        "wait_checkout",
        "notify_crm",
        "reminder",
        "wait_a_day",
        "opened",
        "split",
        "send_discount",
        "done",
    ]
    wait = journey.node("wait_checkout")
    assert isinstance(wait, WaitForEventNode)
    assert (wait.timeout, wait.on_event, wait.on_timeout) == (
        timedelta(hours=1),
        "done",
        "notify_crm",
    )
    opened = journey.node("opened")
    assert isinstance(opened, BranchNode)
    assert opened.branches[0].when == MessageCondition(message="reminder", opened=True)
    split = journey.node("split")
    assert isinstance(split, SplitNode)
    assert split.variants == {"discount": 45, "no_discount": 45, "control": 10}
    assert journey.first.id == "wait_checkout"
    with pytest.raises(KeyError):
        journey.node("nope")


def test_the_example_round_trips_through_yaml_and_json() -> None:
    journey = load(EXAMPLE)
    data = journey.to_data()
    assert data["re_entry"] == {"policy": "after", "cooldown": "7d"}
    assert data["entry"]["where"] == {"properties.price": {"gte": 10}}
    assert data["nodes"][0]["timeout"] == "1h"
    assert load_journey_text(yaml.safe_dump(data), "again.yaml") == journey
    assert load_journey_text(json.dumps(data, indent=2), "again.json") == journey
    # and what goes in is what comes out: the file's own terms, nothing added
    assert load_journey_text(json.dumps(data)).to_data() == data


def test_models_are_frozen() -> None:
    journey = load(EXAMPLE)
    with pytest.raises(ValueError, match="frozen"):
        journey.id = "other"  # type: ignore[misc]


def test_yaml_is_read_as_yaml_1_2() -> None:
    # Under YAML 1.1 `on` is true, 18:00 is 1080 and NO is false.
    journey = load(
        """\
        id: j
        entry: {segment: vip, on: exited}
        nodes:
          - id: office
            type: wait_until
            from: 09:00
            to: 18:00
            next: b
          - id: b
            type: branch
            branches:
              - when: {where: {traits.country: NO, traits.since: 2026-01-01}}
                next: fin
            default: fin
          - {id: fin, type: exit}
        """
    )
    assert journey.entry.model_dump() == {"segment": "vip", "on": "exited"}
    office = journey.nodes[0]
    assert isinstance(office, WaitUntilNode)
    assert (office.from_, office.to) == (time(9), time(18))
    branch = journey.nodes[1]
    assert isinstance(branch, BranchNode)
    condition = branch.branches[0].when
    assert isinstance(condition, WhereCondition)
    where = condition.where
    assert where["traits.country"].eq == "NO"
    assert where["traits.since"].eq == "2026-01-01"


def test_tab_indented_json_loads() -> None:
    data = {"id": "j", "entry": {"api": True}, "nodes": [{"id": "fin", "type": "exit"}]}
    text = json.dumps(data, indent="\t")
    assert load_journey_text(text).id == "j"


def test_a_syntax_error_is_reported_at_its_place() -> None:
    assert one_problem("id: j\nentry: {api: true\nnodes: []\n") == (
        "j.yaml:3:6: not valid YAML: expected ',' or '}', but got ':'"
    )


def test_a_duplicate_key_is_refused() -> None:
    assert one_problem("id: j\nentry: {api: true}\nid: k\n") == (
        "j.yaml:3:1: duplicate key 'id' (first on line 1)"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "j.yaml: the file is empty"),
        ("# nothing\n", "j.yaml: the file is empty"),
        ("- id: j\n", "j.yaml:1:1: a journey is a mapping of keys (id, entry, nodes…), not a list"),
        (
            "hello\n",
            "j.yaml:1:1: a journey is a mapping of keys (id, entry, nodes…), not a single value",
        ),
        ("a: 1\n---\nb: 2\n", "j.yaml:2:1: not valid YAML: but found another document"),
    ],
)
def test_not_a_journey_document(text: str, message: str) -> None:
    assert one_problem(text) == message


def test_an_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 7)]
    assert one_problem("\n".join(lines) + "\n") == "j.yaml: too large: more than 100000 values"


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    found = problems(
        """\
        id: Bad Id
        entry: {event: Signed Up, whre: {a: 1}}
        re_entry: {policy: sometimes}
        nodes:
          - id: first
            type: send
            channel: email
            template: welcome
            next: nowhere
          - id: wait
            type: delay
            duration: 3 days
            next: first
          - {id: fin, type: exit, extra: 1}
        """
    )
    assert found == [
        "j.yaml:1:1: id: not a journey id: 'Bad Id' (lower-case letters, digits, _ and -, at "
        "most 64 characters)",
        "j.yaml:2:27: entry: unknown field 'whre' (did you mean 'where'?)",
        "j.yaml:3:12: re_entry.policy: must be 'once', 'always' or 'after', not 'sometimes'",
        "j.yaml:9:5: node 'first': next: no node 'nowhere'",
        "j.yaml:12:5: node 'wait': duration: not a duration: '3 days' (use 30s, 15m, 1h, 7d or "
        "ISO 8601 like PT1H)",
        "j.yaml:14:27: node 'fin': unknown field 'extra'",
    ]


def test_missing_fields_are_reported_at_the_mapping_that_lacks_them() -> None:
    found = problems(
        """\
        id: j
        nodes:
          - id: w
            type: wait_for_event
            event: Paid
            on_event: w
            on_timeout: w
        """
    )
    assert found == [
        "j.yaml:1:1: missing field 'entry'",
        "j.yaml:3:5: node 'w': missing field 'timeout'",
    ]


def test_a_node_without_a_usable_id_is_named_by_its_place() -> None:
    found = problems(HEAD + "  - {type: exit}\n  - {id: 7, type: exit}\n")
    assert found == [
        "j.yaml:4:5: nodes[0]: missing field 'id'",
        "j.yaml:5:6: nodes[1].id: must be text, not 7 (put it in quotes)",
    ]


def test_the_error_carries_structured_problems() -> None:
    with pytest.raises(JourneyInvalid) as caught:
        load_journey_text(HEAD + "  - {id: w, type: delay, duration: 1 day, next: w}\n", "x.yaml")
    assert isinstance(caught.value, WaylineError)
    [problem] = caught.value.problems
    assert (problem.file, problem.line, problem.column) == ("x.yaml", 4, 26)
    assert (problem.node, problem.path) == ("w", "duration")
    assert problem.message.startswith("not a duration: '1 day'")
    assert str(caught.value) == str(problem)


def test_load_journey_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "cart.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")
    assert isinstance(load_journey(path), Journey)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(JourneyInvalid) as caught:
        load_journey(tmp_path / "missing.yaml")
    assert (
        str(caught.value) == f"{tmp_path / 'missing.yaml'}: cannot read: No such file or directory"
    )
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("id: caf\xe9\n".encode("latin-1"))
    with pytest.raises(JourneyInvalid, match="not UTF-8 text"):
        load_journey(latin)
