"""Render a ``htmlreport.Report`` as one HTML page: inline CSS and script, media by relative link.

Nothing on the page comes from the network (no CDN, no web font), so the report opens from a
folder on disk or a USB stick. Thumbnails load lazily (``loading="lazy"``) and videos only on
"Play", so a 1,000-shot page stays light. With ``review_token`` (``shotmake review``) each take
gets a Pick button and each shot a Re-roll button that POST back to the local server; without
it, the page prints the equivalent commands to copy.
"""

from __future__ import annotations

import datetime
import shlex
from functools import cache
from html import escape
from importlib import resources

from .htmlreport import CharacterView, Media, Report, ShotView, TakeView


@cache
def _asset(name: str) -> str:
    return resources.files("shotmake").joinpath("report_assets", name).read_text(encoding="utf-8")


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def _clock(seconds: float) -> str:
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def _img(media: Media | None, alt: str, cls: str, empty: str = "no picture yet") -> str:
    if media is None:
        return f'<div class="{cls} empty" role="img" aria-label="{_e(alt)}">{_e(empty)}</div>'
    return f'<img class="{cls}" src="{_e(media.href)}" alt="{_e(alt)}" loading="lazy" decoding="async">'


_STATUS_WORDS = {"rendered": "rendered by this build", "cached": "from the cache", "failed": "failed",
                 "skipped": "not built", "missing": "not rendered yet"}


def _take(shot: ShotView, take: TakeView, spec: str, token: str | None) -> str:
    label = f"Take {take.take}" if len(shot.takes) > 1 else "The clip"
    badges = [f'<span class="badge {take.status}">{_e(_STATUS_WORDS.get(take.status, take.status))}</span>']
    if take.picked and len(shot.takes) > 1:
        badges.insert(0, '<span class="badge picked">in the cut</span>')
    cost = f"cost {_usd(take.cost_usd)}{' (estimate: not rendered yet)' if take.estimated else ''}"
    seed = f" · seed {take.seed}" if take.seed is not None else ""
    why = "".join(f'<div class="why">{_e(w)}</div>' for w in take.why)
    actions = []
    if take.video is not None:
        actions.append(f'<button class="act" type="button" data-play="{_e(take.video.href)}">&#9654; Play</button>')
    if len(shot.takes) > 1 and not take.picked:
        if token is not None:
            actions.append(
                f'<form method="post" action="/pick"><input type="hidden" name="token" value="{_e(token)}">'
                f'<input type="hidden" name="shot" value="{_e(shot.id)}">'
                f'<input type="hidden" name="take" value="{take.take}">'
                f'<button class="act primary" type="submit" data-pick="{_e(shot.id)}:{take.take}">'
                f'Use take {take.take} in the cut</button></form>')
        else:
            actions.append(f'<span class="muted">Use it in the cut:</span><code class="cmd">shotmake pick '
                           f'{_e(shlex.quote(spec))} {_e(shot.id)} {take.take}</code>')
    chosen = " picked" if take.picked and len(shot.takes) > 1 else ""
    return (f'<div class="take{chosen}" data-node="{_e(take.node)}">'
            f'<div class="label"><span>{label}</span><span>{"".join(badges)}</span></div>'
            f'{_img(take.strip, f"{shot.id} {label}: first, middle and last frame", "strip")}'
            f'<div class="why">{_e(cost)}{_e(seed)}</div>{why}'
            f'<div class="actions">{"".join(actions)}</div></div>')


