"""Finishing the master: audio mix and loudness, subtitles, chapters, poster, extra renditions.

Each function reads one assembled file and writes one new file, so each can be a cached
node keyed by its inputs' digests and its options. The picture is stream-copied wherever the
step does not change it (mix, loudness, chapters). A build burns subtitles and makes renditions
shot by shot (``renditions``); ``burn_subtitles`` here draws onto one whole file.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .conform import DeliveryFormat
from .errors import MediaError
from .loudness import Blocks, gain, integrated
from .loudness import measure as measure_blocks
from .media import INPUT_PROTOCOLS, decode_counts, input_args, open_input, probe, run
from .media import ffmpeg_python as ff
from .timeline import Chapter, ffmetadata

#: The delivery format used when a caller names none (frozen, so sharing one instance is safe).
DEFAULT_FORMAT = DeliveryFormat()


@dataclass(frozen=True)
class LoudnessTarget:
    """EBU R128 target: integrated loudness (LUFS), true peak (dBTP), loudness range (LU)."""

    integrated: float = -16.0
    true_peak: float = -1.5
    lra: float = 11.0


@dataclass(frozen=True)
class Loudness:
    """A measurement by ffmpeg's loudnorm (EBU R128)."""

    integrated: float
    true_peak: float
    lra: float
    threshold: float
    offset: float = 0.0


def _loudnorm_json(stderr: str) -> dict[str, str]:
    found = re.findall(r"\{[^{}]*\"input_i\"[^{}]*\}", stderr)
    if not found:
        raise MediaError(f"loudnorm printed no measurement:\n{stderr[-800:]}")
    data: dict[str, str] = json.loads(found[-1])
    return data


def measure_loudness(path: Path, target: LoudnessTarget = LoudnessTarget()) -> Loudness:
    """Measure ``path``'s audio (the first pass of two-pass loudness normalisation)."""
    stream = open_input(path).audio.filter(
        "loudnorm", I=target.integrated, TP=target.true_peak, LRA=target.lra, print_format="json")
    err = run(list(ff.output(stream, "-", format="null").get_args()), loglevel="info")
    d = _loudnorm_json(err)
    return Loudness(integrated=float(d["input_i"]), true_peak=float(d["input_tp"]), lra=float(d["input_lra"]),
                    threshold=float(d["input_thresh"]), offset=float(d["target_offset"]))


@dataclass(frozen=True)
class VoiceOver:
    """A dialogue or voice-over file placed at ``at`` seconds of the master."""

    path: Path
    at: float
    gain_db: float = 0.0


def _mix_graph(master: Path, music: Path | None, voices: Sequence[VoiceOver], music_gain_db: float,
               duck: bool) -> Any:
    """The mixed audio stream: the clips' own sound, voice-overs on top, music ducked under both."""
    main = open_input(master).audio
    layers = [main]
    voice_mix = None
    if voices:
        placed = []
        for vo in voices:
            ms = max(0, round(vo.at * 1000))
            placed.append(open_input(vo.path).audio.filter("aformat", sample_rates=48000, channel_layouts="stereo")
                          .filter("adelay", delays=ms, all=1).filter("volume", f"{vo.gain_db}dB"))
        voice_mix = placed[0] if len(placed) == 1 else ff.filter(placed, "amix", inputs=len(placed), normalize=0,
                                                                  duration="longest")
    if music is not None:
        bed = (open_input(music, stream_loop=-1).audio
               .filter("aformat", sample_rates=48000, channel_layouts="stereo").filter("volume", f"{music_gain_db}dB"))
        if duck:
            # The music ducks whenever the clips or the voices speak.
            key_source = main if voice_mix is None else voice_mix
            split = key_source.filter_multi_output("asplit", 2)
            if voice_mix is None:
                layers = [split[0]]
            else:
                voice_mix = split[0]
            bed = ff.filter([bed, split[1]], "sidechaincompress", threshold=0.02, ratio=8, attack=20, release=400)
        layers.append(bed)
    if voice_mix is not None:
        layers.append(voice_mix)
    if len(layers) == 1:
        return layers[0]
    # duration=first: the master's own audio sets the length (the music loops forever).
    return ff.filter(layers, "amix", inputs=len(layers), normalize=0, duration="first")


@dataclass(frozen=True)
class Leveled:
    """What levelling did: the programme's integrated loudness before (LUFS) and the gain applied (dB)."""

    integrated: float
    gain_db: float


