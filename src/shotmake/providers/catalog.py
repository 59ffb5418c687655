"""The route catalog: what each route name a spec may use means, accepts, costs, and how long it lives.

The facts are data (``routes.toml`` beside this module, packaged with shotmake), because they
change every few months: models are retired, renamed when they leave preview, given new limits
and prices. This module only reads that data into frozen ``Route`` records and answers one
question that depends on the date: is a route alive *today*.

A project extends or overrides the catalog in its ``shotmake.toml`` (``[routes."name"]``, the
same keys), parsed by ``config.py`` through ``route_from_table`` so both files are read by one
set of rules. Everything that needs routes (spec checks, lint, costs, routing, the registry)
takes a ``Mapping[str, Route]``; ``ROUTES`` is the built-in one.

Lifecycle: ``status`` is ``preview``, ``live``, ``deprecated`` or ``retired``; a route whose
``retired_on`` date has passed is retired whatever its status says. Its renders stay usable for
ever (keys never change), but nothing new may be rendered on it.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import datetime
import functools
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from ..hashing import sha256_hex

Kind = Literal["video", "image"]
STATUSES = ("preview", "live", "deprecated", "retired")
#: Keys of a ``[routes."name"]`` table in shotmake.toml that are project settings, not route facts.
SETTINGS_KEYS = ("fallback", "backend", "like")


class CatalogError(ValueError):
    """A route table that does not make sense; ``path`` names the key, ``hint`` the fix."""

    def __init__(self, path: tuple[str, ...], message: str, hint: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class Protocol:
    """A wire protocol: the adapter module that speaks it and its default credential variables."""

    name: str
    module: str
    #: Environment variables holding the key, first set wins (empty: needs none).
    key_env: tuple[str, ...] = ()
    #: Other variables that must be set too (Vertex: the project).
    also_env: tuple[str, ...] = ()
    #: The variable that moves the API root (a gateway), when the protocol has one.
    base_url_env: str = ""


@dataclass(frozen=True)
class Route:
    """What one route name (``gemini-omni``, ``local``...) means and accepts."""

    name: str
    protocol: str
    vendor: str
    kind: Kind
    model: str
    status: str = "live"
    deprecated_on: str | None = None
    retired_on: str | None = None
    successor: str | None = None
    source: str = ""
    checked_on: str | None = None
    #: Model ids this route sent before (e.g. the preview id before GA): renders made with them
    #: stay in the cache under their own keys; pinning ``model:`` to one reuses them.
    former_models: tuple[str, ...] = ()
    #: Allowed clip lengths in seconds; empty means any length in [min_duration, max_duration].
    durations: tuple[float, ...] = ()
    min_duration: float = 0.0
    max_duration: float = 0.0
    resolutions: tuple[str, ...] = ("480p", "720p", "1080p", "4k")
    aspects: tuple[str, ...] = ("16:9", "9:16")
    #: Resolutions/features that force the longest duration (Veo: 1080p, 4k, references, extension).
    eight_seconds_only: tuple[str, ...] = ()
    max_references: int = 0
    max_reference_videos: int = 0
    max_reference_audios: int = 0
    #: Sora rejected any input image containing a human face.
    references_may_show_faces: bool = True
    first_frame: bool = False
    last_frame: bool = False
    extension: bool = False
    #: Resolutions an extension (and the clip it extends) may have; empty: any the route renders.
    extension_resolutions: tuple[str, ...] = ()
    #: Seconds an extension call adds, and the longest result it can produce.
    extension_step: float = 0.0
    extension_max_total: float = 0.0
    #: Reference images may go in the same request as a first/last frame or an extension
    #: (Veo: no, it refuses referenceImages together with image, lastFrame or video).
    references_with_frames: bool = True
    #: When references and frames meet on a route that cannot mix them, the frames are sent as
    #: further reference images instead of the sheets staying home (Seedance: lint SM140 says so).
    frames_as_references: bool = False
    #: The first frame and the reference images share one input slot, so they count together
    #: against ``max_references`` (Sora: a single ``input_reference``).
    frames_share_references: bool = False
    #: What the route honours: a seed, a negative prompt, switching audio off; native audio.
    seed: bool = False
    negative_prompt: bool = False
    audio_off: bool = False
    native_audio: bool = False
    #: Voice samples the route takes as references: "audio" (reference audio), "video" (a clip whose
    #: voice the model follows). Empty: a voice is held by its description only.
    voice_samples: tuple[str, ...] = ()
    #: The longest voice sample, in seconds, the route accepts (0: not known).
    max_voice_seconds: float = 0.0
    #: How the route's prompting guide writes spoken lines: a convention of ``dialogue.toml``.
    dialogue: str = "quoted"
    #: Characters per shot the model keeps consistent in practice.
    comfortable_characters: int = 3
    #: USD per second of output (video) or per image, keyed by resolution ("*" = any).
    price: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    #: Largest file (MiB) a download from this route may be; a bigger body is cut with an error.
    max_download_mb: float = 512.0
    #: API root and key variable for this route, when not the protocol's defaults.
    base_url: str | None = None
    key_env: tuple[str, ...] = ()
    #: Where the route was defined: "built-in", or the shotmake.toml that added or changed it.
    origin: str = "built-in"

    def price_for(self, resolution: str) -> float:
        """USD per second (video) or per image at ``resolution``; 0 when unknown."""
        return float(self.price.get(resolution, self.price.get("*", 0.0)))

    def status_on(self, today: datetime.date) -> str:
        """The status on ``today``: from its ``retired_on`` date a route is retired, and before it not yet."""
        if self.retired_on is not None:
            if today >= datetime.date.fromisoformat(self.retired_on):
                return "retired"
            if self.status == "retired":
                return "deprecated"
        return self.status

    def accepts_duration(self, seconds: float) -> bool:
        """True when a clip of ``seconds`` is one this route renders."""
        if self.durations:
            return any(abs(seconds - d) < 1e-6 for d in self.durations)
        if seconds <= 0 or seconds < self.min_duration - 1e-6:
            return False
        return not self.max_duration or seconds <= self.max_duration + 1e-6

    def describe_durations(self) -> str:
        """``4, 6 or 8 s``, ``3-15 s`` or ``any length``."""
        if self.durations:
            values = [f"{d:g}" for d in self.durations]
            return (", ".join(values[:-1]) + " or " + values[-1] if len(values) > 1 else values[0]) + " s"
        if self.max_duration:
            return f"{self.min_duration:g}-{self.max_duration:g} s"
        return "any length"

    def lifecycle_text(self, today: datetime.date) -> str:
        """One line for people: ``retired on 2026-09-24 (successor: gemini-omni)``."""
        status = self.status_on(today)
        parts = [status]
        if status == "retired" and self.retired_on:
            parts = [f"retired on {self.retired_on}"]
        elif status == "deprecated":
            if self.deprecated_on:
                parts.append(f"since {self.deprecated_on}")
            if self.retired_on:
                parts.append(f"shuts down on {self.retired_on}")
        if self.successor:
            parts.append(f"successor: {self.successor}")
        return ", ".join(parts)


# -- reading route tables (routes.toml and shotmake.toml share these rules) -----------------------

_DATE_FIELDS = ("deprecated_on", "retired_on", "checked_on")
#: Route fields a table may set (``name`` comes from the key, ``origin`` from the file).
ROUTE_KEYS = tuple(f.name for f in dataclasses.fields(Route) if f.name not in ("name", "origin"))


@functools.cache
def _hints() -> dict[str, Any]:
    return typing.get_type_hints(Route)


def _kind_of(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "a table"}.get(type(value), type(value).__name__)


def _convert(name: str, value: Any) -> Any:
    """Check and convert one TOML value to the field's type; raise CatalogError((name,), ...)."""
    hint = _hints()[name]
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)

    def fail(expected: str) -> CatalogError:
        return CatalogError((name,), f"must be {expected}, not {_kind_of(value)}")

    if hint is bool:
        if not isinstance(value, bool):
            raise fail("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise fail("a whole number >= 0")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise fail("a number >= 0")
        return float(value)
    if origin is tuple:
        if not isinstance(value, list):
            raise fail("a list")
        item = args[0]
        if item is float:
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value):
                raise CatalogError((name,), "must be a list of positive numbers")
            return tuple(float(v) for v in value)
        if not all(isinstance(v, str) and v for v in value):
            raise CatalogError((name,), "must be a list of non-empty strings")
        if name == "voice_samples" and not set(value) <= {"audio", "video"}:
            raise CatalogError((name,), f"unknown voice sample kind in {value!r}", 'use "audio" and/or "video"')
        return tuple(value)
    if origin is collections.abc.Mapping:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return MappingProxyType({"*": float(value)})
        if not isinstance(value, dict):
            raise fail('a table such as { "720p" = 0.10 } or a number')
        for key, usd in value.items():
            if isinstance(usd, bool) or not isinstance(usd, (int, float)) or usd < 0:
                raise CatalogError((name, key), f"must be a price in USD >= 0, not {_kind_of(usd)}")
        return MappingProxyType({k: float(v) for k, v in value.items()})
    # str, a Literal, or str | None
    if not isinstance(value, str) or not value.strip():
        raise fail("a non-empty string")
    if name in _DATE_FIELDS:
        try:
            datetime.date.fromisoformat(value)
        except ValueError as exc:
            raise CatalogError((name,), f"{value!r} is not a date", "write it as YYYY-MM-DD") from exc
    if name == "status" and value not in STATUSES:
        raise CatalogError((name,), f"unknown status {value!r}", f"use one of {', '.join(STATUSES)}")
    if name == "dialogue":
        from ..dialogue import conventions  # the conventions are data beside this catalog

        if value not in conventions():
            raise CatalogError((name,), f"unknown dialogue convention {value!r}", f"use one of {', '.join(conventions())}")
    if name == "kind" and value not in ("video", "image"):
        raise CatalogError((name,), f"unknown kind {value!r}", "use video or image")
    if name == "base_url":
        _check_base_url(value)
    return value


