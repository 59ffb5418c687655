"""The shipped dialogue episode (episodes/harbour-talk.yaml) routed to Wan 3.0, through the CLI,
against the loopback DashScope fake: Mei's voice sample is uploaded once and sent as reference
audio with every shot where she speaks, each line is in the prompt in Wan's convention, the
``.srt`` has every line, and a rebuild sends nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.fakes.harness import files_containing, summary
from tests.integration.test_remote_dashscope import WanFakes

REPO = Path(__file__).resolve().parents[2]


def test_the_dialogue_episode_on_wan_30_sends_the_voice_sample_where_mei_speaks(tmp_path: Path) -> None:
    shutil.copytree(REPO / "episodes", tmp_path / "episodes")
    (tmp_path / "shotmake.toml").write_text("")
    spec = tmp_path / "episodes" / "harbour-talk.yaml"
    text = spec.read_text(encoding="utf-8")
    spec.write_text(text.replace("provider: local ", "provider: wan-3.0 ").replace("resolution: 480p",
                                                                                   "resolution: 720p"),
                    encoding="utf-8")
    wav = (tmp_path / "episodes" / "voices" / "mei.wav").read_bytes()
    with WanFakes() as fakes:
        build = fakes.run(["build", "episodes/harbour-talk.yaml", "--json", "-j", "2"], tmp_path)
        assert build.returncode == 0 and summary(build)["failed"] == [], build.stderr
        bodies = [json.loads(r.body) for r in fakes.dashscope.creates()]
        assert len(bodies) == 2 and {b["model"] for b in bodies} == {"wan3.0-video"}
        for body in bodies:  # Mei speaks in both shots
            assert [m["type"] for m in body["input"]["media"]] == ["reference_audio"]
            assert "Mei speaks in the voice of Audio 1." in body["input"]["prompt"]
            assert "- Mei: a bright, quick teenage girl's voice" in body["input"]["prompt"]
        assert any('Mei says: "Kai! The lamp went out again."' in b["input"]["prompt"] for b in bodies)
        assert any('Kai, whispering, says: "Listen."' in b["input"]["prompt"] for b in bodies)
        uploads = [data for data, _, _ in fakes.dashscope.storage.objects.values() if data == wav]
        assert len(uploads) == 1  # uploaded once, reused by the second shot
        srt = (tmp_path / "build" / "harbour-talk.srt").read_text(encoding="utf-8")
        for line in ("Kai! The lamp went out again.", "Again? I only fixed it yesterday.", "Listen.",
                     "Is that... a signal?"):
            assert line in srt
        before = fakes.request_count()
        again = fakes.run(["build", "episodes/harbour-talk.yaml", "--json"], tmp_path)
        assert again.returncode == 0 and summary(again)["rendered"] == []
        assert fakes.request_count() == before, "a rebuild must send nothing"
        assert files_containing([tmp_path], fakes.secrets) == []
