"""Lint an episode before a cent is spent: provider facts (SM1xx) and spec hygiene (SM2xx).

Pure but for one file: ``lint(episode, env=..., today=...)`` takes the parsed model and returns
``Finding``s sorted by file and line; it prints nothing and reads no environment or clock (the
CLI passes ``os.environ`` and today's date). SM302 reads the subtitle font's character map. Each finding names the rule, the file:line:col and field
path, what is wrong and how to fix it::

    episodes/pilot.yaml:23:7: SM110 error: shots[3].duration: veo-3.1 takes 4k only in 8-second
    clips, not 4 s (set duration: 8, or resolution: 720p for a 4 s clip)

The provider rules read the route facts in ``providers/catalog.py``; which reference images a
shot sends mirrors ``plan.build_plan`` (``_sent_references``). Silence a rule for one shot with
``ignore: [SM104]`` on the shot, or for the whole episode with ``lint: {ignore: [SM104]}``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from .errors import SourceLocation
from .formats import RENDITIONS, rendition_size, rendition_upscale
from .lint_voice import VOICE_RULES, check_voices
from .model import Episode, Shot, clip_seconds
from .plan import character_references_sent, delivery_choice
from .prompts import shot_characters
from .providers.catalog import ROUTES, Route
from .spec_secrets import find_secret, may_hold_secret, redact, spec_strings

Severity = Literal["error", "warning"]

#: Longest sequence (seconds) before SM205 warns, unless ``lint: {max_sequence_seconds: N}``.
DEFAULT_MAX_SEQUENCE_SECONDS = 300.0

#: Vendor -> (company, environment variable naming its base URL, the vendor's own API host).
OFFICIAL_ENDPOINTS: Mapping[str, tuple[str, str, str]] = MappingProxyType({
    "openai": ("OpenAI", "OPENAI_BASE_URL", "api.openai.com"),
    "google": ("Google", "GOOGLE_GEMINI_BASE_URL", "generativelanguage.googleapis.com"),
})


@dataclass(frozen=True)
class Rule:
    """One lint rule: its id, severity, what it catches and how to fix it (docs/lint.md)."""

    id: str
    severity: Severity
    summary: str
    fix: str
    #: Findings concern one shot, so a shot's ``ignore:`` silences them (else only ``lint: {ignore}``).
    per_shot: bool = True


@dataclass(frozen=True)
class Finding:
    """One problem found in a spec: where, what and how to fix it."""

    rule: str
    severity: Severity
    message: str
    location: SourceLocation | None
    field: str
    hint: str

    def render(self) -> str:
        """Format as ``file:line:col: SM101 error: field: message (hint)``, like a compiler."""
        head = f"{self.location}: " if self.location is not None else ""
        text = f"{head}{self.rule} {self.severity}: "
        if self.field:
            text += f"{self.field}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


_RULES = (
    # SM1xx: what each provider accepts (providers.md); the build would fail or waste money.
    Rule("SM101", "error", "a character with a sheet or reference images in a shot routed to Sora 2 "
         "(Sora rejects input images showing a human face, so the sheet cannot be sent)",
         "route the shot to gemini-omni so the sheet is sent as a reference, or keep a text-only Sora shot "
         "and silence the rule"),
    Rule("SM102", "error", "a Sora 2 shot with `after:` a shot that has characters (its continuity frame "
         "may show a face, which Sora rejects)",
         "route the shot to gemini-omni, or drop `after:` and describe the continuity in the prompt"),
    Rule("SM103", "warning", "a plate sent to Sora 2 as `first_frame` or in `references` (shotmake "
         "cannot verify it shows no human face)",
         "check the plate shows no face and silence the rule, or route the shot to gemini-omni"),
    Rule("SM104", "error", "a character with a `cameo`: Sora app cameos cannot be used through any API",
         "non-human characters: declare a `sora_character` clip; people: a character sheet on gemini-omni",
         per_shot=False),
    Rule("SM105", "warning", "a shot on a deprecated route: it still renders, but the vendor has named a "
         "successor and may announce (or has announced) its shutdown date",
         "route the shot to the successor the message names (`shotmake routes` lists every route)"),
    Rule("SM106", "warning", "characters in a text-only shot on a route that sends no character "
         "references (Sora 2, Veo 3.1 Lite): about 70 % consistency, versus 80-85 % on a route that sees a sheet",
         "route the shot to gemini-omni and give the character a `sheet:`"),
    Rule("SM107", "error", "a duration the route does not accept (Veo: 4, 6 or 8 s; Sora: 4, 8 or 12 s)",
         "set one of the durations the message names"),
    Rule("SM108", "error", "a resolution the route does not render (Sora 2: 720p; Veo 3.1 Lite: no 4k)",
         "set one of the resolutions the message names, or pick a route that renders it"),
    Rule("SM109", "error", "an aspect ratio the route does not render",
         "set one of the aspect ratios the message names"),
    Rule("SM110", "error", "Veo at 1080p, at 4k or with reference images, but not 8 s long",
         "set `duration: 8` (or 720p / no references for a shorter clip)"),
    Rule("SM111", "error", "more reference images (character sheets and references, `references` "
         "plates; on Sora also the first frame) than the route takes (Veo: 3; Sora: 1; Veo 3.1 Lite: 0)",
         "drop plates from `references:`, or split the characters across shots"),
    Rule("SM112", "error", "reference images together with a first frame (`after:`/`first_frame:`), "
         "`last_frame:` or `extends:` on Veo, which refuses the combination",
         "drop the first/last frame or the extension, or the references"),
    Rule("SM113", "error", "an `extends:` the route cannot do: a route without extension, a source "
         "shot on another route, or a clip that is not 720p",
         "extend with veo-3.1 or veo-3.1-fast from a 720p clip rendered on the same route"),
    Rule("SM114", "error", "an extension whose `duration` is not the route's step (Veo: 7 s) or whose "
         "chain runs beyond the longest result (Veo: 148 s)",
         "set `duration: 7`; end the chain before 148 s"),
    Rule("SM115", "error", "a `first_frame`/`after:` or `last_frame` on a route without that input "
         "(Sora 2 has no last frame)",
         "route the shot to gemini-omni (first and last frame), or drop the field"),
    Rule("SM116", "warning", "more characters in one shot than the route keeps consistent "
         "(Sora 2: 2; Veo: 3)",
         "split the shot, or move characters to the background without listing them"),
    Rule("SM117", "warning", "a shot setting the route does not honour (a seed, a negative prompt, "
         "`audio: false`): the request goes without it, so the clip will not be what the field says",
         "route the shot to a route that takes it (`shotmake routes`), or drop the field"),
    Rule("SM118", "warning", "the style's `negative` prompt on a route that takes no negative prompt: "
         "it is left out of every request to that route",
         "say what to avoid in the look instead, or route those shots elsewhere", per_shot=False),
    Rule("SM120", "error", "a node that would render on a retired route (the vendor shut the model "
         "down): the request would fail after planning and pricing. Nodes already cached stay usable",
         "route the shots to the successor the message names, or add a `fallback` for the route in "
         "shotmake.toml; a gateway that still serves the model can be declared there with `status`"),
    # SM140-SM149: Seedance (Ark content-generation tasks).
    Rule("SM140", "warning", "a shot with reference images and a first/last frame on Seedance, which does "
         "not mix the two: references win, and the frame is sent as one more reference image (it guides "
         "the look; the clip does not start or end on it)",
         "to pin the frame, send no reference images (unlist characters that have sheets, drop `references:`)"),
    Rule("SM141", "error", "more reference images than the route takes once the frames sent as reference "
         "images are counted (Seedance 2.0: 9)",
         "drop plates from `references:` or the frame, or split the characters across shots"),
    Rule("SM142", "error", "a character reference or plate file that is not an image on a route that "
         "receives local files only as inline images (Seedance: video and audio references go by URL only)",
         "use image references (PNG, JPEG, WebP), or route the shot to a route that uploads video and audio"),
    Rule("SM143", "error", "a clip length in fractional seconds on a route that takes whole seconds only "
         "(Seedance: `duration` is an integer)",
         "set a whole number of seconds"),
    Rule("SM150", "error", "a character's reference clips (`.mp4`, `.mov`) or audio (`.mp3`, `.wav`) beyond what "
         "the route takes (wan-2.7: 5 clips, no audio; wan-3.0: 5 clips, 5 audio; most routes: none)",
         "route the shot to wan-2.7 or wan-3.0, or list fewer clips in the character's `references`"),
    Rule("SM151", "error", "a duration that is not a whole number of seconds on a Wan route (DashScope takes "
         "integer seconds)",
         "set a whole number of seconds, e.g. `duration: 5`"),
    # SM2xx: spec hygiene.
    Rule("SM201", "error", "an API key or token written into the spec (`sk-...`, `AIza...`, bearer tokens); "
         "the message shows only a redacted prefix",
         "delete it, revoke the key, and set it in the environment (OPENAI_API_KEY, GEMINI_API_KEY)"),
    Rule("SM202", "warning", "a character of this episode that no shot lists or names (series-bible "
         "characters from `include:` are exempt)",
         "use it in a shot, or delete it (or move it to the series bible)", per_shot=False),
    Rule("SM203", "warning", "a shot in no sequence that no sequenced shot depends on: it renders for nothing",
         "add it to a sequence's `shots:`, or delete it"),
    Rule("SM204", "warning", "a shot listed in more than one sequence (the same clip plays twice)",
         "remove it from all but one sequence, or copy it into a new shot"),
    Rule("SM205", "warning", "a sequence longer than `lint: {max_sequence_seconds: N}` (default 300 s)",
         "split the sequence, or raise `max_sequence_seconds`", per_shot=False),
    # SM21x: inputs a build would refuse only at its end, after the clips are paid for.
    Rule("SM211", "error", "a sheet or generated plate whose `aspect` its image route does not render "
         "(gpt-image: 1:1, 3:2, 2:3; Gemini image: 1:1 to 21:9)",
         "set one of the aspect ratios the message names, or pick another image route", per_shot=False),
    # SM3xx: media a viewer sees.
    Rule("SM301", "warning", "a shot whose aspect differs from the master's (`delivery.format`, else "
         "`defaults:`): it is fitted inside the master with black bars",
         "give the shot the master's aspect, or set `delivery: {format: {aspect: ...}}` to the aspect "
         "the episode is for"),
    Rule("SM302", "error", "burned-in subtitle characters the subtitle font has no glyph for (they would be "
         "drawn as boxes), or a subtitle font that cannot be read",
         "set `delivery: {subtitles: {font: FILE}}` to a font that covers them (e.g. a Noto Sans font for that "
         "script), or rewrite the subtitle", per_shot=True),
    Rule("SM303", "warning", "a rendition made by scaling up part of the master (`vertical` of a 16:9 master "
         "crops a 9:16 centre and enlarges it 1.78x): a softer picture",
         "make the episode 9:16 (`delivery: {format: {aspect: \"9:16\"}}`) if the vertical cut matters, or "
         "silence the rule", per_shot=False),
)

# SM160-SM179: voices and dialogue (lint_voice.py).
_VOICE_RULES = tuple(Rule(rid, sev, summary, fix, per_shot=per)  # type: ignore[arg-type]
                     for rid, sev, summary, fix, per in VOICE_RULES)

#: Protocols that send local files only as inline (base64) images (SM142) and take whole seconds
#: (SM143), and what counts as an image.
_INLINE_IMAGES_ONLY = ("ark-tasks",)
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")

#: Rule id -> rule; the source for ``docs/lint.md``.
RULES: Mapping[str, Rule] = MappingProxyType({r.id: r for r in (*_RULES, *_VOICE_RULES)})


def lint(
    episode: Episode,
    *,
    env: Mapping[str, str] | None = None,
    today: datetime.date | None = None,
    routes: Mapping[str, Route] = ROUTES,
) -> list[Finding]:
    """Return every finding for ``episode``, silenced ones removed, sorted by file and line.

    ``env`` holds the environment variables (only base URLs are read, never keys); ``today``
    words the Sora shutdown warning (``None``: "is scheduled to shut down").
    """
    return lint_shots(episode, env=env, today=today, routes=routes)[0]


#: The findings of the rules run per shot, each with the shot whose ``ignore:`` may silence it.
ShotFindings = list[tuple["Finding", str | None]]


def lint_shots(
    episode: Episode,
    *,
    env: Mapping[str, str] | None = None,
    today: datetime.date | None = None,
    routes: Mapping[str, Route] = ROUTES,
    known: Mapping[str, ShotFindings] | None = None,
) -> tuple[list[Finding], dict[str, ShotFindings]]:
    """``lint``'s findings, and each shot's findings of the rules run per shot.

    Those rules read the shot, the shots it continues or extends, and the spec's other parts;
    for the shots in ``known`` their findings are taken from it (``snapshot.py`` passes the
    last run's for the shots an edit left as they were, with nothing else changed).
    """
    checker = _Checker(episode, routes, dict(env or {}), today)
    per_shot = checker.run(known or {})
    silenced = set(episode.lint.get("ignore", ()))
    kept = [
        finding
        for finding, shot in checker.found
        if finding.rule not in silenced and (shot is None or finding.rule not in episode.shots[shot].ignore)
    ]
    return sorted(kept, key=position), per_shot


def shots_reading(episode: Episode, changed: Iterable[str]) -> set[str]:
    """The shots whose per-shot rules read one of ``changed``: those, the shots that continue one
    (``after:``) and the shots whose ``extends`` chain holds one."""
    changed = set(changed)
    reading = set(changed)
    shots = episode.shots
    for shot in shots.values():
        if shot.after in changed:
            reading.add(shot.id)
        source, seen = shot.extends, set()
        while source is not None and source in shots and source not in seen:
            if source in changed:
                reading.add(shot.id)
                break
            seen.add(source)
            source = shots[source].extends
    return reading


def has_errors(findings: Iterable[Finding]) -> bool:
    """True when any finding is an error (``plan``/``build`` must not spend)."""
    return any(f.severity == "error" for f in findings)


def position(finding: Finding) -> tuple[Any, ...]:
    """Sort key: by file, line and column (unlocated findings last), then rule and field."""
    loc = finding.location
    where = (0, loc.file, loc.line, loc.column) if loc is not None else (1, "", 0, 0)
    return (*where, finding.rule, finding.field)


# --------------------------------------------------------------------------------------------
# Wording helpers


def _num(value: float) -> str:
    return f"{value:g}"


def _either(values: list[str], word: str = "or") -> str:
    """``['4', '6', '8']`` -> ``4, 6 or 8``."""
    if len(values) <= 1:
        return "".join(values)
    return f"{', '.join(values[:-1])} {word} {values[-1]}"


def count_of(n: int, noun: str) -> str:
    """``3 nodes``, ``1 node``."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _nearest(value: float, allowed: tuple[float, ...]) -> float:
    return min(allowed, key=lambda a: (abs(a - value), -a))


# --------------------------------------------------------------------------------------------
# The checks


class _Checker:
    """Runs every rule over one episode, collecting (finding, shot id or None)."""

    def __init__(self, episode: Episode, routes: Mapping[str, Route], env: dict[str, str],
                 today: datetime.date | None) -> None:
        self.episode = episode
        self.routes = routes
        self.env = env
        self.today = today
        self.found: list[tuple[Finding, str | None]] = []
        self._character_labels: dict[str, tuple[str, ...]] = {}
        self._clip_seconds: dict[str, float] = {}

    def report(self, rule: str, field: str, message: str, hint: str = "", *, shot: Shot | None = None,
               locate: str | None = None) -> None:
        """Record a finding of ``rule`` at ``field`` (located by ``locate`` when the two differ)."""
        severity = RULES[rule].severity
        path = locate or field
        location = self.episode.where(path)
        name = path.rsplit(".", 1)[-1]
        default = self.episode.locations.get(f"defaults.{name}")
        if shot is not None and path not in self.episode.locations and default is not None:
            # The value is inherited: the shot is what is wrong, but say where the value comes from.
            hint = "; ".join(h for h in (hint, f"{name} is inherited from defaults.{name} at {default}") if h)
        self.found.append((Finding(rule, severity, message, location, field, hint), shot.id if shot else None))

    def run(self, known: Mapping[str, ShotFindings]) -> dict[str, ShotFindings]:
        """Every rule; returns each shot's findings of the per-shot rules (those of ``known`` as given)."""
        per_shot: dict[str, ShotFindings] = {}
        for shot in self.episode.shots.values():
            if shot.id in known:
                per_shot[shot.id] = list(known[shot.id])
                self.found.extend(per_shot[shot.id])
                continue
            start = len(self.found)
            self.shot_rules(shot)
            per_shot[shot.id] = self.found[start:]
        self.episode_rules()
        return per_shot

    def shot_rules(self, shot: Shot) -> None:
        """The rules that read one shot (and the shots it continues or extends)."""
        route = self.routes.get(shot.provider)
        if route is not None and route.kind == "video":  # else spec.py already refused it
            self.faces(shot, route)
            self.shutdown(shot, route)
            self.unhonoured(shot, route)
            self.text_only(shot, route)
            self.lengths_and_sizes(shot, route)
            self.references(shot, route)
            self.reference_media(shot, route)
            self.whole_seconds(shot, route)
            self.frames(shot, route)
            self.extension(shot, route)
            self.crowd(shot, route)
            self.frames_as_references(shot, route)
            self.inline_images_only(shot, route)

    def episode_rules(self) -> None:
        """The rules that read across shots, or the spec's other parts."""
        check_voices(self)
        self.style_negative()
        self.image_routes()
        self.cameos()
        self.secrets()
        self.unused_characters()
        self.reachability()
        self.sequence_lengths()
        self.mixed_aspects()
        self.subtitle_glyphs()
        self.upscaled_renditions()
        self.image_aspects()

    # -- what a shot sends ------------------------------------------------------------------

    def sent_references(self, shot: Shot, route: Route) -> list[str]:
        """Labels of the reference images ``plan.build_plan`` attaches to this shot, in order.

        Character sheets and character reference files go only to routes that take references
        that may show faces; ``references:`` plates always go.
        """
        labels: list[str] = []
        if character_references_sent(shot, route):
            for cid in shot_characters(shot):
                labels.extend(self.character_references(cid))
        if shot.references:
            labels.extend(f"plate '{pid}'" for pid in shot.references)
        return labels

    def character_references(self, cid: str) -> tuple[str, ...]:
        """Labels of the images a character sends (its sheet, then its reference images): made once."""
        labels = self._character_labels.get(cid)
        if labels is None:
            char = self.episode.characters.get(cid)
            labels = () if char is None else (
                *((f"{cid}'s sheet",) if char.sheet is not None else ()),
                *(f"{cid}'s reference image {j + 1}" for j in range(len(char.references))))
            self._character_labels[cid] = labels
        return labels

    def reference_media(self, shot: Shot, route: Route) -> None:
        """SM150: a character's reference clips and audio against the route's own limits for them."""
        if not character_references_sent(shot, route):
            return
        clips: list[str] = []
        audio: list[str] = []
        for cid in shot_characters(shot):
            char = self.episode.characters.get(cid)
            for ref in char.references if char is not None else ():
                suffix = ref.rsplit(".", 1)[-1].lower()
                name = f"{cid}'s {ref.rsplit('/', 1)[-1]}"
                if suffix in ("mp4", "mov"):
                    clips.append(name)
                elif suffix in ("mp3", "wav"):
                    audio.append(name)
        for found, limit, noun in ((clips, route.max_reference_videos, "reference clip"),
                                   (audio, route.max_reference_audios, "reference audio file")):
            if len(found) > limit:
                takes = f"takes at most {limit}" if limit else f"takes no {noun}s"
                self.report("SM150", f"{shot.path}.characters" if shot.characters else f"{shot.path}.prompt",
                            f"{count_of(len(found), noun)} ({_either(found, 'and')}); {route.name} {takes}",
                            RULES["SM150"].fix, shot=shot)

    def whole_seconds(self, shot: Shot, route: Route) -> None:
        """SM151: DashScope's ``parameters.duration`` is an integer."""
        if route.protocol == "dashscope-video" and shot.duration != int(shot.duration):
            self.report("SM151", f"{shot.path}.duration",
                        f"{route.name} renders whole seconds, not {_num(shot.duration)} s",
                        f"set duration: {max(1, round(shot.duration))}", shot=shot)

    def character_field(self, shot: Shot, cid: str) -> str:
        """The field naming ``cid`` in a shot: its ``characters[j]`` entry, else the prompt."""
        if cid in shot.characters:
            return f"{shot.path}.characters[{shot.characters.index(cid)}]"
        return f"{shot.path}.prompt"

    def clip_length(self, shot: Shot) -> float:
        """Seconds of the clip a shot renders: an extension holds its whole chain (walked once per shot)."""
        seconds = self._clip_seconds.get(shot.id)
        if seconds is None:
            seconds = self._clip_seconds[shot.id] = clip_seconds(self.episode.shots, shot.id)
        return seconds

    # -- SM101 / SM102 / SM103: faces on Sora -----------------------------------------------

    def faces(self, shot: Shot, route: Route) -> None:
        if route.references_may_show_faces:
            return
        for cid in shot_characters(shot):
            char = self.episode.characters.get(cid)
            if char is None or char.sora_character is not None:
                continue  # a declared Sora character is non-human and goes by id, not as an image
            if char.sheet is None and not char.references:
                continue
            what = _either([w for w, on in (("character sheet", char.sheet is not None),
                                            (count_of(len(char.references), "reference image"),
                                             bool(char.references))) if on], "and")
            self.report(
                "SM101", self.character_field(shot, cid),
                f"{route.name} rejects input images that show a human face, so {cid}'s {what} cannot be sent "
                f"and the shot would render from text alone",
                f"route the shot to gemini-omni so the sheet is sent as a reference, or keep a text-only "
                f"{route.name} shot with `ignore: [SM101]`", shot=shot)
        if shot.after and shot.after in self.episode.shots:
            source = self.episode.shots[shot.after]
            present = shot_characters(source)
            if present:
                self.report(
                    "SM102", f"{shot.path}.after",
                    f"the last frame of '{source.id}' (with {_either(list(present), 'and')}) becomes this "
                    f"shot's first frame, and {route.name} rejects input images that show a human face",
                    "route the shot to gemini-omni, or drop `after:` and describe the continuity in the prompt",
                    shot=shot)
        plates = [(f"{shot.path}.first_frame", shot.first_frame)] if shot.first_frame else []
        plates += [(f"{shot.path}.references[{j}]", pid) for j, pid in enumerate(shot.references)]
        for field, pid in plates:
            self.report(
                "SM103", field,
                f"{route.name} rejects input images that show a human face, and shotmake cannot check "
                f"plate '{pid}'",
                "if the plate shows no face, silence with `ignore: [SM103]`; otherwise route the shot to gemini-omni",
                shot=shot)

    # -- SM104: cameos ---------------------------------------------------------------------

    def cameos(self) -> None:
        for cid, char in self.episode.characters.items():
            if char.cameo is None:
                continue
            self.report(
                "SM104", f"characters.{cid}.cameo",
                "Sora app cameos cannot be used through any API; the official characters endpoint takes only "
                "non-human characters (human likeness is blocked)",
                "for a non-human character declare `sora_character: CLIP.mp4`; for a person give the character "
                "`sheet: true` and route its shots to gemini-omni (the sheet is sent as a reference)")

    # -- SM105: deprecated routes ---------------------------------------------------------------

    def shutdown(self, shot: Shot, route: Route) -> None:
        """Warn on a deprecated route (retired ones are refused by ``lifecycle`` for uncached nodes)."""
        today = self.today or datetime.date.today()
        if route.status_on(today) != "deprecated":
            return
        ahead = f"; the vendor shuts it down on {route.retired_on}" if route.retired_on else ""
        self.report(
            "SM105", f"{shot.path}.provider", f"{route.name} is deprecated ({route.model}){ahead}",
            f"route the shot to {route.successor}" if route.successor else "pick a live route (`shotmake routes`)",
            shot=shot)

    def image_routes(self) -> None:
        """SM105 for character sheets and generated plates on a deprecated image route."""
        today = self.today or datetime.date.today()
        used = [(f"characters.{c.id}.sheet", c.sheet.provider) for c in self.episode.characters.values()
                if c.sheet is not None]
        used += [(f"plates.{p.id}", p.provider) for p in self.episode.plates.values() if p.file is None]
        for path, name in used:
            route = self.routes.get(name)
            if route is None or route.status_on(today) != "deprecated":
                continue
            ahead = f"; the vendor shuts it down on {route.retired_on}" if route.retired_on else ""
            self.report("SM105", path, f"{route.name} is deprecated ({route.model}){ahead}",
                        f"use {route.successor}" if route.successor else "pick a live route (`shotmake routes`)",
                        locate=path)

    # -- SM117/SM118: settings a route does not honour --------------------------------------------

    def unhonoured(self, shot: Shot, route: Route) -> None:
        ignored: list[tuple[str, str]] = []  # in this order: seed, negative, audio
        if shot.seed is not None and not route.seed:
            ignored.append(("seed", "a seed"))
        if not route.negative_prompt and shot.negative.strip():
            ignored.append(("negative", "a negative prompt"))
        if not shot.audio and not route.audio_off:
            ignored.append(("audio", "`audio: false` (it always generates sound)"))
        for field, what in ignored:
            self.report("SM117", f"{shot.path}.{field}", f"{route.name} does not take {what}",
                        "drop the field, or pick a route that takes it (`shotmake routes`)", shot=shot)

    def style_negative(self) -> None:
        if not self.episode.style.negative.strip():
            return
        ignoring = sorted({s.provider for s in self.episode.shots.values()
                           if s.provider in self.routes and self.routes[s.provider].kind == "video"
                           and not self.routes[s.provider].negative_prompt and "SM118" not in s.ignore})
        if ignoring:
            self.report("SM118", "style.negative",
                        f"{_either(ignoring, 'and')} take{'s' if len(ignoring) == 1 else ''} no negative prompt: "
                        "the style's `negative` is not sent to "
                        f"{'it' if len(ignoring) == 1 else 'them'}", "describe the look to avoid in `style.look`")

    # -- SM106: text-only characters -------------------------------------------------------

    def text_only(self, shot: Shot, route: Route) -> None:
        if route.vendor == "local" or (route.max_references and route.references_may_show_faces):
            return  # this route receives the character sheets
        for cid in shot_characters(shot):
            char = self.episode.characters.get(cid)
            if char is None or char.sora_character is not None:
                continue
            if not route.references_may_show_faces and (char.sheet is not None or char.references):
                continue  # SM101 says it, as an error
            why = ("sends no reference images" if not route.max_references
                   else "cannot take a character's face as a reference")
            self.report(
                "SM106", self.character_field(shot, cid),
                f"{route.name} {why}, so {cid} is kept consistent by text alone (about 70 %; a route that sees a "
                f"character sheet reaches about 80-85 %)",
                f"route the shot to gemini-omni and give {cid} `sheet: true`, or accept it with `ignore: [SM106]`",
                shot=shot)

    # -- SM107 / SM108 / SM109 / SM110: durations and sizes ---------------------------------

    def lengths_and_sizes(self, shot: Shot, route: Route) -> None:
        if shot.resolution not in route.resolutions:
            elsewhere = [r.name for r in self.routes.values()
                         if r.kind == "video" and r.vendor != "local" and shot.resolution in r.resolutions]
            hint = f"set resolution: {_either(list(route.resolutions))}"
            if elsewhere:
                hint += f", or route the shot to {_either(elsewhere)} for {shot.resolution}"
            self.report("SM108", f"{shot.path}.resolution",
                        f"{route.name} renders {_either(list(route.resolutions))}, not {shot.resolution}", hint,
                        shot=shot)
        if shot.aspect not in route.aspects:
            self.report("SM109", f"{shot.path}.aspect",
                        f"{route.name} renders {_either(list(route.aspects))}, not {shot.aspect}",
                        f"set aspect: \"{route.aspects[0]}\"", shot=shot)
        if shot.extends:
            return  # an extension's length is SM114's business
        if not route.durations:  # a range (or any length)
            if not route.accepts_duration(shot.duration):
                near = min(max(shot.duration, route.min_duration), route.max_duration or shot.duration)
                self.report("SM107", f"{shot.path}.duration",
                            f"{route.name} accepts {route.describe_durations()}, not {_num(shot.duration)} s",
                            f"set duration: {_num(near)}", shot=shot)
            return
        allowed = _either([_num(d) for d in route.durations])
        longest = max(route.durations)
        forced = [what for what, on in (
            (shot.resolution, shot.resolution in route.eight_seconds_only),
            ("reference images", "references" in route.eight_seconds_only
             and bool(self.sent_references(shot, route)))) if on]
        if shot.duration not in route.durations:
            target = longest if forced else _nearest(shot.duration, route.durations)
            self.report("SM107", f"{shot.path}.duration",
                        f"{route.name} accepts {allowed} s, not {_num(shot.duration)} s",
                        f"set duration: {_num(target)}" + (f"; {_either(forced, 'and')} need {_num(longest)} s"
                                                           if forced else ""), shot=shot)
        elif forced and shot.duration != longest:
            if shot.resolution in forced:
                what = shot.resolution
                shorter = [r for r in route.resolutions if r not in route.eight_seconds_only]
                hint = f"set duration: {_num(longest)}" + (
                    f", or resolution: {shorter[0]} for a {_num(shot.duration)} s clip" if shorter else "")
            else:
                what = f"reference images ({_either(self.sent_references(shot, route), 'and')})"
                hint = f"set duration: {_num(longest)}, or send no reference images"
            self.report("SM110", f"{shot.path}.duration",
                        f"{route.name} takes {what} only in {_num(longest)}-second clips, not "
                        f"{_num(shot.duration)} s", hint, shot=shot)

    # -- SM111 / SM112: reference images ---------------------------------------------------

    def references(self, shot: Shot, route: Route) -> None:
        sent = self.sent_references(shot, route)
        images = list(sent)
        if route.frames_share_references:
            if shot.after:
                images.insert(0, f"the last frame of '{shot.after}'")
            elif shot.first_frame:
                images.insert(0, f"first frame '{shot.first_frame}'")
        if len(images) > route.max_references:
            field = f"{shot.path}.references" if shot.references else (
                f"{shot.path}.characters" if shot.characters else f"{shot.path}.prompt")
            what = "input images" if route.frames_share_references else "reference images"
            limit = (f"takes no {what}" if route.max_references == 0
                     else f"takes at most {route.max_references}")
            message = f"{count_of(len(images), what[:-1])} ({_either(images, 'and')}); {route.name} {limit}"
            if route.frames_share_references:
                message += " (the first frame and references share one input image)"
                hint = "keep one input image, or route the shot to seedance-2.0 (up to 9 reference images)"
            elif route.max_references == 0:
                hint = "route the shot to gemini-omni or seedance-2.0 for reference images, or drop `references:`"
            else:
                hint = (f"send at most {route.max_references}: drop plates from `references:`, or split the "
                        f"characters across shots")
            self.report("SM111", field, message, hint, shot=shot)
        if sent and not route.references_with_frames and not route.frames_as_references:
            for name, value in (("after", shot.after), ("first_frame", shot.first_frame),
                                ("last_frame", shot.last_frame), ("extends", shot.extends)):
                if value is None:
                    continue
                kind = {"after": f"the first frame from `after: {value}`",
                        "first_frame": f"the first frame `first_frame: {value}`",
                        "last_frame": f"the last frame `last_frame: {value}`",
                        "extends": f"the extension `extends: {value}`"}[name]
                self.report(
                    "SM112", f"{shot.path}.{name}",
                    f"{route.name} cannot combine reference images ({_either(sent, 'and')}) with {kind}",
                    f"drop `{name}:` and let the references carry the look, or send no reference images: "
                    f"unlist the characters that have sheets and drop `references:`", shot=shot)
                break

    # -- SM140 / SM141 / SM142: Seedance -----------------------------------------------------

    def frames_as_references(self, shot: Shot, route: Route) -> None:
        """Say which mode wins when references and frames meet on a route that turns frames into references."""
        if not route.frames_as_references:
            return
        sent = self.sent_references(shot, route)
        if not sent:
            return
        frames = [(name, value) for name, value in (("after", shot.after), ("first_frame", shot.first_frame),
                                                     ("last_frame", shot.last_frame)) if value is not None]
        for name, value in frames:
            kind = {"after": f"the first frame from `after: {value}`", "first_frame": f"first frame '{value}'",
                    "last_frame": f"last frame '{value}'"}[name]
            self.report(
                "SM140", f"{shot.path}.{name}",
                f"{route.name} does not mix frames with reference images ({_either(sent, 'and')}): {kind} is "
                "sent as one more reference image, so the clip is not pinned to it",
                "to pin it, send no reference images (unlist the characters that have sheets, drop "
                "`references:`), or accept it with `ignore: [SM140]`", shot=shot)
        total = len(sent) + len(frames)
        if frames and len(sent) <= route.max_references < total:
            self.report(
                "SM141", f"{shot.path}.{frames[0][0]}",
                f"{count_of(total, 'reference image')} on {route.name} ({len(sent)} references and "
                f"{count_of(len(frames), 'frame')} sent as references); it takes at most {route.max_references}",
                "drop plates from `references:` or the frame, or split the characters across shots", shot=shot)

    def inline_images_only(self, shot: Shot, route: Route) -> None:
        """Refuse what the Ark protocol cannot carry: files other than images, fractional seconds."""
        if route.protocol not in _INLINE_IMAGES_ONLY:
            return
        if shot.duration != int(shot.duration) and not shot.extends:
            self.report("SM143", f"{shot.path}.duration",
                        f"{route.name} renders whole seconds, not {_num(shot.duration)} s",
                        f"set duration: {max(int(shot.duration), 1)} or {int(shot.duration) + 1}", shot=shot)
        files: list[tuple[str, str]] = []
        if character_references_sent(shot, route):
            for cid in shot_characters(shot):
                char = self.episode.characters.get(cid)
                if char is not None:
                    files += [(f"characters.{cid}.references[{j}]", ref) for j, ref in enumerate(char.references)]
        for name, pid in [("references", p) for p in shot.references] + [
                (n, v) for n, v in (("first_frame", shot.first_frame), ("last_frame", shot.last_frame)) if v]:
            plate = self.episode.plates.get(pid)
            if plate is not None and plate.file is not None:
                files.append((f"{shot.path}.{name}", plate.file))
        for field, path in files:
            suffix = Path(path).suffix.lower()
            if suffix not in _IMAGE_SUFFIXES:
                self.report(
                    "SM142", field,
                    f"{route.name} receives local files only as inline images; '{Path(path).name}' is not one "
                    f"({suffix or 'no extension'}): reference video and audio must be sent by URL, which shotmake "
                    "does not host",
                    "use PNG, JPEG or WebP references here, or route the shot to a route that uploads media",
                    shot=shot, locate=field if field in self.episode.locations else f"{shot.path}.provider")

    # -- SM115: first and last frames ------------------------------------------------------

    def frames(self, shot: Shot, route: Route) -> None:
        def capable() -> list[str]:  # only for a finding's hint: most shots have none
            return [r.name for r in self.routes.values() if r.kind == "video" and r.vendor != "local"]

        if not route.first_frame:
            for name, value in (("after", shot.after), ("first_frame", shot.first_frame)):
                if value is not None:
                    others = _either([n for n in capable() if self.routes[n].first_frame])
                    self.report("SM115", f"{shot.path}.{name}",
                                f"{route.name} takes no first-frame image", f"route the shot to {others}, or drop "
                                f"`{name}:`", shot=shot)
        if shot.last_frame is not None and not route.last_frame:
            others = _either([n for n in capable() if self.routes[n].last_frame])
            self.report("SM115", f"{shot.path}.last_frame",
                        f"{route.name} takes no last-frame image (first+last frame interpolation)",
                        f"route the shot to {others}, or drop `last_frame:`", shot=shot)

    # -- SM113 / SM114: extension ----------------------------------------------------------

    def extension(self, shot: Shot, route: Route) -> None:
        if shot.extends is None or shot.extends not in self.episode.shots:
            return
        source = self.episode.shots[shot.extends]
        able = _either([r.name for r in self.routes.values() if r.kind == "video" and r.extension])
        if not route.extension:
            self.report("SM113", f"{shot.path}.extends", f"{route.name} cannot extend clips",
                        f"route this shot and '{source.id}' to {able}, or drop `extends:`", shot=shot)
            return
        if source.provider != route.name:
            self.report("SM113", f"{shot.path}.extends",
                        f"{route.name} extends only clips it rendered itself; '{source.id}' renders on "
                        f"{source.provider}", f"route '{source.id}' to {route.name} too", shot=shot)
        allowed = route.extension_resolutions
        if allowed and source.resolution not in allowed:
            self.report("SM113", f"{shot.path}.extends",
                        f"{route.name} extends only {_either(list(allowed))} clips; '{source.id}' is "
                        f"{source.resolution}", f"set resolution: {allowed[0]} on '{source.id}'", shot=shot)
        if allowed and shot.resolution not in allowed:
            self.report("SM113", f"{shot.path}.resolution",
                        f"a {route.name} extension is {_either(list(allowed))} only, not {shot.resolution}",
                        f"set resolution: {allowed[0]}", shot=shot)
        if not route.extension_step:  # the extension adds the shot's duration (Omni), within the route's range
            if not route.accepts_duration(shot.duration):
                self.report("SM114", f"{shot.path}.duration",
                            f"a {route.name} extension adds {route.describe_durations()}, not "
                            f"{_num(shot.duration)} s (an extension's duration is the added length)",
                            f"set duration: {_num(max(route.min_duration, 1.0))}", shot=shot)
        elif shot.duration != route.extension_step:
            self.report("SM114", f"{shot.path}.duration",
                        f"a {route.name} extension adds {_num(route.extension_step)} s, not "
                        f"{_num(shot.duration)} s (an extension's duration is the added length)",
                        f"set duration: {_num(route.extension_step)}", shot=shot)
        total = self.clip_length(shot)
        if route.extension_max_total and total > route.extension_max_total:
            self.report("SM114", f"{shot.path}.extends",
                        f"the extended clip would run {_num(total)} s; {route.name} extends up to "
                        f"{_num(route.extension_max_total)} s in all",
                        "end the extension chain earlier and start a new shot (e.g. with `after:`)", shot=shot)

    # -- SM116: crowded shots --------------------------------------------------------------

    def crowd(self, shot: Shot, route: Route) -> None:
        present = shot_characters(shot)
        if len(present) > route.comfortable_characters:
            self.report(
                "SM116", f"{shot.path}.characters" if shot.characters else f"{shot.path}.prompt",
                f"{len(present)} characters ({_either(list(present), 'and')}); {route.name} keeps about "
                f"{route.comfortable_characters} consistent in one shot",
                "split the shot, or leave background characters out of `characters:` and the placeholders",
                shot=shot)

    # -- SM201: secrets --------------------------------------------------------------------

    def secrets(self) -> None:
        ep = self.episode
        if not may_hold_secret(ep):
            return  # nearly always: one search over every string, none of the per-field paths made
        owners = {shot.path: shot for shot in ep.shots.values()}
        values: list[tuple[str, str]] = [("episode", ep.name), ("title", ep.title), ("output", ep.output)]
        sections: tuple[tuple[str, Any], ...] = (
            ("style", ep.style), ("characters", ep.characters), ("plates", ep.plates),
            ("delivery", ep.delivery))
        for name, section in sections:
            values.extend(spec_strings(section, name))
        for shot in ep.shots.values():
            values.extend(spec_strings(shot, shot.path))
        for seq in ep.sequences:
            values.extend(spec_strings(seq, seq.path))
        root = ep.root.rstrip("/\\")
        for path, text in values:
            if text.startswith(root) and text[len(root):len(root) + 1] in ("/", "\\"):
                text = text[len(root):]  # a resolved asset path: only the part the spec wrote counts
            found = find_secret(text)
            if found is None:
                continue
            what, redacted = found
            owner = owners.get(path.split(".", 1)[0]) if path.startswith("shots[") else None
            self.report(
                "SM201", redact(path), f"looks like {what} ({redacted}); secrets do not belong in the spec",
                "delete it and revoke the key (anyone with the spec or its history has it); shotmake reads "
                "keys only from the environment (OPENAI_API_KEY, GEMINI_API_KEY)", shot=owner, locate=path)

    # -- SM202 / SM203 / SM204 / SM205: hygiene --------------------------------------------

    def unused_characters(self) -> None:
        used = {cid for shot in self.episode.shots.values() for cid in shot_characters(shot)}
        for cid, char in self.episode.characters.items():
            if cid in used or (char.location is not None and char.location.file != self.episode.source):
                continue  # characters of an included series bible need not appear in every episode
            self.report("SM202", f"characters.{cid}", f"character '{cid}' appears in no shot",
                        f"list it in a shot's `characters:` or name it as {{{cid}}} in a prompt, or delete it")

    def reachability(self) -> None:
        ep = self.episode
        needed: set[str] = set()
        todo = [sid for seq in ep.sequences for sid in seq.shots]
        while todo:
            sid = todo.pop()
            if sid in needed or sid not in ep.shots:
                continue
            needed.add(sid)
            shot = ep.shots[sid]
            if shot.after:
                todo.append(shot.after)
            if shot.extends:
                todo.append(shot.extends)
        for shot in ep.shots.values():
            if shot.id not in needed:
                self.report("SM203", f"{shot.path}.id",
                            f"shot '{shot.id}' is in no sequence and no sequenced shot depends on it: it renders "
                            "for nothing", "add it to a sequence's `shots:`, or delete it", shot=shot)
        first: dict[str, str] = {}
        for seq in ep.sequences:
            for j, sid in enumerate(seq.shots):
                if sid not in ep.shots:
                    continue
                if sid in first and first[sid] != seq.id:
                    self.report("SM204", f"{seq.path}.shots[{j}]",
                                f"shot '{sid}' is already in sequence '{first[sid]}'; the same clip would play twice",
                                f"remove it from '{seq.id}' or '{first[sid]}', or copy it into a new shot",
                                shot=ep.shots[sid])
                first.setdefault(sid, seq.id)

    def sequence_lengths(self) -> None:
        limit = float(self.episode.lint.get("max_sequence_seconds", DEFAULT_MAX_SEQUENCE_SECONDS))
        for seq in self.episode.sequences:
            total = 0.0
            for sid in seq.shots:
                shot = self.episode.shots.get(sid)
                if shot is not None:
                    end = shot.trim_out if shot.trim_out is not None else self.clip_length(shot)
                    total += max(0.0, end - shot.trim_in)
            if seq.transition.kind == "crossfade" and len(seq.shots) > 1:
                total -= seq.transition.seconds * (len(seq.shots) - 1)  # each crossfade overlaps two clips
            if total > limit:
                self.report("SM205", seq.path,
                            f"sequence '{seq.id}' runs {_num(round(total, 2))} s, longer than {_num(limit)} s",
                            "split it into shorter sequences, or raise `lint: {max_sequence_seconds: N}`")

    def mixed_aspects(self) -> None:
        ep = self.episode
        _, aspect, _ = delivery_choice(ep)
        source = "delivery.format.aspect" if "delivery.format.aspect" in ep.locations else "defaults.aspect"
        where = ep.locations.get(source)
        said = f"{source} at {where}" if where is not None else "shotmake's default"
        bars = "pillarboxed (bars left and right)" if aspect == "16:9" else "letterboxed (bars above and below)"
        seen: set[str] = set()
        for seq in ep.sequences:
            for sid in seq.shots:
                shot = ep.shots.get(sid)
                if shot is None or sid in seen or shot.aspect == aspect:
                    continue
                seen.add(sid)
                self.report("SM301", f"{shot.path}.aspect",
                            f"shot '{sid}' is {shot.aspect} but the master is {aspect} ({said}): it will be {bars}",
                            f'set aspect: "{aspect}" on the shot, or delivery: {{format: {{aspect: "{shot.aspect}"}}}} '
                            "if the episode is meant to be that shape", shot=shot, locate=f"{shot.path}.aspect")

    def subtitle_glyphs(self) -> None:
        ep = self.episode
        settings = ep.delivery.get("subtitles", {})
        if not isinstance(settings, Mapping) or settings.get("burn") is not True:
            return
        sequenced = dict.fromkeys(sid for seq in ep.sequences for sid in seq.shots if sid in ep.shots)
        # A shot's subtitles are its `subtitle:`, else its dialogue's lines (plan.subtitle_of).
        texts = {sid: ep.shots[sid].subtitle or "\n".join(ln.line for ln in ep.shots[sid].dialogue) for sid in sequenced}
        shots = [ep.shots[sid] for sid in sequenced if texts[sid]]
        if not shots:
            return
        from .subtitles import FontError, bundled_font, missing  # reads the font file: only when burning

        font_file = settings.get("font")
        font = Path(font_file) if isinstance(font_file, str) else bundled_font()
        if font is None:
            self.report("SM302", "delivery.subtitles.burn", "the bundled subtitle font (package noto-cjk-sans-otc) "
                        "is not installed", "reinstall shotmake, or set `delivery: {subtitles: {font: FILE}}`")
            return
        shown = "delivery.subtitles.font" if isinstance(font_file, str) else "the bundled Noto Sans CJK"
        try:
            lacking = missing(font, [texts[shot.id] for shot in shots])
        except FontError as exc:
            self.report("SM302", "delivery.subtitles.font", str(exc), "name a .ttf, .otf or .ttc font file")
            return
        for shot in shots:
            chars = [ch for ch in lacking if ch in texts[shot.id]]
            if chars:
                listed = " ".join(f"{ch} (U+{ord(ch):04X})" for ch in chars[:5]) + (" ..." if len(chars) > 5 else "")
                self.report("SM302", f"{shot.path}.subtitle" if shot.subtitle else f"{shot.path}.dialogue",
                            f"{shown} has no glyph for {listed}: burned in, they would be boxes",
                            "set `delivery: {subtitles: {font: FILE}}` to a font that covers them, or rewrite "
                            "the subtitle", shot=shot)

    def upscaled_renditions(self) -> None:
        resolution, aspect, _ = delivery_choice(self.episode)
        renditions = self.episode.delivery.get("renditions", [])
        for j, kind in enumerate(renditions if isinstance(renditions, list) else []):
            if kind not in RENDITIONS:
                continue  # spec.py refused it
            factor = rendition_upscale(kind, resolution, aspect)
            if factor > 1.01:
                width, height = rendition_size(kind, resolution, aspect)
                self.report("SM303", f"delivery.renditions[{j}]",
                            f"the {kind} rendition ({width}x{height}) enlarges part of the {resolution} {aspect} "
                            f"master {factor:.2f}x: a softer picture",
                            f'make the episode {"9:16" if kind == "vertical" else "larger"} if that cut matters, '
                            "or silence SM303")

    # -- SM211: image aspects a route does not render -----------------------------------

    def image_aspects(self) -> None:
        ep = self.episode
        images: list[tuple[str, str, str]] = []  # field, route, aspect
        for cid, char in ep.characters.items():
            if char.sheet is not None:
                images.append((f"characters.{cid}.sheet.aspect", char.sheet.provider, char.sheet.aspect))
        for pid, plate in ep.plates.items():
            if plate.file is None:
                images.append((f"plates.{pid}.aspect", plate.provider, plate.aspect))
        for field, name, aspect in images:
            route = self.routes.get(name)
            if route is None or route.kind != "image" or route.vendor == "local" or aspect in route.aspects:
                continue  # the local renderer draws any aspect
            self.report("SM211", field, f"{route.name} renders {_either(list(route.aspects))}, not {aspect}",
                        f"set aspect: \"{route.aspects[0]}\", or pick another image route")
