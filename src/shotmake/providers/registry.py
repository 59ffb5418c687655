"""Resolve route names to provider instances, built lazily from the environment.

Secrets come only from the environment (``OPENAI_API_KEY``, ``GEMINI_API_KEY``...). A
provider is constructed the first time a dirty node needs it, so a fully cached build
never imports httpx or touches credentials. Project configuration arrives as plain data:
price overrides (passed to each adapter's ``prices=``) and the Veo backend per route.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Mapping

from ..costs import PriceOverrides, route_prices
from ..errors import ProviderError
from .base import Provider, ProviderRegistry
from .catalog import ROUTES

#: Route vendor/kind -> module implementing ``from_env(route, env, **options)``.
ADAPTERS: Mapping[tuple[str, str], str] = {
    ("google", "video"): "shotmake.providers.gemini_veo",
    ("google", "image"): "shotmake.providers.gemini_image",
    ("openai", "video"): "shotmake.providers.openai_videos",
    ("openai", "image"): "shotmake.providers.openai_images",
}

class EnvironmentRegistry(ProviderRegistry):
    """Providers configured from environment variables; ``local`` needs none."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        local_latency: float | None = None,
        *,
        prices: PriceOverrides | None = None,
        backends: Mapping[str, str] | None = None,
        download_seconds: float | None = None,
    ) -> None:
        self.env = dict(os.environ if env is None else env)
        #: Overall deadline of one transfer (``[remote] download_minutes``); None: the default.
        self.download_seconds = download_seconds
        self.local_latency = local_latency
        self.prices = prices or {}
        self.backends = dict(backends or {})
        self._providers: dict[str, Provider] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(ROUTES)

    def get(self, name: str) -> Provider:
        with self._lock:
            if name not in self._providers:
                self._providers[name] = self._create(name)
            return self._providers[name]

    def backend(self, name: str) -> str:
        """``gemini`` or ``vertex`` for a Veo route (configuration, else ``SHOTMAKE_VEO_BACKEND``)."""
        return (self.backends.get(name) or self.env.get("SHOTMAKE_VEO_BACKEND") or "gemini").lower()

    def unavailable(self, name: str) -> str | None:
        """Why ``name`` cannot render with this environment (a missing key), or None.

        Checks only that credentials are present, without building the adapter or calling out.
        """
        route = ROUTES.get(name)
        if route is None:
            return f"unknown provider '{name}'"
        if route.vendor == "openai" and not self.env.get("OPENAI_API_KEY", "").strip():
            return "OPENAI_API_KEY is not set"
        if route.vendor == "google":
            if route.kind == "video" and self.backend(name) == "vertex":
                missing = [v for v in ("GOOGLE_CLOUD_PROJECT", "GOOGLE_OAUTH_ACCESS_TOKEN") if not self.env.get(v)]
                return f"{' and '.join(missing)} not set (Vertex AI backend)" if missing else None
            if not (self.env.get("GEMINI_API_KEY") or self.env.get("GOOGLE_API_KEY")):
                return "GEMINI_API_KEY (or GOOGLE_API_KEY) is not set"
        return None

    def _create(self, name: str) -> Provider:
        route = ROUTES.get(name)
        if route is None:
            raise ProviderError(f"unknown provider '{name}'", provider=name)
        if route.vendor == "local":
            from .local import LocalProvider

            latency = self.local_latency
            if latency is None:
                latency = float(self.env.get("SHOTMAKE_LOCAL_LATENCY", "0") or 0)
            return LocalProvider(latency=latency)
        module_name = ADAPTERS[(route.vendor, route.kind)]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # pragma: no cover - a packaging error, not a user error
            raise ProviderError(f"provider module {module_name} is unavailable: {exc}", provider=name) from exc
        from .http import BodyLimits  # httpx: only when a remote route is really needed

        # Each body capped at the route's max_download_mb, each transfer bounded in time.
        options: dict[str, object] = {"limits": BodyLimits.for_route(route.max_download_mb, self.download_seconds)}
        if name in self.prices:
            options["prices"] = route_prices(name, self.prices)
        if route.vendor == "google" and route.kind == "video" and name in self.backends:
            options["backend"] = self.backends[name]
        provider: Provider = module.from_env(name, self.env, **options)
        return provider

    def close(self) -> None:
        with self._lock:
            for provider in self._providers.values():
                provider.close()
            self._providers.clear()
