"""Loopback fakes of Google's Veo (Gemini API and Vertex AI) and Gemini image endpoints.

They speak the wire protocol of ``shared/providers.md`` §2, §3 and §4.1, validate request
bodies the way the real services do (both image encodings, §2.4/§2.5 limits), serve real
small MP4/PNG bytes, record every request, and inject faults on demand::

    with FakeGemini(polls_until_done=1) as fake:
        fake.faults.append(rate_limited("create", retry_after=3))   # next create answers 429
        fake.faults.append(rai_filtered(["celebrity likeness"]))    # next accepted job is blocked
        fake.faults.append(reset_download(after=2048))              # next byte download resets

Faults live in ``google_faults`` (re-exported here); ``FakeVertex`` in ``vertex_server``.
``chaos`` injects transient faults at random, seeded, for soak tests; ``creates`` counts
accepted jobs (one per rendered node, ever).
"""

from __future__ import annotations

import base64
import binascii
import functools
import os
import random
import re
import struct
import subprocess
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

import imageio_ffmpeg

from .google_faults import (
    CHAOS,
    OUTCOMES,
    Fault,
    gateway_timeout,
    hostile,
    http_error,
    image_safety,
    lost_response,
    operation_failed,
    overloaded,
    prompt_blocked,
    rai_filtered,
    rate_limited,
    reset_download,
    server_error,
    stall,
    text_only,
    truncated_download,
)
from .server import HOSTILE, FakeServer, OtherOrigin, Request, Response, hostile_body

__all__ = [
    "CHAOS", "OUTCOMES", "Clip", "FakeGemini", "FakeVeoBase", "Fault", "ModelCaps", "gateway_timeout", "Operation", "Reject",
    "google_error", "hostile", "http_error", "image_safety", "lost_response", "operation_failed", "overloaded",
    "prompt_blocked", "rai_filtered", "rate_limited", "reset_download", "sample_mp4", "sample_png",
    "server_error", "stall", "text_only", "truncated_download",
]

# -- real media --------------------------------------------------------------------------------

#: Frame size of generated clips per aspect ratio: tiny but real H.264 + AAC at 24 fps.
CLIP_SIZES = {"16:9": (160, 90), "9:16": (90, 160)}


