"""Wan 2.7 / 3.0 over DashScope (Alibaba Cloud Model Studio) video synthesis: async tasks by httpx.

Wire protocol (the dashscope 2.0.2 SDK and the Model Studio API reference)::

    POST {base}/services/aigc/video-generation/video-synthesis   X-DashScope-Async: enable
         {"model", "input": {"prompt", "negative_prompt", "media": [{"type", "url"}]},
          "parameters": {"resolution", "ratio", "duration", "seed", "prompt_extend", "watermark", "audio"}}
                                          -> {"output": {"task_id", "task_status": "PENDING"}}
    GET  {base}/tasks/{task_id}           -> {"output": {"task_status", "video_url" | "code", "message"}}
    GET  {base}/tasks?model_name=&start_time=&end_time=&page_no=&page_size=   (reconcile a lost create)
    GET  {video_url}                      -> the MP4 (a signed storage URL, valid 24 h: no credential)

``{base}`` is ``DASHSCOPE_BASE_URL`` as the SDK reads it, API version included
(``https://dashscope-intl.aliyuncs.com/api/v1`` by default). Media go by URL: local files are
uploaded first (``dashscope_upload``) and sent as ``oss://`` URLs, which the service resolves
only when the create carries ``X-DashScope-OssResourceResolve: enable``.

**Which model.** A route's ``model`` may name a *family* (``wan2.7``): the adapter then picks
``wan2.7-t2v`` for a text-only shot, ``wan2.7-i2v`` for a shot with a first or last frame, and
``wan2.7-r2v`` for one with references (character sheets, reference images or clips). A shot's
``model:`` override may name another family (``wan2.8``: the same choice) or a concrete id
(``wan2.7-r2v-2026-06-01``, ``wan3.0-video``), which is sent as is after checking that the
shot's inputs suit its mode. The compiled prompt is the contract: ``prompt_extend`` (the
service rewriting it) is off, and so is the watermark.

Every request to the API goes through one ``http.ApiSession``: the key reaches the configured
API origin only (never across a redirect to another origin), and every answer is bounded by the
route's ``BodyLimits``. The storage hosts that take uploads and serve results are other origins:
they are reached through credential-free sessions, so they never see the key.
"""

from __future__ import annotations

import datetime
import os
import re
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import httpx

from ..errors import ProviderError, ProviderUnavailable, RetryableError, RouteGone, TerminalError
from . import catalog, http
from .base import InputFile, JobState, JobStatus, Provider, RenderRequest
from .catalog import Route
from .dashscope_upload import Upload, UploadCache, Uploader, upload_ident

DEFAULT_BASE_URL = "https://dashscope-intl.aliyuncs.com/api/v1"
CREATE_PATH = "/services/aigc/video-generation/video-synthesis"
Mode = Literal["t2v", "i2v", "r2v", "any"]
#: A family id (``wan2.7``) as opposed to a concrete model (``wan2.7-i2v``, ``wan3.0-video``).
_FAMILY = re.compile(r"^[a-z]+\d+(?:\.\d+)*$")
_MODE_SUFFIX = re.compile(r"-(t2v|i2v|r2v)(?:-|$)")
_STATES: Mapping[str, JobState] = {"PENDING": "queued", "RUNNING": "running", "SUCCEEDED": "succeeded"}
IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp", "image/bmp")
#: Create answers after which the task may exist anyway.
#: Failed-task codes for which a new submission may succeed (the server's own trouble).
_TRANSIENT_TASK_CODES = re.compile(r"^(InternalError|ServiceUnavailable|SystemError|Timeout|Throttling)", re.I)
#: The largest ``parameters.seed`` DashScope takes (a signed 32-bit int; Wan API references as quoted by
#: docs.comfy.org, UNCONFIRMED on Alibaba's page). The spec allows a uint32 seed (Veo's range).
MAX_SEED = 2**31 - 1
#: The error code DashScope answers for a model it does not serve (on a request that names a model).
MODEL_GONE_CODE = "Model.NotExist"
_STALE_UPLOAD = re.compile(r"oss|url|download|resource|file", re.I)


