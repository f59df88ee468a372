"""Pictures of the goal graph: a PNG (matplotlib Agg), a self-contained interactive HTML page, and a timeline.

Layout (:func:`layout`, computed in python and shared by both renderers): one column band per stepping-stone depth
(``GoalGraph.depths()``), so edges read left to right; goals never achieved (seeded or only pursued) get a last band
of their own. Within a band goals are ordered by the mean row of their predecessors (barycentre, fewer crossings),
then by first_seen; a band with more than ``max_per_column`` goals is split into staggered sub-columns.
Encoding: node colour = competence (viridis, 0..1), node area = learning progress (relative to the largest LP),
red ring = frontier goal, hollow dashed node = not yet achieved. Beyond ``max_labels`` goals only the important
ones are labelled (:func:`important_goals`: high LP, frontier, many stepping stones), skipping labels that would
overlap; the HTML page shows every label from 2.2x zoom and any goal's stats on hover.
Timeline: :func:`render_timeline` takes the history the loop logs ({step, discovered, mastered}); given a GoalGraph
it rebuilds only the discovered curve from first_seen (mastery over time is not stored in the graph).
"""
from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize, to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from autotelic.graph import GoalGraph

CMAP = "viridis"
FRONTIER_COLOUR = "#d62728"
SUB_COLUMN = 0.75  # x offset between the sub-columns of a tall band (a band is 1 unit wide)


# ---------------------------------------------------------------------- layout and node facts
def layout(graph: GoalGraph, max_per_column: int = 40) -> dict[str, tuple[float, float]]:
    """Goal -> (x, y) in layout units: x grows with depth (one unit per band), y is the row (centred on 0)."""
    return _layout(graph, max_per_column)[0]


def _layout(graph: GoalGraph, max_per_column: int = 40
            ) -> tuple[dict[str, tuple[float, float]], list[tuple[str, float]]]:
    """(positions, bands); a band is (label, x of its centre)."""
    if max_per_column < 1:
        raise ValueError(f"max_per_column must be >= 1, got {max_per_column}")
    if len(graph) == 0:
        return {}, []
    facts = graph.facts()
    at = {g: i for i, g in enumerate(facts.goals)}
    preds: dict[str, list[str]] = {}
    for a, b, _ in graph.edges():
        preds.setdefault(b, []).append(a)
    discovered = [g for g, d in zip(facts.goals, facts.discovered) if d]
    undiscovered = [g for g, d in zip(facts.goals, facts.discovered) if not d]
    max_d = max((int(facts.depth[at[g]]) for g in discovered), default=-1)
    layers: dict[int, list[str]] = {}
    for g in discovered:
        layers.setdefault(int(facts.depth[at[g]]), []).append(g)
    if undiscovered:
        layers[max_d + 1] = sorted(undiscovered)
    pos: dict[str, tuple[float, float]] = {}
    bands: list[tuple[str, float]] = []
    x0 = 0.0
    for d in sorted(layers):
        goals = layers[d]

        def key(g: str) -> tuple[float, float, str]:
            ys = [pos[p][1] for p in preds.get(g, ()) if p in pos]
            bary = float(np.mean(ys)) if ys else 0.0
            fs = int(facts.first_seen[at[g]])
            return (bary, float(fs) if fs >= 0 else math.inf, g)

        goals = sorted(goals, key=key)
        k = math.ceil(len(goals) / max_per_column)
        bands.append((f"depth {d}" if d <= max_d else "not yet achieved", x0 + (k - 1) * SUB_COLUMN / 2))
        rows = math.ceil(len(goals) / k)
        for i, g in enumerate(goals):
            sub, row = i % k, i // k
            # stagger sub-columns by half a row so that labels of neighbours do not share a line
            y = row - (rows - 1) / 2 + (0.5 * sub / k if k > 1 else 0.0)
            pos[g] = (x0 + sub * SUB_COLUMN, y)
        x0 += 1.0 + (k - 1) * SUB_COLUMN
    return pos, bands


def _node_table(graph: GoalGraph) -> list[dict[str, Any]]:
    """One dict of display facts per goal, in graph order (``GoalGraph.facts`` rows)."""
    return graph.facts().rows()


