"""The review server: serves only what the page references, and acts only on this page's POSTs."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from shotmake.cli import cli
from shotmake.errors import UsageError
from shotmake.review import Page, ReviewServer


class Recorder:
    """make_page and act for the server, recording every action it was asked to do."""

    def __init__(self, media: Mapping[str, str]) -> None:
        self.media = dict(media)
        self.actions: list[tuple[str, dict[str, str]]] = []

    def make_page(self, token: str, message: str) -> Page:
        return Page(f"<html>token={token} message={message}</html>", self.media)

    def act(self, action: str, form: Mapping[str, str]) -> str:
        self.actions.append((action, dict(form)))
        if form.get("shot") == "bad":
            raise UsageError("no shot 'bad'")
        return f"{action} done"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[ReviewServer, Recorder, httpx.Client]]:
    clip = tmp_path / "objects" / "clip.mp4"
    clip.parent.mkdir()
    clip.write_bytes(bytes(range(256)) * 4)
    (tmp_path / "secret.txt").write_text("not for the browser")
    recorder = Recorder({"media/clip.mp4": str(clip)})
    server = ReviewServer(recorder.make_page, recorder.act, token="t0k3n")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=server.url, timeout=5.0) as client:
            yield server, recorder, client
    finally:
        server.shutdown()
        server.server_close()


def test_it_listens_on_loopback_only(served: tuple[ReviewServer, Recorder, httpx.Client]) -> None:
    server, _, client = served
    assert server.server_address[0] == "127.0.0.1"
    page = client.get("/")
    assert page.status_code == 200 and "token=t0k3n" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_it_serves_the_media_the_page_references_with_ranges(
        served: tuple[ReviewServer, Recorder, httpx.Client]) -> None:
    _, _, client = served
    whole = client.get("/media/clip.mp4")
    assert whole.status_code == 200 and len(whole.content) == 1024 and whole.headers["content-type"] == "video/mp4"
    part = client.get("/media/clip.mp4", headers={"Range": "bytes=256-259"})
    assert part.status_code == 206 and part.content == bytes([0, 1, 2, 3])
    assert part.headers["content-range"] == "bytes 256-259/1024"
    assert client.get("/media/clip.mp4", headers={"Range": "bytes=5000-"}).status_code == 416


@pytest.mark.parametrize("path", ["/media/../secret.txt", "/media/..%2f..%2fsecret.txt", "/secret.txt",
                                  "/media/%2e%2e/secret.txt", "/media/", "/media/clip.mp4/..", "//etc/passwd",
                                  "/media/CLIP.mp4"])
def test_nothing_else_is_served(served: tuple[ReviewServer, Recorder, httpx.Client], path: str) -> None:
    _, _, client = served
    answer = client.get(path)
    assert answer.status_code == 404 and "not for the browser" not in answer.text


def test_another_host_name_is_refused(served: tuple[ReviewServer, Recorder, httpx.Client]) -> None:
    _, recorder, client = served
    assert client.get("/", headers={"Host": "evil.example:80"}).status_code == 421  # DNS rebinding
    answer = client.post("/pick", headers={"Host": "evil.example"}, data={"token": "t0k3n", "shot": "a", "take": "2"})
    assert answer.status_code == 403 and recorder.actions == []


def test_a_post_needs_this_runs_token_and_origin(served: tuple[ReviewServer, Recorder, httpx.Client]) -> None:
    server, recorder, client = served
    assert client.post("/pick", data={"shot": "a", "take": "2"}).status_code == 403
    assert client.post("/pick", data={"token": "guess", "shot": "a", "take": "2"}).status_code == 403
    cross = client.post("/pick", data={"token": "t0k3n", "shot": "a", "take": "2"},
                        headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403
    assert client.post("/pick", content=b"token=t0k3n&" + b"x" * 5000,
                       headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 413
    assert recorder.actions == []
    done = client.post("/pick", data={"token": "t0k3n", "shot": "a", "take": "2"},
                       headers={"Origin": server.url.rstrip("/")})
    assert done.status_code == 303 and done.headers["location"] == "/#shot-a"
    assert recorder.actions == [("pick", {"token": "t0k3n", "shot": "a", "take": "2"})]
    assert "message=pick done" in client.get("/").text  # the page is made again, saying what happened


def test_a_failed_action_is_reported_on_the_page(served: tuple[ReviewServer, Recorder, httpx.Client]) -> None:
    _, _, client = served
    assert client.post("/reroll", data={"token": "t0k3n", "shot": "bad"}).status_code == 303
    assert "reroll failed: no shot &#x27;bad&#x27;" in client.get("/").text or "reroll failed" in client.get("/").text
    assert client.post("/delete", data={"token": "t0k3n"}).status_code == 404
    assert client.put("/").status_code == 501


def test_a_taken_port_is_a_usage_error(project: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["review", "--no-open", "--port", str(port), "episodes/tiny.yaml"])
    assert result.exit_code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output
