"""Veo 3.1 on Vertex AI: ``predictLongRunning``, then ``fetchPredictOperation`` (a POST).

Wire protocol (docs/providers.md, "Veo on Vertex AI")::

    POST {base}/v1/projects/{p}/locations/{l}/publishers/google/models/{m}:predictLongRunning
         -> {"name": "projects/{p}/locations/{l}/publishers/google/models/{m}/operations/{id}"}
    POST {base}/v1/projects/.../models/{m}:fetchPredictOperation  {"operationName": name}
         -> {"done": true, "response": {"videos": [{"bytesBase64Encoded"|"gcsUri", "mimeType"}]}}

Without a ``storageUri`` the video comes back inline as base64; with one, Vertex writes it
to Cloud Storage and answers a ``gs://`` URI, fetched from ``{storage_url}/BUCKET/OBJECT``.
The job protocol itself (resume by operation name, status parsing, body building, error
mapping) is shared with the Gemini API in ``veo_common``; this module holds what only
Vertex does.

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
from typing import Any
from urllib.parse import quote

import httpx

from ..errors import ProviderUnavailable, TerminalError
from . import google_wire as wire
from . import http
from .base import InputFile, RenderRequest
from .catalog import ROUTES, Route, route_name
from .veo_common import Output, VeoAdapter

DEFAULT_STORAGE_URL = "https://storage.googleapis.com"
#: Route name -> Vertex model id (GA ids for 3.1 and 3.1 Fast; Lite is in preview as -001).
VERTEX_MODELS = {
    "veo-3.1": "veo-3.1-generate-001",
    "veo-3.1-fast": "veo-3.1-fast-generate-001",
    "veo-3.1-lite": "veo-3.1-lite-generate-001",
}


def vertex_host(location: str) -> str:
    """Return the regional endpoint for ``location`` (``global`` has no region prefix)."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


def vertex_model(route: Route, requested: str) -> str:
    """Map a route or a Gemini API model id to its Vertex id; a Vertex id passes through."""
    gemini_ids = {r.model: name for name, r in ROUTES.items() if name in VERTEX_MODELS}
    if requested in gemini_ids:
        return VERTEX_MODELS[gemini_ids[requested]]
    if not requested or requested in ROUTES:
        return VERTEX_MODELS.get(route.name, route.model)
    return requested