def pick_model(route: Route, request: RenderRequest) -> tuple[str, Mode]:
    """The model id to send and the input mode it speaks, for this shot on this route."""
    model = catalog.wire_model(route, request.model)
    if _FAMILY.match(model):
        if request.references:
            return f"{model}-r2v", "r2v"
        if request.first_frame is not None or request.last_frame is not None:
            return f"{model}-i2v", "i2v"
        return f"{model}-t2v", "t2v"
    found = _MODE_SUFFIX.search(model)
    return model, (found.group(1) if found else "any")  # type: ignore[return-value]


class DashScopeVideo(Provider):
    """Render clips on a DashScope video-synthesis route (``wan-2.7``, ``wan-3.0``) as remote tasks.

    ``client`` is injected so tests point it at a loopback fake; the adapter closes only a
    client it made. ``upload_dir`` keeps upload records between builds (the registry passes
    the cache directory); without it uploads are remembered for this process only. ``limits``
    caps every answer, upload reply and download (default: the route's ``max_download_mb``).
    """

    remote = True

    def __init__(
        self,
        route: str | Route = "wan-2.7",
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        workspace: str = "",
        client: httpx.Client | None = None,
        prices: Mapping[str, float] | None = None,
        upload_dir: Path | None = None,
        limits: http.BodyLimits | None = None,
        reconcile_skew: float = 120.0,
        reconcile_pages: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        info = catalog.adapter_route(route, ("dashscope-video",), "DashScopeVideo")
        self.route = info
        self.name = info.name
        if not api_key:
            raise ProviderUnavailable("DASHSCOPE_API_KEY is not set; export it to render on "
                                      f"{info.name}, or route the shot elsewhere", provider=info.name)
        try:  # checked before a client exists: a misconfigured route cannot take work at all
            http.check_base_url(base_url, provider=info.name, variable="DASHSCOPE_BASE_URL")
        except TerminalError as exc:
            raise ProviderUnavailable(exc.message, provider=info.name) from exc
        self._workspace = workspace
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))
        self._session = http.ApiSession(
            self._client, base_url, http.Credential("Authorization", api_key, "Bearer "), provider=info.name,
            limits=limits or http.BodyLimits.for_route(info.max_download_mb), variable="DASHSCOPE_BASE_URL")
        self.base_url = self._session.base_url
        self.prices = dict(prices) if prices is not None else dict(info.price)
        self.reconcile_skew = reconcile_skew
        self.reconcile_pages = reconcile_pages
        self.clock = clock
        self.uploads = UploadCache(upload_dir, clock)
        self._uploader = Uploader(self._client, self._send, api_scheme=httpx.URL(self.base_url).scheme,
                                  provider=self.name, limits=self._session.limits, clock=clock)
        #: Account scope of upload records: a one-way hash of the key (an oss:// URL is per account).
        self._account = upload_ident(account=api_key, base_url="", model="", digest="")
        self._uncertain = http.UncertainCreates()
        self._upload_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DashScopeVideo(route={self.name!r}, base_url={self.base_url!r})"

    # -- the Provider interface ---------------------------------------------------------------
    def estimate_cost(self, request: RenderRequest) -> float:
        """Seconds times the per-second price at the clip's resolution (catalog or ``prices=``)."""
        rate = self.prices.get(request.resolution, self.prices.get("*", 0.0))
        return round(float(request.duration) * float(rate), 4)

    def submit(self, request: RenderRequest) -> str:
        """Check, upload local inputs (once per content), then create the task; return its id.

        A create whose outcome is unknown (connection lost after sending, 500/502/504) is
        remembered by node key; the next ``submit`` of that key first looks for the task in the
        task list, so an in-process retry never pays twice for a task that did start.
        """
        model, mode = self.check(request)
        found = self._uncertain.adopt(request, self.reconcile)
        if found is not None:
            return found
        media, uploads = self._media(request, model)
        body = self.build_body(request, model, mode, [(kind, u.url) for kind, u in media])
        headers = {"X-DashScope-Async": "enable"}
        if any(upload.url.startswith("oss://") for _, upload in media):
            headers["X-DashScope-OssResourceResolve"] = "enable"
        started = self.clock()
        try:
            response = self._request("POST", CREATE_PATH, node=request.node_id, json=body, headers=headers)
        except RetryableError as exc:
            self._uncertain.failed(request.key, started, error=exc)
            raise
        if response.status_code >= 400:
            self._uncertain.failed(request.key, started, status=response.status_code)
            error = self._error(response, request.node_id, "create", model=model, about_model=True)
            reused = [ident for ident, upload in uploads if not upload.fresh]
            if reused and response.status_code == 400 and _STALE_UPLOAD.search(error.message) \
                    and not isinstance(error, ProviderUnavailable):
                for ident in reused:  # a remembered oss:// URL the server no longer resolves
                    self.uploads.forget(ident)
                raise RetryableError(f"{error.message} (uploaded inputs reused from an earlier build were "
                                     "refused; they are uploaded again on the retry)",
                                     provider=self.name, node=request.node_id) from error
            raise error
        self._uncertain.settled(request.key)
        output = self._json(response, request.node_id).get("output")
        task_id = output.get("task_id") if isinstance(output, dict) else None
        if not isinstance(task_id, str) or not task_id:
            # Not retryable: the server accepted something, and a second create could pay twice.
            raise TerminalError(f"create answered without a task id: {response.text[:200]}; check the "
                                "Model Studio console before rerunning", provider=self.name, node=request.node_id)
        return task_id

    def poll(self, job_id: str) -> JobStatus:
        """Fetch the task; FAILED, CANCELED and UNKNOWN come back as ``failed`` with the reason."""
        body = self._json(self._send("GET", f"/tasks/{job_id}", what=f"poll {job_id}"))
        output = body.get("output")
        return self._status(job_id, output if isinstance(output, dict) else {}, body)

    def download(self, job_id: str, dest: Path, status: JobStatus) -> dict[str, Any]:
        """Stream the result from its signed URL (no credential; it expires 24 h after the task ends).

        The URL is on the vendor's storage host, never the API: it is fetched by a credential-free
        session (``http.stream_to_file``) under the route's limits, so neither the URL's host nor
        any host it redirects to can see the key, and an endless body is cut at the cap.
        """
        if status.state != "succeeded" or not status.meta.get("video_url"):
            status = self.poll(job_id)  # resumed with a stale status: the URL is in the task
        if status.state == "failed":
            raise status.error or TerminalError(f"task {job_id} failed", provider=self.name)
        url = str(status.meta.get("video_url") or "")
        if status.state != "succeeded" or not url:
            raise RetryableError(f"task {job_id} has no video yet; poll it first", provider=self.name)
        if httpx.URL(url).scheme not in ("https", httpx.URL(self.base_url).scheme):
            raise TerminalError(f"task {job_id}: refusing a video URL that is not https", provider=self.name)

        gone: list[int] = []

        def describe(response: httpx.Response) -> str:
            if response.status_code in (403, 404, 410):
                gone.append(response.status_code)
            return self._redact(response.text[:300].strip() or response.reason_phrase)

        try:
            written = http.stream_to_file(self._client, url, dest, provider=self.name, describe_error=describe,
                                          limits=self._session.limits)
        except TerminalError as exc:
            if not gone:
                raise
            # This one video is gone, not the request refused: neither retried now nor remembered as a
            # refusal, so the next build creates the task again.
            raise ProviderError(f"task {job_id}: the video URL has expired or is gone (HTTP {gone[0]}; DashScope "
                                "keeps results 24 h); the next build renders the shot anew",
                                provider=self.name) from exc
        meta = {k: status.meta[k] for k in ("model", "submit_time", "end_time", "usage") if k in status.meta}
        return {"provider": self.name, "remote_id": job_id, "bytes": written, **meta}

    def reconcile(self, request: RenderRequest, submitted_after: float) -> str | None:
        """Find the one task of this model and prompt created since ``submitted_after``, or None.

        The task list (``GET /tasks``) filters by model and a time window; its items carry no
        prompt, so each candidate is fetched and its ``orig_prompt`` compared. The window is
        widened by a day each side (the server's time zone for ``start_time`` is not documented)
        and items are then filtered by their own creation time when they carry one.
        """
        model, _ = self.check(request)
        threshold = submitted_after - self.reconcile_skew
        now = self.clock()
        window = {"model_name": model, "start_time": _stamp(threshold - 86400), "end_time": _stamp(now + 86400)}
        candidates: list[str] = []
        for page in range(1, self.reconcile_pages + 1):
            listed = self._json(self._send("GET", "/tasks", node=request.node_id, what="reconcile", about_model=True,
                                           params={**window, "page_no": str(page), "page_size": "50"}))
            items = listed.get("data") if isinstance(listed.get("data"), list) else listed.get("tasks")
            items = [i for i in items or [] if isinstance(i, dict) and isinstance(i.get("task_id"), str)]
            for item in items:
                created = _created_at(item)
                if created is None or created >= threshold:
                    candidates.append(item["task_id"])
            total = listed.get("total")
            if not items or (isinstance(total, int) and page * 50 >= total):
                break
        matches = []
        for task_id in dict.fromkeys(candidates):
            task = self._json(self._send("GET", f"/tasks/{task_id}", node=request.node_id, what="reconcile"))
            output = task.get("output") if isinstance(task.get("output"), dict) else {}
            assert isinstance(output, dict)
            prompt = output.get("orig_prompt", output.get("prompt"))
            if prompt == request.prompt and output.get("task_status") not in ("UNKNOWN", None):
                matches.append(task_id)
        return matches[0] if len(matches) == 1 else None

    def close(self) -> None:
        """Close the HTTP client if this adapter created it."""
        if self._owns_client:
            self._client.close()

    # -- requests ---------------------------------------------------------------------------------
    def check(self, request: RenderRequest) -> tuple[str, Mode]:
        """Refuse what the service would refuse; return the model id and its mode."""
        node, route = request.node_id, self.route

        def refuse(message: str) -> TerminalError:
            return TerminalError(message, provider=self.name, node=node)

        if request.kind != "clip":
            raise refuse(f"{self.name} renders clips, not {request.kind}s")
        if not request.prompt.strip():
            raise refuse("the prompt is empty")
        if request.duration != int(request.duration) or not route.accepts_duration(request.duration):
            raise refuse(f"duration {request.duration:g}s is not allowed on {self.name}; use a whole number "
                         f"of seconds, {route.describe_durations()}")
        if request.resolution not in route.resolutions:
            raise refuse(f"resolution {request.resolution} is not allowed on {self.name}; use "
                         f"{' or '.join(route.resolutions)}")
        if request.extends is not None:
            raise refuse(f"{self.name} does not extend clips here; use after: (its last frame) instead")
        if request.seed is not None and not 0 <= request.seed <= MAX_SEED:
            raise refuse(f"seed {request.seed} is out of DashScope's range: use 0 to {MAX_SEED}")
        model, mode = pick_model(route, request)
        frames = request.first_frame is not None or request.last_frame is not None
        if mode != "i2v" and request.aspect not in route.aspects:
            raise refuse(f"aspect {request.aspect} is not allowed on {self.name}; use {', '.join(route.aspects)}")
        if mode == "t2v" and (frames or request.references):
            raise refuse(f"{model} takes text only; drop the model: override to let {self.name} pick the "
                         "image- or reference-to-video model")
        if mode == "i2v" and (request.references or not frames):
            raise refuse(f"{model} takes a first and/or last frame and no references")
        if mode == "r2v" and (frames or not request.references):
            raise refuse(f"{model} takes references and no first or last frame")
        if frames and request.references and not route.references_with_frames:
            raise refuse(f"{self.name} cannot mix a first/last frame with references (character sheets); "
                         "drop after:/first_frame: or the characters' sheets for this shot")
        kinds = [_reference_kind(ref) for ref in request.references]
        if mode == "r2v" and len(kinds) > route.max_references:  # r2v counts images and videos together
            raise refuse(f"{len(kinds)} references; {model} takes at most {route.max_references} in all")
        limits = {"reference_image": route.max_references, "reference_video": route.max_reference_videos,
                  "reference_audio": route.max_reference_audios}
        for kind, limit in limits.items():
            count = kinds.count(kind)
            if count > limit:
                raise refuse(f"{count} {kind.replace('_', ' ')}{'s' if count > 1 else ''}; {self.name} takes "
                             f"at most {limit}")
        if "other" in kinds:
            bad = next(r for r in request.references if _reference_kind(r) == "other")
            raise refuse(f"{bad.path.name}: a reference must be an image, a video or audio, not {bad.mime}")
        for frame in (request.first_frame, request.last_frame):
            if frame is not None and frame.mime not in IMAGE_MIMES:
                raise refuse(f"{frame.path.name}: a frame must be PNG, JPEG, WebP or BMP, not {frame.mime}")
        return model, mode

    def build_body(self, request: RenderRequest, model: str, mode: Mode,
                   media: list[tuple[str, str]]) -> dict[str, Any]:
        """The create body: ``media`` is ``[(type, url)]`` (URLs already uploaded)."""
        input_: dict[str, Any] = {"prompt": request.prompt}
        if request.negative_prompt:
            input_["negative_prompt"] = request.negative_prompt
        if media:
            input_["media"] = [{"type": kind, "url": url} for kind, url in media]
        parameters: dict[str, Any] = {"resolution": request.resolution.upper()}
        if mode != "i2v":  # an image-to-video clip takes the first frame's shape
            parameters["ratio"] = request.aspect
        parameters["duration"] = int(request.duration)
        if request.seed is not None:
            parameters["seed"] = int(request.seed)
        parameters.update(prompt_extend=False, watermark=False, audio=bool(request.audio))
        return {"model": model, "input": input_, "parameters": parameters}

    def _media(self, request: RenderRequest, model: str) -> tuple[list[tuple[str, Upload]], list[tuple[str, Upload]]]:
        """Upload (or reuse) every input; return ``[(media type, upload)]`` and ``[(record, upload)]``."""
        wanted: list[tuple[str, InputFile]] = []
        if request.first_frame is not None:
            wanted.append(("first_frame", request.first_frame))
        if request.last_frame is not None:
            wanted.append(("last_frame", request.last_frame))
        wanted += [(_reference_kind(ref), ref) for ref in request.references]
        policy: Mapping[str, str] | None = None
        media: list[tuple[str, Upload]] = []
        used: list[tuple[str, Upload]] = []
        for kind, item in wanted:
            ident = upload_ident(account=self._account, base_url=self.base_url, model=model, digest=item.digest)
            with self._lock:
                lock = self._upload_locks.setdefault(ident, threading.Lock())
            with lock:  # two shots with the same sheet at once: one upload
                upload = self.uploads.get(ident)
                if upload is None:
                    if policy is None:
                        policy = self._uploader.policy(model, request.node_id)
                    upload = self._uploader.upload(policy, item.path, item.digest, item.mime, request.node_id)
                    self.uploads.put(ident, upload, model=model, digest=item.digest)
            media.append((kind, upload))
            used.append((ident, upload))
        return media, used

    # -- plumbing ---------------------------------------------------------------------------------
    def _request(self, method: str, path: str, *, node: str = "", headers: Mapping[str, str] | None = None,
                 **kwargs: Any) -> httpx.Response:
        """One exchange with the API through the session (the key goes to the API origin only).

        A network failure becomes ``RetryableError`` whose ``__cause__`` keeps the httpx kind
        (``submit`` tells "never sent" from "maybe delivered" by it).
        """
        if self._workspace:
            headers = {**(headers or {}), "X-DashScope-WorkSpace": self._workspace}
        try:
            return self._session.request(method, self._session.url(path), node=node, headers=headers, **kwargs)
        except httpx.TransportError as exc:
            raise http.transport_error(exc, provider=self.name, node=node, redact=self._redact) from exc

    def _send(self, method: str, path: str, *, node: str = "", what: str = "", about_model: bool = False,
              **kwargs: Any) -> httpx.Response:
        """``_request``, with an error status mapped; ``about_model``: the request names a model (see ``_error``)."""
        response = self._request(method, path, node=node, **kwargs)
        if response.status_code >= 400:
            raise self._error(response, node, what, about_model=about_model)
        return response

    def _error(self, response: httpx.Response, node: str, what: str, *, model: str = "",
               about_model: bool = False) -> ProviderError:
        """Map a DashScope error body ``{"request_id", "code", "message"}`` into the error tree.

        ``about_model``: the request names a model (a create, an upload policy, the task list),
        so its 404/410, a shutdown notice or ``Model.NotExist`` means the route's model is gone
        (``RouteGone``, ``http.route_gone``); a request about one task is about that task only.
        """
        code, message = _error_body(response)
        words = self._redact(f"{code}: {message}" if code else message)
        status = response.status_code
        prefix = f"{what}: " if what else ""
        if code == "DataInspectionFailed" or "inspection" in code.lower():
            return TerminalError(f"{prefix}refused by DashScope's content inspection: {words} (change the prompt "
                                 "or the input images)", provider=self.name, node=node)
        if code.startswith("Throttling") or status == 429:
            return RetryableError(f"{prefix}HTTP {status}: {words}", provider=self.name, node=node,
                                  retry_after=http.parse_retry_after(response.headers))
        if about_model and (code == MODEL_GONE_CODE or http.route_gone(status, message, about_model=True)):
            return RouteGone(f"{prefix}the model {model or self.route.model} is not served at {self.base_url} "
                             f"(HTTP {status}: {words}); it may be retired, or need another region "
                             "(DASHSCOPE_BASE_URL): route the shot elsewhere or add a fallback",
                             provider=self.name, node=node)
        if status in (401, 403) or code in ("InvalidApiKey", "Arrearage") or code.startswith("AccessDenied"):
            # The account cannot render on this route at all: unavailable (its fallbacks may), and not a
            # refusal of this shot that a later build with a fixed key should remember.
            return ProviderUnavailable(f"{prefix}HTTP {status}: {words}; check DASHSCOPE_API_KEY (and its "
                                       "account's balance and model access), and that the key belongs to the "
                                       "region of DASHSCOPE_BASE_URL", provider=self.name, node=node)
        return http.error_for_status(status, f"{prefix}{words}", headers=response.headers, provider=self.name,
                                     node=node)

    def _status(self, job_id: str, output: Mapping[str, Any], body: Mapping[str, Any]) -> JobStatus:
        raw = str(output.get("task_status") or "")
        meta: dict[str, Any] = {"task_id": job_id, "task_status": raw}
        for key in ("submit_time", "end_time", "video_url"):
            if isinstance(output.get(key), str):
                meta[key] = output[key]
        if isinstance(body.get("usage"), dict):
            meta["usage"] = dict(body["usage"])
        if raw in _STATES:
            return JobStatus(state=_STATES[raw], progress=1.0 if raw == "SUCCEEDED" else None, meta=meta)
        code, message = str(output.get("code") or ""), self._redact(str(output.get("message") or "no reason given"))
        error: ProviderError
        if raw == "FAILED" and ("inspection" in code.lower() or code == "DataInspectionFailed"):
            error = TerminalError(f"task {job_id} refused by DashScope's content inspection: {message} ({code})",
                                  provider=self.name)
        elif raw == "FAILED" and _TRANSIENT_TASK_CODES.match(code):
            error = RetryableError(f"task {job_id} failed on the server: {message} ({code}); a new submission "
                                   "may succeed", provider=self.name)
        elif raw == "FAILED":
            error = TerminalError(f"task {job_id} failed: {message} ({code or 'no code'})", provider=self.name)
        elif raw == "CANCELED":
            error = TerminalError(f"task {job_id} was canceled (in the console or by another client)",
                                  provider=self.name)
        elif raw == "UNKNOWN":
            error = RetryableError(f"task {job_id} is unknown to {self.base_url}: it expired (tasks live 24 h) or "
                                   "was created with another key or region; the next build creates it again",
                                   provider=self.name)
        else:
            error = TerminalError(f"task {job_id} has an unknown status {raw!r}", provider=self.name)
        return JobStatus(state="failed", error=error, meta=meta)

    def _json(self, response: httpx.Response, node: str = "") -> dict[str, Any]:
        try:
            data = response.json()
        except (ValueError, UnicodeDecodeError) as exc:
            raise RetryableError(f"HTTP {response.status_code} with a body that is not JSON", provider=self.name,
                                 node=node) from exc
        if not isinstance(data, dict):
            raise RetryableError("expected a JSON object from DashScope", provider=self.name, node=node)
        return data

    def _redact(self, text: str) -> str:
        return self._session.redact(text)


