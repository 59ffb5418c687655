"""The executor's decisions: retries, budgets, breakers, request windows, fallbacks, journal, secrets.

Pure scheduling logic runs against tiny in-test providers and a hand-made plan (ffmpeg only makes
the cached sample clip a remote "download" writes, since the executor probes downloads);
anything HTTP runs against the loopback fakes. Clock and sleep are injected: nothing sleeps.
"""

from __future__ import annotations

import io
import json
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import pytest
from click.testing import Result

from shotmake.cache import Cache
from shotmake.costs import SpendLimit
from shotmake.errors import (
    BudgetExceeded,
    ProviderError,
    ProviderUnavailable,
    RetryableError,
    TerminalError,
)
from shotmake.execute import BuildResult, Executor, RemotePolicy
from shotmake.hashing import node_key
from shotmake.health import RETRY_AFTER_MAX, Backoff, CircuitBreaker, CircuitOpen, Health, RequestWindow
from shotmake.journal import Journal
from shotmake.model import Node
from shotmake.plan import Plan, Stale
from shotmake.providers.base import JobStatus, Provider, ProviderRegistry, RenderRequest
from shotmake.providers.catalog import ROUTES
from shotmake.providers.registry import EnvironmentRegistry
from shotmake.report import ConsoleReporter
from shotmake.routing import reroute
from shotmake.spec import episode_from_text
from tests.fakes.google_server import FakeGemini, http_error, rai_filtered, sample_mp4, stall
from tests.fakes.harness import with_legacy_routes_live
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.openai_server import Fault as OpenAIFault

Run = Callable[..., Result]
SECRET = "sk-test-NEVER-PRINT-0123456789abcdef"


# -- a fake clock, and providers that follow a script --------------------------------------------
class Clock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


class Scripted(Provider):
    """A synchronous provider answering from ``script`` (exceptions to raise, in order), then ok."""

    def __init__(self, name: str, script: list[Exception] | None = None, *, always: Exception | None = None,
                 meta: dict[str, Any] | None = None) -> None:
        self.name = name
        self.script = list(script or [])
        self.always = always
        self.meta = meta or {}
        self.calls: list[str] = []

    def estimate_cost(self, request: RenderRequest) -> float:
        return ROUTES[self.name].price_for(request.resolution) * request.duration

    def render(self, request: RenderRequest, dest: Path, progress: Any = None) -> dict[str, Any]:
        self.calls.append(request.node_id)
        if self.always is not None:
            raise self.always
        if self.script:
            raise self.script.pop(0)
        dest.write_bytes(f"{self.name}:{request.key}".encode())
        return dict(self.meta)


class Remote(Provider):
    """A remote provider: ``submit`` follows ``creates`` (exceptions, or None for a job), polls follow ``polls``."""

    remote = True

    def __init__(self, name: str = "veo-3.1", creates: Sequence[Exception | None] | None = None,
                 polls: list[JobStatus] | None = None) -> None:
        self.name = name
        self.creates = list(creates or [])
        self.polls = list(polls or [])
        self.submitted: list[str] = []
        self.seconds: dict[str, float] = {}

    def estimate_cost(self, request: RenderRequest) -> float:
        return 0.4 * request.duration

    def submit(self, request: RenderRequest) -> str:
        outcome = self.creates.pop(0) if self.creates else None
        if outcome is not None:
            raise outcome
        self.submitted.append(request.node_id)
        job_id = f"job-{len(self.submitted)}"
        self.seconds[job_id] = request.duration
        return job_id

    def poll(self, job_id: str) -> JobStatus:
        return self.polls.pop(0) if self.polls else JobStatus("succeeded")

    def download(self, job_id: str, dest: Path, status: JobStatus) -> dict[str, Any]:
        # Real media of the asked length: the executor probes downloads before it stores them.
        dest.write_bytes(sample_mp4(self.seconds.get(job_id, 4.0)))
        return {}


class Registry(ProviderRegistry):
    def __init__(self, *providers: Provider, missing: tuple[str, ...] = ()) -> None:
        self.providers = {p.name: p for p in providers}
        self.missing = missing

    def get(self, name: str) -> Provider:
        if name in self.missing or name not in self.providers:
            raise ProviderUnavailable(f"{name.upper()}_KEY is not set", provider=name)
        return self.providers[name]

    def names(self) -> list[str]:
        return list(self.providers)


