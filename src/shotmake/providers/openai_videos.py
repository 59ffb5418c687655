"""Sora 2 over the OpenAI Videos API: multipart create, poll, streamed ``/content`` download.

The job trio maps onto the API one call each (``POST /videos``, ``GET /videos/{id}``,
``GET /videos/{id}/content``); ``reconcile`` lists recent videos to find a job whose create
call reached the server while its id was lost. Nothing is retried here: the executor owns
retries, so each method makes exactly one request (``reconcile`` may page through a list).

Limits come from the catalog and are enforced before any request, because every refusal the
server would give costs a round trip and, for a misread limit, a quota slot. The Sora API is
scheduled to shut down on 2026-09-24; a gone model or endpoint becomes ``RouteGone`` naming the
alternatives, while a 404 about one video (expired, deleted) is a ``TerminalError`` of that
node only. Example::

    sora = from_env("sora-2", os.environ)
    job = sora.submit(request)
    while (status := sora.poll(job)).state in ("queued", "running"):
        time.sleep(status.poll_after or 10)
    sora.download(job, Path("clip.mp4"), status)
"""

from __future__ import annotations

import math
import re
import struct
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from ..errors import JobGone, ProviderError, RetryableError, RouteGone, TerminalError
from . import catalog
from .base import InputFile, JobState, JobStatus, Provider, RenderRequest
from .http import GONE_NOTICE, BodyLimits, UncertainCreates, parse_poll_after_ms, route_gone
from .openai_http import (
    DEFAULT_BASE_URL,
    MODEL_GONE_CODES,
    MODERATION_CODES,
    Credentials,
    credentials_from_env,
    describe,
    http_error,
    network_error,
    parse_error_body,
)

#: Output sizes per catalog resolution (the spec's enum; 1024/1792 sizes are sora-2-pro only).
SIZES_BY_RESOLUTION: Mapping[str, tuple[str, ...]] = {
    "720p": ("1280x720", "720x1280"),
    "1024p": ("1792x1024", "1024x1792"),
}
INPUT_MIMES = ("image/png", "image/jpeg", "image/webp")
MAX_PROMPT = 32000
MAX_CHARACTERS = 2
#: ``InputFile.meta`` key marking a reference that is a Sora character (sent by id, not as a file).
CHARACTER_META_KEY = "openai_character_id"
_STATES: Mapping[str, JobState] = {
    "queued": "queued",
    "in_progress": "running",
    "completed": "succeeded",
    "failed": "failed",
}
#: Create answers after which the job may exist anyway (gateway timeouts, server errors).
#: Failed-job codes where the job died for the server's reasons: a new submission may succeed.
_TRANSIENT_JOB_CODES = frozenset(
    {"server_error", "internal_error", "overloaded", "timeout", "rate_limit_exceeded"}
)
#: Paths about the model or a collection: a 404/410 there means the route is gone (``http.route_gone``).
_MODEL_PATHS = frozenset({"/videos", "/videos/characters"})


