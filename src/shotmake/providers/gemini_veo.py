"""Veo 3.1 over the Gemini API: create an operation, poll it, stream the file it names.

Wire protocol (shared/providers.md §2)::

    POST {base}/v1beta/models/{model}:predictLongRunning   -> {"name": "models/{model}/operations/{id}"}
    GET  {base}/v1beta/{name}                               -> {"done": true, "response": {...}} | no done
    GET  {uri}  (302 -> bytes)                              -> the MP4

The job id is the operation name, so any adapter instance (after a crash, in another
process) can resume a job from the journal. The API key travels only in the
``x-goog-api-key`` header: never in a URL, a message or the returned metadata.

Example::

    veo = GeminiVeo(api_key, route="veo-3.1-fast", client=httpx.Client())
    job = veo.submit(request)                 # exactly one POST
    while (status := veo.poll(job)).state == "running":
        time.sleep(status.poll_after or 10)   # Google sends no hint: poll_after is None
    meta = veo.download(job, dest, status)    # meta["remote_uri"] feeds a later extension
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from ..errors import ProviderUnavailable, RetryableError, TerminalError
from . import google_wire as wire
from . import http
from .base import JobStatus, Provider, RenderRequest
from .catalog import ROUTES, Route
from .veo_limits import check_request

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
API_VERSION = "v1beta"
ROUTE_NAMES = ("veo-3.1", "veo-3.1-fast", "veo-3.1-lite")
ImageEncoding = Literal["inlineData", "bytesBase64Encoded"]

_OPERATION = re.compile(r"^models/(?P<model>[^/]+)/operations/[^/]+$")
_FILE_DOWNLOAD = re.compile(r"/files/(?P<id>[^/:?]+):download")


def veo_route(name: str) -> Route:
    """Return the catalog route for a Veo route name or raise ``TerminalError`` listing them."""
    found = ROUTES.get(name)
    if found is None or name not in ROUTE_NAMES:
        raise TerminalError(f"unknown Veo route {name!r}; use one of {', '.join(ROUTE_NAMES)}", provider=name)
    return found


def model_for(route: Route, requested: str) -> str:
    """Pick the model id: a concrete id in the request wins, a route name means the route's model."""
    if not requested or requested in ROUTES:
        return route.model
    return requested


