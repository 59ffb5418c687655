"""``--budget`` refuses before anything is submitted; API keys never reach output or disk.

Both through the CLI against the fakes. The key test uses a gateway that echoes the key it
was given in its 401 message (some do): the message must reach the user without it.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.fakes.harness import RemoteFakes, files_containing, one_shot_project, summary
from tests.fakes.openai_server import FakeOpenAI


def project(root: Path) -> Path:
    return one_shot_project(root, shots={"sea": "Establishing shot of a grey sea under rain clouds.",
                                         "gulls": "Gulls circle over the empty harbour."})


def test_a_budget_below_the_estimate_exits_non_zero_having_submitted_nothing(tmp_path: Path) -> None:
    spec = project(tmp_path)
    with RemoteFakes() as fakes:
        estimate = json.loads(fakes.run(["plan", spec.name, "--json"], tmp_path).stdout)["cost_usd"]
        assert estimate == 0.8  # two 4 s Sora clips at $0.10/s
        refused = fakes.run(["build", spec.name, "--budget", "0.79"], tmp_path)
        assert refused.returncode != 0 and "nothing was submitted" in refused.stderr, refused.stderr
        assert "$0.80" in refused.stderr and "0.79" in refused.stderr
        assert fakes.request_count() == 0
        assert fakes.run(["jobs", "--all"], tmp_path).stdout == "no remote jobs recorded\n"

        enough = fakes.run(["build", spec.name, "--budget", "0.80", "--json"], tmp_path)
        assert enough.returncode == 0 and summary(enough)["cost_usd"] == 0.8, enough.stderr
        assert len(fakes.openai.creates()) == 2


def test_a_key_echoed_by_a_gateway_never_reaches_output_or_disk(tmp_path: Path) -> None:
    spec = project(tmp_path)
    presented = "sk-proj-WRONG-but-still-secret-0c2f9a41d7"
    echoing = FakeOpenAI(api_key="sk-the-right-one-3b5e", echo_key_in_errors=True)
    with RemoteFakes(openai=echoing) as fakes:
        build = fakes.run(["build", spec.name, "-k", "--json"], tmp_path, OPENAI_API_KEY=presented)
        assert build.returncode == 1
        assert any(presented in r.headers.get("authorization", "") for r in echoing.requests)  # it was sent
        errors = [e["error"] for e in summary(build)["failed"] if e["id"].startswith("clip:")]
        assert errors and all("OPENAI_API_KEY" in e and "401" in e for e in errors), errors
        jobs = fakes.run(["jobs", "--all"], tmp_path)
        for text in (build.stdout, build.stderr, jobs.stdout, jobs.stderr):
            assert presented not in text
        assert files_containing([tmp_path], (presented,)) == []
