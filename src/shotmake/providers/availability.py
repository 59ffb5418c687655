"""Whether a route can render now: its lifecycle and its credentials, without any adapter.

``plan`` and ``build -n`` ask this of every route a plan uses (to send nodes to their
fallbacks) and never render, so it lives apart from the registry that builds adapters.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
from collections.abc import Mapping

from .catalog import PROTOCOLS, ROUTES, Route


class Availability:
    """Routes as they will render here: the catalog in force, the Veo backends, the environment."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        backends: Mapping[str, str] | None = None,
        routes: Mapping[str, Route] = ROUTES,
        today: datetime.date | None = None,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        self.backends = dict(backends or {})
        self.routes = routes
        self.today = today or datetime.date.today()

    def backend(self, name: str) -> str:
        """``gemini`` or ``vertex`` for a Veo route (configuration, else ``SHOTMAKE_VEO_BACKEND``)."""
        return (self.backends.get(name) or self.env.get("SHOTMAKE_VEO_BACKEND") or "gemini").lower()

    def route(self, name: str) -> Route | None:
        """The route as it will render: a Gemini-API Veo route moved to Vertex speaks ``vertex-veo``."""
        route = self.routes.get(name)
        if route is not None and route.protocol == "gemini-veo" and self.backend(name) == "vertex":
            sibling = self.routes.get(f"{name}-vertex")
            lifecycle = {} if sibling is None else {
                k: getattr(sibling, k) for k in ("status", "deprecated_on", "retired_on", "successor", "source")}
            route = dataclasses.replace(route, protocol="vertex-veo", **lifecycle)
        return route

    def unavailable(self, name: str) -> str | None:
        """Why ``name`` cannot render now (retired, a missing key), or None.

        Checks the catalog and that credentials are present, without building the adapter.
        """
        route = self.route(name)
        if route is None:
            return f"unknown provider '{name}' (see `shotmake routes`)"
        if route.status_on(self.today) == "retired":
            return f"{name} was retired on {route.retired_on}"
        protocol = PROTOCOLS[route.protocol]
        keys = route.key_env or protocol.key_env
        if keys and not any(self.env.get(k, "").strip() for k in keys):
            return f"{' (or '.join(keys)}{')' * (len(keys) - 1)} is not set"
        missing = [v for v in protocol.also_env if not self.env.get(v, "").strip()]
        if missing:
            return f"{' and '.join(missing)} not set"
        return None