class GeminiVeo(Provider):
    """Veo 3.1 / Fast / Lite on the Gemini API (``generativelanguage.googleapis.com``)."""

    remote = True

    def __init__(
        self,
        api_key: str,
        *,
        route: str = "veo-3.1",
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.Client | None = None,
        image_encoding: ImageEncoding = "inlineData",
        poll_interval: float | None = None,
        clock: Callable[[], float] = time.time,
        prices: Mapping[str, float] | None = None,
        send_seed: bool = False,
    ) -> None:
        """Build an adapter for one route.

        ``base_url`` is the host root (``/v1beta`` is appended). ``client`` is injected so tests
        and gateways choose transport and timeouts; when omitted the adapter owns one and
        closes it in ``close()``. ``poll_interval`` becomes ``JobStatus.poll_after`` of running
        jobs; Google sends no pacing hint, so the default None leaves pacing to the caller (the
        docs poll every 10 s). ``prices`` overrides the catalog's USD per second by
        resolution. ``send_seed`` sends ``parameters.seed``: the docs say Veo 3 honours it but
        the SDK refuses it on the Gemini API, so it is off until confirmed.
        """
        if not api_key:
            raise ProviderUnavailable("no Gemini API key; set GEMINI_API_KEY (or GOOGLE_API_KEY)", provider=route)
        if image_encoding not in ("inlineData", "bytesBase64Encoded"):
            raise TerminalError(f"image_encoding must be inlineData or bytesBase64Encoded, not {image_encoding!r}")
        self.route = veo_route(route)
        self.name = self.route.name
        self._key = api_key
        self.base_url = base_url.rstrip("/")
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0))
        self.image_encoding: ImageEncoding = image_encoding
        self.poll_interval = poll_interval
        self._clock = clock
        self._prices = dict(prices) if prices else None
        self._send_seed = send_seed
        #: Operations that answered with inline ``encodedVideo`` bytes, until downloaded.
        self._inline: dict[str, str] = {}

    @classmethod
    def from_env(
        cls,
        route: str,
        env: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
        **options: Any,
    ) -> GeminiVeo:
        """Build from ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``) and ``GOOGLE_GEMINI_BASE_URL``."""
        env = os.environ if env is None else env
        key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or ""
        base = env.get("GOOGLE_GEMINI_BASE_URL") or DEFAULT_BASE_URL
        return cls(key, route=route, base_url=base, client=client, **options)

    # -- Provider ---------------------------------------------------------------------------
    def check(self, request: RenderRequest) -> None:
        """Raise ``TerminalError`` if Veo on the Gemini API would refuse ``request``."""
        check_request(self.route, request, backend="gemini", now=self._clock())

    def estimate_cost(self, request: RenderRequest) -> float:
        """USD for the clip: price per second at its resolution × seconds (7 for an extension)."""
        per_second = (self._prices or {}).get(request.resolution, self.route.price_for(request.resolution))
        seconds = self.route.extension_step if request.extends is not None else request.duration
        return round(per_second * seconds, 4)

    def submit(self, request: RenderRequest) -> str:
        """Check limits, then POST one ``predictLongRunning``; return the operation name."""
        self.check(request)
        model = model_for(self.route, request.model)
        body = self.build_body(request)
        url = f"{self.base_url}/{API_VERSION}/models/{model}:predictLongRunning"
        response = self._send("POST", url, request.node_id, json=body, create=True)
        name = wire.json_body(response, provider=self.name, node=request.node_id).get("name")
        if not isinstance(name, str) or not _OPERATION.match(name):
            raise TerminalError(f"create answered without an operation name: {str(name)[:200]}",
                                provider=self.name, node=request.node_id)
        return name

    def poll(self, job_id: str) -> JobStatus:
        """GET the operation; a failed or filtered job comes back as ``state="failed"`` with its error.

        Raises only when the poll itself fails (HTTP error, network): the job may be fine.
        """
        self._check_job_id(job_id)
        response = self._send("GET", f"{self.base_url}/{API_VERSION}/{job_id}", "")
        return self._status(job_id, wire.json_body(response, provider=self.name))

    def download(self, job_id: str, dest: Path, status: JobStatus) -> dict[str, Any]:
        """Stream the finished video to ``dest`` (following the redirect); return its metadata.

        Metadata: ``remote_uri`` (what a later extension must point at), ``operation``,
        ``model``, ``generated_at`` (unix seconds; Google deletes the video 2 days later),
        ``backend`` and ``bytes``.
        """
        self._check_job_id(job_id)
        if status.state != "succeeded" or not (status.meta.get("uri") or job_id in self._inline):
            status = self.poll(job_id)  # resumed with a stale status: ask the server again
        if status.state == "failed":
            raise status.error or TerminalError(f"operation {job_id} failed", provider=self.name)
        if status.state != "succeeded":
            raise RetryableError(f"operation {job_id} has not finished yet; poll it first", provider=self.name)
        uri = str(status.meta.get("uri") or "")
        if not uri:
            written = wire.write_base64(self._inline.pop(job_id), dest)
        else:
            written = http.stream_to_file(
                self._client, self._download_url(uri), dest,
                headers={"x-goog-api-key": self._key}, provider=self.name, describe_error=self._describe_download,
            )
        match = _OPERATION.match(job_id)
        return {
            "backend": "gemini",
            "operation": job_id,
            "model": match.group("model") if match else "",
            "remote_uri": uri,
            "generated_at": self._clock(),
            "bytes": written,
        }

    def close(self) -> None:
        """Close the HTTP client if this adapter created it."""
        if self._owns_client:
            self._client.close()

    # -- request building -------------------------------------------------------------------
    def build_body(self, request: RenderRequest) -> dict[str, Any]:
        """Return the ``predictLongRunning`` JSON for ``request`` (limits already checked)."""
        instance: dict[str, Any] = {}
        if request.prompt:
            instance["prompt"] = request.prompt
        if request.first_frame is not None:
            instance["image"] = self._image(request.first_frame.path, request.first_frame.mime)
        if request.last_frame is not None:
            instance["lastFrame"] = self._image(request.last_frame.path, request.last_frame.mime)
        if request.references:
            instance["referenceImages"] = [
                {"image": self._image(ref.path, ref.mime), "referenceType": "asset"} for ref in request.references
            ]
        parameters: dict[str, Any] = {
            "aspectRatio": request.aspect,
            "resolution": request.resolution,
            "sampleCount": 1,
        }
        if request.extends is not None:
            # The output length is fixed by the API (input + 7 s); durationSeconds is left to
            # the server's default (8, the only value the docs allow for extensions).
            instance["video"] = {"uri": str(request.extends.meta["remote_uri"])}
        else:
            parameters["durationSeconds"] = int(request.duration)
        if request.negative_prompt:
            parameters["negativePrompt"] = request.negative_prompt
        if self._send_seed and request.seed is not None:
            parameters["seed"] = request.seed
        return {"instances": [instance], "parameters": parameters}

    def _image(self, path: Path, mime: str) -> dict[str, Any]:
        return wire.media_part(wire.b64_image(path), mime, self.image_encoding)

    # -- responses --------------------------------------------------------------------------
    def _status(self, job_id: str, op: dict[str, Any]) -> JobStatus:
        meta: dict[str, Any] = {"operation": job_id}
        if not op.get("done"):  # proto3 JSON omits false: missing means running
            return JobStatus(state="running", poll_after=self.poll_interval, meta=meta)
        if isinstance(op.get("error"), dict):
            return JobStatus(state="failed", meta=meta,
                             error=wire.operation_error(op["error"], provider=self.name, what="Veo operation"))
        response = op.get("response") if isinstance(op.get("response"), dict) else {}
        assert isinstance(response, dict)
        result = response.get("generateVideoResponse") or {}
        samples = result.get("generatedSamples") or []
        video = samples[0].get("video") if samples and isinstance(samples[0], dict) else None
        if isinstance(video, dict) and video.get("uri"):
            return JobStatus(state="succeeded", progress=1.0, meta={**meta, "uri": video["uri"]})
        if isinstance(video, dict) and video.get("encodedVideo"):
            # Inline bytes stay in memory, not in meta: callers may persist meta in the journal.
            self._inline[job_id] = str(video["encodedVideo"])
            return JobStatus(state="succeeded", progress=1.0, meta={**meta, "inline": True})
        if result.get("raiMediaFilteredCount"):
            return JobStatus(state="failed", meta=meta, error=wire.rai_error(
                result["raiMediaFilteredCount"], result.get("raiMediaFilteredReasons"), provider=self.name))
        return JobStatus(state="failed", meta=meta, error=TerminalError(
            "Veo operation finished without a video or a reason", provider=self.name))

    def _download_url(self, uri: str) -> str:
        """Point file downloads at the configured host, as the SDK does, so the key goes nowhere else."""
        match = _FILE_DOWNLOAD.search(urlsplit(uri).path)
        if match and urlsplit(uri).netloc != urlsplit(self.base_url).netloc:
            return f"{self.base_url}/{API_VERSION}/files/{match.group('id')}:download?alt=media"
        return uri

    def _describe_download(self, response: httpx.Response) -> str:
        text = wire.redact(wire.describe_error(response), self._key)
        if response.status_code == 404:
            text += (" (the video is gone: the Gemini API deletes generated videos 2 days after "
                     "generation; re-render the shot)")
        return text

    # -- plumbing ---------------------------------------------------------------------------
    def _check_job_id(self, job_id: str) -> None:
        if not _OPERATION.match(job_id):
            raise TerminalError(f"not a Gemini operation name: {job_id!r} (expected models/<model>/operations/<id>)",
                                provider=self.name)

    def _send(self, method: str, url: str, node: str, *, json: Any = None, create: bool = False) -> httpx.Response:
        """Send one request with the key header; map failures into the error tree."""
        try:
            response = self._client.request(method, url, json=json, headers={"x-goog-api-key": self._key})
        except httpx.TransportError as exc:
            raise wire.transport_failure(exc, provider=self.name, node=node, secrets=(self._key,),
                                         sent=create) from exc
        if response.status_code >= 400:
            hint = ""
            if response.status_code == 404 and not create:
                hint = "the operation is unknown or expired"
            elif response.status_code in (401, 403) or "api key" in response.text.lower():
                hint = "check GEMINI_API_KEY"
            raise wire.error_for_response(response, provider=self.name, node=node, secrets=(self._key,), hint=hint)
        return response


def from_env(
    route: str,
    env: Mapping[str, str] | None = None,
    client: httpx.Client | None = None,
    backend: str | None = None,
    **options: Any,
) -> Provider:
    """Build the Veo adapter the environment asks for: Gemini API, or Vertex AI.

    ``SHOTMAKE_VEO_BACKEND=vertex`` (or ``backend="vertex"``) selects ``VertexVeo``; anything
    else, or nothing, the Gemini API. Missing credentials raise ``TerminalError``.
    """
    env = os.environ if env is None else env
    chosen = (backend or env.get("SHOTMAKE_VEO_BACKEND") or "gemini").lower()
    if chosen == "vertex":
        from .vertex_veo import VertexVeo  # imported here: most users never need Vertex

        return VertexVeo.from_env(route, env, client, **options)
    if chosen != "gemini":
        raise TerminalError(f"SHOTMAKE_VEO_BACKEND={chosen!r} is unknown; use gemini or vertex", provider=route)
    return GeminiVeo.from_env(route, env, client, **options)


__all__ = ["DEFAULT_BASE_URL", "ROUTE_NAMES", "GeminiVeo", "from_env", "model_for", "veo_route"]
