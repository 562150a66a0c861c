"""Check what `make demo QUICK=1` wrote, as a reader would see it: `python scripts/check_demo.py [RUN]`.

The study's and Gen2Sim's reports must exist, agree with the numbers stored beside them, and load
in headless Chromium with every image. Prints one line per check; exits 1 at the first failure.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from rlscope.errors import RlscopeError
from rlscope.demo import QUICK_GEN2SIM, QUICK_SEARCH, QUICK_STUDY, DemoConfig
from rlscope.gen2sim.pipeline import DEMO_TASKS
from rlscope.report.browser import check_page


class CheckFailed(Exception):
    pass


def expect(ok: bool, what: str) -> None:
    if not ok:
        raise CheckFailed(what)
    print(f"ok   {what}")


def loads_with_images(page: Path, at_least: int) -> None:
    got = check_page(page)
    expect(got["images_broken"] == 0 and got["images_loaded"] == got["images_total"] >= at_least and not got["script_errors"],
           f"{page} loads in Chromium with all its images ({got['images_loaded']}/{got['images_total']}, at least {at_least}) "
           f"and no script error ({got['script_errors']})")


def check_study(study: Path) -> None:
    res = json.loads((study / "study.json").read_text())
    seed = res["seeds"][0]
    steps = [f"grpo@{s}" for s in QUICK_STUDY["checkpoints"]]
    expect(set(seed["models"]) == {"base", *steps, "distilled"}, f"{study}/study.json: base, {', '.join(steps)} and distilled")
    md = (study / "report.md").read_text()
    sections = seed["compare"]["benchmarks"]
    expect(list(sections) == ["organism"], f"{study}/study.json: one benchmark, the organism ({', '.join(sections)})")
    sec = sections["organism"]
    ref, ks = sec["reference"], sec["ks"]
    expect(sec["problems"] == QUICK_STUDY["problems"] and ks[-1] == QUICK_STUDY["n"],
           f"organism: {sec['problems']} problems, k up to {ks[-1]}")
    for c in sec["comparisons"]:
        name, top = c["run"], ks.index(c["delta_se_k"])
        cov = c["coverage"]
        expect(sorted(sum(cov.values(), [])) == sorted(sec["problem_ids"]), f"{name}: coverage sets partition the problems")
        row = re.search(rf"^\| {re.escape(name)} \| ([0-9.]+) / ([0-9.]+) \| ([0-9.]+) / ([0-9.]+) \|", md, re.M)
        want = (c["pass1"][ref], c["pass1"][name], sec["curves"][ref][top]["pass_at_k"], sec["curves"][name][top]["pass_at_k"])
        expect(row is not None and all(float(row[i + 1]) == round(w, 3) for i, w in enumerate(want)),
               f"report.md states {ref}'s and {name}'s pass@1 and pass@{c['delta_se_k']} as study.json has them")
        expect(f"- {name}: pass@1 {c['pass1'][name]:.3f} against {ref}'s" in md, f"report.md has a finding for {name}")
    loads_with_images(study / "report.html", at_least=2)


def check_gen2sim(out: Path) -> None:
    runs = json.loads((out / "summary.json").read_text())
    ids = [r["task_id"] for r in runs]
    expect(all(t in ids for t in DEMO_TASKS), f"{out}: the demo's tasks {', '.join(DEMO_TASKS)} ({', '.join(ids)})")
    proposed = json.loads((out / "tasks" / "open_cabinet_drawer_0" / "validation.json").read_text())
    expect(proposed["ok"], f"{out}: the proposed drawer task passed its validation in the sandbox")
    index = (out / "index.html").read_text()
    loads_with_images(out / "index.html", at_least=0)
    for run in runs:
        rdir = Path(run["run"])
        expect(f"runs/{run['task_id']}/report.html" in index, f"index.html links the report of {run['task_id']}")
        summary = json.loads((rdir / "summary.json").read_text())
        page = (rdir / "report.html").read_text()
        for sub in summary["subtasks"]:
            expect(sub["eval"]["episodes"] == QUICK_GEN2SIM["episodes"] and sub["train"]["steps"] >= QUICK_GEN2SIM["steps"],
                   f"{run['task_id']}/{sub['name']}: {sub['train']['steps']} training steps, {sub['eval']['episodes']} episodes")
            expect(f"{sub['name']} ({sub['eval']['honest_success_rate']:.1%}" in page,
                   f"{run['task_id']}/report.html states {sub['name']}'s honest success as summary.json has it")
        search = summary.get("search") or {}
        expect(all(len(search.get("subtasks", {}).get(s["name"], [])) == QUICK_SEARCH["rounds"] for s in summary["subtasks"])
               and "Reward search" in page, f"{run['task_id']}: every round of the reward search is kept and shown")
        if len(summary["subtasks"]) > 1:
            expect(summary["chain"] is not None and summary["chain"]["episodes"] == QUICK_GEN2SIM["episodes"],
                   f"{run['task_id']}: the chain was evaluated")
        # per sub-task its learning curves, its reward terms and a rollout; the chain's rollout
        loads_with_images(rdir / "report.html", at_least=3 * len(summary["subtasks"]) + (1 if summary["chain"] else 0))


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else DemoConfig(quick=True).root
    try:
        check_study(root / "study")
        check_gen2sim(root / "gen2sim")
    except (CheckFailed, RlscopeError, OSError, KeyError, ValueError) as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    print(f"the quick demo in {root} is complete")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
