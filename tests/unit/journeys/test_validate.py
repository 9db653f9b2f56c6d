"""The checks across parts of a journey: links, reachability, loops, weights, keys, names."""

from __future__ import annotations

import pytest

from tests.unit.journeys.example import EXAMPLE, HEAD, load, one_problem, problems
from wayline.journeys import DEFAULT_CHANNELS, Issue, Journey, Known, check_journey


def test_the_example_has_no_problems() -> None:
    assert check_journey(load(EXAMPLE)) == []


@pytest.mark.parametrize(
    ("nodes", "message"),
    [
        (
            "  - {id: a, type: send, channel: log, template: t, next: b}\n",
            "j.yaml:4:52: node 'a': next: no node 'b'",
        ),
        (
            "  - {id: a, type: wait_for_event, event: E, timeout: 1h, on_event: fni, "
            "on_timeout: fin}\n",
            "j.yaml:4:58: node 'a': on_event: no node 'fni' (did you mean 'fin'?)",
        ),
        (
            "  - {id: a, type: wait_for_event, event: E, timeout: 1h, on_event: fin, "
            "on_timeout: x}\n",
            "j.yaml:4:73: node 'a': on_timeout: no node 'x'",
        ),
        (
            "  - id: a\n    type: branch\n    branches:\n      - {when: {segment: s}, next: fin}\n"
            "      - {when: {segment: s}, next: nope}\n    default: fin\n",
            "j.yaml:8:30: node 'a': branches[1].next: no node 'nope'",
        ),
        (
            "  - {id: a, type: branch, branches: [{when: {segment: s}, next: fin}], "
            "default: dflt}\n",
            "j.yaml:4:72: node 'a': default: no node 'dflt'",
        ),
        (
            "  - {id: a, type: split, variants: {x: 50, y: 50}, next: {x: fin, y: why}}\n",
            "j.yaml:4:67: node 'a': next.y: no node 'why'",
        ),
        (
            "  - {id: a, type: goto, node: nowhere}\n",
            "j.yaml:4:25: node 'a': node: no node 'nowhere'",
        ),
    ],
)
def test_every_link_names_a_node(nodes: str, message: str) -> None:
    fin = "  - {id: fin, type: exit}\n" if "fin" in nodes else ""
    assert one_problem(HEAD + nodes + fin) == message


def test_duplicate_ids_name_the_first() -> None:
    found = problems(
        HEAD
        + "  - {id: a, type: delay, duration: 1h, next: fin}\n"
        + "  - {id: fin, type: exit}\n"
        + "  - {id: a, type: exit}\n"
    )
    assert found == [
        "j.yaml:6:6: node 'a': id: the node id 'a' is used twice (first on line 4)",
    ]


def test_unreachable_nodes() -> None:
    found = problems(
        HEAD
        + "  - {id: a, type: delay, duration: 1h, next: fin}\n"
        + "  - {id: lost, type: send, channel: log, template: t, next: also_lost}\n"
        + "  - {id: also_lost, type: exit}\n"
        + "  - {id: fin, type: exit}\n"
    )
    assert found == [
        "j.yaml:5:5: node 'lost': never reached: nothing leads here from the first node 'a'",
        "j.yaml:6:5: node 'also_lost': never reached: nothing leads here from the first node 'a'",
    ]


def test_a_loop_without_a_wait_is_reported_with_its_nodes() -> None:
    found = problems(
        HEAD
        + "  - {id: start, type: score, trait: s, add: 1, next: check}\n"
        + "  - id: check\n"
        + "    type: branch\n"
        + "    branches: [{when: {where: {traits.s: {gte: 10}}}, next: fin}]\n"
        + "    default: bump\n"
        + "  - {id: bump, type: score, trait: s, add: 1, next: start}\n"
        + "  - {id: fin, type: exit}\n"
    )
    assert found == [
        "j.yaml:4:5: node 'start': a loop with no wait in it: start → check → bump → start; a "
        "customer would go round it forever (add a delay, wait_until or wait_for_event to the "
        "loop)",
    ]


def test_a_goto_loop_without_a_wait_is_reported() -> None:
    found = problems(
        HEAD
        + "  - {id: a, type: send, channel: log, template: t, next: back}\n"
        + "  - {id: back, type: goto, node: a}\n"
    )
    assert found == [
        "j.yaml:4:5: node 'a': a loop with no wait in it: a → back → a; a customer would go "
        "round it forever (add a delay, wait_until or wait_for_event to the loop)",
    ]


@pytest.mark.parametrize(
    "wait",
    [
        "{id: w, type: delay, duration: 1d, next: a}",
        "{id: w, type: wait_until, from: '09:00', next: a}",
        "{id: w, type: wait_for_event, event: E, timeout: 1d, on_event: a, on_timeout: fin}",
    ],
)
def test_a_loop_with_a_wait_is_fine(wait: str) -> None:
    load(
        HEAD
        + "  - id: a\n"
        + "    type: branch\n"
        + "    branches: [{when: {where: {traits.done: true}}, next: fin}]\n"
        + "    default: w\n"
        + f"  - {wait}\n"
        + "  - {id: fin, type: exit}\n"
    )


