"""Gemini Omni Flash over the Gemini API's Interactions API: one interaction per clip, polled until done.

Wire protocol (facts from google-genai 3.6.1 driven against a recording server, and the Omni
guide; see docs/providers.md, "gemini-omni")::

    POST {base}/v1beta/interactions                    -> {"id": "v1_...", "status": "in_progress"}
    GET  {base}/v1beta/interactions/{id}?stream=false  -> {"status": "completed", "steps": [...]}
    GET  {uri}  (the video's download URI, or none: the GET carries the video inline as base64)

What shapes this adapter:

* **No roles for images.** The request has no first-frame, last-frame or reference field:
  images go in the input in order and the prompt names their roles with tags
  (``[# Sources <FIRST_FRAME>@Image1] [# References <IMAGE_REF_0>@Image2]``). The compiled
  prompt goes out verbatim; the tag line is appended after it, never woven in.
* **Background and durable.** ``background: true`` answers at once with an interaction id,
  which is the job id: any process resumes it from the journal. ``store: true`` keeps the
  interaction, so a later shot can extend it by ``previous_interaction_id``.
* **No list endpoint.** A create whose answer was lost cannot be found again; ``reconcile``
  says so (None) and the executor refuses to create it twice unless ``--resubmit-uncertain``.
* **Two ways back.** The completed interaction names a download URI, or (as the guide warns
  for a GET even when ``delivery: "uri"`` was asked) carries the video inline as base64.
  Inline text waits in memory until ``download`` decodes it in slices.
* **The key stays home.** ``x-goog-api-key`` goes only to the configured API origin; a
  download on another origin, or a redirect to one, is fetched without it (``_fetch``).

Version: ``v1beta``, as in the Omni guide's REST samples and every other Gemini route of
shotmake (one gateway prefix serves all). google-genai 3.x defaults to ``v1``; set
``GOOGLE_GENAI_API_VERSION=v1`` (the SDK's own variable) to follow it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from ..errors import ProviderError, ProviderUnavailable, RetryableError, TerminalError
from . import google_wire as wire
from . import http
from .base import InputFile, JobStatus, Provider, RenderRequest
from .catalog import Route, adapter_route, wire_model

PROTOCOL = "gemini-interactions"
DEFAULT_BASE_URL = wire.GEMINI_BASE_URL
DEFAULT_API_VERSION = "v1beta"
#: Image types the Interactions API takes (google-genai ``imagecontent.py``, minus the exotic).
IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
#: Statuses after which an interaction never changes (google-genai ``interaction.py``).
RUNNING = frozenset({"in_progress", "queued"})
FAILED = frozenset({"failed", "cancelled", "incomplete", "budget_exceeded"})
#: Interaction ids as the API names them (``v1_...``); anything else is refused before a URL is built.
_INTERACTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,255}$")
#: Words of a failure that mean a safety or policy refusal (never retried).
_POLICY_WORDS = ("safety", "policy", "blocked", "prohibited", "recitation", "responsible ai", "minor",
                 "recognizable", "person generation")
#: Largest download when the route sets no ``max_download_mb`` (a 15 s 4k clip is far below).
DEFAULT_MAX_DOWNLOAD_MB = 2048.0
MAX_REDIRECTS = 5


def omni_route(route: str | Route) -> Route:
    """The catalog route this adapter serves (a name or a configured record)."""
    return adapter_route(route, (PROTOCOL,), "GeminiInteractions")


def origin(url: str) -> tuple[str, str]:
    """``(scheme, host:port)`` of ``url``: what must match for a credential to be sent."""
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme, 0)
    return parts.scheme, f"{(parts.hostname or '').lower()}:{port}"


class GeminiInteractions(Provider):
    """Gemini Omni Flash (``gemini-omni``, ``gemini-omni-1.1``) as a remote job."""

    remote = True

    def __init__(
        self,
        api_key: str,
        *,
        route: str | Route = "gemini-omni",
        base_url: str = DEFAULT_BASE_URL,
        api_version: str = DEFAULT_API_VERSION,
        client: httpx.Client | None = None,
        poll_interval: float | None = None,
        clock: Callable[[], float] = time.time,
        prices: Mapping[str, float] | None = None,
    ) -> None:
        """Build an adapter for one route.

        ``base_url`` is the host root (``/{api_version}`` is appended). ``client`` is injected so
        tests and gateways choose transport and timeouts; when omitted the adapter owns one and
        closes it in ``close()``. ``poll_interval`` becomes ``JobStatus.poll_after`` of running
        interactions (Google sends no pacing hint). ``prices`` overrides the catalog's USD per
        second by resolution.
        """
        self.route = omni_route(route)
        self.name = self.route.name
        if not api_key:
            raise ProviderUnavailable("no Gemini API key; set GEMINI_API_KEY (or GOOGLE_API_KEY)", provider=self.name)
        if not re.fullmatch(r"v[0-9a-z]+", api_version):
            raise ProviderUnavailable(f"API version {api_version!r} is not one (use v1beta or v1)", provider=self.name)
        self._key = api_key
        self.base_url = base_url.rstrip("/")
        self.api_root = f"{self.base_url}/{api_version}"
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=httpx.Timeout(120.0, connect=10.0))
        self.poll_interval = poll_interval
        self._clock = clock
        self._prices = dict(prices) if prices else None
        #: Completed interactions' inline base64 videos, kept until downloaded.
        self._inline: dict[str, str] = {}

    @classmethod
    def from_env(
        cls, route: str | Route, env: Mapping[str, str] | None = None, client: httpx.Client | None = None,
        **options: Any,
    ) -> GeminiInteractions:
        """Build from ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``), ``GOOGLE_GEMINI_BASE_URL`` and
        ``GOOGLE_GENAI_API_VERSION``."""
        env = os.environ if env is None else env
        key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or ""
        base = env.get("GOOGLE_GEMINI_BASE_URL") or DEFAULT_BASE_URL
        options.setdefault("api_version", env.get("GOOGLE_GENAI_API_VERSION") or DEFAULT_API_VERSION)
        return cls(key, route=route, base_url=base, client=client, **options)

    # -- Provider ---------------------------------------------------------------------------
    def estimate_cost(self, request: RenderRequest) -> float:
        """USD: price per second at the resolution × seconds generated (an extension's added length)."""
        per_second = (self._prices or {}).get(request.resolution, self.route.price_for(request.resolution))
        return round(per_second * request.duration, 4)

    def submit(self, request: RenderRequest) -> str:
        """Check what Omni accepts, then POST one background interaction; return its id."""
        self.check(request)
        response = self._send("POST", f"{self.api_root}/interactions", request.node_id,
                              json=self.build_body(request), create=True, model=self._model(request))
        body = wire.json_body(response, provider=self.name, node=request.node_id)
        interaction = body.get("id")
        if not isinstance(interaction, str) or not _INTERACTION_ID.match(interaction):
            raise TerminalError(f"create answered without an interaction id: {str(interaction)[:200]}",
                                provider=self.name, node=request.node_id)
        return interaction

    def poll(self, job_id: str) -> JobStatus:
        """GET the interaction; a failed or refused one comes back ``failed`` with its error.

        Raises only when the poll itself fails (HTTP error, network): the job may be fine.
        """
        self._check_id(job_id)
        response = self._send("GET", f"{self.api_root}/interactions/{job_id}", "", params={"stream": "false"})
        return self._status(job_id, wire.json_body(response, provider=self.name))

    def download(self, job_id: str, dest: Path, status: JobStatus) -> dict[str, Any]:
        """Write the finished video to ``dest`` (streamed, or decoded inline); return its metadata.

        ``meta["interaction"]`` is what a later extension names as ``previous_interaction_id``.
        """
        self._check_id(job_id)
        if status.state != "succeeded" or not (status.meta.get("uri") or job_id in self._inline):
            status = self.poll(job_id)  # resumed with a stale status, or the inline bytes are not in memory
        if status.state == "failed":
            raise status.error or TerminalError(f"interaction {job_id} failed", provider=self.name)
        if status.state != "succeeded":
            raise RetryableError(f"interaction {job_id} has not finished yet; poll it first", provider=self.name)
        uri = str(status.meta.get("uri") or "")
        if uri:
            written = self._fetch(uri, dest)
        else:
            written = wire.write_base64(self._inline.pop(job_id), dest)
        return {"backend": PROTOCOL, "interaction": job_id, "model": str(status.meta.get("model") or self.route.model),
                "remote_uri": uri, "generated_at": self._clock(), "bytes": written}

    def reconcile(self, request: RenderRequest, submitted_after: float) -> str | None:
        """The Interactions API cannot list interactions: a lost create can never be matched."""
        return None

    def close(self) -> None:
        """Close the HTTP client if this adapter created it."""
        if self._owns_client:
            self._client.close()

    # -- what Omni accepts ------------------------------------------------------------------
    def check(self, request: RenderRequest) -> None:
        """Raise ``TerminalError`` naming the allowed values if Omni would refuse ``request``."""
        route = self.route

        def refuse(message: str) -> TerminalError:
            return TerminalError(f"{route.name}: {message}", provider=route.name, node=request.node_id)

        if request.kind != "clip":
            raise refuse(f"renders clips, not {request.kind!r}; use an image route for character sheets")
        if request.aspect not in route.aspects:
            raise refuse(f"aspect {request.aspect!r} is not supported; use one of {', '.join(route.aspects)}")
        if request.resolution not in route.resolutions:
            raise refuse(f"resolution {request.resolution!r} is not supported; "
                         f"use one of {', '.join(route.resolutions)}")
        if request.duration != int(request.duration) or not route.accepts_duration(request.duration):
            raise refuse(f"duration {request.duration:g} s is not allowed; use whole seconds, "
                         f"{route.describe_durations()}")
        if len(request.references) > route.max_references:
            raise refuse(f"takes at most {route.max_references} reference images, got {len(request.references)}")
        for image in (request.first_frame, request.last_frame, *request.references):
            if image is not None and image.mime not in IMAGE_MIMES:
                raise refuse(f"input image {image.path.name} is {image.mime}; Omni takes {', '.join(IMAGE_MIMES)}")
        if not request.prompt.strip():
            raise refuse("a prompt is required")
        if request.extends is not None:
            if not route.extension:
                raise refuse("does not extend clips")
            if not isinstance(request.extends.meta.get("interaction"), str):
                raise refuse(f"extends only clips rendered by an Omni route (it continues their interaction); "
                             f"{request.extends.path.name} has no interaction id: render the source shot "
                             f"on {route.name} first")

    def build_body(self, request: RenderRequest) -> dict[str, Any]:
        """Return the create JSON for ``request`` (what google-genai 3.6.1 sends for the same call)."""
        content: list[dict[str, Any]] = [{"type": "text", "text": self.prompt_text(request)}]
        for image in self.images(request):
            content.append({"type": "image", "data": wire.b64_image(image.path), "mime_type": image.mime})
        config: dict[str, Any] = {"video_config": {"task": self.task(request)}}
        if request.seed is not None:
            config["seed"] = request.seed
        body: dict[str, Any] = {
            "model": self._model(request),
            "input": [{"type": "user_input", "content": content}],
            "generation_config": config,
            "response_format": {"type": "video", "aspect_ratio": request.aspect, "resolution": request.resolution,
                                "duration": f"{int(request.duration)}s", "delivery": "uri"},
            "background": True,
            "store": True,
        }
        if request.extends is not None:
            body["previous_interaction_id"] = str(request.extends.meta["interaction"])
        return body

    @staticmethod
    def images(request: RenderRequest) -> list[InputFile]:
        """Input images in the order the tags number them: first frame, last frame, references."""
        return [f for f in (request.first_frame, request.last_frame, *request.references) if f is not None]

    @staticmethod
    def task(request: RenderRequest) -> str:
        """``extend``, ``image_to_video`` (frames), ``reference_to_video`` or ``text_to_video``."""
        if request.extends is not None:
            return "extend"
        if request.first_frame is not None or request.last_frame is not None:
            return "image_to_video"
        return "reference_to_video" if request.references else "text_to_video"

    @staticmethod
    def prompt_text(request: RenderRequest) -> str:
        """The compiled prompt verbatim, then a line naming each image's role by its input position."""
        sources, references, n = [], [], 0
        for tag, image in (("<FIRST_FRAME>", request.first_frame), ("<LAST_FRAME>", request.last_frame)):
            if image is not None:
                n += 1
                sources.append(f"{tag}@Image{n}")
        for i, _ in enumerate(request.references):
            n += 1
            references.append(f"<IMAGE_REF_{i}>@Image{n}")
        tags = " ".join(f"[# {what} {' '.join(items)}]" for what, items in
                        (("Sources", sources), ("References", references)) if items)
        return f"{request.prompt}\n\n{tags}" if tags else request.prompt

    def _model(self, request: RenderRequest) -> str:
        return wire_model(self.route, request.model)

    # -- responses --------------------------------------------------------------------------
    def _status(self, job_id: str, body: dict[str, Any]) -> JobStatus:
        status = str(body.get("status") or "")
        meta: dict[str, Any] = {"interaction": job_id, "model": str(body.get("model") or "")}
        if status in RUNNING:
            return JobStatus(state="queued" if status == "queued" else "running", poll_after=self.poll_interval,
                             meta=meta)
        outputs = [c for step in body.get("steps") or [] if isinstance(step, dict)
                   and step.get("type") == "model_output" for c in step.get("content") or [] if isinstance(c, dict)]
        step_errors = [step["error"] for step in body.get("steps") or []
                       if isinstance(step, dict) and isinstance(step.get("error"), dict)]
        if status in FAILED or step_errors:
            return JobStatus(state="failed", meta=meta, error=self._failure(status, body, step_errors))
        if status != "completed":
            return JobStatus(state="failed", meta=meta, error=TerminalError(
                f"interaction {job_id} stopped in state {status or '(none)'!r}, which a video request never "
                "reaches; render the shot again", provider=self.name))
        video = next((c for c in outputs if c.get("type") == "video"), None)
        if video is None:
            said = " ".join(str(c.get("text")) for c in outputs if c.get("type") == "text" and c.get("text"))
            return JobStatus(state="failed", meta=meta, error=self._refusal(said or "no reason given"))
        if isinstance(video.get("uri"), str) and video["uri"]:
            return JobStatus(state="succeeded", progress=1.0, meta={**meta, "uri": video["uri"]})
        if isinstance(video.get("data"), str) and video["data"]:
            self._inline[job_id] = video["data"]
            return JobStatus(state="succeeded", progress=1.0, meta={**meta, "inline": True})
        return JobStatus(state="failed", meta=meta, error=TerminalError(
            f"interaction {job_id} completed with a video block holding neither data nor a uri", provider=self.name))

    def _failure(self, status: str, body: Mapping[str, Any], step_errors: list[Any]) -> ProviderError:
        errors = [e for e in (body.get("errors") or []) if isinstance(e, dict)] + step_errors
        text = "; ".join(f"{e.get('code', '?')}: {e.get('message', '')}".strip() for e in errors) or "no reason given"
        text = wire.redact(text, self._key)
        if any(w in text.lower() for w in _POLICY_WORDS):
            return self._refusal(text)
        codes = {str(e.get("code", "")).upper() for e in errors}
        numeric = {int(c) for c in codes if c.isdigit()}
        transient = codes & {"RESOURCE_EXHAUSTED", "UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "ABORTED"} \
            or numeric & {429, 500, 503, 504} or numeric & set(wire.RETRYABLE_RPC_CODES)
        message = f"Omni interaction {status or 'failed'}: {text}"
        if transient or status == "incomplete" or any(w in text.lower() for w in wire.TRANSIENT_WORDS):
            return RetryableError(message, provider=self.name)
        if status == "budget_exceeded":
            message += " (the account's budget is spent: raise it in Google AI Studio)"
        return TerminalError(message, provider=self.name)

    def _refusal(self, reason: str) -> TerminalError:
        return TerminalError(f"the video was blocked by Google's safety filters: {reason} (change the prompt or "
                             "input images; Omni refuses minors and certain recognizable people)", provider=self.name)

    # -- plumbing ---------------------------------------------------------------------------
    def _check_id(self, job_id: str) -> None:
        if not _INTERACTION_ID.match(job_id):
            raise TerminalError(f"not an interaction id: {job_id!r}", provider=self.name)

    def _credential_for(self, url: str) -> dict[str, str]:
        """The key header for ``url``: only on the configured API origin (swap for http.py's guard)."""
        return {"x-goog-api-key": self._key} if origin(url) == origin(self.base_url) else {}

    def _api_headers(self, url: str) -> dict[str, str]:
        return {"accept": "application/json", **self._credential_for(url)}

    def _send(self, method: str, url: str, node: str, *, json: Any = None, params: Mapping[str, str] | None = None,
              create: bool = False, model: str = "") -> httpx.Response:
        """Send one API request with the key; map failures into the error tree."""
        try:
            response = self._client.request(method, url, json=json, params=params, headers=self._api_headers(url))
        except httpx.TransportError as exc:
            raise wire.transport_failure(exc, provider=self.name, node=node, secrets=(self._key,),
                                         sent=create) from exc
        if response.status_code < 400:
            return response
        if create and response.status_code == 404 and self._names_model(response, model):
            raise self._model_gone(model, response, node)
        hint = "check GEMINI_API_KEY" if response.status_code in (401, 403) else ""
        if create and json and "previous_interaction_id" in json and (
                response.status_code == 404 or "interaction" in response.text.lower()):
            hint = "the clip it extends may no longer be stored by Google; re-render the source shot"
        elif response.status_code == 404:
            hint = "the interaction is unknown or no longer stored; render the shot again"
        raise wire.error_for_response(response, provider=self.name, node=node, secrets=(self._key,), hint=hint)

    @staticmethod
    def _names_model(response: httpx.Response, model: str) -> bool:
        """Whether a create's 404 is about the model (not, say, the interaction an extension continues)."""
        said = wire.describe_error(response).lower()
        return "model" in said or model.lower() in said

    def _model_gone(self, model: str, response: httpx.Response, node: str) -> ProviderUnavailable:
        # model gone: a 404 on create names the model, not a job; the route is unavailable for the build.
        said = wire.redact(wire.describe_error(response), self._key)
        return ProviderUnavailable(f"{model} is not available on the Gemini API ({said}); it may have been shut "
                                   "down: see `shotmake routes` for its successor", provider=self.name, node=node)

    def _fetch(self, uri: str, dest: Path) -> int:
        """Stream ``uri`` to ``dest``: the key only to the API origin, redirects followed by hand.

        A same-origin redirect keeps the key; one to another origin (a signed storage URL) is
        followed without it, and the key is never sent again along that chain; https never
        downgrades to http. The body is written atomically and checked against its length.
        """
        if uri.startswith("gs://"):
            raise TerminalError(f"the video is in Cloud Storage ({uri}); the Gemini API route cannot read it",
                                provider=self.name)
        limit = int((self.route.max_download_mb or DEFAULT_MAX_DOWNLOAD_MB) * (1 << 20))
        url, trusted = urljoin(self.api_root + "/", uri), True
        try:
            for _ in range(MAX_REDIRECTS + 1):
                headers = self._credential_for(url) if trusted else {}
                trusted = trusted and bool(headers)
                with self._client.stream("GET", url, headers=headers, follow_redirects=False) as response:
                    if response.is_redirect and "location" in response.headers:
                        following = urljoin(url, response.headers["location"])
                        if urlsplit(url).scheme == "https" and urlsplit(following).scheme != "https":
                            raise TerminalError("the video download redirected from https to http; refused",
                                                provider=self.name)
                        url = following
                        continue
                    if response.status_code >= 400:
                        response.read()
                        raise self._download_error(response)
                    return http.write_atomically(dest, self._body(response, limit))
        except httpx.TransportError as exc:
            raise wire.transport_failure(exc, provider=self.name, secrets=(self._key,)) from exc
        raise TerminalError(f"the video download redirected more than {MAX_REDIRECTS} times", provider=self.name)

    def _body(self, response: httpx.Response, limit: int) -> Iterable[bytes]:
        expected = response.headers.get("content-length")
        if expected is not None and int(expected) > limit:
            raise TerminalError(f"the video is {int(expected) >> 20} MiB, over the {limit >> 20} MiB limit "
                                "(max_download_mb)", provider=self.name)
        received = 0
        for chunk in response.iter_bytes(http.CHUNK_SIZE):
            received += len(chunk)
            if received > limit:
                raise TerminalError(f"the video download passed the {limit >> 20} MiB limit", provider=self.name)
            yield chunk
        if expected is not None and received != int(expected):  # raised before the rename
            raise RetryableError(f"truncated download: got {received} of {expected} bytes", provider=self.name)

    def _download_error(self, response: httpx.Response) -> ProviderError:
        hint = ""
        if response.status_code == 404:
            hint = "the video is gone from Google's servers; re-render the shot"
        return wire.error_for_response(response, provider=self.name, secrets=(self._key,), hint=hint)


def from_env(
    route: str | Route, env: Mapping[str, str] | None = None, client: httpx.Client | None = None, **options: Any,
) -> Provider:
    """The registry's entry point: build the adapter for ``route`` from the environment."""
    return GeminiInteractions.from_env(route, env, client, **options)


__all__ = ["DEFAULT_API_VERSION", "DEFAULT_BASE_URL", "GeminiInteractions", "from_env", "omni_route", "origin"]
