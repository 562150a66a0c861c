"""`rlscope boundary compare` on two imported, verified runs with different samples per problem, checked against
values computed by hand."""

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import re

import pytest

from rlscope.report.browser import check_page, dump_dom, find_browser, screenshot

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
ENV.pop("RLSCOPE_LOG", None)
BASE = {"q0": (8, 2), "q1": (8, 1), "q2": (8, 8), "q3": (8, 0), "q4": (8, 4), "q5": (8, 1)}
RL = {"q0": (4, 4), "q1": (4, 0), "q2": (4, 4), "q3": (4, 0), "q4": (4, 4), "q5": (4, 0)}  # sharper, narrower


def rlscope(*args, check=True, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "rlscope", *map(str, args)], capture_output=True, text=True, env=ENV,
                          cwd=cwd, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"rlscope {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def make_run(tmp: Path, name: str, counts: dict, bench: Path) -> Path:
    lines = []
    for pid, (n, c) in counts.items():
        gold = 2 * int(pid[1:])
        lines += [{"problem_id": pid, "completion": f"so \\boxed{{{gold if i < c else gold + 1}}}"} for i in range(n)]
    comp = tmp / f"{name}.jsonl"
    comp.write_text("".join(json.dumps(x) + "\n" for x in lines))
    run = tmp / name
    rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", comp, "--run", run)
    rlscope("boundary", "verify", "--run", run, "--no-progress")
    return run


def pass_k(n, c, k):
    return 1 - math.comb(n - c, k) / math.comb(n, k)


def mean_pass(counts, k):
    return sum(pass_k(n, c, k) for n, c in counts.values()) / len(counts)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmp")
    bench = tmp / "arith.jsonl"
    bench.write_text("".join(json.dumps({"id": f"q{i}", "question": f"What is {i} + {i}?", "answer": str(2 * i)}) + "\n"
                             for i in range(6)))
    return tmp, make_run(tmp, "base", BASE, bench), make_run(tmp, "rl", RL, bench)


