"""Takes of a shot rendered offline are told apart by their text, not only by their colour."""

from __future__ import annotations

from shotmake.providers.base import RenderRequest
from shotmake.providers.local import _card_lines


def card(labels: dict[str, object]) -> list[str]:
    request = RenderRequest(node_id="clip:meet@2", key="k", kind="clip", model="", prompt="Mei bursts in.",
                            labels=labels)
    return [text for text, _ in _card_lines(request, 1280, 720)]


def test_a_take_names_itself_on_the_card() -> None:
    assert card({"shot": "meet", "take": 2})[0] == "meet  take 2"
    assert card({"shot": "meet"})[0] == "meet"  # a shot of one take: just its id, as before