class Events:
    """A reporter that records notes and failures."""

    def __init__(self) -> None:
        self.notes: list[str] = []

    def build_started(self, *args: Any) -> None: ...
    def node_started(self, node: Node) -> None: ...
    def node_finished(self, *args: Any) -> None: ...
    def node_failed(self, *args: Any) -> None: ...
    def build_finished(self, result: BuildResult) -> None: ...

    def node_progress(self, node: Node, fraction: float | None, note: str = "") -> None:
        if note:
            self.notes.append(f"{node.id}: {note}")


# -- a hand-made plan: clips on chosen routes, and a free final node ---------------------------------
def hand_plan(tmp: Path, routes: dict[str, str], after: dict[str, str] | None = None,
              duration: float = 4.0) -> Plan:
    """Clips ``clip:<id>`` on ``routes``; ``after`` makes a clip take another's output as first frame."""
    spec = "version: 1\nepisode: t\nshots:\n  - id: a\n    prompt: x\nsequences:\n  - id: s\n    shots: [a]\n"
    episode = episode_from_text(spec, str(tmp / "t.yaml"))
    graph = nx.DiGraph()
    keys: dict[str, str] = {}
    for sid, route in routes.items():
        manifest: dict[str, Any] = {"kind": "clip", "provider": route, "model": ROUTES[route].model,
                                    "prompt": f"shot {sid}", "duration": duration, "resolution": "720p",
                                    "width": 1280, "height": 720}
        inputs: tuple[str, ...] = ()
        if after and sid in after:
            manifest["first_frame"] = keys[after[sid]]
            inputs = (f"clip:{after[sid]}",)
        keys[sid] = node_key(manifest)
        graph.add_node(f"clip:{sid}", node=Node(id=f"clip:{sid}", kind="clip", key=keys[sid], provider=route,
                                                manifest=manifest, inputs=inputs))
        for dep in inputs:
            graph.add_edge(dep, f"clip:{sid}")
    final = {"kind": "clip", "provider": "local", "model": "m", "prompt": "final", "duration": 0.5, "width": 64,
             "height": 36, "fps": 12, "resolution": "480p", "audio": False}
    graph.add_node("episode:t", node=Node(id="episode:t", kind="clip", key=node_key(final), provider="local",
                                          manifest=final))
    return Plan(episode=episode, graph=graph, order=tuple(nx.topological_sort(graph)))


def stale_of(plan: Plan, cache: Cache | None = None) -> dict[str, Stale]:
    """Every node, or (with ``cache``) those not cached, as the planner would say."""
    return {nid: Stale(plan.node(nid), ("never built",)) for nid in plan.order
            if cache is None or not cache.contains(plan.node(nid).key)}


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Cache]:
    store = Cache(tmp_path / "cache")
    yield store
    store.close()


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    jobs = Journal(tmp_path / "journal.sqlite")
    yield jobs
    jobs.close()


def executor(plan: Plan, cache: Cache, registry: ProviderRegistry, clock: Clock, **options: Any) -> Executor:
    health = options.pop("health", None) or Health(clock=clock, sleep=clock.sleep, draw=lambda: 0.5)
    options.setdefault("jobs", 1)
    options.setdefault("keep_going", True)
    return Executor(plan, cache, registry, options.pop("reporter", Events()), health=health, clock=clock,
                    sleep=clock.sleep, **options)