def important_goals(graph: GoalGraph, k: int | None = None) -> list[str]:
    """Goals by label priority: score = LP/max LP + 0.5·[frontier] + 0.25·degree/max degree (ties: times achieved)."""
    rows = _node_table(graph)
    lp_max = max((r["lp"] for r in rows), default=0.0) or 1.0
    deg_max = max((r["preds"] + r["succs"] for r in rows), default=0) or 1

    def score(r: dict[str, Any]) -> float:
        return r["lp"] / lp_max + 0.5 * r["frontier"] + 0.25 * (r["preds"] + r["succs"]) / deg_max

    rows.sort(key=lambda r: (-score(r), -r["times_achieved"], r["goal"]))
    return [r["goal"] for r in rows[: len(rows) if k is None else k]]


def pick_labels(graph: GoalGraph, pos: dict[str, tuple[float, float]], max_labels: int = 40) -> set[str]:
    """All goals when there are at most ``max_labels``; else up to ``max_labels`` important goals, greedily skipping
    any whose label box (layout units, ~0.04 per character wide, 1.5 rows tall) would overlap one already chosen."""
    goals = list(pos)
    if len(goals) <= max_labels:
        return set(goals)
    chosen: list[tuple[float, float, float, float]] = []
    out: set[str] = set()
    for g in important_goals(graph):
        x, y = pos[g]
        box = (x, x + 0.04 * len(g) + 0.05, y - 0.75, y + 0.75)
        if any(box[0] < b[1] and b[0] < box[1] and box[2] < b[3] and b[2] < box[3] for b in chosen):
            continue
        chosen.append(box)
        out.add(g)
        if len(out) >= max_labels:
            break
    return out


def _edges(graph: GoalGraph) -> list[tuple[str, str, float, bool]]:
    """(a, b, opacity, supported) per drawn prerequisite edge: opacity grows with the log of its evidence count."""
    edges = graph.edges()
    cmax = max((c for _, _, c in edges), default=1)
    return [(a, b, 0.15 + 0.55 * math.log1p(c) / math.log1p(cmax), True) for a, b, c in edges]


def _sizes(lps: Sequence[float], lo: float, hi: float) -> np.ndarray:
    lp = np.asarray(lps, dtype=np.float64)
    m = lp.max() if len(lp) else 0.0
    return lo + (hi - lo) * (lp / m if m > 0 else np.zeros_like(lp))