class OpenAIVideos(Provider):
    """Render clips with ``sora-2`` / ``sora-2-pro`` as remote jobs on the OpenAI Videos API.

    ``client`` is injected so tests (and the registry) share connection pools; the adapter
    closes only a client it created. ``seconds``/``sizes`` override the catalog's allowed
    values for gateways that accept more (e.g. 16/20 s clips, which the spec does not list).
    """

    remote = True

    def __init__(
        self,
        route: str | catalog.Route = "sora-2",
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.Client | None = None,
        seconds: Iterable[int] | None = None,
        sizes: Iterable[str] | None = None,
        prices: Mapping[str, float] | None = None,
        reconcile_skew: float = 5.0,
        reconcile_pages: int = 5,
        clock: Callable[[], float] = time.time,
        limits: BodyLimits | None = None,
    ) -> None:
        """``limits`` caps each answer and download (default: the route's ``max_download_mb``)."""
        info = catalog.adapter_route(route, ("openai-videos",), "OpenAIVideos")
        self.name = info.name
        self.route = info
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))
        self._session = Credentials(api_key=api_key, base_url=base_url).session(
            self._client, provider=info.name, limits=limits or BodyLimits.for_route(info.max_download_mb))
        self.seconds = (
            tuple(sorted(seconds)) if seconds is not None else tuple(int(d) for d in info.durations)
        )
        self.sizes = (
            tuple(sizes)
            if sizes is not None
            else tuple(s for res in info.resolutions for s in SIZES_BY_RESOLUTION.get(res, ()))
        )
        self.prices = dict(prices) if prices is not None else dict(info.price)
        #: Seconds of clock difference tolerated between us and the server when reconciling.
        self.reconcile_skew = reconcile_skew
        self.reconcile_pages = reconcile_pages
        self.clock = clock
        #: Creates whose outcome is unknown (response lost, 5xx), adopted by the next submit.
        self._uncertain = UncertainCreates()

    def __repr__(self) -> str:
        return f"OpenAIVideos(route={self.name!r}, session={self._session!r})"

    # -- the Provider interface ---------------------------------------------------------------
    def estimate_cost(self, request: RenderRequest) -> float:
        """Seconds times the per-second price of the output size (720p or 1024p)."""
        rate = self.prices.get(_price_key(request), self.prices.get("*", 0.0))
        return float(request.duration) * float(rate)

    def submit(self, request: RenderRequest) -> str:
        """Create the video job (one multipart POST) and return its id; limits are checked first.

        A create whose outcome is unknown (connection lost after sending, 500/502/504) is
        remembered by node key, and the next ``submit`` of that key first looks for the job
        with ``reconcile``: an in-process retry never pays twice for a job that did start.
        """
        seconds, size = self.check(request)
        found = self._uncertain.adopt(request, self.reconcile)
        if found is not None:
            return found
        image, characters = _split_inputs(request, self.name)
        fields: dict[str, Any] = {
            "prompt": request.prompt,
            "model": catalog.wire_model(self.route, request.model),
            "seconds": seconds,
            "size": size,
        }
        if characters:
            # Wire format UNCONFIRMED (providers.md 1.8): the SDK's bracket flattening of a list.
            fields["characters[]"] = list(characters)
        started = self.clock()
        with ExitStack() as stack:
            files: Any = _ForceMultipart()
            if image is not None:
                handle = stack.enter_context(open(image.path, "rb"))
                files = [("input_reference", (image.path.name, handle, image.mime))]
            try:
                response = self._request("POST", "/videos", node=request.node_id, data=fields, files=files)
            except RetryableError as exc:
                self._uncertain.failed(request.key, started, error=exc)
                raise
        if response.status_code >= 400:
            self._uncertain.failed(request.key, started, status=response.status_code)
            raise self._error(response, "/videos", request.node_id, "create")
        self._uncertain.settled(request.key)
        try:
            video = self._json(response, node=request.node_id)
        except RetryableError as exc:
            raise TerminalError(
                f"{exc.message}; the job may exist: check the OpenAI dashboard before rerunning",
                provider=self.name,
                node=request.node_id,
            ) from exc
        job_id = video.get("id")
        if not isinstance(job_id, str) or not job_id:
            # Not retryable: the server accepted something, and a second create could pay twice.
            raise TerminalError(
                f"create answered without a video id: {str(video)[:200]}; check the OpenAI dashboard",
                provider=self.name,
                node=request.node_id,
            )
        return job_id

    def poll(self, job_id: str) -> JobStatus:
        """Retrieve the job; ``progress`` is a fraction in [0, 1]; moderation failures are terminal."""
        response = self._send("GET", f"/videos/{job_id}", what=f"poll {job_id}")
        video = self._json(response)
        return self._status(video, _poll_after(response.headers))

    def download(self, job_id: str, dest: Path, status: JobStatus) -> dict[str, Any]:
        """Stream the MP4 to ``dest`` (atomically, constant memory) and return its metadata."""
        if status.state != "succeeded":
            raise ProviderError(
                f"video {job_id} is {status.state}, not completed; nothing to download", provider=self.name
            )
        failed: list[httpx.Response] = []

        def remember(response: httpx.Response) -> str:
            failed.append(response)
            return self._session.redact(describe(parse_error_body(response)))

        try:
            size = self._session.download(
                self._session.url(f"/videos/{job_id}/content"),
                dest,
                headers={"Accept": "application/binary"},
                params={"variant": "video"},
                describe_error=remember,
            )
        except ProviderError as exc:
            if failed:  # the server answered an error status: map it like any other call
                raise self._error(failed[0], f"/videos/{job_id}/content", "", f"download {job_id}") from exc
            raise
        with open(dest, "rb") as fh:
            head = fh.read(12)
        if head[4:8] != b"ftyp":
            dest.unlink(missing_ok=True)
            raise RetryableError(
                f"download {job_id}: the content is not an MP4 (no ftyp box)", provider=self.name
            )
        meta = {
            k: status.meta[k]
            for k in ("model", "seconds", "size", "created_at", "expires_at")
            if k in status.meta
        }
        return {"provider": self.name, "remote_id": job_id, "bytes": size, **meta}

    def reconcile(self, request: RenderRequest, submitted_after: float) -> str | None:
        """Find the one listed video matching prompt, model, seconds and size created since the intent.

        Lists newest first and stops at the first video older than ``submitted_after`` minus
        ``reconcile_skew`` (server timestamps are whole seconds from another clock). Two or more
        matches are as uncertain as none: return None rather than guess.
        """
        seconds, size = self.check(request)
        threshold = math.floor(submitted_after - self.reconcile_skew)
        matches: list[str] = []
        after: str | None = None
        for _ in range(self.reconcile_pages):
            params = {"limit": "100", "order": "desc", **({"after": after} if after else {})}
            page = self._json(
                self._send("GET", "/videos", node=request.node_id, what="reconcile", params=params),
                node=request.node_id,
            )
            data = [v for v in page.get("data") or [] if isinstance(v, dict)]
            reached_older = False
            for video in data:
                created = video.get("created_at")
                if not isinstance(created, (int, float)) or created < threshold:
                    reached_older = True
                    continue
                if (
                    video.get("prompt") == request.prompt
                    and video.get("model") == catalog.wire_model(self.route, request.model)
                    and str(video.get("seconds")) == seconds
                    and video.get("size") == size
                    and isinstance(video.get("id"), str)
                ):
                    matches.append(video["id"])
            if reached_older or not data or not page.get("has_more"):
                break
            after = page.get("last_id") or data[-1].get("id")
        return matches[0] if len(matches) == 1 else None

    def close(self) -> None:
        """Close the HTTP client if this adapter created it."""
        if self._owns_client:
            self._client.close()

    # -- Sora-specific operations ---------------------------------------------------------------
    def check(self, request: RenderRequest) -> tuple[str, str]:
        """Refuse what the API would refuse; return the wire ``seconds`` and ``size`` strings."""
        node = request.node_id
        if request.kind != "clip":
            raise TerminalError(
                f"{self.name} renders clips, not {request.kind}s", provider=self.name, node=node
            )
        if not request.prompt.strip() or len(request.prompt) > MAX_PROMPT:
            raise TerminalError(
                f"prompt must be 1-{MAX_PROMPT} characters (got {len(request.prompt)})",
                provider=self.name,
                node=node,
            )
        if float(request.duration) not in {float(s) for s in self.seconds}:
            allowed = ", ".join(str(s) for s in self.seconds)
            raise TerminalError(
                f"duration {request.duration:g}s is not allowed on {self.name}; use one of {allowed}",
                provider=self.name,
                node=node,
            )
        size = f"{request.width}x{request.height}"
        if size not in self.sizes:
            raise TerminalError(
                f"size {size} is not allowed on {self.name}; use one of {', '.join(self.sizes)}",
                provider=self.name,
                node=node,
            )
        if request.last_frame is not None:
            raise TerminalError(
                f"{self.name} has no last-frame input; route the shot to veo-3.1 for first+last frames",
                provider=self.name,
                node=node,
            )
        if request.extends is not None:
            raise TerminalError(
                f"{self.name} does not extend clips here; route the shot to veo-3.1 for extends:",
                provider=self.name,
                node=node,
            )
        image, characters = _split_inputs(request, self.name)
        if len(characters) > MAX_CHARACTERS:
            raise TerminalError(
                f"at most {MAX_CHARACTERS} Sora characters per clip (got {len(characters)})",
                provider=self.name,
                node=node,
            )
        if image is not None:
            _check_input_image(image, size, provider=self.name, node=node)
        return str(int(request.duration)), size

    def remix(self, job_id: str, prompt: str, *, node: str = "") -> str:
        """Start a remix of a completed video with a new prompt; return the new job's id."""
        response = self._send(
            "POST", f"/videos/{job_id}/remix", node=node, what=f"remix {job_id}", json={"prompt": prompt}
        )
        new_id = self._json(response, node=node).get("id")
        if not isinstance(new_id, str) or not new_id:
            raise RetryableError("remix answered without a video id", provider=self.name, node=node)
        return new_id

    def create_character(self, clip: Path, name: str, *, node: str = "") -> str:
        """Upload a short MP4 of a non-human character once; return its ``char_...`` id.

        Uploads showing human likeness are refused by default; that refusal is terminal.
        """
        if not 1 <= len(name) <= 80:
            raise TerminalError(
                f"character name must be 1-80 characters (got {len(name)})", provider=self.name, node=node
            )
        with open(clip, "rb") as handle:
            if handle.read(12)[4:8] != b"ftyp":
                raise TerminalError(
                    f"{clip}: a Sora character clip must be an MP4", provider=self.name, node=node
                )
            handle.seek(0)
            try:
                response = self._send(
                    "POST",
                    "/videos/characters",
                    node=node,
                    what="create character",
                    data={"name": name},
                    files=[("video", (clip.name, handle, "video/mp4"))],
                )
            except TerminalError as exc:
                if re.search(r"human|likeness|person|face", exc.message, re.IGNORECASE):
                    raise TerminalError(
                        f"{exc.message}; Sora characters are for non-human characters (human likeness needs "
                        "account approval): use a character-sheet reference or veo-3.1 instead",
                        provider=self.name,
                        node=node,
                    ) from exc
                raise
        char_id = self._json(response, node=node).get("id")
        if not isinstance(char_id, str) or not char_id:
            raise RetryableError("character upload answered without an id", provider=self.name, node=node)
        return char_id

    def get_character(self, character_id: str) -> dict[str, Any]:
        """Return the character object (``id``, ``name``, ``created_at``)."""
        return self._json(
            self._send("GET", f"/videos/characters/{character_id}", what=f"character {character_id}")
        )

    def delete(self, job_id: str) -> None:
        """Delete a video and its assets from the server."""
        self._send("DELETE", f"/videos/{job_id}", what=f"delete {job_id}")

    # -- plumbing -----------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, node: str = "", **kwargs: Any) -> httpx.Response:
        """One HTTP exchange; transport failures become RetryableError (``__cause__`` keeps the kind)."""
        try:
            return self._session.request(method, self._session.url(path), node=node, **kwargs)
        except httpx.TransportError as exc:
            raise network_error(exc, self._session, provider=self.name, node=node) from exc

    def _send(
        self, method: str, path: str, *, node: str = "", what: str = "", **kwargs: Any
    ) -> httpx.Response:
        response = self._request(method, path, node=node, **kwargs)
        if response.status_code >= 400:
            raise self._error(response, path, node, what)
        return response

    def _json(self, response: httpx.Response, *, node: str = "") -> dict[str, Any]:
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise RetryableError(
                f"HTTP {response.status_code} with a body that is not JSON", provider=self.name, node=node
            ) from exc
        if not isinstance(data, dict):
            raise RetryableError("expected a JSON object from the Videos API", provider=self.name, node=node)
        return data

    def _error(self, response: httpx.Response, path: str, node: str, what: str) -> ProviderError:
        """Map an HTTP failure: the model or API gone is ``RouteGone``; one video gone fails its node only.

        A shutdown notice on a request about one video still names the shutdown, but as that
        node's ``TerminalError``: a job that exists is never handed to another route.
        """
        body = parse_error_body(response)
        words = self._session.redact(describe(body))
        status = response.status_code
        if body.code in MODEL_GONE_CODES or route_gone(status, body.message, about_model=path in _MODEL_PATHS):
            return RouteGone(self._shutdown_text(status, words), provider=self.name, node=node)
        if status in (404, 410) and GONE_NOTICE.search(body.message):
            return TerminalError(f"{what}: {self._shutdown_text(status, words)}", provider=self.name, node=node)
        if status in (404, 410):
            hint = (
                "expired (download promptly after completion) or deleted"
                if "expire" in body.message.lower()
                else "deleted, expired, or created with another key/base URL"
            )
            return JobGone(f"{what}: HTTP 404: {words}; the video is {hint}", provider=self.name, node=node)
        return http_error(response, self._session, provider=self.name, node=node, what=what)

    def _shutdown_text(self, status: int, words: str) -> str:
        date = self.route.retired_on or "2026-09-24"
        return (
            f"the Sora API answered HTTP {status} ({words}): OpenAI's Sora API was shut down on {date}. "
            f"Alternatives: a gateway that still serves {self.route.model} (declare it in shotmake.toml), or "
            "route the shot to a live route (`shotmake routes`: gemini-omni, seedance-2.0, wan-2.7)"
        )

    def _status(self, video: Mapping[str, Any], poll_after: float | None) -> JobStatus:
        raw = str(video.get("status") or "")
        state = _STATES.get(raw, "failed")
        progress = video.get("progress")
        fraction = min(1.0, max(0.0, float(progress) / 100.0)) if isinstance(progress, (int, float)) else None
        meta = {
            k: video[k]
            for k in (
                "id",
                "model",
                "seconds",
                "size",
                "created_at",
                "completed_at",
                "expires_at",
                "remixed_from_video_id",
            )
            if video.get(k) is not None
        }
        error: ProviderError | None = None
        if state == "failed":
            error = self._job_error(video, raw)
        return JobStatus(state=state, progress=fraction, error=error, poll_after=poll_after, meta=meta)

    def _job_error(self, video: Mapping[str, Any], raw_status: str) -> ProviderError:
        err = video.get("error") if isinstance(video.get("error"), dict) else {}
        assert isinstance(err, dict)
        code = str(err.get("code") or "")
        message = self._session.redact(str(err.get("message") or "no reason given"))
        job = video.get("id", "?")
        if raw_status not in _STATES:
            return TerminalError(f"video {job} has unknown status {raw_status!r}", provider=self.name)
        if code in MODERATION_CODES or "moderation" in message.lower():
            return TerminalError(
                f"video {job} rejected by content moderation: {message} ({code or 'no code'})",
                provider=self.name,
            )
        if code in _TRANSIENT_JOB_CODES:
            return RetryableError(
                f"video {job} failed on the server: {message} ({code}); a new submission may succeed",
                provider=self.name,
            )
        return TerminalError(f"video {job} failed: {message} ({code or 'no code'})", provider=self.name)