def mix_audio(master: Path, dest: Path, *, music: Path | None = None, voices: Sequence[VoiceOver] = (),
              music_gain_db: float = -14.0, duck: bool = True, loudness: LoudnessTarget | None = LoudnessTarget(),
              fmt: DeliveryFormat = DEFAULT_FORMAT, samples: int | None = None,
              blocks: Blocks | None = None) -> Leveled | None:
    """Mix music and voice-overs under ``master``'s audio, bring it to ``loudness``, copy the picture.

    The audio keeps exactly the master's sample count (``samples``, counted by decoding when not
    given), so A/V sync is untouched. Loudness is one linear gain (``loudness.gain``): from
    ``blocks`` (the programme's gating blocks, combined from its shots' measurements) when
    nothing is mixed in; a mix is measured once, as it is written. Returns what was measured and
    applied (None without a loudness target, or for silence).
    """
    if samples is None:
        samples = decode_counts(master)[1]
    if samples == 0:
        raise MediaError(f"{master} has no audio to mix under")
    leveled: Leveled | None = None
    with tempfile.TemporaryDirectory(prefix="shotmake-mix-") as tmp:
        if music is not None or voices:
            mixed_wav = Path(tmp) / "mix.wav"
            premix = _mix_graph(master, music, voices, music_gain_db, duck).filter("atrim", end_sample=samples)
            run(list(ff.output(premix, str(mixed_wav), acodec="pcm_f32le", format="wav").get_args()))
            audio = open_input(mixed_wav).audio
            blocks = measure_blocks(mixed_wav, fmt.sample_rate) if loudness is not None else None
        else:
            audio = open_input(master).audio
            if loudness is not None and blocks is None:
                blocks = measure_blocks(master, fmt.sample_rate)
        if loudness is not None and blocks is not None:
            measured = integrated(blocks.levels)
            if measured is not None:  # silence has no loudness to bring anywhere
                leveled = Leveled(measured, gain(measured, blocks.peak, loudness.integrated, loudness.true_peak))
                if leveled.gain_db:
                    audio = audio.filter("volume", f"{leveled.gain_db}dB", precision="double")
        # Back to the delivery rate (a mix may be at another), then pin the length.
        audio = (audio.filter("aresample", fmt.sample_rate).filter("apad")
                 .filter("atrim", end_sample=samples))
        video = open_input(master).video
        out = ff.output(video, audio, str(dest), **{"c:v": "copy", "c:a": "aac", "b:a": fmt.audio_bitrate,
                                                     "ar": fmt.sample_rate, "movflags": "+faststart",
                                                     "format": "mp4"})
        run(list(out.get_args()))
    return leveled


def add_chapters(src: Path, dest: Path, chapters: Sequence[Chapter], title: str = "") -> None:
    """Copy ``src`` into ``dest`` with chapter markers (one per sequence) and a title."""
    with tempfile.TemporaryDirectory(prefix="shotmake-chapters-") as tmp:
        meta = Path(tmp) / "chapters.ffmeta"
        meta.write_text(ffmetadata(chapters, title), encoding="utf-8")
        run([*input_args(src), "-f", "ffmetadata", "-protocol_whitelist", INPUT_PROTOCOLS, "-i", f"file:{meta}", "-map", "0", "-map_metadata", "1",
             "-map_chapters", "1", "-c", "copy", "-movflags", "+faststart", "-f", "mp4", str(dest)])


@dataclass(frozen=True)
class Overlay:
    """Subtitles to burn: an ASS script laid out for the picture it goes on, and its fonts' folder."""

    script: Path
    fonts_dir: Path


def _draw(video: Any, overlay: Overlay | None) -> Any:
    # libass draws with the fonts of ``fonts_dir`` (the one font the script names), not fontconfig's guess.
    if overlay is None:
        return video
    return video.filter("ass", filename=str(overlay.script), fontsdir=str(overlay.fonts_dir))


def burn_subtitles(src: Path, overlay: Overlay, dest: Path, fmt: DeliveryFormat = DEFAULT_FORMAT) -> None:
    """Draw ``overlay`` onto the picture (re-encodes the video; audio, chapters and title are copied)."""
    inp = open_input(src)
    video = _draw(inp.video, overlay).filter("format", fmt.pix_fmt)
    gop = max(1, round(fmt.gop * fmt.fps))
    out = ff.output(video, inp.audio, str(dest), **{
        "c:v": "libx264", "preset": fmt.preset, "crf": fmt.crf, "profile:v": fmt.profile, "g": gop,
        "c:a": "copy", "movflags": "+faststart", "format": "mp4"})
    run(list(out.get_args()))


def poster(src: Path, dest_png: Path, at: float | None = None) -> None:
    """Write the frame at ``at`` seconds (default: a third of the way in) as a PNG poster."""
    if at is None:
        info = probe(src)
        at = (info.duration or 0.0) / 3
    out = ff.output(open_input(src, ss=f"{at:.3f}").video, str(dest_png), vframes=1, vcodec="png",
                    format="image2", update=1)
    run(list(out.get_args()))
