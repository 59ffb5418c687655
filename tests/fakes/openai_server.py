"""A loopback OpenAI: the Videos (Sora 2) and Images APIs on the wire, with fault injection.

Follows ``shared/providers.md`` §1 and §4.2: multipart ``POST /v1/videos`` validated like the
real service, jobs that go ``queued -> in_progress -> completed|failed`` as they are polled
(or as time passes), ``openai-poll-after-ms``, a real MP4 at ``/content`` until it expires,
remix, characters, delete, and the Images ``generations``/``edits`` endpoints returning real
PNGs as ``b64_json``. Point a client at ``fake.base_url`` (``http://127.0.0.1:PORT/v1``).

Faults are queued per route and consumed in order (``fake.rate_limit("create")``,
``fake.reset_next_download()``...), or switched on (``fake.shutdown = True``), or drawn at
random from a seeded generator (``fake.chaos(seed=7, rate=0.3)``). Example::

    with FakeOpenAI(polls_to_complete=2) as fake:
        fake.rate_limit("create", retry_after="2")
        ...  # the first create answers 429, the next one succeeds
        assert fake.count("POST", "/v1/videos") == 2
"""

from __future__ import annotations

import base64
import random
import re
import struct
import subprocess
import tempfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .server import HOSTILE, FakeServer, Request, Response, hostile_body

DEFAULT_KEY = "sk-fake-openai-0123456789abcdefXYZ"
VIDEO_MODELS = ("sora-2", "sora-2-pro", "sora-2-2025-10-06", "sora-2-pro-2025-10-06", "sora-2-2025-12-08")
SECONDS = ("4", "8", "12")
SIZES = {
    "sora-2": ("720x1280", "1280x720"),
    "sora-2-pro": ("720x1280", "1280x720", "1024x1792", "1792x1024"),
}
IMAGE_MODELS = ("gpt-image-1", "gpt-image-1-mini", "gpt-image-1.5", "gpt-image-2", "chatgpt-image-latest")
IMAGE_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
MODERATION_MESSAGE = "Your request was blocked by our moderation system."
IMAGE_MODERATION_MESSAGE = (
    "Your request was rejected by the safety system. If you believe this is an error, contact us at "
    "help.openai.com and include the request ID."
)
SHUTDOWN_MESSAGE = (
    "The Sora API has been shut down. It was scheduled to permanently shut down on September 24, 2026."
)
OVERLOAD_MESSAGE = "The engine is currently overloaded, please try again later"

#: Route names used by fault injection (``"*"`` matches any route).
ROUTES = (
    "create",
    "list",
    "retrieve",
    "delete",
    "content",
    "remix",
    "character_create",
    "character_get",
    "image_generate",
    "image_edit",
)


# -- real media bytes, generated once per process ---------------------------------------------
_media_lock = threading.Lock()
_mp4_cache: dict[tuple[int, str], bytes] = {}
_png_cache: dict[tuple[int, int], bytes] = {}


def fake_mp4(seconds: int = 4, size: str = "1280x720") -> bytes:
    """A real H.264/AAC MP4 of ``seconds`` at ``size`` (``WxH``), made by ffmpeg and cached."""
    key = (int(seconds), size)
    with _media_lock:
        if key not in _mp4_cache:
            import imageio_ffmpeg

            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "clip.mp4"
                subprocess.run(
                    [
                        imageio_ffmpeg.get_ffmpeg_exe(),
                        "-hide_banner",
                        "-loglevel",
                        "error",
                        "-y",
                        "-f",
                        "lavfi",
                        "-i",
                        f"color=c=0x336699:size={size}:rate=24:duration={seconds}",
                        "-f",
                        "lavfi",
                        "-i",
                        f"sine=frequency=440:duration={seconds}:sample_rate=48000",
                        "-c:v",
                        "libx264",
                        "-preset",
                        "ultrafast",
                        "-tune",
                        "stillimage",
                        "-pix_fmt",
                        "yuv420p",
                        "-c:a",
                        "aac",
                        "-b:a",
                        "32k",
                        "-shortest",
                        "-movflags",
                        "+faststart",
                        str(out),
                    ],
                    check=True,
                    capture_output=True,
                )
                _mp4_cache[key] = out.read_bytes()
        return _mp4_cache[key]


