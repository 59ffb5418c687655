"""What a plan after an edit takes from the plan before it (``build_plan(previous=, changed=)``).

``snapshot.py`` hands ``build_plan`` the last snapshot's plan when only some shots' lines changed
(``spec_delta``), with files, includes and routes as they were. The clips, continuity frames and
conformed clips of the other shots are what planning them again would make, so they are taken
as they are; and when the nodes, their order and their inputs are all the same, so is the order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any

from .model import Node, Shot

if TYPE_CHECKING:
    from .plan import Plan


def clip_id(shot: Shot, take: int) -> str:
    """The id of a shot's take (``clip:s3``; ``clip:s3@2`` when the shot has several takes)."""
    return f"clip:{shot.id}" if shot.takes == 1 else f"clip:{shot.id}@{take}"


class Reuse:
    """Which shots ``build_plan`` plans anew, and the previous plan's nodes for the others.

    A shot is planned anew when it changed, or when a shot it continues (``after:``) or extends
    is planned anew and its clip's key changed or the shot itself did (a frame reads its
    ``trim.out``). Everything else about a shot's clips and conformed clips is in the spec's
    other parts, which did not change.
    """

    def __init__(self, previous: Plan | None, changed: Collection[str], moves: Any = None) -> None:
        self.previous = previous
        self.anew: set[str] = set(changed)
        #: ``spec_delta.Moves``: where the lines of the nodes taken went, or None.
        self.moves = moves

    def _taken(self, node: Node) -> Node:
        """A previous node, at its new line when the edit moved it."""
        return node if self.moves is None else self.moves.record(node)

    def node(self, node_id: str) -> Node:
        assert self.previous is not None
        return self._taken(self.previous.node(node_id))

    def clips(self, shot: Shot) -> list[Node] | None:
        """The previous plan's take nodes of ``shot`` when they stand, else None."""
        previous = self.previous
        if previous is None or shot.id in self.anew or shot.after in self.anew or shot.extends in self.anew:
            return None
        found = [previous.get(clip_id(shot, take)) for take in range(1, shot.takes + 1)]
        if any(node is None for node in found) or (shot.after and previous.get(f"frame:{shot.after}") is None):
            self.anew.add(shot.id)
            return None
        return [self._taken(node) for node in found]  # type: ignore[arg-type]

    def planned(self, shot_id: str, clip: Node) -> None:
        """A shot planned anew: those that follow it are too, unless nothing they read changed."""
        before = self.previous.episode.shots.get(shot_id) if self.previous is not None else None
        if before is None:
            self.anew.add(shot_id)
            return
        old = self.previous.get(clip_id(before, before.pick))  # type: ignore[union-attr]
        if old is None or old.key != clip.key:
            self.anew.add(shot_id)

    def order(self, nodes: Mapping[str, Node]) -> tuple[str, ...] | None:
        """The previous plan's order when it is this plan's too: the same nodes, added in the same
        order, with the same inputs (``lexicographic_order`` depends on nothing else)."""
        previous = self.previous
        if previous is None or list(nodes) != list(previous.added):
            return None
        for nid, node in nodes.items():
            old = previous.node(nid)
            if node is not old and node.inputs != old.inputs:  # (a node taken and moved has its inputs)
                return None
        return previous.order

    def conform(self, shot_id: str, node_id: str) -> Node | None:
        """The previous plan's conformed clip ``node_id`` of a shot that was not planned anew."""
        if self.previous is None or shot_id in self.anew:
            return None
        found = self.previous.get(node_id)
        return None if found is None else self._taken(found)
