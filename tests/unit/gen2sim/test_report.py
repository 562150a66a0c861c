"""Gen2Sim run report: rollout GIFs rendered from a real scene, plots, HTML/Markdown, and a headless
browser that loads the page, counts its images and reads its text."""

from __future__ import annotations

import base64
import html.parser
import json
import math

import numpy as np
import pytest
from PIL import Image

from rlscope.report.browser import check_page, dump_dom, find_browser

NAMES = ("open_drawer", "push_cube")


def _scene():
    from rlscope.gen2sim.sim.scene import AssetSpec, ObjectSpec, SceneSpec, build_scene

    return build_scene(SceneSpec(
        assets=(AssetSpec("cabinet", procedural="cabinet", params={"width": 0.5, "depth": 0.4, "height": 0.4, "n_drawers": 1, "doors": "none"}),),
        objects=(ObjectSpec("cube"),),
    ))


def _rollout(scene, frames: int = 10, substeps: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """The gripper sweeps sideways. Returns states (T, nstate), eq_active (T, neq)."""
    import mujoco

    m = scene.model
    d = mujoco.MjData(m)
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    states = np.zeros((frames, mujoco.mj_stateSize(m, spec)))
    eq = np.zeros((frames, m.neq), dtype=np.uint8)
    for t in range(frames):
        d.ctrl[scene.gripper_ctrl[0]] = 0.04 * t
        for _ in range(substeps):
            mujoco.mj_step(m, d)
        mujoco.mj_getState(m, d, states[t], spec)
        eq[t] = d.eq_active
    return states, eq


def _metrics(n_updates: int, seed: int) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_updates):
        p = u / (n_updates - 1)
        rows.append({
            "update": u + 1, "steps": (u + 1) * 2048,
            "charts/success_rate": math.nan if u % 4 == 1 else float(np.clip(p + rng.normal(0, 0.05), 0, 1)),
            "charts/episodic_return": 20 * p + rng.normal(), "charts/max_penetration": 0.004 + 0.002 * rng.random(),
            "charts/steps_per_s": 2500.0, "losses/policy": -0.01, "losses/value": 0.5, "losses/approx_kl": 0.01,
            "reward/reach": -0.5 + 0.4 * p, "reward/progress": 0.8 * p, "reward/success": p,
        })
    return rows


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory as the pipeline writes it: two sub-tasks (one with a video), a chain without one."""
    from rlscope.gen2sim.render import render_gif

    run = tmp_path_factory.mktemp("run")
    scene = _scene()
    states, eq = _rollout(scene)
    render_gif(scene.model, states, eq, run / "videos" / f"{NAMES[0]}.gif", fps=25)
    subs = []
    for k, name in enumerate(NAMES):
        (run / "subtasks" / name).mkdir(parents=True)
        (run / "subtasks" / name / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _metrics(40, k)))
        subs.append({
            "name": name, "description": f"{name.replace('_', ' ')} with the gripper",
            "train": {"steps": 81920, "seconds": 40.5 + k, "steps_per_s": 2022.7, "best_success": 0.95 if k == 0 else 0.5},
            "eval": {"episodes": 64, "success_rate": 0.90625 if k == 0 else 0.5, "honest_success_rate": 0.875 if k == 0 else 0.25,
                     "penetration_max_m": 0.0062 if k == 0 else 0.031, "penetration_p95_m": 0.0041 if k == 0 else 0.012,
                     "plausible_below_m": 0.01},
            "video": f"videos/{name}.gif" if k == 0 else None,
            "validation": {"ok": True, "seconds": 1.23, "warnings": ["the reward is never positive"]} if k == 0 else None,
            "code": f"def success_{name}(state):\n    return state['done'] < 1" if k == 0 else None,
        })
    summary = {"task_id": "drawer_and_cube", "description": "Open the drawer, then push the cube.", "subtasks": subs,
               "chain": {"episodes": 64, "success_rate": 0.4, "honest_success_rate": 0.2, "per_stage_success": [0.9, 0.45],
                         "video": None},
               "seconds_total": 123.4}
    (run / "summary.json").write_text(json.dumps(summary, indent=2))
    return run


@pytest.fixture(scope="module")
def report(run_dir):
    from rlscope.gen2sim.report import write_report

    return write_report(run_dir)


def test_gif_has_moving_frames(run_dir):
    gif = run_dir / "videos" / f"{NAMES[0]}.gif"
    with Image.open(gif) as im:
        assert im.size == (320, 240)
        assert im.n_frames == 10
        assert im.info["duration"] == 40
        frames = []
        for i in range(im.n_frames):
            im.seek(i)
            frames.append(np.asarray(im.convert("RGB"), dtype=np.int16))
    assert frames[0].std() > 10  # a scene, not a blank image
    diff = np.abs(frames[-1] - frames[0]).max(axis=2)  # (H, W)
    assert (diff > 30).sum() > 100  # the gripper moved


def test_render_frame_matches_state():
    from rlscope.gen2sim.render import render_frame

    scene = _scene()
    states, eq = _rollout(scene, frames=3)
    a = render_frame(scene.model, states[0], eq[0], width=160, height=120)
    assert a.shape == (120, 160, 3) and a.dtype == np.uint8
    with pytest.raises(Exception, match="no camera"):
        render_frame(scene.model, states[0], camera="nope")


def test_report_contents(run_dir, report):
    assert report == run_dir / "report.html"
    page = report.read_text()
    assert "drawer_and_cube" in page and "Open the drawer, then push the cube." in page
    for name in NAMES:
        assert f"<td>{name}</td>" in page
    assert "<td>81,920</td>" in page and "<td>2,023</td>" in page  # train steps, steps/s
    assert "<td>90.6%</td>" in page and "<td>87.5%</td>" in page  # success, honest success
    assert "<td>6.20</td>" in page and "<td>31.00</td>" in page  # max penetration (mm)
    assert "chain (all in sequence)" in page and "<td>40.0%</td>" in page
    assert "1 of 2 sub-tasks reach at least 80% honest success (success with plausible physics): open_drawer (87.5%)" in page
    assert "Penetration exceeded the plausibility threshold (10.00 mm) in: push_cube" in page
    assert "The weakest stage is push_cube (45.0%)" in page
    assert "src='videos/open_drawer.gif'" in page
    assert "dataset.ready" in page and "naturalWidth" in page
    assert "<tr class='highlight'><td>chain (all in sequence)</td>" in page and page.count("class='highlight'") == 1
    assert "A hand-written task (not proposed)." in page
    assert "<b>open_drawer</b>: open drawer with the gripper <span class='muted'>(validated in 1.2 s, 1 warning(s))</span>" in page
    assert "<li class='warn'>warning: the reward is never positive</li>" in page
    assert "<details><summary>code of open_drawer</summary><pre>def success_open_drawer(state):" in page
    assert "&#x27;done&#x27;] &lt; 1" in page  # the code is escaped
    assert "<b>push_cube</b>: push cube with the gripper <span class='muted'>(not validated)</span>" in page
    assert "code of push_cube" not in page
    assert "<style>" in page and page.count("<style>") == 1  # the shared page style, no second one
    md = (run_dir / "report.md").read_text()
    assert "| open_drawer | 81,920 |" in md and "![open_drawer: evaluation rollout](videos/open_drawer.gif)" in md
    assert "No video." in md
    assert "1. **open_drawer**: open drawer with the gripper (validated in 1.2 s, 1 warning(s))" in md
    assert "   - warning: the reward is never positive" in md and "2. **push_cube**: push cube with the gripper (not validated)" in md
    assert "```python\ndef success_open_drawer(state):" in md
    assert "![open_drawer: learning curves](plots/open_drawer_learning.png)" in md


def test_plots_are_real_images(run_dir, report):
    pngs = sorted((run_dir / "plots").glob("*.png"))
    assert {p.name for p in pngs} == {f"{n}_{k}.png" for n in NAMES for k in ("learning", "rewards")}
    page = report.read_text()
    for p in pngs:
        assert p.stat().st_size > 10_000
        assert f"src='data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}'" in page  # embedded
        with Image.open(p) as im:
            px = np.asarray(im.convert("L"), dtype=float)
        assert px.shape[0] > 200 and px.shape[1] > 400
        assert (px < 128).mean() > 0.005  # lines and text drawn, not a blank canvas


def test_report_without_metrics_chain_or_videos(tmp_path):
    from rlscope.gen2sim.report import write_report

    summary = {"task_id": "t", "description": "", "chain": None, "seconds_total": float("nan"), "subtasks": [
        {"name": "a", "description": "", "train": {"steps": 10, "seconds": 1.0, "steps_per_s": 10.0, "best_success": float("nan")},
         "eval": {"episodes": 4, "success_rate": 0.0, "honest_success_rate": 0.0, "penetration_max_m": 0.001,
                  "penetration_p95_m": 0.001, "plausible_below_m": 0.01}, "video": "videos/a.gif"}]}
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    (tmp_path / "subtasks" / "a").mkdir(parents=True)
    (tmp_path / "subtasks" / "a" / "metrics.jsonl").write_text('{"update": 1, "steps": 8, "charts/success_rate": NaN}\n')
    page = write_report(tmp_path).read_text()
    assert page.count("<img ") == 1  # the learning curves; the listed video file does not exist
    assert "No chained evaluation" in page and "No video." in page and "No reward terms" in page
    assert "undefined throughout" in page
    assert "Penetration stayed below the plausibility threshold (10.00 mm) in every sub-task" in page


needs_browser = pytest.mark.skipif(find_browser() is None, reason="no Chromium on PATH (Debian package: chromium)")


class _Text(html.parser.HTMLParser):
    """The text of a page's body (scripts and styles left out), and its table rows as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.text, self.rows, self._skip, self._cell = [], [], 0, None

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "title"):
            self._skip += 1
        elif tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("script", "style", "title"):
            self._skip -= 1
        elif tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if not self._skip:
            self.text.append(data)
            if self._cell is not None:
                self._cell.append(data)