class _ForceMultipart(dict[str, Any]):
    """An empty ``files`` mapping that is truthy, so httpx sends multipart even without a file.

    The API documents only multipart for ``POST /videos``; the OpenAI SDK does the same.
    """

    def __bool__(self) -> bool:
        return True


def from_env(route: str | catalog.Route, env: Mapping[str, str], client: httpx.Client | None = None, **options: Any) -> OpenAIVideos:
    """Build the adapter from ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` (missing key: ProviderUnavailable).

    ``options`` go to the constructor (``prices=`` from the project configuration).
    """
    creds = credentials_from_env(env, provider=catalog.route_name(route))
    return OpenAIVideos(route, api_key=creds.api_key, base_url=creds.base_url, client=client, **options)


def _split_inputs(request: RenderRequest, provider: str) -> tuple[InputFile | None, tuple[str, ...]]:
    """Return the one image sent as ``input_reference`` and the Sora character ids."""
    characters = tuple(
        str(r.meta[CHARACTER_META_KEY]) for r in request.references if r.meta.get(CHARACTER_META_KEY)
    )
    images = [r for r in request.references if not r.meta.get(CHARACTER_META_KEY)]
    if request.first_frame is not None:
        images.insert(0, request.first_frame)
    if len(images) > 1:
        raise TerminalError(
            f"Sora takes one input image (input_reference); got {len(images)} (first frame + references); "
            "keep one, or route the shot to veo-3.1 for up to 3 references",
            provider=provider,
            node=request.node_id,
        )
    return (images[0] if images else None), characters


