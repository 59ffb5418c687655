"""Loopback fake of Veo on Vertex AI, with a Cloud Storage bucket for ``gcsUri`` outputs.

Shares validation, operations and faults with ``FakeGemini`` (``google_server.FakeVeoBase``);
differs where Vertex does (shared/providers.md §3): bearer auth, ``fetchPredictOperation`` as
a POST, ``bytesBase64Encoded``/``gcsUri`` media only, ``response.videos[]``, 1–30 s extension
inputs, up to 4 samples, and the Vertex-only parameters (``generateAudio``, ``storageUri``...).
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from typing import Any

from .google_server import Clip, FakeVeoBase, ModelCaps, Reject, google_error, sample_mp4
from .server import Request, Response

VERTEX_VEO_MODELS = {
    "veo-3.1-generate-001": ModelCaps(),
    "veo-3.1-fast-generate-001": ModelCaps(),
    "veo-3.1-lite-generate-001": ModelCaps(resolutions=("720p", "1080p"), references=False, extension=False),
}
_VERTEX_MODEL = r"(?P<model_path>projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/publishers/google/models/(?P<model>[^/:]+))"
_VERTEX_CREATE = re.compile(rf"^/(?P<version>v1|v1beta1)/{_VERTEX_MODEL}:predictLongRunning$")
_VERTEX_FETCH = re.compile(rf"^/(?P<version>v1|v1beta1)/{_VERTEX_MODEL}:fetchPredictOperation$")
_GCS_OBJECT = re.compile(r"^/storage/(?P<bucket>[^/]+)/(?P<object>.+)$")


class FakeVertex(FakeVeoBase):
    """Vertex AI Veo: ``predictLongRunning``, ``fetchPredictOperation`` (a POST), and Cloud Storage.

    Finished jobs answer ``response.videos[]`` with inline ``bytesBase64Encoded``, or with a
    ``gcsUri`` under the request's ``parameters.storageUri``; those objects are served at
    ``{url}/storage/BUCKET/OBJECT`` (the adapter's storage base URL is ``{url}/storage``).
    """

    api = "vertex"
    models = VERTEX_VEO_MODELS
    instance_keys = FakeVeoBase.instance_keys
    parameter_keys = FakeVeoBase.parameter_keys | {
        "generateAudio", "storageUri", "fps", "pubsubTopic", "compressionQuality", "resizeMode"}
    max_extend_input = 30.0
    max_samples = 4

    def __init__(self, *, token: str = "fake-vertex-token", project: str = "fake-project", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.project = project
        #: Cloud Storage objects: (bucket, object) -> clip.
        self.objects: dict[tuple[str, str], Clip] = {}

    @property
    def storage_url(self) -> str:
        """What to pass as the adapter's storage base URL."""
        return f"{self.url}/storage"

    def route_of(self, request: Request) -> str:
        if _VERTEX_CREATE.match(request.path):
            return "create"
        if _VERTEX_FETCH.match(request.path):
            return "poll"
        if _GCS_OBJECT.match(request.path):
            return "bytes"
        return "other"

    def handle(self, request: Request) -> Response:
        route = self.route_of(request)
        if route == "other":
            return google_error(404, f"Method not found: {request.method} {request.path}", "NOT_FOUND")
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return google_error(401, "Request had invalid authentication credentials. Expected OAuth 2 access "
                                     "token, login cookie or other valid authentication credential.",
                                "UNAUTHENTICATED")
        if route == "bytes":
            match = _GCS_OBJECT.match(request.path)
            assert match is not None
            clip = self.objects.get((match.group("bucket"), match.group("object")))
            if clip is None:
                return google_error(404, "No such object.", "NOT_FOUND")
            return self.serve_clip(clip)
        fault = self.http_fault(route)
        if fault is not None:
            return fault
        if request.method != "POST":
            return google_error(405, f"Method {request.method} not allowed", "INVALID_ARGUMENT")
        try:
            return self.create(request) if route == "create" else self.fetch(request)
        except Reject as exc:
            return google_error(exc.status, exc.message, exc.error_status)

    def create(self, request: Request) -> Response:
        match = _VERTEX_CREATE.match(request.path)
        assert match is not None
        if match.group("project") != self.project:
            raise Reject(403, f"Permission denied on project {match.group('project')}.", "PERMISSION_DENIED")
        try:
            body = request.json()
        except ValueError as exc:
            raise Reject(400, "Invalid JSON payload received.") from exc
        op = self.validate(match.group("model"), body)
        if op.storage_uri and not op.storage_uri.startswith("gs://"):
            raise Reject(400, "storageUri must be a gs:// URI.")
        self.accept(op, f"{match.group('model_path')}/operations/{uuid.uuid4()}")
        return self.answer_create(op.name)

    def read_gcs(self, uri: str, where: str) -> bytes:
        bucket, _, obj = uri.removeprefix("gs://").partition("/")
        clip = self.objects.get((bucket, obj))
        if clip is None:
            raise Reject(400, f"{where}: cannot read {uri}")
        return sample_mp4(clip.seconds, clip.aspect)

    def source_clip(self, video: Any) -> Clip:
        if not isinstance(video, dict):
            raise Reject(400, "Invalid value at 'instances[0].video'")
        if "gcsUri" in video:
            bucket, _, obj = str(video["gcsUri"]).removeprefix("gs://").partition("/")
            clip = self.objects.get((bucket, obj))
            if clip is None:
                raise Reject(400, f"cannot read {video['gcsUri']}")
        elif "bytesBase64Encoded" in video:
            try:
                raw = base64.b64decode(str(video["bytesBase64Encoded"]), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise Reject(400, "instances[0].video.bytesBase64Encoded: invalid base64") from exc
            if not raw[4:8] == b"ftyp":
                raise Reject(400, "instances[0].video: the bytes are not an MP4 video")
            known = next((c for c in self.clips.values() if sample_mp4(c.seconds, c.aspect) == raw), None)
            # An MP4 this server did not make: treat it as an 8 s 720p 16:9 Veo clip.
            clip = known or Clip(id="external", seconds=8.0, aspect="16:9", resolution="720p", created=self.clock())
        else:
            raise Reject(400, "instances[0].video needs gcsUri or bytesBase64Encoded")
        if not 1.0 <= clip.seconds <= self.max_extend_input:
            raise Reject(400, f"The input video must be 1-30 seconds long (got {clip.seconds:g} s).")
        return clip

    def fetch(self, request: Request) -> Response:
        match = _VERTEX_FETCH.match(request.path)
        assert match is not None
        try:
            body = request.json()
        except ValueError as exc:
            raise Reject(400, "Invalid JSON payload received.") from exc
        name = body.get("operationName") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.startswith(match.group("model_path") + "/operations/"):
            raise Reject(400, "operationName must name an operation of this model.")
        op = self.operations.get(name)
        if op is None:
            return google_error(404, f"Operation {name} not found.", "NOT_FOUND")
        if not self.advance(op):
            return Response.json(self.running_body(op))
        failure = self.failure_body(op)
        if failure is not None:
            return Response.json(failure)
        result: dict[str, Any] = {
            "@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"}
        if op.outcome == "rai":
            result.update(raiMediaFilteredCount=1, raiMediaFilteredReasons=op.fault.reasons if op.fault else [],
                          videos=[])
        else:
            videos = []
            for i, clip in enumerate(op.clips):
                if op.storage_uri:
                    bucket, _, prefix = op.storage_uri.removeprefix("gs://").partition("/")
                    obj = "/".join(p for p in (prefix.strip("/"), name.rsplit("/", 1)[1], f"sample_{i}.mp4") if p)
                    self.objects[(bucket, obj)] = clip
                    videos.append({"gcsUri": f"gs://{bucket}/{obj}", "mimeType": "video/mp4"})
                else:
                    data = base64.b64encode(sample_mp4(clip.seconds, clip.aspect)).decode()
                    videos.append({"bytesBase64Encoded": data, "mimeType": "video/mp4"})
            result.update(raiMediaFilteredCount=0, videos=videos)
        return Response.json({"name": op.name, "done": True, "response": result})
