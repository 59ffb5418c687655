"""A loopback fake of the Gemini API's Interactions API, as Gemini Omni Flash answers it.

Written from google-genai 3.6.1's types (``_gaos/types/interactions``: ``Interaction``,
``VideoResponseFormat``, ``VideoConfig``, ``*Content``, ``Error``) and the Omni guide, not from
shotmake's adapter. It is the whole Gemini API (``FakeGemini``: image generation for character
sheets, files) plus::

    POST /{v1,v1beta}/interactions                 background create -> {"id", "status": "in_progress"}
    GET  /{v1,v1beta}/interactions/{id}            the interaction; done: steps[...model_output video]
    POST /{v1,v1beta}/interactions/{id}/cancel     a running background interaction -> cancelled
    DELETE /{v1,v1beta}/interactions/{id}          -> {}

Faults use ``google_faults`` with the same routes as the Veo fake: ``create``, ``poll`` (the GET),
``download`` (``files/{id}:download``), ``bytes`` (behind the redirect) and ``operation`` (the
outcome of the next accepted interaction: ``rai`` = a policy block, ``error``, ``stall``).
``inline_get`` reproduces the guide's caveat: a GET returns the video as base64 ``data`` even
when ``delivery: "uri"`` was asked. ``redirect_host`` and ``result_host`` (from ``FakeGemini``)
put the bytes behind the download redirect, or the result URI itself, on another origin; a
``hostile`` fault on ``bytes`` serves them as an endless body or a gzip bomb.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Any

from .google_server import (
    OUTCOMES,
    Clip,
    FakeGemini,
    Fault,
    Operation,
    Reject,
    google_error,
    sample_mp4,
)
from .server import Request, Response

#: Model -> (longest clip in seconds, resolutions). 1.2 renders up to 15 s, 1.1 and the preview 10 s.
OMNI_MODELS: dict[str, tuple[float, tuple[str, ...]]] = {
    "gemini-omni-1.2-flash": (15.0, ("360p", "720p", "1080p", "4k")),
    "gemini-omni-1.1-flash": (10.0, ("360p", "720p", "1080p", "4k")),
    "gemini-omni-flash-preview": (10.0, ("720p",)),
}
#: Longest video an extension chain may reach (the Vertex extend guide: up to 40 s).
MAX_EXTENDED = 40.0
TASKS = ("text_to_video", "image_to_video", "reference_to_video", "edit", "extend", "upscale")
CREATE_KEYS = frozenset({"model", "input", "generation_config", "response_format", "background", "store", "stream",
                         "previous_interaction_id", "labels", "webhook_config", "service_tier", "system_instruction",
                         "response_modalities", "response_mime_type", "safety_settings", "tools"})
IMAGE_MAGIC = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8\xff", "image/webp": b"RIFF"}
#: The role tags the Omni guide puts in the prompt, e.g. ``[# References <IMAGE_REF_0>@Image2]``.
ROLE_TAGS = re.compile(r"\s*\[# (?:Sources|References)[^\]]*\]")
TAG_IMAGE = re.compile(r"<(FIRST_FRAME|LAST_FRAME|IMAGE_REF_\d+)>@Image(\d+)")

_INTERACTIONS = re.compile(r"^/(?P<ver>v1|v1beta)/interactions$")
_INTERACTION = re.compile(r"^/(?P<ver>v1|v1beta)/interactions/(?P<id>[A-Za-z0-9_.\-]+)(?P<cancel>/cancel)?$")


def plain_prompt(text: str) -> str:
    """The prompt without the guide's role-tag groups (what a user wrote, for per-prompt counts)."""
    return ROLE_TAGS.sub("", text).strip()


