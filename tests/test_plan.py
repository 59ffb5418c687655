"""Planner: node keys change exactly when the output would, and staleness comes with reasons."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shotmake.cache import file_digest
from shotmake.plan import Plan, build_plan, stale_nodes
from shotmake.spec import episode_from_text

from .conftest import SMALL_EPISODE


def plan_of(text: str, source: str = "ep.yaml") -> Plan:
    return build_plan(episode_from_text(text, source), file_digest)


def keys(plan: Plan) -> dict[str, str]:
    return {nid: plan.node(nid).key for nid in plan.order}


def test_graph_shape() -> None:
    plan = plan_of(SMALL_EPISODE)
    assert set(plan.order) == {"sheet:mei", "clip:a", "clip:b", "clip:c", "frame:a", "conform:a", "conform:b",
                               "conform:c", "sequence:one", "sequence:two", "episode:tiny", "poster:tiny"}
    assert plan.node("sequence:one").inputs == ("conform:a", "conform:b")
    assert plan.node("conform:a").inputs == ("clip:a",)
    assert [n.id for n in plan.deliverables] == ["episode:tiny", "poster:tiny"]
    assert plan.node("clip:a").inputs == ("sheet:mei",)
    assert plan.node("clip:c").inputs == ("frame:a",)
    assert plan.order.index("clip:a") < plan.order.index("frame:a") < plan.order.index("clip:c")
    assert plan.order.index("episode:tiny") > plan.order.index("sequence:two")
    assert plan.node("clip:c").manifest["first_frame"] == plan.node("frame:a").key


def test_prompt_contains_character_description_verbatim_and_style() -> None:
    prompt = plan_of(SMALL_EPISODE).node("clip:a").manifest["prompt"]
    assert prompt.startswith("Mei looks at the sea.")
    assert "- Mei: a girl in a yellow raincoat" in prompt and "Style: flat colours" in prompt


def test_renaming_a_shot_or_adding_titles_or_reordering_keys_changes_no_key() -> None:
    base = keys(plan_of(SMALL_EPISODE))
    renamed = SMALL_EPISODE.replace("id: b\n", "id: bee\n").replace("shots: [a, b]", "shots: [a, bee]")
    after = keys(plan_of(renamed))
    assert after["clip:bee"] == base["clip:b"]
    assert after["sequence:one"] == base["sequence:one"] and after["episode:tiny"] == base["episode:tiny"]
    titled = SMALL_EPISODE.replace("  - id: b\n", "  - id: b\n    title: The lighthouse\n")
    assert keys(plan_of(titled)) == base
    reordered = SMALL_EPISODE.replace("    prompt: A lighthouse at dusk.\n    duration: 2\n",
                                      "    duration: 2\n    prompt: A lighthouse at dusk.\n")
    assert keys(plan_of(reordered)) == base
    commented = SMALL_EPISODE.replace("shots:\n", "# the shots\nshots:  # more\n")
    assert keys(plan_of(commented)) == base


def test_prompt_edit_changes_the_shot_and_its_dependents_only() -> None:
    base = keys(plan_of(SMALL_EPISODE))
    edited = keys(plan_of(SMALL_EPISODE.replace("looks at the sea", "looks at the storm")))
    changed = {nid for nid in base if base[nid] != edited[nid]}
    assert changed == {"clip:a", "frame:a", "clip:c", "conform:a", "conform:c", "sequence:one", "sequence:two",
                       "episode:tiny", "poster:tiny"}


def test_character_description_change_rebuilds_its_sheet_and_shots() -> None:
    base = keys(plan_of(SMALL_EPISODE))
    edited = keys(plan_of(SMALL_EPISODE.replace("a boy with a green scarf", "a boy with a red scarf")))
    changed = {nid for nid in base if base[nid] != edited[nid]}
    assert changed == {"clip:c", "conform:c", "sequence:two", "episode:tiny", "poster:tiny"}


def test_user_reference_file_content_is_hashed(tmp_path: Path) -> None:
    (tmp_path / "mei.png").write_bytes(b"one")
    text = SMALL_EPISODE.replace("    sheet: true\n", "    sheet: true\n    references: [mei.png]\n")
    source = str(tmp_path / "ep.yaml")
    first = keys(plan_of(text, source))
    (tmp_path / "mei.png").write_bytes(b"two")
    second = keys(plan_of(text, source))
    assert first["sheet:mei"] != second["sheet:mei"] and first["clip:a"] != second["clip:a"]


def history_of(*plans: Plan) -> Callable[[str], list[dict[str, Any]]]:
    """What the cache records as ``plans`` are built in turn: per node id, its manifests, newest first."""
    records: dict[str, list[dict[str, Any]]] = {}
    for plan in plans:
        for nid in plan.order:
            node = plan.node(nid)
            older = [r for r in records.get(nid, []) if r["key"] != node.key]
            records[nid] = [{"key": node.key, "manifest": node.manifest}, *older]
    return lambda nid: records.get(nid, [])


def cached_keys(*plans: Plan) -> set[str]:
    return {plan.node(nid).key for plan in plans for nid in plan.order}


def reasons_after(edit: Callable[[str], str], *built: str, text: str = SMALL_EPISODE) -> dict[str, tuple[str, ...]]:
    """Build ``built`` specs in turn (default: ``text``), then plan ``edit(text)``: each dirty node's reasons."""
    plans = [plan_of(b) for b in (built or (text,))]
    stale = stale_nodes(plan_of(edit(text)), cached_keys(*plans).__contains__, history_of(*plans))
    for s in stale.values():
        for reason in s.reasons:
            assert "..." not in reason and not re.search(r"[0-9a-f]{16}", reason), reason
    return {nid: s.reasons for nid, s in stale.items()}


