"""A loopback DashScope (Alibaba Cloud Model Studio): Wan video-synthesis tasks and temporary uploads.

Written from the dashscope 2.0.2 SDK (what it sends: ``aigc/video_synthesis.py``,
``v2/resources/videos.py``, ``utils/oss_utils.py``) and the Model Studio API reference (what the
service answers), not from shotmake's adapter. Two servers, two origins, as in production:

* ``FakeDashScope`` — the API under ``/api/v1``: ``POST services/aigc/video-generation/
  video-synthesis`` (only with ``X-DashScope-Async: enable``), ``GET tasks/{id}``, ``GET tasks``
  (the list, by ``model_name`` and a ``YYYYMMDDhhmmss`` window), ``POST tasks/{id}/cancel`` and
  ``GET uploads?action=getPolicy&model=``; every call needs ``Authorization: Bearer <key>``;
* ``FakeStorage`` (``fake.storage``) — the object store: the multipart upload target (field
  names and order as the SDK sends them, ``key`` under the issued ``upload_dir``, and any
  ``Authorization`` header refused: the API key must never reach it) and the signed result URLs.

An ``oss://`` URL resolves only when the create carries ``X-DashScope-OssResourceResolve:
enable`` and the object was uploaded under a policy issued to the same key *and* model.
Tasks go ``PENDING -> RUNNING -> SUCCEEDED|FAILED`` as they are polled; unknown ids answer
``UNKNOWN``. Faults: queue ``Fault``s in ``fake.faults`` (routes ``create``, ``get``, ``list``,
``policy``, ``upload``, ``download``) or switch on ``chaos(seed, rate)``: besides statuses, resets and
lost answers, a ``redirect`` (302 for a GET, 307 for a POST, to ``Fault.location`` + the path: e.g.
an ``OtherOrigin``) and the hostile bodies of ``server.hostile_body``; per-prompt outcomes
in ``blocked_terms`` (``sync``: 400 DataInspectionFailed, ``job``: a FAILED task),
``stall_terms`` and ``expire_terms``; ``gone_models`` answer 404 ``Model.NotExist``.
"""

from __future__ import annotations

import base64
import datetime
import json
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .openai_server import MultipartError, fake_mp4, parse_multipart
from .server import HOSTILE, FakeServer, Request, Response, hostile_body

DEFAULT_KEY = "sk-fake-dashscope-0123456789abcdef"
PREFIX = "/api/v1"
CREATE = f"{PREFIX}/services/aigc/video-generation/video-synthesis"
#: media[].type accepted per model (SDK v2 videos.py for i2v; Model Studio docs for r2v / 3.0).
MEDIA_TYPES: dict[str, frozenset[str]] = {
    "wan2.7-t2v": frozenset(),
    "wan2.7-i2v": frozenset({"first_frame", "last_frame", "driving_audio", "first_clip"}),
    "wan2.7-r2v": frozenset({"reference_image", "reference_video"}),
    "wan3.0-video": frozenset({"first_frame", "last_frame", "reference_image", "reference_video",
                               "reference_audio", "file", "link"}),
}
MAX_DURATION = {"wan3.0-video": 30}
RESOLUTIONS = ("720P", "1080P")
RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4")
#: The upload form as the SDK sends it (oss_utils.py), in order; ``file`` last.
UPLOAD_FIELDS = ("OSSAccessKeyId", "Signature", "policy", "key", "x-oss-object-acl", "x-oss-forbid-overwrite",
                 "success_action_status", "x-oss-content-type", "file")
INSPECTION_MESSAGE = "Input data may contain inappropriate content."


@dataclass
class Fault:
    """One misbehaviour for the next request on ``route``.

    ``kind``: ``status`` (answer ``status`` with ``code``/``message``), ``reset`` (cut a body
    after ``after`` bytes), ``truncate`` (declare ``missing`` bytes more than sent),
    ``lose_response`` (do the work, then drop the connection), ``delay`` (sleep ``seconds``, then
    answer normally: a client that timed out never sees the answer), ``redirect`` (send the
    client to ``location`` + the request's path), or one of ``server.HOSTILE`` (serve the answer
    that way: ``endless``, ``gzip_bomb``, ``drip``, ``gzip``).
    """

    route: str
    kind: str = "status"
    status: int = 500
    code: str = "InternalError"
    message: str = "An internal error has occured, please try again later or contact service support."
    headers: dict[str, str] = field(default_factory=dict)
    after: int = 512
    missing: int = 2048
    seconds: float = 0.0
    location: str = ""

    def answer(self, request: Request, real: bytes = b"", content_type: str = "application/json") -> Response | None:
        """The response a ``redirect`` or hostile fault gives instead of ``real``, or None for other kinds."""
        if self.kind == "redirect":
            query = "&".join(f"{k}={v}" for k, vs in request.query.items() for v in vs)
            return Response(status=307 if request.method == "POST" else 302,
                            headers={"location": self.location + request.path + (f"?{query}" if query else "")})
        if self.kind in HOSTILE:
            return hostile_body(self.kind, real, {"content-type": content_type})
        return None