# ---------------------------------------------------------------------- PNG
def render_png(graph: GoalGraph, path: str | os.PathLike, max_labels: int = 40, dpi: int = 120,
               title: str | None = None) -> None:
    """Draw the goal graph to a PNG file (matplotlib Agg; no display needed)."""
    pos, bands = _layout(graph)
    rows = _node_table(graph)
    n = len(rows)
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    width = min(40.0, max(8.0, 1.9 * (max(xs) - min(xs) + 1) + 3))
    height = min(60.0, max(5.0, 0.3 * (max(ys) - min(ys) + 1) + 1.5))
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_axis_off()
    norm = Normalize(0.0, 1.0)
    cmap = colormaps[CMAP]
    if n == 0:
        ax.text(0.5, 0.5, "empty goal graph", ha="center", va="center", transform=ax.transAxes)
    else:
        # edges: direction reads left to right (depth increases along an edge, except inside a cycle)
        segs, colours = [], []
        for a, b, op, strong in _edges(graph):
            segs.append([pos[a], pos[b]])
            colours.append((0.25, 0.25, 0.25, op) if strong else (0.55, 0.55, 0.55, op))
        if segs:
            ax.add_collection(LineCollection(segs, colors=colours, linewidths=0.6, zorder=1))
        for label, bx in bands:
            ax.text(bx, min(ys) - 1.0, label, fontsize=8, color="dimgrey", ha="center", va="bottom")
        goals = [r["goal"] for r in rows]
        xy = np.array([pos[g] for g in goals])
        comp = np.array([r["competence"] for r in rows])
        size = _sizes([r["lp"] for r in rows], 25.0, 420.0)
        disc = np.array([r["discovered"] for r in rows])
        size = np.where(disc, size, np.maximum(size, 70.0))  # hollow nodes stay visible
        front = np.array([r["frontier"] for r in rows])
        sc = ax.scatter(xy[disc, 0], xy[disc, 1], c=comp[disc], s=size[disc], cmap=cmap, norm=norm,
                        edgecolors="black", linewidths=0.4, zorder=3)
        if (~disc).any():
            ax.scatter(xy[~disc, 0], xy[~disc, 1], s=size[~disc], facecolors="none", edgecolors="grey",
                       linewidths=0.9, linestyles="--", zorder=3)
        if front.any():
            ax.scatter(xy[front, 0], xy[front, 1], s=size[front] + 90, facecolors="none",
                       edgecolors=FRONTIER_COLOUR, linewidths=1.4, zorder=2)
        label_set = pick_labels(graph, pos, max_labels)
        for g in goals:
            if g in label_set:
                x, y = pos[g]
                ax.annotate(g, (x, y), xytext=(5, 2), textcoords="offset points", fontsize=7, zorder=4,
                            bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.6})
        cb = fig.colorbar(sc if disc.any() else _mappable(cmap, norm), ax=ax, fraction=0.025, pad=0.01)
        cb.set_label("competence")
        handles = [Line2D([], [], marker="o", ls="", mfc="none", mec=FRONTIER_COLOUR, mew=1.4, ms=10,
                          label="frontier"),
                   Line2D([], [], marker="o", ls="", mfc="none", mec="grey", ms=7, label="not yet achieved"),
                   Line2D([], [], marker="o", ls="", mfc="lightgrey", mec="black", ms=4, label="low LP"),
                   Line2D([], [], marker="o", ls="", mfc="lightgrey", mec="black", ms=12, label="high LP")]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.0, -0.01), ncol=4, fontsize=8,
                  frameon=False)
        pad_x = 0.4
        ax.set_xlim(min(xs) - pad_x, max(xs) + 1.2)
        ax.set_ylim(max(ys) + 1, min(ys) - 1.8)  # first row on top
    s = graph.summary()
    ax.set_title(title or (f"goal graph: {int(s['graph/goals'])} goals, {int(s['graph/discovered'])} discovered, "
                           f"{int(s['graph/mastered'])} mastered, {int(s['graph/frontier'])} frontier "
                           f"(prerequisites left → right by depth)"), fontsize=10)
    fig.savefig(os.fspath(path), format="png", bbox_inches="tight")


def _mappable(cmap: Any, norm: Normalize) -> Any:
    from matplotlib.cm import ScalarMappable
    m = ScalarMappable(norm=norm, cmap=cmap)
    m.set_array([])
    return m


# ---------------------------------------------------------------------- HTML
_CSS = """
html,body{margin:0;height:100%;overflow:hidden;font:13px system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;
  background:#fafafa;color:#222}
svg{width:100vw;height:100vh;display:block;cursor:grab;user-select:none}
svg.drag{cursor:grabbing}
.e{stroke:#555;fill:none}
.e.hl{stroke:#d62728;stroke-opacity:.95!important;stroke-width:2px}
.n{stroke:#222;stroke-width:.6px}
.n.und{fill:#fff!important;stroke:#888;stroke-dasharray:3 2}
.n.hit{stroke:#ff7f0e;stroke-width:3px}
.ring{fill:none;stroke:#d62728;stroke-width:1.6px}
.lab{font-size:10px;paint-order:stroke;stroke:#fafafa;stroke-width:3px;pointer-events:none}
.lab.minor{display:none}
.band{font-size:13px;fill:#777;text-anchor:middle}
.e.weak{stroke-dasharray:4 3}
svg.zoomed .lab.minor{display:inline}
#tip{position:fixed;display:none;pointer-events:none;background:#fff;border:1px solid #999;border-radius:4px;
  padding:6px 8px;box-shadow:0 2px 6px rgba(0,0,0,.2);max-width:360px;line-height:1.35}
#tip b{display:block;margin-bottom:3px}
#legend{position:fixed;top:8px;left:8px;background:rgba(255,255,255,.93);border:1px solid #ccc;border-radius:4px;
  padding:6px 10px;line-height:1.45;max-width:290px;font-size:12px}
#legend summary{font-weight:bold;cursor:pointer}
#legend .bar{height:10px;width:130px;border:1px solid #999;display:inline-block;vertical-align:middle}
#legend input{width:150px}
.dot{display:inline-block;border-radius:50%;background:#ccc;border:1px solid #222;vertical-align:middle}
"""