@functools.lru_cache(maxsize=64)
def sample_mp4(seconds: float, aspect: str = "16:9") -> bytes:
    """Return a real MP4 (test pattern + tone) of ``seconds``, generated once per process."""
    width, height = CLIP_SIZES.get(aspect, CLIP_SIZES["16:9"])
    fd, path = tempfile.mkstemp(suffix=".mp4")
    os.close(fd)
    try:
        subprocess.run(
            [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
             "-f", "lavfi", "-i", f"testsrc2=s={width}x{height}:r=24:d={seconds:g}",
             "-f", "lavfi", "-i", f"sine=f=440:d={seconds:g}",
             "-c:v", "libx264", "-preset", "ultrafast", "-crf", "35", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-b:a", "32k", "-shortest", "-movflags", "+faststart", path],
            check=True, capture_output=True,
        )
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


@functools.lru_cache(maxsize=64)
def proto_bytes(text: str) -> bytes:
    """Decode a JSON ``bytes`` field as Google's APIs do: standard or URL-safe base64 (google-genai
    sends URL-safe, the REST docs standard; proto3's JSON mapping accepts both)."""
    return base64.b64decode(text.replace("-", "+").replace("_", "/"), validate=True)


def sample_png(width: int, height: int, rgb: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    """Return a real PNG of ``width``×``height`` (a gradient tinted ``rgb``)."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows += bytes(((rgb[0] + x) % 256, (rgb[1] + y) % 256, rgb[2]))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")


_MAGIC = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8\xff", "image/webp": b"RIFF"}

class Reject(Exception):
    """Raised by validation: becomes a Google error response."""

    def __init__(self, status: int, message: str, error_status: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_status = error_status


def google_error(status: int, message: str, error_status: str, headers: dict[str, str] | None = None) -> Response:
    """A Google-style error body."""
    return Response.json({"error": {"code": status, "message": message, "status": error_status}},
                         status=status, headers=headers)


# -- shared Veo behaviour ----------------------------------------------------------------------

@dataclass
class ModelCaps:
    """What one fake Veo model accepts."""

    resolutions: tuple[str, ...] = ("720p", "1080p", "4k")
    references: bool = True
    extension: bool = True


@dataclass
class Clip:
    """A video this server generated (the bytes come from ``sample_mp4``)."""

    id: str
    seconds: float
    aspect: str
    resolution: str
    created: float
    expired: bool = False


@dataclass
class Operation:
    """A long-running job this server accepted."""

    name: str
    model: str
    body: dict[str, Any]
    seconds: float
    aspect: str
    resolution: str
    samples: int = 1
    storage_uri: str = ""
    outcome: str = "ok"
    fault: Fault | None = None
    polls: int = 0
    clips: list[Clip] = field(default_factory=list)


class FakeVeoBase(FakeServer):
    """Request validation, operations and clip storage common to both Veo fakes."""

    api = "gemini"
    models: ClassVar[dict[str, ModelCaps]] = {}
    instance_keys = frozenset({"prompt", "image", "lastFrame", "referenceImages", "video"})
    parameter_keys = frozenset({"aspectRatio", "resolution", "durationSeconds", "negativePrompt",
                                "personGeneration", "sampleCount", "numberOfVideos", "enhancePrompt", "seed"})
    max_extend_input = 141.0
    max_samples = 1

    def __init__(
        self,
        *,
        polls_until_done: int = 1,
        file_ttl: float | None = None,
        chaos: random.Random | None = None,
        chaos_rate: float = 0.0,
        chaos_outcomes: Sequence[str] = (),
    ) -> None:
        """``polls_until_done``: polls answered "running" before "done". ``file_ttl``: seconds
        after which generated videos answer 404 (Veo keeps them 2 days). ``chaos``: a seeded
        RNG that injects a transient fault (``CHAOS``) on a request with ``chaos_rate``
        probability, and a ``chaos_outcomes`` outcome on an accepted job likewise."""
        super().__init__()
        self.polls_until_done = polls_until_done
        self.file_ttl = file_ttl
        self.chaos = chaos
        self.chaos_rate = chaos_rate
        self.chaos_outcomes = tuple(chaos_outcomes)
        self.clock: Callable[[], float] = time.time
        self.operations: dict[str, Operation] = {}
        self.clips: dict[str, Clip] = {}
        #: Prompt substring -> outcome ("rai", "stall", "error", or "expired": done, but the
        #: video is already gone) for every job whose prompt contains it: per-shot faults that
        #: follow a shot through every run, where queued faults follow the request order.
        self.prompt_outcomes: dict[str, str] = {}

    # -- public helpers -------------------------------------------------------------------
    @property
    def creates(self) -> int:
        """Jobs this server accepted (a create answered 200)."""
        with self.lock:
            return len(self.operations)

    def jobs_by_prompt(self) -> dict[str, int]:
        """How many jobs were accepted per prompt (extensions and references included)."""
        counts: dict[str, int] = {}
        with self.lock:
            for op in self.operations.values():
                prompt = str((op.body.get("instances") or [{}])[0].get("prompt", ""))
                counts[prompt] = counts.get(prompt, 0) + 1
        return counts

    def expire_files(self) -> None:
        """Make every generated video answer 404 from now on (as after Veo's 2 days)."""
        with self.lock:
            for clip in self.clips.values():
                clip.expired = True

    def finish_all(self) -> None:
        """Let every stalled job finish on its next poll."""
        with self.lock:
            for op in self.operations.values():
                if op.outcome == "stall":
                    op.outcome = "ok"
                    op.polls = self.polls_until_done

    def route_requests(self, route: str) -> list[Request]:
        """Recorded requests that hit ``route`` (create, poll, download, bytes, generate)."""
        with self.lock:
            return [r for r in self.requests if self.route_of(r) == route]

    def route_of(self, request: Request) -> str:  # pragma: no cover - overridden
        raise NotImplementedError

    # -- faults -----------------------------------------------------------------------------
    def next_fault(self, route: str) -> Fault | None:
        """The queued fault for ``route``, else maybe a chaos one."""
        fault = self.take_fault(lambda f: isinstance(f, Fault) and f.route == route)
        if fault is None and self.chaos is not None and route in CHAOS:
            with self.lock:
                if self.chaos.random() < self.chaos_rate:
                    fault = self.chaos.choice(CHAOS[route])()
        return fault  # type: ignore[no-any-return]

    def http_fault(self, route: str) -> Response | None:
        """An error response if an HTTP-level fault is due on ``route``."""
        fault = self.next_fault(route)
        if fault is None:
            return None
        if fault.status:
            return google_error(fault.status, fault.message, fault.error_status, fault.headers)
        with self.lock:  # a byte-level fault arrived on a route without bytes: keep it for later
            self.faults.insert(0, fault)
        return None

    def outcome_fault(self) -> Fault | None:
        fault = self.take_fault(lambda f: isinstance(f, Fault) and f.route == "operation")
        if fault is None and self.chaos is not None and self.chaos_outcomes:
            with self.lock:
                if self.chaos.random() < self.chaos_rate:
                    fault = OUTCOMES[self.chaos.choice(self.chaos_outcomes)]()
        return fault  # type: ignore[no-any-return]

    def serve_clip(self, clip: Clip, route: str = "bytes") -> Response:
        """Serve a clip's bytes, applying reset/truncate faults; 404 once expired."""
        if self.is_expired(clip):
            return google_error(404, f"File {clip.id} not found (it may have expired).", "NOT_FOUND")
        data = sample_mp4(clip.seconds, clip.aspect)
        fault = self.next_fault(route)
        resp = Response(body=data, headers={"content-type": "video/mp4"})
        if fault is not None and fault.status:
            return google_error(fault.status, fault.message, fault.error_status, fault.headers)
        if fault is not None and fault.outcome in HOSTILE:
            return hostile_body(fault.outcome, data, resp.headers)
        if fault is not None and fault.reset_after is not None:
            resp.abort_after = fault.reset_after
        if fault is not None and fault.truncate_by is not None:
            resp.body = data[: max(0, len(data) - fault.truncate_by)]
            resp.declared_length = len(data)
        return resp

    def is_expired(self, clip: Clip) -> bool:
        return clip.expired or (self.file_ttl is not None and self.clock() - clip.created > self.file_ttl)

    # -- validation -------------------------------------------------------------------------
    def decode_image(self, value: Any, where: str) -> bytes:
        """Decode an image value in the encodings this API accepts, checking its bytes."""
        if not isinstance(value, dict):
            raise Reject(400, f"Invalid value at '{where}': expected an object")
        if self.api == "gemini" and "inlineData" in value:
            inline = value["inlineData"]
            if not isinstance(inline, dict):
                raise Reject(400, f"Invalid value at '{where}.inlineData'")
            mime, data = inline.get("mimeType"), inline.get("data")
        elif "bytesBase64Encoded" in value:
            mime, data = value.get("mimeType"), value.get("bytesBase64Encoded")
        elif "gcsUri" in value:
            if self.api == "gemini":
                raise Reject(400, f"{where}: gcsUri is not supported in Gemini API.")
            return self.read_gcs(str(value["gcsUri"]), where)
        else:
            raise Reject(400, f"{where}: an image needs inlineData or bytesBase64Encoded + mimeType")
        if mime not in _MAGIC:
            raise Reject(400, f"{where}: unsupported mimeType {mime!r}; use image/png, image/jpeg or image/webp")
        try:
            raw = proto_bytes(str(data))
        except (binascii.Error, ValueError) as exc:
            raise Reject(400, f"{where}: invalid base64 data") from exc
        if not raw.startswith(_MAGIC[str(mime)]):
            raise Reject(400, f"{where}: the bytes are not a valid {mime} image")
        return raw

    def read_gcs(self, uri: str, where: str) -> bytes:  # overridden by the Vertex fake
        raise Reject(400, f"{where}: gcsUri is not supported")

    def source_clip(self, video: Any) -> Clip:  # pragma: no cover - overridden
        raise NotImplementedError

    def validate(self, model: str, body: Any) -> Operation:
        """Check a predictLongRunning body like the real API (§2.3–2.5, §3); return the job."""
        caps = self.models.get(model)
        if caps is None:
            raise Reject(404, f"models/{model} is not found for API version {self.api_version}, "
                              "or is not supported for predictLongRunning.", "NOT_FOUND")
        if not isinstance(body, dict) or not isinstance(body.get("instances"), list):
            raise Reject(400, "Invalid JSON payload received. 'instances' must be a list.")
        if len(body["instances"]) != 1:
            raise Reject(400, "Exactly one instance is supported per request.")
        instance = body["instances"][0]
        if not isinstance(instance, dict):
            raise Reject(400, "Invalid value at 'instances[0]'")
        for key in instance:
            if key not in self.instance_keys:
                raise Reject(400, f"Invalid JSON payload received. Unknown name \"{key}\" at 'instances[0]': "
                                  "Cannot find field.")
        params = body.get("parameters") or {}
        if not isinstance(params, dict):
            raise Reject(400, "Invalid value at 'parameters'")
        for key in params:
            if key not in self.parameter_keys:
                raise Reject(400, f"Invalid JSON payload received. Unknown name \"{key}\" at 'parameters': "
                                  "Cannot find field.")
        prompt = instance.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            raise Reject(400, "instances[0].prompt must be a string")
        has_image = "image" in instance
        if has_image:
            self.decode_image(instance["image"], "instances[0].image")
        if "lastFrame" in instance:
            if not has_image:
                raise Reject(400, "lastFrame requires image (the first frame).")
            self.decode_image(instance["lastFrame"], "instances[0].lastFrame")
        refs = instance.get("referenceImages")
        if refs is not None:
            if not caps.references:
                raise Reject(400, f"Reference images are not supported for {model}.")
            if not isinstance(refs, list) or not refs:
                raise Reject(400, "referenceImages must be a non-empty list")
            if len(refs) > 3:
                raise Reject(400, f"At most 3 reference images are supported, got {len(refs)}.")
            if has_image or "video" in instance:
                raise Reject(400, "referenceImages cannot be combined with image, lastFrame or video.")
            for i, ref in enumerate(refs):
                where = f"instances[0].referenceImages[{i}]"
                if not isinstance(ref, dict):
                    raise Reject(400, f"Invalid value at '{where}'")
                kind = str(ref.get("referenceType", "")).lower()
                allowed = ("asset", "style") if self.api == "vertex" else ("asset",)
                if kind not in allowed:
                    raise Reject(400, f"{where}.referenceType must be one of {', '.join(allowed)}")
                self.decode_image(ref.get("image"), f"{where}.image")
        source: Clip | None = None
        if "video" in instance:
            if has_image:
                raise Reject(400, "video (extension) cannot be combined with image or lastFrame.")
            if not caps.extension:
                raise Reject(400, f"Video extension is not supported for {model}.")
            source = self.source_clip(instance["video"])
        if not (prompt or "").strip() and (not has_image or refs is not None):
            raise Reject(400, "A text prompt is required.")
        aspect = params.get("aspectRatio", "16:9")
        if aspect not in ("16:9", "9:16"):
            raise Reject(400, f"Unsupported aspect ratio {aspect!r}; supported: 16:9, 9:16.")
        resolution = params.get("resolution", "720p")
        if resolution not in caps.resolutions:
            raise Reject(400, f"Unsupported resolution {resolution!r} for {model}; "
                              f"supported: {', '.join(caps.resolutions)}.")
        raw_duration = params.get("durationSeconds", 8)
        if isinstance(raw_duration, bool) or not isinstance(raw_duration, (int, str)) or \
                not str(raw_duration).isdigit() or int(raw_duration) not in (4, 6, 8):
            raise Reject(400, f"Unsupported durationSeconds {raw_duration!r}; supported: 4, 6, 8.")
        duration = int(raw_duration)
        needs_eight = [why for why, on in (("1080p", resolution == "1080p"), ("4k", resolution == "4k"),
                                           ("reference images", refs is not None), ("extension", source is not None))
                       if on]
        if needs_eight and duration != 8:
            raise Reject(400, f"durationSeconds must be 8 when using {needs_eight[0]}.")
        person = params.get("personGeneration")
        if person is not None:
            image_based = has_image or refs is not None
            allowed_people = ("allow_adult",) if image_based else ("allow_all",)
            if person not in allowed_people:
                raise Reject(400, f"{person} for personGeneration is currently not supported.")
        if "negativePrompt" in params and not isinstance(params["negativePrompt"], str):
            raise Reject(400, "parameters.negativePrompt must be a string")
        count = params.get("sampleCount", params.get("numberOfVideos", 1))
        if not isinstance(count, int) or not 1 <= count <= self.max_samples:
            raise Reject(400, f"sampleCount must be between 1 and {self.max_samples}.")
        seconds = float(duration)
        if source is not None:
            if resolution != "720p" or source.resolution != "720p":
                raise Reject(400, "Video extension only supports 720p.")
            if source.seconds > self.max_extend_input:
                raise Reject(400, f"The input video is too long to extend ({source.seconds:g} s > "
                                  f"{self.max_extend_input:g} s).")
            seconds = source.seconds + 7.0
            aspect = source.aspect
        return Operation(name="", model=model, body=body, seconds=seconds, aspect=aspect,
                         resolution=resolution, samples=count, storage_uri=str(params.get("storageUri", "")))

    def accept(self, op: Operation, name: str) -> Operation:
        """Register a validated job under ``name``, attaching any queued outcome fault."""
        op.name = name
        fault = self.outcome_fault()
        if fault is not None:
            op.outcome, op.fault = fault.outcome, fault
        else:
            prompt = str(op.body["instances"][0].get("prompt") or "").lower()
            for term, outcome in self.prompt_outcomes.items():
                if term.lower() in prompt:
                    op.outcome, op.fault = outcome, OUTCOMES[outcome]() if outcome in OUTCOMES else None
                    break
        with self.lock:
            self.operations[name] = op
        return op

    def answer_create(self, name: str) -> Response:
        """``{"name": ...}``, or a reset connection if a ``lost_response`` fault is due."""
        response = Response.json({"name": name})
        if self.take_fault(lambda f: isinstance(f, Fault) and f.route == "create" and f.outcome == "gateway_timeout"):
            return google_error(504, "Gateway timeout: the upstream did not answer in time.", "DEADLINE_EXCEEDED")
        if self.take_fault(lambda f: isinstance(f, Fault) and f.route == "create" and f.outcome == "lost"):
            response.abort_after = 0
        return response

    def advance(self, op: Operation) -> bool:
        """Count a poll; return True when the job is done (making its clips on first done)."""
        with self.lock:
            op.polls += 1
            if op.outcome == "stall" or op.polls <= self.polls_until_done:
                return False
            if op.outcome in ("ok", "expired") and not op.clips:
                for _ in range(op.samples):
                    clip = Clip(id=uuid.uuid4().hex[:12], seconds=op.seconds, aspect=op.aspect,
                                resolution=op.resolution, created=self.clock(), expired=op.outcome == "expired")
                    self.clips[clip.id] = clip
                    op.clips.append(clip)
            return True

    def running_body(self, op: Operation) -> dict[str, Any]:
        """First "running" answer omits ``done`` (proto3 JSON), later ones say ``done: false``."""
        body: dict[str, Any] = {"name": op.name}
        if op.polls > 1:
            body["done"] = False
        return body

    def failure_body(self, op: Operation) -> dict[str, Any] | None:
        """The ``error`` body of a failed job, or None."""
        if op.outcome == "error" and op.fault is not None:
            return {"name": op.name, "done": True,
                    "error": {"code": op.fault.rpc_code, "message": op.fault.message}}
        return None

    @property
    def api_version(self) -> str:
        return "v1beta" if self.api == "gemini" else "v1"


# -- Gemini API --------------------------------------------------------------------------------

GEMINI_VEO_MODELS = {
    "veo-3.1-generate-preview": ModelCaps(),
    "veo-3.1-fast-generate-preview": ModelCaps(),
    "veo-3.1-lite-generate-preview": ModelCaps(resolutions=("720p", "1080p"), references=False, extension=False),
}
#: The image models the Gemini API serves on 2026-11-28 (the -preview ids shut down on 2026-06-25).
GEMINI_IMAGE_MODELS = ("gemini-3-pro-image", "gemini-3.1-flash-image", "gemini-nano-banana-2.1")
IMAGE_ASPECTS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
#: Fake image sizes: small, but with the requested aspect ratio.
IMAGE_BASE = {"1K": 64, "2K": 96, "4K": 128}

_VEO_CREATE = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):predictLongRunning$")
_VEO_OPERATION = re.compile(r"^/v1beta/(?P<name>(?:models/(?P<model>[^/:]+)/)?operations/(?P<id>[^/:]+))$")
_FILE_DOWNLOAD = re.compile(r"^/v1beta/files/(?P<id>[^/:]+):download$")
_BLOB = re.compile(r"^/blob/(?P<id>[^/]+)$")
_GENERATE = re.compile(r"^/v1beta/models/(?P<model>[^/:]+):generateContent$")


class FakeGemini(FakeVeoBase):
    """The Gemini API: Veo ``predictLongRunning`` + operations + files, and ``generateContent``."""

    api = "gemini"
    models = GEMINI_VEO_MODELS

    def __init__(self, *, api_key: str = "fake-gemini-key", image_thoughts: bool = True,
                 gateway_names: bool = False, **kwargs: Any) -> None:
        """``api_key``: the only key accepted. ``image_thoughts``: generateContent answers also
        carry ``thought: true`` text and image parts (which clients must skip). ``gateway_names``:
        operations are named ``operations/{id}``, as some gateways name them."""
        super().__init__(**kwargs)
        self.gateway_names = gateway_names
        #: Image model ids generateContent serves (a test may add retired ones a gateway still serves).
        self.image_models: tuple[str, ...] = GEMINI_IMAGE_MODELS
        #: (mime, bytes) to answer instead of a drawn PNG (the API may answer JPEG or WebP).
        self.answer_image: tuple[str, bytes] | None = None
        self.api_key = api_key
        self.image_thoughts = image_thoughts
        #: When set, file downloads redirect to this other origin (as Google's go to a signed
        #: URL on another host), and ``result_host`` makes finished operations name a video URI
        #: there: both must be fetched without the key.
        self.redirect_host: OtherOrigin | None = None
        self.result_host: OtherOrigin | None = None
        #: PNG bytes of the last final (non-thought) image served, for byte-exact assertions.
        self.last_image: bytes = b""

    def images_by_prompt(self) -> dict[str, int]:
        """How many generateContent calls were answered 200, per prompt (the first text part)."""
        counts: dict[str, int] = {}
        with self.lock:
            for request, status in self.answered:
                if status == 200 and self.route_of(request) == "generate":
                    prompt = str(request.json()["contents"][0]["parts"][0].get("text", ""))
                    counts[prompt] = counts.get(prompt, 0) + 1
        return counts

    def route_of(self, request: Request) -> str:
        path = request.path
        if _VEO_CREATE.match(path):
            return "create"
        if _VEO_OPERATION.match(path):
            return "poll"
        if _FILE_DOWNLOAD.match(path):
            return "download"
        if _BLOB.match(path):
            return "bytes"
        if _GENERATE.match(path):
            return "generate"
        return "other"

    def download_uri(self, clip: Clip) -> str:
        """The URI a finished operation names for ``clip`` (what the real API returns)."""
        if self.result_host is not None:
            self.result_host.files[f"/videos/{clip.id}.mp4"] = sample_mp4(clip.seconds, clip.aspect)
            return f"{self.result_host.url}/videos/{clip.id}.mp4"
        return f"{self.url}/v1beta/files/{clip.id}:download?alt=media"

    def handle(self, request: Request) -> Response:
        route = self.route_of(request)
        if route == "bytes":  # the redirect target is a signed URL: no key needed
            match = _BLOB.match(request.path)
            assert match is not None
            clip = self.clips.get(match.group("id"))
            if clip is None:
                return google_error(404, "Not found.", "NOT_FOUND")
            return self.serve_clip(clip)
        if route == "other":
            return google_error(404, f"Method not found: {request.method} {request.path}", "NOT_FOUND")
        denied = self.check_key(request)
        if denied is not None:
            return denied
        fault = self.http_fault(route)
        if fault is not None:
            return fault
        try:
            if route == "create" and request.method == "POST":
                return self.create(request)
            if route == "poll" and request.method == "GET":
                return self.poll(request)
            if route == "download" and request.method == "GET":
                return self.download(request)
            if route == "generate" and request.method == "POST":
                return self.generate(request)
        except Reject as exc:
            return google_error(exc.status, exc.message, exc.error_status)
        return google_error(405, f"Method {request.method} not allowed on {request.path}", "INVALID_ARGUMENT")

    def check_key(self, request: Request) -> Response | None:
        key = request.headers.get("x-goog-api-key") or (request.query.get("key") or [""])[0]
        if not key:
            return google_error(403, "Method doesn't allow unregistered callers (callers without established "
                                     "identity). Please use API Key or other form of API consumer identity "
                                     "to call this API.", "PERMISSION_DENIED")
        if key != self.api_key:
            return google_error(400, "API key not valid. Please pass a valid API key.", "INVALID_ARGUMENT")
        return None

    def create(self, request: Request) -> Response:
        match = _VEO_CREATE.match(request.path)
        assert match is not None
        try:
            body = request.json()
        except ValueError as exc:
            raise Reject(400, "Invalid JSON payload received.") from exc
        op = self.validate(match.group("model"), body)
        prefix = "" if self.gateway_names else f"models/{op.model}/"
        name = f"{prefix}operations/{uuid.uuid4().hex[:16]}"
        self.accept(op, name)
        return self.answer_create(name)

    def source_clip(self, video: Any) -> Clip:
        if not isinstance(video, dict):
            raise Reject(400, "Invalid value at 'instances[0].video'")
        clip: Clip | None = None
        if "uri" in video:
            match = re.search(r"/files/([^/:?]+)", urlsplit(str(video["uri"])).path)
            clip = self.clips.get(match.group(1)) if match else None
        elif "encodedVideo" in video:
            try:
                raw = proto_bytes(str(video["encodedVideo"]))
            except (binascii.Error, ValueError) as exc:
                raise Reject(400, "instances[0].video.encodedVideo: invalid base64") from exc
            clip = next((c for c in self.clips.values() if sample_mp4(c.seconds, c.aspect) == raw), None)
        elif "inlineData" in video:
            raise Reject(400, "instances[0].video: pass the uri of a Veo-generated video")
        if clip is None:
            raise Reject(400, "The input video must be a video generated by Veo (pass the uri from a previous "
                              "generation).")
        if self.is_expired(clip):
            raise Reject(400, "The input video has expired: only videos generated in the last 2 days can be "
                              "extended.", "FAILED_PRECONDITION")
        clip.created = self.clock()  # using a video as an extension input resets its retention
        return clip

    def poll(self, request: Request) -> Response:
        match = _VEO_OPERATION.match(request.path)
        assert match is not None
        op = self.operations.get(match.group("name"))
        if op is None:
            return google_error(404, f"Operation {match.group('name')} not found.", "NOT_FOUND")
        if not self.advance(op):
            return Response.json(self.running_body(op))
        failure = self.failure_body(op)
        if failure is not None:
            return Response.json(failure)
        result: dict[str, Any]
        if op.outcome == "rai":
            reasons = op.fault.reasons if op.fault else []
            result = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": reasons}
        else:
            result = {"generatedSamples": [{"video": {"uri": self.download_uri(c)}} for c in op.clips]}
        return Response.json({"name": op.name, "done": True, "response": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
            "generateVideoResponse": result}})

    def download(self, request: Request) -> Response:
        match = _FILE_DOWNLOAD.match(request.path)
        assert match is not None
        if request.query.get("alt") != ["media"]:
            return google_error(400, "Downloads need alt=media.", "INVALID_ARGUMENT")
        clip = self.clips.get(match.group("id"))
        if clip is None or self.is_expired(clip):
            return google_error(404, f"File files/{match.group('id')} not found.", "NOT_FOUND")
        host = self.url
        if self.redirect_host is not None:
            self.redirect_host.files[f"/blob/{clip.id}"] = sample_mp4(clip.seconds, clip.aspect)
            host = self.redirect_host.url
        return Response(status=302, headers={"location": f"{host}/blob/{clip.id}?sig={uuid.uuid4().hex}"})

    # -- Gemini image -----------------------------------------------------------------------
    def generate(self, request: Request) -> Response:
        match = _GENERATE.match(request.path)
        assert match is not None
        model = match.group("model")
        if model not in self.image_models:
            raise Reject(404, f"models/{model} is not found for API version v1beta, or is not supported "
                              "for generateContent.", "NOT_FOUND")
        try:
            body = request.json()
        except ValueError as exc:
            raise Reject(400, "Invalid JSON payload received.") from exc
        aspect, size = self.validate_generate(body)
        fault = self.next_fault("generate")
        if fault is not None and fault.status:
            return google_error(fault.status, fault.message, fault.error_status, fault.headers)
        if fault is not None and fault.outcome == "prompt_blocked":
            return Response.json({"promptFeedback": {"blockReason": fault.message,
                                                     "blockReasonMessage": "The prompt was blocked."},
                                  "modelVersion": model})
        if fault is not None and fault.outcome == "image_safety":
            return Response.json({"candidates": [{"finishReason": fault.message, "index": 0,
                                                  "finishMessage": "Unable to show the generated image."}],
                                  "modelVersion": model})
        parts: list[dict[str, Any]] = []
        if self.image_thoughts:
            draft = sample_png(16, 16, (250, 10, 10))
            parts += [{"text": "**Planning the turnaround**", "thought": True},
                      {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(draft).decode()},
                       "thought": True}]
        parts.append({"text": "Here is the character sheet."})
        if fault is None or fault.outcome != "text_only":
            w_ratio, h_ratio = (int(n) for n in aspect.split(":"))
            base = IMAGE_BASE[size]
            width, height = (base, base * h_ratio // w_ratio) if w_ratio >= h_ratio else (base * w_ratio // h_ratio, base)
            mime, final = self.answer_image or ("image/png", sample_png(max(width, 1), max(height, 1)))
            self.last_image = final
            parts.append({"inlineData": {"mimeType": mime, "data": base64.b64encode(final).decode()},
                          "thoughtSignature": "c2lnbmF0dXJl"})
        return Response.json({"candidates": [{"content": {"role": "model", "parts": parts},
                                              "finishReason": "STOP", "index": 0}],
                              "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 1290},
                              "modelVersion": model, "responseId": uuid.uuid4().hex[:12]})

    def validate_generate(self, body: Any) -> tuple[str, str]:
        """Check a generateContent body (camelCase or snake_case); return (aspect, imageSize)."""
        def get(obj: dict[str, Any], camel: str, snake: str) -> Any:
            return obj.get(camel, obj.get(snake))

        if not isinstance(body, dict) or not isinstance(body.get("contents"), list) or not body["contents"]:
            raise Reject(400, "* GenerateContentRequest.contents: contents is not specified")
        texts = images = 0
        for ci, content in enumerate(body["contents"]):
            parts = content.get("parts") if isinstance(content, dict) else None
            if not isinstance(parts, list) or not parts:
                raise Reject(400, f"* GenerateContentRequest.contents[{ci}].parts: contents.parts must not be empty.")
            for pi, part in enumerate(parts):
                inline = get(part, "inlineData", "inline_data") if isinstance(part, dict) else None
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    texts += 1
                elif isinstance(inline, dict):
                    images += 1
                    self.decode_image({"inlineData": {"mimeType": get(inline, "mimeType", "mime_type"),
                                                      "data": inline.get("data")}},
                                      f"contents[{ci}].parts[{pi}]")
                else:
                    raise Reject(400, f"contents[{ci}].parts[{pi}]: a part needs text or inlineData")
        if texts == 0:
            raise Reject(400, "A text prompt is required.")
        if images > 14:
            raise Reject(400, f"At most 14 input images are supported, got {images}.")
        config = get(body, "generationConfig", "generation_config") or {}
        modalities = get(config, "responseModalities", "response_modalities") or []
        if "IMAGE" not in [str(m).upper() for m in modalities]:
            raise Reject(400, "responseModalities must include IMAGE for image generation models.")
        image_config = get(config, "imageConfig", "image_config") or {}
        for key in image_config:
            if key not in ("aspectRatio", "aspect_ratio", "imageSize", "image_size"):
                raise Reject(400, f"Invalid JSON payload received. Unknown name \"{key}\" at "
                                  "'generation_config.image_config': Cannot find field.")
        aspect = get(image_config, "aspectRatio", "aspect_ratio") or "1:1"
        size = get(image_config, "imageSize", "image_size") or "1K"
        if aspect not in IMAGE_ASPECTS:
            raise Reject(400, f"Unsupported aspect ratio {aspect!r}.")
        if size not in IMAGE_BASE:
            raise Reject(400, f"Unsupported image size {size!r}; supported: 1K, 2K, 4K.")
        return str(aspect), str(size)
