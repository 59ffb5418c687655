"""Renditions shot by shot: the planned pieces and spans, and what an edit changes (pure, no ffmpeg)."""

from __future__ import annotations

from fractions import Fraction

from shotmake.cache import file_digest
from shotmake.plan import Plan, build_plan
from shotmake.renditions import piece_cue
from shotmake.spec import episode_from_text

EPISODE = """\
version: 1
episode: ep
defaults: {{provider: local, resolution: 480p, duration: 2, fps: 12}}
shots:
  - id: a
    prompt: a lighthouse
    subtitle: The lamp is lit.
  - id: b
    prompt: {prompt}
    subtitle: Boats come home.
  - id: c
    prompt: gulls
  - id: d
    prompt: the sea
    subtitle: Waves.
sequences:
  - id: one
    shots: [a, b, c]
    transition: {{kind: crossfade, seconds: 0.5}}
  - id: two
    shots: [d, a]
delivery:
  renditions: [vertical, proxy]
  subtitles: {{burn: {burn}}}
"""


def plan_of(prompt: str = "a harbour", burn: bool = True) -> Plan:
    return build_plan(episode_from_text(EPISODE.format(prompt=prompt, burn=str(burn).lower()), "ep.yaml"),
                      file_digest)


def test_every_look_has_a_piece_per_shot_and_sequences_like_the_masters() -> None:
    plan = plan_of()
    for look in ("subtitled", "vertical", "proxy"):
        # Shot a appears twice with different cue timing (crossfaded out of it in one, a cut in two).
        assert {n for n in plan.order if n.startswith("piece:") and (n.endswith(look) or f".{look}#" in n)} == {
            f"piece:a.{look}", f"piece:b.{look}", f"piece:c.{look}", f"piece:d.{look}", f"piece:a.{look}#2"}
        assert plan.node(f"sequence:one.{look}").inputs == (f"span:one/a.{look}", f"span:one/b.{look}",
                                                            f"span:one/c.{look}")
        assert plan.node(f"span:one/a.{look}").inputs == (f"piece:a.{look}", f"piece:b.{look}")
        assert plan.node(f"sequence:two.{look}").inputs == (f"piece:d.{look}", f"piece:a.{look}#2")
    # The master's own blended sequence is made of spans of the conformed shots.
    assert plan.node("sequence:one").inputs == ("span:one/a", "span:one/b", "span:one/c")
    assert plan.node("span:one/c").inputs == ("conform:c",)
    assert plan.node("rendition:ep.vertical").inputs == ("master:ep", "sequence:one.vertical", "sequence:two.vertical")
    assert plan.node("episode:ep").inputs == ("master:ep", "sequence:one.subtitled", "sequence:two.subtitled")


def test_a_one_shot_edit_changes_only_that_shots_nodes_and_what_joins_them() -> None:
    before, after = plan_of(), plan_of(prompt="a harbour in the rain")
    changed = {n for n in before.order if before.node(n).key != after.node(n).key}
    looks = ("subtitled", "vertical", "proxy")
    assert {n for n in changed if n.startswith(("piece:", "conform:", "clip:"))} == {
        "clip:b", "conform:b", *(f"piece:b.{look}" for look in looks)}
    # b's span (its blend into c) and a's (its blend into b), in the master and every look.
    assert {n for n in changed if n.startswith("span:")} == {
        f"span:one/{s}{suffix}" for s in ("a", "b") for suffix in ("", ".subtitled", ".vertical", ".proxy")}
    assert "sequence:two.vertical" not in changed and "sequence:one.vertical" in changed


def test_without_burning_the_pieces_carry_no_subtitle_and_the_master_has_no_look() -> None:
    plan = plan_of(burn=False)
    assert "master:ep" not in plan.order and "piece:a.subtitled" not in plan.order
    assert all(plan.node(n).manifest["subtitle"] is None for n in plan.order if n.startswith("piece:"))
    assert plan.node("rendition:ep.proxy").inputs[0] == "episode:ep"


def test_cues_on_the_shots_own_clock_split_each_blend_in_the_middle() -> None:
    manifest = plan_of().node("piece:b.vertical").manifest
    assert manifest["subtitle"] == {"text": "Boats come home.", "overlap_in": 6, "overlap_out": 6}
    cue = piece_cue("Boats come home.", 24, 12, 6, 6)
    assert (cue.start, cue.end) == (Fraction(1, 4), Fraction(2) - Fraction(1, 4))
    assert plan_of().node("piece:a.vertical#2").manifest["subtitle"]["overlap_out"] == 0
