"""Each node type: what it accepts, and what it refuses (at which line)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from tests.unit.journeys.example import HEAD, load, one_problem
from wayline.journeys.conditions import (
    AllCondition,
    AnyCondition,
    EventCondition,
    SegmentCondition,
    WhereCondition,
)
from wayline.journeys.nodes import (
    BranchNode,
    DelayNode,
    ExitNode,
    GotoNode,
    ScoreNode,
    SendNode,
    SplitNode,
    UpdateProfileNode,
    WaitForEventNode,
    WaitUntilNode,
    WebhookNode,
)

FIN = "  - {id: fin, type: exit}\n"


def first_node(node_yaml: str) -> object:
    """Load a journey whose first node is ``node_yaml`` (indented as a list item)."""
    return load(HEAD + node_yaml + FIN).nodes[0]


def problem_of(node_yaml: str) -> str:
    return one_problem(HEAD + node_yaml + FIN)


def test_delay_for_a_duration() -> None:
    node = first_node("  - {id: d, type: delay, duration: PT90M, next: fin}\n")
    assert node == DelayNode(id="d", type="delay", duration=timedelta(minutes=90), next="fin")


@pytest.mark.parametrize(
    ("until", "expected"),
    [
        ("traits.birthday", "traits.birthday"),
        ("journey.appointment_at", "journey.appointment_at"),
        ("2026-12-24T09:00:00Z", datetime(2026, 12, 24, 9, tzinfo=UTC)),
        ("2026-12-24T09:00:00", datetime(2026, 12, 24, 9)),
    ],
)
def test_delay_until_a_moment(until: str, expected: object) -> None:
    node = first_node(f"  - {{id: d, type: delay, until: '{until}', offset: -1d, next: fin}}\n")
    assert isinstance(node, DelayNode)
    assert (node.until, node.offset) == (expected, timedelta(days=-1))


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            "{id: d, type: delay, next: fin}",
            "j.yaml:4:5: node 'd': a delay needs either duration or until, not both",
        ),
        (
            "{id: d, type: delay, duration: 1h, until: traits.x, next: fin}",
            "j.yaml:4:5: node 'd': a delay needs either duration or until, not both",
        ),
        (
            "{id: d, type: delay, duration: 1h, offset: 1h, next: fin}",
            "j.yaml:4:40: node 'd': offset: offset only applies to until",
        ),
        (
            "{id: d, type: delay, until: tomorrow, next: fin}",
            "j.yaml:4:26: node 'd': until: not a "
            "date or a reference: 'tomorrow' (use an ISO 8601 date and time, traits.NAME or "
            "journey.NAME)",
        ),
        (
            "{id: d, type: delay, until: traits.x, offset: 1 day, next: fin}",
            "j.yaml:4:43: node "
            "'d': offset: not a duration: '1 day' (use 30s, 15m, 1h, 7d or ISO 8601 like PT1H)",
        ),
    ],
)
def test_delay_problems(node: str, message: str) -> None:
    assert problem_of(f"  - {node}\n") == message


def test_wait_until_a_window() -> None:
    node = first_node(
        "  - id: w\n"
        "    type: wait_until\n"
        "    days: [mon, tue, wed, thu, fri]\n"
        '    from: "09:00"\n'
        '    to: "18:00"\n'
        "    timezone: Europe/Paris\n"
        "    next: fin\n"
    )
    assert isinstance(node, WaitUntilNode)
    assert node.days == ["mon", "tue", "wed", "thu", "fri"]
    assert (node.from_, node.to, node.timezone) == (time(9), time(18), "Europe/Paris")
    default = first_node("  - {id: w, type: wait_until, from: '22:00', to: '06:00', next: fin}\n")
    assert isinstance(default, WaitUntilNode)
    assert (len(default.days), default.timezone) == (7, "customer")


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            "{id: w, type: wait_until, next: fin}",
            "j.yaml:4:5: node 'w': a wait_until needs days, from or to",
        ),
        (
            "{id: w, type: wait_until, days: [mon, monday], next: fin}",
            "j.yaml:4:43: node 'w': "
            "days[1]: must be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun', not 'monday'",
        ),
        (
            "{id: w, type: wait_until, days: [mon, mon], next: fin}",
            "j.yaml:4:31: node 'w': days: a day is listed twice",
        ),
        (
            "{id: w, type: wait_until, days: [], next: fin}",
            "j.yaml:4:31: node 'w': days: must not be empty",
        ),
        (
            "{id: w, type: wait_until, from: '9am', next: fin}",
            "j.yaml:4:31: node 'w': from: not a time of day: '9am' (use HH:MM, like \"09:00\")",
        ),
        (
            "{id: w, type: wait_until, from: '24:00', next: fin}",
            "j.yaml:4:31: node 'w': from: not a time of day: '24:00' (use HH:MM, like \"09:00\")",
        ),
        (
            "{id: w, type: wait_until, from: '09:00', to: '9:00', next: fin}",
            "j.yaml:4:46: node 'w': to: from and to are the same time: the window is empty",
        ),
        (
            "{id: w, type: wait_until, from: '09:00', timezone: Mars/Base, next: fin}",
            "j.yaml:4:46: "
            "node 'w': timezone: not a time zone: 'Mars/Base' (use workspace, customer or an IANA "
            "name like Europe/Paris)",
        ),
    ],
)
def test_wait_until_problems(node: str, message: str) -> None:
    assert problem_of(f"  - {node}\n") == message


def test_wait_for_event() -> None:
    node = first_node(
        "  - id: w\n"
        "    type: wait_for_event\n"
        "    event: Order Completed\n"
        "    where: {properties.total: {gt: 0}}\n"
        "    match_key: properties.account\n"
        "    timeout: 2w\n"
        "    on_event: fin\n"
        "    on_timeout: fin\n"
    )
    assert isinstance(node, WaitForEventNode)
    assert (node.event, node.match_key, node.timeout) == (
        "Order Completed",
        "properties.account",
        timedelta(weeks=2),
    )
    assert node.targets() == [(("on_event",), "fin"), (("on_timeout",), "fin")]


def test_branch_conditions() -> None:
    node = first_node(
        "  - id: b\n"
        "    type: branch\n"
        "    branches:\n"
        "      - when: {where: {traits.plan: pro}}\n"
        "        next: fin\n"
        "      - when: {event: Order Completed, within: 30d, at_least: 2, not: true}\n"
        "        next: fin\n"
        "      - when: {segment: vip}\n"
        "        next: fin\n"
        "      - when: {all: [{segment: vip, not: true}, {any: [{where: {traits.x: 1}}]}]}\n"
        "        next: fin\n"
        "    default: fin\n"
    )
    assert isinstance(node, BranchNode)
    whens = [b.when for b in node.branches]
    assert isinstance(whens[0], WhereCondition)
    assert whens[1] == EventCondition.model_validate(
        {"event": "Order Completed", "within": "30d", "at_least": 2, "not": True}
    )
    assert whens[2] == SegmentCondition(segment="vip")
    assert isinstance(whens[3], AllCondition)
    assert isinstance(whens[3].all[1], AnyCondition)
    assert [t for _, t in node.targets()] == ["fin"] * 5


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (
            "{trait: plan}",
            "j.yaml:7:9: node 'b': branches[0].when: not a condition: it needs one "
            "of the keys event, segment, message, all, any, where",
        ),
        (
            "{message: s}",
            "j.yaml:7:9: node 'b': branches[0].when: say what to ask of the "
            "message: opened: true/false, clicked: true/false, or both",
        ),
        (
            "{message: s, opened: yes}",
            "j.yaml:7:28: node 'b': branches[0].when.opened: must be true or false, not 'yes'",
        ),
        (
            "{event: Paid, within: forever}",
            "j.yaml:7:29: node 'b': branches[0].when.within: not "
            "a duration: 'forever' (use 30s, 15m, 1h, 7d or ISO 8601 like PT1H)",
        ),
        (
            "{all: [{segment: vip}, {sgment: x}]}",
            "j.yaml:7:38: node 'b': branches[0].when.all[1]:"
            " not a condition: it needs one of the keys event, segment, message, all, any, where",
        ),
        (
            "{segment: vip, opened: true}",
            "j.yaml:7:30: node 'b': branches[0].when: unknown field 'opened' here",
        ),
    ],
)
def test_branch_condition_problems(when: str, message: str) -> None:
    text = (
        "  - id: b\n"
        "    type: branch\n"
        "    branches:\n"
        f"      - when: {when}\n"
        "        next: fin\n"
        "    default: fin\n"
        "  - {id: s, type: send, channel: log, template: t, next: b}\n"
    )
    assert one_problem(HEAD + text + FIN) == message


def test_split() -> None:
    node = first_node(
        "  - id: s\n"
        "    type: split\n"
        "    variants: {a: 50, b: 40, control: 10}\n"
        "    next: {a: fin, b: fin, control: fin}\n"
    )
    assert isinstance(node, SplitNode)
    assert node.variants == {"a": 50, "b": 40, "control": 10}
    assert node.targets() == [
        (("next", "a"), "fin"),
        (("next", "b"), "fin"),
        (("next", "control"), "fin"),
    ]


@pytest.mark.parametrize(
    ("variants", "message"),
    [
        ("{a: 150, b: -50}", "j.yaml:4:37: node 's': variants.a: a weight is 0 to 100, not 150"),
        ("{a: 50.5, b: 50}", "j.yaml:4:37: node 's': variants.a: must be a whole number, not 50.5"),
        ("{a: '50', b: 50}", "j.yaml:4:37: node 's': variants.a: must be a whole number, not '50'"),
        (
            "{'a b': 50, b: 50}",
            "j.yaml:4:37: node 's': variants.a b: not a variant name: 'a b' "
            "(letters, digits, _ and -, starting with a letter or _, at most 64 characters)",
        ),
    ],
)
def test_split_problems(variants: str, message: str) -> None:
    text = f"  - {{id: s, type: split, variants: {variants}, next: {{a: fin, b: fin}}}}\n"
    assert problem_of(text) == message


def test_send() -> None:
    node = first_node(
        "  - {id: s, type: send, channel: sms, template: code, transactional: true, "
        "topic: security, next: fin}\n"
    )
    assert node == SendNode(
        id="s",
        type="send",
        channel="sms",
        template="code",
        transactional=True,
        topic="security",
        next="fin",
    )
    plain = first_node("  - {id: s, type: send, channel: log, template: t, next: fin}\n")
    assert isinstance(plain, SendNode)
    assert (plain.transactional, plain.topic) == (False, None)


def test_update_profile_and_score() -> None:
    update = first_node(
        "  - {id: u, type: update_profile, set: {stage: lead, cart: '{{ journey.key }}'}, "
        "unset: [trial], next: fin}\n"
    )
    assert isinstance(update, UpdateProfileNode)
    assert (update.set, update.unset) == ({"stage": "lead", "cart": "{{ journey.key }}"}, ["trial"])
    score = first_node("  - {id: s, type: score, trait: lead_score, add: -2.5, next: fin}\n")
    assert score == ScoreNode(id="s", type="score", trait="lead_score", add=-2.5, next="fin")
    whole = first_node("  - {id: s, type: score, trait: lead_score, add: 5, next: fin}\n")
    assert isinstance(whole, ScoreNode)
    assert type(whole.add) is int


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            "{id: u, type: update_profile, next: fin}",
            "j.yaml:4:5: node 'u': an update_profile needs set or unset",
        ),
        (
            "{id: u, type: update_profile, set: {a: 1}, unset: [a], next: fin}",
            "j.yaml:4:48: node 'u': unset: 'a' is both set and unset",
        ),
        (
            "{id: s, type: score, trait: x, add: '5', next: fin}",
            "j.yaml:4:36: node 's': add: must be a number, not '5'",
        ),
        (
            "{id: s, type: score, trait: x, add: true, next: fin}",
            "j.yaml:4:36: node 's': add: must be a number, not True",
        ),
    ],
)
def test_update_profile_and_score_problems(node: str, message: str) -> None:
    assert problem_of(f"  - {node}\n") == message


def test_webhook() -> None:
    node = first_node(
        "  - id: h\n"
        "    type: webhook\n"
        "    url: https://crm.example.com/hooks/{{ profile.user_id }}\n"
        "    method: PUT\n"
        "    headers: {X-Source: wayline}\n"
        "    body: {cart: '{{ journey.key }}', items: [1, 2]}\n"
        "    capture_as: crm\n"
        "    next: fin\n"
    )
    assert isinstance(node, WebhookNode)
    assert (node.method, node.headers, node.capture_as) == ("PUT", {"X-Source": "wayline"}, "crm")
    assert node.body == {"cart": "{{ journey.key }}", "items": [1, 2]}
    default = first_node("  - {id: h, type: webhook, url: 'http://x.test/h', next: fin}\n")
    assert isinstance(default, WebhookNode)
    assert (default.method, default.body) == ("POST", None)


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            "{id: h, type: webhook, url: ftp://x, next: fin}",
            "j.yaml:4:28: node 'h': url: not an "
            "http(s) URL: 'ftp://x' (like https://crm.example.com/hooks/cart)",
        ),
        (
            "{id: h, type: webhook, url: 'http://x', method: GET, body: {a: 1}, next: fin}",
            "j.yaml:4:58: node 'h': body: a GET request has no body",
        ),
        (
            "{id: h, type: webhook, url: 'http://x', method: post, next: fin}",
            "j.yaml:4:45: node "
            "'h': method: must be 'GET', 'POST', 'PUT', 'PATCH' or 'DELETE', not 'post'",
        ),
        (
            "{id: h, type: webhook, url: 'http://x', capture_as: key, next: fin}",
            "j.yaml:4:45: node 'h': capture_as: 'key' is taken by the journey",
        ),
    ],
)
def test_webhook_problems(node: str, message: str) -> None:
    assert problem_of(f"  - {node}\n") == message


def test_goto_and_exit() -> None:
    to_node = load(
        HEAD + "  - {id: w, type: delay, duration: 1d, next: g}\n  - {id: g, type: goto, node: w}\n"
    ).nodes[1]
    assert to_node == GotoNode(id="g", type="goto", node="w")
    assert to_node.targets() == [(("node",), "w")]
    to_journey = load(HEAD + "  - {id: g, type: goto, journey: onboarding}\n").nodes[0]
    assert isinstance(to_journey, GotoNode)
    assert (to_journey.journey, to_journey.targets()) == ("onboarding", [])
    assert load(HEAD + FIN).nodes[0] == ExitNode(id="fin", type="exit")


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            "{id: g, type: goto}",
            "j.yaml:4:5: node 'g': a goto needs either node or journey, not both",
        ),
        (
            "{id: g, type: goto, node: fin, journey: other}",
            "j.yaml:4:5: node 'g': a goto needs either node or journey, not both",
        ),
        (
            "{id: g, type: goto, journey: Other Journey}",
            "j.yaml:4:25: node 'g': journey: not a "
            "journey id: 'Other Journey' (lower-case letters, digits, _ and -, at most 64 "
            "characters)",
        ),
    ],
)
def test_goto_problems(node: str, message: str) -> None:
    assert problem_of(f"  - {node}\n") == message


@pytest.mark.parametrize(
    ("node", "message"),
    [
        (
            "{id: x, type: sned}",
            "j.yaml:4:13: node 'x': type: unknown node type 'sned' (one of: "
            "delay, wait_until, wait_for_event, branch, split, send, update_profile, score, "
            "webhook, goto, exit)",
        ),
        (
            "{id: x}",
            "j.yaml:4:5: node 'x': missing field 'type' (one of: delay, wait_until, "
            "wait_for_event, branch, split, send, update_profile, score, webhook, goto, exit)",
        ),
        (
            "{id: 'bad id', type: exit}",
            "j.yaml:4:6: node 'bad id': id: not a node id: 'bad id' "
            "(letters, digits, _ and -, starting with a letter or _, at most 64 characters)",
        ),
        (
            "{id: x, type: send, channel: log, template: t, next: fin, tiemout: 1h}",
            "j.yaml:4:63: node 'x': unknown field 'tiemout' (did you mean 'timeout'?)",
        ),
        (
            "{id: x, type: send, channel: log, template: '', next: fin}",
            "j.yaml:4:39: node 'x': "
            "template: not a name: '' (it must not be empty or start or end with a space)",
        ),
        ("fin", "j.yaml:4:5: nodes[0]: must be a mapping (key: value), not 'fin'"),
    ],
)
def test_node_problems(node: str, message: str) -> None:
    assert problem_of(f"  - {node}\n") == message
