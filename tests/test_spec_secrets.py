"""SM201's pre-check: ``may_hold_secret`` may only say no when no string of the spec holds a secret.

It answers the common case from the shots' and sequences' fields read at once (``repr`` for
anything not a string) instead of a walk of every value; these tests put key-like text in each
field, between characters ``repr`` escapes, and check that the pre-check still sends it on.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shotmake.lint import lint
from shotmake.model import Episode, Line, Sequence, Transition
from shotmake.prompts import shot_characters
from shotmake.spec import episode_from_text
from shotmake.spec_secrets import _SECRET_HINT, _field_texts, _hinted, find_secret, may_hold_secret

SPEC = """\
version: 1
episode: ep
characters:
  mei: {description: a girl in a yellow raincoat}
shots:
  - id: s1
    prompt: "{mei} waves at the harbour"
    dialogue: [{speaker: mei, line: "Hello there."}]
  - id: s2
    prompt: a quiet harbour
sequences:
  - id: q
    shots: [s1, s2]
"""
KEY = "sk-proj-a1B2c3D4e5F6g7H8i9J0k1L2m3N4"
AWS = "AKIAIOSFODNN7EXAMPLE"  # a short key: after an escape (``\\tAKIA``) only the hint finds it
#: Characters repr writes differently (quotes, backslash, control and unprintable characters).
AWKWARD = ["'", '"', "\\", "\t", "\n", "\x00", "\x7f", "\u200b", "é", "\ud7ff", " "]


def episode() -> Episode:
    return episode_from_text(SPEC, "ep.yaml", root=".")


def with_shot(ep: Episode, **changes: Any) -> Episode:
    shots = dict(ep.shots)
    shots["s2"] = dataclasses.replace(shots["s2"], **changes)
    return dataclasses.replace(ep, shots=shots)


def test_a_spec_without_secrets_is_answered_by_the_pre_check() -> None:
    assert not may_hold_secret(episode())
    assert not _hinted(_field_texts(episode().shots.values()))


@pytest.mark.parametrize("key", [KEY, AWS])
@pytest.mark.parametrize("around", AWKWARD)
@pytest.mark.parametrize("field", ["prompt", "negative", "subtitle", "title", "model", "voiceover", "after",
                                   "characters", "references", "ignore", "dialogue"])
def test_a_key_in_any_shot_field_between_escaped_characters_reaches_the_full_check(field: str, around: str,
                                                                                   key: str) -> None:
    text = f"x{around}{key}{around}y"
    value: Any = text
    if field in ("characters", "references", "ignore"):
        value = ("mei", text)
    elif field == "dialogue":
        value = (Line(speaker="mei", line=text, delivery=around),)
    ep = with_shot(episode(), **{field: value})
    assert may_hold_secret(ep), (field, around)
    assert any(f.rule == "SM201" for f in lint(ep))


@pytest.mark.parametrize("around", AWKWARD)
def test_a_key_in_a_sequence_reaches_the_full_check(around: str) -> None:
    ep = episode()
    seq = Sequence(id="q", shots=("s1", f"{around}{KEY}"), transition=Transition(kind=f"{around}Bearer abc"))
    assert may_hold_secret(dataclasses.replace(ep, sequences=(seq,)))
    bearer = Sequence(id="q", shots=("s1",), title=f"{around}bearer abcDEF123ghiJKL456{around}")
    assert may_hold_secret(dataclasses.replace(ep, sequences=(bearer,)))


#: Pieces that make runs of key characters near 16 long, "earer " and escapes in between.
TEXT = st.lists(st.sampled_from(["aZ7_", "-b9Q", "Bearer ", "earer", " ", *AWKWARD]), max_size=12).map("".join)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(prompt=TEXT, line=TEXT, ids=st.lists(TEXT, max_size=3))
def test_the_pre_check_is_a_superset_of_the_hint_over_every_string(prompt: str, line: str, ids: list[str]) -> None:
    """Whenever the full walk's hint would match one of the strings, the pre-check matches too."""
    shot = with_shot(episode(), prompt=prompt, references=tuple(ids),
                     dialogue=(Line(speaker="mei", line=line),)).shots["s2"]
    walked = [prompt, line, *ids]
    if any(_SECRET_HINT.search(text) for text in walked):
        assert _hinted(_field_texts([shot]))
    assert _hinted(walked) == any(_SECRET_HINT.search(text) is not None for text in walked)


def test_findings_are_those_of_the_full_check() -> None:
    ep = with_shot(episode(), subtitle=f"'{KEY}'")
    assert may_hold_secret(ep) and find_secret(ep.shots["s2"].subtitle) is not None


def test_shot_characters_are_kept_on_the_shot_without_changing_its_equality() -> None:
    ep = episode()
    shot = ep.shots["s1"]
    twin = dataclasses.replace(shot)
    assert shot_characters(shot) == ("mei",) and shot_characters(shot) is shot_characters(shot)
    assert shot == twin and hash(shot) == hash(twin)  # the kept answer is no field
    changed = dataclasses.replace(shot, prompt="{kai} and {mei}")
    assert shot_characters(changed) == ("kai", "mei")  # a new record: asked afresh
    assert [f.name for f in dataclasses.fields(shot)] == [f.name for f in dataclasses.fields(twin)]


@pytest.mark.parametrize(("text", "hinted"), [
    ("a" * 16, True), ("a" * 15, False), ("x " + "a-_9" * 4, True), ("Z" * 16 + " x", True), (" " + "a" * 15 + "é", False),
    ("é" + "a" * 16, True), ("Bearer", False), ("xearer y", True), ("a" * 8 + "\n" + "a" * 8, False),
])
def test_the_hint_is_a_run_of_sixteen_key_characters_or_earer_space(text: str, hinted: bool) -> None:
    assert (_SECRET_HINT.search(text) is not None) is hinted
    assert _hinted([text]) is hinted and _hinted(["a" * 15, text, "b" * 15]) is hinted
