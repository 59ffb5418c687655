"""Character sheets with the gpt-image-1 family over the OpenAI Images API.

The Images API answers in the same HTTP exchange (no job id), so this adapter is a
synchronous ``render``: ``POST /images/generations`` (JSON) without references, or
``POST /images/edits`` (multipart, one ``image[]`` part per reference) with them. The PNG
comes back as ``b64_json`` and is written to ``dest`` atomically. Because there is no job to
resume, a crash mid-request can cost one image more (cents, not dollars as with video);
the executor's cache still guarantees a finished sheet is never requested twice.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from ..errors import ProviderError, RetryableError, TerminalError
from . import catalog, http
from .base import ProgressCallback, Provider, RenderRequest
from .openai_http import DEFAULT_BASE_URL, Credentials, credentials_from_env, http_error, network_error

#: Output sizes the GPT image models accept, by aspect ratio.
SIZES_BY_ASPECT: Mapping[str, str] = {"1:1": "1024x1024", "3:2": "1536x1024", "2:3": "1024x1536"}
INPUT_MIMES = ("image/png", "image/jpeg", "image/webp")
QUALITIES = ("low", "medium", "high", "auto")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class OpenAIImages(Provider):
    """Render ``kind == "sheet"`` requests with ``gpt-image-1`` / ``gpt-image-1.5``.

    ``quality`` is part of what the image looks like, so it is fixed per adapter (project
    configuration), not per request; the catalog price assumes ``high``.
    """

    remote = False

    def __init__(
        self,
        route: str | catalog.Route = "gpt-image-2",
        *,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        client: httpx.Client | None = None,
        quality: str = "high",
        input_fidelity: str | None = "high",
        prices: Mapping[str, float] | None = None,
        limits: http.BodyLimits | None = None,
    ) -> None:
        """``limits`` caps each answer (default: the route's ``max_download_mb``)."""
        info = catalog.adapter_route(route, ("openai-images",), "OpenAIImages")
        if quality not in QUALITIES:
            raise ProviderError(
                f"image quality {quality!r} is not one of {', '.join(QUALITIES)}", provider=info.name
            )
        self.name = info.name
        self.route = info
        self.quality = quality
        #: How closely edits keep faces and features of the references (``high`` for character sheets).
        self.input_fidelity = input_fidelity
        self.prices = dict(prices) if prices is not None else dict(info.price)
        self._owns_client = client is None
        self._client = client or httpx.Client(timeout=httpx.Timeout(300.0, connect=10.0))
        self._session = Credentials(api_key=api_key, base_url=base_url).session(
            self._client, provider=info.name, limits=limits or http.BodyLimits.for_route(info.max_download_mb))

    def __repr__(self) -> str:
        return f"OpenAIImages(route={self.name!r}, session={self._session!r})"

    def estimate_cost(self, request: RenderRequest) -> float:
        """The catalog's per-image price (one image per sheet)."""
        return float(self.prices.get(request.resolution, self.prices.get("*", 0.0)))

    def size_for(self, request: RenderRequest) -> str:
        """The wire ``size``: the request's pixels if allowed, else the size for its aspect ratio."""
        exact = f"{request.width}x{request.height}"
        if exact in SIZES_BY_ASPECT.values():
            return exact
        if request.aspect in SIZES_BY_ASPECT and request.aspect in self.route.aspects:
            return SIZES_BY_ASPECT[request.aspect]
        allowed = ", ".join(f"{a} ({s})" for a, s in SIZES_BY_ASPECT.items() if a in self.route.aspects)
        raise TerminalError(
            f"aspect {request.aspect} / size {exact} is not available on {self.name}; use {allowed}",
            provider=self.name,
            node=request.node_id,
        )

    def render(
        self, request: RenderRequest, dest: Path, progress: ProgressCallback | None = None
    ) -> dict[str, Any]:
        """Generate (or edit from references) one PNG into ``dest``; return its metadata."""
        node = request.node_id
        if request.kind != "sheet":
            raise TerminalError(
                f"{self.name} renders character sheets, not {request.kind}s", provider=self.name, node=node
            )
        if not request.prompt.strip() or len(request.prompt) > 32000:
            raise TerminalError(
                f"prompt must be 1-32000 characters (got {len(request.prompt)})",
                provider=self.name,
                node=node,
            )
        references = list(request.references)
        if request.first_frame is not None:
            references.insert(0, request.first_frame)
        if len(references) > self.route.max_references:
            raise TerminalError(
                f"{self.name} takes at most {self.route.max_references} reference images "
                f"(got {len(references)})",
                provider=self.name,
                node=node,
            )
        for ref in references:
            if ref.mime not in INPUT_MIMES:
                raise TerminalError(
                    f"{ref.path}: reference must be PNG, JPEG or WebP, not {ref.mime}",
                    provider=self.name,
                    node=node,
                )
        size = self.size_for(request)
        fields: dict[str, Any] = {
            "model": catalog.wire_model(self.route, request.model),
            "prompt": request.prompt,
            "n": 1,
            "size": size,
            "quality": self.quality,
            "output_format": "png",
        }
        if progress is not None:
            progress(0.0)
        if references:
            if self.input_fidelity:
                fields["input_fidelity"] = self.input_fidelity
            with ExitStack() as stack:
                files = [
                    ("image[]", (ref.path.name, stack.enter_context(open(ref.path, "rb")), ref.mime))
                    for ref in references
                ]
                form = {k: str(v) for k, v in fields.items()}
                response = self._send("/images/edits", node, data=form, files=files)
        else:
            response = self._send("/images/generations", node, json=fields)
        data = self._image_bytes(response, node)
        http.write_atomically(dest, [data])
        if progress is not None:
            progress(1.0)
        body = response.json()
        return {
            "provider": self.name,
            "model": catalog.wire_model(self.route, request.model),
            "size": body.get("size", size),
            "quality": body.get("quality", self.quality),
            "bytes": len(data),
            "references": len(references),
            "usage": body.get("usage") or {},
            "created": body.get("created"),
        }

    def close(self) -> None:
        """Close the HTTP client if this adapter created it."""
        if self._owns_client:
            self._client.close()

    def _send(self, path: str, node: str, **kwargs: Any) -> httpx.Response:
        what = "edit" if path.endswith("edits") else "generate"
        try:
            response = self._session.request("POST", self._session.url(path), node=node, **kwargs)
        except httpx.TransportError as exc:
            raise network_error(exc, self._session, provider=self.name, node=node) from exc
        if response.status_code >= 400:  # both paths name the model: a 404 there means it is gone
            raise http_error(response, self._session, provider=self.name, node=node, what=what, about_model=True)
        return response

    def _image_bytes(self, response: httpx.Response, node: str) -> bytes:
        """Decode ``data[0].b64_json`` and check it is a PNG; a malformed answer is worth one retry."""
        try:
            body = response.json()
            encoded = body["data"][0]["b64_json"]
            data = base64.b64decode(encoded, validate=True)
        except (ValueError, KeyError, IndexError, TypeError, binascii.Error) as exc:
            raise RetryableError(
                f"the Images API answered without a decodable b64_json image ({type(exc).__name__})",
                provider=self.name,
                node=node,
            ) from exc
        if not data.startswith(PNG_SIGNATURE):
            raise RetryableError(
                "the Images API returned an image that is not a PNG", provider=self.name, node=node
            )
        return data


def from_env(route: str | catalog.Route, env: Mapping[str, str], client: httpx.Client | None = None, **options: Any) -> OpenAIImages:
    """Build the adapter from ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` (missing key: ProviderUnavailable).

    ``options`` go to the constructor (``prices=`` from the project configuration).
    """
    creds = credentials_from_env(env, provider=catalog.route_name(route))
    return OpenAIImages(route, api_key=creds.api_key, base_url=creds.base_url, client=client, **options)
