"""Lint voices and dialogue before a cent is spent (rules SM160-SM179; SM160-SM166 so far).

A spoken line is the most expensive thing to get wrong: the clip is paid for, and the line is
missing, cut off, said in another voice or not heard at all. These rules read the parsed
episode and the route facts (``native_audio``, ``audio_off``, ``voice_samples``,
``max_voice_seconds``, the reference counts) and report through the lint checker; a line
spoken by a character not in the shot is already a spec error (``spec.py``).

The speech-time thresholds live in ``dialogue.py``: a brisk 3 words a second for scripts that
space their words, 6 characters a second for Chinese, Japanese and Korean, a quarter second
between two lines. SM165 reads a voice sample's length with ``media.probe`` (injected, so the
rules stay testable without ffmpeg).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from .dialogue import MAX_CJK_PER_SECOND, MAX_WORDS_PER_SECOND, needed_seconds, sample_kind
from .model import Episode, Shot
from .plan import character_references_sent, voice_samples_sent
from .prompts import shot_characters, speakers
from .providers.catalog import Route

#: (id, severity, summary, fix, per_shot): lint.py makes them ``Rule`` records (docs/lint.md lists them).
VOICE_RULES: tuple[tuple[str, str, str, str, bool], ...] = (
    ("SM160", "warning", "a character speaks but has no `voice:` description: each clip invents its voice anew, "
     "so it will not sound the same from shot to shot",
     "give the character `voice: {description: \"...\"}` (timbre, age, accent, pace), and a sample where the "
     "route takes one", True),
    ("SM161", "warning", "more dialogue than the shot can hold: at a brisk pace "
     f"({MAX_WORDS_PER_SECOND:g} words a second, {MAX_CJK_PER_SECOND:g} CJK characters a second, a breath "
     "between lines) the lines take longer than the shot, so the model rushes or cuts them",
     "lengthen the shot, split the lines across shots, or shorten them", True),
    ("SM162", "error", "a shot with dialogue on a route that renders no audio: the lines would not be heard",
     "route the shot to a route with native audio (gemini-omni, seedance-2.0, wan-2.7...), or move the lines "
     "to `subtitle:` and a `voiceover:` file", True),
    ("SM163", "warning", "a shot with dialogue and `audio: false`: the lines are compiled into the prompt but the "
     "clip is silent (its subtitles remain)",
     "remove `audio: false`, or drop the dialogue and keep a `subtitle:`", True),
    ("SM164", "warning", "a voice sample that the shot's route cannot take (or has no slot left for): the voice is "
     "held by its description only, so expect the same kind of voice, not the same voice",
     "route the shot to a route that takes voice samples (seedance-2.0: audio; wan-2.7: a video clip; wan-3.0: "
     "either), or accept it", True),
    ("SM165", "error", "a voice sample longer than the route accepts, or one that cannot be read as audio/video",
     "cut the sample to a few clean seconds of the character speaking (ffmpeg -t 10 -i in.wav out.wav)", True),
    ("SM166", "error", "a voice sample sent to Seedance in a request without any reference image: Seedance takes "
     "reference audio only beside a reference image or video, and refuses the request",
     "give a character of the shot `sheet: true` or a reference image, or add a `references:` plate", True),
)
#: Protocols whose reference audio must travel with a reference image or video (SM166).
_AUDIO_NEEDS_IMAGE = ("ark-tasks",)

#: How the route holds a voice when no sample reaches it, for SM164's wording.
_BY_DESCRIPTION = "the voice is held by its description only: expect the same kind of voice, not the same voice"


class Reporter(Protocol):
    """What the rules need from lint's checker."""

    episode: Episode
    routes: Mapping[str, Route]

    def report(self, rule: str, field: str, message: str, hint: str = "", *, shot: Shot | None = None,
               locate: str | None = None) -> None: ...


Durations = Callable[[Path], float | None]


def probe_seconds(path: Path) -> float | None:
    """A media file's length in seconds (None when ffmpeg cannot read it): SM165's default prober."""
    from .errors import MediaError
    from .media import probe

    try:
        return probe(path, timeout=30).duration
    except (MediaError, OSError):
        return None


def check_voices(checker: Reporter, durations: Durations | None = None) -> None:
    """Run SM160-SM166 over every shot with dialogue."""
    ep = checker.episode
    seconds = _remembered(durations or probe_seconds)
    for shot in ep.shots.values():
        route = checker.routes.get(shot.provider)
        if not shot.dialogue or route is None or route.kind != "video":
            continue
        _undescribed(checker, shot)
        _too_long(checker, shot)
        _unheard(checker, shot, route)
        _samples(checker, shot, route, seconds)


def _remembered(durations: Durations) -> Durations:
    found: dict[Path, float | None] = {}

    def get(path: Path) -> float | None:
        if path not in found:
            found[path] = durations(path)
        return found[path]
    return get


