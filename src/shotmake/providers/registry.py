"""Resolve route names to provider instances, built lazily from the environment.

Secrets come only from the environment (``OPENAI_API_KEY``, ``GEMINI_API_KEY``...). A
provider is constructed the first time a dirty node needs it, so a fully cached build
never imports httpx or touches credentials. Project configuration arrives as plain data:
price overrides (passed to each adapter's ``prices=``) and the Veo backend per route.
"""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import inspect
import os
import threading
from collections.abc import Mapping
from pathlib import Path

from ..costs import PriceOverrides, route_prices
from ..errors import ProviderError
from .base import Provider, ProviderRegistry
from .catalog import PROTOCOLS, ROUTES, Route


class EnvironmentRegistry(ProviderRegistry):
    """Providers configured from environment variables; ``local`` needs none.

    ``routes`` is the catalog in force (built-in plus the project's ``[routes]``); a route with
    its own ``base_url`` or ``key_env`` reaches its adapter as the protocol's usual variables,
    so every adapter reads one convention and a gateway route needs no code.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        local_latency: float | None = None,
        *,
        prices: PriceOverrides | None = None,
        backends: Mapping[str, str] | None = None,
        routes: Mapping[str, Route] = ROUTES,
        today: datetime.date | None = None,
        download_seconds: float | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        #: Overall deadline of one transfer (``[remote] download_minutes``); None: the default.
        self.download_seconds = download_seconds
        self.local_latency = local_latency
        self.prices = prices or {}
        self.backends = dict(backends or {})
        self.routes = routes
        self.today = today or datetime.date.today()
        #: Where adapters may keep small records between builds (the cache directory): e.g.
        #: DashScope's uploads, reusable for 48 h. Passed to adapters whose from_env takes it.
        self.state_dir = state_dir
        self._providers: dict[str, Provider] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self.routes)

    def get(self, name: str) -> Provider:
        with self._lock:
            if name not in self._providers:
                self._providers[name] = self._create(name)
            return self._providers[name]

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

    def adapter_env(self, route: Route) -> dict[str, str]:
        """The environment an adapter reads: the route's key and base URL under the protocol's names."""
        protocol = PROTOCOLS[route.protocol]
        env = dict(self.env)
        if route.key_env and protocol.key_env:
            value = next((self.env[k] for k in route.key_env if self.env.get(k, "").strip()), "")
            for k in protocol.key_env:  # the route's key and nothing else: no fallback to the vendor's
                env.pop(k, None)
            if value:
                env[protocol.key_env[0]] = value
        if route.base_url and protocol.base_url_env:
            env[protocol.base_url_env] = route.base_url
        return env

    def _create(self, name: str) -> Provider:
        route = self.route(name)
        if route is None:
            raise ProviderError(f"unknown provider '{name}' (see `shotmake routes`)", provider=name)
        if route.protocol == "local":
            from .local import LocalProvider

            latency = self.local_latency
            if latency is None:
                latency = float(self.env.get("SHOTMAKE_LOCAL_LATENCY", "0") or 0)
            return LocalProvider(latency=latency)
        module_name = PROTOCOLS[route.protocol].module
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # pragma: no cover - a packaging error, not a user error
            raise ProviderError(f"provider module {module_name} is unavailable: {exc}", provider=name) from exc
        from .http import BodyLimits  # httpx: only when a remote route is really needed

        # Each body capped at the route's max_download_mb, each transfer bounded in time.
        options: dict[str, object] = {"limits": BodyLimits.for_route(route.max_download_mb, self.download_seconds)}
        if name in self.prices:
            options["prices"] = route_prices(name, self.prices, self.routes)
        if self.state_dir is not None and "state_dir" in inspect.signature(module.from_env).parameters:
            options["state_dir"] = self.state_dir
        provider: Provider = module.from_env(route, self.adapter_env(route), **options)
        return provider

    def close(self) -> None:
        with self._lock:
            for provider in self._providers.values():
                provider.close()
            self._providers.clear()
