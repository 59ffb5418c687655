"""Project configuration: ``shotmake.toml`` at the project root, every key optional.

Pure: ``parse_config(text, file)`` returns a frozen ``Config`` or raises ``SpecError`` (exit 2)
naming ``file:line:col``, the key and a fix. Example::

    [prices]                       # USD per second (video) or per image; "*" = any resolution
    "veo-3.1" = { "720p" = 0.35, "1080p" = 0.35 }

    [limits."veo-3.1"]             # quotas: jobs in flight, create calls per minute
    concurrency = 4
    requests_per_minute = 10

    [retry]                        # attempts per call, retries per build, backoff seconds
    max_attempts = 6
    budget = 50
    base = 2.0
    cap = 120.0

    [circuit]                      # consecutive failures that open a provider, cool-down seconds
    failures = 5
    cooldown = 300

    [remote]
    poll_interval = 10             # seconds, when the server gives no hint
    deadline_minutes = 60
    stall_minutes = 20
    download_minutes = 15          # one download or API answer, headers to last byte

    [cache]
    keep_days = 30                 # `gc` keeps renders used this recently (and every locked one)
    remote = "s3://team-renders/shotmake"   # a shared remote cache (gs://, az://, file:///mnt/...)
    remote_connect_timeout = 5     # seconds per connection attempt to the remote cache
    remote_read_timeout = 30       # seconds without a byte before a remote request is given up
    remote_retries = 2             # retries of a failed remote request, then the build goes on locally
    remote_transfer_timeout = 900  # seconds for the whole of one remote request (a dripping server is cut)

    [routes."gemini-omni"]
    fallback = ["wan-2.7", "local"]
    [routes."veo-3.1"]
    backend = "vertex"             # Veo on Vertex AI instead of the Gemini API

    [routes."omni-gateway"]        # a route of your own: a known protocol at another host
    like = "gemini-omni"           # start from a built-in route's facts (or give protocol, vendor, kind)
    model = "gemini-omni-1.2-flash"
    base_url = "https://gateway.example"
    key_env = ["GATEWAY_API_KEY"]
    price = { "*" = 0.12 }

Route keys are those of the built-in catalog (``providers/routes.toml``); setting ``status`` on
a built-in route restates its whole lifecycle (``deprecated_on``, ``retired_on`` and
``successor`` are cleared unless given), e.g. ``status = "live"`` for a gateway that still serves
a model its vendor retired.

Secrets never go here: keys come only from the environment.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from .errors import SourceLocation, SpecError
from .providers.catalog import (
    PROTOCOLS,
    ROUTE_KEYS,
    ROUTES,
    SETTINGS_KEYS,
    CatalogError,
    Route,
    check_successors,
    route_from_table,
)

FILENAME = "shotmake.toml"
BACKENDS = ("gemini", "vertex")


@dataclass(frozen=True)
class Limits:
    """Quota of one route: jobs in flight and create calls per minute (None: unlimited)."""

    concurrency: int | None = None
    requests_per_minute: float | None = None


@dataclass(frozen=True)
class RetrySettings:
    """Attempts per provider call, retries per build (shared by every node), backoff seconds."""

    max_attempts: int = 6
    budget: int = 50
    base: float = 2.0
    cap: float = 120.0


@dataclass(frozen=True)
class CircuitSettings:
    """After ``failures`` consecutive transient failures a provider rests ``cooldown`` seconds."""

    failures: int = 5
    cooldown: float = 300.0


@dataclass(frozen=True)
class RemoteSettings:
    """How remote jobs are followed."""

    poll_interval: float = 10.0
    deadline_minutes: float = 60.0
    stall_minutes: float = 20.0
    #: Overall deadline of one transfer (a download, an API answer): a dripping server is cut.
    download_minutes: float = 15.0


@dataclass(frozen=True)
class CacheSettings:
    """What ``gc`` keeps besides the renders a lock file names: those used in the last ``keep_days``;
    the shared remote cache (a URL, credentials from the environment) and its timeouts (``remote.py``)."""

    keep_days: float = 30.0
    remote: str | None = None
    remote_connect_timeout: float = 5.0
    remote_read_timeout: float = 30.0
    remote_retries: int = 2
    remote_transfer_timeout: float = 900.0


@dataclass(frozen=True)
class BudgetSettings:
    """Spend caps for unattended runs: ``daily`` USD per UTC day over every build on this cache (None: no cap)."""

    daily: float | None = None


@dataclass(frozen=True)
class RouteSettings:
    """Per-route choices: routes to try when this one is unavailable, and the Veo backend."""

    fallback: tuple[str, ...] = ()
    backend: str | None = None


@dataclass(frozen=True)
class Config:
    """A project's ``shotmake.toml``; ``Config()`` is the default when there is none."""

    path: str | None = None
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: MappingProxyType({}))
    limits: Mapping[str, Limits] = field(default_factory=lambda: MappingProxyType({}))
    retry: RetrySettings = RetrySettings()
    circuit: CircuitSettings = CircuitSettings()
    remote: RemoteSettings = RemoteSettings()
    cache: CacheSettings = CacheSettings()
    budget: BudgetSettings = BudgetSettings()
    routes: Mapping[str, RouteSettings] = field(default_factory=lambda: MappingProxyType({}))
    #: The route catalog in force: the built-in routes plus those this file adds or changes.
    catalog: Mapping[str, Route] = field(default_factory=lambda: ROUTES)

    def fallbacks(self) -> dict[str, tuple[str, ...]]:
        """Route -> the routes to try, in order, when it is unavailable."""
        return {name: r.fallback for name, r in self.routes.items() if r.fallback}

    def concurrency(self) -> dict[str, int]:
        return {name: lim.concurrency for name, lim in self.limits.items() if lim.concurrency is not None}

    def requests_per_minute(self) -> dict[str, float]:
        return {name: lim.requests_per_minute for name, lim in self.limits.items()
                if lim.requests_per_minute is not None}

    def backends(self) -> dict[str, str]:
        return {name: r.backend for name, r in self.routes.items() if r.backend}


