"""The graph of a journey's nodes: what is reachable, and where customers could loop.

Written without recursion, so a journey of thousands of nodes cannot exhaust the stack.
"""

from __future__ import annotations

from collections.abc import Mapping


def reachable(edges: Mapping[str, list[str]], start: str) -> set[str]:
    """``start`` and every node reachable from it."""
    seen = {start}
    stack = [start]
    while stack:
        for target in edges.get(stack.pop(), ()):
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def _groups(edges: Mapping[str, list[str]]) -> list[set[str]]:
    """The strongly connected groups of a graph (Kosaraju, without recursion)."""
    finished: list[str] = []
    visited: set[str] = set()
    for root in edges:
        if root in visited:
            continue
        visited.add(root)
        path = [(root, iter(edges[root]))]
        while path:
            current, targets = path[-1]
            for target in targets:
                if target in edges and target not in visited:
                    visited.add(target)
                    path.append((target, iter(edges[target])))
                    break
            else:
                finished.append(current)
                path.pop()
    reverse: dict[str, list[str]] = {n: [] for n in edges}
    for source, sources_targets in edges.items():
        for target in sources_targets:
            if target in reverse:
                reverse[target].append(source)
    groups: list[set[str]] = []
    assigned: set[str] = set()
    for root in reversed(finished):
        if root in assigned:
            continue
        group = {root}
        stack = [root]
        while stack:
            for source in reverse[stack.pop()]:
                if source not in assigned and source not in group:
                    group.add(source)
                    stack.append(source)
        assigned |= group
        groups.append(group)
    return groups


def loops(edges: Mapping[str, list[str]], order: list[str]) -> list[list[str]]:
    """One loop for each strongly connected group of ``edges`` that has one, starting at
    its node that comes first in the file."""
    position = {node_id: i for i, node_id in reversed(list(enumerate(order)))}
    loops = []
    for group in _groups(edges):
        start = min(group, key=lambda n: position.get(n, len(order)))
        loop = _path_back(edges, start, group)
        if loop:
            loops.append(loop)
    return sorted(loops, key=lambda loop: position.get(loop[0], len(order)))


def _path_back(edges: Mapping[str, list[str]], start: str, group: set[str]) -> list[str] | None:
    """The shortest way from ``start`` back to itself inside ``group``, or ``None``."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for current in frontier:
            for target in edges.get(current, ()):
                if target not in group:
                    continue
                if target == start:
                    path = [current]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return list(reversed(path))
                if target not in came_from:
                    came_from[target] = current
                    following.append(target)
        frontier = following
    return None
