"""Veo on Vertex AI through the CLI: the same spec, switched by the environment.

``SHOTMAKE_VEO_BACKEND=vertex`` sends the Veo routes to Vertex (``fetchPredictOperation``
polls, GA model ids); with ``SHOTMAKE_VERTEX_STORAGE_URI`` the clip comes back through Cloud
Storage instead of inline base64. The OAuth token must not be written anywhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.harness import RemoteFakes, files_containing, one_shot_project, summary
from tests.fakes.vertex_server import FakeVertex

TOKEN = "ya29.test-NEVER-WRITE-ME-vertex-token-77e1"


@pytest.mark.parametrize("storage", [False, True], ids=["inline", "cloud-storage"])
def test_veo_on_vertex_builds_from_the_environment(tmp_path: Path, storage: bool) -> None:
    one_shot_project(tmp_path, "veo-3.1", shots={"sea": "Waves break on the black rocks at dusk."})
    with FakeVertex(token=TOKEN, project="film-1", polls_until_done=1) as vertex, RemoteFakes() as fakes:
        env = {"SHOTMAKE_VEO_BACKEND": "vertex", "GOOGLE_CLOUD_PROJECT": "film-1",
               "GOOGLE_CLOUD_LOCATION": "us-central1", "GOOGLE_OAUTH_ACCESS_TOKEN": TOKEN,
               "SHOTMAKE_VERTEX_BASE_URL": vertex.url, "SHOTMAKE_GCS_BASE_URL": vertex.storage_url}
        if storage:
            env["SHOTMAKE_VERTEX_STORAGE_URI"] = "gs://film-1-renders/shotmake"
        build = fakes.run(["build", "one.yaml", "--json"], tmp_path, **env)
        assert build.returncode == 0, build.stderr
        assert {e["id"] for e in summary(build)["rendered"]} >= {"clip:sea", "episode:one"}
        assert vertex.creates == 1 and fakes.gemini.requests == []
        (create,) = vertex.route_requests("create")
        assert create.path == ("/v1/projects/film-1/locations/us-central1/publishers/google/models/"
                               "veo-3.1-generate-001:predictLongRunning")
        assert all(r.method == "POST" for r in vertex.route_requests("poll"))
        assert len(vertex.route_requests("bytes")) == (1 if storage else 0)
        again = fakes.run(["build", "one.yaml", "--json"], tmp_path, **env)
        assert summary(again)["rendered"] == [] and vertex.creates == 1
    for text in (build.stdout, build.stderr, again.stdout, again.stderr):
        assert TOKEN not in text
    assert files_containing([tmp_path], (TOKEN,)) == []