def _check_base_url(url: str) -> None:
    """Refuse, where it is written, a base URL the key must not be sent to (``ApiSession`` refuses it too).

    https, or plain http to a loopback host (a local gateway, the tests' fakes). Stdlib only:
    the catalog is read by every command, httpx only by those that send.
    """
    import ipaddress
    from urllib.parse import urlsplit

    from ..redaction import scrub_url

    shown = scrub_url(url)
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
    except ValueError:
        parts, host = None, ""
    if parts is None or not host or parts.scheme not in ("http", "https"):
        raise CatalogError(("base_url",), f"{shown!r} is not an https:// URL", 'e.g. "https://gateway.example/v1"')
    if parts.scheme == "http":
        try:
            loopback = host in ("localhost", "localhost.") or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise CatalogError(("base_url",), f"{shown!r} is plain http: the key would cross the network in "
                               "cleartext", "use https://; plain http only for localhost")


def route_from_table(
    name: str,
    table: Mapping[str, Any],
    *,
    base: Route | None = None,
    protocols: Mapping[str, Protocol],
    origin: str = "built-in",
) -> Route:
    """Build the route ``name`` from a TOML table, on top of ``base`` when it overrides one.

    Raises ``CatalogError`` whose ``path`` is relative to the table, e.g. ``("durations",)``.
    Keys in ``SETTINGS_KEYS`` are ignored here (config reads them).
    """
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key in SETTINGS_KEYS:
            continue
        if key not in ROUTE_KEYS:
            from difflib import get_close_matches

            close = get_close_matches(key, ROUTE_KEYS, n=1)
            raise CatalogError((key,), f"unknown route key '{key}'",
                               f"did you mean '{close[0]}'?" if close else "see `shotmake routes --help`")
        values[key] = _convert(key, value)
    if base is None:
        missing = [k for k in ("protocol", "vendor", "kind", "model") if k not in values]
        if missing:
            raise CatalogError((), f"a new route needs {', '.join(missing)}",
                               'e.g. protocol = "openai-videos", vendor = "gateway", kind = "video", model = "..."'
                               ' (or `like = "<route>"` to start from a built-in route)')
        route = Route(name=name, origin=origin, **values)
    else:
        route = dataclasses.replace(base, name=name, origin=origin, **values)
    if route.protocol not in protocols:
        raise CatalogError(("protocol",), f"unknown protocol '{route.protocol}'",
                           f"use one of {', '.join(protocols)}")
    if route.status == "retired" and route.retired_on is None and base is None:
        raise CatalogError(("retired_on",), "a retired route needs its retired_on date")
    return route


