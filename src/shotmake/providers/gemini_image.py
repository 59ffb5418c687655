"""Character sheets from Gemini image models (Nano Banana Pro / 2) via ``generateContent``.

One synchronous call (docs/providers.md, "Gemini API")::

    POST {base}/v1beta/models/{model}:generateContent
    {"contents": [{"role": "user", "parts": [{"text": ...}, {"inlineData": {...}}, ...]}],
     "generationConfig": {"responseModalities": ["TEXT", "IMAGE"],
                          "imageConfig": {"aspectRatio": "16:9", "imageSize": "2K"}}}

The answer's ``candidates[0].content.parts`` may hold interim ``thought: true`` parts (drafts,
plans); the sheet is the first *non-thought* ``inlineData`` part. Safety outcomes arrive as a
``finishReason`` or a ``promptFeedback.blockReason`` and become ``TerminalError`` with the reason.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from ..errors import ProviderUnavailable, RetryableError, TerminalError
from . import google_wire as wire
from . import http
from .base import ProgressCallback, Provider, RenderRequest
from .catalog import ROUTES, Route, adapter_route, wire_model

DEFAULT_BASE_URL = wire.GEMINI_BASE_URL
API_VERSION = wire.GEMINI_API_VERSION

ROUTE_NAMES = tuple(n for n, r in ROUTES.items() if r.protocol == "gemini-image")
IMAGE_SIZES = ("1K", "2K", "4K")
IMAGE_MIMES = ("image/png", "image/jpeg", "image/webp")
#: Finish reasons that mean "the model chose not to draw this": retrying the same prompt is futile.
SAFETY_FINISH_REASONS = frozenset({
    "SAFETY", "IMAGE_SAFETY", "PROHIBITED_CONTENT", "IMAGE_PROHIBITED_CONTENT", "BLOCKLIST", "SPII",
    "RECITATION", "IMAGE_RECITATION",
})


def image_size(request: RenderRequest) -> str:
    """Return the ``imageSize`` for a request: ``1K``/``2K``/``4K`` as given, else from its pixels.

    Sheets may be specified by size name, ``WxH`` or width/height; the longer side picks the
    smallest size class that covers it (≤1024 -> 1K, ≤2048 -> 2K, else 4K).
    """
    named = request.resolution.strip().upper()
    if named in IMAGE_SIZES:
        return named
    pixels = re.fullmatch(r"(\d+)X(\d+)", named)
    side = max(int(pixels.group(1)), int(pixels.group(2))) if pixels else max(request.width, request.height)
    if side <= 1024:
        return "1K"
    return "2K" if side <= 2048 else "4K"


class GeminiImage(Provider):
    """Gemini 3 Pro Image / 3.1 Flash Image, rendering one sheet per call."""

    remote = False

    def __init__(
        self,
        api_key: str,
        *,
        route: str | Route = "gemini-3-pro-image",
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.Client | None = None,
        prices: Mapping[str, float] | None = None,
        limits: http.BodyLimits | None = None,
    ) -> None:
        """Build an adapter for one image route; ``client`` as in ``GeminiVeo``.

        ``prices`` overrides the catalog's USD per image by size (``1K``, ``2K``, ``4K``);
        ``limits`` caps each answer (default: the route's ``max_download_mb``).
        """
        found = adapter_route(route, ("gemini-image",), "the Gemini image adapter")
        if not api_key:
            raise ProviderUnavailable("no Gemini API key; set GEMINI_API_KEY (or GOOGLE_API_KEY)",
                                      provider=found.name)
        self.route: Route = found
        self.name = found.name
        self._key = api_key
        self._owns_client = client is None
        # Image generation with thinking takes tens of seconds; 4K sheets longer.
        self._client = client if client is not None else httpx.Client(timeout=httpx.Timeout(300.0, connect=10.0))
        self._session = http.ApiSession(self._client, base_url, http.Credential("x-goog-api-key", api_key),
                                        provider=found.name, variable="GOOGLE_GEMINI_BASE_URL",
                                        limits=limits or http.BodyLimits.for_route(found.max_download_mb))
        self.base_url = self._session.base_url
        self._prices = dict(prices) if prices else None

    @classmethod
    def from_env(
        cls, route: str | Route, env: Mapping[str, str] | None = None, client: httpx.Client | None = None, **options: Any
    ) -> GeminiImage:
        """Build from ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``) and ``GOOGLE_GEMINI_BASE_URL``."""
        env = os.environ if env is None else env
        key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or ""
        return cls(key, route=route, base_url=env.get("GOOGLE_GEMINI_BASE_URL") or DEFAULT_BASE_URL,
                   client=client, **options)

    def check(self, request: RenderRequest) -> None:
        """Raise ``TerminalError`` naming the allowed values if the model would refuse ``request``."""

        def refuse(message: str) -> TerminalError:
            return TerminalError(f"{self.name}: {message}", provider=self.name, node=request.node_id)

        if request.extends is not None or request.last_frame is not None or request.first_frame is not None:
            raise refuse("image routes take a prompt and reference images only (no frames or extension)")
        if not request.prompt.strip():
            raise refuse("a prompt is required")
        if request.aspect not in self.route.aspects:
            raise refuse(f"aspect {request.aspect!r} is not supported; use one of {', '.join(self.route.aspects)}")
        if len(request.references) > self.route.max_references:
            raise refuse(f"takes at most {self.route.max_references} reference images, got {len(request.references)}")
        for ref in request.references:
            if ref.mime not in IMAGE_MIMES:
                raise refuse(f"reference {ref.path.name} is {ref.mime}; use one of {', '.join(IMAGE_MIMES)}")

    def estimate_cost(self, request: RenderRequest) -> float:
        """USD per image at its size (input images cost about $0.001 each and are ignored)."""
        size = image_size(request)
        return (self._prices or {}).get(size, self.route.price_for(size))

    def build_body(self, request: RenderRequest) -> dict[str, Any]:
        """Return the ``generateContent`` JSON: prompt, references as inlineData, image config."""
        text = request.prompt
        if request.negative_prompt:  # generateContent has no negative prompt field: say it in words
            text += f"\n\nAvoid: {request.negative_prompt}"
        parts: list[dict[str, Any]] = [{"text": text}]
        parts += [{"inlineData": {"mimeType": ref.mime, "data": wire.b64_image(ref.path)}} for ref in request.references]
        config: dict[str, Any] = {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": request.aspect, "imageSize": image_size(request)},
        }
        if request.seed is not None:
            config["seed"] = request.seed
        return {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}

    def render(self, request: RenderRequest, dest: Path, progress: ProgressCallback | None = None) -> dict[str, Any]:
        """Generate the sheet and write its image to ``dest`` atomically; return its metadata."""
        self.check(request)
        if progress is not None:
            progress(0.0)
        model = wire_model(self.route, request.model)
        url = f"{self.base_url}/{API_VERSION}/models/{model}:generateContent"
        try:
            response = self._session.request("POST", url, json=self.build_body(request), node=request.node_id)
        except httpx.TransportError as exc:
            raise wire.transport_failure(exc, provider=self.name, node=request.node_id, secrets=(self._key,)) from exc
        if response.status_code >= 400:
            hint = "check GEMINI_API_KEY" if response.status_code in (401, 403) or "api key" in response.text.lower() \
                else ""
            raise wire.error_for_response(response, provider=self.name, node=request.node_id,
                                          secrets=(self._key,), hint=hint, about_model=True)
        body = wire.json_body(response, provider=self.name, node=request.node_id)
        mime, data, text, finish = self._pick_image(body, request.node_id)
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RetryableError("the image part is not valid base64", provider=self.name,
                                 node=request.node_id) from exc
        if mime == "image/png":
            http.write_atomically(dest, [raw])
        else:
            self._store_as_png(raw, mime, dest, request.node_id)
        if progress is not None:
            progress(1.0)
        return {"backend": "gemini", "model": body.get("modelVersion") or model, "mime": "image/png",
                "answered_mime": mime, "bytes": dest.stat().st_size, "finish_reason": finish, "text": text[:2000]}

    def _store_as_png(self, raw: bytes, mime: str, dest: Path, node: str) -> None:
        """A sheet node promises a PNG: re-encode a JPEG or WebP answer (read as the type it claims)."""
        from .. import media  # ffmpeg only for the rare non-PNG answer
        from ..errors import MediaError

        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".answer-") as private:  # a fresh folder
            answer, converted = Path(private) / "answer", Path(private) / "sheet.png"
            answer.write_bytes(raw)
            try:
                media.image_to_png(answer, mime, converted)
            except MediaError as exc:
                raise RetryableError(f"the {mime} image the model answered cannot be read: "
                                     f"{exc.message.splitlines()[0]}", provider=self.name, node=node) from exc
            http.write_atomically(dest, [converted.read_bytes()])

    def _pick_image(self, body: Mapping[str, Any], node: str) -> tuple[str, str, str, str]:
        """Return (mime, base64, text, finishReason) of the first non-thought image, or raise why not."""
        feedback = body.get("promptFeedback") or {}
        if isinstance(feedback, dict) and feedback.get("blockReason"):
            detail = feedback.get("blockReasonMessage") or ""
            raise TerminalError(f"the prompt was blocked: {feedback['blockReason']}"
                                + (f" ({detail})" if detail else "") + "; change the prompt or references",
                                provider=self.name, node=node)
        candidates = body.get("candidates") or []
        if not candidates or not isinstance(candidates[0], dict):
            raise RetryableError("the model answered no candidates", provider=self.name, node=node)
        candidate = candidates[0]
        finish = str(candidate.get("finishReason") or "")
        content = candidate.get("content") if isinstance(candidate.get("content"), dict) else {}
        assert isinstance(content, dict)
        texts: list[str] = []
        for part in content.get("parts") or []:
            if not isinstance(part, dict) or part.get("thought"):
                continue  # thoughts (plans, drafts) are not the answer
            inline = part.get("inlineData") or part.get("inline_data")
            if isinstance(inline, dict) and inline.get("data"):
                mime = str(inline.get("mimeType") or inline.get("mime_type") or "image/png")
                return mime, str(inline["data"]), " ".join(texts), finish
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
        message = candidate.get("finishMessage") or ""
        if finish in SAFETY_FINISH_REASONS or finish.startswith("IMAGE_PROHIBITED"):
            raise TerminalError(f"no image: blocked by Google's safety filters ({finish})"
                                + (f": {message}" if message else "") + "; change the prompt or references",
                                provider=self.name, node=node)
        # STOP/NO_IMAGE/IMAGE_OTHER with text only: the model sometimes answers in words;
        # the same request usually draws on a second try, so let the retry budget decide.
        said = " ".join(texts)[:300]
        raise RetryableError(f"the model returned no image (finishReason {finish or 'none'})"
                             + (f"; it said: {said}" if said else ""), provider=self.name, node=node)

    def close(self) -> None:
        """Close the HTTP client if this adapter created it."""
        if self._owns_client:
            self._client.close()


def from_env(
    route: str | Route, env: Mapping[str, str] | None = None, client: httpx.Client | None = None, **options: Any
) -> GeminiImage:
    """Module-level constructor the provider registry calls (``options``: e.g. ``prices=``)."""
    return GeminiImage.from_env(route, env, client, **options)
