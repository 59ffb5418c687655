"""Conformance: shotmake's Ark requests against the official SDKs', for the same shots.

The official SDKs of both Ark sites (BytePlus: ``byteplus-python-sdk-v2``, module
``byteplussdkarkruntime``; Volcano Engine: ``volcengine-ark-runtime``, module
``volcenginesdkarkruntime``; test-only dependencies) and ``ArkTasks`` (the built-in route, and
a ``doubao-`` route as a shotmake.toml would configure it) each talk to a recording server on
127.0.0.1; the test
compares method, path, query, the headers that matter and the JSON body. The SDK call is
written here from the vendor's documented mapping (text item, ``image_url`` items with a
role, ``generate_audio``, ``watermark``, ``seed``, ``resolution``, ``ratio``, ``duration``),
not from the adapter.

Normalised, because they are legitimately free: the SDK's explicit ``null`` for every field
left unset (the adapter leaves them out), ``User-Agent``, ``X-Client-Request-Id`` (new on
every SDK attempt, so not an idempotency key) and transport headers (``content-length``,
``host``, ``connection``, ``accept-encoding``).
"""

from __future__ import annotations

import base64
import dataclasses
import importlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shotmake.providers.ark_tasks import ArkTasks, seed_for
from shotmake.providers.base import InputFile, RenderRequest
from shotmake.providers.catalog import ROUTES
from tests.fakes.openai_server import fake_png
from tests.fakes.server import FakeServer, Request, Response

KEY = "ark-conformance-key-0e1f"
#: Headers whose values must be equal (the rest are free: see the module docstring).
COMPARED = ("authorization", "content-type", "accept")
TASK = {"id": "cgt-20261128000000-abcde", "model": "dreamina-seedance-2-0-260128", "status": "queued",
        "created_at": 1, "updated_at": 1}


class Recorder(FakeServer):
    """Answers each Ark call with a minimal valid body, and records the request."""

    def handle(self, request: Request) -> Response:
        if request.method == "POST":
            return Response.json({"id": TASK["id"]})
        if request.method == "DELETE":
            return Response.json({})
        if request.path.endswith("/tasks"):
            return Response.json({"total": 1, "items": [TASK]})
        return Response.json(TASK)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    with Recorder() as server:
        yield server


#: (SDK module, the model id its site serves): BytePlus ModelArk, Volcano Engine Ark.
SITES = [("byteplussdkarkruntime", "dreamina-seedance-2-0-260128"),
         ("volcenginesdkarkruntime", "doubao-seedance-2-0-260128")]


