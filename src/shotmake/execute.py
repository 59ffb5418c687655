"""Walk the plan: a cached node is skipped; a dirty one is dispatched, stored, and reported.

Independent nodes run concurrently (``jobs`` workers) within a per-provider limit; a node
starts when every input is available. Fail-fast by default (no new node starts after a
failure; running ones finish and are kept), or ``keep_going`` like ``make -k``. Every finished
render is in the cache before the next is scheduled, so an interrupted build loses nothing.

Remote renders go through the job journal: intent -> create -> job id -> poll -> download.
A job already submitted by an earlier (crashed) run is resumed, never created again.

With a shared remote cache (``remote.py``), a dirty node is first looked up there (a hit is
downloaded, digest-checked and stored: nothing renders), and each render is uploaded after it is stored.

Every provider call goes through ``_call``: transient errors retry with jittered backoff
within the build's retry budget, the provider's circuit breaker and request window gate
each create (``health.py``), and ``SpendLimit`` refuses a paid job that would pass
``--budget``. A route that is unavailable (no key, circuit open, its model gone) hands a node
with no remote job yet to its configured fallback routes (``routing.py`` explains the keys a
fallback render gets); a job that was created is resumed or fails with its reason.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .cache import Cache, build_scope, file_digest
from .capacity import Capacity
from .costs import PriceOverrides, SpendLimit, estimate
from .errors import (
    BudgetExceeded,
    InternalError,
    JobGone,
    MediaError,
    ProviderError,
    ProviderUnavailable,
    RetryableError,
    RouteGone,
    RunError,
    ShotmakeError,
    TerminalError,
)
from .health import CircuitOpen, Health
from .journal import JobRecord, Journal, valid_job_id
from .model import Artifact, Node
from .plan import Plan, Stale, pieces
from .providers.base import InputFile, JobStatus, Provider, ProviderRegistry, RenderRequest
from .providers.catalog import ROUTES, Route
from .redaction import redact, redact_data
from .routing import RENDERED, fallbacks_for, rekey, reroute

if TYPE_CHECKING:
    from .remote import RemoteCache

MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp", ".mp4": "video/mp4",
        # reference clips and audio for the routes that take them (Wan: lint SM150)
        ".mov": "video/quicktime", ".mp3": "audio/mpeg", ".wav": "audio/wav"}


class Reporter(Protocol):
    """Receives build events; presentation lives in ``report.py``."""

    def build_started(self, plan: Plan, stale: Mapping[str, Stale], estimate_usd: float) -> None: ...
    def node_started(self, node: Node) -> None: ...
    def node_progress(self, node: Node, fraction: float | None, note: str = "") -> None: ...
    def node_finished(self, node: Node, seconds: float, cost_usd: float) -> None: ...
    def node_failed(self, node: Node, error: ShotmakeError) -> None: ...
    def build_finished(self, result: BuildResult) -> None: ...


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
    #: Nodes built differently from the plan (a fallback route, or downstream of one), by id.
    routed: dict[str, Node] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


@dataclass(frozen=True)
class RemotePolicy:
    """How remote jobs are followed: poll pacing, deadlines, uncertain creates, rejected requests.

    ``min_poll_interval`` keeps a server that says "poll again now" from making us spin.
    Retries, backoff and quotas live in ``Health``.
    """

    poll_interval: float = 10.0
    min_poll_interval: float = 0.1
    deadline: float = 3600.0
    stall_timeout: float = 1200.0
    resubmit_uncertain: bool = False
    #: Send again a request the provider refused for good in an earlier build.
    resubmit_rejected: bool = False
    #: Create again a job whose download is lost (not in the cache, gone from the provider).
    resubmit_lost: bool = False


@dataclass(frozen=True)
class _Built:
    """A worker's answer: the node as built (maybe rerouted), its artifact, time and cost."""

    node: Node
    artifact: Artifact
    seconds: float
    cost: float
    cached: bool = False


@dataclass(frozen=True)
class _Rendered:
    """What rendering a node produced: metadata and cost, or a fallback render already cached."""

    node: Node
    meta: Mapping[str, Any] = field(default_factory=dict)
    cost: float = 0.0
    artifact: Artifact | None = None


