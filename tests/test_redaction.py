"""Secrets stay out of every record: environment values, URL userinfo and credential query parameters."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from shotmake.redaction import MASK, redact, redact_data, scrub_url, scrub_urls, secret_values
from tests.fakes.google_server import FakeGemini, http_error
from tests.fakes.harness import LEGACY_ROUTES_LIVE

Run = Callable[..., Result]
SECRET = "url-borne-secret-51c0ffee"


def test_userinfo_and_credential_parameters_are_scrubbed_from_urls() -> None:
    assert scrub_url(f"https://user:{SECRET}@gw.example:8443/v1?key={SECRET}&alt=media#x") == \
        f"https://{MASK}@gw.example:8443/v1?key={MASK}&alt=media#x"
    assert scrub_url(f"https://s.example/o.mp4?X-Goog-Signature={SECRET}&X-Goog-Expires=900") == \
        f"https://s.example/o.mp4?X-Goog-Signature={MASK}&X-Goog-Expires={MASK}"
    assert scrub_url("https://api.example/v1/videos/abc/content?variant=video") == \
        "https://api.example/v1/videos/abc/content?variant=video"
    text = f"GET http://{SECRET}@127.0.0.1:9/x failed; see 'https://a.example/?token={SECRET}'."
    assert SECRET not in scrub_urls(text) and "127.0.0.1:9/x failed" in scrub_urls(text)


def test_a_credential_in_a_base_url_variable_is_a_secret_everywhere() -> None:
    env = {"OPENAI_BASE_URL": f"https://gateway:{SECRET}@gw.example/v1"}
    assert SECRET in secret_values(env)
    assert redact(f"the gateway said: bad password {SECRET}", env) == f"the gateway said: bad password {MASK}"
    assert redact_data({"uri": [f"https://x:{SECRET}@h/p"]}, env) == {"uri": [f"https://{MASK}@h/p"]}


def test_no_record_of_a_failed_build_carries_a_url_credential(project: Path, run: Run,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "shotmake.toml").write_text(LEGACY_ROUTES_LIVE)  # the fake still serves the Veo preview
    (project / "one.yaml").write_text(textwrap.dedent("""\
        version: 1
        episode: one
        defaults: {provider: veo-3.1, resolution: 720p, duration: 4}
        shots:
          - id: sea
            prompt: A grey sea.
        sequences:
          - id: all
            shots: [sea]
        """))
    with FakeGemini(api_key="AIza-record-test-key-00000000", polls_until_done=0) as fake:
        # A gateway that quotes a signed URL in its error: the text reaches the journal and the output.
        fake.faults.append(http_error("create", 400, "INVALID_ARGUMENT",
                                      f"bad request; retry at https://gw.example/v1beta?key={SECRET}"))
        monkeypatch.setenv("GEMINI_API_KEY", fake.api_key)
        monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake.url.replace("http://", f"http://gw:{SECRET}@"))
        built = run("build", "one.yaml", "--json")
        assert built.exit_code == 1 and "bad request; retry at https://gw.example/v1beta?key=" in built.stderr
        assert fake.route_requests("create")  # the userinfo base URL was used
    assert SECRET not in built.stdout and SECRET not in built.stderr
    hits = [p for p in project.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    assert hits == []


def test_every_key_variable_is_a_secret_including_a_routes_own() -> None:
    from shotmake.redaction import redact, secret_values

    env = {"ARK_API_KEY": "ark-secret-0123456789", "DASHSCOPE_API_KEY": "sk-dash-0123456789",
           "GATEWAY_API_KEY": "gw-secret-0123456789", "VOLC_ACCESS_TOKEN": "volc-token-0123456789",
           "HOME": "/root/a-long-home-folder"}
    assert set(secret_values(env)) == {v for k, v in env.items() if k != "HOME"}
    assert "gw-secret" not in redact("HTTP 401: key gw-secret-0123456789 refused", env=env)