def _shot(shot: ShotView, spec: str, token: str | None, sheets: dict[str, tuple[str, Media | None]]) -> str:
    takes = "".join(_take(shot, t, spec, token) for t in shot.takes)
    people = ""
    for cid in shot.characters:
        name, thumb = sheets.get(cid, (cid, None))
        picture = _img(thumb, f"{name}'s sheet", "") if thumb is not None else ""
        people += f'<span class="person">{picture}{_e(name)}</span>'
    people = f'<div class="people"><span class="muted">With:</span>{people}</div>' if people else ""
    talk = "".join(f"<div>&ldquo;{_e(line)}&rdquo;</div>" for line in shot.dialogue)
    if shot.subtitle and not shot.dialogue:
        talk = f'<div><span class="muted">Subtitle:</span> {_e(shot.subtitle)}</div>'
    lint = "".join(f'<div class="lint">&#9888; {_e(w)}</div>' for w in shot.lint)
    if token is not None:
        reroll = (f'<form method="post" action="/reroll"><input type="hidden" name="token" value="{_e(token)}">'
                  f'<input type="hidden" name="shot" value="{_e(shot.id)}"><button class="act" type="submit" '
                  f'data-reroll="{_e(shot.id)}">Re-roll: add take {len(shot.takes) + 1}</button></form>')
    else:
        reroll = (f'<span class="muted">Another take of this shot:</span><code class="cmd">shotmake reroll '
                  f'{_e(shlex.quote(spec))} {_e(shot.id)}</code>')
    title = f" &mdash; {_e(shot.title)}" if shot.title else ""
    negative = f'<div class="muted">Negative: {_e(shot.negative)}</div>' if shot.negative else ""
    return (f'<article class="shot" id="shot-{_e(shot.id)}"><header><h3>{shot.number}. {_e(shot.id)}{title}</h3>'
            f'<span class="meta">{_e(shot.sequence or "not in any sequence")} · {shot.duration:g} s · '
            f'{_e(shot.route)}{" / " + _e(shot.model) if shot.model else ""} · {_e(shot.source)}</span></header>'
            f'<div class="body"><div><div class="takes">{takes}</div><div class="actions">{reroll}</div></div>'
            f'<div class="prompt"><div class="action">{_e(shot.prompt.split(chr(10) * 2)[0])}</div>{talk}{people}'
            f'<details><summary>Prompt sent to {_e(shot.route)}</summary><pre>{_e(shot.prompt)}</pre>{negative}'
            f'</details>{lint}</div></div></article>')


def _gallery(items: list[CharacterView], kind: str) -> str:
    if not items:
        return f'<p class="muted">No {kind} in this episode.</p>'
    figures = []
    for item in items:
        drawn = item.sheet is not None or "not drawn" in item.status
        picture = _img(item.thumb, f"{item.name} {kind[:-1]}", "sheet", "no picture yet" if drawn else "no sheet")
        if item.sheet is not None:
            picture = f'<a href="{_e(item.sheet.href)}">{picture}</a>'
        figures.append(f'<figure>{picture}<figcaption><b>{_e(item.name)}</b> <span class="muted">'
                       f'{_e(item.status)}</span><div>{_e(item.description)}</div></figcaption></figure>')
    return f'<div class="gallery">{"".join(figures)}</div>'


def _money(report: Report) -> str:
    rows = "".join(f'<tr><td>{_e(g["name"])}</td><td class="num">{_usd(float(g["cost_usd"]))}</td>'
                   f'<td class="num">{int(g["renders"])}</td></tr>' for g in report.spend_cache_by_route)
    cache = (f'<table><tr><th>Route</th><th>Spent on this episode (renders in the cache)</th><th>Renders</th></tr>'
             f'{rows}</table><p class="muted"><code>shotmake cost</code> prints the same, by route, day or episode.</p>'
             if rows else '<p class="muted">Nothing of this episode is in the cache yet.</p>')
    build = ""
    if report.spend_build is not None:
        per = "".join(f"<tr><td>{_e(r)}</td><td class='num'>{_usd(v)}</td></tr>"
                      for r, v in sorted(report.spend_build_by_route.items()))
        build = (f"<div><b>This build spent {_usd(report.spend_build)}</b>"
                 + (f"<table><tr><th>Route</th><th>Spent</th></tr>{per}</table>" if per else "") + "</div>")
    return (f'<div class="money">{build}<div>{cache}</div><div><p>Rendering every node again from scratch would '
            f'cost about <b>{_usd(report.full_rerender_usd)}</b> at list prices; thanks to the cache the next build costs '
            f'{_usd(report.to_build_usd)}{" (every route of this episode is free)" if not report.full_rerender_usd else ""}.'
            '</p></div></div>')