class FakeInteractions(FakeGemini):
    """The Gemini API with Omni on the Interactions API (see module doc)."""

    def __init__(self, *, inline_get: bool = False, **kwargs: Any) -> None:
        """``inline_get``: completed GETs carry the video as base64 ``data`` (the guide's caveat)
        instead of the download ``uri``. Other arguments as ``FakeGemini``."""
        super().__init__(**kwargs)
        self.inline_get = inline_get
        #: Models answering 404 "no longer available" (a shut-down model).
        self.gone_models: set[str] = set()
        #: The ``previous_interaction_id`` of each accepted extension, by interaction id.
        self.extended_from: dict[str, str] = {}

    # -- public helpers -------------------------------------------------------------------
    def interactions(self) -> list[Operation]:
        with self.lock:
            return [op for op in self.operations.values() if "input" in op.body]

    def jobs_by_prompt(self) -> dict[str, int]:
        """Accepted interactions per prompt (role tags stripped), plus any Veo jobs."""
        counts = {p: n for p, n in super().jobs_by_prompt().items() if p}
        for op in self.interactions():
            prompt = plain_prompt(self.texts(op.body)[0] if self.texts(op.body) else "")
            counts[prompt] = counts.get(prompt, 0) + 1
        return counts

    def images_sent(self, op: Operation) -> list[dict[str, Any]]:
        return [b for b in self.blocks(op.body) if b.get("type") == "image"]

    def route_of(self, request: Request) -> str:
        if _INTERACTIONS.match(request.path):
            return "create"
        if _INTERACTION.match(request.path):
            return "poll"
        return super().route_of(request)

    # -- dispatch -----------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        create, one = _INTERACTIONS.match(request.path), _INTERACTION.match(request.path)
        if create is None and one is None:
            return super().handle(request)
        denied = self.check_key(request)
        if denied is not None:
            return denied
        fault = self.http_fault("create" if create else "poll")
        if fault is not None:
            return fault
        try:
            if create is not None and request.method == "POST":
                return self.create_interaction(request)
            if one is not None and one.group("cancel") and request.method == "POST":
                return self.cancel(one.group("id"))
            if one is not None and request.method == "GET" and not one.group("cancel"):
                return self.get(one.group("id"), one.group("ver"), request)
            if one is not None and request.method == "DELETE" and not one.group("cancel"):
                with self.lock:
                    self.operations.pop(one.group("id"), None)
                return Response.json({})
        except Reject as exc:
            return google_error(exc.status, exc.message, exc.error_status)
        return google_error(405, f"Method {request.method} not allowed on {request.path}", "INVALID_ARGUMENT")

    # -- create -------------------------------------------------------------------------------
    @staticmethod
    def blocks(body: dict[str, Any]) -> list[dict[str, Any]]:
        """The content blocks of ``input``: a string, a flat content list, or a list of steps."""
        value = body.get("input")
        if isinstance(value, str):
            return [{"type": "text", "text": value}]
        if not isinstance(value, list):
            return []
        out: list[dict[str, Any]] = []
        for item in value:
            if isinstance(item, dict) and item.get("type") == "user_input":
                content = item.get("content")
                out += [c for c in content if isinstance(c, dict)] if isinstance(content, list) else []
            elif isinstance(item, dict):
                out.append(item)
        return out

    def texts(self, body: dict[str, Any]) -> list[str]:
        return [str(b.get("text", "")) for b in self.blocks(body) if b.get("type") == "text"]

    def create_interaction(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError as exc:
            raise Reject(400, "Invalid JSON payload received.") from exc
        if not isinstance(body, dict):
            raise Reject(400, "Invalid JSON payload received: expected an object.")
        op = self.validate_interaction(body)
        interaction = f"v1_{uuid.uuid4().hex}"
        op.name = interaction
        fault = self.outcome_fault()
        if fault is not None:
            op.outcome, op.fault = fault.outcome, fault
        else:
            prompt = " ".join(self.texts(body)).lower()
            for term, outcome in self.prompt_outcomes.items():
                if term.lower() in prompt:
                    op.outcome, op.fault = outcome, OUTCOMES[outcome]() if outcome in OUTCOMES else None
                    break
        with self.lock:
            self.operations[interaction] = op
        if body.get("background") is not True:  # a blocking create: the clip exists when it answers
            op.polls = self.polls_until_done
            self.advance(op)
            response = Response.json(self.interaction_body(op, "uri"))
        else:
            response = Response.json({"id": interaction, "status": "in_progress", "object": "interaction",
                                      "model": op.model})
        if self.take_fault(lambda f: isinstance(f, Fault) and f.route == "create" and f.outcome == "gateway_timeout"):
            return google_error(504, "Gateway timeout: the upstream did not answer in time.", "DEADLINE_EXCEEDED")
        if self.take_fault(lambda f: isinstance(f, Fault) and f.route == "create" and f.outcome == "lost"):
            response.abort_after = 0
        return response

    def validate_interaction(self, body: dict[str, Any]) -> Operation:
        """Check a create body as the service would; return the job (not yet registered)."""
        for key in body:
            if key not in CREATE_KEYS:
                raise Reject(400, f"Invalid JSON payload received. Unknown name \"{key}\": Cannot find field.")
        model = str(body.get("model") or "")
        if model in self.gone_models:
            raise Reject(404, f"models/{model} is no longer available. Please use a newer model.", "NOT_FOUND")
        if model not in OMNI_MODELS:
            raise Reject(404, f"models/{model} is not found for API version v1beta, or is not supported "
                              "for interactions.", "NOT_FOUND")
        longest, resolutions = OMNI_MODELS[model]
        blocks = self.blocks(body)
        if not blocks:
            raise Reject(400, "input must not be empty.")
        images = 0
        for i, block in enumerate(blocks):
            kind = block.get("type")
            if kind == "text":
                if not isinstance(block.get("text"), str):
                    raise Reject(400, f"input[{i}].text must be a string.")
            elif kind == "image":
                images += 1
                self.check_image(block, f"input[{i}]")
            elif kind not in ("video", "audio", "document"):
                raise Reject(400, f"input[{i}].type {kind!r} is not supported for {model}.")
        prompt = " ".join(self.texts(body))
        if not prompt.strip():
            raise Reject(400, "A text prompt is required.")
        for tag, number in TAG_IMAGE.findall(prompt):
            if not 1 <= int(number) <= images:
                raise Reject(400, f"The prompt names {tag} as Image{number}, but the input holds {images} images.")
        refs = len(set(re.findall(r"<IMAGE_REF_\d+>", prompt)))
        if refs > 3:
            raise Reject(400, f"At most 3 reference images are supported, got {refs}.")
        fmt = body.get("response_format") or {"type": "video"}
        fmt = next((f for f in fmt if isinstance(f, dict) and f.get("type") == "video"), None) \
            if isinstance(fmt, list) else fmt
        if not isinstance(fmt, dict) or fmt.get("type") != "video":
            raise Reject(400, f"{model} produces video: response_format.type must be \"video\".")
        aspect = fmt.get("aspect_ratio", "16:9")
        if aspect not in ("16:9", "9:16"):
            raise Reject(400, f"Unsupported aspect_ratio {aspect!r}; supported: 16:9, 9:16.")
        resolution = fmt.get("resolution", "720p")
        if resolution not in resolutions:
            raise Reject(400, f"Unsupported resolution {resolution!r} for {model}; supported: "
                              f"{', '.join(resolutions)}.")
        if fmt.get("delivery", "inline") not in ("inline", "uri"):
            raise Reject(400, "response_format.delivery must be inline or uri.")
        duration = str(fmt.get("duration", "8s"))
        if not re.fullmatch(r"\d+s", duration) or not 3 <= int(duration[:-1]) <= longest:
            raise Reject(400, f"Unsupported duration {duration!r} for {model}; use \"3s\" to \"{longest:g}s\".")
        seconds = float(duration[:-1])
        config = body.get("generation_config") or {}
        task = ((config.get("video_config") or {}) if isinstance(config, dict) else {}).get("task")
        if task is not None and task not in TASKS:
            raise Reject(400, f"Unknown video_config.task {task!r}.")
        if "seed" in config and (isinstance(config["seed"], bool) or not isinstance(config["seed"], int)):
            raise Reject(400, "generation_config.seed must be an integer.")
        previous = body.get("previous_interaction_id")
        if previous is not None:
            source = self.stored_video(str(previous))
            if task == "extend":
                if source.seconds + seconds > MAX_EXTENDED:
                    raise Reject(400, f"The extended video would run {source.seconds + seconds:g} s; "
                                      f"the limit is {MAX_EXTENDED:g} s.")
                seconds, aspect = source.seconds + seconds, source.aspect
        elif task == "extend":
            raise Reject(400, "task extend needs previous_interaction_id or an input video.")
        op = Operation(name="", model=model, body=body, seconds=seconds, aspect=str(aspect),
                       resolution=str(resolution))
        if previous is not None:
            op.storage_uri = str(previous)
        return op

    def check_image(self, block: dict[str, Any], where: str) -> None:
        mime = block.get("mime_type")
        if "uri" in block:
            return  # a Files API URI: accepted as is
        if mime not in IMAGE_MAGIC:
            raise Reject(400, f"{where}: unsupported mime_type {mime!r}.")
        try:
            raw = base64.b64decode(str(block.get("data")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise Reject(400, f"{where}.data: invalid base64.") from exc
        if not raw.startswith(IMAGE_MAGIC[str(mime)]):
            raise Reject(400, f"{where}: the bytes are not a valid {mime} image.")

    def stored_video(self, interaction: str) -> Clip:
        """The clip of a completed, stored interaction (what ``previous_interaction_id`` continues)."""
        with self.lock:
            op = self.operations.get(interaction)
        if op is None or "input" not in op.body:
            raise Reject(404, f"Interaction {interaction} not found.", "NOT_FOUND")
        if op.body.get("store") is False:
            raise Reject(400, f"Interaction {interaction} was created with store=false and cannot be continued.")
        if not op.clips:
            raise Reject(400, f"Interaction {interaction} has not completed.", "FAILED_PRECONDITION")
        return op.clips[0]

    # -- get / cancel -------------------------------------------------------------------------
    def get(self, interaction: str, version: str, request: Request) -> Response:
        with self.lock:
            op = self.operations.get(interaction)
        if op is None or "input" not in op.body:
            return google_error(404, f"Interaction {interaction} not found.", "NOT_FOUND")
        if op.outcome != "cancelled" and not self.advance(op):
            return Response.json({"id": op.name, "status": "in_progress", "object": "interaction", "model": op.model})
        delivery = "inline" if self.inline_get else "uri"
        return Response.json(self.interaction_body(op, delivery))

    def cancel(self, interaction: str) -> Response:
        with self.lock:
            op = self.operations.get(interaction)
        if op is None or "input" not in op.body:
            return google_error(404, f"Interaction {interaction} not found.", "NOT_FOUND")
        if op.body.get("background") is not True or op.clips or op.outcome != "ok" and op.outcome != "stall":
            return google_error(400, "Only running background interactions can be cancelled.", "FAILED_PRECONDITION")
        op.outcome = "cancelled"
        return Response.json({"id": op.name, "status": "cancelled", "object": "interaction", "model": op.model})

    def interaction_body(self, op: Operation, delivery: str) -> dict[str, Any]:
        """A finished interaction: ``completed`` with a video, or ``failed``/``cancelled`` with errors."""
        base = {"id": op.name, "object": "interaction", "model": op.model,
                "created": "2026-11-28T12:00:00Z", "updated": "2026-11-28T12:01:00Z"}
        if op.outcome == "cancelled":
            return {**base, "status": "cancelled"}
        if op.outcome == "error" and op.fault is not None:
            return {**base, "status": "failed", "errors": [{"code": "INTERNAL", "message": op.fault.message}]}
        if op.outcome == "rai":
            reasons = "; ".join(op.fault.reasons) if op.fault and op.fault.reasons else "unsafe content"
            return {**base, "status": "failed", "errors": [{
                "code": "INVALID_ARGUMENT",
                "message": f"The request was blocked by our safety policies: {reasons}"}]}
        clip = op.clips[0]
        if delivery == "inline":
            video = {"type": "video", "mime_type": "video/mp4",
                     "data": base64.b64encode(sample_mp4(clip.seconds, clip.aspect)).decode()}
        else:
            video = {"type": "video", "mime_type": "video/mp4", "uri": self.download_uri(clip)}
        return {**base, "status": "completed", "steps": [
            {"type": "user_input", "content": [{"type": "text", "text": t} for t in self.texts(op.body)]},
            {"type": "thought", "content": [{"type": "thought", "text": "Planning the shot."}]},
            {"type": "model_output", "content": [video]}],
            "usage": {"total_output_tokens": int(5792 * clip.seconds),
                      "output_tokens_by_modality": [{"modality": "video", "tokens": int(5792 * clip.seconds)}]}}