def test_split_weights_and_variants() -> None:
    found = problems(
        HEAD
        + "  - id: s\n"
        + "    type: split\n"
        + "    variants: {a: 50, b: 30, control: 10}\n"
        + "    next: {a: fin, control: fin, c: fin}\n"
        + "  - {id: fin, type: exit}\n"
    )
    assert found == [
        "j.yaml:6:5: node 's': variants: the weights add up to 90, not 100",
        "j.yaml:7:5: node 's': next: variant 'b' has no next node",
        "j.yaml:7:34: node 's': next.c: 'c' is not a variant of this split (variants: a, b, "
        "control)",
    ]


MATCHING_WAIT = (
    "nodes:\n"
    "  - id: w\n"
    "    type: wait_for_event\n"
    "    event: Order Completed\n"
    "    match_key: properties.cart_id\n"
    "    timeout: 1h\n"
    "    on_event: fin\n"
    "    on_timeout: fin\n"
    "  - {id: fin, type: exit}\n"
)


def test_match_key_needs_an_entry_key() -> None:
    found = problems(
        "id: j\n"
        "entry: {event: Product Added}\n"
        "goal: {event: Order Completed, match_key: properties.cart_id}\n"
        "exit_when: [{event: Cart Emptied, match_key: properties.cart_id}]\n" + MATCHING_WAIT
    )
    reason = (
        "match_key compares with the key the customer entered with, and the entry has none: "
        "add key (the path of the value to match, like properties.cart_id) to the entry"
    )
    assert found == [
        f"j.yaml:3:32: goal.match_key: {reason}",
        f"j.yaml:4:35: exit_when[0].match_key: {reason}",
        f"j.yaml:9:5: node 'w': match_key: {reason}",
    ]


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        ("{segment: vip}", "a segment"),
        ("{cron: '0 9 * * *', audience: all}", "a schedule"),
        ("{api: true}", "an api"),
    ],
)
def test_match_key_with_an_entry_that_has_no_key(entry: str, kind: str) -> None:
    assert one_problem(f"id: j\nentry: {entry}\n" + MATCHING_WAIT) == (
        f"j.yaml:7:5: node 'w': match_key: match_key compares with the key the customer "
        f"entered with, and {kind} entry has none (only an event entry has a key); remove "
        "match_key to match any event of the customer"
    )


def branch_on(message: str, *, sent_first: bool = True) -> str:
    """mail → pause → b, or (not sent first) pause → b → mail."""
    branch = (
        "    type: branch\n"
        f"    branches: [{{when: {{any: [{{segment: s}}, {{message: {message}, clicked: true}}]}}, "
        "next: fin}]\n"
    )
    if sent_first:
        nodes = (
            "  - {id: mail, type: send, channel: email, template: t, next: pause}\n"
            "  - {id: pause, type: delay, duration: 1d, next: b}\n"
            "  - id: b\n" + branch + "    default: fin\n"
        )
    else:
        nodes = (
            "  - {id: pause, type: delay, duration: 1d, next: b}\n"
            "  - id: b\n" + branch + "    default: mail\n"
            "  - {id: mail, type: send, channel: email, template: t, next: fin}\n"
        )
    return HEAD + nodes + "  - {id: fin, type: exit}\n"


def test_a_message_condition_names_a_send_node_sent_before() -> None:
    load(branch_on("mail"))
    assert one_problem(branch_on("pause")) == (
        "j.yaml:8:45: node 'b': branches[0].when.any[1].message: 'pause' is a delay node; "
        "message must name a send node"
    )
    assert one_problem(branch_on("mial")) == (
        "j.yaml:8:45: node 'b': branches[0].when.any[1].message: no node 'mial' (did you mean "
        "'mail'?)"
    )


def test_a_message_condition_on_a_message_never_sent_before_the_branch() -> None:
    assert one_problem(branch_on("mail", sent_first=False)) == (
        "j.yaml:7:45: node 'b': branches[0].when.any[1].message: 'mail' is never sent before "
        "this branch, so the answer is always no"
    )


SENDS = (
    HEAD + "  - {id: a, type: send, channel: emial, template: welcome, next: b}\n"
    "  - {id: b, type: send, channel: push, template: nudge, next: fin}\n"
    "  - {id: fin, type: exit}\n"
)


def test_channels_are_checked_against_the_built_in_ones() -> None:
    assert sorted(DEFAULT_CHANNELS) == ["email", "inapp", "log", "sms", "webhook"]
    assert problems(SENDS) == [
        "j.yaml:4:25: node 'a': channel: unknown channel 'emial' (known: email, inapp, log, "
        "sms, webhook); did you mean 'email'?",
        "j.yaml:5:25: node 'b': channel: unknown channel 'push' (known: email, inapp, log, sms, "
        "webhook)",
    ]


