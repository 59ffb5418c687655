"""Seedance 2.x over Ark content-generation tasks (BytePlus ModelArk; Volcano Engine Ark speaks the same).

Wire protocol (the official SDKs' ``content_generation.tasks``; base ``ARK_BASE_URL``, default
``https://ark.ap-southeast.bytepluses.com/api/v3``)::

    POST   {base}/contents/generations/tasks        {"model", "content": [...], ...} -> {"id": "cgt-..."}
    GET    {base}/contents/generations/tasks/{id}   -> {"status", "content": {"video_url"}, "usage", ...}
    GET    {base}/contents/generations/tasks?page_num=&page_size=&filter.model=   (the last 7 days)
    DELETE {base}/contents/generations/tasks/{id}   (cancel a queued task, or delete a finished one)

Every request goes through ``http.ApiSession``: ``Authorization: Bearer $ARK_API_KEY`` goes to
the API's own origin and nowhere else (not across a redirect, never over plain http), and every
answer and download is capped by the route's ``max_download_mb`` and the transfer deadline. The
finished video sits on a storage host behind a signed URL that expires after about a day: the
session fetches it without the key, as it would any other origin.

The API has no idempotency key, so a create whose answer was lost is found again in the task
list. A task does not record its prompt or inputs, only model, creation time, seed, duration,
resolution, ratio and audio: so every create carries a seed (the shot's, or one derived from
the node key when the shot sets none) and ``reconcile`` accepts exactly one listed task that
matches all of them. Nothing is retried here: the executor owns retries and the journal.

Seedance does not mix frame mode (first/last frame) with reference mode (reference images).
When a shot has both, references win and the frames are sent as further reference images
(lint SM140 says so); video files cannot be sent inline (lint SM142). A speaking character's
voice sample (the plan adds it to the references) goes as an ``audio_url`` item with role
``reference_audio``, inline as a base64 data URL: BytePlus documents data URLs for images only,
so that audio is accepted inline is UNCONFIRMED (docs/providers.md says so).

Billing is by tokens (``usage.completion_tokens``, about ``width x height x frames / 1024``);
the catalog's price is USD per second at a resolution, and ``download`` reports the actual
charge as ``cost_usd`` from the task's token count. Example::

    ark = from_env("seedance-2.0", os.environ)
    task = ark.submit(request)
    while (status := ark.poll(task)).state in ("queued", "running"):
        time.sleep(10)
    ark.download(task, Path("clip.mp4"), status)
"""

from __future__ import annotations

import base64
import hashlib
import math
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx

from ..errors import JobGone, ProviderError, ProviderUnavailable, RetryableError, RouteGone, TerminalError
from . import catalog, http
from .base import InputFile, JobState, JobStatus, Provider, RenderRequest
from .catalog import Route
from .http import ApiSession, BodyLimits, Credential, error_for_status, route_gone, transport_error
from .openai_http import describe, parse_error_body

DEFAULT_BASE_URL = "https://ark.ap-southeast.bytepluses.com/api/v3"
TASKS = "/contents/generations/tasks"
_STATES: Mapping[str, JobState] = {
    "queued": "queued",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "cancelled": "failed",
    "expired": "failed",
}
#: Tokens per second of output at each resolution: width x height x 24 fps / 1024, with the
#: 16:9 sizes (every ratio of a resolution has about the same pixel count). 720p: 1280x720
#: gives 900 tokens a frame, matching reported usage (4 s = 97 frames = 87,300 tokens).
TOKENS_PER_SECOND: Mapping[str, float] = {"480p": 864 * 480 * 24 / 1024, "720p": 1280 * 720 * 24 / 1024,
                                          "1080p": 1920 * 1080 * 24 / 1024}
#: Image types the API documents for ``image_url`` (jpeg, png, webp, bmp, tiff, gif).
IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp", "image/bmp", "image/tiff", "image/gif")
#: Reference audio (a voice sample) the adapter sends inline.
AUDIO_MIMES = ("audio/wav", "audio/mpeg", "audio/x-wav", "audio/mp3")
#: A request body above this is refused by the API (reported: 64 MB); base64 grows files by 4/3.
MAX_BODY_BYTES = 64 * 1000 * 1000
MAX_PROMPT = 5000
#: Create answers after which the task may exist anyway (gateway timeouts, server errors).
#: Refusals of the content itself (input or output moderation): never worth a retry.
_MODERATION = ("SensitiveContentDetected", "RiskDetection")
#: Failed-task codes where the task died for the server's reasons: a new submission may succeed.
_TRANSIENT_TASK_CODES = frozenset({"InternalServiceError", "InternalError", "ServiceUnavailable",
                                   "ServerOverloaded", "Timeout"})
