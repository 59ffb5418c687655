"""Plan an episode: a networkx DAG of content-keyed nodes, and why each dirty node is dirty.

Pure: the planner takes the parsed ``Episode`` and a function that digests user files, and
returns data. Deciding what is stale takes two lookups (is this key cached? which manifests
was this node id built from?) as arguments, and returns ``Stale(node, reasons)`` records
(worded by ``reasons.py``) that ``plan``, ``explain`` and the JSON reporter format.

Node ids: ``sheet:<character>``, ``clip:<shot>``, ``frame:<shot>`` (the last frame of a
shot, for ``after:`` continuity), ``conform:<shot>``, ``span:<sequence>/<shot>`` (a shot and its
blend into the next), ``sequence:<id>``, ``episode:<name>``; each rendition (and a burned
master) has ``piece:<shot>.<look>`` and ``sequence:<id>.<look>`` (``renditions.py``).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dialogue import line_spans, sample_kind
from .formats import DeliveryFormat, rendition_size
from .hashing import RECIPES, node_key
from .model import FRAME_SIZES, Episode, Node, Shot, clip_seconds, shown_seconds
from .plan_reuse import Reuse, clip_id
from .prompts import (
    compile_negative,
    compile_sheet_prompt,
    compile_shot_prompt,
    shot_characters,
    speakers,
    style_text,
)
from .providers.catalog import ROUTES, Route
from .reasons import Context, describe_changes

if TYPE_CHECKING:  # imported on first use: a null build from a snapshot needs no graph
    import networkx as nx


#: Long side in pixels of a character sheet per size class.
SHEET_LONG_SIDE = {"1K": 1024, "2K": 2048, "4K": 4096}


class Plan:
    """The build graph of one episode, in a valid execution order.

    ``build_plan`` and snapshots make it from its nodes (in the order they were added) and the
    ordered inputs of assembly nodes (``pieces``); the networkx graph is made on first use
    (``graph``, ``dependents``), so planning and null builds never import networkx. A plan can
    also be made from a graph whose nodes carry ``node`` and ``pieces`` attributes.
    """

    __slots__ = ("_graph", "_nodes", "_pieces", "episode", "order")

    def __init__(self, episode: Episode, graph: nx.DiGraph | None = None, order: Iterable[str] = (), *,
                 nodes: Mapping[str, Node] | None = None,
                 pieces: Mapping[str, list[str]] | None = None) -> None:
        self.episode = episode
        self.order: tuple[str, ...] = tuple(order)
        self._graph = graph
        if graph is not None:
            nodes = {nid: data["node"] for nid, data in graph.nodes(data=True)}
            pieces = {nid: list(data["pieces"]) for nid, data in graph.nodes(data=True) if "pieces" in data}
        self._nodes: dict[str, Node] = dict(nodes or {})
        self._pieces: dict[str, list[str]] = dict(pieces or {})

    def __repr__(self) -> str:
        return f"Plan({self.episode.name!r}, {len(self.order)} nodes)"

    @property
    def graph(self) -> nx.DiGraph:
        """The DAG (networkx), made from the nodes' inputs when the plan came from a snapshot."""
        if self._graph is None:
            import networkx as nx

            graph = nx.DiGraph()
            for nid, node in self._nodes.items():  # in the order build_plan added them
                graph.add_node(nid, node=node)
                if nid in self._pieces:
                    graph.nodes[nid]["pieces"] = list(self._pieces[nid])
            for nid, node in self._nodes.items():
                graph.add_edges_from((dep, nid) for dep in node.inputs)
            self._graph = graph
        return self._graph

    @property
    def added(self) -> tuple[str, ...]:
        """Node ids in the order they were added (the graph's node order)."""
        return tuple(self._nodes)

    @property
    def nodes(self) -> dict[str, Node]:
        """Node id -> node, in execution order."""
        return {nid: self._nodes[nid] for nid in self.order}

    def node(self, node_id: str) -> Node:
        return self._nodes[node_id]

    def get(self, node_id: str) -> Node | None:
        """The node of that id, or None."""
        return self._nodes.get(node_id)

    def pieces_of(self, node_id: str) -> list[str] | None:
        """The ordered inputs recorded for an assembly node (repeats kept), or None."""
        found = self._pieces.get(node_id)
        return None if found is None else list(found)

    def dependents(self, node_id: str) -> set[str]:
        """Every node downstream of ``node_id``."""
        import networkx as nx

        return set(nx.descendants(self.graph, node_id))

    @property
    def final(self) -> Node:
        """The episode master node."""
        return self.node(f"episode:{self.episode.name}")

    @property
    def deliverables(self) -> list[Node]:
        """Nodes whose output is written to the build directory (master, .srt, poster, renditions)."""
        return [self.node(nid) for nid in self.order if "output" in self.node(nid).labels]


