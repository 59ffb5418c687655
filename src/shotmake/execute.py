"""Walk the plan: a cached node is skipped; a dirty one is dispatched, stored, and reported.

Independent nodes run concurrently (``jobs`` workers) within a per-provider limit; a node
starts when every input is available. Fail-fast by default (no new node starts after a
failure; running ones finish and are kept), or ``keep_going`` like ``make -k``. Every finished
render is in the cache before the next is scheduled, so an interrupted build loses nothing.

Remote renders go through the job journal: intent -> create -> job id -> poll -> download.
A job already submitted by an earlier (crashed) run is resumed, never created again.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol

from . import assemble
from .cache import Cache
from .costs import PriceOverrides, estimate
from .errors import ProviderError, RetryableError, RunError, ShotmakeError
from .journal import Journal
from .model import Artifact, Node
from .plan import Plan, Stale, pieces
from .providers.base import InputFile, JobStatus, Provider, ProviderRegistry, RenderRequest

MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp", ".mp4": "video/mp4"}


class Reporter(Protocol):
    """Receives build events; presentation lives in ``report.py``."""

    def build_started(self, plan: Plan, stale: Mapping[str, Stale], estimate_usd: float) -> None: ...
    def node_started(self, node: Node) -> None: ...
    def node_progress(self, node: Node, fraction: float | None, note: str = "") -> None: ...
    def node_finished(self, node: Node, seconds: float, cost_usd: float) -> None: ...
    def node_failed(self, node: Node, error: ShotmakeError) -> None: ...
    def build_finished(self, result: "BuildResult") -> None: ...


@dataclass
class BuildResult:
    """What a build did. ``ok`` is true when the final node exists."""

    rendered: list[Node] = field(default_factory=list)
    cached: list[Node] = field(default_factory=list)
    failed: list[tuple[Node, ShotmakeError]] = field(default_factory=list)
    skipped: list[Node] = field(default_factory=list)
    cost_usd: float = 0.0
    seconds: float = 0.0
    output: Artifact | None = None
    #: Every node's artifact that exists after the build (cached or rendered).
    artifacts: dict[str, Artifact] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


@dataclass(frozen=True)
class RemotePolicy:
    """How remote jobs are driven: poll pacing, deadlines, retries, uncertain creates."""

    poll_interval: float = 10.0
    min_poll_interval: float = 0.0
    deadline: float = 3600.0
    stall_timeout: float = 1200.0
    max_retries: int = 5
    backoff_base: float = 2.0
    backoff_cap: float = 120.0
    resubmit_uncertain: bool = False


class Executor:
    """Runs the dirty nodes of a plan. Construct once per build."""

    def __init__(
        self,
        plan: Plan,
        cache: Cache,
        registry: ProviderRegistry,
        reporter: Reporter,
        *,
        jobs: int = 4,
        keep_going: bool = False,
        provider_limits: Mapping[str, int] | None = None,
        journal: Journal | None = None,
        policy: RemotePolicy = RemotePolicy(),
        prices: PriceOverrides | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.plan = plan
        self.cache = cache
        self.registry = registry
        self.reporter = reporter
        self.jobs = max(1, jobs)
        self.keep_going = keep_going
        self.provider_limits = dict(provider_limits or {})
        self.journal = journal
        self.policy = policy
        self.prices = prices
        self.sleep = sleep
        self._artifacts: dict[str, Artifact] = {}
        self._stop = threading.Event()

    # -- scheduling ----------------------------------------------------------------------------
    def run(self, stale: Mapping[str, Stale]) -> BuildResult:
        """Build every node in ``stale`` (the output of ``plan.stale_nodes``)."""
        started = time.monotonic()
        result = BuildResult()
        plan = self.plan
        for nid in plan.order:
            if nid not in stale:
                node = plan.node(nid)
                artifact = self.cache.lookup(node.key)
                if artifact is None:  # vanished since planning: build it after all
                    stale = {**stale, nid: Stale(node, ("output missing from the cache",))}
                    continue
                self._artifacts[nid] = artifact
                result.cached.append(node)
        self.reporter.build_started(plan, stale, sum(estimate(s.node, self.prices) for s in stale.values()))

        waiting = {nid: {d for d in plan.node(nid).inputs if d in stale} for nid in plan.order if nid in stale}
        ready = [nid for nid in plan.order if nid in waiting and not waiting[nid]]
        running: dict[Future[tuple[Artifact, float, float]], Node] = {}
        in_flight: dict[str, int] = {}
        blocked: set[str] = set()
        halted = False

        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="shotmake") as pool:
            while ready or running:
                # Start what may start, in plan order, within the provider limits.
                still_ready = []
                for nid in ready:
                    node = plan.node(nid)
                    limit = self.provider_limits.get(node.provider, self.jobs)
                    if halted or len(running) >= self.jobs or in_flight.get(node.provider, 0) >= limit:
                        still_ready.append(nid)
                        continue
                    in_flight[node.provider] = in_flight.get(node.provider, 0) + 1
                    self.reporter.node_started(node)
                    running[pool.submit(self._build_node, node)] = node
                ready = [] if halted else still_ready
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    node = running.pop(future)
                    in_flight[node.provider] -= 1
                    try:
                        artifact, seconds, cost = future.result()
                    except ShotmakeError as exc:
                        result.failed.append((node, exc))
                        self.reporter.node_failed(node, exc)
                        blocked |= plan.dependents(node.id)
                        if not self.keep_going:
                            halted = True
                            self._stop.set()
                        continue
                    except Exception as exc:  # a bug: report it against the node, keep the rest
                        error = RunError(f"internal error: {type(exc).__name__}: {exc}", node=node.id)
                        result.failed.append((node, error))
                        self.reporter.node_failed(node, error)
                        blocked |= plan.dependents(node.id)
                        halted = halted or not self.keep_going
                        continue
                    self._artifacts[node.id] = artifact
                    result.rendered.append(node)
                    result.cost_usd += cost
                    self.reporter.node_finished(node, seconds, cost)
                    for nid, deps in waiting.items():
                        if node.id in deps:
                            deps.discard(node.id)
                            if not deps and nid not in blocked:
                                ready.append(nid)
                ready.sort(key=plan.order.index)

        finished = {n.id for n in result.rendered} | {n.id for n, _ in result.failed}
        result.skipped = [plan.node(nid) for nid in plan.order if nid in waiting and nid not in finished]
        result.output = self._artifacts.get(plan.final.id)
        result.artifacts = dict(self._artifacts)
        result.seconds = time.monotonic() - started
        self.reporter.build_finished(result)
        return result

    # -- one node -----------------------------------------------------------------------------
    def _build_node(self, node: Node) -> tuple[Artifact, float, float]:
        started = time.monotonic()
        temp = self.cache.temp_path(node.extension)
        try:
            if node.kind in ("clip", "sheet", "plate"):
                meta, cost = self._render(node, temp)
            else:
                meta, cost = self._assemble(node, temp), 0.0
            meta = {**meta, "node": node.id, "kind": node.kind, "provider": node.provider,
                    "cost_usd": cost, "elapsed": round(time.monotonic() - started, 3)}
            artifact = self.cache.store(node.key, temp, meta)
        finally:
            temp.unlink(missing_ok=True)
        self.cache.record_build(self.plan.episode.name, node.id, node.key, node.manifest)
        if self.journal is not None and self.journal.get(node.key) is not None:
            self.journal.downloaded(node.key)
        return artifact, time.monotonic() - started, cost

    def _assemble(self, node: Node, dest: Path) -> dict[str, Any]:
        inputs = [self._artifacts[nid] for nid in pieces(self.plan, node.id)]
        return assemble.run_assembly(node, inputs, dest)

    def request_for(self, node: Node) -> RenderRequest:
        """Build the provider request for a clip or sheet node from its manifest and inputs."""
        m = node.manifest
        by_key = {self.plan.node(nid).key: nid for nid in node.inputs}
        spec_dir = Path(self.plan.episode.source).parent

        def input_file(ref: str) -> InputFile | None:
            nid = by_key.get(ref)
            if nid is None:
                return None
            artifact = self._artifacts[nid]
            suffix = Path(artifact.path).suffix
            return InputFile(Path(artifact.path), artifact.digest, MIME.get(suffix, "application/octet-stream"),
                             artifact.meta)

        # Project files (user references, plate files) are in the manifest by digest.
        files = {digest: path for path, digest in node.labels.get("reference_files", [])}

        def image(ref: str | None) -> InputFile | None:
            if not ref:
                return None
            if ref in files:
                path = spec_dir / files[ref]
                return InputFile(path, ref, MIME.get(path.suffix.lower(), "application/octet-stream"))
            return input_file(ref)

        references = [found for ref in m.get("references", []) if (found := image(ref)) is not None]
        first, last, extends = image(m.get("first_frame")), image(m.get("last_frame")), image(m.get("extends"))
        return RenderRequest(
            node_id=node.id, key=node.key, kind="clip" if node.kind == "clip" else "sheet",  # plates are images too
            model=str(m.get("model", "")), prompt=str(m.get("prompt", "")),
            negative_prompt=str(m.get("negative_prompt", "")), duration=float(m.get("duration", 0.0)),
            width=int(m.get("width", 0)), height=int(m.get("height", 0)), fps=int(m.get("fps", 24)),
            aspect=str(m.get("aspect", "16:9")), resolution=str(m.get("resolution", m.get("size", ""))),
            seed=m.get("seed"), audio=bool(m.get("audio", True)), first_frame=first, last_frame=last,
            references=tuple(references), extends=extends, labels=dict(node.labels),
        )

    def _render(self, node: Node, dest: Path) -> tuple[dict[str, Any], float]:
        provider = self.registry.get(node.provider)
        request = self.request_for(node)
        cost = estimate(node, self.prices)
        if not provider.remote:
            meta = self._with_retries(node, lambda: provider.render(
                request, dest, lambda f: self.reporter.node_progress(node, f)))
            return meta, cost
        return self._render_remote(node, provider, request, dest), cost

    def _with_retries(self, node: Node, call: Callable[[], Any]) -> Any:
        attempt = 0
        while True:
            try:
                return call()
            except RetryableError as exc:
                attempt += 1
                if attempt > self.policy.max_retries or self._stop.is_set():
                    raise
                delay = exc.retry_after if exc.retry_after is not None else min(
                    self.policy.backoff_cap, self.policy.backoff_base * 2 ** (attempt - 1)
                ) * _jitter()
                self.reporter.node_progress(node, None, f"retry {attempt}/{self.policy.max_retries} in {delay:.1f}s: {exc}")
                self.sleep(delay)

    def _render_remote(self, node: Node, provider: Provider, request: RenderRequest, dest: Path) -> dict[str, Any]:
        journal = self.journal
        if journal is None:
            raise RunError("remote providers need a job journal", node=node.id, provider=provider.name)
        record = journal.get(node.key)
        job_id: str | None = None
        if record is not None and record.resumable:
            job_id = record.job_id
            self.reporter.node_progress(node, record.progress, f"resuming job {job_id}")
        elif record is not None and record.uncertain:
            job_id = provider.reconcile(request, record.created - 60)
            if job_id is not None:
                journal.submitted(node.key, job_id, estimate(node, self.prices))
                self.reporter.node_progress(node, None, f"reconciled with job {job_id}")
            elif not self.policy.resubmit_uncertain:
                raise RunError(
                    "an earlier run may have created this job but did not record its id; "
                    "check the provider's console, then rerun with --resubmit-uncertain to create it again",
                    node=node.id, provider=provider.name,
                )
        if job_id is None:
            journal.intent(node.key, node.id, self.plan.episode.name, provider.name)
            try:
                job_id = self._with_retries(node, lambda: provider.submit(request))
            except ProviderError as exc:
                if not exc.uncertain:  # the server answered: nothing was created
                    journal.failed(node.key, str(exc))
                raise  # an uncertain create keeps its intent: the next run reconciles or refuses
            journal.submitted(node.key, job_id, estimate(node, self.prices))
        status = self._wait(node, provider, job_id)
        try:
            meta = self._with_retries(node, lambda: provider.download(job_id, dest, status))
        except ProviderError as exc:
            if not isinstance(exc, RetryableError):  # e.g. expired: the output is gone for good
                journal.failed(node.key, str(exc))
            raise
        return {**meta, "job_id": job_id}

    def _wait(self, node: Node, provider: Provider, job_id: str) -> JobStatus:
        assert self.journal is not None
        started = time.monotonic()
        last_change = started
        last_progress: float | None = None
        while True:
            status: JobStatus = self._with_retries(node, lambda: provider.poll(job_id))
            if status.state == "succeeded":
                return status
            if status.state == "failed":
                error = status.error or ProviderError("job failed", node=node.id, provider=provider.name)
                self.journal.failed(node.key, str(error))
                raise error
            now = time.monotonic()
            if status.progress != last_progress:
                last_progress, last_change = status.progress, now
                self.journal.progress(node.key, status.progress)
                self.reporter.node_progress(node, status.progress)
            if now - started > self.policy.deadline:
                raise RunError(f"job {job_id} passed its deadline of {self.policy.deadline:.0f}s; "
                               "it stays in the journal and the next build resumes it",
                               node=node.id, provider=provider.name)
            if now - last_change > self.policy.stall_timeout:
                stuck = "?" if last_progress is None else f"{last_progress:.0%}"
                raise RunError(f"job {job_id} stalled at {stuck} for {self.policy.stall_timeout:.0f}s; "
                               "the next build resumes polling it", node=node.id, provider=provider.name)
            if self._stop.is_set():
                raise RunError(f"stopped while job {job_id} was running; the next build resumes it",
                               node=node.id, provider=provider.name)
            delay = status.poll_after if status.poll_after is not None else self.policy.poll_interval
            self.sleep(max(self.policy.min_poll_interval, delay))


def _jitter() -> float:
    # Full jitter (AWS architecture blog): spread retries of many workers uniformly.
    return int.from_bytes(os.urandom(2), "big") / 65535.0
