"""Transitions: pure piece planning, and rendered pieces verified by decoding."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from shotmake import assemble, media
from shotmake.conform import DeliveryFormat, conform
from shotmake.errors import MediaError
from shotmake.providers.base import RenderRequest
from shotmake.providers.local import LocalProvider
from shotmake.transitions import (
    BlendPiece,
    ClipFacts,
    CopyPiece,
    Transition,
    encoded_frames,
    piece_from_meta,
    piece_meta,
    plan_pieces,
    plan_span,
    render_piece,
)

FMT = DeliveryFormat(width=160, height=90, fps=24)
GOP12 = tuple(range(0, 240, 12))


def facts(frames: int) -> ClipFacts:
    return ClipFacts(frames, tuple(k for k in GOP12 if k < frames))


def test_cut_only_sequence_is_all_copies() -> None:
    assert plan_pieces([facts(48), facts(30)], [Transition()], 24) == [CopyPiece(0, 0, 48), CopyPiece(1, 0, 30)]


def test_crossfade_reencodes_only_around_the_cut() -> None:
    pieces = plan_pieces([facts(192), facts(192)], [Transition("crossfade", 1.0)], 24)
    assert pieces == [
        CopyPiece(0, 0, 168),
        BlendPiece(a=0, a_start=168, a_frames=24, b=1, b_end=24, overlap=24, kind="crossfade"),
        CopyPiece(1, 24, 192),
    ]
    assert sum(p.frames for p in pieces) == 192 + 192 - 24
    # 10-minute episodes do not change this: the re-encode is bounded by the transition + GOPs.
    assert encoded_frames(pieces) <= 2 * 24


def test_unaligned_transition_extends_to_keyframes() -> None:
    pieces = plan_pieces([facts(100), facts(100)], [Transition("dip", 0.5)], 24)
    blend = pieces[1]
    assert isinstance(blend, BlendPiece)
    assert (blend.a_start, blend.b_end, blend.overlap) == (84, 12, 12)
    assert encoded_frames(pieces) == 16 + 12 - 12  # A from keyframe 84, B up to keyframe 12, minus the overlap


def test_fades_at_sequence_ends() -> None:
    pieces = plan_pieces([facts(48)], [], 24, fade_in=0.5, fade_out=0.5)
    assert pieces == [
        BlendPiece(a=None, a_start=0, a_frames=0, b=0, b_end=12, overlap=12, kind="fade-in"),
        CopyPiece(0, 12, 36),
        BlendPiece(a=0, a_start=36, a_frames=12, b=None, b_end=0, overlap=12, kind="fade-out"),
    ]


@pytest.mark.parametrize("frames", [(48, 48, 48), (30, 13, 61, 24), (24, 24), (100,), (37, 12, 12, 90)])
@pytest.mark.parametrize("kind", ["crossfade", "dip"])
@pytest.mark.parametrize("seconds", [0.25, 0.5, 0.4])
def test_spans_cut_a_sequence_exactly_as_plan_pieces_does(frames: tuple[int, ...], kind: str,
                                                          seconds: float) -> None:
    """Each span is planned from its two clips alone, and the spans together are the sequence's pieces."""
    clips = [facts(n) for n in frames]
    transition = Transition(kind, seconds)  # type: ignore[arg-type]
    try:
        whole = plan_pieces(clips, [transition] * (len(clips) - 1), 24)
    except MediaError:
        return  # too short for the transition: the spans refuse it too (next test)
    d = max(1, round(seconds * 24))
    spans = [plan_span(clip, clips[i + 1] if i + 1 < len(clips) else None, transition, d if i else 0, 24)
             for i, clip in enumerate(clips)]
    assert [piece_from_meta(piece_meta(p), i) for i, span in enumerate(spans) for p in span] == whole


def test_a_span_too_short_for_its_transition_is_refused() -> None:
    with pytest.raises(MediaError, match="longer than"):
        plan_span(facts(12), facts(48), Transition("crossfade", 1.0), 0, 24)


def test_too_long_transition_is_refused() -> None:
    with pytest.raises(MediaError, match="longer than clip"):
        plan_pieces([facts(12), facts(48)], [Transition("crossfade", 1.0)], 24)
    with pytest.raises(ValueError):
        plan_pieces([facts(12), facts(48)], [], 24)


def test_rendered_transitions_keep_counts_and_sync(tmp_path: Path) -> None:
    clips = []
    # veo first: its copied video has one keyframe, so the blend after it re-encodes all of it.
    for i, variant in enumerate(["veo", "sora", "default"]):
        src = tmp_path / f"r{i}.mp4"
        LocalProvider(variant=variant).render(RenderRequest(
            node_id=str(i), key=f"t{i}", kind="clip", model="", prompt="x", duration=1.5, width=160,
            height=90, fps=24), src)
        dest = tmp_path / f"c{i}.mp4"
        conform(src, dest, FMT)
        clips.append(dest)
    clip_facts = [ClipFacts(media.decode_counts(c)[0], tuple(media.keyframes(c))) for c in clips]
    pieces = plan_pieces(clip_facts, [Transition("crossfade", 0.5), Transition("dip", 0.25)], 24, fade_out=0.25)
    files = []
    for i, piece in enumerate(pieces):
        out = tmp_path / f"p{i}.mp4"
        render_piece(piece, clips, out, FMT)
        assert media.decode_counts(out) == (piece.frames, media.aac_span(piece.frames, Fraction(24), 48000))
        files.append(out)
    master = tmp_path / "m.mp4"
    assemble.concat(files, master, strict=True)
    frames, samples = media.decode_counts(master)
    assert frames == 36 * 3 - 12 - 6
    assert samples == sum(media.aac_span(p.frames, Fraction(24), 48000) for p in pieces)
    # The fade-out ends on black.
    assert max(media.decode_frame(master, -1)[2]) < 40 < max(media.decode_frame(master, -7)[2])