def check_successors(routes: Mapping[str, Route]) -> None:
    """Every successor names a route of the same kind (raise CatalogError otherwise)."""
    for route in routes.values():
        if route.successor is None:
            continue
        other = routes.get(route.successor)
        if other is None or other.kind != route.kind:
            raise CatalogError((route.name, "successor"),
                               f"{route.name}: successor '{route.successor}' is not a {route.kind} route")


def parse_catalog(text: str, file: str = "routes.toml") -> tuple[str, dict[str, Protocol], dict[str, Route]]:
    """Read a whole catalog file: (reviewed date, protocols, routes)."""
    import tomllib  # only when routes.toml changed since routes.json was compiled, or for shotmake.toml

    data = tomllib.loads(text)
    protocols = {
        name: Protocol(name=name, module=str(p["module"]), key_env=tuple(p.get("key_env", ())),
                       also_env=tuple(p.get("also_env", ())), base_url_env=str(p.get("base_url_env", "")))
        for name, p in data.get("protocols", {}).items()
    }
    routes: dict[str, Route] = {}
    for name, table in data.get("routes", {}).items():
        try:
            routes[name] = route_from_table(name, table, protocols=protocols)
        except CatalogError as exc:
            raise CatalogError(("routes", name, *exc.path), f"{file}: routes.{name}: {exc.message}", exc.hint) from exc
    check_successors(routes)
    return str(data["reviewed"]), protocols, routes


