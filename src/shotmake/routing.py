"""Fallback routes: which route renders a node when its own provider is unavailable.

A shot names a route (``provider: veo-3.1``); ``shotmake.toml`` may give that route a
``fallback`` list. A route is *unavailable* when its key is missing from the environment
(known before the build: ``route_plan`` substitutes while planning, so ``plan`` and
``--budget`` price what will really run), or when it turns out so during the build (circuit
open, the Sora API answering that it has shut down: the executor substitutes then).

**Keys stay honest.** A fallback render is stored under the key the fallback route would
have: ``reroute`` swaps provider and model in the manifest and hashes it again, and
``rekey`` carries the new key into every downstream manifest (conform, sequence, master), so
no key ever names content it does not hold. This keeps "never pay twice" in both directions:

* while the primary stays unavailable, the next build lands on the same fallback key, which
  is cached: nothing is rendered or paid again;
* once the primary is back, its own key is simply not cached yet, so the shot is rendered as
  the spec asks (once), instead of the stand-in being served forever under the primary's key.

The alternative, storing the stand-in under the primary's key, would make the cache lie and a
``local`` test card could silently replace a $3.20 Veo clip in every later build. The lock file
records the route that rendered each node (``provider`` in the artifact metadata).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .hashing import node_key
from .model import Node
from .plan import Plan
from .providers.catalog import ROUTES, Route

#: Node kinds a provider renders (the rest are ffmpeg steps).
RENDERED = ("clip", "sheet", "plate")


@dataclass(frozen=True)
class Reroute:
    """A node sent to a fallback route, and why."""

    node: str
    origin: str
    route: str
    reason: str

    def describe(self) -> str:
        return f"{self.origin} unavailable ({self.reason}); rendering with {self.route}"


def reroute(node: Node, route: str, routes: Mapping[str, Route] = ROUTES) -> Node:
    """``node`` as ``route`` would render it: provider and model swapped, a new key."""
    manifest = {**node.manifest, "provider": route, "model": routes[route].model}
    labels = {**node.labels, "routed_from": node.labels.get("routed_from", node.provider)}
    return replace(node, provider=route, manifest=manifest, key=node_key(manifest), labels=labels)


def rekey(node: Node, keys: Mapping[str, str]) -> Node:
    """``node`` with every input key in ``keys`` (old -> new) replaced, and its key recomputed."""
    if not keys:
        return node
    manifest = _swap(node.manifest, keys)
    key = node_key(manifest)
    return node if key == node.key else replace(node, manifest=manifest, key=key)


def _swap(value: Any, keys: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return keys.get(value, value)
    if isinstance(value, (list, tuple)):
        return [_swap(v, keys) for v in value]
    if isinstance(value, Mapping):
        return {k: _swap(v, keys) for k, v in value.items()}
    return value


def fallbacks_for(node: Node, fallbacks: Mapping[str, Sequence[str]],
                  routes: Mapping[str, Route] = ROUTES) -> list[str]:
    """The routes to try for ``node`` after its own, of the same kind (video or image)."""
    own = routes.get(node.provider)
    if own is None:
        return []
    return [r for r in fallbacks.get(node.provider, ()) if r in routes and routes[r].kind == own.kind]


def route_plan(
    plan: Plan,
    unavailable: Callable[[str], str | None],
    fallbacks: Mapping[str, Sequence[str]],
    routes: Mapping[str, Route] = ROUTES,
    keep: Callable[[str], bool] = lambda key: False,
) -> tuple[Plan, list[Reroute]]:
    """Send nodes whose route is unavailable to their first available fallback.

    ``unavailable(route)`` returns why a route cannot render (e.g. "GEMINI_API_KEY is not
    set", "sora-2 was retired on 2026-09-24") or None. A node whose own render is cached, or
    whose job was created (``keep(key)``: the journal knows it), keeps its route: an unavailable
    route needs no call to serve what it made, a created job is resumed there once the route is
    back, and a paid render is never swapped for a stand-in. Nodes without an available fallback keep their
    route (the build then fails them with the reason). Returns the routed plan and the moves.
    """
    if not fallbacks:
        return plan, []
    keys: dict[str, str] = {}
    nodes: dict[str, Node] = {}
    moves: list[Reroute] = []
    reasons: dict[str, str | None] = {}

    def why(route: str) -> str | None:
        if route not in reasons:
            reasons[route] = unavailable(route)
        return reasons[route]

    for nid in plan.order:
        original = plan.node(nid)
        node = rekey(original, keys)
        if node.kind in RENDERED and node.provider in fallbacks and not keep(node.key):
            reason = why(node.provider)
            if reason is not None:
                target = next((r for r in fallbacks_for(node, fallbacks, routes) if why(r) is None), None)
                if target is not None:
                    moves.append(Reroute(nid, node.provider, target, reason))
                    node = reroute(node, target, routes)
        if node.key != original.key:
            keys[original.key] = node.key
            nodes[nid] = node
    return with_nodes(plan, nodes), moves


def with_nodes(plan: Plan, nodes: Mapping[str, Node]) -> Plan:
    """A copy of ``plan`` with some nodes replaced (same ids, same edges)."""
    if not nodes:
        return plan
    graph = plan.graph.copy()
    for nid, node in nodes.items():
        graph.nodes[nid]["node"] = node
    return Plan(episode=plan.episode, graph=graph, order=plan.order)
