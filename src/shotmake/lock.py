"""The lock file: ``EPISODE.lock`` records the exact cut (each node's key, artifact digest, take).

Like ``Cargo.lock`` or ``dvc.lock``: commit it beside the spec, and a teammate or a nightly
job with the same cache reproduces the same episode; ``build --frozen`` refuses to render
anything the lock does not already name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import atomic
from .errors import SourceLocation, SpecError
from .model import Artifact
from .plan import Plan

LOCK_VERSION = 1
HEADER = "# shotmake lock file: the exact cut of {spec}. Commit it with the spec;\n" \
         "# `shotmake build --frozen {spec}` reproduces it from the cache without rendering.\n"
#: Third header line: digests of the data and of the text below it, so an unchanged lock is
#: recognised without writing 20,000 nodes of YAML again (a null build rewrites nothing).
DIGEST_LINE = "# digest: {data} {body}\n"


def lock_path(spec: str | Path) -> Path:
    """``episodes/pilot.yaml`` -> ``episodes/pilot.lock``."""
    spec = Path(spec)
    return spec.with_suffix(".lock")


def lock_data(plan: Plan, artifacts: Mapping[str, Artifact]) -> dict[str, Any]:
    """The lock's content for a finished build: every node's key, digest and provider."""
    nodes: dict[str, Any] = {}
    for nid in plan.order:
        node = plan.node(nid)
        entry: dict[str, Any] = {"key": node.key, "digest": artifacts[nid].digest, "kind": node.kind}
        if node.kind in ("clip", "sheet", "plate"):
            entry["provider"] = str(artifacts[nid].meta.get("provider", node.provider))
        if "take" in node.labels:
            entry["take"] = node.labels["take"]
        nodes[nid] = entry
    picks = {sid: s.pick for sid, s in plan.episode.shots.items() if s.takes > 1}
    data: dict[str, Any] = {"version": LOCK_VERSION, "episode": plan.episode.name, "nodes": nodes}
    if picks:
        data["picks"] = picks
    return data


def write_lock(path: Path, data: Mapping[str, Any], spec: str) -> None:
    """Write the lock atomically (temp file + rename); unchanged content is not rewritten.

    "Unchanged" is decided from the digest line: the data's digest matches and the text
    below still hashes to what was written (a hand-edited lock is written again).
    """
    header = HEADER.format(spec=spec)
    data_digest = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    try:
        old = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        old = ""
    prefix = header + DIGEST_LINE.format(data=data_digest, body="")[:-1]
    if old.startswith(prefix):
        body_digest, _, body = old[len(prefix):].partition("\n")
        if body_digest == hashlib.sha256(body.encode()).hexdigest():
            return
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # the C emitter writes the same text, faster
    body = yaml.dump(dict(data), Dumper=dumper, sort_keys=True, default_flow_style=False)
    text = header + DIGEST_LINE.format(data=data_digest, body=hashlib.sha256(body.encode()).hexdigest()) + body
    if old == text:
        return
    atomic.write_text(path, text)  # a new temp file and a rename: never through a planted symlink


def read_lock(path: Path) -> dict[str, Any] | None:
    """Load a lock file, or None when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    import yaml

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise SpecError(f"lock file is not valid YAML: {exc}", location=SourceLocation(str(path), 1, 1),
                        hint="delete it and build once without --frozen to write it again") from exc
    if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
        raise SpecError("lock file has no 'nodes' mapping", location=SourceLocation(str(path), 1, 1),
                        hint="delete it and build once without --frozen to write it again")
    return data


def frozen_problems(plan: Plan, lock: Mapping[str, Any], lookup: Any) -> list[str]:
    """Why a ``--frozen`` build cannot reproduce the lock; empty when it can.

    ``lookup(key)`` returns the cached ``Artifact`` or None.
    """
    problems = []
    picks = lock.get("picks")
    picks = picks if isinstance(picks, dict) else {}
    for sid, shot in plan.episode.shots.items():  # a changed pick is the cause of every key it changes
        was = picks.get(sid, 1)
        if shot.takes > 1 and was != shot.pick:
            problems.append(f"shot {sid}: the pick changed from take {was} to take {shot.pick} since the lock "
                            "was written (set it back, or build without --frozen to lock the new cut)")
    locked = lock["nodes"]
    for nid in plan.order:
        node = plan.node(nid)
        entry = locked.get(nid)
        if entry is None:
            problems.append(f"{nid}: not in the lock (the spec changed since it was written)")
            continue
        if entry.get("key") != node.key:
            problems.append(f"{nid}: the spec changed since the lock was written (key differs)")
            continue
        artifact = lookup(node.key)
        if artifact is None:
            problems.append(f"{nid}: locked render is not in this cache; it would have to be rendered again")
        elif artifact.digest != entry.get("digest"):
            problems.append(f"{nid}: cached render differs from the locked one ({artifact.digest[:12]} vs "
                            f"{str(entry.get('digest'))[:12]})")
    return problems