def throttled(route: str = "create", retry_after: str | None = "0") -> Fault:
    """429 ``Throttling.RateQuota`` (with Retry-After, which the docs do not promise)."""
    return Fault(route, status=429, code="Throttling.RateQuota", message="Requests rate limit exceeded, please "
                 "try again later.", headers={"retry-after": retry_after} if retry_after else {})


def server_error(route: str = "create", status: int = 500) -> Fault:
    if status == 503:
        return Fault(route, status=503, code="ServiceUnavailable", message="Service temporarily unavailable.")
    return Fault(route, status=status)


CHAOS_KINDS = ("429", "500", "503", "reset", "truncate", "lose_response")


@dataclass
class Task:
    """A video-synthesis task as the fake keeps it."""

    task_id: str
    model: str
    prompt: str
    duration: int
    account: str
    created: float
    polls: int = 0
    status: str = "PENDING"
    fail: tuple[str, str] | None = None
    stall: bool = False
    expired: bool = False
    body: dict[str, Any] = field(default_factory=dict)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response.json({"request_id": str(uuid.uuid4()), "code": code, "message": message}, status, headers)


class FakeStorage(FakeServer):
    """The object store behind ``upload_host`` and the signed ``video_url``s (another origin)."""

    def __init__(self, api: FakeDashScope) -> None:
        super().__init__()
        self.api = api
        #: key -> (bytes, content type, signature of the policy it was uploaded under)
        self.objects: dict[str, tuple[bytes, str, str]] = {}

    def handle(self, request: Request) -> Response:
        if "authorization" in request.headers:  # the API key must never reach the storage host
            return Response(status=400, body=b"<Error><Code>InvalidArgument</Code><Message>Authorization header "
                            b"is not allowed with a POST policy</Message></Error>")
        if request.method == "POST" and request.path == "/":
            return self.api._upload(request)
        match = re.fullmatch(r"/results/([^/]+)\.mp4", request.path)
        if request.method == "GET" and match:
            return self.api._video(request, match.group(1))
        return Response(status=404, body=b"<Error><Code>NoSuchKey</Code></Error>")


