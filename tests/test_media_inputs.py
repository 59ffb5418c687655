"""Media inputs are read as the format their name promises, and only from inside the project.

The attack these pin down: a ``music:`` file named ``.mp3`` that is really an ffconcat list
naming an in-project symlink to a file outside the project. Left to sniff, ffmpeg read the list
and mixed the outside file into the master, and since only the list's bytes were in the key,
changing the outside file dirtied nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shotmake import media
from shotmake.deliver import mix_audio
from shotmake.errors import MediaError, SpecError, SpecErrors
from shotmake.spec import load_episode
from tests.mediafiles import make_clip


def tone(dest: Path, seconds: float = 1.0) -> Path:
    """A loud 48 kHz stereo sine as WAV or MP3 (by ``dest``'s extension)."""
    media.run(["-f", "lavfi", "-i", f"sine=f=880:r=48000:d={seconds}", "-ac", "2", str(dest)])
    return dest


def ffconcat_trick(root: Path, outside: Path) -> Path:
    """An in-project ``.mp3`` that is an ffconcat list naming an in-project symlink to ``outside``."""
    (root / "inner.wav").symlink_to(outside)
    trick = root / "song.mp3"
    trick.write_text("ffconcat version 1.0\nfile 'inner.wav'\n")
    return trick


def test_a_music_file_is_read_as_mp3_not_as_the_list_it_holds(tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    trick = ffconcat_trick(root, tone(tmp_path / "outside.wav"))
    master = make_clip(root / "master.mp4", frames=24, size="64x36")
    # Sniffed, the "mp3" was a concat list and mixed the outside WAV in; as an MP3 it is no audio at all.
    with pytest.raises(MediaError):
        mix_audio(master, root / "mixed.mp4", music=trick, loudness=None)
    with pytest.raises(MediaError, match="not a readable media file"):
        media.probe(trick)


def test_a_real_mp3_still_mixes(tmp_path: Path) -> None:
    song = tone(tmp_path / "song.mp3")
    master = make_clip(tmp_path / "master.mp4", frames=24, size="64x36")
    mix_audio(master, tmp_path / "mixed.mp4", music=song, loudness=None)
    assert media.probe(tmp_path / "mixed.mp4").audio is not None


def test_every_ffmpeg_input_names_its_demuxer_and_allows_only_local_files() -> None:
    assert media.input_args(Path("/p/a.mp3")) == ["-f", "mp3", "-protocol_whitelist", "file", "-i", "file:/p/a.mp3"]
    assert media.input_args(Path("/p/A.JPG"))[:2] == ["-f", "jpeg_pipe"]
    # A colon in a name is part of the name, not a protocol.
    assert media.input_args(Path("http:x.mp4"))[-1] == "file:http:x.mp4"
    with pytest.raises(MediaError, match=r"\.m3u8.*must end in one of \.mp4"):
        media.input_args(Path("/p/list.m3u8"))


def test_a_clip_that_is_a_list_of_other_clips_is_not_followed(tmp_path: Path) -> None:
    make_clip(tmp_path / "other.mp4", frames=12, size="64x36")
    fake = tmp_path / "clip.mp4"
    fake.write_text("ffconcat version 1.0\nfile 'other.mp4'\n")
    with pytest.raises(MediaError):
        media.decode_counts(fake, timeout=20)


# -- spec: media fields are project files of an accepted extension ----------------------------

SPEC = """\
version: 1
episode: e
defaults: {{provider: local, resolution: 480p, duration: 1, fps: 12}}
characters:
  mei:
    description: a girl
    {character}
plates:
  dawn: {{file: {plate}}}
shots:
  - id: a
    prompt: the sea
    first_frame: dawn
    {shot}
sequences:
  - id: one
    shots: [a]
{delivery}
"""


def spec_with(root: Path, character: str = "", plate: str = "dawn.png", shot: str = "", delivery: str = "") -> Path:
    path = root / "ep.yaml"
    path.write_text(SPEC.format(character=character, plate=plate, shot=shot, delivery=delivery))
    return path


def refusal(path: Path, root: Path) -> SpecError:
    with pytest.raises((SpecError, SpecErrors)) as caught:
        load_episode(path, root)
    error = caught.value
    assert isinstance(error, SpecError), error
    return error


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "shotmake.toml").touch()
    (root / "dawn.png").write_bytes(b"\x89PNG")
    for name in ("secret.png", "secret.mp3", "secret.mp4"):
        (tmp_path / name).write_bytes(b"outside")
        (root / f"link-{name}").symlink_to(tmp_path / name)
    return root


@pytest.mark.parametrize(("fields", "field"), [
    ({"delivery": "delivery: {music: link-secret.mp3}"}, "delivery.music"),
    ({"shot": "voiceover: link-secret.mp3"}, "shots[0].voiceover"),
    ({"plate": "link-secret.png"}, "plates.dawn.file"),
    ({"character": "references: [link-secret.png]"}, "characters.mei.references[0]"),
    ({"character": "sora_character: link-secret.mp4"}, "characters.mei.sora_character"),
])
def test_a_symlink_out_of_the_project_is_refused_in_every_media_field(proj: Path, fields: dict[str, str],
                                                                      field: str) -> None:
    path = spec_with(proj, **fields)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "link-secret" in text)
    error = refusal(path, proj)
    assert error.field == field
    assert "outside the project" in error.render()
    assert error.location is not None and error.location.line == line, error.render()