def config_path(root: str | Path) -> Path:
    return Path(root) / FILENAME


def load_config(root: str | Path) -> Config:
    """Read ``shotmake.toml`` under the project ``root`` (from ``Episode.root``); none: defaults."""
    path = config_path(root)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Config()
    except OSError as exc:
        raise SpecError(f"cannot read configuration: {exc.strerror}", location=SourceLocation(str(path), 1, 1)) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise SpecError("file is not valid UTF-8", location=SourceLocation(str(path), line, 1)) from exc
    return _parsed(text, str(path))


@functools.lru_cache(maxsize=8)
def _parsed(text: str, file: str) -> Config:
    # One command asks for the project's config several times (the spec's routes, lint, the plan):
    # the file is read each time, and parsed once per content (a Config is frozen, safe to share).
    return parse_config(text, file)


# -- parsing ---------------------------------------------------------------------------------

_SCHEMA: Mapping[str, tuple[str, ...]] = {
    "retry": ("max_attempts", "budget", "base", "cap"),
    "circuit": ("failures", "cooldown"),
    "remote": ("poll_interval", "deadline_minutes", "stall_minutes", "download_minutes"),
    "limits.*": ("concurrency", "requests_per_minute"),
    "routes.*": (*SETTINGS_KEYS, *ROUTE_KEYS),
    "cache": ("keep_days", "remote", "remote_connect_timeout", "remote_read_timeout", "remote_retries",
              "remote_transfer_timeout"),
    "budget": ("daily",),
}
_TOP = ("prices", "limits", "retry", "circuit", "remote", "routes", "cache", "budget")