def from_env(route: str | Route, env: Mapping[str, str] | None = None, client: httpx.Client | None = None,
             *, state_dir: Path | None = None, **options: Any) -> DashScopeVideo:
    """Build from ``DASHSCOPE_API_KEY``, ``DASHSCOPE_BASE_URL`` and ``DASHSCOPE_WORKSPACE``.

    ``state_dir`` (the cache directory, from the registry) keeps upload records between builds.
    """
    env = os.environ if env is None else env
    return DashScopeVideo(
        route, api_key=env.get("DASHSCOPE_API_KEY", "").strip(),
        base_url=env.get("DASHSCOPE_BASE_URL", "").strip() or DEFAULT_BASE_URL,
        workspace=env.get("DASHSCOPE_WORKSPACE", "").strip(), client=client,
        upload_dir=state_dir / "uploads" / "dashscope" if state_dir is not None else None, **options)


def _reference_kind(ref: InputFile) -> str:
    if ref.mime.startswith("image/"):
        return "reference_image"
    if ref.mime.startswith("video/"):
        return "reference_video"
    if ref.mime.startswith("audio/"):
        return "reference_audio"
    return "other"


def _error_body(response: httpx.Response) -> tuple[str, str]:
    try:
        data: Any = response.json()
    except (ValueError, UnicodeDecodeError):
        return "", response.text[:300].strip() or response.reason_phrase
    if not isinstance(data, dict):
        return "", str(data)[:300]
    return str(data.get("code") or ""), str(data.get("message") or response.reason_phrase)


def _stamp(when: float) -> str:
    """``YYYYMMDDhhmmss`` in UTC, the task list's time format."""
    return datetime.datetime.fromtimestamp(max(0.0, when), datetime.UTC).strftime("%Y%m%d%H%M%S")


def _created_at(item: Mapping[str, Any]) -> float | None:
    """A listed task's creation time in unix seconds (``gmt_create`` in ms), when it has one."""
    value = item.get("gmt_create", item.get("start_time"))
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return value / 1000.0 if value > 1e11 else float(value)
    return None


__all__ = ["DEFAULT_BASE_URL", "DashScopeVideo", "from_env", "pick_model"]
