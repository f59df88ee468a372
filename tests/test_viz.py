"""Goal-graph pictures: layered layout, PNG, self-contained HTML (checked in headless Chromium), timeline."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import numpy as np
import pytest
from matplotlib import image as mpimg

from autotelic import viz
from autotelic.graph import GoalGraph
from episodes import make_episode

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def big_graph(n_objects: int = 18, episodes: int = 1500, seed: int = 0) -> GoalGraph:
    """~12 goals per object in 4-step chains (go to -> grasp -> grow -> feed), with some cross-object orderings."""
    rng = np.random.default_rng(seed)
    colours = ["red", "blue", "green"]
    g = GoalGraph()
    step = 0
    for _ in range(episodes):
        chains = []
        for _ in range(1 + int(rng.random() < 0.15)):
            o, c = int(rng.integers(n_objects)), colours[int(rng.integers(3))]
            chain = [f"go to {c} obj{o}", f"grasp {c} obj{o}", f"grow {c} obj{o}", f"feed {c} obj{o}"]
            chains.append(chain[:1 + min(3, int(rng.geometric(0.45)) - 1 + int(o % 3 == 0))])
        seq = [x for ch in chains for x in ch]
        goal = chains[0][min(len(chains[0]) - 1, int(rng.integers(0, 4)))]
        success = rng.random() < 0.9
        seq = seq[:seq.index(goal) + 1] if success else [x for x in seq if x != goal] or ["go to red obj0"]
        step += len(seq)
        g.observe(make_episode(goal, [[x] for x in seq], success), step)
    g.seed(["grow purple unicorn", "grasp the moon"])
    return g


@pytest.fixture(scope="module")
def graph200() -> GoalGraph:
    g = big_graph()
    assert len(g) >= 200
    return g


def small_graph() -> GoalGraph:
    g = GoalGraph()
    g.observe(make_episode("grasp red carrot", [["go to red carrot"], ["grasp red carrot"]], True), step=2)
    g.observe(make_episode("grow carrot", [["go to water"], ["go to red carrot"], ["grow carrot"]], True), step=5)
    g.seed(["grow lion"])
    return g


def test_layout_is_layered_by_depth(graph200):
    pos = viz.layout(graph200)
    assert set(pos) == set(graph200.goals())
    depths = graph200.depths()
    for a, b in graph200.stepping_stones().edges():
        if depths[b] > depths[a]:
            assert pos[b][0] > pos[a][0]
    # a deeper band never starts left of a shallower one
    by_depth = {}
    for goal, (x, _) in pos.items():
        if graph200.is_discovered(goal):
            by_depth.setdefault(depths[goal], []).append(x)
    ds = sorted(by_depth)
    for d0, d1 in zip(ds, ds[1:]):
        assert max(by_depth[d0]) < min(by_depth[d1])
    # undiscovered goals sit in a band of their own, right of everything else
    assert pos["grasp the moon"][0] > max(by_depth[ds[-1]])
    assert len(set(pos.values())) == len(pos)  # no two goals on one spot


def test_labels_are_limited_and_spread(graph200):
    pos = viz.layout(graph200)
    labels = viz.pick_labels(graph200, pos, max_labels=40)
    assert 10 <= len(labels) <= 40
    top = viz.important_goals(graph200, 1)[0]
    assert top in labels
    small = small_graph()
    assert viz.pick_labels(small, viz.layout(small)) == set(small.goals())


def _assert_png(path, min_bytes=10_000):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > min_bytes
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
    assert float(img[..., :3].std()) > 0.02  # not blank
    return img


def test_png(graph200, tmp_path):
    viz.render_png(graph200, tmp_path / "g.png")
    _assert_png(tmp_path / "g.png", 50_000)
    viz.render_png(small_graph(), tmp_path / "s.png")
    _assert_png(tmp_path / "s.png")
    viz.render_png(GoalGraph(), tmp_path / "e.png")  # empty graph: a picture that says so
    assert (tmp_path / "e.png").read_bytes()[:8] == PNG_MAGIC


def _html_data(text: str) -> dict:
    m = re.search(r'<script type="application/json" id="data">(.*?)</script>', text, re.S)
    assert m
    return json.loads(m.group(1).replace("<\\/", "</"))


def test_html_is_self_contained(graph200, tmp_path):
    viz.render_html(graph200, tmp_path / "g.html")
    text = (tmp_path / "g.html").read_text(encoding="utf-8")
    assert not re.search(r"https?://", text)
    assert not re.search(r"<(link|img|iframe)\b|\bsrc\s*=|@import|url\((?!#)", text)
    assert "<svg" in text and "addEventListener('wheel'" in text and 'id="tip"' in text and 'id="legend"' in text
    data = _html_data(text)
    assert [n["goal"] for n in data["nodes"]] == graph200.goals()
    assert text.count('class="n') == len(graph200)
    assert text.count('class="lab major"') <= 40 and text.count('class="lab minor"') >= len(graph200) - 40
    first = data["nodes"][0]
    assert {"competence", "lp", "attempts", "times_achieved", "first_seen", "found_while", "depth"} <= set(first)


def test_html_escapes_goal_text(tmp_path):
    g = GoalGraph()
    nasty = 'grasp "</script><b>x</b>" & go'
    g.observe(make_episode(nasty, [["go to <lamp>"], [nasty]], True), step=2)
    viz.render_html(g, tmp_path / "n.html")
    text = (tmp_path / "n.html").read_text(encoding="utf-8")
    assert "<b>x</b>" not in text and "</script><b>" not in text
    assert [n["goal"] for n in _html_data(text)["nodes"]] == ["go to <lamp>", nasty]
    viz.render_html(GoalGraph(), tmp_path / "e.html")
    assert "<svg" in (tmp_path / "e.html").read_text()


def test_timeline(graph200, tmp_path):
    hist = [{"step": s, "discovered": min(s // 10, 200), "mastered": s // 40} for s in range(0, 3000, 100)]
    viz.render_timeline(hist, tmp_path / "t.png")
    _assert_png(tmp_path / "t.png")
    rebuilt = viz.history_from_graph(graph200)
    assert rebuilt[-1]["discovered"] == len(graph200.discovered())
    assert all(a["step"] < b["step"] and a["discovered"] < b["discovered"] for a, b in zip(rebuilt, rebuilt[1:]))
    viz.render_timeline(graph200, tmp_path / "t2.png")
    _assert_png(tmp_path / "t2.png")
    with pytest.raises(ValueError, match="step"):
        viz.render_timeline([{"discovered": 3}], tmp_path / "t3.png")


CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_html_renders_in_headless_chromium(graph200, tmp_path):
    page = tmp_path / "g.html"
    viz.render_html(graph200, page)
    shot = tmp_path / "shot.png"
    url = page.resolve().as_uri()
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
           "--window-size=1200,800", url]
    subprocess.run(cmd, capture_output=True, timeout=90)
    assert shot.exists(), "chromium wrote no screenshot"
    img = _assert_png(shot)
    assert img.shape[:2] == (800, 1200)
    # the graph, not just the legend: some pixels right of the legend differ from the background
    right = img[:, 400:, :3]
    assert float(right.std()) > 0.02
    # the script ran: fit() set the viewport transform
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile2'}", "--dump-dom", url],
                         capture_output=True, timeout=90, text=True).stdout
    assert re.search(r'<g id="vp" transform="translate\([-\d.e]+,[-\d.e]+\) scale\([\d.e-]+\)"', dom)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed")
def test_html_interactions_in_headless_chromium(tmp_path):
    """Wheel zooms, drag pans, hovering a goal shows its stats: events dispatched by a probe script appended to a
    copy of the page, which writes what it saw into the DOM that ``--dump-dom`` prints."""
    page = tmp_path / "g.html"
    viz.render_html(small_graph(), page)
    probe = """<script>(function(){
      const svg=document.getElementById('g-svg'), vp=document.getElementById('vp'), out={};
      const scale=function(){return parseFloat(/scale\\(([^)]+)\\)/.exec(vp.getAttribute('transform'))[1]);};
      const tr=function(){return vp.getAttribute('transform');};
      out.k0=scale();
      svg.dispatchEvent(new WheelEvent('wheel',{deltaY:-400,clientX:600,clientY:400,bubbles:true,cancelable:true}));
      out.k1=scale();
      const t0=tr();
      svg.dispatchEvent(new MouseEvent('mousedown',{clientX:500,clientY:300,bubbles:true}));
      window.dispatchEvent(new MouseEvent('mousemove',{clientX:560,clientY:330,bubbles:true}));
      window.dispatchEvent(new MouseEvent('mouseup',{bubbles:true}));
      out.panned=tr()!==t0;
      const n=document.querySelector('.n[data-i="1"]');
      n.dispatchEvent(new MouseEvent('mouseover',{clientX:100,clientY:100,bubbles:true}));
      const tip=document.getElementById('tip');
      out.tipShown=tip.style.display==='block'; out.tip=tip.textContent;
      out.highlighted=document.querySelectorAll('.e.hl').length;
      const pre=document.createElement('pre'); pre.id='probe'; pre.textContent=JSON.stringify(out);
      document.body.appendChild(pre);})();</script>"""
    page.write_text(page.read_text(encoding="utf-8").replace("</body>", probe + "</body>"), encoding="utf-8")
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,800",
                          "--dump-dom", page.resolve().as_uri()], capture_output=True, timeout=90, text=True).stdout
    m = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert m, "the probe script did not run"
    out = json.loads(m.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    assert out["k1"] > out["k0"] * 1.5  # zoomed in
    assert out["panned"]
    assert out["tipShown"] and "grasp red carrot" in out["tip"] and "competence" in out["tip"]
    assert out["highlighted"] >= 1  # go to red carrot -> grasp red carrot


def test_thousands_of_goals_are_drawn_by_family(tmp_path):
    g = GoalGraph()
    g.seed([f"Grasp thing{i}" for i in range(5000)] + [f"Grow thing{i}" for i in range(600)])
    for t in range(5):
        g.observe(make_episode("Grow thing1", [["Grasp thing1"], ["Grow thing1"]], True), step=t)
    g.record_outcome("Grasp thing7", False)
    rows, links = viz.family_table(g)
    by = {r.family: r for r in rows}
    assert (by["Grasp"].goals, by["Grasp"].discovered, by["Grasp"].attempted) == (5000, 1, 1)
    assert (by["Grow"].goals, by["Grow"].mastered, by["Grow"].max_depth) == (600, 1, 1)
    assert links == {("Grasp", "Grow"): 1}
    names = viz.render_all(g, tmp_path, family=lambda s: "even" if int(s.split("thing")[1]) % 2 == 0 else "odd")
    assert (tmp_path / "graph.png").read_bytes()[:8] == PNG_MAGIC
    page = (tmp_path / "graph.html").read_text()
    assert "aggregated by family" in page and ">odd<" in page and ">even<" in page
    data = json.loads((tmp_path / "graph.json").read_text())
    assert data["graph"]["omitted_goals"] == 5600 - 3  # only goals attempted, achieved or on an edge are written
    assert len(data["nodes"]) == 3 and "graph.json" in names