_JS = """
(function(){
const data=JSON.parse(document.getElementById('data').textContent);
const svg=document.getElementById('g-svg'), vp=document.getElementById('vp'), tip=document.getElementById('tip');
const legend=document.getElementById('legend');
let k=1, tx=0, ty=0;
const fs=document.getElementById('fs');
function apply(){vp.setAttribute('transform','translate('+tx+','+ty+') scale('+k+')');
  svg.classList.toggle('zoomed', k>=data.label_zoom);
  // labels keep >= 10px on screen when zoomed out
  fs.textContent='.lab{font-size:'+(k<1? 10/k: 10)+'px}.band{font-size:'+(k<1? 12/k: 12)+'px}';}
function fit(){const r=svg.getBoundingClientRect(), b=data.bounds, lr=legend.getBoundingClientRect();
  const bw=b[2]-b[0], bh=b[3]-b[1];
  // keep the legend clear: the region right of it or below it, whichever shows the graph larger,
  // unless both are much smaller than the whole window (then the legend overlaps; it folds away)
  const regions=[[lr.right+8,0],[0,lr.bottom+8]].map(function(o){const w=r.width-o[0], h=r.height-o[1];
    return [o[0],o[1],w,h,Math.min(w/bw,h/bh)];});
  regions.sort(function(a,c){return c[4]-a[4];});
  let g=regions[0]; const full=Math.min(r.width/bw, r.height/bh);
  if(g[4]<0.7*full) g=[0,0,r.width,r.height,full];
  k=g[4]*0.97; tx=g[0]+(g[2]-bw*k)/2-b[0]*k; ty=g[1]+(g[3]-bh*k)/2-b[1]*k; apply();}
svg.addEventListener('wheel',function(ev){ev.preventDefault();
  const r=svg.getBoundingClientRect(), mx=ev.clientX-r.left, my=ev.clientY-r.top;
  const f=Math.exp(-ev.deltaY*0.0015), k2=Math.max(0.05,Math.min(40,k*f));
  tx=mx-(mx-tx)*k2/k; ty=my-(my-ty)*k2/k; k=k2; apply();},{passive:false});
let drag=null;
svg.addEventListener('mousedown',function(ev){drag=[ev.clientX-tx, ev.clientY-ty]; svg.classList.add('drag');});
window.addEventListener('mousemove',function(ev){if(drag){tx=ev.clientX-drag[0]; ty=ev.clientY-drag[1]; apply();}});
window.addEventListener('mouseup',function(){drag=null; svg.classList.remove('drag');});
svg.addEventListener('dblclick',fit);
window.addEventListener('resize',fit);
const edges=Array.from(document.querySelectorAll('.e')), nodes=Array.from(document.querySelectorAll('.n'));
function fmt(x){return (typeof x==='number' && !Number.isInteger(x))? x.toFixed(3): (x===null?'\\u2014':String(x));}
const ESC={'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;'};
function esc(s){return String(s).replace(/[&<>"]/g,function(c){return ESC[c];});}
function place(x,y){const w=tip.offsetWidth, h=tip.offsetHeight;
  tip.style.left=Math.max(4,Math.min(x+14, window.innerWidth-w-4))+'px';
  tip.style.top=Math.max(4,Math.min(y+14, window.innerHeight-h-4))+'px';}
function show(i,x,y){const d=data.nodes[i];
  let h='<b>'+esc(d.goal)+'</b>';
  const keys=[['competence','competence'],['learning progress','lp'],['attempts','attempts'],
    ['successes','successes'],['times achieved','times_achieved'],['first seen (step)','first_seen'],
    ['found while','found_while'],['depth','depth'],['stepping stones in / out','io']];
  d.io=d.preds+' / '+d.succs;
  for(const [n,key] of keys){h+=esc(n)+': '+esc(fmt(d[key]))+'<br>';}
  const tags=[]; if(d.mastered) tags.push('mastered'); if(d.frontier) tags.push('frontier');
  if(d.seeded) tags.push('seeded'); if(!d.discovered) tags.push('not yet achieved');
  if(tags.length) h+='<i>'+tags.join(', ')+'</i>';
  tip.innerHTML=h; tip.style.display='block'; place(x,y);
  for(const e of edges){ if(+e.dataset.s===i || +e.dataset.t===i) e.classList.add('hl'); }}
function hide(){tip.style.display='none'; for(const e of edges) e.classList.remove('hl');}
svg.addEventListener('mouseover',function(ev){const t=ev.target;
  if(t.classList.contains('n')) show(+t.dataset.i, ev.clientX, ev.clientY);});
svg.addEventListener('mousemove',function(ev){ if(tip.style.display==='block') place(ev.clientX, ev.clientY);});
svg.addEventListener('mouseout',function(ev){ if(ev.target.classList.contains('n')) hide();});
function find(q){q=q.toLowerCase(); let hits=0;
  for(const c of nodes){const on=q.length>0 && data.nodes[+c.dataset.i].goal.toLowerCase().includes(q);
    c.classList.toggle('hit', on); hits+=on;}
  document.getElementById('hits').textContent=q.length? hits+' found': '';}
const q=document.getElementById('q');
q.addEventListener('input',function(ev){find(ev.target.value);});
fit();
// deep link: page.html#goal=<goal> highlights a goal and shows its stats
const m=/^#goal=(.*)$/.exec(location.hash);
if(m){const g=decodeURIComponent(m[1]); const i=data.nodes.findIndex(function(d){return d.goal===g;});
  if(i>=0){q.value=g; find(g); const r=nodes.find(function(c){return +c.dataset.i===i;}).getBoundingClientRect();
    show(i, r.left+r.width/2, r.top+r.height/2);}}
})();
"""