class Executor:
    """Runs the dirty nodes of a plan. Construct once per build.

    ``health`` (retries, breakers, request windows), ``spend`` (the ``--budget`` ledger),
    ``fallbacks`` (route -> routes to try when it is unavailable), ``clock`` and ``sleep``
    are injected so tests drive every timing path without sleeping.
    """

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
        health: Health | None = None,
        spend: SpendLimit | None = None,
        fallbacks: Mapping[str, Sequence[str]] | None = None,
        routes: Mapping[str, Route] = ROUTES,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        in_place: Callable[[Node, Artifact], bool] = lambda node, artifact: False,
        capacity: Capacity | None = None,
        stop: threading.Event | None = None,
        remote: RemoteCache | None = None,
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
        self.routes = routes
        self.clock = clock
        self.sleep = sleep
        self.health = health if health is not None else Health(clock=clock, sleep=sleep)
        self.spend = spend if spend is not None else SpendLimit()
        self.fallbacks = dict(fallbacks or {})
        #: Whether a deliverable's output already holds its artifact (then its object is not read).
        self.in_place = in_place
        #: The shared remote cache (``remote.py``): looked up before a render, given each render after.
        self.remote = remote
        self._artifacts: dict[str, Artifact] = {}
        #: Plan key -> the key actually built, for nodes routed away from the plan.
        self._keys: dict[str, str] = {}
        self._routed: dict[str, Node] = {}
        #: A batch's shared slots and per-key builders (``capacity.py``); None: this executor alone.
        self.capacity = capacity
        #: Set on a failure without ``keep_going``; a batch shares it, so one episode's failure stops all.
        self._stop = stop if stop is not None else threading.Event()

    # -- scheduling ----------------------------------------------------------------------------
    def run(self, stale: Mapping[str, Stale]) -> BuildResult:
        """Build every node in ``stale`` (the output of ``plan.stale_nodes``)."""
        gc.enable()  # off for start-up (``shotmake.__main__``); a build may run for hours
        started = self.clock()
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
        stale = self._verify_used(stale, result)
        self.reporter.build_started(plan, stale, sum(estimate(s.node, self.prices, self.routes) for s in stale.values()))

        waiting = {nid: {d for d in plan.node(nid).inputs if d in stale} for nid in plan.order if nid in stale}
        ready = [nid for nid in plan.order if nid in waiting and not waiting[nid]]
        running: dict[Future[_Built], Node] = {}
        in_flight: dict[str, int] = {}
        blocked: set[str] = set()
        halted = False

        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="shotmake") as pool:
            while ready or running:
                halted = halted or (self._stop.is_set() and not self.keep_going)  # another episode failed
                # Start what may start, in plan order, within the provider limits.
                still_ready = []
                for nid in ready:
                    node = rekey(plan.node(nid), self._keys)  # an input may have gone to a fallback
                    limit = self.provider_limits.get(node.provider, self.jobs)
                    if halted or len(running) >= self.jobs or in_flight.get(node.provider, 0) >= limit \
                            or (self.capacity is not None and not self.capacity.try_acquire(node.provider)):
                        still_ready.append(nid)
                        continue
                    in_flight[node.provider] = in_flight.get(node.provider, 0) + 1
                    self.reporter.node_started(node)
                    running[pool.submit(self._build_node, node)] = node
                ready = [] if halted else still_ready
                if not running:
                    if ready and self.capacity is not None:  # the batch's other episodes hold every slot
                        self.capacity.wait(0.5)
                        continue
                    break
                # In a batch, a slot another episode frees may let a ready node start: look again soon.
                poll = 0.05 if ready and self.capacity is not None else None
                done, _ = wait(running, timeout=poll, return_when=FIRST_COMPLETED)
                for future in done:
                    node = running.pop(future)
                    in_flight[node.provider] -= 1
                    if self.capacity is not None:
                        self.capacity.release(node.provider)
                    try:
                        built = future.result()
                    except ShotmakeError as exc:
                        result.failed.append((node, exc))
                        self.reporter.node_failed(node, exc)
                        blocked |= plan.dependents(node.id)
                        if not self.keep_going:
                            halted = True
                            self._stop.set()
                        continue
                    except Exception as exc:
                        error = InternalError(f"internal error: {type(exc).__name__}: {exc}", node=node.id)
                        error.__cause__ = exc  # `--debug` prints its traceback
                        result.failed.append((node, error))
                        self.reporter.node_failed(node, error)
                        blocked |= plan.dependents(node.id)
                        halted = halted or not self.keep_going
                        continue
                    planned = plan.node(node.id)
                    if built.node.key != planned.key:
                        self._keys[planned.key] = built.node.key
                        self._routed[node.id] = built.node
                    self._artifacts[node.id] = built.artifact
                    if built.cached:
                        result.cached.append(built.node)
                    else:
                        result.rendered.append(built.node)
                    result.cost_usd += built.cost
                    self.reporter.node_finished(built.node, built.seconds, built.cost)
                    for nid, deps in waiting.items():
                        if node.id in deps:
                            deps.discard(node.id)
                            if not deps and nid not in blocked:
                                ready.append(nid)
                ready.sort(key=plan.order.index)

        finished = {n.id for n in result.rendered} | {n.id for n, _ in result.failed} | {n.id for n in result.cached}
        result.skipped = [plan.node(nid) for nid in plan.order if nid in waiting and nid not in finished]
        result.output = self._artifacts.get(plan.final.id)
        result.artifacts = dict(self._artifacts)
        result.routed = dict(self._routed)
        result.seconds = self.clock() - started
        self.reporter.build_finished(result)
        return result

    def _key_of(self, nid: str) -> str:
        """The key node ``nid`` was actually built under in this build."""
        key = self.plan.node(nid).key
        return self._keys.get(key, key)

    def _verify_used(self, stale: Mapping[str, Stale], result: BuildResult) -> dict[str, Stale]:
        """Digest-check the cached objects this build will read; a corrupt one is evicted and built again.

        Read means: an input of a node to build, or an output the CLI must copy into place (one
        ``in_place`` does not vouch for). Nothing else is read: a null build hashes nothing.
        """
        plan, stale = self.plan, dict(stale)
        used = [n.id for n in plan.deliverables
                if n.id not in stale and not self.in_place(n, self._artifacts[n.id])]
        used += [dep for nid in stale for dep in plan.node(nid).inputs]
        checked: set[str] = set()
        while used:
            nid = used.pop()
            if nid in stale or nid in checked:
                continue
            checked.add(nid)
            node = plan.node(nid)
            if self.cache.verify(self._artifacts[nid], nid):
                continue
            del self._artifacts[nid]
            result.cached.remove(node)
            stale[nid] = Stale(node, ("its cached object was corrupt (evicted)",))
            used += node.inputs  # building it again reads its inputs
        return {nid: stale[nid] for nid in plan.order if nid in stale}

    # -- one node -----------------------------------------------------------------------------
    def _build_node(self, node: Node) -> _Built:
        if self.capacity is None:
            return self._build_node_now(node)
        with self.capacity.building(node.key):  # another episode of the batch may be building this key
            if (hit := self.cache.lookup(node.key)) is not None:
                return _Built(node, hit, 0.0, 0.0, cached=True)
            return self._build_node_now(node)

    def _build_node_now(self, node: Node) -> _Built:
        started = self.clock()
        if node.key != self.plan.node(node.id).key and (hit := self.cache.lookup(node.key)) is not None:
            return _Built(node, hit, 0.0, 0.0, cached=True)  # downstream of a fallback, built before
        if node.kind in RENDERED and (found := self._recover(node)) is not None:
            return _Built(node, found, 0.0, 0.0, cached=True)
        if self.remote is not None and (fetched := self.remote.fetch_for(node.key, self.cache, node.id)) is not None:
            self.reporter.node_progress(node, None, "taken from the remote cache")
            return _Built(node, fetched, self.clock() - started, 0.0, cached=True)  # paid for by a teammate
        temp = self.cache.temp_path(node.extension)
        try:
            if node.kind in RENDERED:
                rendered = self._render(node, temp)
                if rendered.artifact is not None:
                    return _Built(rendered.node, rendered.artifact, 0.0, 0.0, cached=True)
                node, meta, cost = rendered.node, dict(rendered.meta), rendered.cost
            else:
                meta, cost = self._assemble(node, temp), 0.0
            meta = redact_data({**meta, "node": node.id, "kind": node.kind, "provider": node.provider,
                                "episode": self.plan.episode.name, "cost_usd": round(cost, 4),
                                "elapsed": round(self.clock() - started, 3)})
            artifact = self.cache.store(node.key, temp, meta)
        finally:
            temp.unlink(missing_ok=True)
        if self.remote is not None:
            self.remote.publish(node.key, artifact)
        self.cache.record_build(build_scope(self.plan.episode), node.id, node.key, node.manifest)
        self.cache.record_manifest(build_scope(self.plan.episode), node.id, node.key, node.manifest)
        if self.journal is not None and self.journal.get(node.key) is not None:
            self.journal.downloaded(node.key, self.cache.entry_of(artifact))  # the index can be rebuilt from it
        return _Built(node, artifact, self.clock() - started, cost)

    def _recover(self, node: Node) -> Artifact | None:
        """A render an earlier build downloaded but the cache index lost: found again by its digest."""
        record = self.journal.get(node.key) if self.journal is not None else None
        entry = record.index_entry() if record is not None and record.downloaded else None
        if entry is None:
            return None
        found = self.cache.adopt(node.key, entry, node.id)
        if found is not None:
            self.reporter.node_progress(node, None, f"found job {record.job_id if record else ''}'s render by its "
                                                    "digest (the cache index had lost it)")
        return found

    def _assemble(self, node: Node, dest: Path) -> dict[str, Any]:
        inputs = [self._artifacts[nid] for nid in pieces(self.plan, node.id)]
        from . import assemble  # ffmpeg and its helpers: a null build never assembles (~70 ms of imports)

        return assemble.run_assembly(node, inputs, dest)

    def request_for(self, node: Node) -> RenderRequest:
        """Build the provider request for a clip or sheet node from its manifest and inputs."""
        m = node.manifest
        by_key = {self._key_of(nid): nid for nid in node.inputs}
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
                # Only the bytes the key holds may be sent: a file edited since planning stops here.
                if file_digest(path) != ref:
                    raise MediaError(f"{files[ref]} changed since the build was planned; run the build again",
                                     node=node.id)
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

    # -- routes ---------------------------------------------------------------------------------
    def _render(self, node: Node, dest: Path) -> _Rendered:
        """Render on the node's route, or on its fallbacks while routes are unavailable."""
        targets = [node] + [reroute(node, r, self.routes) for r in fallbacks_for(node, self.fallbacks, self.routes)]
        if self.journal is not None:
            # A job an earlier run started, on whichever route, is finished there: never paid twice.
            for target in targets:
                record = self.journal.get(target.key)
                if record is not None and (record.resumable or record.uncertain or record.downloaded):
                    targets = [target]
                    break
        problems: list[str] = []
        for target in targets:
            if problems:
                self.reporter.node_progress(node, None, f"{problems[-1]}; trying {target.provider}")
                hit = self.cache.lookup(target.key)
                if hit is not None:  # rendered on this fallback by an earlier build
                    return _Rendered(target, artifact=hit)
            try:
                return self._render_on(target, dest)
            except ProviderUnavailable as exc:  # route-wide (errors.py); a 404 about one job is a TerminalError
                if exc.uncertain or len(targets) == 1 or self._job_exists(target):
                    raise  # a job that was (or may have been) created is never replaced by another route's render
                problems.append(f"{target.provider} unavailable: {exc.message}")
        raise ProviderUnavailable("no route could render it: " + "; ".join(problems),
                                  node=node.id, provider=node.provider)

    def _job_exists(self, node: Node) -> bool:
        """Whether the journal holds a job id for the node (in any phase) or an uncertain create.

        A create about to be sent resets the id (``Journal.intent``), so a create refused in this
        build leaves none, while a job whose poll or download failed keeps its id.
        """
        record = self.journal.get(node.key) if self.journal is not None else None
        return record is not None and (record.job_id is not None or record.uncertain)

    def _render_on(self, node: Node, dest: Path) -> _Rendered:
        try:
            provider = self.registry.get(node.provider)
        except ProviderUnavailable as exc:
            raise ProviderUnavailable(exc.message, node=node.id, provider=node.provider) from exc
        request = self.request_for(node)
        if provider.remote:
            meta, cost = self._render_remote(node, provider, request, dest)
            return _Rendered(node, meta, cost)
        paid = _paid(node, self.routes)
        reserved = self._reserve(node) if paid else 0.0
        charged = 0.0
        try:
            meta = self._call(node, provider.name, lambda: provider.render(
                request, dest, lambda f: self.reporter.node_progress(node, f)), create=paid)
            charged = provider.estimate_cost(request)
        finally:
            self.spend.settle(reserved, charged)
        return _Rendered(node, meta, charged)

    def _reserve(self, node: Node) -> float:
        """Hold the node's estimate against ``--budget`` before paying, or refuse the job."""
        amount = estimate(node, self.prices, self.routes)
        if not self.spend.reserve(amount):  # --budget, or the daily cap (spend.py) words its own refusal
            raise BudgetExceeded(self.spend.refusal(amount, node.kind), node=node.id, provider=node.provider)
        return amount

    # -- provider calls ---------------------------------------------------------------------------
    def _call(self, node: Node, route: str, call: Callable[[], Any], *, create: bool = False) -> Any:
        """Make one provider call with retries; ``create`` calls pass the breaker and request window.

        A transient error retries with jittered backoff (the server's ``retry_after`` a floor)
        while attempts and the build's retry budget last. If any attempt of a create may have
        reached the server, the error that ends the loop is marked ``uncertain``.
        """
        health = self.health
        attempt = 0
        uncertain = False
        while True:
            if create:
                try:
                    waited = health.admit(route)
                except CircuitOpen as exc:
                    raise CircuitOpen(exc.message, node=node.id, provider=route, uncertain=uncertain) from exc
                if waited > 0:
                    self.reporter.node_progress(node, None, f"waited {waited:.1f}s for {route}'s requests-per-minute"
                                                            " window")
            try:
                result = call()
            except RetryableError as exc:
                health.failure(route, exc.message)
                uncertain = uncertain or exc.uncertain
                attempt += 1
                if attempt >= health.max_attempts:
                    raise RetryableError(f"{exc.message} (gave up after {attempt} attempts)", node=node.id,
                                         provider=route, retry_after=exc.retry_after, uncertain=uncertain) from exc
                if self._stop.is_set():
                    raise
                if not health.retries.take():
                    raise RetryableError(
                        f"{exc.message}; not retried: this build's retry budget ({health.retries.total} retries) "
                        "is spent (raise [retry] budget in shotmake.toml, or build again later)",
                        node=node.id, provider=route, retry_after=exc.retry_after, uncertain=uncertain) from exc
                delay = health.delay(attempt, exc.retry_after)
                self.reporter.node_progress(
                    node, None, f"retry {attempt}/{health.max_attempts - 1} in {delay:.1f}s: {redact(exc.message)}")
                self.sleep(delay)
                continue
            except ProviderUnavailable as exc:
                health.trip(route, exc.message, for_build=isinstance(exc, RouteGone))
                exc.uncertain = exc.uncertain or uncertain
                raise
            except ProviderError as exc:  # the provider answered (a refusal): it is healthy
                health.success(route)
                exc.uncertain = exc.uncertain or uncertain
                raise
            except BaseException:
                health.release(route)
                raise
            health.success(route)
            return result

    def _render_remote(self, node: Node, provider: Provider, request: RenderRequest,
                       dest: Path) -> tuple[dict[str, Any], float]:
        """Drive a remote job through the journal; return its metadata and actual cost.

        Spend: a job nobody bills (refused at create, failed, RAI-filtered) books $0; a job that
        may still bill (uncertain create, deadline, stall, stop) books its estimate; a finished job
        whose download metadata carries the actual charge (``cost_usd``) books that.
        """
        journal = self.journal
        if journal is None:
            raise RunError("remote providers need a job journal", node=node.id, provider=provider.name)
        cost = provider.estimate_cost(request)
        record = journal.get(node.key)
        job_id: str | None = None
        if record is not None and record.rejected and not self.policy.resubmit_rejected:
            raise TerminalError(
                f"{record.error} (refused in an earlier build, so not sent again: the same request gets the same "
                "answer; change the shot, or rerun with --resubmit-rejected to try it again)",
                node=node.id, provider=provider.name)
        lost = record is not None and record.downloaded and not self.policy.resubmit_lost
        if lost:  # paid for before, its render missing from the cache: only the same job may give it back
            assert record is not None
            if not valid_job_id(record.job_id):
                raise self._lost(node, provider.name, record, "its job id was not recorded")
            job_id, cost = record.job_id, 0.0
            self.reporter.node_progress(node, None, f"downloading job {job_id} again: its render is missing from "
                                                    "the cache")
        elif record is not None and record.resumable:
            job_id = record.job_id
            self.reporter.node_progress(node, record.progress, f"resuming job {job_id}")
        elif record is not None and record.uncertain:
            # A transient error while listing jobs is retried like any call; giving up keeps the intent.
            job_id = self._call(node, provider.name, lambda: provider.reconcile(request, record.created - 60))
            if job_id is not None and not valid_job_id(job_id):
                job_id = None  # an id shotmake cannot use is as good as none
            if job_id is not None:
                journal.submitted(node.key, job_id, cost)
                self.reporter.node_progress(node, None, f"reconciled with job {job_id}")
            elif not self.policy.resubmit_uncertain:
                raise RunError(
                    "an earlier run may have created this job but did not record its id; "
                    "check the provider's console, then rerun with --resubmit-uncertain to create it again",
                    node=node.id, provider=provider.name,
                )
        reserved = 0.0
        if job_id is None:
            reserved = self._reserve(node)  # before the intent: a refused job leaves no trace
            journal.intent(node.key, node.id, self.plan.episode.name, provider.name)
            try:
                job_id = self._call(node, provider.name, lambda: provider.submit(request), create=True)
            except ProviderError as exc:
                if not exc.uncertain:  # the server answered: nothing was created
                    self._record_failure(node, exc)
                self.spend.settle(reserved, cost if exc.uncertain else 0.0)
                raise  # an uncertain create keeps its intent: the next run reconciles or refuses
            except Exception as exc:
                # Adapters translate every network failure and every answer into ProviderError; anything
                # else was raised on this machine while the request was being built (a key that is not
                # ASCII, say): no byte left, no job exists, so no intent is left to block the next build.
                journal.forget(node.key)
                self.spend.settle(reserved, 0.0)
                raise RunError(f"the create request could not be sent ({type(exc).__name__}: {redact(str(exc))}); "
                               "nothing reached the provider: fix the cause and build again",
                               node=node.id, provider=provider.name) from exc
            except BaseException:
                self.spend.settle(reserved, cost)  # interrupted: unknown, assume it bills
                raise
            if not valid_job_id(job_id):  # checked at the boundary: never stored, printed or put in a URL
                self.spend.settle(reserved, cost)
                raise TerminalError(
                    f"{provider.name} answered the create with a job id shotmake cannot use ({str(job_id)[:80]!r}); "
                    "it was not stored. The job may exist and bill: check the provider's console, then rerun with "
                    "--resubmit-uncertain to create it again", node=node.id, provider=provider.name, uncertain=True)
            journal.submitted(node.key, job_id, cost)
        charged = cost
        try:
            try:
                status = self._wait(node, provider, job_id, record=not lost)
            except ProviderError as exc:
                after = journal.get(node.key)
                if after is not None and after.phase in ("failed", "rejected"):
                    charged = 0.0  # the job failed or was filtered: not billed
                if lost and record is not None and not isinstance(exc, RetryableError):
                    raise self._lost(node, provider.name, record, exc.message) from exc
                raise
            try:
                meta = self._call(node, provider.name, lambda: self._download(node, provider, request, job_id,
                                                                              status, dest))
            except ProviderError as exc:
                if lost and record is not None and not isinstance(exc, RetryableError):
                    raise self._lost(node, provider.name, record, exc.message) from exc
                if not isinstance(exc, RetryableError):  # e.g. expired: the output is gone for good
                    self._record_failure(node, exc)
                raise
            billed = meta.get("cost_usd")
            if isinstance(billed, (int, float)) and not isinstance(billed, bool) and billed >= 0:
                charged = cost = float(billed)  # the vendor's own count (Ark: usage tokens), not our estimate
        finally:
            self.spend.settle(reserved, charged)
        return {**meta, "job_id": job_id}, cost

    def _download(self, node: Node, provider: Provider, request: RenderRequest, job_id: str, status: JobStatus,
                  dest: Path) -> dict[str, Any]:
        """Download the job's output and check it is the media asked for, before the cache keeps it.

        A wrong body is retryable and not journalled as a failure: the job is fine, so this build
        fetches it again and a later build resumes the download rather than paying for a new job.
        """
        meta = provider.download(job_id, dest, status)
        from . import media, mp4info, verify  # only builds that download pay these imports

        def length_and_video(path: Path) -> tuple[float | None, bool, str]:
            facts = mp4info.read(path)  # the box headers answer for plain MP4s, without an ffmpeg process
            if facts is not None:
                return facts.seconds, facts.video, "mp4"
            info = media.probe(path)
            return info.duration, info.video is not None, info.format_name

        try:
            if request.kind == "sheet":
                problems = verify.image_problems(media.probe(dest))
            else:
                source = length_and_video(request.extends.path)[0] if request.extends is not None else None
                route = self.routes.get(node.provider)
                expected = verify.expected_clip_seconds(request.duration, source,
                                                        route.extension_step if route else 0.0)
                seconds, video, container = length_and_video(dest)
                problems = verify.clip_problems(seconds, video, expected, container)
        except MediaError as exc:
            problems = [f"it is not readable media ({exc.message.splitlines()[0]})"]
        if problems:
            raise RetryableError(f"the download of job {job_id} is not the {request.kind} asked for: "
                                 + "; ".join(problems) + " (not cached; the job is kept for the next build)",
                                 node=node.id, provider=provider.name)
        return meta

    def _lost(self, node: Node, provider: str, record: JobRecord, why: str) -> TerminalError:
        """The error for a paid render neither the cache nor the provider still has."""
        return TerminalError(
            f"job {record.job_id or '?'} was downloaded by an earlier build, but its render is missing from the cache "
            f"and cannot be fetched again ({why}); not created again, so as not to pay twice. Restore the cache "
            "(`shotmake reindex` finds renders still in it), or rerun with --resubmit-lost to pay for a new job",
            node=node.id, provider=provider)

    def _record_failure(self, node: Node, error: ProviderError) -> None:
        """Journal a job that ended: ``rejected`` for a refusal for good, else ``failed`` (retried next build)."""
        assert self.journal is not None
        text = redact(error.message)
        if isinstance(error, TerminalError) and not isinstance(error, ProviderUnavailable):
            self.journal.rejected(node.key, text)
        else:
            self.journal.failed(node.key, text)

    def _wait(self, node: Node, provider: Provider, job_id: str, record: bool = True) -> JobStatus:
        """Poll until the job ends, at the server's pace (``poll_after``) or ``poll_interval``.

        ``record``: journal a failed job (not for a job downloaded before, which stays "downloaded").
        """
        assert self.journal is not None
        started = self.clock()
        last_change = started
        last_progress: float | None = None
        while True:
            try:
                status: JobStatus = self._call(node, provider.name, lambda: provider.poll(job_id))
            except JobGone as exc:  # polling it next build gets the same 404 (errors.py): fail for good
                if record:
                    self._record_failure(node, exc)
                raise
            if status.state == "succeeded":
                return status
            if status.state == "failed":
                error = status.error or ProviderError("job failed", node=node.id, provider=provider.name)
                if record:
                    self._record_failure(node, error)
                raise error
            now = self.clock()
            if status.progress != last_progress:
                last_progress, last_change = status.progress, now
                if record:
                    self.journal.progress(node.key, status.progress)
                self.reporter.node_progress(node, status.progress)
            if now - started > self.policy.deadline:
                raise RunError(f"job {job_id} passed its deadline of {self.policy.deadline:.0f}s; "
                               "it stays in the journal and the next build resumes it",
                               node=node.id, provider=provider.name)
            if now - last_change > self.policy.stall_timeout:
                stuck = "unknown progress" if last_progress is None else f"{last_progress:.0%}"
                raise RunError(f"job {job_id} stalled at {stuck} for {self.policy.stall_timeout:.0f}s; "
                               "the next build resumes polling it", node=node.id, provider=provider.name)
            if self._stop.is_set():
                raise RunError(f"stopped while job {job_id} was running; the next build resumes it",
                               node=node.id, provider=provider.name)
            delay = status.poll_after if status.poll_after is not None else self.policy.poll_interval
            # The floor keeps a server's "poll again now" from spinning; a configured interval wins.
            self.sleep(max(min(self.policy.min_poll_interval, self.policy.poll_interval), delay))


def _paid(node: Node, routes: Mapping[str, Route]) -> bool:
    """True when rendering ``node`` calls a vendor (and may cost money and quota)."""
    route = routes.get(node.provider)
    return route is not None and route.protocol != "local"

