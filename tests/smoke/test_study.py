"""`rlscope boundary study` end to end on a tiny untrained organism model (mechanics, not findings)."""

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
    for name, c in seed0["comparisons"].items():
        assert c["problems"] == 6 and c["ks"] == [1, 2, 4, 8]
        assert all(0.0 <= v <= 1.0 for v in c["base_curve"] + c["other_curve"])
        assert sum(c["coverage_counts"].values()) == 6
    assert set(seed0["perplexity"]) == {"base", "grpo@1", "grpo@2", "distilled"}
    assert all(p["nll_per_token"] > 0 for p in seed0["perplexity"].values())
    html = (out / "report.html").read_text()
    assert ">pass@1</th>" in html and html.count("data:image/png;base64") == 2
    assert "**grpo@2** vs base" in (out / "report.md").read_text()
    # every stage is resumable: a second run redoes nothing and gives the same numbers
    again = subprocess.run(list(map(str, args)), capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    res2 = json.loads((out / "study.json").read_text())
    assert res2["seeds"][0]["comparisons"] == seed0["comparisons"]
