"""The `rlscope` command line. Options are generated from the config dataclasses (tyro).

Only this module prints; library code logs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rlscope.errors import RlscopeError

log = logging.getLogger("rlscope")


def _console():
    from rich.console import Console

    import shutil

    return Console(stderr=False, highlight=False, width=max(100, shutil.get_terminal_size((120, 24)).columns))


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.table import Table

    table = Table()
    for col in columns:
        left = col in ("name", "description", "source", "reason", "sub-task", "answer", "note")
        table.add_column(col, justify="left" if left else "right", no_wrap=col == "sub-task")
    for row in rows:
        table.add_row(*[f"{v:.4f}" if isinstance(v, float) else str(v) for v in row])
    console = _console()
    console.print(title)
    console.print(table)


# -- boundary -----------------------------------------------------------------------------
def boundary_sample(cfg) -> int:
    from rlscope.boundary.sample import run_sample

    s = run_sample(cfg)
    rate = s.tokens / s.seconds if s.seconds else 0.0
    print(
        f"sampled {s.generated} new samples ({s.already} already stored) for {s.problems} problems "
        f"in {s.seconds:.1f}s, {rate:.0f} tokens/s -> {cfg.run}"
    )
    return 0


def boundary_import(cfg) -> int:
    from rlscope.boundary.sample import run_import

    s = run_import(cfg)
    replaced = f"; {s.replaced} replaced, their verdicts dropped" if s.replaced else ""
    print(f"imported {s.generated} completions for {s.problems} problems ({s.already} already stored{replaced}) -> {cfg.run}")
    return 0


def boundary_verify(cfg) -> int:
    from rlscope.boundary.verify.run import run_verify

    s = run_verify(cfg)
    rate = s.verified / s.seconds if s.seconds else 0.0
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(s.reasons.items()))
    print(f"verified {s.verified} samples ({s.correct} correct) in {s.seconds:.1f}s, {rate:.0f}/s" + (f" [{reasons}]" if reasons else ""))
    for reason, pids in s.errors.items():
        shown = ", ".join(pids[:10]) + (f" and {len(pids) - 10} more" if len(pids) > 10 else "")
        print(f"warning: {reason} on {len(pids)} problem(s): {shown}", file=sys.stderr)
    return 0


def boundary_passk(cfg) -> int:
    from rlscope.boundary.results import compute_passk

    res = compute_passk(cfg)
    for key, what in (("problems_without_samples", "have no samples"), ("problems_without_verdicts", "have no verdicts")):
        if res[key]:
            print(f"warning: {res[key]} of {res['problems_in_run']} problems in the run {what}; pass@k covers the "
                  f"{res['problems']} verified ones", file=sys.stderr)
    if cfg.json:
        print(json.dumps({k: v for k, v in res.items() if k != "per_problem"}, indent=2))
        return 0
    has_ci = any("ci_low" in r for r in res["curve"])
    cols = ["k", "pass@k"] + ([f"{int(cfg.confidence * 100)}% CI"] if has_ci else [])
    rows = [
        [r["k"], r["pass_at_k"]] + ([f"[{r['ci_low']:.4f}, {r['ci_high']:.4f}]"] if has_ci else [])
        for r in res["curve"]
    ]
    n = res["samples_per_problem"]
    _table(f"pass@k: {res['problems']} problems, n = {n['min']}" + (f"..{n['max']}" if n["max"] != n["min"] else ""), cols, rows)
    if res["unverified_samples"]:
        print(f"note: {res['unverified_samples']} samples are not verified yet (rlscope boundary verify)")
    print(f"wrote {cfg.run / 'passk.json'} and {cfg.run / 'passk.csv'}")
    return 0


def boundary_compare(cfg) -> int:
    from rlscope.boundary.compare import SUMMARY_COLUMNS, compare_runs, summary_rows

    res = compare_runs(cfg)
    if cfg.json:
        print(json.dumps({k: v for k, v in res.items() if k != "benchmarks"} | {"benchmarks": {
            b: {k: v for k, v in s.items() if k not in ("comparisons", "problem_ids")} | {"comparisons": [
                {k: v for k, v in c.items() if k != "coverage"} for c in s["comparisons"]]} for b, s in res["benchmarks"].items()}},
            indent=2))
        return 0
    for bench, s in res["benchmarks"].items():
        k_top = s["comparisons"][0]["delta_se_k"]
        _table(f"{bench}: compared with {s['reference']} on {s['problems']} shared problems",
               [h.replace("K", str(k_top)) for h in SUMMARY_COLUMNS], summary_rows(s))
    if len(res["benchmarks"]) > 1:
        _table("overview (pass@1 and pass@K, K = 256 or the largest k)", ["benchmark", "run", "pass@1 ref / run",
               "pass@K ref / run", "ΔSE", "ref only / run only"],
               [[r["benchmark"], r["run"], f"{r['pass1_reference']:.3f} / {r['pass1']:.3f}",
                 f"{r['passk_reference']:.3f} / {r['passk']:.3f}", f"{r['delta_se']:.3f}",
                 f"{r['reference_only']} / {r['run_only']}"] for r in res["overview"]])
    print(f"wrote {cfg.report / 'compare.json'}, {cfg.report / 'passk.csv'} and {cfg.report / 'coverage.csv'}"
          + (f"; report: {res['report']}" if res.get("report") else ""))
    return 0


def boundary_perplexity(cfg) -> int:
    from rlscope.boundary.perplexity import score_run

    res = score_run(cfg)
    print(f"{res['scored']} samples scored under {res['scorer']} ({res['new']} new); per-token NLL {res['nll_per_token']:.4f}, "
          f"perplexity {math.exp(res['nll_per_token']):.3f}")
    return 0


def boundary_export(cfg) -> int:
    from rlscope.boundary.results import export_samples

    count = export_samples(cfg)
    if cfg.out is not None:
        print(f"wrote {count} samples to {cfg.out}")
    return 0


def boundary_answers(cfg) -> int:
    from rlscope.boundary.results import run_answers

    found = run_answers(cfg)
    shown = [p for p in found if p.flags or not cfg.flagged]
    if cfg.json:
        print(json.dumps([dataclasses.asdict(p) for p in shown], indent=2, ensure_ascii=False))
        return 0
    for p in shown:
        rows = [["(no answer)" if a.answer is None else a.answer, a.count, f"{a.correct}/{a.count}",
                 "likely false negative" if a.likely_false_negative else ""] for a in p.answers[: cfg.top]]
        more = len(p.answers) - cfg.top
        _table(f"problem {p.problem_id}: gold {p.gold!r}, {p.samples} samples, {len(p.answers)} distinct answers"
               + (f" ({more} more not shown)" if more > 0 else ""), ["answer", "samples", "correct", "note"], rows)
        for flag in p.flags:
            print(f"  flag: {flag}")
    print(f"{sum(bool(p.flags) for p in found)} of {len(found)} problems flagged")
    return 0


def boundary_benchmarks(cfg) -> int:
    from rlscope.boundary.benchmarks import list_benchmarks

    rows = list_benchmarks()
    if cfg.json:
        print(json.dumps([dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r) for r in rows], indent=2))
        return 0
    as_dicts = [dataclasses.asdict(r) if dataclasses.is_dataclass(r) else dict(r) for r in rows]
    cols = list(as_dicts[0]) if as_dicts else ["name"]
    _table("benchmarks", cols, [[d.get(c, "") if d.get(c) is not None else "" for c in cols] for d in as_dicts])
    return 0


def boundary_train(cfg) -> int:
    from rlscope.boundary.rl.trainer import train

    res = train(cfg)
    print(f"trained {res['step']} steps -> {res['out']}")
    return 0


def boundary_pretrain(cfg) -> int:
    from rlscope.boundary.organism.pretrain import pretrain

    res = pretrain(cfg)
    print(f"pretrained {cfg.out}: {res}")
    return 0


def boundary_distill(cfg) -> int:
    from rlscope.boundary.organism.distill import distill

    res = distill(cfg)
    print(f"distilled -> {cfg.out}: teacher solved {res['teacher_accuracy']:.1%} of training problems; "
          f"{res['sft_examples']} SFT examples, final loss {res['final_loss']:.3f}")
    return 0


def boundary_study(cfg) -> int:
    from rlscope.boundary.study import run_study
    from rlscope.report.study import findings

    res = run_study(cfg)
    for line in findings(res):
        print("- " + line.replace("**", ""))
    print(f"report: {res['report']['html']} (and report.md, study.json)")
    return 0


# -- sandbox ------------------------------------------------------------------------------
def sandbox_run(cfg) -> int:
    from rlscope.sandbox.cli import run_command

    return run_command(cfg)


# -- gen2sim ------------------------------------------------------------------------------
def gen2sim_asset(cfg) -> int:
    from rlscope.gen2sim.assets.cli import format_summary, run_asset

    summary = run_asset(cfg)
    _table(f"asset {summary['asset_id']}", ["name", "description"], format_summary(summary))
    if summary["valid"] is False and not cfg.keep_going:
        print(f"rlscope: error: asset {summary['asset_id']} failed validation: {'; '.join(summary['failures'])} "
              f"(written to {summary['dir']} with validation.json; --keep-going to accept it)", file=sys.stderr)
        return 2
    return 0


def gen2sim_train(cfg) -> int:
    from rlscope.gen2sim.pipeline import run_train

    summary = run_train(cfg, print_fn=print)
    _print_gen2sim(summary)
    return 0


def gen2sim_propose(cfg) -> int:
    from rlscope.gen2sim.pipeline import propose_command

    res = propose_command(cfg, print_fn=print)
    rows = []
    for tid in res["proposed"]:
        v = res["tasks"].get(tid)
        if v is None:
            rows.append([tid, "not validated", ""])
            continue
        subs = v.get("subtasks", {})
        problems = [f"{k}: {p}" for k, s in subs.items() for p in s["problems"]] or ([v["error"]] if v.get("error") else [])
        warnings = [f"{k}: {w}" for k, s in subs.items() for w in s["warnings"]]
        rows.append([tid, " -> ".join(subs) or "?", "valid" if v["ok"] else "rejected: " + "; ".join(problems)[:300]]
                    + ([f"warning: {'; '.join(warnings)[:200]}"] if warnings else []))
    for r in res["rejected"]:
        rows.append([f"{r['scene']} candidate {r['candidate']}", "", "rejected before validation: " + r["reason"][:300]])
    _table(f"proposed tasks ({cfg.out / 'tasks'})", ["task", "sub-tasks", "verdict"], [r[:3] for r in rows])
    for r in rows:
        if len(r) > 3:
            print(f"{r[0]}: {r[3]}")
    return 0 if any(v.get("ok") for v in res["tasks"].values()) or not cfg.validate else 2


def gen2sim_run(cfg) -> int:
    from rlscope.gen2sim.pipeline import run_pipeline

    res = run_pipeline(cfg, print_fn=print)
    for summary in res["runs"]:
        _print_gen2sim(summary)
    print(f"index: {res['index']}")
    return 0


def gen2sim_ablate(cfg) -> int:
    from rlscope.gen2sim.ablate import ABLATION_COLUMNS, ablate_decomposition, ablation_rows

    res = ablate_decomposition(cfg, print_fn=print)
    _table(f"{res['task_id']}: decomposed against one reward for the whole task", ABLATION_COLUMNS, ablation_rows(res))
    print(f"report: {res['report']}")
    return 0


def gen2sim_demos(cfg) -> int:
    from rlscope.gen2sim.demos import make_demos

    s = make_demos(cfg)
    print(f"{s['episodes']} demonstrations of {s['task_id']} ({s['frames']} frames at {s['fps']} fps"
          f"{', with video' if s['video'] else ''}) from {s['rollouts']} rollouts (success {s['success_rate']:.2f}), "
          f"{s['episodes_per_min']:.0f} episodes/min: {s['dataset']}")
    return 0


def _print_gen2sim(summary: dict) -> None:
    rows = []
    for s in summary["subtasks"]:
        e, t = s["eval"], s["train"]
        rows.append([s["name"], f"{e['success_rate']:.2f}", f"{e['honest_success_rate']:.2f}", f"{e['penetration_max_m'] * 1000:.1f}",
                     str(t["steps"]), f"{t['seconds']:.0f}", f"{t['steps_per_s']:.0f}"])
    if summary.get("chain"):
        c = summary["chain"]
        rows.append(["chain (all in sequence)", f"{c['success_rate']:.2f}", f"{c['honest_success_rate']:.2f}",
                     f"{c['penetration_max_m'] * 1000:.1f}", "", "", ""])
    _table(f"{summary['task_id']} ({summary['subtasks'][0]['eval']['episodes']} evaluation episodes)",
           ["sub-task", "success", "honest", "max pen. mm", "train steps", "train s", "steps/s"], rows)
    print(f"run: {summary['run']}" + (f"   report: {summary['report']}" if summary.get("report") else ""))


# -- demo ---------------------------------------------------------------------------------
def demo(cfg) -> int:
    from rlscope.demo import gen2sim_config, run_demo, study_config

    if cfg.slice:
        return run_demo(cfg, print_fn=print, table_fn=_table)
    quick = " with tiny budgets (--quick: the numbers mean little)" if cfg.quick else ""
    if cfg.part in ("both", "boundary"):
        print(f"the reasoning-boundary study on the model organism{quick} (= rlscope boundary study; --slice for the benchmark loop)")
        boundary_study(study_config(cfg))
    if cfg.part in ("both", "gen2sim"):
        run = gen2sim_config(cfg)
        print(f"the Gen2Sim loop on bundled inputs{quick} (= rlscope gen2sim run --tasks {' '.join(run.tasks)})")
        gen2sim_run(run)
    return 0


def _commands() -> dict[str, dict[str, tuple[Callable[[], type], Callable[[Any], int]]]]:
    def boundary(name: str):
        def get():
            from rlscope.boundary import config

            return getattr(config, name)

        return get

    def lazy(module: str, name: str):
        def get():
            import importlib

            return getattr(importlib.import_module(module), name)

        return get

    def sandbox_cfg():
        from rlscope.sandbox.cli import SandboxRunConfig

        return SandboxRunConfig

    def demo_cfg():
        from rlscope.demo import DemoConfig

        return DemoConfig

    return {
        "boundary": {
            "sample": (boundary("SampleConfig"), boundary_sample),
            "import": (boundary("ImportConfig"), boundary_import),
            "verify": (boundary("VerifyConfig"), boundary_verify),
            "passk": (boundary("PassKConfig"), boundary_passk),
            "compare": (lazy("rlscope.boundary.compare", "CompareConfig"), boundary_compare),
            "perplexity": (lazy("rlscope.boundary.perplexity", "PerplexityConfig"), boundary_perplexity),
            "export": (boundary("ExportConfig"), boundary_export),
            "benchmarks": (boundary("BenchmarksConfig"), boundary_benchmarks),
            "answers": (boundary("AnswersConfig"), boundary_answers),
            "train": (lazy("rlscope.boundary.rl.trainer", "RLConfig"), boundary_train),
            "study": (lazy("rlscope.boundary.study", "StudyConfig"), boundary_study),
            "pretrain": (lazy("rlscope.boundary.organism.pretrain", "PretrainConfig"), boundary_pretrain),
            "distill": (lazy("rlscope.boundary.organism.distill", "DistillConfig"), boundary_distill),
        },
        "sandbox": {"run": (sandbox_cfg, sandbox_run)},
        "gen2sim": {"asset": (lazy("rlscope.gen2sim.assets.cli", "AssetConfig"), gen2sim_asset),
                    "train": (lazy("rlscope.gen2sim.pipeline", "TrainTaskConfig"), gen2sim_train),
                    "propose": (lazy("rlscope.gen2sim.tasks.propose", "ProposeConfig"), gen2sim_propose),
                    "run": (lazy("rlscope.gen2sim.pipeline", "RunConfig"), gen2sim_run),
                    "demos": (lazy("rlscope.gen2sim.demos", "DemosConfig"), gen2sim_demos),
                    "ablate-decomposition": (lazy("rlscope.gen2sim.ablate", "AblateConfig"), gen2sim_ablate)},
        "demo": {"": (demo_cfg, demo)},
    }


def _usage(commands) -> str:
    lines = ["usage: rlscope COMMAND [SUBCOMMAND] [OPTIONS]   (add --help to any command)", "", "commands:"]
    for group, subs in commands.items():
        for sub in subs:
            lines.append(f"  rlscope {group} {sub}".rstrip())
    lines.append("  rlscope version")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    import tyro

    argv = list(sys.argv[1:] if argv is None else argv)
    # rlscope shows its own progress; the weight-loading bars of transformers/huggingface_hub are noise here
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    level = os.environ.get("RLSCOPE_LOG", "WARNING").upper()
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    commands = _commands()
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage(commands))
        return 0 if argv else 2
    if argv[0] in ("version", "--version"):
        from rlscope import __version__

        print(__version__)
        return 0
    group = commands.get(argv[0])
    if group is None:
        print(f"rlscope: unknown command {argv[0]!r}\n" + _usage(commands), file=sys.stderr)
        return 2
    if "" in group:
        sub, rest, prog = "", argv[1:], f"rlscope {argv[0]}"
    else:
        if len(argv) < 2 or argv[1] in ("-h", "--help"):
            print(_usage({argv[0]: group}))
            return 0 if len(argv) >= 2 else 2
        sub, rest, prog = argv[1], argv[2:], f"rlscope {argv[0]} {argv[1]}"
        if sub not in group:
            print(f"rlscope: unknown command {argv[0]} {sub!r}\n" + _usage({argv[0]: group}), file=sys.stderr)
            return 2
    if argv[0] in ("gen2sim", "demo"):  # offscreen rendering without a display: pick EGL before MuJoCo loads
        os.environ.setdefault("MUJOCO_GL", "egl")
    get_cls, fn = group[sub]
    cfg = tyro.cli(get_cls(), args=rest, prog=prog)
    try:
        return fn(cfg)
    except RlscopeError as exc:
        print(f"rlscope: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rlscope: interrupted; everything stored so far is kept: run the same command again to continue", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of stdout went away (`... --json | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug: one line, the traceback only when asked for
        if level == "DEBUG":
            raise
        print(f"rlscope: internal error: {type(exc).__name__}: {exc} (RLSCOPE_LOG=debug shows the traceback); "
              "everything stored so far is kept", file=sys.stderr)
        return 1