# -- the built-in catalog, compiled ------------------------------------------------------------
# Every command reads the catalog, and parsing routes.toml (tomllib, then each value checked)
# was a tenth of a short command's start-up. ``routes.json`` beside it holds the checked result
# with the digest of the routes.toml it came from: used only while that digest matches, so an
# edited routes.toml is always read as such (``make catalog`` writes routes.json again; a test
# fails while it is stale).

_SOURCE = Path(__file__).with_name("routes.toml")  # packaged beside this module
COMPILED = Path(__file__).with_name("routes.json")


def compile_catalog(source: bytes) -> str:
    """The JSON text of ``routes.json`` for the routes.toml text ``source`` (checked as it is read)."""
    import json

    reviewed, protocols, routes = parse_catalog(source.decode("utf-8"))
    defaults = {f.name: f.default for f in dataclasses.fields(Route) if f.default is not dataclasses.MISSING}

    def plain(value: Any) -> Any:
        return dict(value) if isinstance(value, Mapping) else list(value) if isinstance(value, tuple) else value

    data = {
        "source_sha256": sha256_hex(source),
        "reviewed": reviewed,
        "protocols": {name: {k: plain(v) for k, v in dataclasses.asdict(p).items()} for name, p in protocols.items()},
        "routes": {name: {f.name: plain(getattr(r, f.name)) for f in dataclasses.fields(Route)
                          if f.name != "name" and getattr(r, f.name) != defaults.get(f.name, dataclasses.MISSING)}
                   for name, r in routes.items()},
    }
    return json.dumps(data, indent=1) + "\n"  # in routes.toml's order, which messages follow


def _from_compiled(text: str, source: bytes) -> tuple[str, dict[str, Protocol], dict[str, Route]] | None:
    import json

    data = json.loads(text)
    if data.get("source_sha256") != sha256_hex(source):
        return None

    def value(v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else MappingProxyType(v) if isinstance(v, dict) else v

    protocols = {name: Protocol(**{k: value(v) for k, v in p.items()}) for name, p in data["protocols"].items()}

    routes = {name: Route(name=name, **{k: value(v) for k, v in r.items()}) for name, r in data["routes"].items()}
    return str(data["reviewed"]), protocols, routes


def write_compiled() -> bool:
    """Write ``routes.json`` for the current routes.toml; False when it was already current."""
    from ..atomic import write_text

    text = compile_catalog(_SOURCE.read_bytes())
    if COMPILED.exists() and COMPILED.read_text(encoding="utf-8") == text:
        return False
    write_text(COMPILED, text)
    return True


@functools.cache
def _builtin() -> tuple[str, Mapping[str, Protocol], Mapping[str, Route]]:
    source = _SOURCE.read_bytes()
    try:
        found = _from_compiled(COMPILED.read_text(encoding="utf-8"), source)
    except (OSError, ValueError, TypeError, KeyError):  # missing or damaged: routes.toml is the truth
        found = None
    reviewed, protocols, routes = found if found is not None else parse_catalog(source.decode("utf-8"))
    return reviewed, MappingProxyType(protocols), MappingProxyType(routes)


#: The day the built-in catalog was last checked against the vendors' pages.
REVIEWED: str = _builtin()[0]
#: Protocol name -> Protocol (the adapters shotmake ships).
PROTOCOLS: Mapping[str, Protocol] = _builtin()[1]
#: The built-in routes, by name.
ROUTES: Mapping[str, Route] = _builtin()[2]


def as_route(route: str | Route, routes: Mapping[str, Route] = ROUTES) -> Route | None:
    """``route`` itself, or the route of that name (adapters accept either)."""
    return route if isinstance(route, Route) else routes.get(route)


def route_name(route: str | Route) -> str:
    """The name of a route given by name or as a record."""
    return route if isinstance(route, str) else route.name


def adapter_route(route: str | Route, protocols: tuple[str, ...], adapter: str) -> Route:
    """The route an adapter serves, given by name (built-in) or as a record (configured).

    Raises ``ProviderError`` when the route is unknown or speaks another protocol.
    """
    from ..errors import ProviderError

    found = as_route(route)
    if found is None or found.protocol not in protocols:
        known = sorted(n for n, r in ROUTES.items() if r.protocol in protocols)
        name = route_name(route)
        raise ProviderError(f"{adapter} cannot serve route {name!r}; it serves {', '.join(known)} "
                            f"(or a route with protocol = \"{protocols[0]}\" in shotmake.toml)", provider=name)
    return found


def wire_model(route: Route, requested: str) -> str:
    """The model id to send: the request's (the plan puts a shot's ``model:`` there) or the route's.

    The request's is a model id, never read as a route name: ids such as ``sora-2-pro`` or
    ``gpt-image-1.5`` are both, and the key and the lock record the id as given.
    """
    return requested or route.model
