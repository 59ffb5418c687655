"""DashScope temporary uploads: local files become ``oss://`` URLs the video service can read.

Wan takes its media (frames, reference images, clips, audio) by URL only. The official SDK
(dashscope 2.0.2, ``utils/oss_utils.py``) turns a local file into one in three steps, which
this module reproduces with httpx:

1. ``GET {base}/uploads?action=getPolicy&model=<model>`` with the API key answers an upload
   policy in ``data`` (``policy, signature, upload_dir, upload_host, oss_access_key_id,
   x_oss_object_acl, x_oss_forbid_overwrite``);
2. ``POST <upload_host>`` multipart form (``OSSAccessKeyId, Signature, policy, key,
   x-oss-object-acl, x-oss-forbid-overwrite, success_action_status, x-oss-content-type``,
   then ``file``): **no** Authorization header, because the storage host is not DashScope (the
   POST goes through a credential-free ``http.ApiSession``: bounded reply, no redirect replayed);
3. the file is now ``oss://<key>``, readable for 48 hours by the same account *and model*,
   when the create request carries ``X-DashScope-OssResourceResolve: enable``.

Uploads are remembered by content digest (``UploadCache``), so the same character sheet is
sent once and reused by every shot and every rebuild while its temporary URL lives. The
record is a small checksummed JSON file per upload in the cache directory (never a pickle;
written by ``shotmake.atomic``: a fresh temp file, renamed), holds no key or local path, and is
named by a one-way hash of the account, host, model and content.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..errors import RetryableError, TerminalError
from ..freshness import read_json, write_json
from .http import ApiSession, BodyLimits, error_for_status, transport_error

#: How long an ``oss://`` URL is readable after its upload (Model Studio docs: 48 h).
URL_LIFETIME = 48 * 3600.0
#: Reuse an upload only while this much of its life is left: a queued task must still read it.
REUSE_MARGIN = 6 * 3600.0
#: The fields of a getPolicy answer the SDK reads, and the form fields they become (in order).
POLICY_FIELDS = ("policy", "signature", "upload_dir", "upload_host", "oss_access_key_id",
                 "x_oss_object_acl", "x_oss_forbid_overwrite")
#: Bump when a record's meaning changes: older records are then ignored.
RECORD_VERSION = 1
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/bmp": ".bmp",
              "video/mp4": ".mp4", "video/quicktime": ".mov", "audio/mpeg": ".mp3", "audio/wav": ".wav",
              "audio/x-wav": ".wav"}
#: The stored object's type as the official SDK labels it (Python's ``mimetypes``: a WAV is audio/x-wav).
OSS_TYPES = {"audio/wav": "audio/x-wav"}


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its ``oss://`` URL and when it stops being readable (unix seconds)."""

    url: str
    expires_at: float
    #: True when this build sent the bytes; False when a remembered upload was reused.
    fresh: bool