def render(report: Report, *, spec: str, review_token: str | None = None, message: str = "",
           now: datetime.datetime | None = None) -> str:
    """The whole page as a string (``spec``: the spec path as the commands on the page should name it)."""
    counts = report.counts
    when = (now or datetime.datetime.now()).strftime("%Y-%m-%d %H:%M")
    sheets = {c.id: (c.name, c.thumb) for c in report.characters}
    banners = []
    if report.failures:
        items = "".join(f"<li><b>{_e(f.node)}</b> ({_e(f.when)}): {_e(f.reason)}</li>" for f in report.failures)
        banners.append(f'<div class="banner bad" id="failures"><b>{len(report.failures)} failure(s)</b><ul>{items}'
                       "</ul></div>")
    if counts["dirty"]:
        banners.append(f'<div class="banner warn">{counts["dirty"]} of {counts["nodes"]} nodes are not built for the '
                       f'current spec (estimate {_usd(report.to_build_usd)}): run <code>shotmake build '
                       f'{_e(shlex.quote(spec))}</code>. Takes marked &ldquo;not rendered yet&rdquo; show no picture.'
                       '</div>')
    elif not report.failures:
        banners.append('<div class="banner ok">Everything in the spec is built: the master below is the current '
                       'cut.</div>')
    if report.master is None:
        master = '<p class="muted">No master yet: build the episode to make one.</p>'
    else:
        note = "" if report.master_current else ('<p class="banner warn">This is the last master built; the cut has '
                                                 "changed since (build again to see it).</p>")
        poster = f' poster="{_e(report.poster.href)}"' if report.poster is not None else ""
        master = f'{note}<video id="master" controls preload="metadata"{poster} src="{_e(report.master.href)}"></video>'
    chapters = "".join(f'<li><button type="button" data-seek="{start:g}">{_clock(start)} {_e(title)}</button></li>'
                       for start, title in report.chapters)
    cards = [("Running time", _clock(report.duration), f"{len(report.chapters)} chapters"),
             ("Delivery", report.format, _e(report.output)),
             ("Shots", str(counts["shots"]), f'{counts["takes"]} takes'),
             ("Built", f'{counts["nodes"] - counts["dirty"]} / {counts["nodes"]}', "nodes in the cache"),
             ("Next build", _usd(report.to_build_usd), "estimate for what is not built"),
             ("Full re-render", _usd(report.full_rerender_usd), "at list prices")]
    if report.spend_build is not None:
        cards.insert(3, ("This build", _usd(report.spend_build), f'{counts["rendered"]} rendered, '
                                                                  f'{counts["failed"]} failed'))
    card_html = "".join(f'<div class="card"><div class="k">{_e(k)}</div><div class="v">{_e(v)}</div>'
                        f'<div class="n">{n}</div></div>' for k, v, n in cards)
    review = ""
    if review_token is not None:
        review = ('<div class="review-bar">Review mode: &ldquo;Use take N&rdquo; writes <code>pick:</code> into the '
                  'spec, &ldquo;Re-roll&rdquo; adds a take (<code>takes:</code>); then run <code>shotmake build</code>.'
                  + (f'<div id="message"><b>{_e(message)}</b></div>' if message else "") + '</div>')
    warnings = ""
    if report.warnings:
        warnings = (f'<details><summary>{len(report.warnings)} lint warning(s)</summary>'
                    + "".join(f'<div class="lint">{_e(w)}</div>' for w in report.warnings) + "</details>")
    shots = "".join(_shot(s, spec, review_token, sheets) for s in report.shots)
    built = "what this build rendered or took from the cache" if report.built else "the cache as it is now"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(report.title)} &middot; shotmake report</title>
<style>{_asset("report.css")}</style></head>
<body>
<header class="top"><h1>{_e(report.title)}</h1>
<div class="sub">Episode <code>{_e(report.name)}</code> from <code>{_e(spec)}</code> &middot; {built} &middot; \
report made {when}</div></header>
{review}
<nav class="toc"><a href="#episode">Episode</a><a href="#shots">Shots</a><a href="#characters">Characters</a>\
<a href="#plates">Plates</a><a href="#money">Money</a></nav>
<main>
<section id="episode"><h2>Episode</h2>{"".join(banners)}<div class="cards">{card_html}</div>
<div class="master" style="margin-top:12px">{master}<div><b>Chapters</b><ol class="chapters">{chapters}</ol></div></div>
{warnings}</section>
<section id="shots"><h2>Shots in story order</h2>
<p class="muted">Each strip shows a take's first, middle and last frame; &#9654; Play plays it. The take marked
&ldquo;in the cut&rdquo; is the one the master uses.</p>{shots}</section>
<section id="characters"><h2>Characters</h2>{_gallery(report.characters, "sheets")}</section>
<section id="plates"><h2>Plates</h2>{_gallery(report.plates, "plates")}</section>
<section id="money"><h2>Money</h2>{_money(report)}</section>
</main>
<script>{_asset("report.js")}</script>
</body></html>
"""