def render_html(graph: GoalGraph, path: str | os.PathLike, max_labels: int = 40,
                title: str = "autotelic goal graph") -> None:
    """Write one self-contained HTML page (inline SVG + vanilla JS, no external resource): pan (drag), zoom
    (wheel), hover tooltip with a goal's stats, search box, legend. Double-click refits the view; ``page.html#goal=<goal>``
    (URL-encoded) opens with that goal found and its stats shown."""
    pos, bands = _layout(graph)
    rows = _node_table(graph)
    sx, sy, margin = 170.0, 22.0, 40.0  # layout units -> SVG user units
    cmap = colormaps[CMAP]
    xy = {g: (margin + x * sx, margin + y * sy) for g, (x, y) in pos.items()}
    if xy:
        xs = [p[0] for p in xy.values()]
        ys = [p[1] for p in xy.values()]
        bounds = [min(xs) - margin, min(ys) - 2 * margin, max(xs) + 160.0, max(ys) + margin]
    else:
        bounds = [0.0, 0.0, 400.0, 200.0]
    index = {r["goal"]: i for i, r in enumerate(rows)}
    radius = _sizes([r["lp"] for r in rows], 4.0, 14.0)
    radius = np.where([r["discovered"] for r in rows], radius, np.maximum(radius, 6.0))  # hollow: keep visible
    label_set = pick_labels(graph, pos, max_labels)

    parts: list[str] = []
    top = min((p[1] for p in xy.values()), default=margin)
    for label, bx in bands:
        parts.append(f'<text class="band" x="{margin + bx * sx:.1f}" y="{top - 30:.1f}">{html.escape(label)}</text>')
    for a, b, op, strong in _edges(graph):
        (x1, y1), (x2, y2) = xy[a], xy[b]
        # a slight curve keeps edges inside one column (cycles) visible
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 - (30.0 if abs(x2 - x1) < 1 else 0.0)
        cls = "e" if strong else "e weak"
        parts.append(f'<path class="{cls}" data-s="{index[a]}" data-t="{index[b]}" stroke-opacity="{op:.2f}" '
                     f'marker-end="url(#arr)" d="M{x1:.1f},{y1:.1f} Q{cx:.1f},{cy:.1f} {x2:.1f},{y2:.1f}"/>')
    for i, r in enumerate(rows):
        x, y = xy[r["goal"]]
        fill = to_hex(cmap(float(r["competence"])))
        if r["frontier"]:
            parts.append(f'<circle class="ring" cx="{x:.1f}" cy="{y:.1f}" r="{radius[i] + 3.5:.1f}"/>')
        cls = "n" if r["discovered"] else "n und"
        parts.append(f'<circle class="{cls}" data-i="{i}" cx="{x:.1f}" cy="{y:.1f}" r="{radius[i]:.1f}" '
                     f'fill="{fill}"/>')
    for i, r in enumerate(rows):
        x, y = xy[r["goal"]]
        cls = "lab major" if r["goal"] in label_set else "lab minor"
        parts.append(f'<text class="{cls}" x="{x + radius[i] + 3:.1f}" y="{y + 4:.1f}">'
                     f'{html.escape(r["goal"])}</text>')

    s = graph.summary()
    stops = ", ".join(to_hex(cmap(v)) for v in np.linspace(0, 1, 9))
    data = {"nodes": rows, "bounds": bounds, "label_zoom": 2.2}
    data_json = json.dumps(data).replace("</", "<\\/")
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>{_CSS}</style><style id="fs"></style></head>
<body>
<svg id="g-svg" role="img" aria-label="goal graph">
<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="5" markerHeight="5" orient="auto">
<path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>
<g id="vp">
{chr(10).join(parts)}
</g></svg>
<details id="legend" open><summary>{html.escape(title)}</summary>
{int(s['graph/goals'])} goals &middot; {int(s['graph/discovered'])} discovered &middot;
{int(s['graph/mastered'])} mastered &middot; {int(s['graph/frontier'])} frontier &middot;
{int(s['graph/edges'])} stepping stones<br>
colour = competence:<br>0 <span class="bar" style="background:linear-gradient(to right, {stops})"></span> 1<br>
size = learning progress: <span class="dot" style="width:8px;height:8px"></span> low
<span class="dot" style="width:22px;height:22px"></span> high<br>
<svg width="18" height="18" style="width:18px;height:18px;display:inline;vertical-align:middle">
<circle cx="9" cy="9" r="7" fill="none" stroke="{FRONTIER_COLOUR}" stroke-width="1.6"/></svg> frontier &nbsp;
<svg width="18" height="18" style="width:18px;height:18px;display:inline;vertical-align:middle">
<circle cx="9" cy="9" r="6" fill="#fff" stroke="#888" stroke-dasharray="3 2"/></svg> not yet achieved<br>
prerequisites run left &rarr; right by depth (an edge: needed before, in nearly every episode)<br>
<input id="q" type="search" placeholder="find a goal&hellip;"> <span id="hits"></span><br>
<small>drag: pan &middot; wheel: zoom (all labels from {data['label_zoom']}&times;) &middot; hover: stats &middot;
double-click: fit</small></details>
<div id="tip"></div>
<script type="application/json" id="data">{data_json}</script>
<script>{_JS}</script>
</body></html>
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(doc)


