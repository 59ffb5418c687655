"""The Veo job protocol both Google backends share: create, poll an operation, fetch the video.

The Gemini API (``gemini_veo``) and Vertex AI (``vertex_veo``) differ in authentication
(API key vs OAuth token), URLs and model ids, how an operation is polled (``GET`` vs a
``fetchPredictOperation`` POST), where a finished video sits (a Gemini file URI vs a
``gs://`` object) and a few request fields. Everything else is one protocol, kept here once:

* one ``predictLongRunning`` POST per job; the operation name it answers is the job id, so
  any adapter instance (after a crash, in another process) resumes the job from the journal;
* a finished operation carries a ``google.rpc.Status`` error, a video (by URI or as inline
  base64) or Responsible-AI filter counts; inline bytes wait in memory for ``download``,
  never in ``JobStatus.meta``, which callers persist;
* the request body, up to the fields each backend alone accepts;
* errors mapped at the boundary, with the credential redacted from every message: a 404 on
  the create (the model is gone) is ``RouteGone``; a 404 on a poll or a download (the
  operation or video expired, the object was deleted) fails that node only;
* every request goes through one ``http.ApiSession``: the credential reaches the configured
  origins only (a result URI on another host is fetched without it), bodies are capped.

A backend subclasses ``VeoAdapter`` and fills in the hooks at the end of the class.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, NamedTuple

import httpx

from ..errors import RetryableError, TerminalError
from . import google_wire as wire
from . import http
from .base import InputFile, JobStatus, Provider, RenderRequest
from .catalog import ROUTES, Route, as_route, route_name
from .veo_limits import Backend, check_request

#: The wire protocols this core serves (the Gemini API and Vertex AI), and their built-in routes.
PROTOCOLS = ("gemini-veo", "vertex-veo")
ROUTE_NAMES = tuple(n for n, r in ROUTES.items() if r.protocol in PROTOCOLS)
ImageEncoding = Literal["inlineData", "bytesBase64Encoded"]


def veo_route(route: str | Route) -> Route:
    """Return the catalog route for a Veo route (a name or a configured record), or raise ``TerminalError``."""
    found = as_route(route)
    if found is None or found.protocol not in PROTOCOLS:
        name = route_name(route)
        raise TerminalError(f"unknown Veo route {name!r}; use one of {', '.join(ROUTE_NAMES)}", provider=name)
    return found


class Output(NamedTuple):
    """A finished operation's ``response`` read in one backend's dialect."""

    #: Where to fetch the video (stored as ``meta["uri"]``), or falsy.
    uri: Any
    #: The video as base64 text, or falsy.
    inline: Any
    #: The object that carries ``raiMediaFilteredCount`` and ``raiMediaFilteredReasons``.
    filtering: Mapping[str, Any]


class VeoAdapter(Provider, ABC):
    """Veo 3.1 / Fast / Lite as a remote job: the backend-independent half of an adapter."""

    remote = True
    #: Which extension rules apply; also ``meta["backend"]`` of every download.
    backend: ClassVar[Backend]
    #: The backend as messages name it.
    label: ClassVar[str]
    #: Operation names this backend answers; the ``model`` group is the model id.
    operation: ClassVar[re.Pattern[str]]
    #: ``operation`` spelled out for people, in the message refusing a malformed job id.
    operation_shape: ClassVar[str]
    #: Appended to a download's 404 message: why the video is gone and what to do about it.
    gone_hint: ClassVar[str]
    #: Whether ``parameters.generateAudio`` is sent (the Gemini API refuses the field).
    sends_audio: ClassVar[bool] = False

    def __init__(
        self,
        route: str | Route,
        *,
        base_url: str,
        credential: http.Credential,
        also: tuple[str, ...] = (),
        variable: str = "",
        limits: http.BodyLimits | None = None,
        client: httpx.Client | None,
        read_timeout: float,
        image_encoding: ImageEncoding,
        send_seed: bool,
        poll_interval: float | None,
        clock: Callable[[], float],
        prices: Mapping[str, float] | None,
    ) -> None:
        """Set up what every backend keeps; a subclass validates its credentials first.

        ``client`` is injected so tests and gateways choose transport and timeouts; when
        omitted the adapter owns one (``read_timeout`` seconds) and closes it in ``close()``.
        ``credential`` goes to ``base_url``'s origin and the origins in ``also`` only.
        ``limits`` caps answers and downloads (default: the route's ``max_download_mb``).
        """
        self.route = veo_route(route)
        self.name = self.route.name
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(
            timeout=httpx.Timeout(read_timeout, connect=10.0))
        self._session = http.ApiSession(
            self._client, base_url, credential, provider=self.name, also=also, variable=variable,
            limits=limits or http.BodyLimits.for_route(self.route.max_download_mb))
        self.base_url = self._session.base_url
        self.image_encoding: ImageEncoding = image_encoding
        self.poll_interval = poll_interval
        self._clock = clock
        self._prices = dict(prices) if prices else None
        self._send_seed = send_seed
        #: Finished operations' inline base64 videos, kept until downloaded.
        self._inline: dict[str, str] = {}

    # -- Provider ---------------------------------------------------------------------------
    def check(self, request: RenderRequest) -> None:
        """Raise ``TerminalError`` if Veo on this backend would refuse ``request``."""
        check_request(self.route, request, backend=self.backend, now=self._clock())

    def estimate_cost(self, request: RenderRequest) -> float:
        """USD for the clip: price per second at its resolution × seconds (7 for an extension)."""
        per_second = (self._prices or {}).get(request.resolution, self.route.price_for(request.resolution))
        seconds = self.route.extension_step if request.extends is not None else request.duration
        return round(per_second * seconds, 4)

    def submit(self, request: RenderRequest) -> str:
        """Check limits, then POST one ``predictLongRunning``; return the operation name."""
        self.check(request)
        url = self._create_url(request)
        response = self._send("POST", url, request.node_id, json=self.build_body(request), create=True)
        name = wire.json_body(response, provider=self.name, node=request.node_id).get("name")
        if not isinstance(name, str) or not self.operation.fullmatch(name):
            raise TerminalError(f"create answered without an operation name: {str(name)[:200]}",
                                provider=self.name, node=request.node_id)
        return name

    def poll(self, job_id: str) -> JobStatus:
        """Fetch the operation; a failed or filtered job comes back as ``state="failed"`` with its error.

        Raises only when the poll itself fails (HTTP error, network): the job may be fine.
        """
        response = self._fetch_operation(job_id, self._match(job_id))
        return self._status(job_id, wire.json_body(response, provider=self.name))

    def download(self, job_id: str, dest: Path, status: JobStatus) -> dict[str, Any]:
        """Write the finished video to ``dest`` (streamed, or decoded inline); return its metadata.

        Metadata: ``remote_uri`` (what a later extension points at; empty for inline bytes),
        ``operation``, ``model``, ``generated_at`` (unix seconds), ``backend`` and ``bytes``.
        """
        match = self._match(job_id)
        if status.state != "succeeded" or not (status.meta.get("uri") or job_id in self._inline):
            status = self.poll(job_id)  # resumed with a stale status, or the inline bytes are not in memory
        if status.state == "failed":
            raise status.error or TerminalError(f"operation {job_id} failed", provider=self.name)
        if status.state != "succeeded":
            raise RetryableError(f"operation {job_id} has not finished yet; poll it first", provider=self.name)
        uri = str(status.meta.get("uri") or "")
        if uri:
            written = self._session.download(self._video_url(uri), dest, describe_error=self._describe_download)
        else:
            written = wire.write_base64(self._inline.pop(job_id), dest)
        return {
            "backend": self.backend,
            "operation": job_id,
            "model": match.group("model") or self.route.model,
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
                {"image": self._image(ref.path, ref.mime), "referenceType": "ASSET"} for ref in request.references
            ]
        parameters: dict[str, Any] = {
            "aspectRatio": request.aspect,
            "resolution": request.resolution,
            "sampleCount": 1,
        }
        if self.sends_audio:
            parameters["generateAudio"] = request.audio
        if request.extends is not None:
            # The output length is fixed by the API (input + 7 s); durationSeconds is left to
            # the server's default (8, the only value the docs allow for extensions).
            instance["video"] = self._source_video(request.extends)
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
        output = self._output(response)
        if output.uri:
            return JobStatus(state="succeeded", progress=1.0, meta={**meta, "uri": output.uri})
        if output.inline:
            self._inline[job_id] = str(output.inline)
            return JobStatus(state="succeeded", progress=1.0, meta={**meta, "inline": True})
        if output.filtering.get("raiMediaFilteredCount"):
            return JobStatus(state="failed", meta=meta, error=wire.rai_error(
                output.filtering["raiMediaFilteredCount"], output.filtering.get("raiMediaFilteredReasons"),
                provider=self.name))
        return JobStatus(state="failed", meta=meta, error=TerminalError(
            "Veo operation finished without a video or a reason", provider=self.name))

    def _describe_download(self, response: httpx.Response) -> str:
        text = self._session.redact(wire.describe_error(response))
        if response.status_code == 404:
            text += self.gone_hint
        return text

    # -- plumbing ---------------------------------------------------------------------------
    def _match(self, job_id: str) -> re.Match[str]:
        match = self.operation.fullmatch(job_id)
        if match is None:
            raise TerminalError(f"not a {self.label} operation name: {job_id!r} (expected {self.operation_shape})",
                                provider=self.name)
        return match

    def _send(self, method: str, url: str, node: str, *, json: Any = None, create: bool = False) -> httpx.Response:
        """Send one request through the session; map failures into the error tree.

        A create names the model, so its 404 means the model is gone (``RouteGone``); a poll
        names one operation, so its 404 means that operation is unknown or expired.
        """
        try:
            response = self._session.request(method, url, json=json, node=node)
        except httpx.TransportError as exc:
            raise wire.transport_failure(exc, provider=self.name, node=node, secrets=self._session.secrets(),
                                         sent=create) from exc
        if response.status_code >= 400:
            if response.status_code == 404 and not create:
                hint = "the operation is unknown or expired"
            else:
                hint = self._auth_hint(response)
            raise wire.error_for_response(response, provider=self.name, node=node, secrets=self._session.secrets(),
                                          hint=hint, about_model=create, create=create)
        return response

    # -- backend hooks ----------------------------------------------------------------------
    @abstractmethod
    def _create_url(self, request: RenderRequest) -> str:
        """The ``predictLongRunning`` URL for the request's model."""

    @abstractmethod
    def _fetch_operation(self, job_id: str, match: re.Match[str]) -> httpx.Response:
        """Ask the server for the operation's current state (via ``_send``)."""

    @abstractmethod
    def _output(self, response: dict[str, Any]) -> Output:
        """Read a finished operation's ``response`` object."""

    @abstractmethod
    def _source_video(self, source: InputFile) -> dict[str, Any]:
        """The ``instances[0].video`` value that names a clip to extend."""

    @abstractmethod
    def _video_url(self, uri: str) -> str:
        """The URL to stream a finished video from, given ``meta["uri"]``."""

    @abstractmethod
    def _auth_hint(self, response: httpx.Response) -> str:
        """How to fix a failed response (credentials, project), or ``""``."""