def test_a_workspace_can_say_which_channels_and_templates_exist() -> None:
    known = Known(
        channels=frozenset({"emial", "push"}), templates=frozenset({"welcome", "nudge-2"})
    )
    assert problems(SENDS, known) == [
        "j.yaml:5:40: node 'b': template: no template 'nudge' in this workspace (did you mean "
        "'nudge-2'?)",
    ]
    # without a template set, template names are not checked
    load(SENDS, Known(channels=frozenset({"emial", "push"})))


def test_segments_and_journeys_are_checked_when_known() -> None:
    text = (
        "id: j\n"
        "entry: {segment: vips}\n"
        "exit_when: {segment: churned}\n"
        "nodes:\n"
        "  - id: b\n"
        "    type: branch\n"
        "    branches: [{when: {segment: vip}, next: g}]\n"
        "    default: g\n"
        "  - {id: g, type: goto, journey: onboardng}\n"
    )
    load(text)
    known = Known(segments=frozenset({"vip"}), journeys=frozenset({"onboarding"}))
    assert problems(text, known) == [
        "j.yaml:2:9: entry.segment: no segment 'vips' in this workspace (did you mean 'vip'?)",
        "j.yaml:3:13: exit_when.segment: no segment 'churned' in this workspace",
        "j.yaml:9:25: node 'g': journey: no journey 'onboardng' in this workspace (did you mean "
        "'onboarding'?)",
    ]
    schedule = (
        "id: j\nentry: {cron: '0 9 * * *', audience: newsletter}\nnodes: [{id: f, type: exit}]\n"
    )
    assert problems(schedule, known) == [
        "j.yaml:2:28: entry.audience: no segment 'newsletter' in this workspace",
    ]
    load(schedule.replace("newsletter", "all"), known)


def test_a_journey_cannot_goto_itself() -> None:
    assert one_problem(HEAD + "  - {id: g, type: goto, journey: j}\n") == (
        "j.yaml:4:25: node 'g': journey: this is the journey itself; to start over, use node: g"
    )


def test_the_graph_is_checked_even_when_other_parts_are_invalid() -> None:
    # The entry is invalid, but every node is fine: the graph checks still run.
    found = problems(
        "id: j\n"
        "entry: {evnt: x}\n"
        "nodes:\n"
        "  - {id: a, type: send, channel: log, template: t, next: fin}\n"
        "  - {id: lost, type: exit}\n"
        "  - {id: fin, type: exit}\n"
    )
    assert found == [
        "j.yaml:2:1: entry: not an entry: it needs one of the keys event, segment, at or cron "
        "(a schedule), api",
        "j.yaml:5:5: node 'lost': never reached: nothing leads here from the first node 'a'",
    ]


def test_links_from_valid_nodes_are_checked_beside_a_broken_node() -> None:
    found = problems(
        HEAD
        + "  - {id: a, type: delay, duration: soon, next: b}\n"
        + "  - {id: b, type: send, channel: log, template: t, next: c}\n"
        + "  - {id: fin, type: exit}\n"
    )
    # 'a' is broken, so whether 'fin' is reachable is not known and not reported
    assert found == [
        "j.yaml:4:26: node 'a': duration: not a duration: 'soon' (use 30s, 15m, 1h, 7d or ISO "
        "8601 like PT1H)",
        "j.yaml:5:52: node 'b': next: no node 'c'",
    ]


def test_check_journey_gives_located_issues_without_a_file() -> None:
    journey = Journey.model_validate(
        {
            "id": "j",
            "entry": {"api": True},
            "nodes": [{"id": "a", "type": "exit"}, {"id": "b", "type": "exit"}],
        }
    )
    assert check_journey(journey) == [
        Issue(("nodes", 1), "never reached: nothing leads here from the first node 'a'")
    ]


def test_each_wait_free_loop_is_reported() -> None:
    found = problems(
        HEAD
        + "  - {id: a, type: goto, node: b}\n"
        + "  - {id: b, type: goto, node: a}\n"
        + "  - {id: c, type: goto, node: c}\n"
    )
    assert found == [
        "j.yaml:4:5: node 'a': a loop with no wait in it: a → b → a; a customer would go round "
        "it forever (add a delay, wait_until or wait_for_event to the loop)",
        "j.yaml:6:5: node 'c': never reached: nothing leads here from the first node 'a'",
        "j.yaml:6:5: node 'c': a loop with no wait in it: c → c; a customer would go round it "
        "forever (add a delay, wait_until or wait_for_event to the loop)",
    ]


def test_a_long_journey_is_checked_without_recursion() -> None:
    # Longer than Python's recursion limit, so a recursive graph walk would fail.
    count = 1200
    steps = "".join(
        f"  - {{id: n{i}, type: score, trait: s, add: 1, next: n{i + 1}}}\n" for i in range(count)
    )
    journey = load(HEAD + steps + f"  - {{id: n{count}, type: exit}}\n")
    assert len(journey.nodes) == count + 1
    [problem] = problems(HEAD + steps + f"  - {{id: n{count}, type: goto, node: n0}}\n")
    assert problem.startswith("j.yaml:4:5: node 'n0': a loop with no wait in it: n0 → n1 → ")
    assert f"n{count} → n0; a customer would go round it forever" in problem
