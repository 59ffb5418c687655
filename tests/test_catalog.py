"""The route catalog: its data holds together, projects add and change routes, lifecycles by date."""

from __future__ import annotations

import datetime
import importlib.util
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from shotmake.config import parse_config
from shotmake.errors import SpecError
from shotmake.providers.catalog import PROTOCOLS, REVIEWED, ROUTES, STATUSES

TODAY = datetime.date.fromisoformat(REVIEWED)
Run = Callable[..., Result]


def test_no_built_in_route_says_live_past_its_retirement_date() -> None:
    # The day the catalog was reviewed: a route whose retired_on has passed must say so in its status,
    # so the data a person reads in a diff is the truth `shotmake routes` prints.
    wrong = [name for name, r in ROUTES.items()
             if r.retired_on is not None and datetime.date.fromisoformat(r.retired_on) <= TODAY
             and r.status != "retired"]
    assert wrong == []


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_every_route_is_complete(name: str) -> None:
    route = ROUTES[name]
    assert route.status in STATUSES and route.kind in ("video", "image")
    assert route.protocol in PROTOCOLS and route.model
    if route.status == "retired":
        assert route.retired_on is not None
    if route.successor is not None:
        assert ROUTES[route.successor].kind == route.kind and ROUTES[route.successor].status != "retired"
    if route.protocol != "local":
        assert route.source and route.checked_on is not None, "say where the facts were read, and when"
        assert route.price, "a paid route needs a price for estimates"
        assert route.durations or route.max_duration or route.kind == "image"


def test_every_protocol_names_an_adapter_module_with_from_env() -> None:
    for protocol in PROTOCOLS.values():
        spec = importlib.util.find_spec(protocol.module)
        assert spec is not None, f"{protocol.name}: {protocol.module} is missing"


def test_lifecycle_follows_the_calendar() -> None:
    veo = ROUTES["veo-3.1"]
    assert veo.status_on(datetime.date(2026, 10, 21)) == "deprecated"
    assert veo.status_on(datetime.date(2026, 10, 22)) == "retired"
    gpt = ROUTES["gpt-image-1.5"]
    assert gpt.status_on(datetime.date(2026, 11, 30)) == "deprecated"
    assert gpt.status_on(datetime.date(2026, 12, 1)) == "retired"
    assert gpt.lifecycle_text(datetime.date(2026, 11, 28)) == (
        "deprecated, shuts down on 2026-12-01, successor: gpt-image-2")
    assert ROUTES["gemini-omni"].status_on(datetime.date(2030, 1, 1)) == "live"


GATEWAY = """\
[routes."omni-gateway"]
like = "gemini-omni"
model = "gemini-omni-1.3-flash"
base_url = "https://gateway.example"
key_env = ["GATEWAY_KEY"]
price = { "*" = 0.12 }

[routes."veo-3.1"]
status = "live"
fallback = ["local"]

[routes."my-videos"]
protocol = "openai-videos"
vendor = "gateway"
kind = "video"
model = "gw-video-1"
durations = [5, 10]
resolutions = ["720p"]

[prices]
"my-videos" = 0.05
"""


def test_a_project_adds_and_changes_routes() -> None:
    config = parse_config(GATEWAY, "shotmake.toml")
    gateway = config.catalog["omni-gateway"]
    assert (gateway.protocol, gateway.model, gateway.base_url, gateway.key_env) == (
        "gemini-interactions", "gemini-omni-1.3-flash", "https://gateway.example", ("GATEWAY_KEY",))
    assert gateway.max_duration == ROUTES["gemini-omni"].max_duration  # the rest comes from `like`
    assert dict(gateway.price) == {"*": 0.12} and gateway.origin == "shotmake.toml"
    veo = config.catalog["veo-3.1"]
    assert veo.status_on(TODAY) == "live" and veo.retired_on is None and veo.successor is None
    assert veo.model == ROUTES["veo-3.1"].model  # same model: the same keys, the cache stays valid
    assert config.fallbacks() == {"veo-3.1": ("local",)}
    mine = config.catalog["my-videos"]
    assert mine.durations == (5.0, 10.0) and mine.vendor == "gateway" and dict(config.prices["my-videos"]) == {
        "*": 0.05}
    assert ROUTES["veo-3.1"].status == "retired"  # the built-in catalog is untouched