def test_compare_matches_hand_computed_values(runs):
    tmp, base, rl = runs
    proc = rlscope("boundary", "compare", "base", "rl", "--out", "cmp", cwd=tmp)
    full = json.loads((tmp / "cmp" / "compare.json").read_text())
    assert full["reference"] == "base" and list(full["benchmarks"]) == ["arith"]  # named after the JSONL file
    res = full["benchmarks"]["arith"]
    assert res["problems"] == 6 and res["ks"] == [1, 2, 4]  # up to the smaller n
    (c,) = res["comparisons"]
    assert c["pass1"]["base"] == pytest.approx(mean_pass(BASE, 1)) and c["pass1"]["rl"] == pytest.approx(0.5)
    for i, k in enumerate(res["ks"]):
        assert res["curves"]["base"][i]["pass_at_k"] == pytest.approx(mean_pass(BASE, k))
        assert res["curves"]["rl"][i]["pass_at_k"] == pytest.approx(mean_pass(RL, k))
    d2, d4 = mean_pass(BASE, 2) - 0.5, mean_pass(BASE, 4) - 0.5  # RL leads at k = 2, the base at k = 4
    assert d2 < 0 < d4
    assert c["crossover_k"] == pytest.approx(2 ** (1 + (-d2) / (d4 - d2)))
    assert c["delta_se"] == pytest.approx(mean_pass(BASE, 4) - 0.5) and c["delta_se_k"] == 4
    assert c["large_k"]["difference"] == pytest.approx(d4) and 0 <= c["large_k"]["p_value"] <= 1
    assert c["large_k"]["low"] <= d4 <= c["large_k"]["high"]
    h = lambda c, n: 0.0 if c in (0, n) else -(c / n * math.log2(c / n) + (n - c) / n * math.log2((n - c) / n))  # noqa: E731
    assert res["answer_entropy"]["base"] == pytest.approx(sum(h(c, n) for n, c in BASE.values()) / 6)
    assert res["answer_entropy"]["rl"] == 0.0  # one answer per problem
    assert res["taus"] == [0.125, 0.25, 0.5, 0.75, 1.0]
    assert res["cover"]["base"] == pytest.approx([5 / 6, 3 / 6, 2 / 6, 1 / 6, 1 / 6]) and res["cover"]["rl"] == [0.5] * 5
    assert len(res["guessable"]) == 6 and "without_guessable" not in c  # every gold here is a small integer
    cov = c["coverage"]
    assert (sorted(cov["both"]), sorted(cov["reference_only"]), cov["run_only"], cov["neither"]) == \
        (["q0", "q2", "q4"], ["q1", "q5"], [], ["q3"])
    assert c["run_solves_subset_of_reference"]
    assert c["coverage_mcnemar_p"] == pytest.approx(0.5)  # two discordant problems, both the reference's: 2 * (1/2)^2
    assert c["histogram"]["rl"][-1] == 3 and c["histogram"]["rl"][0] == 3  # RL moves mass to 1 and to 0
    with open(tmp / "cmp" / "passk.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["k"] for r in rows] == ["1", "2", "4"] and float(rows[2]["base"]) == pytest.approx(mean_pass(BASE, 4), abs=1e-6)
    assert {r["benchmark"] for r in rows} == {"arith"}
    with open(tmp / "cmp" / "coverage.csv") as fh:
        cov_rows = {r["problem_id"]: (r["base"], r["rl"]) for r in csv.DictReader(fh)}
    assert cov_rows["q1"] == ("1", "0") and cov_rows["q3"] == ("0", "0")
    assert "3 / 2 / 0 / 1" in proc.stdout and "rl" in proc.stdout
    ov = full["overview"]
    assert len(ov) == 1 and ov[0]["delta_se"] == pytest.approx(c["delta_se"]) and ov[0]["reference_only"] == 2


@pytest.mark.skipif(find_browser() is None and os.environ.get("CI") != "true", reason="no Chromium on PATH")
def test_report_reads_and_works_in_a_browser(runs):
    tmp, base, rl = runs
    rlscope("boundary", "compare", "base", "rl", "--out", "rep", cwd=tmp)
    page = tmp / "rep" / "report.html"
    got = check_page(page)
    assert (got["images_loaded"], got["images_broken"], got["images_total"], got["script_errors"]) == (2, 0, 2, 0)
    text = page.read_text()
    assert "base catches up with rl at k ≈" in text and "ΔSE = base pass@4 − rl pass@1" in text
    assert "base alone solves 2" in text and "every problem it solves is one the reference solves too" in text
    # base spreads over two answers in q0, q1, q4, q5; rl answers one value each time, wrongly in q1 and q5
    assert "rl puts at least 90% of its samples on one answer in 4 problem(s) where base gave several; in 2 of them" in text
    assert "(q1, q5)" in text
    assert "What is 3 + 3?" in text and "no sample solves / every sample solves: base 1 / 1, rl 3 / 3" in text
    assert "&quot;import&quot;" in text.split("<h2>Runs</h2>")[1]  # each run's manifest: how it was made
    assert "McNemar&#x27;s exact test on the 2 problems only one solves: p = 0.5, not significant" in text
    # the drill-down's search box filters rows in the browser, opened at #search=...
    dom = dump_dom(page, "search=What%20is%203")
    searched = re.search(r'class="search"[^>]*data-table="(table\d+)"', dom)[1]
    assert re.search(rf'<table id="{searched}" data-shown="(\d+)"', dom)[1] == "1"  # one row of six shown
    assert dom.count('style="display: none;"') == 5
    # a screenshot shows the plots: the compared run's curve and bars in matplotlib's first colour (#1f77b4)
    import numpy as np
    from PIL import Image

    shot = np.asarray(Image.open(screenshot(page, tmp / "rep.png")).convert("RGB")).astype(int)
    blue = (np.abs(shot - [0x1F, 0x77, 0xB4]) < 25).all(axis=2)
    rows = np.flatnonzero(blue.any(axis=1))
    assert blue.sum() > 1000 and rows[-1] - rows[0] > 300  # in both figures, one above the other
    md = (tmp / "rep" / "report.md").read_text()
    assert "![pass@k curves of every run on arith](passk_arith.png)" in md and (tmp / "rep" / "passk_arith.png").exists()


def test_base_option_and_errors(runs, tmp_path):
    tmp, base, rl = runs
    res = json.loads(rlscope("boundary", "compare", rl, "--base", base, "--out", tmp_path / "o", "--json").stdout)
    assert res["reference"] == "base" and [c["run"] for c in res["benchmarks"]["arith"]["comparisons"]] == ["rl"]
    one = rlscope("boundary", "compare", base, "--out", tmp_path / "o", check=False)
    assert one.returncode == 2 and "at least two runs" in one.stderr
    (tmp_path / "other").mkdir()
    other_bench = tmp_path / "other" / "arith.jsonl"  # another file of the same name: the same benchmark, by name
    other_bench.write_text(json.dumps({"id": "z1", "question": "What is 1 + 1?", "answer": "2"}) + "\n")
    stranger = make_run(tmp_path, "stranger", {"z1": (2, 1)}, other_bench)
    err = rlscope("boundary", "compare", base, stranger, "--out", tmp_path / "o", check=False)
    assert err.returncode == 2 and "share no problem ids" in err.stderr and "Traceback" not in err.stderr


def test_perplexity_is_stored_resumed_and_compared(runs, tiny_model, tmp_path):
    tmp, base, rl = runs
    err = rlscope("boundary", "perplexity", "--run", base, "--scorer", tiny_model, "--no-progress", check=False)
    assert err.returncode == 2 and "--template" in err.stderr  # imported: no stored prompt
    first = rlscope("boundary", "perplexity", "--run", base, "--scorer", tiny_model, "--template", "raw", "--limit", 2,
                    "--no-progress", "--name", "tiny")
    assert "12 samples scored under tiny (12 new)" in first.stdout  # 2 of each problem's 8
    again = rlscope("boundary", "perplexity", "--run", base, "--scorer", tiny_model, "--template", "raw", "--no-progress",
                    "--name", "tiny")
    assert "48 samples scored under tiny (36 new)" in again.stdout  # continued, not redone
    rlscope("boundary", "perplexity", "--run", rl, "--scorer", tiny_model, "--template", "raw", "--no-progress", "--name", "tiny")
    # the scores match the model's own log-likelihood of one sample
    from rlscope.llm.hf import HFSampler
    from rlscope.store.sqlite import Store

    with Store(base) as store:
        lp, n = store.scores("tiny")[("q2", 0)]
    ((want_lp, want_n),) = HFSampler(str(tiny_model), batch_size=2).score(["What is 2 + 2?"], ["so \\boxed{4}"])
    assert (lp, n) == (pytest.approx(want_lp, abs=1e-3), want_n)
    res = json.loads(rlscope("boundary", "compare", base, rl, "--out", tmp_path / "o", "--json").stdout)
    per = res["benchmarks"]["arith"]["perplexity"]["tiny"]
    assert per["base"]["samples"] == 48 and per["rl"]["samples"] == 24 and per["rl"]["mean"] > 0
    page = (tmp_path / "o" / "report.html").read_text()
    assert "perplexity under tiny" in page and "rl&#x27;s answers have a per-token NLL of" in page
