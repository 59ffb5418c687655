"""The shared remote cache: a team's renders in one object store, paid for once per team.

``[cache] remote = "s3://bucket/prefix"`` (or ``gs://``, ``az://``, ``file:///mnt/share/...``)
in ``shotmake.toml``. Under the prefix, one folder per format version::

    v1/objects/ab/abcd...ef.mp4    content-addressed, immutable: named by the SHA-256 of the bytes
    v1/keys/12/1234...89.json      node key -> {"digest", "ext", "size", "meta"} as JSON (never pickle)

Before a dirty node is rendered, ``fetch`` looks its key up: a hit streams the object into a
temp file in the local cache (never a partial file in ``objects/``), checks its size and
SHA-256 against the entry, and stores it locally. An object whose bytes do not match is refused
with a warning: the node is rendered again and the re-render replaces the bad object and entry.
After a render, ``publish`` uploads the object, then its entry: an entry never names an object
that is not there. An entry is written with a conditional create (``If-None-Match: *``), so two
machines racing on one key cannot overwrite each other: the first complete entry wins, and both
are valid renders of the key. Objects need no condition: every writer of a name writes the same bytes.

The store is opened through obstore (the Rust ``object_store`` crate: S3, GCS, Azure Blob and local
folders behind one API, each SDK's usual environment variables for credentials). Credentials are
never read from ``shotmake.toml`` or written anywhere; a plain-http endpoint is refused unless it is
loopback. Every request has bounded connect and read timeouts and few retries: a remote that is
down or stops answering is reported once and the build goes on locally (``down``), never hangs.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .cache import CHUNK, Cache, valid_row
from .errors import RemoteCacheError
from .model import Artifact
from .redaction import redact

#: URL schemes of ``[cache] remote`` and what each one is.
SCHEMES = {"s3": "Amazon S3 or an S3-compatible store (MinIO, R2, Ceph)", "gs": "Google Cloud Storage",
           "az": "Azure Blob Storage", "file": "a local or mounted folder (a studio NAS)"}
#: The layout version: a new one starts a new folder, so no reader ever misreads an old entry.
LAYOUT = "v1"
#: Where each SDK finds an S3 endpoint other than AWS's (MinIO, R2, a loopback test server).
ENDPOINT_VARIABLES = ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_ENDPOINT")
#: The largest index entry read (an entry is a few hundred bytes of JSON).
ENTRY_MAX = 1 << 20
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")
#: obstore's S3 options and the AWS SDK variables they come from.
S3_VARIABLES = {"access_key_id": ("AWS_ACCESS_KEY_ID",), "secret_access_key": ("AWS_SECRET_ACCESS_KEY",),
                "session_token": ("AWS_SESSION_TOKEN",), "region": ("AWS_REGION", "AWS_DEFAULT_REGION")}


@dataclass(frozen=True)
class Timeouts:
    """Bounds on every remote request: connect, each read (resets on every chunk received), retries,
    and the whole transfer.

    The longest a dead remote can hold one request is about ``(connect or read) * (retries + 1)``
    plus backoff, and one that answers slowly ``transfer``; after that the remote is marked down
    for the rest of the command.
    """

    connect: float = 5.0
    read: float = 30.0
    retries: int = 2
    #: The whole of one request, first byte to last: a server that drips bytes is cut too.
    transfer: float = 900.0


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be a remote cache (None when it can). Pure: ``config.py`` words the error."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "not a URL"
    if parts.scheme not in SCHEMES:
        return (f"unknown scheme {parts.scheme + '://' if parts.scheme else '(none)'}; use one of "
                + ", ".join(f"{s}://" for s in SCHEMES))
    if "@" in parts.netloc:
        return "credentials do not go in the URL: set the storage SDK's environment variables (docs/cache.md)"
    if parts.query or parts.fragment:
        return "no query or fragment: give the bucket and a prefix only"
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            return "a file:// URL needs an absolute path: file:///mnt/share/shotmake"
    elif not parts.netloc:
        return f"no bucket: {parts.scheme}://BUCKET/PREFIX"
    return None


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def open_store(url: str, timeouts: Timeouts, env: Mapping[str, str] | None = None) -> Any:
    """An obstore store for ``url``, credentials from the environment; raises ``RemoteCacheError``."""
    env = os.environ if env is None else env
    problem = check_url(url)
    if problem is not None:
        raise RemoteCacheError(f"[cache] remote {url!r}: {problem}")
    import obstore.store  # ~10 ms: only builds with a remote pay it
    from obstore.exceptions import BaseError

    parts = urlsplit(url)
    if parts.scheme == "file":
        folder = Path(parts.path)
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return obstore.store.LocalStore(prefix=folder)
        except (OSError, BaseError) as exc:
            raise RemoteCacheError(f"cannot open the remote cache folder {folder}: {_first_line(exc)}") from exc
    allow_http = False
    config: dict[str, str] = {}
    if parts.scheme == "s3":
        endpoint = next((env[name] for name in ENDPOINT_VARIABLES if env.get(name)), "")
        # The SDK's variables, read from ``env`` (the process environment unless a test injects one);
        # obstore also reads the process environment for any it is not given here.
        for option, names in S3_VARIABLES.items():
            value = next((env[name] for name in names if env.get(name)), "")
            if value:
                config[option] = value
        if endpoint:
            config["endpoint"] = endpoint
        if endpoint.startswith("http://"):
            if not _loopback(urlsplit(endpoint).hostname or ""):
                raise RemoteCacheError(
                    f"{endpoint_name(env)} is plain http ({urlsplit(endpoint).hostname}): credentials are only sent "
                    "over https (plain http is allowed on loopback only); use the endpoint's https address")
            allow_http = True
    client: dict[str, Any] = {"connect_timeout": datetime.timedelta(seconds=timeouts.connect),
                              "read_timeout": datetime.timedelta(seconds=timeouts.read),
                              "timeout": datetime.timedelta(seconds=timeouts.transfer), "allow_http": allow_http}
    retry: dict[str, Any] = {
        "max_retries": timeouts.retries,
        "retry_timeout": datetime.timedelta(seconds=(timeouts.connect + timeouts.read) * (timeouts.retries + 1)),
        "backoff": {"init_backoff": datetime.timedelta(milliseconds=100), "max_backoff": datetime.timedelta(seconds=2),
                    "base": 2.0}}
    try:
        return obstore.store.from_url(url, config=config or None, client_options=client,  # type: ignore[call-overload]
                                      retry_config=retry)
    except (BaseError, ValueError, TypeError) as exc:
        raise RemoteCacheError(f"cannot open the remote cache {url}: {_first_line(exc)}") from exc


def endpoint_name(env: Mapping[str, str]) -> str:
    return next((name for name in ENDPOINT_VARIABLES if env.get(name)), "AWS_ENDPOINT_URL")


def _first_line(exc: BaseException) -> str:
    """A foreign error in one line, secrets removed (obstore appends a multi-line debug dump)."""
    text = str(exc).split("\n\nDebug source:", 1)[0].strip().splitlines()
    return redact(text[0] if text else type(exc).__name__)[:400]


def _warn(message: str) -> None:
    print(f"shotmake: warning: {message}", file=sys.stderr)


class RemoteCache:
    """Fetch and publish node renders in a remote object store (thread-safe; one per command).

    ``only``: ``--remote-only``, a node the remote does not have is an error (``RemoteCacheError``),
    never a render. ``warn`` receives each warning (once per kind of problem).
    """

    def __init__(self, store: Any, url: str, *, only: bool = False,
                 warn: Callable[[str], None] = _warn) -> None:
        self.store = store
        self.url = url
        self.only = only
        self._warn = warn
        self._lock = threading.Lock()
        #: Why the remote was given up for this command (None while it answers).
        self.down: str | None = None
        self._no_upload: str | None = None
        #: Keys and objects found damaged here: the next publish replaces them.
        self._refused_keys: set[str] = set()
        self._refused_objects: set[str] = set()
        #: Object names known to be in the store (uploaded or seen by this command), and one lock per
        #: name being uploaded: two nodes with the same bytes send them once.
        self._present: set[str] = set()
        self._uploading: dict[str, threading.Lock] = {}
        self.fetched = 0
        self.published = 0

    # -- names ------------------------------------------------------------------------------------
    @staticmethod
    def object_name(digest: str, extension: str) -> str:
        return f"{LAYOUT}/objects/{digest[:2]}/{digest}{extension}"

    @staticmethod
    def entry_name(key: str) -> str:
        return f"{LAYOUT}/keys/{key[:2]}/{key}.json"

    # -- failure handling ----------------------------------------------------------------------------
    def _give_up(self, what: str, exc: BaseException) -> None:
        from obstore.exceptions import PermissionDeniedError, UnauthenticatedError

        with self._lock:
            if self.down is not None:
                return
            self.down = f"{what}: {_first_line(exc)}"
        if "169.254.169.254" in self.down:  # the SDK fell back to a cloud VM's metadata service
            state = ("found no credentials (set the storage SDK's environment variables, e.g. AWS_ACCESS_KEY_ID "
                     "and AWS_SECRET_ACCESS_KEY: docs/cache.md)")
        elif isinstance(exc, (PermissionDeniedError, UnauthenticatedError)):
            state = "refused our credentials"
        else:
            state = "is not answering"
        self._warn(f"the remote cache {self.url} {state} ({self.down}); "
                   + ("nothing more is taken from it in this command" if self.only else
                      "building locally without it for the rest of this command"))

    def _unavailable(self, what: str, node: str) -> RemoteCacheError:
        return RemoteCacheError(f"--remote-only: {what} (the remote cache {self.url} "
                                f"{'is down: ' + self.down if self.down else 'does not have it'}); "
                                "nothing is rendered with --remote-only", node=node)

    # -- reading -----------------------------------------------------------------------------------
    def entry(self, key: str) -> dict[str, Any] | None:
        """The remote index entry of ``key`` (None: absent, malformed, or the remote is down)."""
        if self.down is not None:
            return None
        import obstore
        from obstore.exceptions import BaseError

        name = self.entry_name(key)
        try:
            found = obstore.get(self.store, name)
            raw = bytes(found.bytes()) if int(found.meta["size"]) <= ENTRY_MAX else b""  # never read a huge one
        except FileNotFoundError:
            return None
        except (BaseError, OSError) as exc:
            self._give_up(f"reading {name}", exc)
            return None
        try:
            value = json.loads(raw) if raw else None
        except (ValueError, RecursionError):
            value = None
        if not isinstance(value, dict) or value.get("format") != 1 or not valid_row(f"node:{key}", value):
            self._warn(f"the remote cache entry {name} is not one shotmake wrote (ignored)")
            self._refused_keys.add(key)
            return None
        return value

    def fetch(self, key: str, cache: Cache, what: str = "", digest: str | None = None) -> Artifact | None:
        """Download ``key``'s render into ``cache`` and return it; None when the remote cannot give it.

        ``digest``: the render wanted (a lock file's), when it may differ from the key's remote entry.
        The object is streamed to a temp file, size- and digest-checked, then stored by ``cache``.
        """
        if not _HEX64.match(key) or (digest is not None and not _HEX64.match(digest)):
            return None  # a node key and a digest are SHA-256 hex (a lock file is input: never a path)
        entry = self.entry(key)
        if entry is None:
            return None
        want = digest or entry["digest"]
        name = self.object_name(want, entry.get("ext", ""))
        temp = cache.temp_path(entry.get("ext", ""))
        try:
            got, size = self._download(name, temp, limit=entry["size"] if want == entry["digest"] else None)
            if got is None:
                return None
            if got != want or (want == entry["digest"] and size != entry["size"]):
                self._refused_keys.add(key)
                self._refused_objects.add(name)
                self._present.discard(name)
                self._warn(f"{what or key[:16]}: refused the remote cache's object {name}: its bytes do not match "
                           f"their digest (got {got[:12]}, {size} bytes); it will be rendered again and replaced")
                return None
            meta = dict(entry.get("meta", {}))
            # Nothing was spent here: `shotmake cost` (and any spend cap) counts this machine's payments,
            # so the price the team paid is kept apart.
            meta.update(cost_usd=0.0, remote_cost_usd=meta.get("cost_usd", 0.0), from_remote=True)
            artifact = cache.store(key, temp, meta, digest=got)
        finally:
            temp.unlink(missing_ok=True)
        with self._lock:
            self.fetched += 1
        return artifact

    def _download(self, name: str, temp: Path, limit: int | None) -> tuple[str | None, int]:
        """Stream ``name`` into ``temp`` (created fresh, owner-only); return its SHA-256 and size."""
        import obstore
        from obstore.exceptions import BaseError

        digest, size = hashlib.sha256(), 0
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        except OSError as exc:
            raise RemoteCacheError(f"cannot write {temp}: {exc.strerror}") from exc
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in obstore.get(self.store, name).stream(min_chunk_size=CHUNK):
                    view = memoryview(chunk)
                    size += len(view)
                    if limit is not None and size > limit:
                        return "0" * 64, size  # longer than its entry says: refused without reading the rest
                    digest.update(view)
                    out.write(view)
        except FileNotFoundError:
            self._refused_objects.add(name)
            self._warn(f"the remote cache has an entry but not its object {name} (ignored; the node is rendered)")
            return None, 0
        except (BaseError, OSError) as exc:
            self._give_up(f"downloading {name}", exc)
            return None, 0
        return digest.hexdigest(), size

    def require(self, key: str, cache: Cache, what: str) -> Artifact:
        """``fetch`` for ``--remote-only`` and ``pull``: the render, or a ``RemoteCacheError`` saying why not."""
        found = self.fetch(key, cache, what)
        if found is None:
            raise self._unavailable("not in the remote cache", what)
        return found

    def fetch_for(self, key: str, cache: Cache, what: str) -> Artifact | None:
        """The executor's hook: ``fetch``, or with ``only`` the render or an error (never None)."""
        return self.require(key, cache, what) if self.only else self.fetch(key, cache, what)

    # -- writing -----------------------------------------------------------------------------------
    def publish(self, key: str, artifact: Artifact, cache: Cache | None = None) -> bool:
        """Upload ``artifact`` and then ``key``'s entry; False when nothing could be written.

        With ``cache``, the local object is digest-checked first (a rotted one is never uploaded).
        An object already there (same name, same size) is not sent again; an entry already
        there is kept (first writer wins) unless this command found it damaged.
        """
        if self.down is not None or self._no_upload is not None:
            return False
        if cache is not None and not cache.verify(artifact, key[:16]):
            return False
        import obstore
        from obstore.exceptions import (
            AlreadyExistsError,
            BaseError,
            PermissionDeniedError,
            UnauthenticatedError,
        )

        extension = Path(artifact.path).suffix
        name = self.object_name(artifact.digest, extension)
        try:
            with self._lock:
                uploading = self._uploading.setdefault(name, threading.Lock())
            with uploading:
                if name not in self._present and not self._has(name, artifact.size):
                    obstore.put(self.store, name, Path(artifact.path), mode="overwrite")
                self._present.add(name)
            entry = {"format": 1, "digest": artifact.digest, "ext": extension, "size": artifact.size,
                     "meta": dict(artifact.meta)}
            body = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()
            replace = key in self._refused_keys
            try:
                obstore.put(self.store, self.entry_name(key), body, mode="overwrite" if replace else "create")
            except AlreadyExistsError:
                pass  # another machine published this key first: its render is as good as ours
            self._refused_keys.discard(key)
            self._refused_objects.discard(name)
        except (PermissionDeniedError, UnauthenticatedError) as exc:
            with self._lock:
                first, self._no_upload = self._no_upload is None, _first_line(exc)
            if first:
                self._warn(f"cannot upload to the remote cache {self.url} ({self._no_upload}); renders stay local "
                           "(read-only credentials?)")
            return False
        except (BaseError, OSError) as exc:
            self._give_up(f"uploading {name}", exc)
            return False
        with self._lock:
            self.published += 1
        return True

    def _has(self, name: str, size: int) -> bool:
        """Whether the object ``name`` is there with ``size`` bytes (and not found damaged here)."""
        if name in self._refused_objects:
            return False
        import obstore

        try:
            return int(obstore.head(self.store, name)["size"]) == size
        except FileNotFoundError:
            return False
