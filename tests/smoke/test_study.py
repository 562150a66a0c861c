"""`rlscope boundary study` end to end on a tiny untrained organism model (mechanics, not findings)."""

import collections
import json
import subprocess
import sys

import pytest

from rlscope.boundary.organism.model import OrganismModelConfig, build_model, build_tokenizer


@pytest.fixture(scope="module")
def small_models(tmp_path_factory):
    tok = build_tokenizer()
    root = tmp_path_factory.mktemp("models")
    paths = []
    for seed in (0, 1):
        m = build_model(OrganismModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tok, seed=seed)
        m.save_pretrained(root / f"m{seed}")
        tok.save_pretrained(root / f"m{seed}")
        paths.append(root / f"m{seed}")
    return paths


def test_study_runs_and_reports(tmp_path, small_models):
    base, teacher = small_models
    out = tmp_path / "study"
    args = [sys.executable, "-m", "rlscope", "boundary", "study", "--out", out, "--base", base, "--teacher", teacher,
            "--rl-steps", 2, "--checkpoints", 1, 2, "--distill-steps", 2, "--problems", 6, "-n", 8, "--workers", 2,
            "--perplexity-samples", 16, "--no-progress"]
    proc = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((out / "study.json").read_text())
    seed0 = res["seeds"][0]
    assert set(seed0["models"]) == {"base", "grpo@1", "grpo@2", "distilled"}
    (sec,) = seed0["compare"]["benchmarks"].values()  # the study's analyses are `rlscope boundary compare`'s
    assert sec["reference"] == "base" and sec["problems"] == 6 and sec["ks"] == [1, 2, 4, 8]
    assert [c["run"] for c in sec["comparisons"]] == ["grpo@1", "grpo@2", "distilled"]
    assert [c["step"] for c in sec["comparisons"]] == [1, 2, None]
    for c in sec["comparisons"]:
        assert sum(len(v) for v in c["coverage"].values()) == 6
    for curve in sec["curves"].values():
        assert all(0.0 <= r["pass_at_k"] <= 1.0 for r in curve)
    # every model's answers scored under the base: the first ⌈16 / 6⌉ = 3 samples of each problem
    per = sec["perplexity"]["base"]
    assert set(per) == {"base", "grpo@1", "grpo@2", "distilled"}
    assert all(p["mean"] > 0 and p["samples"] == 18 for p in per.values())
    # the held-out set is stratified by class; per model and class, its outcome and the strategies of its samples
    classes = res["held_out"]["classes"]
    assert sorted(classes) == sorted(sec["problem_ids"])
    assert collections.Counter(classes.values()) == {"plain": 2, "below_zero": 3, "division": 1}  # 0.35, 0.5, 0.15 of 6
    for model in ("base", "grpo@2", "distilled"):
        by = seed0["strategies"][model]
        assert {c: row["samples"] for c, row in by.items()} == {"plain": 2 * 8, "below_zero": 3 * 8, "division": 8}
        for row in by.values():
            assert sum(s["share"] for s in row["strategies"].values()) == pytest.approx(1.0)
        assert sum(v["problems"] for v in seed0["classes"][model].values()) == 6
    # each finding checked, with its interval or test; an untrained model shows what it shows, and the report says so
    checks = {(c["finding"], c["run"]): c for c in seed0["checks"]}
    assert {"RL improves pass@1", "the curves cross", "more RL steps: pass@1 up, pass@K down",
            "distillation solves problems the base never does"} <= {f for f, _ in checks}
    # RL's new problems are counted by correct chains of thought (a right answer from a wrong chain is luck)
    cov = seed0["cot_comparisons"]["grpo@2"]["coverage"]
    new = checks[("RL finds almost nothing new (k = 8)", "grpo@2")]
    assert new["text"].startswith(f"grpo@2 only, with a correct chain of thought: {len(cov['rl_only'])} of 6")
    assert new["shown"] == (len(cov["rl_only"]) <= 0.02 * 6 and len(cov["rl_only"]) < len(cov["base_only"]))
    gain = checks[("RL improves pass@1", "grpo@2")]
    assert "95% CI" in gain["text"] and isinstance(gain["shown"], bool)
    html = (out / "report.html").read_text()
    assert "<title>Reasoning-boundary study on the model organism</title>" in html and "<h2>The study</h2>" in html
    assert "RL improves pass@1 (grpo@2): " + ("shown" if gain["shown"] else "NOT shown") in html
    assert "The mechanism: strategies per problem class" in html and "RL algorithms" in html
    assert html.count("data:image/png;base64") == 5  # pass@k, histograms, perplexity, strategies, classes
    assert "grpo over steps 1, 2: pass@1 / pass@8 =" in html and "Counting only answers with a fully correct chain" in html
    assert "base catches up with" in html or "No crossover up to k = 8" in html
    # every stage is resumable: a second run redoes nothing and gives the same numbers
    again = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    res2 = json.loads((out / "study.json").read_text())
    assert res2["seeds"][0]["compare"]["benchmarks"] == seed0["compare"]["benchmarks"]
