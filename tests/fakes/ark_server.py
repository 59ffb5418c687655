"""A loopback fake of Ark content-generation tasks (BytePlus ModelArk / Volcano Engine Ark: Seedance).

Written from the official SDKs (byteplus-python-sdk-v2 3.0.63 ``byteplussdkarkruntime`` and
volcengine's ``volcenginesdkarkruntime``: ``resources/content_generation/tasks.py`` and
``types/content_generation/*``) and the ModelArk docs (error codes, video generation):

* ``POST {prefix}/contents/generations/tasks`` -> ``{"id": "cgt-YYYYMMDDhhmmss-xxxxx"}``; explicit
  ``null``s are accepted (the SDK sends every field); ``content[]`` items are checked against the
  SDK's TypedDicts; frame roles and reference roles do not mix;
* ``GET .../tasks/{id}`` walks ``queued -> running -> succeeded`` (or ``failed`` with
  ``error{code,message}``); a succeeded task has ``content.video_url`` on another host (the
  storage fake, a different origin, where a signed URL needs no credentials) and
  ``usage.completion_tokens`` = frames x width x height / 1024 with frames = 24 x duration + 1;
* ``GET .../tasks?page_num&page_size&filter.model&filter.status&filter.task_ids`` ->
  ``{"total", "items"}``, newest first, the last 7 days;
* ``DELETE .../tasks/{id}``: queued -> cancelled, running -> refused, finished -> deleted (then 404).

Errors are ``{"error": {"code", "message", "param", "type"}}``. Faults: queued ``Fault``s per
route (``create``, ``get``, ``list``, ``delete``, ``video``), seeded ``chaos``, and per-shot
outcomes by prompt marker (``blocked_terms``, ``stall_terms``, ``expire_terms``). A ``Fault`` whose
kind is one of ``server.HOSTILE`` serves the route's honest answer in that hostile way (endless,
a gzip bomb, dripping, gzip-encoded): the size cap and deadline tests.
"""

from __future__ import annotations

import base64
import binascii
import random
import re
import string
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from .openai_server import fake_mp4
from .server import HOSTILE, FakeServer, Request, Response, hostile_body