class VertexVeo(VeoAdapter):
    """Veo 3.1 / Fast / Lite on Vertex AI, authenticated with an OAuth bearer token."""

    backend = "vertex"
    label = "Vertex"
    operation = re.compile(
        r"(?P<model_path>projects/[^/\s]+/locations/[^/\s]+/publishers/google/models/(?P<model>[^/:\s]+))"
        r"/operations/[^/\s]+"
    )
    operation_shape = "projects/<p>/locations/<l>/publishers/google/models/<m>/operations/<id>"
    gone_hint = " (the Cloud Storage object is gone; check the bucket's lifecycle rules, then re-render)"
    sends_audio = True

    def __init__(
        self,
        project: str,
        *,
        token: str | Callable[[], str],
        route: str | Route = "veo-3.1",
        location: str = "us-central1",
        base_url: str | None = None,
        storage_url: str = DEFAULT_STORAGE_URL,
        storage_uri: str | None = None,
        client: httpx.Client | None = None,
        api_version: str = "v1",
        poll_interval: float | None = None,
        clock: Callable[[], float] = time.time,
        prices: Mapping[str, float] | None = None,
        limits: http.BodyLimits | None = None,
    ) -> None:
        """Build an adapter for one route in one project and location.

        ``token`` is a bearer token or a callable returning a fresh one per request; it goes to
        the Vertex host and the Cloud Storage host (``storage_url``) only.
        ``storage_uri`` (``gs://bucket/prefix``) makes Vertex write outputs to Cloud Storage
        instead of answering inline bytes. ``prices`` overrides catalog USD per second.
        """
        if not project:
            raise ProviderUnavailable("no Google Cloud project; set GOOGLE_CLOUD_PROJECT", provider=route_name(route))
        if not token:
            raise ProviderUnavailable("no OAuth access token; set GOOGLE_OAUTH_ACCESS_TOKEN "
                                      "(e.g. `gcloud auth print-access-token`)", provider=route_name(route))
        if storage_uri and not storage_uri.startswith("gs://"):
            raise TerminalError(f"storage URI must start with gs://, not {storage_uri!r}", provider=route_name(route))
        self.project = project
        self.location = location
        self.storage_url = storage_url.rstrip("/")
        self.storage_uri = storage_uri
        self.api_version = api_version
        # Vertex takes images only as bytesBase64Encoded, and honours seeds.
        super().__init__(route, base_url=base_url or vertex_host(location),
                         credential=http.Credential("authorization", token, "Bearer "), also=(self.storage_url,),
                         variable="SHOTMAKE_VERTEX_BASE_URL", limits=limits, client=client, read_timeout=120.0,
                         image_encoding="bytesBase64Encoded", send_seed=True, poll_interval=poll_interval,
                         clock=clock, prices=prices)

    @classmethod
    def from_env(
        cls, route: str | Route, env: Mapping[str, str] | None = None, client: httpx.Client | None = None, **options: Any
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

    def build_body(self, request: RenderRequest) -> dict[str, Any]:
        """Return the Vertex ``predictLongRunning`` JSON: the shared body plus ``storageUri``."""
        body = super().build_body(request)
        if self.storage_uri:
            body["parameters"]["storageUri"] = self.storage_uri
        return body

    # -- backend hooks ----------------------------------------------------------------------
    def _create_url(self, request: RenderRequest) -> str:
        model = vertex_model(self.route, request.model)
        return (f"{self.base_url}/{self.api_version}/projects/{self.project}/locations/{self.location}"
                f"/publishers/google/models/{model}:predictLongRunning")

    def _fetch_operation(self, job_id: str, match: re.Match[str]) -> httpx.Response:
        url = f"{self.base_url}/{self.api_version}/{match.group('model_path')}:fetchPredictOperation"
        return self._send("POST", url, "", json={"operationName": job_id})

    def _output(self, response: dict[str, Any]) -> Output:
        videos = [v for v in response.get("videos") or [] if isinstance(v, dict)]
        video = videos[0] if videos else {}
        uri = str(video["gcsUri"]) if video.get("gcsUri") else None
        return Output(uri=uri, inline=video.get("bytesBase64Encoded"), filtering=response)

    def _source_video(self, source: InputFile) -> dict[str, Any]:
        remote = source.meta.get("remote_uri")
        if isinstance(remote, str) and remote.startswith("gs://"):
            return {"gcsUri": remote, "mimeType": "video/mp4"}
        # Vertex takes the clip itself; we have it on disk
        return {"bytesBase64Encoded": wire.b64_image(source.path), "mimeType": "video/mp4"}

    def _video_url(self, uri: str) -> str:
        """``gs://bucket/a/b.mp4`` -> ``{storage_url}/bucket/a/b.mp4`` (the XML API's object URL)."""
        if not uri.startswith("gs://"):
            raise TerminalError(f"unexpected video location {uri[:200]!r}", provider=self.name)
        bucket, _, obj = uri[len("gs://"):].partition("/")
        return f"{self.storage_url}/{bucket}/{quote(obj, safe='/')}"

    def _auth_hint(self, response: httpx.Response) -> str:
        if response.status_code == 401:
            return "the OAuth token is missing or expired; refresh GOOGLE_OAUTH_ACCESS_TOKEN"
        if response.status_code == 403:
            return "check GOOGLE_CLOUD_PROJECT and that Vertex AI is enabled for it"
        return ""


def from_env(
    route: str | Route, env: Mapping[str, str] | None = None, client: httpx.Client | None = None, **options: Any
) -> VertexVeo:
    """Module-level constructor for registries: ``VertexVeo.from_env`` (``options``: e.g. ``prices=``)."""
    return VertexVeo.from_env(route, env, client, **options)