def parse_config(text: str, file: str = FILENAME) -> Config:
    """Parse and validate the text of a ``shotmake.toml``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, column = _decode_position(str(exc), text)
        message = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        raise SpecError(f"not valid TOML: {message}", location=SourceLocation(file, line, column),
                        hint="see the Configuration section of the README") from exc
    return _Parser(text, file).parse(data)


def _decode_position(message: str, text: str) -> tuple[int, int]:
    found = re.search(r"at line (\d+), column (\d+)", message)
    if found:
        return int(found.group(1)), int(found.group(2))
    lines = text.splitlines() or [""]
    return len(lines), len(lines[-1]) + 1


class _Parser:
    def __init__(self, text: str, file: str) -> None:
        self.lines = text.splitlines()
        self.file = file

    # -- errors with positions ---------------------------------------------------------------
    def fail(self, path: tuple[str, ...], message: str, hint: str = "") -> SpecError:
        line, column = _locate(self.lines, path)
        return SpecError(message, location=SourceLocation(self.file, line, column), field=_dotted(path), hint=hint)

    def table(self, value: Any, path: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a table, not {_kind(value)}")
        return value

    def keys(self, table: Mapping[str, Any], path: tuple[str, ...], allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                from .spec import did_you_mean  # YAML and all: only to word an error

                hint = did_you_mean(key, allowed)
                raise self.fail((*path, key), f"unknown key '{key}'",
                                hint or f"known keys: {', '.join(allowed)}")

    def route(self, name: str, path: tuple[str, ...], value: Any = None) -> str:
        known = self.catalog
        if name not in known:
            from .spec import did_you_mean

            if isinstance(value, dict) and any(f"{name}.{part}" in known for part in value):
                dotted = next(f"{name}.{part}" for part in value if f"{name}.{part}" in known)
                raise self.fail(path, f"unknown route '{name}'",
                                f'a route name with a dot needs quotes: "{dotted}"')
            raise self.fail(path, f"unknown route '{name}'", did_you_mean(name, known) or
                            "`shotmake routes` lists them; a new route needs `like` or `protocol`")
        return name

    def define_routes(self, table: Mapping[str, Any]) -> dict[str, Route]:
        """The catalog with this file's route definitions: new routes and changed built-in ones."""
        catalog = dict(ROUTES)
        lifecycle = ("deprecated_on", "retired_on", "successor")
        for name, value in table.items():
            path = ("routes", name)
            if not isinstance(value, dict) or not any(k in ROUTE_KEYS or k == "like" for k in value):
                continue  # settings only (fallback, backend): checked below
            like = value.get("like")
            base = catalog.get(name)
            if like is not None:
                if not isinstance(like, str) or like not in catalog:
                    from .spec import did_you_mean

                    raise self.fail((*path, "like"), f"unknown route {like!r}",
                                    did_you_mean(str(like), catalog) or "`shotmake routes` lists them")
                base = catalog[like]
            if base is not None and "status" in value:  # a new status restates the lifecycle
                cleared: dict[str, Any] = {k: None for k in lifecycle if k not in value}
                base = dataclasses.replace(base, **cleared)
            try:
                catalog[name] = route_from_table(name, value, base=base, protocols=PROTOCOLS, origin=self.file)
            except CatalogError as exc:
                raise self.fail((*path, *exc.path), f"{name}: {exc.message}", exc.hint) from exc
        try:
            check_successors(catalog)
        except CatalogError as exc:
            raise self.fail(("routes", *exc.path), exc.message, "name a route of the same kind") from exc
        return catalog

    def number(self, value: Any, path: tuple[str, ...], *, minimum: float = 0.0, strict: bool = False,
               integer: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)):
            raise self.fail(path, f"must be {'an integer' if integer else 'a number'}, not {_kind(value)}")
        if value < minimum or (strict and value == minimum):
            raise self.fail(path, f"must be {'>' if strict else '>='} {minimum:g}, not {value}")
        return float(value)

    # -- sections ------------------------------------------------------------------------------
    def parse(self, data: dict[str, Any]) -> Config:
        self.keys(data, (), _TOP)
        self.catalog: Mapping[str, Route] = ROUTES
        self.catalog = MappingProxyType(self.define_routes(self.table(data.get("routes", {}), ("routes",))))
        prices = self.prices(self.table(data.get("prices", {}), ("prices",)))
        limits = {}
        for name, value in self.table(data.get("limits", {}), ("limits",)).items():
            path = ("limits", name)
            self.route(name, path, value)
            table = self.table(value, path)
            self.keys(table, path, _SCHEMA["limits.*"])
            conc = table.get("concurrency")
            rpm = table.get("requests_per_minute")
            limits[name] = Limits(
                concurrency=None if conc is None else int(self.number(conc, (*path, "concurrency"), minimum=1,
                                                                      integer=True)),
                requests_per_minute=None if rpm is None else self.number(rpm, (*path, "requests_per_minute"),
                                                                         strict=True))
        retry = self.section(data, "retry", RetrySettings, integers=("max_attempts", "budget"),
                             minimums={"max_attempts": 1})
        circuit = self.section(data, "circuit", CircuitSettings, integers=("failures",), minimums={"failures": 1})
        remote = self.section(data, "remote", RemoteSettings, integers=(), minimums={}, strict=True)
        cache = self.cache(data)
        budget = self.section(data, "budget", BudgetSettings, integers=(), minimums={"daily": 0.0})
        routes = {}
        for name, value in self.table(data.get("routes", {}), ("routes",)).items():
            path = ("routes", name)
            self.route(name, path, value)
            table = self.table(value, path)
            self.keys(table, path, _SCHEMA["routes.*"])
            routes[name] = RouteSettings(fallback=self.fallback(name, table.get("fallback", []), (*path, "fallback")),
                                         backend=self.backend(name, table.get("backend"), (*path, "backend")))
        return Config(
            path=self.file, prices=MappingProxyType(prices), limits=MappingProxyType(limits), retry=retry,
            circuit=circuit, remote=remote, cache=cache, budget=budget, routes=MappingProxyType(routes), catalog=self.catalog,
        )

    def prices(self, table: dict[str, Any]) -> dict[str, Mapping[str, float]]:
        out: dict[str, Mapping[str, float]] = {}
        for name, value in table.items():
            path = ("prices", name)
            route = self.catalog[self.route(name, path, value)]
            if not isinstance(value, dict):  # a bare number: one price at every resolution
                out[name] = MappingProxyType({"*": self.number(value, path)})
                continue
            known = (*route.resolutions, *route.price, "*")
            for resolution in value:
                if resolution not in known:
                    raise self.fail((*path, resolution), f"{name} has no resolution '{resolution}'",
                                    f"use one of {', '.join(dict.fromkeys(known))}")
            out[name] = MappingProxyType({res: self.number(usd, (*path, res)) for res, usd in value.items()})
        return out

    def section(self, data: Mapping[str, Any], name: str, kind: Any, *, integers: tuple[str, ...],
                minimums: Mapping[str, float], strict: bool = False) -> Any:
        table = self.table(data.get(name, {}), (name,))
        self.keys(table, (name,), _SCHEMA[name])
        values: dict[str, Any] = {}
        for key, value in table.items():
            integer = key in integers
            number = self.number(value, (name, key), minimum=minimums.get(key, 0.0),
                                 strict=strict or (not integer and key not in minimums), integer=integer)
            values[key] = int(number) if integer else number
        return kind(**values)

    def cache(self, data: Mapping[str, Any]) -> CacheSettings:
        """``[cache]``: numbers, and ``remote``, a URL checked here (it is opened only by a build)."""
        table = self.table(data.get("cache", {}), ("cache",))
        self.keys(table, ("cache",), _SCHEMA["cache"])
        numbers = {"cache": {key: value for key, value in table.items() if key != "remote"}}
        settings: CacheSettings = self.section(numbers, "cache", CacheSettings, integers=("remote_retries",),
                                               minimums={"keep_days": 0.0, "remote_retries": 0.0})
        remote = table.get("remote")
        if remote is None:
            return settings
        if not isinstance(remote, str):
            raise self.fail(("cache", "remote"), f"must be a URL string, not {_kind(remote)}",
                            'e.g. remote = "s3://team-renders/shotmake"')
        from .remote import check_url  # pure; obstore is imported only when the remote is opened

        problem = check_url(remote)
        if problem is not None:
            raise self.fail(("cache", "remote"), problem, "see docs/cache.md, \"A shared remote cache\"")
        return dataclasses.replace(settings, remote=remote)

    def fallback(self, name: str, value: Any, path: tuple[str, ...]) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.fail(path, f"must be a list of route names, not {_kind(value)}",
                            'e.g. fallback = ["veo-3.1-fast", "local"]')
        kind = self.catalog[name].kind
        for other in value:
            self.route(other, path)
            if other == name:
                raise self.fail(path, f"{name} cannot be its own fallback")
            if self.catalog[other].kind != kind:
                raise self.fail(path, f"{other} renders {self.catalog[other].kind}s but {name} renders {kind}s",
                                f"pick {kind} routes")
        return tuple(dict.fromkeys(value))

    def backend(self, name: str, value: Any, path: tuple[str, ...]) -> str | None:
        if value is None:
            return None
        route = self.catalog[name]
        if route.protocol != "gemini-veo":
            raise self.fail(path, f"{name} has one backend; `backend` applies to the Gemini-API Veo routes")
        if value not in BACKENDS:
            raise self.fail(path, f"unknown backend {value!r}", f"use one of {', '.join(BACKENDS)}")
        return str(value)