class FakeDashScope(FakeServer):
    """The DashScope API on 127.0.0.1 (``fake.base_url`` is what ``DASHSCOPE_BASE_URL`` takes)."""

    def __init__(self, *, api_key: str = DEFAULT_KEY, polls_to_finish: int = 2,
                 clock: Any = time.time) -> None:
        super().__init__()
        self.api_key = api_key
        self.polls_to_finish = polls_to_finish
        self.clock = clock
        self.storage = FakeStorage(self)
        self.tasks: dict[str, Task] = {}
        #: signature -> (model, upload_dir, account) of every policy handed out.
        self.policies: dict[str, tuple[str, str, str]] = {}
        self.blocked_terms: dict[str, str] = {}
        self.stall_terms: set[str] = set()
        self.expire_terms: set[str] = set()
        self.gone_models: set[str] = set()
        self.chaos_rng: random.Random | None = None
        self.chaos_rate = 0.0
        self._ids = 0

    # -- lifecycle: two servers -----------------------------------------------------------------
    def start(self) -> FakeDashScope:
        super().start()
        if self.storage._server is None:  # a harness may start it on its own, as one of its servers
            self.storage.start()
        return self

    def stop(self) -> None:
        self.storage.stop()
        super().stop()

    @property
    def base_url(self) -> str:
        return self.url + PREFIX

    # -- test helpers ---------------------------------------------------------------------------
    def chaos(self, seed: int, rate: float) -> None:
        """A transient fault on a ``rate`` fraction of requests, drawn from ``random.Random(seed)``."""
        self.chaos_rng, self.chaos_rate = random.Random(seed), rate

    def creates(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST" and r.path == CREATE]

    def uploads(self) -> list[Request]:
        with self.storage.lock:
            return [r for r in self.storage.requests if r.method == "POST"]

    def jobs_by_prompt(self) -> dict[str, int]:
        """Tasks that exist (accepted creates, which bill), per prompt."""
        counts: dict[str, int] = {}
        with self.lock:
            for task in self.tasks.values():
                counts[task.prompt] = counts.get(task.prompt, 0) + 1
        return counts

    def release_stalls(self) -> None:
        with self.lock:
            for task in self.tasks.values():
                task.stall = False

    # -- dispatch -------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        path = request.path
        routes = [("POST", CREATE, "create"), ("GET", f"{PREFIX}/tasks", "list"),
                  ("GET", f"{PREFIX}/uploads", "policy")]
        route, arg = next(((name, "") for verb, p, name in routes if verb == request.method and p == path),
                          (None, ""))
        if route is None and (m := re.fullmatch(rf"{PREFIX}/tasks/([^/]+)", path)) and request.method == "GET":
            route, arg = "get", m.group(1)
        if route is None and (m := re.fullmatch(rf"{PREFIX}/tasks/([^/]+)/cancel", path)) \
                and request.method == "POST":
            route, arg = "cancel", m.group(1)
        if route is None:
            return _error(404, "InvalidURL", f"Invalid URL: {request.method} {path}")
        header = request.headers.get("authorization", "")
        if header != f"Bearer {self.api_key}":
            return _error(401, "InvalidApiKey", "Invalid API-key provided.")
        fault = self._fault(route)
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "status":
            return _error(fault.status, fault.code, fault.message, fault.headers)
        if fault is not None and fault.kind == "redirect":  # moved elsewhere: nothing done here
            return fault.answer(request) or Response(status=500)
        response: Response = getattr(self, f"_{route}")(request, *([arg] if arg else []))
        if fault is not None and fault.kind in HOSTILE:  # the work is done, the answer comes back hostile
            return fault.answer(request, response.body if isinstance(response.body, bytes) else b"") \
                or Response(status=500)
        if fault is not None and fault.kind == "lose_response" and response.status < 400:
            response.abort_after = 0
        return response

    def _fault(self, route: str) -> Fault | None:
        fault = self.take_fault(lambda f: isinstance(f, Fault) and f.route == route)
        if fault is None and self.chaos_rng is not None:
            with self.lock:
                if self.chaos_rng.random() < self.chaos_rate:
                    kinds = [k for k in CHAOS_KINDS if (k in ("reset", "truncate")) == (route == "download")
                             and (k != "lose_response" or route in ("create", "get", "list"))]
                    kind = self.chaos_rng.choice(kinds) if kinds else None
                    if kind in ("429", "500", "503"):
                        fault = throttled(route) if kind == "429" else server_error(route, int(kind))
                    elif kind is not None:
                        fault = Fault(route, kind=kind)
        return fault

    # -- uploads --------------------------------------------------------------------------------
    def _policy(self, request: Request) -> Response:
        query = {k: v[0] for k, v in request.query.items()}
        model = query.get("model", "")
        if query.get("action") != "getPolicy" or not model:
            return _error(400, "InvalidParameter", "action=getPolicy and model are required")
        signature = base64.b64encode(uuid.uuid4().bytes).decode()
        day = datetime.datetime.fromtimestamp(self.clock(), datetime.UTC).strftime("%Y-%m-%d")
        upload_dir = f"dashscope-instant/acct{abs(hash(self.api_key)) % 10**6}/{day}/{uuid.uuid4()}"
        with self.lock:
            self.policies[signature] = (model, upload_dir, self.api_key)
        policy = base64.b64encode(json.dumps({"expiration": "2099-01-01T00:00:00Z"}).encode()).decode()
        return Response.json({"request_id": str(uuid.uuid4()), "data": {
            "policy": policy, "signature": signature, "upload_dir": upload_dir,
            "upload_host": self.storage.url + "/", "expire_in_seconds": 300, "max_file_size_mb": 1024,
            "capacity_limit_mb": 999999999, "oss_access_key_id": "LTAI-fake-oss-id",
            "x_oss_object_acl": "private", "x_oss_forbid_overwrite": "true"}})

    def _upload(self, request: Request) -> Response:
        fault = self._fault("upload")
        if fault is not None and fault.kind == "status":
            return Response(status=fault.status, body=b"<Error><Code>InternalError</Code></Error>")
        if fault is not None and (other := fault.answer(request, content_type="application/xml")) is not None:
            return other
        try:
            parts = parse_multipart(request.body, request.headers.get("content-type", ""))
        except MultipartError as exc:
            return Response(status=400, body=f"<Error><Message>{exc}</Message></Error>".encode())
        names = tuple(p.name for p in parts)
        if names != UPLOAD_FIELDS:
            return Response(status=400, body=f"<Error><Message>fields {names}</Message></Error>".encode())
        form = {p.name: p for p in parts}
        issued = self.policies.get(form["Signature"].text)
        key = form["key"].text
        if issued is None or form["OSSAccessKeyId"].text != "LTAI-fake-oss-id":
            return Response(status=403, body=b"<Error><Code>SignatureDoesNotMatch</Code></Error>")
        if not key.startswith(issued[1] + "/") or "/" in key[len(issued[1]) + 1:]:
            return Response(status=403, body=b"<Error><Code>AccessDenied</Code><Message>key outside the policy's "
                            b"upload_dir</Message></Error>")
        if form["success_action_status"].text != "200" or form["file"].filename is None:
            return Response(status=400, body=b"<Error><Code>InvalidArgument</Code></Error>")
        with self.lock:
            if key in self.storage.objects and form["x-oss-forbid-overwrite"].text == "true":
                return Response(status=409, body=b"<Error><Code>FileAlreadyExists</Code></Error>")
            self.storage.objects[key] = (form["file"].data, form["x-oss-content-type"].text, form["Signature"].text)
        return Response(status=200, body=b"")

    def _resolve(self, url: str, model: str, resolve: bool) -> str | None:
        """Why an input URL cannot be read by this model and key, or None."""
        if not url.startswith("oss://"):
            return None if url.startswith(("https://", "http://")) else f"unsupported url {url[:40]!r}"
        if not resolve:
            return "oss:// urls need the X-DashScope-OssResourceResolve: enable header"
        key = url[len("oss://"):]
        stored = self.storage.objects.get(key)
        issued = self.policies.get(stored[2]) if stored else None
        if issued is None or issued[0] != model or issued[2] != self.api_key:
            return f"Download the media resource failed: {url} (not uploaded for model {model})"
        return None

    # -- tasks ----------------------------------------------------------------------------------
    def _create(self, request: Request) -> Response:
        if request.headers.get("x-dashscope-async") != "enable":
            return _error(403, "AccessDenied", "current user api does not support synchronous calls")
        try:
            body = request.json()
        except ValueError:
            return _error(400, "InvalidParameter", "the body is not JSON")
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or model in self.gone_models or model not in MEDIA_TYPES:
            return _error(404, "Model.NotExist", "Model not exist.")
        input_, params = body.get("input") or {}, body.get("parameters") or {}
        prompt = input_.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return _error(400, "InvalidParameter", "input.prompt is required")
        unknown = set(input_) - {"prompt", "negative_prompt", "media", "extend_prompt", "function"}
        if unknown:
            return _error(400, "InvalidParameter", f"unknown input fields {sorted(unknown)}")
        media = input_.get("media") or []
        allowed = MEDIA_TYPES[model]
        resolve = request.headers.get("x-dashscope-ossresourceresolve") == "enable"
        for item in media:
            if not isinstance(item, dict) or item.get("type") not in allowed:
                return _error(400, "InvalidParameter", f"media type {item!r} is not supported by {model}")
            problem = self._resolve(str(item.get("url", "")), model, resolve)
            if problem:
                return _error(400, "InvalidParameter", problem)
        types = [item["type"] for item in media]
        if model.endswith("-r2v") and not 1 <= len(types) <= 5:
            return _error(400, "InvalidParameter", "wan2.7-r2v takes 1 to 5 references")
        if model.endswith("-i2v") and "first_frame" not in types and "last_frame" not in types:
            return _error(400, "InvalidParameter", "wan2.7-i2v needs a first_frame or last_frame")
        if types.count("reference_image") > 10 or types.count("reference_video") > 5 \
                or types.count("reference_audio") > 5:
            return _error(400, "InvalidParameter", "too many references")
        duration = params.get("duration", 5)
        if not isinstance(duration, int) or not 2 <= duration <= MAX_DURATION.get(model, 15):
            return _error(400, "InvalidParameter", f"duration {duration!r} out of range")
        if params.get("resolution", "720P") not in RESOLUTIONS or params.get("ratio", "16:9") not in RATIOS:
            return _error(400, "InvalidParameter", "resolution or ratio not supported")
        for flag in ("prompt_extend", "watermark", "audio"):
            if flag in params and not isinstance(params[flag], bool):
                return _error(400, "InvalidParameter", f"parameters.{flag} must be a boolean")
        seed = params.get("seed", 0)
        if not isinstance(seed, int) or not 0 <= seed <= 2147483647:
            return _error(400, "InvalidParameter", "seed out of range")
        blocked = next((mode for term, mode in self.blocked_terms.items() if term in prompt), None)
        if blocked == "sync":
            return _error(400, "DataInspectionFailed", INSPECTION_MESSAGE)
        with self.lock:
            self._ids += 1
            task = Task(task_id=f"{uuid.uuid4()}", model=model, prompt=prompt, duration=duration,
                        account=self.api_key, created=self.clock(), body=body)
            if blocked == "job":
                task.fail = ("DataInspectionFailed", INSPECTION_MESSAGE)
            task.stall = any(term in prompt for term in self.stall_terms)
            task.expired = any(term in prompt for term in self.expire_terms)
            self.tasks[task.task_id] = task
        return Response.json({"request_id": str(uuid.uuid4()),
                              "output": {"task_id": task.task_id, "task_status": "PENDING"}})

    def _advance(self, task: Task) -> None:
        task.polls += 1
        if task.status in ("SUCCEEDED", "FAILED", "CANCELED"):
            return
        if task.stall:
            task.status = "RUNNING"
        elif task.polls >= self.polls_to_finish:
            task.status = "FAILED" if task.fail else "SUCCEEDED"
        else:
            task.status = "RUNNING"

    def _task_json(self, task: Task) -> dict[str, Any]:
        output: dict[str, Any] = {"task_id": task.task_id, "task_status": task.status,
                                  "submit_time": _when(task.created), "orig_prompt": task.prompt}
        body: dict[str, Any] = {"request_id": str(uuid.uuid4()), "output": output}
        if task.status == "SUCCEEDED":
            output["end_time"] = _when(self.clock())
            output["video_url"] = f"{self.storage.url}/results/{task.task_id}.mp4?Expires=9999999999&Signature=x"
            body["usage"] = {"duration": task.duration, "output_video_duration": task.duration, "video_count": 1,
                             "SR": 720}
        elif task.status == "FAILED" and task.fail:
            output["code"], output["message"] = task.fail
        return body

    def _get(self, request: Request, task_id: str) -> Response:
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None or task.account != self.api_key:
                return Response.json({"request_id": str(uuid.uuid4()),
                                      "output": {"task_id": task_id, "task_status": "UNKNOWN"}})
            self._advance(task)
            return Response.json(self._task_json(task))

    def _list(self, request: Request) -> Response:
        query = {k: v[0] for k, v in request.query.items()}
        for name in ("start_time", "end_time"):
            if name in query and not re.fullmatch(r"\d{14}", query[name]):
                return _error(400, "InvalidParameter", f"{name} must be YYYYMMDDhhmmss")
        lo = _parse(query.get("start_time", "19700101000000"))
        hi = _parse(query.get("end_time", "29991231235959"))
        page, size = int(query.get("page_no", "1")), min(100, int(query.get("page_size", "10")))
        with self.lock:
            found = [t for t in self.tasks.values() if lo <= t.created <= hi
                     and query.get("model_name") in (None, t.model) and query.get("status") in (None, t.status)]
        found.sort(key=lambda t: t.created, reverse=True)
        items = [{"task_id": t.task_id, "model_name": t.model, "status": t.status, "region": "ap-southeast-1",
                  "gmt_create": int(t.created * 1000), "gmt_modified": int(t.created * 1000)}
                 for t in found[(page - 1) * size: page * size]]
        return Response.json({"request_id": str(uuid.uuid4()), "data": items, "total": len(found),
                              "page_no": page, "page_size": size})

    def _cancel(self, request: Request, task_id: str) -> Response:
        with self.lock:
            task = self.tasks.get(task_id)
            if task is None or task.status != "PENDING":
                return _error(400, "UnsupportedOperation", "Only PENDING tasks can be canceled.")
            task.status = "CANCELED"
        return Response.json({"request_id": str(uuid.uuid4())})

    def _video(self, request: Request, task_id: str) -> Response:
        with self.lock:
            task = self.tasks.get(task_id)
        if task is None or task.status != "SUCCEEDED" or task.expired:
            return Response(status=403, body=b"<Error><Code>AccessDenied</Code><Message>Request has expired."
                            b"</Message></Error>")
        data = fake_mp4(task.duration, "640x360")
        response = Response(status=200, body=data, headers={"content-type": "video/mp4"})
        fault = self._fault("download")
        if fault is not None and fault.kind == "status":
            return Response(status=fault.status, body=b"<Error><Code>InternalError</Code></Error>")
        if fault is not None and (other := fault.answer(request, data, "video/mp4")) is not None:
            return other
        if fault is not None and fault.kind == "reset":
            response.abort_after = fault.after
        elif fault is not None and fault.kind == "truncate":
            response.declared_length = len(data) + fault.missing
        return response


def _when(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _parse(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=datetime.UTC).timestamp()