class UploadCache:
    """Remembers uploads by (account, host, model, content digest) until shortly before they expire.

    ``directory`` None keeps them in memory only (one build). Each record is one file, so
    concurrent builds never rewrite each other's; a corrupt or foreign record is ignored.
    """

    def __init__(self, directory: Path | None, clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self.clock = clock
        self._memory: dict[str, Upload] = {}
        self._lock = threading.Lock()

    def get(self, ident: str) -> Upload | None:
        """The remembered upload for ``ident`` while at least ``REUSE_MARGIN`` of its life is left."""
        with self._lock:
            found = self._memory.get(ident)
        if found is None and self.directory is not None:
            record = read_json(self.directory / f"{ident}.json")
            if isinstance(record, dict) and record.get("version") == RECORD_VERSION \
                    and isinstance(record.get("url"), str) and record["url"].startswith("oss://") \
                    and isinstance(record.get("expires_at"), (int, float)):
                found = Upload(record["url"], float(record["expires_at"]), fresh=False)
        if found is None or found.expires_at - self.clock() < REUSE_MARGIN:
            return None
        return Upload(found.url, found.expires_at, fresh=False)

    def put(self, ident: str, upload: Upload, *, model: str, digest: str) -> None:
        """Remember ``upload`` (on disk through ``freshness.write_json``: atomic, owner-only, checksummed)."""
        with self._lock:
            self._memory[ident] = upload
        if self.directory is not None:
            record = {"version": RECORD_VERSION, "url": upload.url, "expires_at": upload.expires_at,
                      "model": model, "digest": digest}
            write_json(self.directory / f"{ident}.json", json.dumps(record, sort_keys=True))

    def forget(self, ident: str) -> None:
        """Drop a record the server would not resolve (expired early, or another account)."""
        with self._lock:
            self._memory.pop(ident, None)
        if self.directory is not None:
            (self.directory / f"{ident}.json").unlink(missing_ok=True)


def upload_ident(*, account: str, base_url: str, model: str, digest: str) -> str:
    """The record name of an upload: a one-way hash, so no key or path ends up on disk."""
    text = "\0".join(("dashscope-upload", account, base_url.rstrip("/"), model, digest))
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def object_name(digest: str, mime: str) -> str:
    """The uploaded file's name: its content digest (never a local path) and an extension for its type."""
    clean = "".join(c for c in digest if c.isalnum())[:40] or "input"
    return clean + EXTENSIONS.get(mime, "")


class Uploader:
    """Performs the three-step temporary upload; one instance per adapter.

    ``send_api`` makes a request to the DashScope API through the adapter's session (which
    attaches the key for the API origin only); storage requests go through a session with no
    credential at all, bounded by ``limits``, so the key cannot reach the storage host even
    when it shares the API's origin.
    """

    def __init__(
        self,
        client: httpx.Client,
        send_api: Callable[..., httpx.Response],
        *,
        api_scheme: str,
        provider: str,
        limits: BodyLimits | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._limits = limits
        self._send_api = send_api
        self._api_scheme = api_scheme
        self._provider = provider
        self._clock = clock

    def policy(self, model: str, node: str) -> Mapping[str, str]:
        """Ask for an upload policy for ``model`` (one per create: the SDK v2 reuses it across files)."""
        response = self._send_api("GET", "/uploads", node=node, what="upload policy", about_model=True,
                                  params={"action": "getPolicy", "model": model},
                                  headers={"Accept": "application/json; charset=utf-8"})  # as the SDK asks
        try:
            body: Any = response.json()
        except ValueError as exc:
            raise RetryableError("upload policy: the answer is not JSON", provider=self._provider,
                                 node=node) from exc
        data = body.get("data") or body.get("output") if isinstance(body, dict) else None
        if not isinstance(data, dict) or not all(isinstance(data.get(k), (str, int)) for k in POLICY_FIELDS):
            raise RetryableError(f"upload policy: missing fields in {str(body)[:200]}", provider=self._provider,
                                 node=node)
        policy = {k: str(data[k]) for k in POLICY_FIELDS}
        host = urlsplit(policy["upload_host"])
        # The policy is a write capability: never over plain http when the API itself is https.
        if host.scheme not in ("https", self._api_scheme) or not host.netloc:
            raise TerminalError(f"upload policy names an unusable upload host {policy['upload_host']!r}",
                                provider=self._provider, node=node)
        return policy

    def upload(self, policy: Mapping[str, str], path: Path, digest: str, mime: str, node: str) -> Upload:
        """POST ``path`` to the storage host under the policy; return its ``oss://`` URL."""
        key = f"{policy['upload_dir']}/{object_name(digest, mime)}"
        form = {
            "OSSAccessKeyId": policy["oss_access_key_id"],
            "Signature": policy["signature"],
            "policy": policy["policy"],
            "key": key,
            "x-oss-object-acl": policy["x_oss_object_acl"],
            "x-oss-forbid-overwrite": policy["x_oss_forbid_overwrite"],
            "success_action_status": "200",
            "x-oss-content-type": OSS_TYPES.get(mime, mime),
        }
        # No credential here: this host is the vendor's object store, not the API.
        storage = ApiSession(self._client, policy["upload_host"], None, provider=self._provider, limits=self._limits)
        started = self._clock()
        try:
            with open(path, "rb") as handle:
                response = storage.request("POST", policy["upload_host"], node=node, data=form,
                                           files={"file": (key.rsplit("/", 1)[-1], handle, mime)},
                                           headers={"Accept": "application/json"})
        except OSError as exc:
            raise TerminalError(f"cannot read {path} to upload it: {exc.strerror}", provider=self._provider,
                                node=node) from exc
        except httpx.TransportError as exc:
            raise RetryableError(f"upload of {path.name}: {transport_error(exc).message}",
                                 provider=self._provider, node=node) from exc
        except TerminalError as exc:  # the session refuses to replay a redirected POST (the file) elsewhere
            raise TerminalError(f"upload of {path.name}: the storage host {urlsplit(policy['upload_host']).netloc} "
                                "answered with a redirect, which is not followed for an upload (the file would go "
                                "to another address); a misconfigured region or gateway?", provider=self._provider,
                                node=node) from exc
        if response.status_code != 200:
            text = response.text[:300].strip() or response.reason_phrase
            raise error_for_status(response.status_code, f"upload of {path.name}: {text}",
                                   headers=response.headers, provider=self._provider, node=node)
        return Upload(url=f"oss://{key}", expires_at=started + URL_LIFETIME, fresh=True)