# ---------------------------------------------------------------------- timeline
def history_from_graph(graph: GoalGraph) -> list[dict[str, int]]:
    """Discovered-goal counts vs env step, rebuilt from each goal's first_seen (mastery is not recoverable)."""
    fs = graph.array("first_seen")
    steps = sorted(int(x) for x in fs[fs >= 0])
    out: list[dict[str, int]] = []
    for i, st in enumerate(steps):
        if out and out[-1]["step"] == st:
            out[-1]["discovered"] = i + 1
        else:
            out.append({"step": int(st), "discovered": i + 1})
    return out


def render_timeline(history: Iterable[dict[str, Any]] | GoalGraph, path: str | os.PathLike, dpi: int = 120) -> None:
    """Plot goal counts vs env steps to a PNG.

    ``history``: dicts with ``step`` and any of ``discovered``/``mastered``/``frontier`` (the loop logs them), or a
    GoalGraph, from which only the discovered curve is rebuilt (:func:`history_from_graph`).
    """
    hist = history_from_graph(history) if isinstance(history, GoalGraph) else list(history)
    for i, h in enumerate(hist):
        if "step" not in h:
            raise ValueError(f"history entry {i} has no 'step': {h!r}")
    hist = sorted(hist, key=lambda h: h["step"])
    fig = Figure(figsize=(7, 4), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    steps = [h["step"] for h in hist]
    drawn = False
    for key, colour in (("discovered", "tab:blue"), ("mastered", "tab:green"), ("frontier", "tab:red")):
        pts = [(h["step"], h[key]) for h in hist if h.get(key) is not None]
        if pts:
            ax.step([p[0] for p in pts], [p[1] for p in pts], where="post", label=key, color=colour)
            drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "no history yet", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(loc="upper left")
    ax.set_xlabel("env steps")
    ax.set_ylabel("goals")
    ax.grid(alpha=0.3)
    if steps:
        ax.set_xlim(min(steps), max(steps) if max(steps) > min(steps) else min(steps) + 1)
    ax.set_title("goal discovery and mastery")
    fig.savefig(os.fspath(path), format="png", bbox_inches="tight")


# ---------------------------------------------------------------------- families (large graphs)
def default_family(goal: str) -> str:
    """A goal's first word (e.g. "Grasp", "Grow"): the grouping used when no ``family`` function is given."""
    return goal.split(" ", 1)[0] if goal.strip() else "?"


@dataclass
class FamilyRow:
    """Aggregated facts of one family of goals (see :func:`family_table`)."""

    family: str
    goals: int
    attempted: int
    discovered: int
    mastered: int
    frontier: int
    competence: float  # mean windowed competence over attempted goals (0 when none)
    lp: float          # mean learning progress over attempted goals
    max_depth: int


def family_table(graph: GoalGraph, family: Callable[[str], str] | None = None
                 ) -> tuple[list[FamilyRow], dict[tuple[str, str], int]]:
    """(one row per family, sorted by name; prerequisite edges counted between families {(fa, fb): n})."""
    fam_of = family or default_family
    f = graph.facts()
    names = [fam_of(g) for g in f.goals]
    groups: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        groups.setdefault(n, []).append(i)
    rows = []
    for name in sorted(groups):
        idx = np.asarray(groups[name])
        att = idx[f.attempts[idx] > 0]
        rows.append(FamilyRow(family=name, goals=len(idx), attempted=len(att),
                              discovered=int(f.discovered[idx].sum()), mastered=int(f.mastered[idx].sum()),
                              frontier=int(f.frontier[idx].sum()),
                              competence=float(f.competence[att].mean()) if len(att) else 0.0,
                              lp=float(f.learning_progress[att].mean()) if len(att) else 0.0,
                              max_depth=int(f.depth[idx].max())))
    at = {g: n for g, n in zip(f.goals, names)}
    links: dict[tuple[str, str], int] = {}
    for a, b, _ in graph.edges():
        key = (at[a], at[b])
        links[key] = links.get(key, 0) + 1
    return rows, links


def render_family_png(graph: GoalGraph, path: str | os.PathLike, family: Callable[[str], str] | None = None,
                      dpi: int = 120, title: str | None = None) -> None:
    """A picture of the goal graph aggregated by family: one node per family (x = its deepest goal, area ~ goal
    count, colour = mean competence of its attempted goals, label = counts), edges = prerequisite edges between
    families (width ~ count); beside it, discovered and mastered goals per family."""
    rows, links = family_table(graph, family)
    fig = Figure(figsize=(max(9.0, 2.2 * len(rows) + 6), max(4.5, 0.5 * len(rows) + 2.5)), dpi=dpi)
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(1, 2, width_ratios=[max(2, len(rows)), 2.5], wspace=0.35)
    ax, bx = fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1])
    ax.set_axis_off()
    norm, cmap = Normalize(0.0, 1.0), colormaps[CMAP]
    # one row, families ordered by the depth of their deepest goal, then by name: prerequisites read left to right
    pos = {r.family: (float(k), 0.0) for k, r in enumerate(sorted(rows, key=lambda r: (r.max_depth, r.family)))}
    if rows:
        lmax = max(links.values(), default=1)
        for (fa, fb), n in links.items():
            (x1, y1), (x2, y2) = pos[fa], pos[fb]
            ax.annotate("", (x2, y2), (x1, y1), arrowprops={"arrowstyle": "->", "color": "0.35",
                                                            "lw": 0.5 + 3.0 * n / lmax,
                                                            "connectionstyle": "arc3,rad=-0.4"}, zorder=1)
        gmax = max(r.goals for r in rows)
        xy = np.array([pos[r.family] for r in rows])
        sc = ax.scatter(xy[:, 0], xy[:, 1], s=[120 + 1800 * math.sqrt(r.goals / gmax) for r in rows],
                        c=[r.competence for r in rows], cmap=cmap, norm=norm, edgecolors="black", zorder=2)
        for r in rows:
            x, y = pos[r.family]
            ax.annotate(f"{r.family}\n{r.goals} goals\n{r.attempted} tried\n{r.discovered} discovered\n"
                        f"{r.mastered} mastered\ndepth ≤ {r.max_depth}", (x, y), xytext=(0, -30),
                        textcoords="offset points", ha="center", va="top", fontsize=8, zorder=3)
        fig.colorbar(sc, ax=ax, orientation="horizontal", fraction=0.05, pad=0.02
                     ).set_label("mean competence (attempted goals)")
        xs = xy[:, 0]
        ax.set_xlim(xs.min() - 0.6, xs.max() + 0.6)
        ax.set_ylim(-1.6, 1.0)
        ys_ = np.arange(len(rows))
        bx.barh(ys_ + 0.2, [r.discovered for r in rows], height=0.4, label="discovered", color="tab:blue")
        bx.barh(ys_ - 0.2, [r.mastered for r in rows], height=0.4, label="mastered", color="tab:green")
        bx.set_yticks(ys_, [f"{r.family} ({r.goals})" for r in rows])
        bx.set_xscale("symlog")
        bx.set_xlabel("goals")
        bx.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "empty goal graph", ha="center", va="center", transform=ax.transAxes)
    s = graph.summary()
    fig.suptitle(title or (f"goal graph by family: {int(s['graph/goals'])} goals, {int(s['graph/discovered'])} "
                           f"discovered, {int(s['graph/mastered'])} mastered, {int(s['graph/edges'])} "
                           f"prerequisite edges"), fontsize=10)
    fig.savefig(os.fspath(path), format="png", bbox_inches="tight")


