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
* **The key stays home.** Every request goes through one ``http.ApiSession``:
  ``x-goog-api-key`` reaches the configured API origin only (a download on another origin, or
  a redirect to one, is fetched without it), answers and downloads are capped by the route's
  ``max_download_mb`` and bounded in time, and a create's 404 means the model is gone
  (``RouteGone``, by ``http.route_gone``) unless it is about the interaction an extension continues.

Version: ``v1beta``, as in the Omni guide's REST samples and every other Gemini route of
shotmake (one gateway prefix serves all). google-genai 3.x defaults to ``v1``; set
``GOOGLE_GENAI_API_VERSION=v1`` (the SDK's own variable) to follow it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

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


def omni_route(route: str | Route) -> Route:
    """The catalog route this adapter serves (a name or a configured record)."""
    return adapter_route(route, (PROTOCOL,), "GeminiInteractions")


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
        limits: http.BodyLimits | None = None,
    ) -> None:
        """Build an adapter for one route.

        ``base_url`` is the host root (``/{api_version}`` is appended): https, or http on
        loopback only. ``client`` is injected so tests and gateways choose transport and
        timeouts; when omitted the adapter owns one and closes it in ``close()``.
        ``poll_interval`` becomes ``JobStatus.poll_after`` of running interactions (Google sends
        no pacing hint). ``prices`` overrides the catalog's USD per second by resolution.
        ``limits`` caps answers and downloads (default: the route's ``max_download_mb``).
        """
        self.route = omni_route(route)
        self.name = self.route.name
        if not api_key:
            raise ProviderUnavailable("no Gemini API key; set GEMINI_API_KEY (or GOOGLE_API_KEY)", provider=self.name)
        if not re.fullmatch(r"v[0-9a-z]+", api_version):
            raise ProviderUnavailable(f"API version {api_version!r} is not one (use v1beta or v1)", provider=self.name)
        self._owns_client = client is None
        self._client = client if client is not None else httpx.Client(timeout=httpx.Timeout(120.0, connect=10.0))
        self._session = http.ApiSession(self._client, base_url, http.Credential("x-goog-api-key", api_key),
                                        provider=self.name, variable="GOOGLE_GEMINI_BASE_URL",
                                        limits=limits or http.BodyLimits.for_route(self.route.max_download_mb))
        self.base_url = self._session.base_url
        self.api_root = f"{self.base_url}/{api_version}"
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
                              json=self.build_body(request), create=True)
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
        text = wire.redact(text, *self._session.secrets())
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

    def _send(self, method: str, url: str, node: str, *, json: dict[str, Any] | None = None,
              params: Mapping[str, str] | None = None, create: bool = False) -> httpx.Response:
        """Send one API request through the session; map failures into the error tree.

        A create names the model, so its 404 means the model is gone (``RouteGone``), unless it
        continues an earlier interaction and the answer is about that one: then only this shot
        fails. A poll names one interaction, so its 404 means that interaction is unknown.
        """
        try:
            response = self._session.request(method, url, json=json, params=params, node=node,
                                             headers={"accept": "application/json"})
        except httpx.TransportError as exc:
            raise wire.transport_failure(exc, provider=self.name, node=node, secrets=self._session.secrets(),
                                         sent=create) from exc
        if response.status_code < 400:
            return response
        previous = str((json or {}).get("previous_interaction_id") or "")
        bad_key = response.status_code in (401, 403) or any(w in response.text.lower() for w in wire.BAD_KEY_WORDS)
        hint = "check GEMINI_API_KEY (or GOOGLE_API_KEY)" if bad_key else ""
        if create and previous and (response.status_code == 404 or "interaction" in response.text.lower()):
            hint = "the clip it extends may no longer be stored by Google; re-render the source shot"
        elif response.status_code == 404 and not create:
            hint = "the interaction is unknown or no longer stored; render the shot again"
        about_model = create and (not previous or self._names_model(response, str((json or {}).get("model") or ""),
                                                                     previous))
        raise wire.error_for_response(response, provider=self.name, node=node, secrets=self._session.secrets(),
                                      hint=hint, about_model=about_model, create=create)

    @staticmethod
    def _names_model(response: httpx.Response, model: str, previous: str) -> bool:
        """Whether an extension's error is about the model, not the interaction it continues."""
        said = wire.describe_error(response).lower()
        return previous.lower() not in said and ("model" in said or bool(model) and model.lower() in said)

    def _fetch(self, uri: str, dest: Path) -> int:
        """Stream the video at ``uri`` (absolute, or relative to the API root) to ``dest`` via the session."""
        if uri.startswith("gs://"):
            raise TerminalError(f"the video is in Cloud Storage ({uri}); the Gemini API route cannot read it",
                                provider=self.name)
        return self._session.download(urljoin(self.api_root + "/", uri), dest, describe_error=self._describe_download)

    def _describe_download(self, response: httpx.Response) -> str:
        text = wire.redact(wire.describe_error(response), *self._session.secrets())
        if response.status_code == 404:
            text += " (the video is gone from Google's servers; re-render the shot)"
        elif response.status_code in (401, 403):
            text += " (check GEMINI_API_KEY)"
        return text


def from_env(
    route: str | Route, env: Mapping[str, str] | None = None, client: httpx.Client | None = None, **options: Any,
) -> Provider:
    """The registry's entry point: build the adapter for ``route`` from the environment."""
    return GeminiInteractions.from_env(route, env, client, **options)


__all__ = ["DEFAULT_API_VERSION", "DEFAULT_BASE_URL", "GeminiInteractions", "from_env", "omni_route"]