def _line_field(shot: Shot, cid: str) -> str:
    j = next(i for i, line in enumerate(shot.dialogue) if line.speaker == cid)
    return f"{shot.path}.dialogue[{j}].speaker"


def count_samples(n: int) -> str:
    return "a voice sample" if n == 1 else f"{n} voice samples"


def _sends_an_image(ep: Episode, shot: Shot) -> bool:
    """Whether the request carries a picture: a sheet or reference image of a character, a plate, a frame."""
    from .formats import IMAGE_EXTENSIONS

    for cid in shot_characters(shot):
        char = ep.characters.get(cid)
        if char is not None and (char.sheet is not None or any(r.lower().endswith(IMAGE_EXTENSIONS)
                                                                for r in char.references)):
            return True
    return bool(shot.references or shot.first_frame or shot.last_frame or shot.after)


def _undescribed(checker: Reporter, shot: Shot) -> None:
    for cid in speakers(shot):
        char = checker.episode.characters.get(cid)
        if char is not None and (char.voice is None or not char.voice.description.strip()):
            checker.report("SM160", _line_field(shot, cid), f"{char.name} speaks but has no voice description",
                           f"add `voice: {{description: ...}}` under characters.{cid}", shot=shot)


def _too_long(checker: Reporter, shot: Shot) -> None:
    needed = needed_seconds(shot.dialogue)
    if needed > shot.duration + 1e-9:
        checker.report("SM161", f"{shot.path}.dialogue",
                       f"{len(shot.dialogue)} line(s) need at least {needed:.1f} s at a brisk pace; the shot is "
                       f"{shot.duration:g} s", "lengthen the shot, split the lines across shots, or shorten them",
                       shot=shot)


def _unheard(checker: Reporter, shot: Shot, route: Route) -> None:
    if route.protocol != "local" and not route.native_audio:
        checker.report("SM162", f"{shot.path}.dialogue", f"{route.name} renders no audio: the lines would not be "
                       "heard", "route the shot to a route with native audio, or use `subtitle:` and `voiceover:`",
                       shot=shot, locate=f"{shot.path}.dialogue")
    elif not shot.audio:
        checker.report("SM163", f"{shot.path}.audio", "the shot has dialogue but `audio: false`: its clip is silent",
                       "remove `audio: false`, or replace the dialogue with a `subtitle:`", shot=shot)


def _samples(checker: Reporter, shot: Shot, route: Route, seconds: Durations) -> None:
    ep = checker.episode
    sent = {cid: path for cid, _, path in voice_samples_sent(ep, shot, route)} \
        if character_references_sent(shot, route) else {}
    if sent and route.protocol in _AUDIO_NEEDS_IMAGE and not _sends_an_image(ep, shot):
        checker.report("SM166", f"{shot.path}.dialogue", f"{route.name} would get {count_samples(len(sent))} and no "
                       "reference image: it takes reference audio only beside an image or video",
                       "give a character of the shot `sheet: true` or a reference image, or add a "
                       "`references:` plate", shot=shot)
    for cid in speakers(shot):
        char = ep.characters.get(cid)
        sample = char.voice.sample if char is not None and char.voice is not None else None
        if not sample:
            continue
        field = f"characters.{cid}.voice.sample"
        kind = sample_kind(sample)
        if cid not in sent:
            if kind in route.voice_samples and character_references_sent(shot, route):
                why = f"{route.name} has no {kind} reference slot left in this shot"
            elif kind in route.voice_samples:
                why = f"{route.name} sends no references with this shot's frames"
            else:
                takes = " or ".join(route.voice_samples) if route.voice_samples else "no voice sample"
                why = f"{route.name} takes {takes}" + ("" if not route.voice_samples else f", not {kind}")
            checker.report("SM164", f"{shot.path}.dialogue", f"{char.name if char else cid}'s voice sample "
                           f"'{Path(sample).name}' is not sent: {why}; {_BY_DESCRIPTION}",
                           "route the shot to a route that takes the sample, or accept it "
                           "(`ignore: [SM164]` on the shot)", shot=shot, locate=field)
            continue
        length = seconds(Path(sample))
        if length is None:
            checker.report("SM165", field, f"'{Path(sample).name}' cannot be read as {kind}",
                           "convert it with ffmpeg to WAV or MP4", shot=shot)
        elif route.max_voice_seconds and length > route.max_voice_seconds + 1e-6:
            checker.report("SM165", field, f"'{Path(sample).name}' lasts {length:.1f} s; {route.name} accepts "
                           f"voice samples of at most {route.max_voice_seconds:g} s",
                           f"cut it: ffmpeg -t {route.max_voice_seconds:g} -i {Path(sample).name} "
                           f"short{Path(sample).suffix}", shot=shot)