@dataclass(frozen=True)
class Stale:
    """A node that must be (re)built, with the human reasons why."""

    node: Node
    reasons: tuple[str, ...]


def character_references_sent(shot: Shot, route: Route) -> bool:
    """Whether a shot sends its characters' sheets and reference images to its route.

    Only routes that accept references that may show faces get them (not Sora), and Veo takes
    no reference images together with a first/last frame or an extension: there the continuity
    frame carries the look, and the sheets stay home rather than fail the request. A route whose
    frames become reference images (Seedance) sends the sheets all the same.
    """
    if not (route.max_references and route.references_may_show_faces):
        return False
    uses_frames = bool(shot.after or shot.first_frame or shot.last_frame or shot.extends)
    return route.references_with_frames or route.frames_as_references or not uses_frames


def voice_samples_sent(episode: Episode, shot: Shot, route: Route) -> list[tuple[str, str, str]]:
    """``(character, kind, path)`` of each speaking character's voice sample the route takes.

    A sample goes where the route lists its kind (``voice_samples``), within the route's count
    for that kind of reference; elsewhere the voice is held by its description (lint SM164).
    """
    limits = {"audio": route.max_reference_audios, "video": route.max_reference_videos}
    used = dict.fromkeys(limits, 0)
    for cid in shot_characters(shot):  # the characters' own reference clips and recordings come first
        char = episode.characters.get(cid)
        for ref in char.references if char is not None else ():
            kind = sample_kind(ref)
            if kind is not None:
                used[kind] += 1
    sent = []
    for cid in speakers(shot):
        char = episode.characters.get(cid)
        sample = char.voice.sample if char is not None and char.voice is not None else None
        kind = sample_kind(sample) if sample else None
        if sample and kind in route.voice_samples and used[kind] < limits[kind]:
            used[kind] += 1
            sent.append((cid, kind, sample))
    return sent


def dialogue_cues(episode: Episode, shot_id: str, relative_to_shown: bool = True) -> list[list[Any]]:
    """``[start, end, speaker name, line]`` per spoken line of a shot, in seconds.

    Times run from the start of the shot's own clip (an extension's lines come after the clip it
    extends), or, ``relative_to_shown``, from the first frame the cut shows (``trim.in``), clipped
    to what it shows: a line cut away entirely is dropped.
    """
    shot = episode.shots[shot_id]
    offset = clip_seconds(episode.shots, shot_id) - shot.duration
    cues = []
    for line, (a, b) in zip(shot.dialogue, line_spans(shot.dialogue, shot.duration), strict=True):
        name = episode.characters[line.speaker].name if line.speaker in episode.characters else line.speaker
        start, end = a + offset, b + offset
        if relative_to_shown:
            start, end = max(0.0, start - shot.trim_in), min(shown_seconds(episode.shots, shot_id), end - shot.trim_in)
            if end <= start:
                continue
        cues.append([round(start, 3), round(end, 3), name, line.line])
    return cues


def sheet_size(aspect: str, size: str) -> tuple[int, int]:
    """Pixel size of a sheet: the size class sets the long side, the aspect the short one."""
    long_side = SHEET_LONG_SIDE.get(size, 1024)
    try:
        w, h = (int(x) for x in aspect.split(":"))
    except ValueError:
        w, h = 16, 9
    if w >= h:
        return long_side, max(2, round(long_side * h / w / 2) * 2)
    return max(2, round(long_side * w / h / 2) * 2), long_side