# -- health, in isolation --------------------------------------------------------------------------
def test_backoff_is_full_jitter_within_bounds_and_retry_after_is_a_floor() -> None:
    backoff = Backoff(base=2.0, cap=30.0)
    assert [backoff.ceiling(n) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    for attempt in range(1, 8):
        for draw in (0.0, 0.25, 0.999):
            assert 0.0 <= backoff.delay(attempt, None, draw) <= backoff.ceiling(attempt)
    assert backoff.delay(3, None, 0.5) == 4.0
    assert backoff.delay(1, 7.0, 0.5) == 7.0  # the server's hint wins over a shorter jittered wait
    assert backoff.delay(5, 3.0, 0.5) == 15.0  # ...and never shortens our own backoff
    assert backoff.delay(1, 86400.0, 0.5) == RETRY_AFTER_MAX


def test_a_route_whose_model_is_gone_stays_shut_for_the_build() -> None:
    clock = Clock()
    breaker = CircuitBreaker("veo-3.1", failures=3, cooldown=60.0, clock=clock)
    breaker.trip("HTTP 404: models/veo-3.1-generate-preview is no longer available", for_build=True)
    clock.now += 3600  # long past the cool-down: no probe
    breaker.success()  # a poll of a job created before still answers: the model stays gone
    with pytest.raises(CircuitOpen, match="no longer available; no new jobs go to veo-3.1 in this build"):
        breaker.admit()


def test_breaker_opens_fails_fast_then_one_half_open_probe_decides() -> None:
    clock = Clock()
    breaker = CircuitBreaker("veo-3.1", failures=3, cooldown=60.0, clock=clock)
    for _ in range(2):
        breaker.admit()
        breaker.failure("HTTP 503")
    breaker.admit()
    breaker.success()  # a success resets the count: failures must be consecutive
    for _ in range(3):
        breaker.admit()
        breaker.failure("HTTP 503")
    assert str(breaker.state) == "open"
    with pytest.raises(CircuitOpen, match=r"3 failures in a row, last: HTTP 503; no new jobs go to veo-3.1 for 60s"):
        breaker.admit()
    clock.now += 61
    breaker.admit()  # the probe
    with pytest.raises(CircuitOpen, match="probe"):
        breaker.admit()  # only one at a time
    breaker.failure("HTTP 503")  # the probe failed: open again, for a fresh cool-down
    with pytest.raises(CircuitOpen):
        breaker.admit()
    clock.now += 61
    breaker.admit()
    breaker.success()
    assert str(breaker.state) == "closed"
    breaker.admit()
    breaker.admit()


def test_request_window_allows_n_per_sliding_minute() -> None:
    clock = Clock()
    window = RequestWindow(2, clock=clock, sleep=clock.sleep)
    assert window.acquire() == 0.0
    clock.now += 10
    assert window.acquire() == 0.0
    assert window.acquire() == 50.0  # the first slot frees 60 s after it was taken
    assert clock.now == 1060.0
    assert window.acquire() == 10.0
    health = Health(requests_per_minute={"sora-2": 1}, clock=clock, sleep=clock.sleep)
    assert health.admit("sora-2") == 0.0 and health.admit("sora-2") == 60.0
    assert health.admit("veo-3.1") == 0.0  # no quota configured: never waits


# -- retries through the executor -----------------------------------------------------------------
def test_retry_after_is_honoured_then_backoff_is_jittered(tmp_path: Path, cache: Cache) -> None:
    clock = Clock()
    veo = Scripted("veo-3.1", [RetryableError("429", retry_after=7.0), RetryableError("HTTP 503")])
    plan = hand_plan(tmp_path, {"a": "veo-3.1"})
    result = executor(plan, cache, Registry(veo, Scripted("local")), clock).run(stale_of(plan))
    assert result.ok and veo.calls == ["clip:a"] * 3
    assert clock.sleeps == [7.0, 2.0]  # retry 1: the server's 7 s; retry 2: 4 s ceiling x draw 0.5


def test_the_retry_budget_is_shared_by_the_build_and_its_end_is_explained(tmp_path: Path, cache: Cache) -> None:
    clock = Clock()
    veo = Scripted("veo-3.1", always=RetryableError("HTTP 500: internal"))
    plan = hand_plan(tmp_path, {"a": "veo-3.1", "b": "veo-3.1"})
    health = Health(max_attempts=10, retry_budget=3, breaker_failures=100, clock=clock, sleep=clock.sleep)
    result = executor(plan, cache, Registry(veo, Scripted("local")), clock, health=health).run(stale_of(plan))
    failed = {node.id: str(error) for node, error in result.failed}
    assert set(failed) == {"clip:a", "clip:b"}
    assert len(veo.calls) == 2 + 3  # one first attempt each, three retries between them
    assert all("retry budget (3 retries) is spent" in text for text in failed.values())
    health = Health(max_attempts=2, retry_budget=50, breaker_failures=100, clock=clock, sleep=clock.sleep)
    plan = hand_plan(tmp_path, {"c": "veo-3.1"})
    result = executor(plan, cache, Registry(veo, Scripted("local")), clock, health=health).run(stale_of(plan))
    assert "gave up after 2 attempts" in str(result.failed[0][1])


# -- circuit breaker and fallbacks ------------------------------------------------------------------
def test_an_open_circuit_sends_nodes_to_the_fallback_without_calling_the_provider(
        tmp_path: Path, cache: Cache) -> None:
    clock = Clock()
    veo = Scripted("veo-3.1", always=RetryableError("HTTP 503: overloaded"))
    fast = Scripted("veo-3.1-fast")
    plan = hand_plan(tmp_path, {"a": "veo-3.1", "b": "veo-3.1"})
    health = Health(max_attempts=5, breaker_failures=2, breaker_cooldown=600, clock=clock, sleep=clock.sleep,
                    draw=lambda: 0.5)
    events = Events()
    result = executor(plan, cache, Registry(veo, fast, Scripted("local")), clock, health=health, reporter=events,
                      fallbacks={"veo-3.1": ["veo-3.1-fast"]}).run(stale_of(plan))
    assert result.ok and veo.calls == ["clip:a", "clip:a"]  # two failures opened it; b never went there
    assert fast.calls == ["clip:a", "clip:b"]
    for sid in ("a", "b"):
        built = result.routed[f"clip:{sid}"]
        assert built.provider == "veo-3.1-fast" and built.key == reroute(plan.node(f"clip:{sid}"), "veo-3.1-fast").key
        artifact = cache.lookup(built.key)
        assert artifact is not None and artifact.meta["provider"] == "veo-3.1-fast"
        assert cache.lookup(plan.node(f"clip:{sid}").key) is None  # the primary's key holds nothing it did not make
    assert any("clip:b: veo-3.1 unavailable: circuit open" in note for note in events.notes)

    # Without a fallback the node fails at once, naming the open circuit.
    plan = hand_plan(tmp_path, {"c": "veo-3.1"})
    result = executor(plan, cache, Registry(veo, Scripted("local")), clock, health=health).run(stale_of(plan))
    assert "circuit open: 2 failures in a row" in str(result.failed[0][1]) and veo.calls.count("clip:c") == 0


def test_downstream_of_a_fallback_is_keyed_by_what_it_really_got(tmp_path: Path, cache: Cache) -> None:
    clock = Clock()
    plan = hand_plan(tmp_path, {"a": "sora-2", "b": "local"}, after={"b": "a"})
    registry = Registry(Scripted("veo-3.1-fast"), Scripted("local"), missing=("sora-2",))
    result = executor(plan, cache, registry, clock, fallbacks={"sora-2": ["veo-3.1", "veo-3.1-fast"]}).run(
        stale_of(plan))
    assert result.ok
    a, b = result.routed["clip:a"], result.routed["clip:b"]
    assert a.provider == "veo-3.1-fast" and b.provider == "local"
    assert b.manifest["first_frame"] == a.key != plan.node("clip:a").key
    assert b.key != plan.node("clip:b").key and cache.lookup(b.key) is not None
    # The next build with the same outage pays for nothing: both keys are cached.
    again = executor(plan, cache, registry, clock, fallbacks={"sora-2": ["veo-3.1", "veo-3.1-fast"]}).run(
        stale_of(plan))
    assert {n.id for n in again.cached} >= {"clip:a", "clip:b"} and again.rendered == [n for n in again.rendered
                                                                                        if n.id == "episode:t"]
    assert registry.providers["veo-3.1-fast"].calls == ["clip:a"]  # type: ignore[attr-defined]


# -- money ------------------------------------------------------------------------------------------
def test_budget_stops_new_paid_jobs_and_keeps_finished_ones(tmp_path: Path, cache: Cache) -> None:
    clock = Clock()
    fast = Scripted("veo-3.1-fast")  # $0.10/s x 4 s = $0.40 per clip
    plan = hand_plan(tmp_path, {"a": "veo-3.1-fast", "b": "veo-3.1-fast", "c": "veo-3.1-fast"})
    spend = SpendLimit(1.0)
    result = executor(plan, cache, Registry(fast, Scripted("local")), clock, spend=spend).run(stale_of(plan))
    assert [n.id for n in result.rendered] == ["clip:a", "clip:b", "episode:t"]
    ((node, error),) = result.failed
    assert node.id == "clip:c" and isinstance(error, BudgetExceeded)
    assert "$0.80 spent + $0.00 in flight + $0.40 for this clip would pass --budget $1.00" in str(error)
    assert fast.calls == ["clip:a", "clip:b"] and spend.spent == pytest.approx(0.8)
    assert result.cost_usd == pytest.approx(0.8)
    for sid in ("a", "b"):
        assert cache.lookup(plan.node(f"clip:{sid}").key).meta["cost_usd"] == 0.4  # type: ignore[union-attr]


def test_a_build_turns_the_cycle_collector_back_on(tmp_path: Path, cache: Cache) -> None:
    """The entry point starts with the collector off (start-up makes no cycles); a build may run for
    hours, holding HTTP clients and exceptions with cycles, so its executor turns it back on."""
    import gc

    clock = Clock()
    plan = hand_plan(tmp_path, {"a": "local"})
    gc.disable()
    try:
        executor(plan, cache, Registry(Scripted("local")), clock).run(stale_of(plan))
        assert gc.isenabled()
    finally:
        gc.enable()


# -- the journal protocol -------------------------------------------------------------------------
def test_polling_follows_the_server_and_never_spins(tmp_path: Path, cache: Cache, journal: Journal) -> None:
    clock = Clock()
    veo = Remote(polls=[JobStatus("running", 0.1, poll_after=0.0), JobStatus("running", 0.5, poll_after=3.0),
                        JobStatus("running", 0.5), JobStatus("succeeded", 1.0)])
    plan = hand_plan(tmp_path, {"a": "veo-3.1"})
    result = executor(plan, cache, Registry(veo, Scripted("local")), clock, journal=journal,
                      policy=RemotePolicy(poll_interval=10.0)).run(stale_of(plan))
    assert result.ok and clock.sleeps == [0.1, 3.0, 10.0]  # floor for "now", the server's pace, our default
    record = journal.get(plan.node("clip:a").key)
    assert record is not None and record.phase == "downloaded" and record.job_id == "job-1"


def test_uncertain_creates_keep_their_intent_and_definite_ones_do_not(
        tmp_path: Path, cache: Cache, journal: Journal) -> None:
    clock = Clock()
    plan = hand_plan(tmp_path, {"a": "veo-3.1", "b": "veo-3.1", "c": "veo-3.1"})
    veo = Remote(creates=[ProviderError("connection lost after sending", uncertain=True),
                          TerminalError("400 INVALID_ARGUMENT: bad aspect"),
                          RetryableError("429", retry_after=1.0)] + [RetryableError("429")] * 5)
    health = Health(max_attempts=3, breaker_failures=100, clock=clock, sleep=clock.sleep)
    result = executor(plan, cache, Registry(veo, Scripted("local")), clock, journal=journal,
                      health=health).run(stale_of(plan))
    assert len(result.failed) == 3 and veo.submitted == []
    phases = {sid: journal.get(plan.node(f"clip:{sid}").key).phase for sid in "abc"}  # type: ignore[union-attr]
    assert phases == {"a": "intent", "b": "rejected", "c": "failed"}

    # Next build: the uncertain one is refused, the rejected one is not sent again, the 429 one retries.
    again = executor(plan, cache, Registry(veo, Scripted("local")), clock, journal=journal,
                     health=Health(clock=clock, sleep=clock.sleep)).run(stale_of(plan))
    errors = {node.id: str(error) for node, error in again.failed}
    assert "--resubmit-uncertain" in errors["clip:a"]
    assert "400 INVALID_ARGUMENT: bad aspect (refused in an earlier build" in errors["clip:b"]
    assert veo.submitted == ["clip:c"]
    forced = executor(plan, cache, Registry(veo, Scripted("local")), clock, journal=journal,
                      policy=RemotePolicy(resubmit_uncertain=True, resubmit_rejected=True)).run(stale_of(plan, cache))
    assert forced.ok and veo.submitted == ["clip:c", "clip:a", "clip:b"]


def test_veo_spend_is_the_providers_actual_and_filtered_jobs_cost_nothing(
        tmp_path: Path, cache: Cache, journal: Journal) -> None:
    clock = Clock()
    with FakeGemini(api_key="AIza-test-execute-0123456789", polls_until_done=0) as fake:
        fake.faults.append(rai_filtered(["The input resembles a public figure."]))
        registry = EnvironmentRegistry(env={"GEMINI_API_KEY": fake.api_key, "GOOGLE_GEMINI_BASE_URL": fake.url})
        plan = hand_plan(tmp_path, {"a": "veo-3.1", "b": "veo-3.1"}, duration=8.0)
        spend = SpendLimit(10.0)
        try:
            result = executor(plan, cache, registry, clock, journal=journal, spend=spend).run(stale_of(plan))
        finally:
            registry.close()
        assert fake.creates == 2
    ((node, error),) = result.failed
    assert node.id == "clip:a" and "public figure" in str(error)
    assert spend.spent == pytest.approx(3.2) and spend.reserved == 0.0  # the filtered job is not charged
    meta = cache.lookup(plan.node("clip:b").key).meta  # type: ignore[union-attr]
    assert meta["cost_usd"] == 3.2 and meta["provider"] == "veo-3.1" and meta["episode"] == "t"


# -- secrets -----------------------------------------------------------------------------------------
def test_no_key_reaches_the_report_the_journal_or_the_metadata(
        tmp_path: Path, cache: Cache, journal: Journal, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    clock = Clock()
    plan = hand_plan(tmp_path, {"a": "veo-3.1", "b": "veo-3.1-fast"})
    leaky = Remote(creates=[TerminalError(f"401: invalid key {SECRET}")])
    stream = io.StringIO()
    result = executor(plan, cache, Registry(leaky, Scripted("veo-3.1-fast", meta={"echo": f"Bearer {SECRET}"}),
                                            Scripted("local")), clock, journal=journal,
                      reporter=ConsoleReporter(stream=stream)).run(stale_of(plan))
    assert len(result.failed) == 1
    record = journal.get(plan.node("clip:a").key)
    assert record is not None and record.error == "401: invalid key [redacted]"
    assert SECRET not in stream.getvalue() and "invalid key [redacted]" in stream.getvalue()
    assert cache.lookup(plan.node("clip:b").key).meta["echo"] == "Bearer [redacted]"  # type: ignore[union-attr]


# -- through the CLI, against the loopback fakes ------------------------------------------------------
SPEC = """\
version: 1
episode: keys
defaults: {{provider: {route}, resolution: 720p, duration: {duration}}}
shots:
  - id: sea
    prompt: A grey sea under rain clouds.
  - id: gull
    prompt: A gull over the harbour.
sequences:
  - id: all
    shots: [sea, gull]
delivery:
  format: {{resolution: 480p, fps: 12}}
"""


def write_project(root: Path, route: str, duration: int, config: str = "") -> None:
    (root / "keys.yaml").write_text(SPEC.format(route=route, duration=duration))
    # The fakes serve the retired Veo previews and Sora, as a gateway would: the project says so.
    (root / "shotmake.toml").write_text(with_legacy_routes_live(textwrap.dedent(config)))


def test_budget_below_the_estimate_refuses_and_submits_nothing(project: Path, run: Run,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    write_project(project, "veo-3.1-fast", 8, '[prices]\n"veo-3.1-fast" = { "720p" = 0.15 }\n')
    with FakeGemini(polls_until_done=0) as fake:
        monkeypatch.setenv("GEMINI_API_KEY", fake.api_key)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        plan = json.loads(run("plan", "keys.yaml", "--json").stdout)
        assert plan["cost_usd"] == 2.4  # two 8 s clips at the configured $0.15/s
        result = run("build", "keys.yaml", "--budget", "2.00")
        assert result.exit_code == 3  # refused before spending: a scheduler tells it from a failed build
        assert "estimate of what would render is $2.40 (2 paid renders), over --budget $2.00; nothing was " \
               "submitted" in result.stderr
        assert fake.requests == [] and fake.creates == 0
    assert not (project / ".shotmake" / "journal.sqlite").exists()


def test_a_missing_key_falls_back_and_the_lock_records_who_rendered(project: Path, run: Run,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    write_project(project, "veo-3.1", 4, '[routes."veo-3.1"]\nfallback = ["local"]\n')
    plan = run("plan", "keys.yaml").stdout
    assert "clip:sea" in plan and "veo-3.1 unavailable (GEMINI_API_KEY (or GOOGLE_API_KEY) is not set); " \
                                  "rendering with local" in plan
    assert "est. $0.00" in plan.splitlines()[0]
    built = run("build", "keys.yaml", "--json", "-q")
    assert built.exit_code == 0, built.output
    lock = (project / "keys.lock").read_text()
    assert lock.count("provider: local") == 2 and "provider: veo-3.1" not in lock
    assert json.loads(run("build", "keys.yaml", "--json", "-q").stdout)["rendered"] == []  # same outage: cached
    spend = json.loads(run("cost", "keys.yaml", "--json").stdout)  # metadata names episode, route and spend
    assert spend["groups"] == [{"name": "local", "cost_usd": 0.0, "renders": 2}]

    with FakeGemini(polls_until_done=0) as fake:  # the key is back: the shots are rendered as the spec asks
        monkeypatch.setenv("GEMINI_API_KEY", fake.api_key)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        planned = json.loads(run("plan", "keys.yaml", "--json").stdout)
        clips = {e["id"]: e for e in planned["rendered"] if e["id"].startswith("clip:")}
        assert set(clips) == {"clip:sea", "clip:gull"} and all(e["provider"] == "veo-3.1" for e in clips.values())
        assert fake.requests == []


def test_the_sora_shutdown_trips_the_breaker_and_the_fallback_renders(project: Path, run: Run,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    write_project(project, "sora-2", 4, '[routes."sora-2"]\nfallback = ["local"]\n')
    with FakeOpenAI(api_key=SECRET) as fake:
        fake.shutdown = True
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        built = run("build", "keys.yaml", "--json", "-j", "1")
        assert built.exit_code == 0, built.output
        assert fake.count("POST", "/v1/videos") == 1  # the first create learnt it; the second shot never asked
    assert "sora-2 unavailable: the Sora API answered HTTP 404" in built.stderr
    assert "trying local" in built.stderr and SECRET not in built.output
    lock = (project / "keys.lock").read_text()
    assert lock.count("provider: local") == 2
    assert (project / "build" / "keys.mp4").exists()


def test_a_plate_edited_after_planning_is_not_sent(tmp_path: Path, cache: Cache) -> None:
    from shotmake.cache import file_digest
    from shotmake.errors import MediaError
    from shotmake.plan import build_plan

    (tmp_path / "dawn.png").write_bytes(b"\x89PNG first")
    spec = textwrap.dedent("""\
        version: 1
        episode: t
        plates:
          dawn: {file: dawn.png}
        shots:
          - {id: a, prompt: x, provider: local, first_frame: dawn}
        sequences:
          - {id: s, shots: [a]}
        """)
    plan = build_plan(episode_from_text(spec, str(tmp_path / "t.yaml"), tmp_path), file_digest)
    run = executor(plan, cache, EnvironmentRegistry(), Clock())
    node = plan.node("clip:a")
    assert run.request_for(node).first_frame is not None  # the bytes the key holds: sent
    (tmp_path / "dawn.png").write_bytes(b"\x89PNG edited")
    with pytest.raises(MediaError, match="dawn.png changed since the build was planned"):
        run.request_for(node)


def test_a_model_gone_404_on_create_marks_the_route_unavailable_for_the_build(
        project: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    write_project(project, "veo-3.1", 4, '[routes."veo-3.1"]\nfallback = ["local"]\n')
    with FakeGemini(api_key=SECRET, polls_until_done=0) as fake:
        fake.faults.append(http_error("create", 404, "NOT_FOUND",
                                      "models/veo-3.1-generate-preview is no longer available to new users."))
        monkeypatch.setenv("GEMINI_API_KEY", SECRET)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        built = run("build", "keys.yaml", "--json", "-j", "1")
        assert built.exit_code == 0, built.output
        assert len(fake.route_requests("create")) == 1  # the second shot was never sent to a gone model
    assert "the model is gone" in built.stderr and "trying local" in built.stderr
    assert (project / "keys.lock").read_text().count("provider: local") == 2


def test_a_job_created_before_its_route_went_away_is_resumed_not_replaced(
        project: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    write_project(project, "veo-3.1", 4, '[routes."veo-3.1"]\nfallback = ["local"]\n'
                                         '[remote]\npoll_interval = 0.01\nstall_minutes = 0.005\n')
    with FakeGemini(api_key=SECRET, polls_until_done=0) as fake:
        monkeypatch.setenv("GEMINI_API_KEY", SECRET)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        fake.faults.append(stall())  # the first shot's job is created, then never finishes in this build
        first = run("build", "keys.yaml", "--json", "-j", "1")
        assert first.exit_code == 1 and "stalled" in first.stderr
        fake.finish_all()
        fake.faults.append(http_error("create", 404, "NOT_FOUND", "models/veo-3.1-generate-preview is not found "
                                      "for API version v1beta, or is not supported for predictLongRunning."))
        second = run("build", "keys.yaml", "--json", "-j", "1")
        assert second.exit_code == 0, second.output
        assert len(fake.route_requests("create")) == 2  # the stalled job's, then the refused one
    lock = (project / "keys.lock").read_text()
    assert lock.count("provider: veo-3.1") == 1 and lock.count("provider: local") == 1


@pytest.mark.parametrize("message", ["The video is no longer available.",
                                     "Invalid URL (GET /v1/videos/video_1/content)"])
def test_a_404_about_one_video_fails_its_node_and_no_fallback_replaces_the_paid_job(
        project: Path, run: Run, monkeypatch: pytest.MonkeyPatch, message: str) -> None:
    write_project(project, "sora-2", 4, '[routes."sora-2"]\nfallback = ["local"]\n')
    with FakeOpenAI(api_key=SECRET, polls_to_complete=1, queued_polls=0) as fake:
        fake.inject(OpenAIFault("content", "status", status=404, message=message, code="not_found"))
        monkeypatch.setenv("OPENAI_API_KEY", SECRET)
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        built = run("build", "keys.yaml", "--json", "-j", "1")
        assert built.exit_code == 1
        assert len(fake.creates()) == 1  # fail-fast: the first shot's failure stops the build
    summary = json.loads(built.stdout)
    failed = [f["id"] for f in summary["failed"] if "HTTP 404" in f["error"]]
    assert len(failed) == 1 and failed[0].startswith("clip:"), summary["failed"]
    assert "trying local" not in built.stderr and not [e for e in summary["rendered"] if e["id"] == failed[0]]
    assert not (project / "keys.lock").exists()
    journal = Journal(project / ".shotmake" / "journal.sqlite")
    try:
        record = next(r for r in journal.recent() if r.node == failed[0])
    finally:
        journal.close()
    assert record.job_id is not None and record.provider == "sora-2"  # the paid job is kept on its route


def test_the_actual_charge_a_provider_reports_is_what_the_cache_and_the_budget_book(
        tmp_path: Path, cache: Cache, journal: Journal) -> None:
    class Billed(Remote):
        def download(self, job_id: str, dest: Path, status: JobStatus) -> dict[str, Any]:
            super().download(job_id, dest, status)
            return {"cost_usd": 0.37}  # e.g. Ark's usage tokens at the route's price, not the $1.60 estimate

    clock = Clock()
    plan = hand_plan(tmp_path, {"a": "veo-3.1"})
    spend = SpendLimit(10.0)
    result = executor(plan, cache, Registry(Billed(), Scripted("local")), clock, journal=journal,
                      spend=spend).run(stale_of(plan))
    assert result.failed == []
    assert cache.lookup(plan.node("clip:a").key).meta["cost_usd"] == 0.37  # type: ignore[union-attr]
    assert spend.spent == pytest.approx(0.37) and result.cost_usd == pytest.approx(0.37)


def test_a_node_whose_job_exists_keeps_its_route_when_the_key_goes_missing(
        project: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """Planning never hands a created job's node to a fallback: the job is resumed when the key is back."""
    write_project(project, "veo-3.1", 4, '[routes."veo-3.1"]\nfallback = ["local"]\n')
    planned = json.loads(run("plan", "keys.yaml", "--json").stdout)
    sea = next(e for e in planned["rendered"] if e["id"] == "clip:sea")
    assert sea["provider"] == "local"  # no key: rerouted while nothing was created
    with FakeGemini(polls_until_done=0) as fake:
        monkeypatch.setenv("GEMINI_API_KEY", fake.api_key)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        veo_key = next(e["key"] for e in json.loads(run("plan", "keys.yaml", "--json").stdout)["rendered"]
                       if e["id"] == "clip:sea")
    journal = Journal(project / ".shotmake" / "journal.sqlite")  # a build started the job, then was killed
    try:
        journal.intent(veo_key, "clip:sea", "keys", "veo-3.1")
        journal.submitted(veo_key, "models/veo-3.1-generate-preview/operations/abc123")
    finally:
        journal.close()
    monkeypatch.delenv("GEMINI_API_KEY")
    planned = json.loads(run("plan", "keys.yaml", "--json").stdout)
    providers = {e["id"]: e["provider"] for e in planned["rendered"]}
    assert providers["clip:sea"] == "veo-3.1" and providers["clip:gull"] == "local"
    built = run("build", "keys.yaml", "--json", "-q")
    assert built.exit_code == 1 and "GEMINI_API_KEY" in built.stderr
    assert not (project / "keys.lock").exists()  # the paid job is not replaced by a stand-in


def test_a_job_the_provider_no_longer_knows_does_not_jam_its_node(
        project: Path, run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 404 on polling a journalled job fails the node for good (not polled again build after build);
    --resubmit-rejected creates it again."""
    write_project(project, "veo-3.1", 4, '[remote]\npoll_interval = 0.01\nstall_minutes = 0.005\n')
    with FakeGemini(api_key=SECRET, polls_until_done=0) as fake:
        monkeypatch.setenv("GEMINI_API_KEY", SECRET)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url)
        fake.faults.append(stall())  # the first shot's job is created, then never finishes in this build
        assert run("build", "keys.yaml", "-j", "1").exit_code == 1
        fake.operations.clear()  # the provider forgot it (expired, deleted)
        lost = run("build", "keys.yaml", "--json", "-j", "1")
        assert lost.exit_code == 1 and "HTTP 404" in lost.stderr
        polls = len(fake.route_requests("poll"))
        again = run("build", "keys.yaml", "--json", "-j", "1")
        assert again.exit_code == 1 and "--resubmit-rejected" in again.stderr
        assert len(fake.route_requests("poll")) == polls  # not polled again: the answer would be the same
        fixed = run("build", "keys.yaml", "--json", "-j", "1", "--resubmit-rejected")
        assert fixed.exit_code == 0, fixed.output