def test_stale_reasons() -> None:
    plan = plan_of(SMALL_EPISODE)
    never = stale_nodes(plan, lambda key: False, lambda nid: [])
    assert list(never) == list(plan.order) and all(s.reasons == ("never built",) for s in never.values())

    stale = reasons_after(lambda t: t.replace("A lighthouse at dusk.", "A lighthouse at night."))
    assert list(stale) == ["clip:b", "conform:b", "sequence:one", "episode:tiny", "poster:tiny"]
    assert stale["clip:b"] == ("prompt changed: 'A lighthouse at dusk.' -> 'A lighthouse at night.'",)
    assert stale["conform:b"] == ("input clip:b changed",)
    assert stale["sequence:one"] == ("input conform:b changed",)
    assert stale["episode:tiny"] == ("input sequence:one changed",)
    assert stale["poster:tiny"] == ("input episode:tiny changed",)


def test_reasons_compare_with_what_is_cached_not_with_the_last_build() -> None:
    """Built with dusk, then night; back to dusk with a longer shot: only the duration changed."""
    night = SMALL_EPISODE.replace("A lighthouse at dusk.", "A lighthouse at night.")
    stale = reasons_after(lambda t: t.replace("    duration: 2\n", "    duration: 3\n"), SMALL_EPISODE, night)
    assert stale["clip:b"] == ("duration changed: 2 -> 3 s",)
    # A revert to a cached render is not dirty at all.
    assert reasons_after(lambda t: t, SMALL_EPISODE, night) == {}


def test_a_removed_render_is_explained_by_the_newest_record() -> None:
    night = plan_of(SMALL_EPISODE.replace("A lighthouse at dusk.", "A lighthouse at night."))
    stale = stale_nodes(night, set().__contains__, history_of(plan_of(SMALL_EPISODE), night))
    assert stale["clip:b"].reasons == ("output missing from the cache",)


def test_reasons_name_their_causes() -> None:
    stale = reasons_after(lambda t: t.replace("a boy with a green scarf", "a boy with a red scarf"))
    assert stale["clip:c"] == ("character kai: description changed",)
    stale = reasons_after(lambda t: t.replace("look: flat colours", "look: watercolour"))
    assert stale["sheet:mei"] == ("style changed",)
    assert stale["clip:a"] == ("style changed", "input sheet:mei changed")
    stale = reasons_after(lambda t: t.replace("shots: [a, b]", "shots: [b, a]"))
    assert stale["sequence:one"] == ("shot order changed",)
    stale = reasons_after(lambda t: t.replace("  - id: one\n    shots: [a, b]\n  - id: two\n    shots: [c]\n",
                                              "  - id: two\n    shots: [c]\n  - id: one\n    shots: [a, b]\n"))
    assert stale["episode:tiny"] == ("sequence order changed", "chapters changed: one, two -> two, one")
    stale = reasons_after(lambda t: t.replace("  - id: two\n", "  - id: two\n    transition: fade\n"))
    assert stale["sequence:two"] == ("transition changed: cut -> fade 0.5 s",)
    stale = reasons_after(lambda t: t.replace("    duration: 2\n", "    duration: 2\n    trim: {in: 0.5}\n"))
    assert stale["conform:b"] == ("trim in changed: 0 -> 0.5 s",)


def test_reasons_follow_story_order() -> None:
    text = SMALL_EPISODE.replace("shots: [a, b]", "shots: [b, a]")
    stale = reasons_after(lambda t: t.replace("looks at the sea", "looks up").replace("at dusk", "at dawn"), text=text)
    assert stale["sequence:one"] == ("input conform:b changed", "input conform:a changed")


def test_a_changed_reference_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "mei.png").write_bytes(b"one")
    text = SMALL_EPISODE.replace("    sheet: true\n", "    sheet: true\n    references: [mei.png]\n")
    source = str(tmp_path / "ep.yaml")
    first = plan_of(text, source)
    (tmp_path / "mei.png").write_bytes(b"two")
    stale = stale_nodes(plan_of(text, source), cached_keys(first).__contains__, history_of(first))
    assert stale["sheet:mei"].reasons == ("reference file mei.png changed",)


LANGUAGE = """\
episode: lang
plates:
  harbour: {prompt: an empty harbour}
characters:
  mei: {description: a girl, sheet: true}
shots:
  - id: base
    prompt: the sea
    provider: veo-3.1
    duration: 8
  - id: more
    prompt: the sea goes on
    provider: veo-3.1
    extends: base
    duration: 7
  - id: dock
    prompt: "{mei} on the dock"
    first_frame: harbour
    takes: 3
    pick: 2
    seed: 10
  - id: next
    prompt: later
    after: dock
sequences:
  - id: q
    shots: [more, dock, next]
"""