def build_plan(episode: Episode, digest_file: Callable[[Path], str], routes: Mapping[str, Route] = ROUTES,
               previous: Plan | None = None, changed: Collection[str] = (), moves: Any = None) -> Plan:
    """Return the DAG for ``episode``. ``digest_file`` hashes user reference images.

    ``routes`` is the catalog in force (the project's ``shotmake.toml`` may add routes).
    ``previous`` is the plan of the same episode before only the ``changed`` shots were edited
    (files, includes and routes as they were: ``snapshot.py`` vouches for that): the clips and
    conformed shots of the other shots, and of what depends only on them, are taken from it,
    as they are what planning them again would make. ``moves`` (``spec_delta.Moves``): where an
    edit that added or removed lines moved the rest, so the nodes taken carry their new lines.
    """
    fresh = Reuse(previous, changed, moves)
    nodes: dict[str, Node] = {}
    pieces: dict[str, list[str]] = {}
    spec_dir = Path(episode.source).parent

    def add(node: Node) -> Node:
        nodes[node.id] = node
        return node

    def reference_files(paths: Iterable[str]) -> list[list[str]]:
        # Lists, not tuples: labels are JSON values (a snapshot stores them as they are).
        return [[p, digest_file(spec_dir / p)] for p in paths]

    def image_node(kind: str, ident: str, route_name: str, model: str, prompt: str, aspect: str, size: str,
                   refs: list[list[str]], location: Any, labels: dict[str, Any]) -> Node:
        route = routes[route_name]
        width, height = sheet_size(aspect, size)
        manifest = {
            "kind": kind,
            "recipe": RECIPES[kind],
            "provider": route.name,
            "model": model or route.model,
            "prompt": prompt,
            "aspect": aspect,
            "size": size,
            "width": width,
            "height": height,
            "references": [digest for _, digest in refs],
        }
        return add(Node(
            id=f"{kind}:{ident}", kind=kind, key=node_key(manifest), provider=route.name,  # type: ignore[arg-type]
            manifest=manifest, label=labels.get("name", ident), location=location, extension=".png",
            labels={**labels, "reference_files": refs},
        ))

    sheets: dict[str, Node] = {}
    for char in episode.characters.values():
        if char.sheet is not None:
            sheets[char.id] = image_node(
                "sheet", char.id, char.sheet.provider, char.sheet.model, compile_sheet_prompt(char, episode.style, episode.language),
                char.sheet.aspect, char.sheet.size, reference_files(char.references), char.location,
                {"character": char.id, "name": char.name})

    # A plate is either a project file (hashed) or a generated image node.
    plate_nodes: dict[str, Node] = {}
    plate_files: dict[str, list[str]] = {}
    for plate in episode.plates.values():
        if plate.file is not None:
            plate_files[plate.id] = [plate.file, digest_file(Path(plate.file))]
        else:
            plate_nodes[plate.id] = image_node(
                "plate", plate.id, plate.provider, plate.model, f"{plate.prompt}\n\n{style_text(episode.style, episode.language)}".strip(),
                plate.aspect, plate.size, [], plate.location, {"plate": plate.id, "name": plate.id})

    # Clips depend on other clips (through `after:` frames and `extends:`), so create them in that order.
    shot_edges = [(s.after, s.id) for s in episode.shots.values() if s.after]
    shot_edges += [(s.extends, s.id) for s in episode.shots.values() if s.extends]
    clips: dict[str, Node] = {}  # shot id -> the picked take
    takes: dict[str, list[Node]] = {}
    frames: dict[str, Node] = {}
    position = {sid: i for i, sid in enumerate(episode.shots)}
    # Links usually point back to an earlier shot: then the spec's order is already the one wanted.
    in_order = all(position[a] < position[b] for a, b in shot_edges)
    for shot_id in list(episode.shots) if in_order else lexicographic_order(
            list(episode.shots), shot_edges, key=position.__getitem__):
        shot = episode.shots[shot_id]
        kept = fresh.clips(shot)
        if kept is not None:  # in the order planning adds them: the frame it starts from, then its takes
            if shot.after and shot.after not in frames:
                frames[shot.after] = add(fresh.node(f"frame:{shot.after}"))
            takes[shot_id] = [add(node) for node in kept]
            clips[shot_id] = takes[shot_id][shot.pick - 1]
            continue
        route = routes[shot.provider]
        width, height = shot.size
        present = shot_characters(shot)
        inputs: list[str] = []
        references: list[str] = []
        user_files: list[list[str]] = []

        # Called only within this iteration, so binding the loop's lists late is what we want.
        def use_plate(pid: str) -> str:
            if pid in plate_nodes:
                inputs.append(plate_nodes[pid].id)  # noqa: B023
                return plate_nodes[pid].key
            user_files.append(plate_files[pid])  # noqa: B023
            return plate_files[pid][1]

        if character_references_sent(shot, route):
            for cid in present:
                char = episode.characters[cid]
                if cid in sheets:
                    references.append(sheets[cid].key)
                    inputs.append(sheets[cid].id)
                files = reference_files(char.references)
                user_files.extend(files)
                references.extend(digest for _, digest in files)
        references.extend(use_plate(pid) for pid in shot.references)
        voice_inputs: dict[str, tuple[str, int]] = {}
        voice_samples: list[list[str]] = []
        if shot.dialogue and character_references_sent(shot, route):
            for cid, kind, path in voice_samples_sent(episode, shot, route):
                files = reference_files([path])
                user_files.extend(files)
                references.append(files[0][1])
                same_kind = sum(1 for _, p in user_files[:-1] if sample_kind(p) == kind)
                voice_inputs[cid] = (kind, same_kind + 1)
                voice_samples.append([cid, path])
        first_frame = use_plate(shot.first_frame) if shot.first_frame else None
        last_frame = use_plate(shot.last_frame) if shot.last_frame else None
        if shot.after:
            if shot.after not in frames:
                source = clips[shot.after]
                frame_manifest: dict[str, Any] = {"kind": "frame", "recipe": RECIPES["frame"], "clip": source.key}
                # Continuity picks up from the last frame the viewer sees: at trim.out when the
                # shot is trimmed (only then in the key, so untrimmed shots keep theirs).
                if episode.shots[shot.after].trim_out is not None:
                    frame_manifest["trim_out"] = episode.shots[shot.after].trim_out
                frames[shot.after] = add(Node(
                    id=f"frame:{shot.after}", kind="frame", key=node_key(frame_manifest), provider="ffmpeg",
                    manifest=frame_manifest, inputs=(source.id,), label=f"last frame of {shot.after}",
                    location=episode.shots[shot.after].location, extension=".png",
                    labels={"shot": shot.after},
                ))
            first_frame = frames[shot.after].key
            inputs.append(frames[shot.after].id)
        extends = None
        if shot.extends:
            extends = clips[shot.extends].key
            inputs.append(clips[shot.extends].id)
        manifest: dict[str, Any] = {
            "kind": "clip",
            "recipe": RECIPES["clip"],
            "provider": route.name,
            "model": shot.model or route.model,
            "prompt": compile_shot_prompt(shot, episode, route.dialogue, voice_inputs),
            "negative_prompt": compile_negative(shot, episode.style),
            "duration": shot.duration,
            "width": width,
            "height": height,
            "fps": shot.fps,
            "aspect": shot.aspect,
            "resolution": shot.resolution,
            "seed": shot.seed,
            "audio": shot.audio,
            "references": references,
            "first_frame": first_frame,
        }
        # Optional fields enter the manifest only when used, so adding a feature to shotmake
        # does not change the keys of shots that do not use it.
        if last_frame is not None:
            manifest["last_frame"] = last_frame
        if extends is not None:
            manifest["extends"] = extends
        if shot.dialogue and route.protocol == "local":
            # The test card draws each line and sounds it during its cue: the timing is its content.
            manifest["dialogue"] = dialogue_cues(episode, shot.id, relative_to_shown=False)
        labels = {"shot": shot.id, "characters": [episode.characters[c].name for c in present],
                  "reference_files": user_files}
        if voice_samples:
            labels["voice_samples"] = voice_samples
        if "dialogue" in manifest:
            labels["dialogue"] = manifest["dialogue"]
        takes[shot.id] = []
        for take in range(1, shot.takes + 1):
            take_manifest = dict(manifest)
            if take > 1:  # take 1 keeps the plain key: adding takes later re-renders nothing
                take_manifest["take"] = take
                if shot.seed is not None:
                    take_manifest["seed"] = shot.seed + take - 1
            takes[shot.id].append(add(Node(
                id=clip_id(shot, take), kind="clip", key=node_key(take_manifest), provider=route.name, manifest=take_manifest,
                inputs=tuple(dict.fromkeys(inputs)), label=shot.title or shot.id, location=shot.location,
                labels={**labels, "take": take} if shot.takes > 1 else labels,
            )))
        clips[shot.id] = takes[shot.id][shot.pick - 1]
        fresh.planned(shot.id, clips[shot.id])

    _add_assembly(episode, pieces, clips, digest_file, add, fresh)
    order: Sequence[str] | None = fresh.order(nodes)
    if order is None:
        edges = [(dep, node.id) for node in nodes.values() for dep in node.inputs]
        order = lexicographic_order(list(nodes), edges, key=_kind_rank)
    return Plan(episode, order=order, nodes=nodes, pieces=pieces)