DEFAULT_KEY = "ark-test-key-5b0c7a11"
#: model id -> (max reference images, max duration, resolutions): BytePlus and Volcano ids.
MODELS: dict[str, tuple[int, int, tuple[str, ...]]] = {
    "dreamina-seedance-2-0-260128": (9, 15, ("480p", "720p", "1080p")),
    "dreamina-seedance-2-0-fast-260128": (9, 15, ("480p", "720p")),
    "dreamina-seedance-2-5-260628": (30, 30, ("480p", "720p", "1080p")),
    "doubao-seedance-2-0-260128": (9, 15, ("480p", "720p", "1080p")),
}
RATIOS = ("16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "adaptive")
ROLES = {"image_url": ("first_frame", "last_frame", "reference_image"),
         "video_url": ("reference_video",), "audio_url": ("reference_audio",)}
#: Pixel sizes of the output at 16:9 (other ratios: about the same pixel count).
SIZES = {"480p": (864, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
ROUTES = ("create", "get", "list", "delete", "video")
PRIVACY_MESSAGE = ("The request failed because the input image may contain real person. Request id: "
                   "02175000000000000000000000000000000000000000000")
TEXT_MESSAGE = "The request failed because the input text may contain sensitive information."
OUTPUT_MESSAGE = "The request failed because the output video may contain sensitive information."


def error_body(code: str, message: str, type_: str = "BadRequest", param: str = "") -> dict[str, Any]:
    """The Ark error shape (the OpenAI-style body the SDK parses)."""
    return {"error": {"code": code, "message": message, "param": param, "type": type_}}


@dataclass
class Fault:
    """A misbehaviour for the next request on ``route``.

    ``kind``: ``status`` (answer ``status``/``code``), ``reset`` (cut the body after
    ``after_bytes``), ``truncate`` (declare ``missing`` more bytes than sent), ``lose_response``
    (do the work, then drop the connection: a create that started a task the client never hears of),
    ``drop`` (drop the connection without doing anything), ``delay`` (wait ``seconds`` first), or a
    hostile body (``endless``, ``gzip_bomb``, ``drip``, ``gzip``: see ``server.hostile_body``).
    """

    route: str
    kind: str
    status: int = 500
    code: str = "InternalServiceError"
    message: str = "The service encountered an unexpected internal error."
    type: str = "InternalServerError"
    headers: dict[str, str] = field(default_factory=dict)
    after_bytes: int = 512
    missing: int = 2048
    seconds: float = 0.0


def rate_limited(route: str = "create", retry_after: str | None = "1") -> Fault:
    """429 TooManyRequests (the SDK's retry ignores Retry-After; shotmake honours it)."""
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Fault(route, "status", status=429, code="RateLimitExceeded.EndpointRPMExceeded", type="TooManyRequests",
                 message="Your account has exceeded the RPM rate limit for the endpoint.", headers=headers)


def server_error(route: str = "create", status: int = 500) -> Fault:
    return Fault(route, "status", status=status,
                 code="ServiceUnavailable" if status == 503 else "InternalServiceError")


@dataclass
class Task:
    """A task as the fake keeps it: ``obj`` is what GET answers."""

    obj: dict[str, Any]
    prompt: str
    body: dict[str, Any]
    polls: int = 0
    stall: bool = False
    fail: tuple[str, str] | None = None
    expired_video: bool = False
    deleted: bool = False


class FakeArkStorage(FakeServer):
    """The storage host behind ``content.video_url``: signed URLs, no credentials wanted."""

    def __init__(self, ark: FakeArk) -> None:
        super().__init__()
        self.ark = ark
        #: Requests that arrived with an Authorization header (the API key leaking to storage).
        self.credentialed: list[Request] = []

    def handle(self, request: Request) -> Response:
        if request.headers.get("authorization"):
            self.credentialed.append(request)
            return Response(status=400, body=b"<Error><Code>InvalidArgument</Code><Message>Only one auth "
                            b"mechanism allowed</Message></Error>", headers={"content-type": "application/xml"})
        return self.ark.serve_video(request)


class FakeArk(FakeServer):
    """Ark content-generation tasks on 127.0.0.1 under ``prefix`` (``/api/v3``), with a storage host."""

    def __init__(self, *, api_key: str = DEFAULT_KEY, prefix: str = "/api/v3", queued_polls: int = 1,
                 polls_to_complete: int = 2, clock: Callable[[], float] = time.time,
                 video_data_urls: bool = False) -> None:
        super().__init__()
        self.api_key = api_key
        self.prefix = prefix.rstrip("/")
        self.queued_polls = queued_polls
        self.polls_to_complete = polls_to_complete
        self.clock = clock
        #: Whether video/audio items may be base64 data URLs (unconfirmed for Seedance 2.0: off).
        self.video_data_urls = video_data_urls
        self.storage = FakeArkStorage(self)
        self.tasks: dict[str, Task] = {}
        self.models = dict(MODELS)
        #: Models whose creates answer 404 InvalidEndpoint.NotFound (retired or not activated).
        self.gone_models: set[str] = set()
        #: Prompt marker -> "sync" (400 text moderation), "privacy" (400 real person in an image)
        #: or "job" (the task fails in output moderation): per-shot, on every run.
        self.blocked_terms: dict[str, str] = {}
        #: Prompt markers whose tasks stay running (until ``release_stalls``) / whose video URL expired.
        self.stall_terms: set[str] = set()
        self.expire_terms: set[str] = set()
        self._order: list[str] = []
        self._chaos: tuple[random.Random, float] | None = None
        self._ids = random.Random(1)

    # -- lifecycle: the storage host starts and stops with the API -------------------------------------
    def start(self) -> FakeArk:
        self.storage.start()
        return super().start()

    def stop(self) -> None:
        super().stop()
        self.storage.stop()

    @property
    def base_url(self) -> str:
        """What to put in ``ARK_BASE_URL``."""
        return self.url + self.prefix

    # -- faults ------------------------------------------------------------------------------------------
    def inject(self, fault: Fault, times: int = 1) -> None:
        if fault.route not in ROUTES:
            raise ValueError(f"unknown route {fault.route!r}; use one of {ROUTES}")
        with self.lock:
            self.faults.extend([fault] * times)

    def lose_next_response(self, route: str = "create") -> None:
        """Do the work (create the task), then drop the connection before the answer."""
        self.inject(Fault(route, "lose_response"))

    def reset_next_download(self, after_bytes: int = 700) -> None:
        self.inject(Fault("video", "reset", after_bytes=after_bytes))

    def truncate_next_download(self, missing: int = 3000) -> None:
        self.inject(Fault("video", "truncate", missing=missing))

    def chaos(self, seed: int, rate: float) -> None:
        """Inject a transient fault (429, 500, 503, reset, truncate, lost answer) into a ``rate`` of requests."""
        self._chaos = (random.Random(seed), rate)

    def release_stalls(self) -> None:
        with self.lock:
            for task in self.tasks.values():
                task.stall = False

    # -- what tests read ---------------------------------------------------------------------------------
    def creates(self) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.method == "POST" and r.path == f"{self.prefix}/contents/generations/tasks"]

    def jobs_by_prompt(self) -> dict[str, int]:
        """Accepted creates (tasks that exist and bill) per prompt."""
        with self.lock:
            return dict(Counter(task.prompt for task in self.tasks.values()))

    # -- dispatch ----------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Response:
        base = f"{self.prefix}/contents/generations/tasks"
        if request.path == base:
            route = {"POST": "create", "GET": "list"}.get(request.method)
            args: tuple[str, ...] = ()
        elif request.path.startswith(base + "/") and "/" not in request.path[len(base) + 1:]:
            route = {"GET": "get", "DELETE": "delete"}.get(request.method)
            args = (request.path[len(base) + 1:],)
        else:
            route = None
        if route is None:
            return Response.json(error_body("InvalidEndpoint.NotFound", f"unknown path {request.path}", "NotFound"), 404)
        header = request.headers.get("authorization", "")
        if header != f"Bearer {self.api_key}":
            return Response.json(error_body("AuthenticationError", "The API key in the request is missing or invalid.",
                                            "Unauthorized"), 401)
        fault = self._fault(route)
        if fault is not None and fault.kind == "status":
            return Response.json(error_body(fault.code, fault.message, fault.type), fault.status, fault.headers)
        if fault is not None and fault.kind == "drop":
            return Response(status=200, body=b"{}", abort_after=0)  # nothing done, the answer cut off
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
        response: Response = getattr(self, f"_{route}")(request, *args)
        if fault is not None and response.status < 400:
            if fault.kind == "lose_response":
                response.abort_after = 0
            elif fault.kind == "reset":
                response.abort_after = fault.after_bytes
            elif fault.kind == "truncate":
                response.declared_length = len(response.body or b"") + fault.missing  # type: ignore[arg-type]
            elif fault.kind in HOSTILE:
                return hostile_body(fault.kind, response.body, response.headers)  # type: ignore[arg-type]
        return response

    def _fault(self, route: str) -> Fault | None:
        fault = self.take_fault(lambda f: isinstance(f, Fault) and f.route == route)
        if fault is not None or self._chaos is None:
            return fault
        rng, rate = self._chaos
        with self.lock:
            if rng.random() >= rate:
                return None
            kinds = ["429", "500", "503"]
            if route == "video":
                kinds += ["reset", "truncate"]
            if route in ("create", "get", "list"):
                kinds.append("lose_response")
            kind = rng.choice(kinds)
        if kind == "429":
            return rate_limited(route, retry_after="0")
        if kind in ("500", "503"):
            return server_error(route, int(kind))
        if kind == "reset":
            return Fault(route, "reset", after_bytes=512)
        if kind == "truncate":
            return Fault(route, "truncate")
        return Fault(route, "lose_response")

    # -- create ------------------------------------------------------------------------------------------
    def _create(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return self._invalid("body", "the request body is not JSON")
        if not isinstance(body, dict):
            return self._invalid("body", "the request body must be an object")
        model = body.get("model")
        if not isinstance(model, str) or model in self.gone_models or model not in self.models:
            return Response.json(error_body(
                "InvalidEndpoint.NotFound", f"The model or endpoint {model} does not exist or you do not have "
                "access to it.", "NotFound"), 404)
        problem = self._validate(body, self.models[model])
        if problem is not None:
            return problem
        content = body["content"]
        prompt = next((c["text"] for c in content if c.get("type") == "text"), "")
        blocked = next((mode for term, mode in self.blocked_terms.items() if term in prompt), None)
        if blocked == "sync":
            return Response.json(error_body("InputTextSensitiveContentDetected", TEXT_MESSAGE), 400)
        if blocked == "privacy":
            return Response.json(error_body("InputImageSensitiveContentDetected.PrivacyInformation",
                                            PRIVACY_MESSAGE), 400)
        now = int(self.clock())
        task_id = "cgt-" + time.strftime("%Y%m%d%H%M%S", time.gmtime(now)) + "-" + "".join(
            self._ids.choice(string.ascii_lowercase + string.digits) for _ in range(5))
        seed = body.get("seed")
        obj = {"id": task_id, "model": model, "status": "queued", "created_at": now, "updated_at": now,
               "seed": seed if isinstance(seed, int) and seed >= 0 else self._ids.randrange(2**31),
               "resolution": body.get("resolution") or "720p", "ratio": body.get("ratio") or "16:9",
               "duration": body.get("duration") or 5, "framespersecond": 24,
               "generate_audio": True if body.get("generate_audio") is None else body["generate_audio"],
               "draft": False, "service_tier": body.get("service_tier") or "default",
               "execution_expires_after": body.get("execution_expires_after") or 172800}
        if obj["ratio"] == "adaptive":
            obj["ratio"] = "16:9"  # what the frame's shape picked
        task = Task(obj=obj, prompt=prompt, body=body,
                    stall=any(t in prompt for t in self.stall_terms),
                    expired_video=any(t in prompt for t in self.expire_terms),
                    fail=("OutputVideoSensitiveContentDetected", OUTPUT_MESSAGE) if blocked == "job" else None)
        with self.lock:
            self.tasks[task_id] = task
            self._order.append(task_id)
        return Response.json({"id": task_id})

    def _validate(self, body: dict[str, Any], limits: tuple[int, int, tuple[str, ...]]) -> Response | None:
        max_refs, max_duration, resolutions = limits
        content = body.get("content")
        if not isinstance(content, list) or not content:
            return self._invalid("content", "content must be a non-empty list")
        roles: list[str] = []
        for i, item in enumerate(content):
            kind = item.get("type") if isinstance(item, dict) else None
            if kind == "text":
                if not isinstance(item.get("text"), str):
                    return self._invalid(f"content[{i}].text", "text must be a string")
                continue
            if kind not in ROLES:
                return self._invalid(f"content[{i}].type", f"unknown content type {kind!r}")
            inner = item.get(kind)
            url = inner.get("url") if isinstance(inner, dict) else None
            if not isinstance(url, str) or not url:
                return self._invalid(f"content[{i}].{kind}.url", "url is required")
            role = item.get("role") or ("first_frame" if kind == "image_url" else "")
            if role not in ROLES[kind]:
                return self._invalid(f"content[{i}].role", f"role {role!r} is not valid for {kind}")
            problem = self._check_url(i, kind, url)
            if problem is not None:
                return problem
            roles.append(role)
        frames = [r for r in roles if r in ("first_frame", "last_frame")]
        references = [r for r in roles if r.startswith("reference_")]
        if frames and references:
            return self._invalid("content", "first/last frame images cannot be combined with reference "
                                 "images, videos or audio in one request")
        if frames.count("first_frame") > 1 or frames.count("last_frame") > 1 or frames == ["last_frame"]:
            return self._invalid("content", "one first_frame, optionally one last_frame")
        if roles.count("reference_image") > max_refs:
            return self._invalid("content", f"at most {max_refs} reference images")
        if references and set(references) == {"reference_audio"}:
            return self._invalid("content", "reference audio needs a reference image or video")
        duration = body.get("duration")
        if duration is not None and (not isinstance(duration, int) or isinstance(duration, bool)
                                     or not (4 <= duration <= max_duration or duration == -1)):
            return self._invalid("duration", f"duration must be an integer in [4, {max_duration}] or -1")
        if body.get("resolution") is not None and body["resolution"] not in resolutions:
            return self._invalid("resolution", f"resolution must be one of {', '.join(resolutions)}")
        if body.get("ratio") is not None and body["ratio"] not in RATIOS:
            return self._invalid("ratio", f"ratio must be one of {', '.join(RATIOS)}")
        seed = body.get("seed")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool) or not -1 <= seed < 2**32):
            return self._invalid("seed", "seed must be an integer in [-1, 2^32-1]")
        for flag in ("generate_audio", "watermark", "return_last_frame", "camera_fixed", "draft"):
            if body.get(flag) is not None and not isinstance(body[flag], bool):
                return self._invalid(flag, f"{flag} must be a boolean")
        return None

    def _check_url(self, i: int, kind: str, url: str) -> Response | None:
        if not url.startswith("data:"):
            return None if re.match(r"https?://|asset://", url) else self._invalid(
                f"content[{i}].{kind}.url", "url must be http(s), asset:// or a base64 data URL")
        match = re.fullmatch(r"data:([\w.+-]+/[\w.+-]+);base64,([A-Za-z0-9+/=]+)", url)
        if match is None:
            return self._invalid(f"content[{i}].{kind}.url", "a data URL must be data:<mime>;base64,<data>")
        if kind != "image_url" and not self.video_data_urls:
            return self._invalid(f"content[{i}].{kind}.url", f"{kind} does not accept base64 data; use a URL")
        if not match.group(1).startswith(kind.split("_")[0] + "/"):
            return self._invalid(f"content[{i}].{kind}.url", f"{match.group(1)} is not an {kind.split('_')[0]}")
        try:
            base64.b64decode(match.group(2), validate=True)
        except binascii.Error:
            return self._invalid(f"content[{i}].{kind}.url", "invalid base64")
        return None

    def _invalid(self, param: str, message: str) -> Response:
        return Response.json(error_body("InvalidParameter", f"The parameter `{param}` specified in the request "
                                        f"is not valid: {message}.", param=param), 400)

    # -- get / list / delete -----------------------------------------------------------------------------
    def _find(self, task_id: str) -> Task | None:
        task = self.tasks.get(task_id)
        return None if task is None or task.deleted else task

    def _not_found(self, task_id: str) -> Response:
        return Response.json(error_body("ResourceNotFound", f"The specified task {task_id} is not found.",
                                        "NotFound"), 404)

    def _get(self, request: Request, task_id: str) -> Response:
        with self.lock:
            task = self._find(task_id)
            if task is None:
                return self._not_found(task_id)
            self._advance(task)
            return Response.json(dict(task.obj))

    def _advance(self, task: Task) -> None:
        obj = task.obj
        if obj["status"] not in ("queued", "running"):
            return
        task.polls += 1
        obj["updated_at"] = int(self.clock())
        if task.polls <= self.queued_polls:
            return
        if task.polls < self.polls_to_complete + self.queued_polls or task.stall:
            obj["status"] = "running"
            return
        if task.fail is not None:
            obj["status"] = "failed"
            obj["error"] = {"code": task.fail[0], "message": task.fail[1]}
            return
        obj["status"] = "succeeded"
        width, height = SIZES[obj["resolution"]]
        frames = 24 * obj["duration"] + 1
        obj["usage"] = {"completion_tokens": frames * width * height // 1024}
        obj["content"] = {"video_url": f"{self.storage.url}/ark-content/{obj['id']}.mp4?X-Tos-Algorithm="
                          "TOS4-HMAC-SHA256&X-Tos-Expires=86400&X-Tos-Signature=" + obj["id"][-5:] * 8}

    def _list(self, request: Request) -> Response:
        def arg(name: str) -> list[str]:
            return request.query.get(name, [])

        page_num = int((arg("page_num") or ["1"])[0])
        page_size = int((arg("page_size") or ["20"])[0])
        if not 1 <= page_size <= 500 or page_num < 1:
            return self._invalid("page_size", "page_size must be in [1, 500]")
        week_ago = self.clock() - 7 * 86400
        with self.lock:
            items = [self.tasks[t] for t in reversed(self._order) if not self.tasks[t].deleted]
        items = [t for t in items if t.obj["created_at"] >= week_ago
                 and (not arg("filter.model") or t.obj["model"] == arg("filter.model")[0])
                 and (not arg("filter.status") or t.obj["status"] == arg("filter.status")[0])
                 and (not arg("filter.task_ids") or t.obj["id"] in arg("filter.task_ids"))]
        page = items[(page_num - 1) * page_size: page_num * page_size]
        return Response.json({"total": len(items), "items": [dict(t.obj) for t in page]})

    def _delete(self, request: Request, task_id: str) -> Response:
        with self.lock:
            task = self._find(task_id)
            if task is None:
                return self._not_found(task_id)
            if task.obj["status"] == "running":
                return self._invalid("id", "a running task cannot be cancelled or deleted")
            if task.obj["status"] == "queued":
                task.obj["status"] = "cancelled"
            else:
                task.deleted = True
        return Response.json({})

    # -- the storage host --------------------------------------------------------------------------------
    def serve_video(self, request: Request) -> Response:
        match = re.fullmatch(r"/ark-content/(cgt-[\w-]+)\.mp4", request.path)
        task = self.tasks.get(match.group(1)) if match else None
        if task is None or "X-Tos-Signature" not in request.query:
            return Response(status=404, body=b"<Error><Code>NoSuchKey</Code></Error>")
        if task.expired_video:
            return Response(status=403, body=b"<Error><Code>AccessDenied</Code><Message>Request has expired"
                            b"</Message></Error>", headers={"content-type": "application/xml"})
        fault = self._fault("video")
        if fault is not None and fault.kind == "status":
            return Response(status=fault.status, body=b"<Error><Code>InternalError</Code></Error>",
                            headers=fault.headers)
        width, height = SIZES[task.obj["resolution"]]
        response = Response(body=fake_mp4(task.obj["duration"], f"{width}x{height}"),
                            headers={"content-type": "video/mp4"})
        if fault is not None and fault.kind == "reset":
            response.abort_after = fault.after_bytes
        elif fault is not None and fault.kind == "truncate":
            response.declared_length = len(response.body) + fault.missing  # type: ignore[arg-type]
        elif fault is not None and fault.kind in HOSTILE:
            return hostile_body(fault.kind, response.body, response.headers)  # type: ignore[arg-type]
        return response


def sent_content(request: Request) -> list[dict[str, Any]]:
    """The ``content`` list of a create request."""
    content: list[dict[str, Any]] = request.json()["content"]
    return content


def decoded_images(request: Request, role: str | None = None) -> list[bytes]:
    """The bytes of every base64 image item in a create (of ``role``, if given)."""
    out = []
    for item in sent_content(request):
        if item["type"] == "image_url" and (role is None or item.get("role") == role):
            out.append(base64.b64decode(item["image_url"]["url"].split(",", 1)[1]))
    return out


def prompts_of(requests: Iterable[Request]) -> list[str]:
    return [next(c["text"] for c in sent_content(r) if c["type"] == "text") for r in requests]
