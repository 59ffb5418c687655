"""Veo 3.1 on Vertex AI: ``predictLongRunning``, then ``fetchPredictOperation`` (a POST).

Wire protocol (shared/providers.md §3)::

    POST {base}/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:predictLongRunning
         -> {"name": "projects/{p}/locations/{l}/publishers/google/models/{m}/operations/{id}"}
    POST {base}/v1/projects/.../models/{m}:fetchPredictOperation  {"operationName": name}
         -> {"done": true, "response": {"videos": [{"bytesBase64Encoded"|"gcsUri", "mimeType"}]}}

Without a ``storageUri`` the video comes back inline as base64; with one, Vertex writes it
to Cloud Storage and answers a ``gs://`` URI, fetched from ``{storage_url}/BUCKET/OBJECT``.

Configuration (``from_env``): ``GOOGLE_CLOUD_PROJECT`` (required), ``GOOGLE_CLOUD_LOCATION``
(default ``us-central1``; ``global`` uses host ``aiplatform.googleapis.com``),
``GOOGLE_OAUTH_ACCESS_TOKEN`` (required: an OAuth 2 access token, e.g. from
``gcloud auth print-access-token``; it expires after about an hour, so long builds should pass
a ``token`` callable instead), ``SHOTMAKE_VERTEX_BASE_URL`` (gateways and fakes),
``SHOTMAKE_GCS_BASE_URL`` (default ``https://storage.googleapis.com``) and
``SHOTMAKE_VERTEX_STORAGE_URI`` (optional ``gs://`` output prefix).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import ProviderUnavailable, RetryableError, TerminalError
from . import google_wire as wire
from . import http
from .base import JobStatus, Provider, RenderRequest
from .catalog import ROUTES, Route
from .gemini_veo import veo_route
from .veo_limits import check_request

DEFAULT_STORAGE_URL = "https://storage.googleapis.com"
#: Route name -> Vertex model id (GA ids for 3.1 and 3.1 Fast; Lite is in preview as -001).
VERTEX_MODELS = {
    "veo-3.1": "veo-3.1-generate-001",
    "veo-3.1-fast": "veo-3.1-fast-generate-001",
    "veo-3.1-lite": "veo-3.1-lite-generate-001",
}
_OPERATION = re.compile(
    r"^(?P<model_path>projects/[^/]+/locations/[^/]+/publishers/google/models/(?P<model>[^/:]+))/operations/[^/]+$"
)


def vertex_host(location: str) -> str:
    """Return the regional endpoint for ``location`` (``global`` has no region prefix)."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def vertex_model(route: Route, requested: str) -> str:
    """Map a route or a Gemini API model id to its Vertex id; a Vertex id passes through."""
    gemini_ids = {r.model: name for name, r in ROUTES.items() if name in VERTEX_MODELS}
    if not requested or requested in ROUTES:
        return VERTEX_MODELS[route.name]
    if requested in gemini_ids:
        return VERTEX_MODELS[gemini_ids[requested]]
    return requested