def _check_input_image(image: InputFile, size: str, *, provider: str, node: str) -> None:
    """The API rejects an input_reference whose pixels differ from ``size``: say so before paying."""
    if image.mime not in INPUT_MIMES:
        raise TerminalError(
            f"{image.path}: input_reference must be PNG, JPEG or WebP, not {image.mime}",
            provider=provider,
            node=node,
        )
    with open(image.path, "rb") as fh:
        head = fh.read(1 << 16)
    dims = image_size(head)
    if dims is not None and f"{dims[0]}x{dims[1]}" != size:
        raise TerminalError(
            f"{image.path}: input image is {dims[0]}x{dims[1]} but the clip is {size}; the Sora "
            "input_reference must match the output size exactly (conform the frame first)",
            provider=provider,
            node=node,
        )


def image_size(head: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, JPEG or WebP from its first bytes; None if not recognised."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        return int(width), int(height)
    if head[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(head):
            if head[i] != 0xFF:
                return None
            marker = head[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            length = struct.unpack(">H", head[i + 2 : i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
                height, width = struct.unpack(">HH", head[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + length
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        chunk = head[12:16]
        if chunk == b"VP8X":
            return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
        if chunk == b"VP8L":
            bits = int.from_bytes(head[21:25], "little")
            return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", head[26:30])
            return int(width & 0x3FFF), int(height & 0x3FFF)
    return None


def _poll_after(headers: Mapping[str, str]) -> float | None:
    """The server's ``openai-poll-after-ms`` in seconds (``JobStatus`` clamps it to a sane range)."""
    return parse_poll_after_ms(headers.get("openai-poll-after-ms"))


def _price_key(request: RenderRequest) -> str:
    size = f"{request.width}x{request.height}"
    for resolution, sizes in SIZES_BY_RESOLUTION.items():
        if size in sizes:
            return resolution
    return request.resolution