#: 429 codes that are an account setting, not a passing rate limit.
_QUOTA_CODES = frozenset({"SetLimitExceeded", "AccountQuotaExceeded"})
#: Error codes (prefixes) saying the model is not served to this key: retired, not activated for
#: the account, or another region's id. Ark calls a served model an "endpoint" (not a URL path).
MODEL_GONE_CODES = ("InvalidEndpoint", "ModelNotOpen", "ModelNotFound")
#: What every API request asks for (the official SDKs send it too).
_ACCEPT = {"Accept": "application/json"}


class ArkTasks(Provider):
    """Render clips with Seedance 2.0 / 2.0 Fast / 2.5 as Ark content-generation tasks.

    ``client`` is injected so tests (and the registry) share connection pools; the adapter
    closes only a client it created. ``frame_ratio`` is the ``ratio`` sent with first/last
    frames (``adaptive``: the frame's own shape, which the docs require for first-frame
    tasks; the shot's aspect otherwise). ``prices`` overrides the catalog's USD per second.
    """

    remote = True

    def __init__(
        self,
        route: str | Route = "seedance-2.0",
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.Client | None = None,
        prices: Mapping[str, float] | None = None,
        frame_ratio: str = "adaptive",
        poll_interval: float | None = None,
        reconcile_skew: float = 5.0,
        reconcile_pages: int = 5,
        clock: Callable[[], float] = time.time,
        limits: BodyLimits | None = None,
    ) -> None:
        """``limits`` caps each answer and download (default: the route's ``max_download_mb``)."""
        info = catalog.adapter_route(route, ("ark-tasks",), "ArkTasks")
        if not api_key:
            raise ProviderUnavailable("ARK_API_KEY is not set; export it to render with this route",
                                      provider=info.name)
        self.name = info.name
        self.route = info
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))
        try:
            self._session = ApiSession(self._client, base_url, Credential("Authorization", api_key, "Bearer "),
                                       provider=info.name, variable="ARK_BASE_URL",
                                       limits=limits or BodyLimits.for_route(info.max_download_mb))
        except TerminalError:
            self.close()
            raise
        self.prices = dict(prices) if prices is not None else dict(info.price)
        self.frame_ratio = frame_ratio
        self.poll_interval = poll_interval
        #: Seconds of clock difference tolerated between us and the server when reconciling.
        self.reconcile_skew = reconcile_skew
        self.reconcile_pages = reconcile_pages
        self.clock = clock
        #: Creates whose outcome is unknown (answer lost, 5xx), adopted by the next submit.
        self._uncertain = http.UncertainCreates()
        #: Task id -> the signed video URL of a finished task. Kept in memory only: status
        #: metadata is persisted, and the URL is a short-lived credential for the video.
        self._videos: dict[str, str] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ArkTasks(route={self.name!r}, base_url={self._session.redact(self._session.base_url)!r})"

    # -- the Provider interface -------------------------------------------------------------------
    def estimate_cost(self, request: RenderRequest) -> float:
        """Seconds times the per-second price at the clip's resolution."""
        return round(float(request.duration) * self._per_second(request.resolution), 4)

    def submit(self, request: RenderRequest) -> str:
        """Create the task (one POST) and return its id; limits are checked first.

        A create whose outcome is unknown (connection lost after sending, 500/502/504) is
        remembered by node key, and the next ``submit`` of that key first looks for the task
        with ``reconcile``: an in-process retry never pays twice for a task that did start.
        """
        body = self.build_body(request)
        found = self._uncertain.adopt(request, self.reconcile)
        if found is not None:
            return found
        started = self.clock()
        try:
            response = self._session.request("POST", self._session.url(TASKS), headers=_ACCEPT,
                                             node=request.node_id, json=body)
        except httpx.TransportError as exc:
            sent = not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))
            self._uncertain.failed(request.key, started, error=exc)
            raise RetryableError(self._network(exc), provider=self.name, node=request.node_id,
                                 uncertain=sent) from exc
        if response.status_code >= 400:
            self._uncertain.failed(request.key, started, status=response.status_code)
            raise self._error(response, TASKS, request.node_id, "create", model=body["model"], create=True)
        self._uncertain.settled(request.key)
        try:
            task_id = _json(response, self.name).get("id")
        except RetryableError:
            task_id = None
        if not isinstance(task_id, str) or not task_id:
            # Not retryable: the server accepted something, and a second create could pay twice.
            raise TerminalError(f"create answered without a task id: {self._session.redact(response.text[:200])}; check the "
                                "ModelArk console (Tasks) before rerunning", provider=self.name,
                                node=request.node_id)
        return task_id

    def poll(self, job_id: str) -> JobStatus:
        """Fetch the task; a failed, cancelled or expired task comes back as ``failed`` with its error."""
        task = _json(self._send("GET", f"{TASKS}/{job_id}", what=f"poll {job_id}"), self.name)
        return self._status(job_id, task)

    def download(self, job_id: str, dest: Path, status: JobStatus) -> dict[str, Any]:
        """Stream the video to ``dest`` (atomically, constant memory); return metadata with the actual cost.

        The signed URL is fetched fresh when this process has not polled the finished task
        (a resumed build): it expires, and it is never persisted.
        """
        with self._lock:
            url = self._videos.get(job_id)
        if status.state != "succeeded" or url is None:
            status = self.poll(job_id)
            with self._lock:
                url = self._videos.get(job_id)
        if status.state == "failed":
            raise status.error or TerminalError(f"task {job_id} failed", provider=self.name)
        if status.state != "succeeded" or url is None:
            raise RetryableError(f"task {job_id} has not finished yet; poll it first", provider=self.name)
        failed: list[int] = []

        def describe_error(response: httpx.Response) -> str:
            failed.append(response.status_code)
            return self._session.redact(describe(parse_error_body(response)))

        # Through the session: the signed URL is on the storage host (another origin: no key),
        # and the body is cut at the route's cap and the transfer deadline (TransferAborted).
        try:
            written = self._session.download(url, dest, describe_error=describe_error)
        except ProviderError as exc:
            message = self._session.redact(exc.message)
            if failed and failed[0] in (403, 404, 410):
                raise TerminalError(f"download {job_id}: {message}; the video URL has expired (Ark keeps "
                                    "results for about 24 hours): render the shot again", provider=self.name) from exc
            if isinstance(exc, RetryableError):
                raise RetryableError(message, provider=self.name, retry_after=exc.retry_after) from exc
            raise TerminalError(message, provider=self.name) from exc
        with open(dest, "rb") as fh:
            head = fh.read(12)
        if head[4:8] != b"ftyp":
            dest.unlink(missing_ok=True)
            raise RetryableError(f"download {job_id}: the content is not an MP4 (no ftyp box)", provider=self.name)
        with self._lock:
            self._videos.pop(job_id, None)
        meta: dict[str, Any] = {"provider": self.name, "remote_id": job_id, "bytes": written,
                                **{k: v for k, v in status.meta.items() if k != "id"}}
        tokens = status.meta.get("completion_tokens")
        resolution = status.meta.get("resolution")
        if isinstance(tokens, (int, float)) and isinstance(resolution, str) and resolution in TOKENS_PER_SECOND:
            # What the vendor bills: its token count at the per-second price (see TOKENS_PER_SECOND).
            meta["cost_usd"] = round(tokens / TOKENS_PER_SECOND[resolution] * self._per_second(resolution), 4)
        return meta

    def reconcile(self, request: RenderRequest, submitted_after: float) -> str | None:
        """Find the one listed task of this model created since the intent, matching what the task records.

        A task records model, ``created_at``, seed, duration, resolution, ratio and
        ``generate_audio`` (not the prompt or inputs): all must match what ``build_body`` sends.
        Lists newest first and stops at the first task older than ``submitted_after`` minus
        ``reconcile_skew``. Two or more matches are as uncertain as none: None, not a guess.
        """
        body = self.build_body(request)
        threshold = math.floor(submitted_after - self.reconcile_skew)
        # With ``adaptive`` the task records the ratio it picked, so only a sent ratio is compared.
        also = {k: body[k] for k in ("duration", "resolution", "ratio", "generate_audio")
                if body[k] != "adaptive"}
        matches: list[str] = []
        for page in range(1, self.reconcile_pages + 1):
            params = {"page_num": str(page), "page_size": "100", "filter.model": body["model"]}
            listing = _json(self._send("GET", TASKS, node=request.node_id, what="reconcile", model=body["model"],
                                       params=params), self.name)
            items = [t for t in listing.get("items") or [] if isinstance(t, dict)]
            reached_older = False
            for task in items:
                created = task.get("created_at")
                if not isinstance(created, (int, float)) or created < threshold:
                    reached_older = True
                    continue
                if task.get("model") not in (None, body["model"]) or not isinstance(task.get("id"), str):
                    continue
                # The seed must be there and equal (it tells renders apart); the rest, where recorded.
                if task.get("seed") == body["seed"] and all(task.get(k, v) == v for k, v in also.items()):
                    matches.append(task["id"])
            total = listing.get("total")
            if reached_older or not items or (isinstance(total, int) and page * 100 >= total):
                break
        return matches[0] if len(matches) == 1 else None

    def delete(self, job_id: str) -> None:
        """Cancel a queued task, or delete a finished one's record (a running task cannot be cancelled)."""
        self._send("DELETE", f"{TASKS}/{job_id}", what=f"delete {job_id}", json={})

    def close(self) -> None:
        """Close the HTTP client if this adapter created it."""
        if self._owns_client:
            self._client.close()

    # -- requests ---------------------------------------------------------------------------------
    def check(self, request: RenderRequest) -> None:
        """Refuse what the API would refuse, before paying a round trip (or a quota slot) for it."""
        def refuse(message: str) -> TerminalError:
            return TerminalError(message, provider=self.name, node=request.node_id)

        route = self.route
        if request.kind != "clip":
            raise refuse(f"{self.name} renders clips, not {request.kind}s")
        if not request.prompt.strip():
            raise refuse("the prompt is empty")
        if len(request.prompt) > MAX_PROMPT:
            raise refuse(f"the prompt has {len(request.prompt)} characters; Seedance reads at most {MAX_PROMPT}")
        if request.duration != int(request.duration) or not route.accepts_duration(request.duration):
            raise refuse(f"duration {request.duration:g}s is not allowed on {self.name}: whole seconds, "
                         f"{route.describe_durations()}")
        if request.resolution not in route.resolutions:
            raise refuse(f"{self.name} renders {', '.join(route.resolutions)}, not {request.resolution}")
        if request.aspect not in route.aspects:
            raise refuse(f"{self.name} renders {', '.join(route.aspects)}, not {request.aspect}")
        if request.extends is not None:
            raise refuse(f"{self.name} does not extend clips here; drop `extends:` or route the shot to a "
                         "route with extension")
        if request.last_frame is not None and request.first_frame is None and not request.references:
            raise refuse(f"{self.name} takes a last frame only together with a first frame: add `first_frame:` "
                         "or `after:`, or drop `last_frame:`")
        images = [r for r in request.references if r.mime not in AUDIO_MIMES]
        audio = [r for r in request.references if r.mime in AUDIO_MIMES]
        if len(audio) > route.max_reference_audios:
            raise refuse(f"{len(audio)} reference audio files (voice samples); {self.name} takes at most "
                         f"{route.max_reference_audios}")
        if request.references:  # reference mode: the frames travel as reference images (lint SM140)
            images += [f for f in (request.first_frame, request.last_frame) if f is not None]
        if audio and not images:
            raise refuse(f"{self.name} takes reference audio (a voice sample) only together with a reference "
                         "image or video: give the speaking character a sheet or a reference image")
        if len(images) > route.max_references:
            raise refuse(f"{len(images)} reference images (character sheets, references and frames); "
                         f"{self.name} takes at most {route.max_references}")
        for item in [*images, request.first_frame, request.last_frame]:
            if item is not None and item.mime not in IMAGE_MIMES:
                raise refuse(f"{item.path}: {self.name} takes local files only as images (PNG, JPEG, WebP, "
                             f"BMP, TIFF, GIF) and voice samples (WAV, MP3), not {item.mime}: reference video "
                             "goes by URL only")
        sent = {str(i.path): i for i in (*images, *audio, request.first_frame, request.last_frame) if i is not None}
        size = sum(i.path.stat().st_size for i in sent.values())
        if size * 4 // 3 + len(request.prompt) > MAX_BODY_BYTES:
            raise refuse(f"the images add up to {size / 1e6:.1f} MB; inline (base64) they pass the request "
                         f"limit of {MAX_BODY_BYTES / 1e6:.0f} MB: send fewer or smaller images")

    def build_body(self, request: RenderRequest) -> dict[str, Any]:
        """Return the create JSON for ``request`` (checked first); fields left unset are not sent."""
        self.check(request)
        content: list[dict[str, Any]] = [{"type": "text", "text": request.prompt}]
        frames = [(role, f) for role, f in (("first_frame", request.first_frame),
                                            ("last_frame", request.last_frame)) if f is not None]
        if request.references:
            content += [_image(ref, "reference_image") for ref in request.references if ref.mime not in AUDIO_MIMES]
            content += [_image(frame, "reference_image") for _, frame in frames]
            content += [_audio(ref) for ref in request.references if ref.mime in AUDIO_MIMES]
        else:
            content += [_image(frame, role) for role, frame in frames]
        return {
            "model": catalog.wire_model(self.route, request.model),
            "content": content,
            "generate_audio": bool(request.audio),
            "watermark": False,
            "seed": request.seed if request.seed is not None else seed_for(request.key),
            "resolution": request.resolution,
            "ratio": self.frame_ratio if frames and not request.references else request.aspect,
            "duration": int(request.duration),
        }

    # -- plumbing ---------------------------------------------------------------------------------
    def _per_second(self, resolution: str) -> float:
        return float(self.prices.get(resolution, self.prices.get("*", 0.0)))

    def _send(self, method: str, path: str, *, node: str = "", what: str = "", model: str = "",
              **kwargs: Any) -> httpx.Response:
        """One API exchange through the session; a failure status raises the mapped error."""
        try:
            response = self._session.request(method, self._session.url(path), headers=_ACCEPT, node=node, **kwargs)
        except httpx.TransportError as exc:
            raise RetryableError(self._network(exc), provider=self.name, node=node) from exc
        if response.status_code >= 400:
            raise self._error(response, path, node, what, model=model)
        return response

    def _network(self, exc: httpx.TransportError) -> str:
        return transport_error(exc, provider=self.name, redact=self._session.redact).message


    def _error(self, response: httpx.Response, path: str, node: str, what: str, *, model: str = "",
               create: bool = False) -> ProviderError:
        """Map an HTTP failure: moderation and refusals terminal, throttling retryable, a gone model ``RouteGone``,
        a refused key ``ProviderUnavailable``.

        A request about the model (a create, a list filtered by model: ``path`` is the task
        collection) answered 404/410, a shutdown notice or a model-gone code means the route is
        gone (``http.route_gone``); a request about one task (poll, delete) fails that node only.
        """
        body = parse_error_body(response)
        words = self._session.redact(describe(body))
        status = response.status_code
        code = body.code
        about_model = path == TASKS
        if route_gone(status, body.message, about_model=about_model) or (
                about_model and code.startswith(MODEL_GONE_CODES)):
            return RouteGone(
                f"{what}: HTTP {status}: {words}: the model {model or self.route.model!r} is not served at "
                f"{self._session.redact(self._session.base_url)} (retired, not activated for this account, or "
                "another region's id): check the ModelArk console, or route the shot elsewhere",
                provider=self.name, node=node)
        if any(m in code for m in _MODERATION):
            return TerminalError(f"{what}: rejected by content moderation: {words}{refusal_hint(code)}",
                                 provider=self.name, node=node)
        if status == 429 and code in _QUOTA_CODES:
            return TerminalError(f"{what}: HTTP 429: {words}; an account limit, not a passing rate limit: "
                                 "raise it in the ModelArk console", provider=self.name, node=node)
        if status in (401, 403):
            refused = ProviderUnavailable if about_model else TerminalError
            # A create or list refused for the account, not this shot: unavailable (fallbacks may render it),
            # and not remembered as the shot's refusal, so the build after the key is fixed sends it. On a
            # poll it stays about that task (the job is kept, and resumed by the next build).
            return refused(f"{what}: HTTP {status}: {words}; check ARK_API_KEY (and ARK_BASE_URL: keys "
                           "belong to one region)", provider=self.name, node=node)
        if status == 404:
            return JobGone(f"{what}: HTTP 404: {words}; the task is unknown (deleted, older than 7 days, "
                                 "or created with another key or region)", provider=self.name, node=node)
        error = error_for_status(status, words, headers=response.headers, provider=self.name, node=node)
        if isinstance(error, RetryableError):
            return RetryableError(f"{what}: {error.message}", provider=self.name, node=node,
                                  retry_after=error.retry_after, uncertain=create and status in http.UncertainCreates.STATUSES)
        return TerminalError(f"{what}: {error.message}", provider=self.name, node=node)

    def _status(self, job_id: str, task: Mapping[str, Any]) -> JobStatus:
        raw = str(task.get("status") or "")
        state = _STATES.get(raw, "failed")
        usage = task.get("usage") if isinstance(task.get("usage"), dict) else {}
        assert isinstance(usage, dict)
        meta: dict[str, Any] = {k: task[k] for k in ("model", "created_at", "seed", "resolution", "ratio",
                                                      "duration", "generate_audio")
                                if isinstance(task.get(k), (str, int, float, bool))}
        if isinstance(usage.get("completion_tokens"), (int, float)):
            meta["completion_tokens"] = usage["completion_tokens"]
        if state == "succeeded":
            content = task.get("content") if isinstance(task.get("content"), dict) else {}
            assert isinstance(content, dict)
            url = content.get("video_url")
            if not isinstance(url, str) or not url:
                return JobStatus(state="failed", meta=meta, error=RetryableError(
                    f"task {job_id} succeeded without a video_url", provider=self.name))
            with self._lock:
                self._videos[job_id] = url
            return JobStatus(state="succeeded", progress=1.0, meta=meta)
        if state == "failed":
            return JobStatus(state="failed", meta=meta, error=self._task_error(job_id, raw, task))
        return JobStatus(state=state, poll_after=self.poll_interval, meta=meta)

    def _task_error(self, job_id: str, raw: str, task: Mapping[str, Any]) -> ProviderError:
        err = task.get("error") if isinstance(task.get("error"), dict) else {}
        assert isinstance(err, dict)
        code = str(err.get("code") or "")
        message = self._session.redact(str(err.get("message") or "no reason given"))
        if raw not in _STATES:
            return TerminalError(f"task {job_id} has unknown status {raw!r}", provider=self.name)
        if raw == "expired":
            return RetryableError(f"task {job_id} expired in the queue before it ran (not billed); a new "
                                  "submission may succeed", provider=self.name)
        if raw == "cancelled":
            return TerminalError(f"task {job_id} was cancelled (from the console or the API)", provider=self.name)
        if any(m in code for m in _MODERATION):
            return TerminalError(f"task {job_id} rejected by content moderation: {message} ({code})"
                                 f"{refusal_hint(code)}", provider=self.name)
        if code in _TRANSIENT_TASK_CODES:
            return RetryableError(f"task {job_id} failed on the server: {message} ({code}); a new submission "
                                  "may succeed", provider=self.name)
        return TerminalError(f"task {job_id} failed: {message} ({code or 'no code'})", provider=self.name)