def fake_png(width: int, height: int, rgb: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    """A real (solid colour) RGB PNG of the given size, built with zlib and cached."""
    key = (width, height)
    with _media_lock:
        if key not in _png_cache:
            row = b"\x00" + bytes(rgb) * width
            raw = zlib.compress(row * height, 6)

            def chunk(kind: bytes, data: bytes) -> bytes:
                return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

            ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
            _png_cache[key] = (
                b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")
            )
        return _png_cache[key]


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """Width and height of PNG, JPEG or WebP bytes (the fake's own reader, independent of src)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                return None
            marker = data[i + 1]
            if 0xD0 <= marker <= 0xD9 or marker == 0x01:
                i += 2
                continue
            seg = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(w), int(h)
            i += 2 + seg
        return None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = data[12:16]
        if kind == b"VP8X":
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        if kind == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
        if kind == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return int(w & 0x3FFF), int(h & 0x3FFF)
    return None


# -- multipart ----------------------------------------------------------------------------------
@dataclass
class Part:
    """One multipart part: a form field (``filename`` None) or a file."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data."""


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    """Split a ``multipart/form-data`` body into parts, byte-exact (RFC 7578)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.lower().startswith("multipart/form-data") or not match:
        raise MultipartError("Content-Type must be multipart/form-data with a boundary")
    # Every delimiter is CRLF + "--" + boundary; prefixing CRLF makes the first one match too.
    delimiter = b"\r\n--" + match.group(1).encode("latin-1")
    sections = (b"\r\n" + body).split(delimiter)
    if len(sections) < 2 or not sections[-1].startswith(b"--"):
        raise MultipartError("multipart body has no closing boundary")
    parts = []
    for section in sections[1:-1]:
        if not section.startswith(b"\r\n"):
            raise MultipartError("malformed multipart boundary line")
        head, sep, data = section[2:].partition(b"\r\n\r\n")
        if not sep:
            raise MultipartError("multipart part without a header block")
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        name = re.search(r'(?:^|;)\s*name="([^"]*)"', disposition)
        if not disposition.startswith("form-data") or not name:
            raise MultipartError("multipart part without Content-Disposition: form-data; name=...")
        filename = re.search(r'filename="([^"]*)"', disposition)
        parts.append(
            Part(
                name=name.group(1),
                data=data,
                filename=filename.group(1) if filename else None,
                content_type=headers.get("content-type"),
            )
        )
    return parts


# -- state ----------------------------------------------------------------------------------------
@dataclass
class Fault:
    """A queued misbehaviour for the next request on ``route`` (``"*"``: any route).

    ``kind``: ``status`` (answer ``status`` with an error body/headers), ``reset`` (cut the body
    after ``after_bytes``), ``truncate`` (declare ``missing`` more bytes than sent), a hostile
    body from ``server.HOSTILE`` (``endless``, ``gzip_bomb``, ``drip``, ``gzip``), ``redirect``
    (answer 302 to ``location``),
    ``lose_response`` (do the work, then drop the connection before the body), ``delay``
    (sleep ``seconds`` first), ``moderation`` (400 moderation_blocked), ``fail_job`` (the
    video created by this request ends ``failed`` with ``code``/``message``), ``stall_job``
    (the video's progress stops at ``stall_at`` forever).
    """

    route: str
    kind: str
    status: int = 500
    message: str = "The server had an error while processing your request. Sorry about that!"
    type: str = "server_error"
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    after_bytes: int = 1024
    missing: int = 4096
    seconds: float = 0.0
    stall_at: int = 99
    location: str = ""


@dataclass
class Video:
    """A video job as the fake keeps it."""

    obj: dict[str, Any]
    polls: int = 0
    created: float = 0.0
    fail: dict[str, str] | None = None
    stall_at: int | None = None
    deleted: bool = False


def error_body(
    message: str, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The OpenAI error shape: ``{"error": {"message", "type", "param", "code"}}``."""
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


class FakeOpenAI(FakeServer):
    """The OpenAI Videos and Images APIs on 127.0.0.1, mounted under ``prefix`` (``/v1``).

    Progress is driven by polls (``GET /videos/{id}`` number ``polls_to_complete`` sees
    ``completed``) or, when ``seconds_to_complete`` is set, by ``clock``.
    """

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_KEY,
        prefix: str = "/v1",
        polls_to_complete: int = 3,
        queued_polls: int = 1,
        seconds_to_complete: float | None = None,
        poll_after_ms: int | str | None = 0,
        expires_after: float = 3600.0,
        clock: Callable[[], float] = time.time,
        echo_key_in_errors: bool = False,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.prefix = prefix.rstrip("/")
        self.polls_to_complete = polls_to_complete
        self.queued_polls = queued_polls
        self.seconds_to_complete = seconds_to_complete
        self.poll_after_ms = poll_after_ms
        self.expires_after = expires_after
        self.clock = clock
        #: Worst-case gateway: put the full presented key in 401 messages (tests redaction).
        self.echo_key_in_errors = echo_key_in_errors
        #: Every /videos path answers ``shutdown_status`` with the shutdown message.
        self.shutdown = False
        self.shutdown_status = 404
        #: Character uploads are refused as human likeness (the default for most accounts).
        self.refuse_human_likeness = False
        #: Prompt substrings that trigger moderation: term -> "sync" (400) or "job" (failed job).
        self.blocked_terms: dict[str, str] = {}
        #: Prompt substrings whose videos stall at 99 % (until ``release_stalls``), and whose
        #: content has expired by the time the job completes: per-shot faults that follow a
        #: shot through every run, where queued faults follow the request order.
        self.stall_terms: set[str] = set()
        self.expire_terms: set[str] = set()
        #: Models whose creates answer the shutdown 404 (a gateway that dropped some models),
        #: while ``shutdown`` takes the whole Videos API down.
        self.shutdown_models: set[str] = set()
        self.allowed_seconds: tuple[str, ...] = SECONDS
        self.videos: dict[str, Video] = {}
        self.characters: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []
        self._chaos: tuple[random.Random, float, tuple[str, ...]] | None = None

    @property
    def base_url(self) -> str:
        """What to put in ``OPENAI_BASE_URL``."""
        return self.url + self.prefix

    # -- fault injection -----------------------------------------------------------------------
    def inject(self, fault: Fault, times: int = 1) -> None:
        """Queue ``fault`` for the next ``times`` requests on its route."""
        if fault.route != "*" and fault.route not in ROUTES:
            raise ValueError(f"unknown route {fault.route!r}; use one of {ROUTES}")
        with self.lock:
            self.faults.extend(Fault(**vars(fault)) for _ in range(times))

    def rate_limit(
        self,
        route: str = "create",
        *,
        retry_after: str | None = "1",
        retry_after_ms: str | None = None,
        times: int = 1,
    ) -> None:
        """429 ``rate_limit_exceeded`` with ``retry-after`` and/or ``retry-after-ms`` headers."""
        headers = {k: v for k, v in (("retry-after", retry_after), ("retry-after-ms", retry_after_ms)) if v}
        self.inject(
            Fault(
                route,
                "status",
                status=429,
                type="requests",
                code="rate_limit_exceeded",
                headers=headers,
                message="Rate limit reached for requests. Please try again later.",
            ),
            times,
        )

    def quota_exhausted(self, route: str = "create") -> None:
        """429 ``insufficient_quota``: a billing state that waiting does not fix."""
        self.inject(
            Fault(
                route,
                "status",
                status=429,
                type="insufficient_quota",
                code="insufficient_quota",
                message="You exceeded your current quota, please check your plan and billing details.",
            )
        )

    def server_error(self, route: str = "create", status: int = 500, times: int = 1) -> None:
        """A 5xx with the OpenAI server_error body."""
        self.inject(Fault(route, "status", status=status), times)

    def overload(self, route: str = "create", times: int = 1) -> None:
        """503 with the "engine is currently overloaded" message."""
        self.inject(
            Fault(
                route,
                "status",
                status=503,
                message=OVERLOAD_MESSAGE,
                type="server_error",
                code="engine_overloaded",
            ),
            times,
        )

    def moderate_next(self, route: str = "create") -> None:
        """A synchronous 400 ``moderation_blocked`` on the next request to ``route``."""
        self.inject(Fault(route, "moderation"))

    def fail_next_job(self, code: str = "moderation_blocked", message: str = MODERATION_MESSAGE) -> None:
        """The next created (or remixed) video ends ``failed`` with ``error{code,message}``."""
        self.inject(Fault("create", "fail_job", code=code, message=message))

    def stall_next_job(self, at: int = 99) -> None:
        """The next created video climbs to ``at`` % and stays there forever."""
        self.inject(Fault("create", "stall_job", stall_at=at))

    def lose_next_response(self, route: str = "create") -> None:
        """Do the work (e.g. create the job), then drop the connection: the client never sees the id."""
        self.inject(Fault(route, "lose_response"))

    def reset_next_download(self, after_bytes: int = 1024) -> None:
        """Close the connection after ``after_bytes`` of the next ``/content`` body."""
        self.inject(Fault("content", "reset", after_bytes=after_bytes))

    def truncate_next_download(self, missing: int = 4096) -> None:
        """Declare ``missing`` more bytes in Content-Length than the next ``/content`` sends."""
        self.inject(Fault("content", "truncate", missing=missing))

    def delay_next(self, route: str, seconds: float) -> None:
        """Sleep before answering the next request on ``route`` (client timeouts)."""
        self.inject(Fault(route, "delay", seconds=seconds))

    def expire(self, video_id: str) -> None:
        """Make a video's assets expire now: ``/content`` answers 404 from here on."""
        with self.lock:
            self.videos[video_id].obj["expires_at"] = int(self.clock()) - 1

    def chaos(self, seed: int, rate: float, kinds: Iterable[str] | None = None) -> None:
        """Inject a transient fault into a ``rate`` fraction of requests, drawn from ``random.Random(seed)``.

        ``kinds`` from ``429``, ``500``, ``503``, ``overload``, ``reset``, ``truncate``,
        ``lose_response`` (each applied only where it makes sense). Rejections are not drawn
        here: use ``blocked_terms`` so the same shot is rejected on every run.
        """
        all_kinds = ("429", "500", "503", "overload", "reset", "truncate", "lose_response")
        self._chaos = (random.Random(seed), rate, tuple(kinds) if kinds is not None else all_kinds)

    def creates(self) -> list[Request]:
        """Every ``POST /videos`` (create) request seen, in order."""
        with self.lock:
            return [r for r in self.requests if r.method == "POST" and r.path == f"{self.prefix}/videos"]

    def jobs_by_prompt(self) -> dict[str, int]:
        """How many video jobs exist per prompt: the creates that were accepted (and bill)."""
        counts: dict[str, int] = {}
        with self.lock:
            for video in self.videos.values():
                counts[video.obj["prompt"]] = counts.get(video.obj["prompt"], 0) + 1
        return counts

    def release_stalls(self) -> None:
        """Let every stalled video go on to complete on its next poll."""
        with self.lock:
            for video in self.videos.values():
                video.stall_at = None

    # -- dispatch --------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        if not request.path.startswith(self.prefix + "/"):
            return self._invalid_url(request)
        path = request.path[len(self.prefix) :]
        denied = self._check_auth(request)
        if denied is not None:
            return denied
        route, args = self._route(request.method, path)
        if route is None:
            return self._invalid_url(request)
        if self.shutdown and path.startswith("/videos"):
            return Response.json(
                error_body(SHUTDOWN_MESSAGE, code="endpoint_shutdown"), status=self.shutdown_status
            )
        fault = self.take_fault(
            lambda f: (
                isinstance(f, Fault) and f.route in (route, "*") and f.kind not in ("fail_job", "stall_job")
            )
        )
        if fault is None:
            fault = self._chaos_fault(route)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        elif fault is not None and fault.kind == "status":
            return Response.json(
                error_body(fault.message, fault.type, None, fault.code),
                status=fault.status,
                headers=fault.headers,
            )
        elif fault is not None and fault.kind == "moderation":
            return self._moderation_error(route)
        elif fault is not None and fault.kind == "redirect":
            return Response(status=302, headers={"location": fault.location})
        response: Response = getattr(self, f"_{route}")(request, *args)
        if fault is not None and fault.kind in HOSTILE and response.status < 400:
            assert isinstance(response.body, bytes)
            return hostile_body(fault.kind, response.body, response.headers)
        if fault is not None and response.status < 400:
            if fault.kind == "lose_response":
                response.abort_after = 0
            elif fault.kind == "reset":
                response.abort_after = fault.after_bytes
            elif fault.kind == "truncate":
                response.declared_length = len(response.body or b"") + fault.missing
        return response

    def _route(self, method: str, path: str) -> tuple[str | None, tuple[str, ...]]:
        table: list[tuple[str, str, str]] = [
            ("POST", r"/videos", "create"),
            ("GET", r"/videos", "list"),
            ("POST", r"/videos/characters", "character_create"),
            ("GET", r"/videos/characters/([^/]+)", "character_get"),
            ("GET", r"/videos/([^/]+)", "retrieve"),
            ("DELETE", r"/videos/([^/]+)", "delete"),
            ("GET", r"/videos/([^/]+)/content", "content"),
            ("POST", r"/videos/([^/]+)/remix", "remix"),
            ("POST", r"/images/generations", "image_generate"),
            ("POST", r"/images/edits", "image_edit"),
        ]
        for verb, pattern, name in table:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                return name, match.groups()
        return None, ()

    def _check_auth(self, request: Request) -> Response | None:
        header = request.headers.get("authorization", "")
        if not header:
            return Response.json(
                error_body(
                    "You didn't provide an API key. You need to provide your API key in an Authorization "
                    "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
                ),
                status=401,
            )
        scheme, _, key = header.partition(" ")
        if scheme != "Bearer" or key != self.api_key:
            shown = (
                key if self.echo_key_in_errors else (key[:3] + "*" * 4 + key[-4:] if len(key) > 8 else "***")
            )
            return Response.json(
                error_body(
                    f"Incorrect API key provided: {shown}. You can find your API key at "
                    "https://platform.openai.com/account/api-keys.",
                    code="invalid_api_key",
                ),
                status=401,
            )
        return None

    def _invalid_url(self, request: Request) -> Response:
        return Response.json(error_body(f"Invalid URL ({request.method} {request.path})"), status=404)

    def _chaos_fault(self, route: str) -> Fault | None:
        if self._chaos is None:
            return None
        rng, rate, kinds = self._chaos
        with self.lock:
            if rng.random() >= rate:
                return None
            usable = [k for k in kinds if k not in ("reset", "truncate") or route == "content"]
            usable = [k for k in usable if k != "lose_response" or route in ("create", "retrieve", "list")]
            if not usable:
                return None
            kind = rng.choice(usable)
        if kind == "429":
            return Fault(
                route,
                "status",
                status=429,
                code="rate_limit_exceeded",
                type="requests",
                headers={"retry-after-ms": "10"},
                message="Rate limit reached for requests.",
            )
        if kind in ("500", "503"):
            return Fault(route, "status", status=int(kind))
        if kind == "overload":
            return Fault(route, "status", status=503, message=OVERLOAD_MESSAGE, code="engine_overloaded")
        if kind == "reset":
            return Fault(route, "reset", after_bytes=512)
        if kind == "truncate":
            return Fault(route, "truncate", missing=2048)
        return Fault(route, "lose_response")

    def _moderation_error(self, route: str) -> Response:
        if route.startswith("image"):
            body = error_body(
                IMAGE_MODERATION_MESSAGE, "image_generation_user_error", None, "moderation_blocked"
            )
            body["error"]["moderation_details"] = {"categories": ["fake"]}
            return Response.json(body, status=400)
        return Response.json(
            error_body(MODERATION_MESSAGE, "invalid_request_error", None, "moderation_blocked"), status=400
        )

    def _blocked(self, prompt: str) -> str | None:
        for term, mode in self.blocked_terms.items():
            if term.lower() in prompt.lower():
                return mode
        return None

    # -- videos ------------------------------------------------------------------------------------
    def _create(self, request: Request) -> Response:
        try:
            parts = parse_multipart(request.body, request.headers.get("content-type", ""))
        except MultipartError as exc:
            return Response.json(error_body(f"Invalid multipart body: {exc}"), status=400)
        fields = {p.name: p for p in parts}
        bad = self._validate_create(fields, parts)
        if bad is not None:
            return bad
        prompt = fields["prompt"].text
        if self._blocked(prompt) == "sync":
            return self._moderation_error("create")
        model = fields["model"].text if "model" in fields else "sora-2"
        if model in self.shutdown_models:
            return Response.json(error_body(SHUTDOWN_MESSAGE, code="endpoint_shutdown"), status=self.shutdown_status)
        video = self._new_video(
            prompt,
            model,
            fields["seconds"].text if "seconds" in fields else "4",
            fields["size"].text if "size" in fields else "720x1280",
        )
        if self._blocked(prompt) == "job":
            video.fail = {"code": "moderation_blocked", "message": MODERATION_MESSAGE}
        if any(term.lower() in prompt.lower() for term in self.stall_terms):
            video.stall_at = 99
        return Response.json(video.obj)

    def _validate_create(self, fields: dict[str, Part], parts: list[Part]) -> Response | None:
        def invalid(param: str, message: str, code: str = "invalid_value") -> Response:
            return Response.json(error_body(message, param=param, code=code), status=400)

        if "prompt" not in fields:
            return invalid("prompt", "Missing required parameter: 'prompt'.", "missing_required_parameter")
        if not 1 <= len(fields["prompt"].text) <= 32000:
            return invalid("prompt", "Invalid 'prompt': string must be 1 to 32000 characters long.")
        model = fields["model"].text if "model" in fields else "sora-2"
        if model not in VIDEO_MODELS:
            return invalid(
                "model",
                f"Invalid value: '{model}'. Supported values are: "
                + ", ".join(f"'{m}'" for m in VIDEO_MODELS)
                + ".",
            )
        seconds = fields["seconds"].text if "seconds" in fields else "4"
        if seconds not in self.allowed_seconds:
            return invalid(
                "seconds",
                f"Invalid value: '{seconds}'. Supported values are: "
                + ", ".join(f"'{s}'" for s in self.allowed_seconds)
                + ".",
            )
        size = fields["size"].text if "size" in fields else "720x1280"
        family = "sora-2-pro" if model.startswith("sora-2-pro") else "sora-2"
        if size not in SIZES[family]:
            return invalid(
                "size",
                f"Invalid value: '{size}'. Supported values for {family} are: "
                + ", ".join(f"'{s}'" for s in SIZES[family])
                + ".",
            )
        ref = fields.get("input_reference")
        if ref is not None:
            if ref.filename is None:
                return invalid(
                    "input_reference",
                    "Invalid type for 'input_reference': expected a file, but got a string instead.",
                    "invalid_type",
                )
            if ref.content_type not in ("image/png", "image/jpeg", "image/webp"):
                return invalid(
                    "input_reference",
                    f"Invalid file type '{ref.content_type}' for 'input_reference'. "
                    "Supported types: image/jpeg, image/png, image/webp.",
                )
            dims = image_dimensions(ref.data)
            if dims is None or f"{dims[0]}x{dims[1]}" != size:
                return invalid("input_reference", "Inpaint image must match the requested width and height")
        for part in parts:
            if part.name in ("characters[]", "characters") and part.text not in self.characters:
                return invalid("characters", f"Character '{part.text}' not found.", "not_found")
        known = {"prompt", "model", "seconds", "size", "input_reference", "characters[]", "characters"}
        for part in parts:
            if part.name not in known:
                return invalid(
                    part.name, f"Unrecognized request argument supplied: {part.name}", "unknown_parameter"
                )
        return None

    def _new_video(
        self, prompt: str, model: str, seconds: str, size: str, remixed_from: str | None = None
    ) -> Video:
        now = self.clock()
        video_id = "video_" + uuid.uuid4().hex
        obj = {
            "id": video_id,
            "object": "video",
            "model": model,
            "status": "queued",
            "progress": 0,
            "created_at": int(now),
            "completed_at": None,
            "expires_at": None,
            "prompt": prompt,
            "size": size,
            "seconds": seconds,
            "remixed_from_video_id": remixed_from,
            "error": None,
        }
        video = Video(obj=obj, created=now)
        fault = self.take_fault(lambda f: isinstance(f, Fault) and f.kind in ("fail_job", "stall_job"))
        if fault is not None and fault.kind == "fail_job":
            video.fail = {"code": fault.code or "moderation_blocked", "message": fault.message}
        elif fault is not None:
            video.stall_at = fault.stall_at
        with self.lock:
            self.videos[video_id] = video
            self._order.append(video_id)
        return video

    def _advance(self, video: Video, polled: bool) -> None:
        """Move a job along by one poll (or by the clock); terminal states never change."""
        obj = video.obj
        if obj["status"] in ("completed", "failed"):
            return
        if polled:
            video.polls += 1
        if self.seconds_to_complete is not None:
            span = self.seconds_to_complete
            done = 1.0 if span <= 0 else (self.clock() - video.created) / span
        elif video.polls >= self.polls_to_complete:
            done = 1.0
        elif video.polls <= self.queued_polls:
            done = 0.0
        else:
            done = (video.polls - self.queued_polls) / (self.polls_to_complete - self.queued_polls)
        if done <= 0.0:
            return
        progress = min(100, int(done * 100))
        if video.stall_at is not None and progress >= video.stall_at:
            obj.update(status="in_progress", progress=video.stall_at)
            return
        if progress < 100:
            obj.update(status="in_progress", progress=max(progress, obj["progress"], 1))
            return
        now = int(self.clock())
        if video.fail is not None:
            obj.update(status="failed", error=dict(video.fail), completed_at=now)
        else:
            expired = any(term.lower() in obj["prompt"].lower() for term in self.expire_terms)
            obj.update(
                status="completed",
                progress=100,
                completed_at=now,
                expires_at=now - 1 if expired else int(now + self.expires_after),
            )

    def _find(self, video_id: str) -> Video | Response:
        with self.lock:
            video = self.videos.get(video_id)
        if video is None or video.deleted:
            return Response.json(
                error_body(f"Video with id '{video_id}' not found.", param="video_id", code="not_found"),
                status=404,
            )
        return video

    def _headers(self) -> dict[str, str]:
        return {} if self.poll_after_ms is None else {"openai-poll-after-ms": str(self.poll_after_ms)}

    def _retrieve(self, request: Request, video_id: str) -> Response:
        video = self._find(video_id)
        if isinstance(video, Response):
            return video
        with self.lock:
            self._advance(video, polled=True)
            return Response.json(dict(video.obj), headers=self._headers())

    def _list(self, request: Request) -> Response:
        def arg(name: str, default: str) -> str:
            return request.query.get(name, [default])[0]

        order, after = arg("order", "desc"), arg("after", "")
        try:
            limit = int(arg("limit", "20"))
        except ValueError:
            limit = -1
        if not 0 <= limit <= 100 or order not in ("asc", "desc"):
            return Response.json(
                error_body("Invalid 'limit' or 'order'.", param="limit", code="invalid_value"), status=400
            )
        with self.lock:
            ids = [i for i in self._order if not self.videos[i].deleted]
            if order == "desc":
                ids.reverse()
            if after:
                if after not in ids:
                    return Response.json(
                        error_body(f"Invalid 'after': video '{after}' not found.", param="after"), status=400
                    )
                ids = ids[ids.index(after) + 1 :]
            page = ids[:limit]
            for i in page:
                self._advance(self.videos[i], polled=False)
            data = [dict(self.videos[i].obj) for i in page]
        return Response.json(
            {
                "object": "list",
                "data": data,
                "first_id": page[0] if page else None,
                "last_id": page[-1] if page else None,
                "has_more": len(ids) > len(page),
            }
        )

    def _delete(self, request: Request, video_id: str) -> Response:
        video = self._find(video_id)
        if isinstance(video, Response):
            return video
        video.deleted = True
        return Response.json({"id": video_id, "object": "video.deleted", "deleted": True})

    def _content(self, request: Request, video_id: str) -> Response:
        video = self._find(video_id)
        if isinstance(video, Response):
            return video
        obj = video.obj
        if obj["status"] != "completed":
            return Response.json(
                error_body(
                    f"Video '{video_id}' is not ready yet (status {obj['status']}).", param="video_id"
                ),
                status=400,
            )
        if obj["expires_at"] is not None and self.clock() >= obj["expires_at"]:
            return Response.json(
                error_body(
                    f"The content for video '{video_id}' has expired.", param="video_id", code="not_found"
                ),
                status=404,
            )
        variant = request.query.get("variant", ["video"])[0]
        if variant == "video":
            return Response(
                body=fake_mp4(int(obj["seconds"]), obj["size"]), headers={"content-type": "video/mp4"}
            )
        if variant == "thumbnail":
            w, h = (int(x) for x in obj["size"].split("x"))
            return Response(body=fake_png(w // 8, h // 8), headers={"content-type": "image/png"})
        if variant == "spritesheet":
            return Response(body=fake_png(64, 64), headers={"content-type": "image/png"})
        return Response.json(
            error_body(
                f"Invalid value: '{variant}'. Supported values are: 'video', 'thumbnail', and 'spritesheet'.",
                param="variant",
                code="invalid_value",
            ),
            status=400,
        )

    def _remix(self, request: Request, video_id: str) -> Response:
        source = self._find(video_id)
        if isinstance(source, Response):
            return source
        try:
            prompt = request.json().get("prompt")
        except (ValueError, AttributeError):
            prompt = None
        if not isinstance(prompt, str) or not prompt:
            return Response.json(
                error_body(
                    "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter"
                ),
                status=400,
            )
        if source.obj["status"] != "completed":
            return Response.json(
                error_body(
                    f"Video '{video_id}' must be completed before it can be remixed.", param="video_id"
                ),
                status=400,
            )
        if self._blocked(prompt) == "sync":
            return self._moderation_error("remix")
        obj = source.obj
        video = self._new_video(prompt, obj["model"], obj["seconds"], obj["size"], remixed_from=video_id)
        return Response.json(video.obj)

    def _character_create(self, request: Request) -> Response:
        try:
            parts = {
                p.name: p for p in parse_multipart(request.body, request.headers.get("content-type", ""))
            }
        except MultipartError as exc:
            return Response.json(error_body(f"Invalid multipart body: {exc}"), status=400)
        video, name = parts.get("video"), parts.get("name")
        if video is None or video.filename is None:
            return Response.json(
                error_body(
                    "Missing required parameter: 'video' (a file).",
                    param="video",
                    code="missing_required_parameter",
                ),
                status=400,
            )
        if name is None or not 1 <= len(name.text) <= 80:
            return Response.json(
                error_body("'name' must be 1 to 80 characters.", param="name", code="invalid_value"),
                status=400,
            )
        if video.data[4:8] != b"ftyp":
            return Response.json(
                error_body("The uploaded 'video' is not a valid MP4.", param="video", code="invalid_value"),
                status=400,
            )
        if self.refuse_human_likeness:
            return Response.json(
                error_body(
                    "Character uploads depicting human likeness are not allowed for this organization.",
                    param="video",
                    code="human_likeness_blocked",
                ),
                status=400,
            )
        char_id = "char_" + uuid.uuid4().hex[:24]
        char = {"id": char_id, "name": name.text, "created_at": int(self.clock())}
        with self.lock:
            self.characters[char_id] = char
        return Response.json(char)

    def _character_get(self, request: Request, character_id: str) -> Response:
        with self.lock:
            char = self.characters.get(character_id)
        if char is None:
            return Response.json(
                error_body(f"Character '{character_id}' not found.", param="character_id", code="not_found"),
                status=404,
            )
        return Response.json(char)

    # -- images ------------------------------------------------------------------------------------
    def _image_generate(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return Response.json(error_body("We could not parse the JSON body of your request."), status=400)
        if not isinstance(body, dict):
            return Response.json(error_body("The request body must be a JSON object."), status=400)
        return self._image_answer(body, references=0)

    def _image_edit(self, request: Request) -> Response:
        try:
            parts = parse_multipart(request.body, request.headers.get("content-type", ""))
        except MultipartError as exc:
            return Response.json(error_body(f"Invalid multipart body: {exc}"), status=400)
        images = [p for p in parts if p.name in ("image[]", "image")]
        if not images:
            return Response.json(
                error_body(
                    "Missing required parameter: 'image'.", param="image", code="missing_required_parameter"
                ),
                status=400,
            )
        if len(images) > 16:
            return Response.json(error_body("At most 16 images may be provided.", param="image"), status=400)
        for image in images:
            if image.filename is None or image_dimensions(image.data) is None:
                return Response.json(
                    error_body(
                        "Invalid image file: expected a png, webp or jpg file.",
                        param="image",
                        code="invalid_image_file",
                    ),
                    status=400,
                )
        fields = {p.name: p.text for p in parts if p.filename is None}
        return self._image_answer(fields, references=len(images))

    def _image_answer(self, body: dict[str, Any], references: int) -> Response:
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not 1 <= len(prompt) <= 32000:
            return Response.json(
                error_body(
                    "Missing required parameter: 'prompt'.", param="prompt", code="missing_required_parameter"
                ),
                status=400,
            )
        model = body.get("model", "gpt-image-1")
        if model not in IMAGE_MODELS:
            return Response.json(
                error_body(f"Invalid value: '{model}'.", param="model", code="invalid_value"), status=400
            )
        size = body.get("size", "auto")
        if size not in IMAGE_SIZES:
            return Response.json(
                error_body(
                    f"Invalid value: '{size}'. Supported values are: "
                    + ", ".join(f"'{s}'" for s in IMAGE_SIZES)
                    + ".",
                    param="size",
                    code="invalid_value",
                ),
                status=400,
            )
        try:
            n = int(body.get("n", 1))
        except (TypeError, ValueError):
            n = 0
        if not 1 <= n <= 10:
            return Response.json(
                error_body("'n' must be between 1 and 10.", param="n", code="invalid_value"), status=400
            )
        if self._blocked(prompt):
            return self._moderation_error("image_generate")
        w, h = (1024, 1024) if size == "auto" else (int(x) for x in size.split("x"))
        png = base64.b64encode(fake_png(w, h)).decode()
        usage = {
            "input_tokens": 50 + 300 * references,
            "output_tokens": 4160,
            "input_tokens_details": {"image_tokens": 300 * references, "text_tokens": 50},
            "total_tokens": 4210 + 300 * references,
        }
        return Response.json(
            {
                "created": int(self.clock()),
                "data": [{"b64_json": png} for _ in range(n)],
                "background": "opaque",
                "output_format": "png",
                "quality": body.get("quality", "auto"),
                "size": f"{w}x{h}",
                "usage": usage,
            }
        )


def decoded_form(request: Request) -> dict[str, list[Part]]:
    """A recorded multipart request as ``name -> parts`` (for assertions in tests)."""
    out: dict[str, list[Part]] = {}
    for part in parse_multipart(request.body, request.headers.get("content-type", "")):
        out.setdefault(part.name, []).append(part)
    return out


__all__ = [
    "FakeOpenAI",
    "Fault",
    "Part",
    "decoded_form",
    "error_body",
    "fake_mp4",
    "fake_png",
    "image_dimensions",
    "parse_multipart",
]
