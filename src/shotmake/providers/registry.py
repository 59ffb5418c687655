"""Resolve route names to provider instances, built lazily from the environment.

Secrets come only from the environment (``OPENAI_API_KEY``, ``GEMINI_API_KEY``...). A
provider is constructed the first time a dirty node needs it, so a fully cached build
never imports httpx or touches credentials. Project configuration arrives as plain data:
price overrides (passed to each adapter's ``prices=``) and the Veo backend per route.
"""

from __future__ import annotations

import datetime
import importlib
import inspect
import threading
from collections.abc import Mapping
from pathlib import Path

from ..costs import PriceOverrides, route_prices
from ..errors import ProviderError
from .availability import Availability
from .base import Provider, ProviderRegistry
from .catalog import PROTOCOLS, ROUTES, Route


class EnvironmentRegistry(Availability, ProviderRegistry):
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
        super().__init__(env, backends=backends, routes=routes, today=today)
        #: Overall deadline of one transfer (``[remote] download_minutes``); None: the default.
        self.download_seconds = download_seconds
        self.local_latency = local_latency
        self.prices = prices or {}
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