def lexicographic_order(nodes: list[str], edges: Iterable[tuple[str, str]], key: Callable[[str], Any]) -> list[str]:
    """A topological order that takes the smallest ``key`` among the ready nodes, then the earliest added.

    The same order as networkx's ``lexicographical_topological_sort`` over a graph built by
    adding ``nodes``, then ``edges``, in these orders (plans built before keep their order),
    without building a graph.
    """
    index = {node: i for i, node in enumerate(nodes)}
    children: dict[str, list[str]] = {node: [] for node in nodes}
    waiting: dict[str, int] = dict.fromkeys(nodes, 0)
    seen: set[tuple[str, str]] = set()
    for edge in edges:
        if edge not in seen:
            seen.add(edge)
            children[edge[0]].append(edge[1])
            waiting[edge[1]] += 1
    ready = [(key(node), index[node], node) for node in nodes if not waiting[node]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        node = heapq.heappop(ready)[2]
        order.append(node)
        for child in children[node]:
            waiting[child] -= 1
            if not waiting[child]:
                heapq.heappush(ready, (key(child), index[child], child))
    if len(order) != len(nodes):
        raise ValueError("the graph has a cycle")
    return order


_RANK = {"sheet": "0", "plate": "0", "clip": "1", "frame": "1", "conform": "2", "piece": "2", "span": "2",
         "sequence": "3", "master": "4", "episode": "4", "subtitles": "5", "poster": "5", "rendition": "5"}


def delivery_format(episode: Episode) -> DeliveryFormat:
    """The master's format: ``delivery.format``, whose unset keys the spec fills from ``defaults:``.

    Never decided by the shots (a vote would flip the master when two shots swap); a shot of
    another aspect is fitted inside it, which lint's SM301 points out.
    """
    resolution, aspect, fps = delivery_choice(episode)
    width, height = FRAME_SIZES[(resolution, aspect)]
    return DeliveryFormat(width=width, height=height, fps=fps)


def delivery_choice(episode: Episode) -> tuple[str, str, int]:
    """``(resolution, aspect, fps)`` of the master (shotmake's defaults where the spec names none)."""
    wanted = episode.delivery.get("format", {})
    return (str(wanted.get("resolution", "720p")), str(wanted.get("aspect", "16:9")), int(wanted.get("fps", 24)))


#: Spec transition names -> the assembler's.
TRANSITION_KINDS = {"cut": "cut", "crossfade": "crossfade", "fade": "dip"}


def _add_assembly(episode: Episode, pieces: dict[str, list[str]], clips: Mapping[str, Node],
                  digest_file: Callable[[Path], str], add: Callable[[Node], Node], fresh: Reuse) -> None:
    """Conform each used clip, join each sequence, then master and deliver the episode.

    Every step is a cached node keyed by its inputs and options, so changing one shot
    rebuilds that shot's conform node, its sequence and the master, nothing else.
    """
    fmt = delivery_format(episode)
    fmt_manifest = fmt.manifest()
    conforms: dict[tuple[str, bool], Node] = {}

    def conform_node(shot_id: str, reencode: bool) -> Node:
        shot = episode.shots[shot_id]
        clip = clips[shot_id]
        if (shot_id, reencode) in conforms:
            return conforms[(shot_id, reencode)]
        node_id = f"conform:{shot_id}" + ("+keys" if reencode else "")
        kept = fresh.conform(shot_id, node_id)
        if kept is not None:
            conforms[(shot_id, reencode)] = add(kept)
            return kept
        manifest = {"kind": "conform", "recipe": RECIPES["conform"], "clip": clip.key, "format": fmt_manifest,
                    "trim": [shot.trim_in, shot.trim_out], "reencode": reencode}
        conforms[(shot_id, reencode)] = add(Node(
            id=node_id, kind="conform", key=node_key(manifest), provider="ffmpeg",
            manifest=manifest, inputs=(clip.id,), label=shot.title or shot_id, location=shot.location,
            labels={"shot": shot_id},
        ))
        return conforms[(shot_id, reencode)]

    used_ids: set[str] = set()

    def unique(node_id: str) -> str:
        """``node_id``, or with ``#2``, ``#3``... when a repeated shot needs another node of its kind."""
        found, n = node_id, 1
        while found in used_ids:
            n += 1
            found = f"{node_id}#{n}"
        used_ids.add(found)
        return found

    def join(seq: Any, members: list[Node], fmt_m: dict[str, Any], suffix: str) -> Node:
        """A sequence of ``members`` (conformed shots, or a look's pieces), joined by stream copy.

        With a blended transition each shot becomes a *span* (its copied frames and its blend into
        the next shot, a node of its own), so a one-shot edit re-encodes the two blends it is in.
        """
        kind = TRANSITION_KINDS[seq.transition.kind]
        blended = kind != "cut" and seq.transition.seconds > 0
        transition = [kind, seq.transition.seconds if blended else 0.0]
        parts = members
        if blended:
            overlap = max(1, round(seq.transition.seconds * fmt.fps))
            parts = []
            for j, (sid, member) in enumerate(zip(seq.shots, members, strict=True)):
                nxt = members[j + 1] if j + 1 < len(members) else None
                m = {"kind": "span", "recipe": RECIPES["span"], "clip": member.key,
                     "next": nxt.key if nxt is not None else None, "transition": transition,
                     "overlap_in": overlap if j else 0, "format": fmt_m}
                span = add(Node(
                    id=unique(f"span:{seq.id}/{sid}{suffix}"), kind="span", key=node_key(m), provider="ffmpeg",
                    manifest=m, inputs=tuple(dict.fromkeys([member.id, *([nxt.id] if nxt else [])])),
                    label=f"{episode.shots[sid].title or sid} into the next shot", location=episode.shots[sid].location,
                    labels={"shot": sid},
                ))
                pieces[span.id] = [member.id, *([nxt.id] if nxt else [])]
                parts.append(span)
        manifest = {  # spans are made of these shots, this transition and format alone: their keys add nothing
            "kind": "sequence",
            "recipe": RECIPES["sequence"],
            "pieces": [c.key for c in members],
            "transition": transition,
            "format": fmt_m,
        }
        node = add(Node(
            id=f"sequence:{seq.id}{suffix}", kind="sequence", key=node_key(manifest), provider="ffmpeg",
            manifest=manifest, inputs=tuple(dict.fromkeys(c.id for c in parts)),
            label=seq.title or seq.id if not suffix else f"{seq.title or seq.id} ({suffix[1:]})",
            location=seq.location, labels={"sequence": seq.id, "shots": list(seq.shots)},
        ))
        pieces[node.id] = [c.id for c in parts]  # a shot may repeat; keep the order
        return node

    sequences: list[Node] = []
    member_lists: list[list[Node]] = []  # each sequence's conformed shots, in order (looks are made of them)
    for seq in episode.sequences:
        kind = TRANSITION_KINDS[seq.transition.kind]
        blended = kind != "cut" and seq.transition.seconds > 0
        # Vendor clips have long keyframe intervals; next to a transition they are re-encoded
        # with the delivery GOP so only the footage around the cut is encoded again.
        members = [conform_node(s, blended and episode.shots[s].provider != "local") for s in seq.shots]
        sequences.append(join(seq, members, fmt_manifest, ""))
        member_lists.append(members)

    delivery = episode.delivery
    voiceovers: list[list[Any]] = []  # [sequence index, shot index, file digest]
    voice_files: dict[str, str] = {}
    for i, seq in enumerate(episode.sequences):
        for j, sid in enumerate(seq.shots):
            path = episode.shots[sid].voiceover
            if path:
                digest = digest_file(Path(path))
                voiceovers.append([i, j, digest])
                voice_files[digest] = path
    subtitles = [[subtitle_of(episode, s) for s in seq.shots] for seq in episode.sequences]
    has_subtitles = any(text for row in subtitles for text in row)
    subtitle_settings = delivery.get("subtitles", {})
    burn = bool(subtitle_settings.get("burn", False)) and has_subtitles
    music = delivery.get("music")
    manifest = {
        "kind": "episode",
        "recipe": RECIPES["episode"],
        "sequences": [s.key for s in sequences],
        "format": fmt_manifest,
        "title": episode.title or episode.name,
        "chapters": [seq.title or seq.id for seq in episode.sequences],
        "loudness": delivery.get("loudness", -16.0),
        "music": digest_file(Path(music)) if music else None,
        "music_gain_db": delivery.get("music_gain_db", -14.0),
        "voiceovers": voiceovers,
        "burn_subtitles": None,
    }
    sequence_ids = tuple(dict.fromkeys(s.id for s in sequences))
    mix_labels = {"music": music, "voice_files": voice_files}
    # Burned subtitles are drawn on each picture as the viewer gets it, shot by shot: the master,
    # each rendition after its crop (laid out for its own frame), never the poster. So a burning
    # episode keeps its unsubtitled master as a node of its own (``master:``), whose sound every
    # look (``renditions.py``) takes as it is.
    font_file = subtitle_settings.get("font") if burn else None
    font = None
    if burn:
        from .subtitles import bundled_id

        font = digest_file(Path(font_file)) if font_file else bundled_id()
        clean = add(Node(
            id=f"master:{episode.name}", kind="master", key=node_key({**manifest, "kind": "master",
                                                                      "recipe": RECIPES["master"]}),
            provider="ffmpeg", manifest={**manifest, "kind": "master", "recipe": RECIPES["master"]},
            inputs=sequence_ids, label=f"{episode.title or episode.name} (no subtitles)", labels=mix_labels,
        ))
        pieces[clean.id] = [s.id for s in sequences]
    else:
        clean = add(Node(
            id=f"episode:{episode.name}", kind="episode", key=node_key(manifest), provider="ffmpeg",
            manifest=manifest, inputs=sequence_ids, label=episode.title or episode.name,
            labels={"output": episode.output, **mix_labels},
        ))
        pieces[clean.id] = [s.id for s in sequences]
    stem = episode.output[:-4] if episode.output.endswith(".mp4") else episode.output
    look_pieces: dict[str, Node] = {}  # key -> node: a shot that repeats with the same cue is one piece

    def look_sequences(look: Any) -> list[Node]:
        """The look's pieces (one per shot of each sequence) and its sequences, as the master's are made."""
        made = []
        for seq, members in zip(episode.sequences, member_lists, strict=True):
            kind = TRANSITION_KINDS[seq.transition.kind]
            overlap = (max(1, round(seq.transition.seconds * fmt.fps))
                       if kind != "cut" and seq.transition.seconds > 0 else 0)
            row = []
            for j, (sid, conformed) in enumerate(zip(seq.shots, members, strict=True)):
                m: dict[str, Any] = {"kind": "piece", "recipe": RECIPES["piece"], "clip": conformed.key,
                                     "format": fmt_manifest, **look.manifest(), "subtitle": None}
                text = episode.shots[sid].subtitle if burn else ""
                if text:
                    m["subtitle"] = {"text": text, "overlap_in": overlap if j > 0 else 0,
                                     "overlap_out": overlap if j + 1 < len(members) else 0}
                    m["font"] = font
                key = node_key(m)
                if key not in look_pieces:
                    look_pieces[key] = add(Node(
                        id=unique(f"piece:{sid}.{look.name}"), kind="piece", key=key, provider="ffmpeg", manifest=m,
                        inputs=(conformed.id,),
                        label=f"{episode.shots[sid].title or sid} ({look.name})", location=episode.shots[sid].location,
                        labels={"shot": sid, "font": font_file},
                    ))
                row.append(look_pieces[key])
            node = join(seq, row, look.format(fmt).manifest(), f".{look.name}")
            made.append(node)
        return made

    def finished(kind: str, node_id: str, look: Any, extra: dict[str, Any], output: str, label: str) -> Node:
        """A look's sequences joined under the master's finished sound and chapters."""
        made = look_sequences(look)
        m = {"kind": kind, "recipe": RECIPES[kind], "master": clean.key, "sequences": [s.key for s in made], **extra}
        node = add(Node(
            id=node_id, kind=kind, key=node_key(m), provider="ffmpeg",  # type: ignore[arg-type]
            manifest=m, inputs=tuple(dict.fromkeys([clean.id, *(s.id for s in made)])), label=label,
            labels={"output": output, "font": font_file},
        ))
        pieces[node.id] = [clean.id, *(s.id for s in made)]
        return node

    if burn:
        from .formats import subtitled_look

        finished("episode", f"episode:{episode.name}", subtitled_look(fmt), {"format": fmt_manifest},
                 episode.output, episode.title or episode.name)

    def deliverable(kind: str, suffix: str, extension: str, extra: dict[str, Any], inputs: tuple[str, ...],
                    labels: Mapping[str, Any] | None = None) -> None:
        m = {"kind": kind, "recipe": RECIPES[kind], **extra}
        node = add(Node(
            id=f"{kind}:{episode.name}", kind=kind,  # type: ignore[arg-type]
            key=node_key(m), provider="ffmpeg", manifest=m, inputs=tuple(dict.fromkeys(inputs)),
            label=f"{kind} of {episode.name}", extension=extension,
            labels={**(labels or {}), "output": f"{stem}.{suffix}{extension}" if suffix else f"{stem}{extension}"},
        ))
        pieces[node.id] = list(inputs)

    if has_subtitles:
        deliverable("subtitles", "", ".srt", {"sequences": [s.key for s in sequences], "text": subtitles,
                                              "format": fmt_manifest}, tuple(s.id for s in sequences))
    poster_at = delivery.get("poster_at")
    deliverable("poster", "poster", ".png", {"master": clean.key, "at": poster_at}, (clean.id,))
    resolution, aspect, _ = delivery_choice(episode)
    from .formats import look_for

    for kind in delivery.get("renditions", []):
        size = rendition_size(kind, resolution, aspect)
        finished("rendition", f"rendition:{episode.name}.{kind}", look_for(kind, size, fmt),
                 {"rendition": kind, "size": list(size)}, f"{stem}.{kind}.mp4", f"rendition of {episode.name}")


def subtitle_of(episode: Episode, shot_id: str) -> str | list[list[Any]]:
    """A shot's subtitles: its ``subtitle:`` text (shown for the whole shot), else its dialogue as
    ``[start, end, line]`` cues in seconds from the first frame shown (a creator writes a line once)."""
    shot = episode.shots[shot_id]
    if shot.subtitle or not shot.dialogue:
        return shot.subtitle
    return [[start, end, line] for start, end, _, line in dialogue_cues(episode, shot_id)]


def _kind_rank(node_id: str) -> str:
    # Sheets first, then clips, then assemblies; stable by id within a rank.
    return _RANK.get(node_id.split(":", 1)[0], "9") + node_id


def pieces(plan: Plan, node_id: str) -> list[str]:
    """Ordered input node ids of an assembly node (repeats kept)."""
    found = plan.pieces_of(node_id)
    return found if found is not None else list(plan.node(node_id).inputs)


# --------------------------------------------------------------------------------------------
# Staleness


def stale_nodes(
    plan: Plan,
    is_cached: Callable[[str], bool],
    history: Callable[[str], Sequence[Mapping[str, Any]]],
    prefetch: Callable[[list[str]], None] | None = None,
) -> dict[str, Stale]:
    """Return the nodes that must be built, each with its reasons, in execution order.

    A node is dirty when its key has no cached artifact. ``history(node_id)`` gives the
    ``{"key", "manifest"}`` records that node id was built from, newest first; the reasons
    compare with the closest one whose render is still cached (what is true now: after a
    revert, an undone edit is no reason), else with the newest. ``prefetch`` (optional) is
    told every dirty node id before ``history`` is asked about them, to read them at once.
    """
    dirty = [nid for nid in plan.order if not is_cached(plan.node(nid).key)]
    if not dirty:
        return {}
    if prefetch is not None:
        prefetch(dirty)
    owners = {plan.node(nid).key: nid for nid in plan.order}
    context = Context(owners, {c.name: c.id for c in plan.episode.characters.values()})
    result: dict[str, Stale] = {}
    for nid in dirty:
        node = plan.node(nid)
        old = _closest(node, history(nid), is_cached)
        if old is None:
            reasons: list[str] = ["never built"]
        else:
            reasons = describe_changes(old, node.manifest, owners, node=node, context=context) \
                or ["output missing from the cache"]
        result[nid] = Stale(node, tuple(reasons))
    return result


def _closest(node: Node, records: Sequence[Mapping[str, Any]], is_cached: Callable[[str], bool]
             ) -> Mapping[str, Any] | None:
    """The manifest to explain ``node`` against: of the records whose render is still cached, the one
    with the fewest fields unlike the node's (ties: the newest); else the newest record."""
    usable = [r for r in records if isinstance(r, Mapping) and isinstance(r.get("manifest"), Mapping)]
    if len(usable) <= 1:
        return usable[0]["manifest"] if usable else None
    new = node.manifest

    def unlike(record: Mapping[str, Any]) -> int:
        old = record["manifest"]
        return sum(1 for f in set(old) | set(new) if old.get(f) != new.get(f))

    ranked = sorted(range(len(usable)), key=lambda i: (unlike(usable[i]), i))
    for i in ranked:  # the closest first: usually one lookup
        key = usable[i].get("key")
        if isinstance(key, str) and is_cached(key):
            return usable[i]["manifest"]  # type: ignore[no-any-return]
    return usable[0]["manifest"]  # type: ignore[no-any-return]
