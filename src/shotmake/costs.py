"""Estimate what a node will cost: the catalog's default prices, overridable per project.

Pure. Video routes are priced per second of output at the shot's resolution; image routes
per image; ffmpeg assembly and the local renderer are free.
"""

from __future__ import annotations

from typing import Mapping

from .model import Node
from .providers.catalog import ROUTES

#: ``{route: {resolution or "*": usd}}`` overrides, e.g. from ``shotmake.toml``'s ``[prices]``.
PriceOverrides = Mapping[str, Mapping[str, float]]


def unit_price(route_name: str, resolution: str, overrides: PriceOverrides | None = None) -> float:
    """USD per second (video) or per image at ``resolution`` for a route."""
    table = (overrides or {}).get(route_name)
    if table is not None and (resolution in table or "*" in table):
        return float(table.get(resolution, table.get("*", 0.0)))
    route = ROUTES.get(route_name)
    return route.price_for(resolution) if route else 0.0


def estimate(node: Node, overrides: PriceOverrides | None = None) -> float:
    """Expected USD cost of rendering ``node`` once (0 for assembly and free routes)."""
    route = ROUTES.get(node.provider)
    if route is None:
        return 0.0
    if node.kind == "clip":
        return unit_price(route.name, str(node.manifest.get("resolution", "")), overrides) * float(
            node.manifest.get("duration", 0.0)
        )
    if node.kind == "sheet":
        return unit_price(route.name, str(node.manifest.get("size", "")), overrides)
    return 0.0