class VertexVeo(Provider):
    """Veo 3.1 / Fast / Lite on Vertex AI, authenticated with an OAuth bearer token."""

    remote = True

    def __init__(
        self,
        project: str,
        *,
        token: str | Callable[[], str],
        route: str = "veo-3.1",
        location: str = "us-central1",
        base_url: str | None = None,
        storage_url: str = DEFAULT_STORAGE_URL,
        storage_uri: str | None = None,
        client: httpx.Client | None = None,
        api_version: str = "v1",
        poll_interval: float | None = None,
        clock: Callable[[], float] = time.time,
        prices: Mapping[str, float] | None = None,
    ) -> None:
        """Build an adapter for one route in one project and location.

        ``token`` is a bearer token or a callable returning a fresh one per request.
        ``storage_uri`` (``gs://bucket/prefix``) makes Vertex write outputs to Cloud Storage
        instead of answering inline bytes. ``prices`` overrides catalog USD per second.
        """
        if not project:
            raise ProviderUnavailable("no Google Cloud project; set GOOGLE_CLOUD_PROJECT", provider=route)
        if not token:
            raise ProviderUnavailable("no OAuth access token; set GOOGLE_OAUTH_ACCESS_TOKEN "
                                      "(e.g. `gcloud auth print-access-token`)", provider=route)
        if storage_uri and not storage_uri.startswith("gs://"):
            raise TerminalError(f"storage URI must start with gs://, not {storage_uri!r}", provider=route)
        self.route = veo_route(route)
        self.name = self.route.name
        self.project = project
        self.location = location
        self.base_url = (base_url or vertex_host(location)).rstrip("/")
        self.storage_url = storage_url.rstrip("/")
        self.storage_uri = storage_uri
        self.api_version = api_version
        self.poll_interval = poll_interval
        self._token = token
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=httpx.Timeout(120.0, connect=10.0))
        self._clock = clock
        self._prices = dict(prices) if prices else None
        #: Finished operations' inline base64 videos, kept until downloaded (never put in meta,
        #: which callers may persist).
        self._inline: dict[str, str] = {}

    @classmethod
    def from_env(
        cls, route: str, env: Mapping[str, str] | None = None, client: httpx.Client | None = None, **options: Any
    ) -> VertexVeo:
        """Build from the environment variables listed in the module docstring."""
        env = os.environ if env is None else env
        return cls(
            env.get("GOOGLE_CLOUD_PROJECT", ""),
            token=env.get("GOOGLE_OAUTH_ACCESS_TOKEN", ""),
            route=route,
            location=env.get("GOOGLE_CLOUD_LOCATION") or "us-central1",
            base_url=env.get("SHOTMAKE_VERTEX_BASE_URL") or None,
            storage_url=env.get("SHOTMAKE_GCS_BASE_URL") or DEFAULT_STORAGE_URL,
            storage_uri=env.get("SHOTMAKE_VERTEX_STORAGE_URI") or None,
            client=client,
            **options,
        )

    # -- Provider ---------------------------------------------------------------------------
    def check(self, request: RenderRequest) -> None:
        """Raise ``TerminalError`` if Veo on Vertex would refuse ``request``."""
        check_request(self.route, request, backend="vertex", now=self._clock())

    def estimate_cost(self, request: RenderRequest) -> float:
        """USD for the clip: catalog (or overridden) price per second × seconds (7 to extend)."""
        per_second = (self._prices or {}).get(request.resolution, self.route.price_for(request.resolution))
        seconds = self.route.extension_step if request.extends is not None else request.duration
        return round(per_second * seconds, 4)

    def submit(self, request: RenderRequest) -> str:
        """Check limits, then POST one ``predictLongRunning``; return the operation name."""
        self.check(request)
        model = vertex_model(self.route, request.model)
        url = (f"{self.base_url}/{self.api_version}/projects/{self.project}/locations/{self.location}"
               f"/publishers/google/models/{model}:predictLongRunning")
        response = self._post(url, self.build_body(request), request.node_id, create=True)
        name = wire.json_body(response, provider=self.name, node=request.node_id).get("name")
        if not isinstance(name, str) or not _OPERATION.match(name):
            raise TerminalError(f"create answered without an operation name: {str(name)[:200]}",
                                provider=self.name, node=request.node_id)
        return name

    def poll(self, job_id: str) -> JobStatus:
        """POST ``fetchPredictOperation``; failed or filtered jobs return ``state="failed"``."""
        match = self._match(job_id)
        url = f"{self.base_url}/{self.api_version}/{match.group('model_path')}:fetchPredictOperation"
        response = self._post(url, {"operationName": job_id}, "")
        return self._status(job_id, wire.json_body(response, provider=self.name))

    def download(self, job_id: str, dest: Path, status: JobStatus) -> dict[str, Any]:
        """Write the video to ``dest`` from inline base64 or Cloud Storage; return its metadata."""
        match = self._match(job_id)
        if status.state != "succeeded" or not (status.meta.get("uri") or job_id in self._inline):
            status = self.poll(job_id)  # resumed from a journal: the inline bytes are not in memory
        if status.state == "failed":
            raise status.error or TerminalError(f"operation {job_id} failed", provider=self.name)
        if status.state != "succeeded":
            raise RetryableError(f"operation {job_id} has not finished yet; poll it first", provider=self.name)
        uri = str(status.meta.get("uri") or "")
        if uri:
            written = http.stream_to_file(
                self._client, self._object_url(uri), dest, headers=self._headers(),
                provider=self.name, describe_error=self._describe,
            )
        else:
            written = wire.write_base64(self._inline.pop(job_id), dest)
        return {
            "backend": "vertex",
            "operation": job_id,
            "model": match.group("model"),
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
        """Return the Vertex ``predictLongRunning`` JSON for ``request`` (limits already checked)."""
        instance: dict[str, Any] = {}
        if request.prompt:
            instance["prompt"] = request.prompt
        if request.first_frame is not None:
            instance["image"] = wire.media_part(wire.b64_image(request.first_frame.path), request.first_frame.mime,
                                                "bytesBase64Encoded")
        if request.last_frame is not None:
            instance["lastFrame"] = wire.media_part(wire.b64_image(request.last_frame.path),
                                                    request.last_frame.mime, "bytesBase64Encoded")
        if request.references:
            instance["referenceImages"] = [
                {"image": wire.media_part(wire.b64_image(ref.path), ref.mime, "bytesBase64Encoded"),
                 "referenceType": "asset"}
                for ref in request.references
            ]
        parameters: dict[str, Any] = {
            "aspectRatio": request.aspect,
            "resolution": request.resolution,
            "sampleCount": 1,
            "generateAudio": request.audio,
        }
        if request.extends is not None:
            source = request.extends
            remote = source.meta.get("remote_uri")
            if isinstance(remote, str) and remote.startswith("gs://"):
                instance["video"] = {"gcsUri": remote, "mimeType": "video/mp4"}
            else:  # Vertex takes the clip itself; we have it on disk
                instance["video"] = {"bytesBase64Encoded": wire.b64_image(source.path), "mimeType": "video/mp4"}
        else:
            parameters["durationSeconds"] = int(request.duration)
        if request.negative_prompt:
            parameters["negativePrompt"] = request.negative_prompt
        if request.seed is not None:
            parameters["seed"] = request.seed
        if self.storage_uri:
            parameters["storageUri"] = self.storage_uri
        return {"instances": [instance], "parameters": parameters}

    # -- responses --------------------------------------------------------------------------
    def _status(self, job_id: str, op: dict[str, Any]) -> JobStatus:
        meta: dict[str, Any] = {"operation": job_id}
        if not op.get("done"):
            return JobStatus(state="running", poll_after=self.poll_interval, meta=meta)
        if isinstance(op.get("error"), dict):
            return JobStatus(state="failed", meta=meta,
                             error=wire.operation_error(op["error"], provider=self.name, what="Veo operation"))
        response = op.get("response") if isinstance(op.get("response"), dict) else {}
        assert isinstance(response, dict)
        videos = [v for v in response.get("videos") or [] if isinstance(v, dict)]
        if videos and videos[0].get("gcsUri"):
            return JobStatus(state="succeeded", progress=1.0, meta={**meta, "uri": str(videos[0]["gcsUri"])})
        if videos and videos[0].get("bytesBase64Encoded"):
            self._inline[job_id] = str(videos[0]["bytesBase64Encoded"])
            return JobStatus(state="succeeded", progress=1.0, meta={**meta, "inline": True})
        if response.get("raiMediaFilteredCount"):
            return JobStatus(state="failed", meta=meta, error=wire.rai_error(
                response["raiMediaFilteredCount"], response.get("raiMediaFilteredReasons"), provider=self.name))
        return JobStatus(state="failed", meta=meta, error=TerminalError(
            "Veo operation finished without a video or a reason", provider=self.name))

    def _object_url(self, uri: str) -> str:
        """``gs://bucket/a/b.mp4`` -> ``{storage_url}/bucket/a/b.mp4`` (the XML API's object URL)."""
        if not uri.startswith("gs://"):
            raise TerminalError(f"unexpected video location {uri[:200]!r}", provider=self.name)
        bucket, _, obj = uri[len("gs://"):].partition("/")
        return f"{self.storage_url}/{bucket}/{quote(obj, safe='/')}"

    def _describe(self, response: httpx.Response) -> str:
        text = wire.redact(wire.describe_error(response), self._current_token())
        if response.status_code == 404:
            text += " (the Cloud Storage object is gone; check the bucket's lifecycle rules, then re-render)"
        return text

    # -- plumbing ---------------------------------------------------------------------------
    def _match(self, job_id: str) -> re.Match[str]:
        match = _OPERATION.match(job_id)
        if match is None:
            raise TerminalError(f"not a Vertex operation name: {job_id!r} (expected projects/<p>/locations/<l>/"
                                "publishers/google/models/<m>/operations/<id>)", provider=self.name)
        return match

    def _current_token(self) -> str:
        return self._token() if callable(self._token) else self._token

    def _headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._current_token()}"}

    def _post(self, url: str, body: Any, node: str, *, create: bool = False) -> httpx.Response:
        """POST JSON with the bearer token; map failures into the error tree."""
        token = self._current_token()
        try:
            response = self._client.post(url, json=body, headers={"authorization": f"Bearer {token}"})
        except httpx.TransportError as exc:
            raise wire.transport_failure(exc, provider=self.name, node=node, secrets=(token,), sent=create) from exc
        if response.status_code >= 400:
            hint = ""
            if response.status_code == 401:
                hint = "the OAuth token is missing or expired; refresh GOOGLE_OAUTH_ACCESS_TOKEN"
            elif response.status_code == 403:
                hint = "check GOOGLE_CLOUD_PROJECT and that Vertex AI is enabled for it"
            elif response.status_code == 404 and not create:
                hint = "the operation is unknown or expired"
            raise wire.error_for_response(response, provider=self.name, node=node, secrets=(token,), hint=hint)
        return response


def from_env(
    route: str, env: Mapping[str, str] | None = None, client: httpx.Client | None = None, **options: Any
) -> VertexVeo:
    """Module-level constructor for registries: ``VertexVeo.from_env`` (``options``: e.g. ``prices=``)."""
    return VertexVeo.from_env(route, env, client, **options)
