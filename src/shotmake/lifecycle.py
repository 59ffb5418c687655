"""Lifecycle (SM120): refuse, before a cent is spent, nodes that would render on a retired route.

Unlike ``lint`` (the spec alone), this needs the plan and the cache: a shot on a retired route
is an error only while its node still has to be rendered; every render already in the cache
keeps building, for ever. Pure: the plan, the dirty node ids, the catalog and the date in,
``lint.Finding``s out (rule SM120 is documented with the others in ``lint.RULES``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping

from .lint import Finding, count_of, position
from .model import Node
from .plan import Plan
from .providers.catalog import Route


def lifecycle_route(node: Node, routes: Mapping[str, Route]) -> Route | None:
    """The route whose lifecycle governs ``node``: its own, or the one that sends its pinned model."""
    route = routes.get(node.provider)
    if route is None:
        return None
    model = str(node.manifest.get("model", ""))
    if model and model != route.model:
        exact = [r for r in routes.values() if r.protocol == route.protocol and r.model == model]
        if exact:
            return exact[0]
    return route


def lifecycle(plan: Plan, dirty: Iterable[str], routes: Mapping[str, Route], today: datetime.date) -> list[Finding]:
    """SM120: nodes in ``dirty`` that would render on a retired route, one finding per route.

    Each finding names the date, the successor and how many of the episode's nodes on that route
    are cached (those are served, never rendered again). Nothing else reads the clock.
    """
    dirty = set(dirty)
    on_route: dict[str, list[Node]] = {}
    # A node's lifecycle route has its route's protocol: where no route of that protocol is
    # retired, nothing is to be found (and the node's manifest need not be read).
    retired = {r.protocol for r in routes.values() if r.status_on(today) == "retired"}
    for nid in plan.order:
        node = plan.node(nid)
        if node.kind not in ("clip", "sheet", "plate"):
            continue
        own = routes.get(node.provider)
        if own is None or own.protocol not in retired:
            continue
        route = lifecycle_route(node, routes)
        if route is not None and route.status_on(today) == "retired":
            on_route.setdefault(route.name, []).append(node)
    silenced = set(plan.episode.lint.get("ignore", ()))
    findings = []
    for name, nodes in on_route.items():
        route = routes[name]
        todo = [n for n in nodes if n.id in dirty
                and not (n.kind == "clip" and "SM120" in plan.episode.shots[n.labels["shot"]].ignore)]
        if not todo or "SM120" in silenced:
            continue
        cached = len(nodes) - sum(1 for n in nodes if n.id in dirty)
        shown = ", ".join(n.id for n in todo[:5]) + (f" and {len(todo) - 5} more" if len(todo) > 5 else "")
        succeed = f"; its successor is {route.successor}" if route.successor else "; it has no successor"
        message = (f"{route.name} ({route.model}) was retired on {route.retired_on}{succeed}: "
                   f"{count_of(len(todo), 'node')} would render on it ({shown}); "
                   f"{cached} of the episode's {len(nodes)} nodes on it are cached and stay in use")
        hint = (f"route them to {route.successor}" if route.successor else "route them to a live route") + \
            f", or add `fallback` under [routes.\"{route.name}\"] in shotmake.toml"
        findings.append(Finding("SM120", "error", message, todo[0].location, todo[0].id, hint))
    return sorted(findings, key=position)