@pytest.mark.parametrize(("text", "expected"), [
    ('[routes."x"]\nmodel = "m"\n',
     r"shotmake.toml:1:1: routes.x: x: a new route needs protocol, vendor, kind \(.*like = \"<route>\""),
    ('[routes."x"]\nlike = "gemini-omny"\n', r"shotmake.toml:2:1: routes.x.like: unknown route 'gemini-omny' "
     r"\(did you mean 'gemini-omni'\?\)"),
    ('[routes."x"]\nlike = "gemini-omni"\nduration = [5]\n',
     r"shotmake.toml:3:1: routes.x.duration: x: unknown route key 'duration' \(did you mean 'durations'\?\)"),
    ('[routes."x"]\nlike = "gemini-omni"\nstatus = "alive"\n',
     r"routes.x.status: x: unknown status 'alive' \(use one of preview, live, deprecated, retired\)"),
    ('[routes."x"]\nlike = "gemini-omni"\nretired_on = "2026-13-01"\n',
     r"shotmake.toml:3:1: routes.x.retired_on: x: '2026-13-01' is not a date \(write it as YYYY-MM-DD\)"),
    ('[routes."x"]\nprotocol = "grpc"\nvendor = "v"\nkind = "video"\nmodel = "m"\n',
     r"routes.x.protocol: x: unknown protocol 'grpc' \(use one of local, gemini-veo, .*openai-images\)"),
    ('[routes."x"]\nlike = "gemini-omni"\nsuccessor = "gpt-image-2"\n',
     r"successor 'gpt-image-2' is not a video route"),
    ('[routes."x"]\nlike = "gemini-omni"\nmax_references = -1\n',
     r"routes.x.max_references: x: must be a whole number >= 0, not an integer"),
    # Refused where it is written, not at the first request (which named a variable nobody had set).
    ('[routes."x"]\nlike = "gemini-omni"\nbase_url = "http://gateway.example"\n',
     r"shotmake.toml:3:1: routes.x.base_url: x: 'http://gateway.example' is plain http: the key would cross the "
     r"network in cleartext \(use https://; plain http only for localhost\)"),
    ('[routes."x"]\nlike = "gemini-omni"\nbase_url = "gateway.example/v1"\n',
     r"shotmake.toml:3:1: routes.x.base_url: x: 'gateway.example/v1' is not an https:// URL"),
])
def test_route_mistakes_name_file_line_key_and_fix(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_config(text, "shotmake.toml")
    assert re.search(expected, info.value.render()), info.value.render()


def test_a_base_url_on_loopback_may_be_plain_http_and_a_credential_in_one_is_never_shown(
        project: Path, run: Run) -> None:
    config = parse_config('[routes."x"]\nlike = "gemini-omni"\nbase_url = "http://127.0.0.1:8080/gw"\n',
                          "shotmake.toml")
    assert config.catalog["x"].base_url == "http://127.0.0.1:8080/gw"  # a local gateway, the tests' fakes
    (project / "shotmake.toml").write_text('[routes."x"]\nlike = "gemini-omni"\n'
                                           'base_url = "https://me:s3cret-pw@gateway.example/v1"\n')
    listed = run("routes", "--json")
    assert listed.exit_code == 0 and "s3cret-pw" not in listed.stdout
    assert next(r for r in json.loads(listed.stdout) if r["name"] == "x")["base_url"].endswith("@gateway.example/v1")


def test_every_route_key_in_the_catalog_file_is_documented() -> None:
    from importlib import resources

    text = resources.files("shotmake.providers").joinpath("routes.toml").read_text(encoding="utf-8")
    header = text.split("reviewed =", 1)[0]
    used = set(re.findall(r"^([a-z_]+) = ", text, re.M)) - {"reviewed", "module", "also_env", "base_url_env"}
    assert [key for key in sorted(used) if key not in header] == []


def test_routes_command_lists_every_route_with_status_and_dates(project: Path, run: Run,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("ARK_API_KEY", "ark-test-key")
    rows = json.loads(run("routes", "--json").stdout)
    assert [r["name"] for r in rows] == list(ROUTES)
    by_name = {r["name"]: r for r in rows}
    assert {"name", "status", "model", "retired_on", "successor", "key_env", "key_set"} <= set(by_name["sora-2"])
    assert (by_name["sora-2"]["status"], by_name["sora-2"]["retired_on"]) == ("retired", "2026-09-24")
    assert by_name["veo-3.1"]["successor"] == "gemini-omni"
    assert by_name["seedance-2.0"]["key_set"] and not by_name["gemini-omni"]["key_set"]
    assert by_name["local"]["key_set"] and by_name["local"]["available"]
    text = run("routes").stdout
    assert "gemini-omni" in text and "ARK_API_KEY set" in text and "GEMINI_API_KEY not set" in text
    # Every route is listed: the retired ones after the table, one line each with date and successor.
    retired = text.split("retired routes", 1)[1]
    assert all(name in retired for name, r in ROUTES.items() if r.status_on(TODAY) == "retired")
    assert re.search(r"\n  veo-3\.1 +veo-3\.1-generate-preview +retired 2026-10-22 -> gemini-omni\n", retired)
    assert re.search(r"\n  sora-2 +sora-2 +retired 2026-09-24\n", retired)
    assert re.search(r"gemini-3\.1-flash-image +gemini-3\.1-flash-image +deprecated since 2026-10-06 -> "
                     r"gemini-nano-banana-2\.1", text)
    full = run("routes", "--all").stdout
    assert "retired 2026-09-24" in full and "4, 8, 12 s" in full  # --all: retired rows with their limits
    (project / "shotmake.toml").write_text('[routes."mine"]\nlike = "wan-2.7"\nmodel = "wan2.7-x"\n')
    assert "[shotmake.toml]" in run("routes").stdout
    (project / "shotmake.toml").write_text('[routes."mine"]\nlike = "wan-2.8"\n')
    broken = run("routes")
    assert broken.exit_code == 2 and "shotmake.toml:2:1: routes.mine.like: unknown route 'wan-2.8'" in broken.stderr


def test_the_compiled_catalog_is_current_and_equal_to_routes_toml() -> None:
    """routes.json (read at start-up instead of parsing routes.toml) says what routes.toml says.

    Fails after an edit of routes.toml until `make catalog` writes routes.json again."""
    from shotmake.providers import catalog

    source = catalog._SOURCE.read_bytes()
    assert catalog.COMPILED.read_text(encoding="utf-8") == catalog.compile_catalog(source), "run `make catalog`"
    assert catalog._from_compiled(catalog.COMPILED.read_text(encoding="utf-8"), source) == \
        catalog.parse_catalog(source.decode("utf-8"))
    reviewed, protocols, routes = catalog.parse_catalog(source.decode("utf-8"))
    assert (REVIEWED, dict(PROTOCOLS), dict(ROUTES)) == (reviewed, protocols, routes)
    assert (list(PROTOCOLS), list(ROUTES)) == (list(protocols), list(routes)), "messages list them in file order"


def test_a_stale_compiled_catalog_is_ignored() -> None:
    """A routes.json compiled from another routes.toml is never used: routes.toml is the truth."""
    from shotmake.providers import catalog

    source = catalog._SOURCE.read_bytes()
    compiled = catalog.COMPILED.read_text(encoding="utf-8")
    edited = source.replace(b'model = "gpt-image-2"', b'model = "gpt-image-2-renamed"')
    assert edited != source
    assert catalog._from_compiled(compiled, edited) is None
    assert catalog._from_compiled(catalog.compile_catalog(edited), edited)[2]["gpt-image-2"].model == "gpt-image-2-renamed"