def from_env(route: str | Route, env: Mapping[str, str], client: httpx.Client | None = None,
             **options: Any) -> ArkTasks:
    """Build the adapter from ``ARK_API_KEY`` / ``ARK_BASE_URL`` (a missing key: ProviderUnavailable)."""
    key = env.get("ARK_API_KEY", "").strip()
    base = env.get("ARK_BASE_URL", "").strip() or DEFAULT_BASE_URL
    return ArkTasks(route, api_key=key, base_url=base, client=client, **options)


def seed_for(key: str) -> int:
    """A seed derived from the node key: the same render asks for the same seed, and a task is
    recognisable in the task list by it (tasks record their seed, not their prompt)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") & 0x7FFFFFFF


def refusal_hint(code: str) -> str:
    """How to get past a refusal: stylised characters, or the vendor's asset library for real people."""
    if "PrivacyInformation" in code:
        return ("; Seedance refuses images that may show a real person: use stylised (drawn, 3D) character "
                "sheets, or, for a real person with consent, their portrait from the ModelArk asset library")
    return "; rephrase the prompt or change the images (a retry gets the same answer)"


def _image(item: InputFile, role: str) -> dict[str, Any]:
    """A local image as an ``image_url`` content item (a base64 data URL: the API documents them)."""
    data = base64.b64encode(item.path.read_bytes()).decode("ascii")
    return {"type": "image_url", "image_url": {"url": f"data:{item.mime};base64,{data}"}, "role": role}


def _audio(item: InputFile) -> dict[str, Any]:
    """A local recording as a ``reference_audio`` item (a base64 data URL: UNCONFIRMED for audio)."""
    data = base64.b64encode(item.path.read_bytes()).decode("ascii")
    mime = "audio/wav" if item.mime == "audio/x-wav" else item.mime
    return {"type": "audio_url", "audio_url": {"url": f"data:{mime};base64,{data}"}, "role": "reference_audio"}


def _json(response: httpx.Response, provider: str) -> dict[str, Any]:
    try:
        data = response.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise RetryableError(f"HTTP {response.status_code} with a body that is not JSON", provider=provider) from exc
    if not isinstance(data, dict):
        raise RetryableError("expected a JSON object from the Ark API", provider=provider)
    return data