def test_plates_extensions_and_takes() -> None:
    plan = plan_of(LANGUAGE)
    assert plan.node("plate:harbour").kind == "plate"
    more = plan.node("clip:more")
    assert more.manifest["extends"] == plan.node("clip:base").key and "clip:base" in more.inputs
    takes = [plan.node(f"clip:dock@{i}") for i in (1, 2, 3)]
    assert len({t.key for t in takes}) == 3
    assert [t.manifest["seed"] for t in takes] == [10, 11, 12]
    assert all(t.manifest["first_frame"] == plan.node("plate:harbour").key for t in takes)
    # The cut and the continuity frame use the picked take.
    assert plan.node("frame:dock").inputs == ("clip:dock@2",)
    assert plan.node("conform:dock").inputs == ("clip:dock@2",)


def test_adding_takes_keeps_take_one_and_picking_changes_only_the_cut() -> None:
    single = keys(plan_of(LANGUAGE.replace("    takes: 3\n    pick: 2\n", "")))
    multi = keys(plan_of(LANGUAGE))
    assert multi["clip:dock@1"] == single["clip:dock"]
    repicked = keys(plan_of(LANGUAGE.replace("pick: 2", "pick: 3")))
    changed = {nid for nid in multi if multi[nid] != repicked[nid]}
    assert changed == {"frame:dock", "clip:next", "conform:dock", "conform:next", "sequence:q", "episode:lang",
                       "poster:lang"}


def test_trim_and_transition_change_the_sequence_not_the_clip() -> None:
    base = keys(plan_of(SMALL_EPISODE))
    trimmed = keys(plan_of(SMALL_EPISODE.replace("    duration: 2\n", "    duration: 2\n    trim: {in: 0.5}\n")))
    assert {nid for nid in base if base[nid] != trimmed[nid]} == {"conform:b", "sequence:one", "episode:tiny",
                                                                   "poster:tiny"}
    faded = keys(plan_of(SMALL_EPISODE.replace("  - id: two\n", "  - id: two\n    transition: fade\n")))
    assert {nid for nid in base if base[nid] != faded[nid]} == {"sequence:two", "episode:tiny", "poster:tiny"}


def test_plan_order_is_networkx_lexicographic_order() -> None:
    """build_plan orders nodes without networkx; the order must stay networkx's (locks and logs keep it)."""
    import networkx as nx

    from shotmake.cache import file_digest
    from shotmake.plan import _kind_rank, build_plan
    from shotmake.spec import load_episode

    episodes = Path(__file__).resolve().parent.parent / "episodes"
    for spec in ("pilot.yaml", "storm.yaml"):
        plan = build_plan(load_episode(episodes / spec), file_digest)
        assert list(plan.order) == list(nx.lexicographical_topological_sort(plan.graph, key=_kind_rank))
        assert list(plan.graph.nodes) == list(plan.added)


def test_the_master_format_is_the_spec_s_never_a_vote_of_its_shots() -> None:
    def master(order: str, head: str = "", defaults: str = "") -> Any:
        text = f"""\
version: 1
episode: e
{head}defaults: {{provider: local, resolution: 480p, duration: 1, fps: 12{defaults}}}
shots:
  - {{id: wide, prompt: the sea}}
  - {{id: tall, prompt: a tower, aspect: "9:16"}}
  - {{id: tall2, prompt: a mast, aspect: "9:16"}}
sequences:
  - {{id: one, shots: [{order}]}}
"""
        fmt = plan_of(text).final.manifest["format"]
        return fmt["width"], fmt["height"], fmt["fps"]

    # Swapping two shots (a tie) or adding a shot of the other shape never flips the master.
    assert master("wide, tall") == master("tall, wide") == (854, 480, 12)
    assert master("tall, tall2, wide") == (854, 480, 12)
    assert master("tall, wide", defaults=', aspect: "9:16"') == (480, 854, 12)
    explicit = 'delivery: {format: {aspect: "9:16", resolution: 720p}}\n'
    assert master("wide, tall", head=explicit) == master("tall, wide", head=explicit) == (720, 1280, 12)


def test_a_link_to_a_later_shot_plans_that_shot_first() -> None:
    """Shots are planned in spec order when every link points back (the usual case), else linked ones first."""
    forward = SMALL_EPISODE.replace("    prompt: \"{mei} looks at the sea.\"\n",
                                    "    prompt: \"{mei} looks at the sea.\"\n    after: b\n").replace(
        "    after: a\n", "")
    clips = [nid for nid in plan_of(forward).added if nid.startswith("clip:")]
    assert clips == ["clip:b", "clip:a", "clip:c"]
    back = [nid for nid in plan_of(SMALL_EPISODE).added if nid.startswith("clip:")]
    assert back == ["clip:a", "clip:b", "clip:c"]
    assert keys(plan_of(forward))["clip:a"] != keys(plan_of(SMALL_EPISODE))["clip:a"]  # it starts from b's frame