@needs_browser
def test_browser_loads_every_image(report):
    result = check_page(report)
    n_img = report.read_text().count("<img ")
    assert n_img == 5  # two learning plots, two reward plots, one video
    assert result == {"images_loaded": n_img, "images_broken": 0, "images_total": n_img,
                      "title": "Gen2Sim run: drawer_and_cube", "script_errors": 0}


@needs_browser
def test_browser_shows_the_findings_and_the_table(report):
    parsed = _Text()
    parsed.feed(dump_dom(report))
    text = " ".join("".join(parsed.text).split())
    assert "1 of 2 sub-tasks reach at least 80% honest success (success with plausible physics): open_drawer (87.5%)" in text
    assert "The weakest stage is push_cube (45.0%)" in text
    assert "warning: the reward is never positive" in text
    table = [r for r in parsed.rows if r and r[0] in (*NAMES, "chain (all in sequence)", "sub-task")]
    assert table == [
        ["sub-task", "train steps", "train time", "steps/s", "best train success", "eval episodes", "success",
         "honest success", "max penetration (mm)", "p95 penetration (mm)"],
        ["open_drawer", "81,920", "40 s", "2,023", "95.0%", "64", "90.6%", "87.5%", "6.20", "4.10"],
        ["push_cube", "81,920", "42 s", "2,023", "50.0%", "64", "50.0%", "25.0%", "31.00", "12.00"],
        ["chain (all in sequence)", "", "", "", "", "64", "40.0%", "20.0%", "—", "—"],
    ]


@needs_browser
def test_browser_sees_a_missing_image(run_dir, report, tmp_path):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    shutil.rmtree(copy / "plots")  # the plots are embedded: the page does not need their files
    (copy / "videos" / f"{NAMES[0]}.gif").unlink()  # the video is referenced by path
    result = check_page(copy / "report.html")
    assert result["images_broken"] == 1
    assert result["images_loaded"] == result["images_total"] - 1 == 4
