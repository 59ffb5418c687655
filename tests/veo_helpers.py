"""Helpers the Gemini and Vertex Veo adapter tests share: both adapters are ``VeoAdapter``s."""

from __future__ import annotations

from typing import Any

from shotmake.providers.base import JobStatus, RenderRequest
from shotmake.providers.veo_common import VeoAdapter


def request(**kwargs: Any) -> RenderRequest:
    """A Veo clip request for node ``shot-1``; keyword arguments override the defaults."""
    base: dict[str, Any] = {"node_id": "shot-1", "key": "k1", "kind": "clip", "model": "",
                            "prompt": "A lighthouse at dusk."}
    base.update(kwargs)
    return RenderRequest(**base)


def run_to_done(veo: VeoAdapter, job: str, limit: int = 10) -> JobStatus:
    """Poll ``job`` until it leaves ``running``; fail the test if it never does."""
    for _ in range(limit):
        status = veo.poll(job)
        if status.state != "running":
            return status
    raise AssertionError("job never finished")