def render_family_html(graph: GoalGraph, path: str | os.PathLike, family: Callable[[str], str] | None = None,
                       title: str = "autotelic goal graph by family") -> None:
    """A self-contained HTML page: the per-family table of :func:`family_table` and the between-family edges."""
    rows, links = family_table(graph, family)
    head = ("family", "goals", "attempted", "discovered", "mastered", "frontier", "mean competence", "mean LP",
            "max depth")
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in
                                    (r.family, r.goals, r.attempted, r.discovered, r.mastered, r.frontier,
                                     f"{r.competence:.3f}", f"{r.lp:.3f}", r.max_depth)) + "</tr>" for r in rows)
    edges = "".join(f"<li>{html.escape(a)} &rarr; {html.escape(b)}: {n}</li>" for (a, b), n in sorted(links.items()))
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font:13px system-ui,sans-serif;margin:20px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}</style></head>
<body><h3>{html.escape(title)}</h3><p>{len(graph)} goals: too many to draw one by one; aggregated by family.</p>
<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{body}</table>
<h4>prerequisite edges between families</h4><ul>{edges or '<li>none yet</li>'}</ul></body></html>
"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(doc)


def render_all(graph: GoalGraph, out: str | os.PathLike, history: Iterable[dict[str, Any]] | None = None,
               family: Callable[[str], str] | None = None, max_nodes: int = 1500) -> list[str]:
    """Write graph.png, graph.html, graph.graphml, graph.json and timeline.png into ``out``; return the names.

    Beyond ``max_nodes`` goals the PNG and HTML aggregate by ``family`` (a goal -> name function, e.g. the env's
    ``goal_family``; default: the goal's first word) instead of drawing every goal. The timeline uses ``history``
    (the loop's logged counts) when given, else what the graph itself can rebuild.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    if len(graph) > max_nodes:
        render_family_png(graph, folder / "graph.png", family)
        render_family_html(graph, folder / "graph.html", family)
    else:
        render_png(graph, folder / "graph.png")
        render_html(graph, folder / "graph.html")
    graph.to_graphml(folder / "graph.graphml")
    graph.to_json(folder / "graph.json")
    render_timeline(list(history) if history else graph, folder / "timeline.png")
    return ["graph.png", "graph.html", "graph.graphml", "graph.json", "timeline.png"]