@pytest.mark.parametrize(("fields", "field", "accepted"), [
    ({"delivery": "delivery: {music: notes.txt}"}, "delivery.music", ".wav, .mp3"),
    ({"shot": "voiceover: list.m3u8"}, "shots[0].voiceover", ".wav, .mp3"),
    ({"plate": "notes.txt"}, "plates.dawn.file", ".png, .jpg"),
    ({"character": "references: [notes.txt]"}, "characters.mei.references[0]", ".png, .jpg, .jpeg, .webp, .mp4"),
    ({"delivery": "delivery: {subtitles: {burn: true, font: notes.txt}}"}, "delivery.subtitles.font", ".ttf, .otf"),
])
def test_an_extension_outside_the_table_is_a_spec_error_naming_the_accepted_ones(
        proj: Path, fields: dict[str, str], field: str, accepted: str) -> None:
    for name in ("notes.txt", "list.m3u8", "clip.mp4"):
        (proj / name).write_text("ffconcat version 1.0\n")
    error = refusal(spec_with(proj, **fields), proj)
    assert error.field == field
    assert accepted in error.render(), error.render()
    assert error.location is not None and error.location.file.endswith("ep.yaml")


def test_the_accepted_extensions_load(proj: Path) -> None:
    tone(proj / "vo.mp3", 0.2)
    episode = load_episode(spec_with(proj, shot="voiceover: vo.mp3", delivery="delivery: {music: vo.mp3}"), proj)
    assert episode.shots["a"].voiceover is not None and episode.shots["a"].voiceover.endswith("vo.mp3")



def test_a_project_file_changed_after_planning_is_not_read(tmp_path: Path) -> None:
    from shotmake.assemble import keyed_copy
    from shotmake.cache import file_digest

    song = tone(tmp_path / "Song.MP3", 0.2)
    digest = file_digest(song)
    copy = keyed_copy(song, digest, tmp_path / "music")
    assert copy.name == "music.mp3" and copy.read_bytes() == song.read_bytes()
    tone(song, 0.3)  # edited after the plan took its digest
    with pytest.raises(MediaError, match="changed during the build"):
        keyed_copy(song, digest, tmp_path / "again")


def test_an_unknown_rendition_is_a_spec_error(proj: Path) -> None:
    error = refusal(spec_with(proj, delivery="delivery: {renditions: [vertical, square]}"), proj)
    assert error.field == "delivery.renditions[1]" and "allowed: vertical, proxy" in error.render()