def _kind(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(p if re.fullmatch(r"[A-Za-z0-9_-]+", p) else f'"{p}"' for p in path)


def _split_key(text: str) -> tuple[str, ...]:
    """``limits."veo-3.1".x`` -> ("limits", "veo-3.1", "x"): dots inside quotes do not split."""
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"|\'([^\']*)\'|([^.\s]+)', text)
    return tuple(a or b or c for a, b, c in parts)


def _locate(lines: list[str], path: tuple[str, ...]) -> tuple[int, int]:
    """Best-effort line and column of a key path (tomllib reports none for valid TOML)."""
    best, depth = (1, 1), 0
    table: tuple[str, ...] = ()
    for number, raw in enumerate(lines, 1):
        stripped = raw.strip()
        column = len(raw) - len(raw.lstrip()) + 1
        if stripped.startswith("["):
            table = _split_key(stripped.strip("[]").split("]")[0])
            full = table
        elif "=" in stripped and not stripped.startswith("#"):
            full = table + _split_key(stripped.split("=", 1)[0])
            inline = stripped.split("=", 1)[1]
            # One level of inline table: `"veo-3.1" = { "720p" = 0.3 }`.
            if len(path) > len(full) and path[: len(full)] == full and re.search(
                    rf'["\']?{re.escape(path[len(full)])}["\']?\s*=', inline):
                full = (*full, path[len(full)])
        else:
            continue
        if len(full) > depth and path[: len(full)] == full:
            best, depth = (number, column), len(full)
    return best
