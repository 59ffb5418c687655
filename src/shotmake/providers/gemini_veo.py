"""Veo 3.1 over the Gemini API: create an operation, poll it, stream the file it names.

Wire protocol (docs/providers.md, "Gemini API"; checked against google-genai in tests/test_google_conformance.py)::

    POST {base}/v1beta/models/{model}:predictLongRunning   -> {"name": "models/{model}/operations/{id}"}
    GET  {base}/v1beta/{name}                               -> {"done": true, "response": {...}} | no done
    GET  {uri}  (302 -> bytes)                              -> the MP4

The job protocol itself (resume by operation name, status parsing, body building, error
mapping) is shared with Vertex in ``veo_common``; this module holds what only the Gemini
API does. The API key travels only in the ``x-goog-api-key`` header: never in a URL, a
message or the returned metadata, and only to the configured host: a result URI naming another
host is fetched without it (``http.ApiSession``). Google deletes generated videos 2 days after
generation.

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
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import ProviderUnavailable, TerminalError
from . import google_wire as wire
from . import http
from .base import InputFile, Provider, RenderRequest
from .catalog import Route, route_name, wire_model
from .veo_common import ROUTE_NAMES, ImageEncoding, Output, VeoAdapter, veo_route

DEFAULT_BASE_URL = wire.GEMINI_BASE_URL
API_VERSION = wire.GEMINI_API_VERSION

_FILE_DOWNLOAD = re.compile(r"/files/(?P<id>[^/:?]+):download")


def model_for(route: Route, requested: str) -> str:
    """Pick the model id: a concrete id in the request wins, a route name means the route's model."""
    return wire_model(route, requested)


class GeminiVeo(VeoAdapter):
    """Veo 3.1 / Fast / Lite on the Gemini API (``generativelanguage.googleapis.com``)."""

    backend = "gemini"
    label = "Gemini"
    # A gateway may name operations "operations/{id}"; the SDK polls them at /v1beta/operations/{id}.
    operation = re.compile(r"(?:models/(?P<model>[^/\s]+)/)?operations/[^/\s]+")  # matched whole (fullmatch)
    operation_shape = "models/<model>/operations/<id> or operations/<id>"
    gone_hint = (" (the video is gone: the Gemini API deletes generated videos 2 days after "
                 "generation; re-render the shot)")

    def __init__(
        self,
        api_key: str,
        *,
        route: str | Route = "veo-3.1",
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.Client | None = None,
        image_encoding: ImageEncoding = "bytesBase64Encoded",
        poll_interval: float | None = None,
        clock: Callable[[], float] = time.time,
        prices: Mapping[str, float] | None = None,
        send_seed: bool = False,
        limits: http.BodyLimits | None = None,
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
            raise ProviderUnavailable("no Gemini API key; set GEMINI_API_KEY (or GOOGLE_API_KEY)", provider=route_name(route))
        if image_encoding not in ("inlineData", "bytesBase64Encoded"):
            raise TerminalError(f"image_encoding must be inlineData or bytesBase64Encoded, not {image_encoding!r}")
        super().__init__(route, base_url=base_url, credential=http.Credential("x-goog-api-key", api_key),
                         variable="GOOGLE_GEMINI_BASE_URL", limits=limits, client=client, read_timeout=60.0,
                         image_encoding=image_encoding, send_seed=send_seed, poll_interval=poll_interval,
                         clock=clock, prices=prices)

    @classmethod
    def from_env(
        cls,
        route: str | Route,
        env: Mapping[str, str] | None = None,
        client: httpx.Client | None = None,
        **options: Any,
    ) -> GeminiVeo:
        """Build from ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``) and ``GOOGLE_GEMINI_BASE_URL``."""
        env = os.environ if env is None else env
        key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or ""
        base = env.get("GOOGLE_GEMINI_BASE_URL") or DEFAULT_BASE_URL
        return cls(key, route=route, base_url=base, client=client, **options)

    # -- backend hooks ----------------------------------------------------------------------
    def _create_url(self, request: RenderRequest) -> str:
        return f"{self.base_url}/{API_VERSION}/models/{model_for(self.route, request.model)}:predictLongRunning"

    def _fetch_operation(self, job_id: str, match: re.Match[str]) -> httpx.Response:
        return self._send("GET", f"{self.base_url}/{API_VERSION}/{job_id}", "")

    def _output(self, response: dict[str, Any]) -> Output:
        result = response.get("generateVideoResponse") or {}
        samples = result.get("generatedSamples") or []
        video = samples[0].get("video") if samples and isinstance(samples[0], dict) else None
        if not isinstance(video, dict):
            return Output(uri=None, inline=None, filtering=result)
        return Output(uri=video.get("uri"), inline=video.get("encodedVideo"), filtering=result)

    def _source_video(self, source: InputFile) -> dict[str, Any]:
        # The Gemini API extends only its own recent videos, named by the URI it gave them.
        return {"uri": str(source.meta["remote_uri"])}

    def _video_url(self, uri: str) -> str:
        """Point file downloads at the configured host, as the SDK does (any other URI gets no key)."""
        match = _FILE_DOWNLOAD.search(urlsplit(uri).path)
        if match and urlsplit(uri).netloc != urlsplit(self.base_url).netloc:
            return f"{self.base_url}/{API_VERSION}/files/{match.group('id')}:download?alt=media"
        return uri

    def _auth_hint(self, response: httpx.Response) -> str:
        if response.status_code in (401, 403) or "api key" in response.text.lower():
            return "check GEMINI_API_KEY"
        return ""


def from_env(
    route: str | Route,
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
        raise TerminalError(f"SHOTMAKE_VEO_BACKEND={chosen!r} is unknown; use gemini or vertex", provider=route_name(route))
    return GeminiVeo.from_env(route, env, client, **options)


__all__ = ["DEFAULT_BASE_URL", "ROUTE_NAMES", "GeminiVeo", "from_env", "model_for", "veo_route"]
