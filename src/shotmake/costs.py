"""Estimate what a node will cost, and keep a build within its ``--budget``.

Estimates are pure: the catalog's default prices, overridable per project (``[prices]`` in
``shotmake.toml``). Video routes are priced per second of output at the shot's resolution;
image routes per image; ffmpeg assembly and the local renderer are free. ``SpendLimit`` is
the one stateful piece: a thread-safe ledger of what a build spent and has in flight.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from .model import Node
from .providers.catalog import ROUTES, Route

#: ``{route: {resolution or "*": usd}}`` overrides, e.g. from ``shotmake.toml``'s ``[prices]``.
PriceOverrides = Mapping[str, Mapping[str, float]]


def unit_price(route_name: str, resolution: str, overrides: PriceOverrides | None = None,
               routes: Mapping[str, Route] = ROUTES) -> float:
    """USD per second (video) or per image at ``resolution`` for a route."""
    table = (overrides or {}).get(route_name)
    if table is not None and (resolution in table or "*" in table):
        return float(table.get(resolution, table.get("*", 0.0)))
    route = routes.get(route_name)
    return route.price_for(resolution) if route else 0.0


def estimate(node: Node, overrides: PriceOverrides | None = None, routes: Mapping[str, Route] = ROUTES) -> float:
    """Expected USD cost of rendering ``node`` once (0 for assembly and free routes)."""
    route = routes.get(node.provider)
    if route is None:
        return 0.0
    if node.kind == "clip":
        return unit_price(route.name, str(node.manifest.get("resolution", "")), overrides, routes) * float(
            node.manifest.get("duration", 0.0)
        )
    if node.kind in ("sheet", "plate"):  # generated images, priced per image
        return unit_price(route.name, str(node.manifest.get("size", "")), overrides, routes)
    return 0.0


def route_prices(route_name: str, overrides: PriceOverrides | None = None,
                 routes: Mapping[str, Route] = ROUTES) -> dict[str, float]:
    """The full price table of a route with the overrides applied, for an adapter's ``prices=``.

    Every resolution the route renders gets an explicit entry, so adapters that look up the
    resolution before ``"*"`` see the override either way.
    """
    route = routes.get(route_name)
    if route is None:
        return {}
    table = dict(route.price)
    for resolution in (*route.resolutions, *route.price):
        table[resolution] = unit_price(route_name, resolution, overrides, routes)
    extra = (overrides or {}).get(route_name, {})
    table.update({res: float(usd) for res, usd in extra.items()})
    return table


class SpendLimit:
    """The money side of ``build --budget``: spent + reserved must stay within ``limit_usd``.

    A paid render ``reserve``s its estimate before its create call and ``settle``s with the
    actual charge afterwards (0 when the provider does not bill it: a filtered or failed job),
    so concurrent workers cannot together overshoot the budget. ``limit_usd=None``: no limit.
    """

    def __init__(self, limit_usd: float | None = None) -> None:
        self.limit = limit_usd
        self.spent = 0.0
        self.reserved = 0.0
        self._lock = threading.Lock()

    def reserve(self, amount: float) -> bool:
        """Hold ``amount`` for a job about to be submitted; False if that would pass the limit."""
        with self._lock:
            if not self._fits(amount):
                return False
            self.reserved += amount
            return True

    def _fits(self, amount: float) -> bool:
        """Whether ``amount`` more stays within the limit (called under the lock; subclasses add caps)."""
        return self.limit is None or amount <= 0 or self.spent + self.reserved + amount <= self.limit + 1e-9

    def refusal(self, amount: float, what: str) -> str:
        """Why a reservation of ``amount`` for a ``what`` (clip, sheet) was refused, for the node's error."""
        return (f"not submitted: ${self.spent:.2f} spent + ${self.reserved:.2f} in flight + ${amount:.2f} for this "
                f"{what} would pass --budget ${self.limit or 0.0:.2f}; finished renders are kept, raise --budget "
                "to continue")

    def settle(self, reserved: float, actual: float) -> None:
        """Release a reservation and book what was actually charged."""
        with self._lock:
            self.reserved = max(0.0, self.reserved - reserved)
            self.spent += actual

    def charge(self, amount: float) -> None:
        """Book spend that needed no reservation (a job an earlier run submitted, resumed now)."""
        with self._lock:
            self.spent += amount


def summarise_spend(entries: Iterable[Mapping[str, Any]], *, by: str = "provider",
                    episode: str | None = None) -> dict[str, Any]:
    """Group the spend recorded in cache index entries (``meta.cost_usd``) by provider, day or episode.

    Only provider renders count (clips, sheets, plates). ``day`` is the local date the render
    was stored; renders from before metadata named their episode group under ``?``.
    """
    groups: dict[str, list[float]] = {}
    for entry in entries:
        meta = entry.get("meta") or {}
        if meta.get("kind") not in ("clip", "sheet", "plate"):
            continue
        if episode is not None and meta.get("episode") != episode:
            continue
        if by == "day":
            stored = entry.get("stored")
            name = datetime.date.fromtimestamp(float(stored)).isoformat() if stored else "?"
        else:
            name = str(meta.get(by) or "?")
        group = groups.setdefault(name, [0.0, 0])
        group[0] += float(meta.get("cost_usd") or 0.0)
        group[1] += 1
    order = sorted(groups) if by == "day" else sorted(groups, key=lambda g: (-groups[g][0], g))
    rows = [{"name": g, "cost_usd": round(groups[g][0], 4), "renders": int(groups[g][1])} for g in order]
    return {"by": by, "episode": episode, "cost_usd": round(sum(groups[g][0] for g in order), 4),
            "renders": int(sum(groups[g][1] for g in order)), "groups": rows}