@pytest.fixture(params=SITES, ids=["byteplus", "volcengine"])
def site(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def sdk(recorder: Recorder, site: tuple[str, str]) -> Iterator[Any]:
    ark = importlib.import_module(site[0]).Ark  # the official SDK (test-only dependency)
    client = ark(base_url=recorder.url + "/api/v3", api_key=KEY, max_retries=0)
    yield client.content_generation.tasks
    client.close()


@pytest.fixture
def ours(recorder: Recorder, site: tuple[str, str]) -> Iterator[ArkTasks]:
    # Volcano Engine is reached with a configured route: seedance-2.0's facts, a doubao- model id.
    route = dataclasses.replace(ROUTES["seedance-2.0"], name="seedance-site", model=site[1])
    adapter = ArkTasks(route, api_key=KEY, base_url=recorder.url + "/api/v3", client=httpx.Client())
    yield adapter
    adapter._client.close()


def png(tmp_path: Path, name: str, rgb: tuple[int, int, int]) -> InputFile:
    path = tmp_path / name
    path.write_bytes(fake_png(320, 180, rgb))
    return InputFile(path=path, digest=name, mime="image/png")


def data_url(item: InputFile) -> str:
    return "data:image/png;base64," + base64.b64encode(item.path.read_bytes()).decode()


def image_item(item: InputFile, role: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": data_url(item)}, "role": role}


def without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def comparable(request: Request) -> dict[str, Any]:
    return {"method": request.method, "path": request.path, "query": request.query,
            "headers": {h: request.headers.get(h) for h in COMPARED},
            "body": without_nulls(request.json()) if request.body else None}


def shots(tmp_path: Path, model: str) -> list[tuple[str, RenderRequest, dict[str, Any]]]:
    """(name, shotmake's request, the SDK's create arguments) for each kind of shot."""
    mei, kai = png(tmp_path, "mei.png", (250, 200, 0)), png(tmp_path, "kai.png", (0, 120, 40))
    voice_path = tmp_path / "mei.wav"
    voice_path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(28))
    voice = InputFile(path=voice_path, digest="mei.wav", mime="audio/wav")
    voice_item = {"type": "audio_url", "role": "reference_audio",
                  "audio_url": {"url": "data:audio/wav;base64," + base64.b64encode(voice_path.read_bytes()).decode()}}
    first, last = png(tmp_path, "first.png", (9, 9, 90)), png(tmp_path, "last.png", (90, 9, 9))
    common = {"node_id": "clip:x", "kind": "clip", "model": "", "duration": 6.0, "resolution": "720p",
              "aspect": "16:9"}
    text = "Black storm clouds roll over the sea toward the lighthouse."

    def sdk_args(key: str, content: list[dict[str, Any]], ratio: str = "16:9", audio: bool = True,
                 seed: int | None = None) -> dict[str, Any]:
        return {"model": model, "content": [{"type": "text", "text": text}, *content], "generate_audio": audio,
                "watermark": False, "seed": seed_for(key) if seed is None else seed, "resolution": "720p",
                "ratio": ratio, "duration": 6}

    return [
        ("text", RenderRequest(key="k-text", prompt=text, seed=7, audio=False, **common),  # type: ignore[arg-type]
         sdk_args("k-text", [], audio=False, seed=7)),
        ("references", RenderRequest(key="k-refs", prompt=text, references=(mei, kai), **common),  # type: ignore[arg-type]
         sdk_args("k-refs", [image_item(mei, "reference_image"), image_item(kai, "reference_image")])),
        ("frames", RenderRequest(key="k-frames", prompt=text, first_frame=first, last_frame=last,  # type: ignore[arg-type]
                                 **common),
         sdk_args("k-frames", [image_item(first, "first_frame"), image_item(last, "last_frame")], ratio="adaptive")),
        ("references win over a frame",
         RenderRequest(key="k-mixed", prompt=text, references=(kai,), first_frame=first, **common),  # type: ignore[arg-type]
         sdk_args("k-mixed", [image_item(kai, "reference_image"), image_item(first, "reference_image")])),
        # A speaking character's voice sample: reference audio after the images (the SDK's audio_url item).
        ("a voice sample", RenderRequest(key="k-voice", prompt=text, references=(mei, voice), **common),  # type: ignore[arg-type]
         sdk_args("k-voice", [image_item(mei, "reference_image"), voice_item])),
    ]


def test_creates_match_the_official_sdk_for_text_references_and_frames(
        recorder: Recorder, sdk: Any, ours: ArkTasks, site: tuple[str, str], tmp_path: Path) -> None:
    for name, request, args in shots(tmp_path, site[1]):
        assert sdk.create(**args).id == TASK["id"]
        assert ours.submit(request) == TASK["id"]
        theirs, mine = recorder.requests[-2:]
        assert comparable(mine) == comparable(theirs), name
        raw = theirs.json()  # the SDK's explicit nulls are exactly what the adapter leaves out
        assert {k for k, v in raw.items() if v is None} == set(raw) - set(mine.json()), name


def test_get_list_and_delete_match_the_official_sdk(recorder: Recorder, sdk: Any, ours: ArkTasks,
                                                    site: tuple[str, str]) -> None:
    task = TASK["id"]
    sdk.get(task_id=task)
    ours.poll(task)
    sdk.list(page_num=1, page_size=100, model=site[1])
    request = RenderRequest(node_id="clip:x", key="k", kind="clip", model="", prompt="p", duration=6.0,
                            resolution="720p")
    ours.reconcile(request, 0.0)
    sdk.delete(task)
    ours.delete(task)
    pairs = [recorder.requests[i:i + 2] for i in range(0, 6, 2)]
    for theirs, mine in pairs:
        assert comparable(mine) == comparable(theirs), theirs.path
    assert pairs[1][0].query == {"page_num": ["1"], "page_size": ["100"], "filter.model": [site[1]]}
