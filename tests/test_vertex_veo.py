"""VertexVeo against the loopback Vertex fake: fetchPredictOperation, inline and GCS outputs, faults."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shotmake.errors import RetryableError, TerminalError
from shotmake.providers.base import InputFile, JobStatus
from shotmake.providers.catalog import ROUTES
from shotmake.providers.vertex_veo import VertexVeo, vertex_host, vertex_model
from tests.fakes.google_server import (
    lost_response,
    operation_failed,
    overloaded,
    rai_filtered,
    rate_limited,
    reset_download,
    sample_mp4,
    sample_png,
    truncated_download,
)
from tests.fakes.vertex_server import FakeVertex
from tests.veo_helpers import request, run_to_done

TOKEN = "ya29.fake-vertex-token-never-leak"
MODEL_PATH = "projects/fake-project/locations/us-central1/publishers/google/models/veo-3.1-generate-001"


@pytest.fixture
def fake() -> Iterator[FakeVertex]:
    with FakeVertex(token=TOKEN, polls_until_done=1) as server:
        assert isinstance(server, FakeVertex)
        yield server


@pytest.fixture
def make_vertex(fake: FakeVertex, client: httpx.Client) -> Callable[..., VertexVeo]:
    def make(**kwargs: Any) -> VertexVeo:
        kwargs.setdefault("token", TOKEN)
        return VertexVeo("fake-project", base_url=fake.url, storage_url=fake.storage_url, client=client,
                         poll_interval=0.0, **kwargs)

    return make


def test_inline_video_flow_and_exact_wire_shapes(
    fake: FakeVertex, make_vertex: Callable[..., VertexVeo], tmp_path: Path
) -> None:
    veo = make_vertex()
    job = veo.submit(request(prompt="A quiet harbour.", seed=42, audio=False, negative_prompt="rain"))
    assert job.startswith(MODEL_PATH + "/operations/")
    status = run_to_done(veo, job)
    assert status.state == "succeeded" and "inline" in status.meta
    assert all(len(str(v)) < 500 for v in status.meta.values())  # bytes never ride in meta
    meta = veo.download(job, tmp_path / "clip.mp4", status)

    assert [(r.method, r.path) for r in fake.requests] == [
        ("POST", f"/v1/{MODEL_PATH}:predictLongRunning"),
        ("POST", f"/v1/{MODEL_PATH}:fetchPredictOperation"),
        ("POST", f"/v1/{MODEL_PATH}:fetchPredictOperation"),
    ]
    assert fake.requests[0].json() == {
        "instances": [{"prompt": "A quiet harbour."}],
        "parameters": {"aspectRatio": "16:9", "resolution": "720p", "sampleCount": 1, "generateAudio": False,
                       "durationSeconds": 8, "negativePrompt": "rain", "seed": 42},
    }
    assert fake.requests[1].json() == {"operationName": job}
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in fake.requests)
    assert (tmp_path / "clip.mp4").read_bytes() == sample_mp4(8.0, "16:9")
    assert meta == {"backend": "vertex", "operation": job, "model": "veo-3.1-generate-001", "remote_uri": "",
                    "generated_at": meta["generated_at"], "bytes": (tmp_path / "clip.mp4").stat().st_size}


def test_gcs_output_is_streamed_from_storage_with_the_token(
    fake: FakeVertex, make_vertex: Callable[..., VertexVeo], tmp_path: Path
) -> None:
    veo = make_vertex(storage_uri="gs://renders/shotmake", route="veo-3.1-fast")
    job = veo.submit(request(duration=4.0))
    assert fake.requests[0].json()["parameters"]["storageUri"] == "gs://renders/shotmake"
    status = run_to_done(veo, job)
    uri = status.meta["uri"]
    assert uri.startswith("gs://renders/shotmake/") and uri.endswith("/sample_0.mp4")
    meta = veo.download(job, tmp_path / "clip.mp4", status)
    get = fake.requests[-1]
    assert get.method == "GET" and get.path == "/storage/" + uri[len("gs://"):]
    assert get.headers["authorization"] == f"Bearer {TOKEN}"
    assert (tmp_path / "clip.mp4").read_bytes() == sample_mp4(4.0, "16:9")
    assert meta["remote_uri"] == uri and meta["model"] == "veo-3.1-fast-generate-001"


def test_images_are_sent_as_bytes_base64_encoded(
    fake: FakeVertex, make_vertex: Callable[..., VertexVeo], tmp_path: Path
) -> None:
    files = []
    for name in ("first", "last", "ref"):
        path = tmp_path / f"{name}.png"
        path.write_bytes(sample_png(10, 10))
        files.append(InputFile(path=path, digest=name, mime="image/png"))
    veo = make_vertex()
    veo.submit(request(first_frame=files[0], last_frame=files[1]))
    veo.submit(request(references=(files[2],)))
    data = base64.b64encode(files[0].path.read_bytes()).decode()
    first, second = (r.json()["instances"][0] for r in fake.route_requests("create"))
    assert first["image"] == {"bytesBase64Encoded": data, "mimeType": "image/png"}
    assert set(first["lastFrame"]) == {"bytesBase64Encoded", "mimeType"}
    assert second["referenceImages"] == [{"image": {"bytesBase64Encoded": data, "mimeType": "image/png"},
                                          "referenceType": "ASSET"}]
    assert fake.creates == 2


def test_extension_sends_the_clip_inline_or_by_gcs_uri(
    fake: FakeVertex, make_vertex: Callable[..., VertexVeo], tmp_path: Path
) -> None:
    veo = make_vertex()
    job = veo.submit(request())
    veo.download(job, tmp_path / "a.mp4", run_to_done(veo, job))
    source = InputFile(path=tmp_path / "a.mp4", digest="a", mime="video/mp4", meta={"duration": 8.0})
    ext = veo.submit(request(prompt="The boat leaves.", extends=source))
    sent = fake.route_requests("create")[-1].json()
    assert sent["instances"][0]["video"] == {"bytesBase64Encoded": base64.b64encode(
        (tmp_path / "a.mp4").read_bytes()).decode(), "mimeType": "video/mp4"}
    assert "durationSeconds" not in sent["parameters"]
    veo.download(ext, tmp_path / "b.mp4", run_to_done(veo, ext))
    assert (tmp_path / "b.mp4").read_bytes() == sample_mp4(15.0, "16:9")

    gcs = make_vertex(storage_uri="gs://renders/out")
    job = gcs.submit(request())
    meta = gcs.download(job, tmp_path / "c.mp4", run_to_done(gcs, job))
    gcs.submit(request(prompt="Later.", extends=InputFile(path=tmp_path / "c.mp4", digest="c", mime="video/mp4",
                                                           meta=meta)))
    assert fake.route_requests("create")[-1].json()["instances"][0]["video"] == {
        "gcsUri": meta["remote_uri"], "mimeType": "video/mp4"}


def test_vertex_extension_limits_are_refused_before_any_request(
    fake: FakeVertex, make_vertex: Callable[..., VertexVeo], tmp_path: Path
) -> None:
    source = InputFile(path=tmp_path / "long.mp4", digest="l", mime="video/mp4", meta={"duration": 31.0})
    with pytest.raises(TerminalError, match="Vertex extends videos of 1–30 s; long.mp4 is 31 s"):
        make_vertex().submit(request(extends=source))
    with pytest.raises(TerminalError, match="does not support extension"):
        make_vertex(route="veo-3.1-lite").submit(request(extends=source))
    with pytest.raises(TerminalError, match="use one of 4, 6, 8"):
        make_vertex().submit(request(duration=10.0))
    assert fake.requests == []


def test_a_fresh_adapter_resumes_from_the_operation_name(
    fake: FakeVertex, make_vertex: Callable[..., VertexVeo], tmp_path: Path
) -> None:
    job = make_vertex().submit(request())
    fresh = make_vertex()
    assert run_to_done(fresh, job).state == "succeeded"
    other = make_vertex()  # a third process: the inline bytes are not in its memory
    other.download(job, tmp_path / "clip.mp4", JobStatus(state="succeeded"))
    assert (tmp_path / "clip.mp4").read_bytes() == sample_mp4(8.0, "16:9")
    assert fake.creates == 1 and [fake.route_of(r) for r in fake.requests] == ["create", "poll", "poll", "poll"]


def test_faults_map_to_retryable_or_terminal(fake: FakeVertex, make_vertex: Callable[..., VertexVeo]) -> None:
    veo = make_vertex()
    fake.faults += [rate_limited("create", retry_after=5), overloaded("create")]
    with pytest.raises(RetryableError) as info:
        veo.submit(request())
    assert info.value.retry_after == 5.0
    with pytest.raises(RetryableError, match="overloaded"):
        veo.submit(request())
    assert fake.creates == 0
    job = veo.submit(request())
    fake.faults.append(overloaded("poll"))
    with pytest.raises(RetryableError):
        veo.poll(job)
    assert run_to_done(veo, job).state == "succeeded"

    fake.faults.append(rai_filtered(["Child safety"]))
    status = run_to_done(veo, veo.submit(request()))
    assert isinstance(status.error, TerminalError) and "Child safety" in str(status.error)
    fake.faults.append(operation_failed(14, "Service unavailable."))
    assert isinstance(run_to_done(veo, veo.submit(request())).error, RetryableError)
    fake.faults.append(operation_failed(3, "Bad image."))
    assert isinstance(run_to_done(veo, veo.submit(request())).error, TerminalError)
    before = fake.creates
    fake.faults.append(lost_response())
    with pytest.raises(TerminalError, match="may have reached Google") as lost:
        veo.submit(request())
    assert vars(lost.value)["uncertain"] is True and fake.creates == before + 1


def test_wrong_names_projects_and_lost_objects_are_terminal_with_vertex_hints(
    fake: FakeVertex, make_vertex: Callable[..., VertexVeo], client: httpx.Client, tmp_path: Path
) -> None:
    veo = make_vertex()
    with pytest.raises(TerminalError, match="not a Vertex operation name.*expected projects/<p>/locations/<l>/"):
        veo.poll("models/veo-3.1-generate-preview/operations/x")
    assert fake.requests == []
    with pytest.raises(TerminalError, match="HTTP 404.*not found.*the operation is unknown or expired"):
        veo.poll(f"{MODEL_PATH}/operations/never-created")
    other = VertexVeo("someone-else", token=TOKEN, base_url=fake.url, client=client)
    with pytest.raises(TerminalError, match="PERMISSION_DENIED.*check GOOGLE_CLOUD_PROJECT"):
        other.submit(request())
    assert fake.creates == 0

    gcs = make_vertex(storage_uri="gs://renders/lost")
    job = gcs.submit(request())
    status = run_to_done(gcs, job)
    fake.objects.clear()  # a bucket lifecycle rule deleted the output
    with pytest.raises(TerminalError, match="HTTP 404.*Cloud Storage object is gone.*lifecycle"):
        gcs.download(job, tmp_path / "clip.mp4", status)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fault", [reset_download(after=1000), truncated_download(missing=2000)])
def test_broken_gcs_downloads_are_retryable(
    fake: FakeVertex, make_vertex: Callable[..., VertexVeo], tmp_path: Path, fault: Any
) -> None:
    veo = make_vertex(storage_uri="gs://renders/x")
    job = veo.submit(request())
    status = run_to_done(veo, job)
    fake.faults.append(fault)
    with pytest.raises(RetryableError):
        veo.download(job, tmp_path / "clip.mp4", status)
    assert list(tmp_path.iterdir()) == []
    veo.download(job, tmp_path / "clip.mp4", status)
    assert (tmp_path / "clip.mp4").read_bytes() == sample_mp4(8.0, "16:9")


def test_bad_token_is_terminal_with_a_hint_and_never_echoed(
    fake: FakeVertex, make_vertex: Callable[..., VertexVeo]
) -> None:
    stale = "ya29.expired-token-should-not-leak"
    with pytest.raises(TerminalError, match="UNAUTHENTICATED.*refresh GOOGLE_OAUTH_ACCESS_TOKEN") as info:
        make_vertex(token=stale).submit(request())
    assert stale not in str(info.value) and TOKEN not in str(info.value)
    calls: list[int] = []

    def token() -> str:
        calls.append(1)
        return TOKEN

    veo = make_vertex(token=token)
    run_to_done(veo, veo.submit(request()))
    assert len(calls) == 3  # asked per request: a refreshing source keeps long builds authorised


def test_from_env_hosts_and_model_ids(fake: FakeVertex, client: httpx.Client) -> None:
    env = {"GOOGLE_CLOUD_PROJECT": "fake-project", "GOOGLE_OAUTH_ACCESS_TOKEN": TOKEN,
           "GOOGLE_CLOUD_LOCATION": "europe-west4", "SHOTMAKE_VERTEX_BASE_URL": fake.url}
    veo = VertexVeo.from_env("veo-3.1-lite", env, client)
    veo.submit(request(model=""))
    assert fake.requests[0].path == ("/v1/projects/fake-project/locations/europe-west4/publishers/google/models/"
                                     "veo-3.1-lite-generate-001:predictLongRunning")
    assert VertexVeo.from_env("veo-3.1", {**env, "SHOTMAKE_VERTEX_BASE_URL": ""}, client).base_url == \
        "https://europe-west4-aiplatform.googleapis.com"
    assert vertex_host("global") == "https://aiplatform.googleapis.com"
    assert VertexVeo.from_env("veo-3.1", {"GOOGLE_CLOUD_PROJECT": "p", "GOOGLE_OAUTH_ACCESS_TOKEN": "t"},
                              client).base_url == "https://us-central1-aiplatform.googleapis.com"
    route = ROUTES["veo-3.1-fast"]
    assert vertex_model(route, "veo-3.1-fast") == "veo-3.1-fast-generate-001"
    assert vertex_model(route, "veo-3.1-fast-generate-preview") == "veo-3.1-fast-generate-001"
    assert vertex_model(route, "veo-3.0-generate-001") == "veo-3.0-generate-001"
    with pytest.raises(TerminalError, match="GOOGLE_CLOUD_PROJECT"):
        VertexVeo.from_env("veo-3.1", {"GOOGLE_OAUTH_ACCESS_TOKEN": "t"}, client)
    with pytest.raises(TerminalError, match="GOOGLE_OAUTH_ACCESS_TOKEN"):
        VertexVeo.from_env("veo-3.1", {"GOOGLE_CLOUD_PROJECT": "p"}, client)


def test_fake_vertex_speaks_only_the_vertex_dialect(fake: FakeVertex, client: httpx.Client) -> None:
    headers = {"authorization": f"Bearer {TOKEN}"}
    data = base64.b64encode(sample_png(8, 8)).decode()
    create = f"{fake.url}/v1/{MODEL_PATH}:predictLongRunning"
    inline = client.post(create, headers=headers, json={"instances": [{"prompt": "x", "image": {
        "inlineData": {"mimeType": "image/png", "data": data}}}]})
    assert inline.status_code == 400
    style = client.post(create, headers=headers, json={"instances": [{"prompt": "x", "referenceImages": [
        {"image": {"bytesBase64Encoded": data, "mimeType": "image/png"}, "referenceType": "style"}]}],
        "parameters": {"sampleCount": 2, "generateAudio": True}})
    assert style.status_code == 200
    fetch = f"{fake.url}/v1/{MODEL_PATH}:fetchPredictOperation"
    assert client.get(fetch, headers=headers).status_code == 405
    wrong = client.post(fetch, headers=headers, json={"operationName": "projects/x/operations/y"})
    assert wrong.status_code == 400
    assert client.post(create, json={"instances": [{"prompt": "x"}]}).status_code == 401
