"""The real `rlscope boundary` CLI on tiny inputs, including kill -9 and resume."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlscope.boundary.results import EXPORT_FIELDS

ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def rlscope(*args, check=True, **kw):
    proc = subprocess.run([sys.executable, "-m", "rlscope", *map(str, args)], capture_output=True, text=True, env=ENV, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"rlscope {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture()
def bench(tmp_path):
    path = tmp_path / "arith.jsonl"
    with open(path, "w") as fh:
        for i in range(6):
            fh.write(json.dumps({"id": f"q{i}", "question": f"What is {i} + {i}?", "answer": str(2 * i)}) + "\n")
    return path


def count(db: Path, table: str) -> int:
    """Rows committed so far (0 before the table exists); retried while the writer holds a lock."""
    for _ in range(50):
        if not db.exists():
            return 0
        try:
            con = sqlite3.connect(db, timeout=5)
            try:
                return con.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            finally:
                con.close()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return 0
            time.sleep(0.01)
    raise AssertionError(f"cannot read {db}")


def rows(db: Path, table: str, cols: str):
    con = sqlite3.connect(db)
    out = con.execute(f"SELECT problem_id, sample_idx, {cols} FROM {table} ORDER BY problem_id, sample_idx").fetchall()
    con.close()
    return out


def kill_midway(cmd: list, db: Path, table: str, total: int, timeout: float = 120) -> int:
    """Start the CLI, SIGKILL it once some but not all rows are committed; returns rows at kill time."""
    proc = subprocess.Popen([sys.executable, "-m", "rlscope", *map(str, cmd)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            n = count(db, table)
            if 0 < n < total:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return n
            if proc.poll() is not None:
                pytest.fail(f"process ended (rc={proc.returncode}) before it could be killed midway ({n} rows)")
            time.sleep(0.02)
        pytest.fail("no progress before the deadline")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sample_kill9_resume_matches_uninterrupted(tmp_path, tiny_model, bench):
    args = ["--model", tiny_model, "--benchmark", f"jsonl:{bench}", "-n", 40, "--batch-size", 4,
            "--max-new-tokens", 48, "--temperature", 1.0, "--threads", 1, "--no-progress"]
    total = 6 * 40
    killed = tmp_path / "killed"
    at_kill = kill_midway(["boundary", "sample", *args, "--run", killed], killed / "results.sqlite", "generations", total)
    assert 0 < at_kill < total
    rlscope("boundary", "sample", *args, "--run", killed)
    straight = tmp_path / "straight"
    rlscope("boundary", "sample", *args, "--run", straight)
    got = rows(killed / "results.sqlite", "generations", "completion, seed")
    want = rows(straight / "results.sqlite", "generations", "completion, seed")
    assert len(got) == total  # nothing lost, nothing duplicated (primary key)
    assert {(p, i) for p, i, *_ in got} == {(f"q{p}", i) for p in range(6) for i in range(40)}
    assert got == want  # the resumed run drew what the uninterrupted one drew
    again = rlscope("boundary", "sample", *args, "--run", killed)
    assert "sampled 0 new samples (240 already stored)" in again.stdout
    manifest = json.loads((killed / "manifest.json").read_text())
    assert manifest["sample"]["config"]["n"] == 40 and manifest["sample"]["template"].startswith("qwen-boxed@")
    assert "torch" in manifest["sample"]["versions"] and manifest["sample"]["seed"] == 0


def test_import_verify_kill9_passk_export(tmp_path, bench):
    comp = tmp_path / "completions.jsonl"
    per_problem = 400
    with open(comp, "w") as fh:
        for p in range(6):
            for j in range(per_problem):
                # a quarter correct; a quarter distinct factorials that only the symbolic path can reject,
                # so verification takes seconds and commits several groups before it ends
                ans = str(2 * p) if j % 4 == 0 else f"{j + 3}!" if j % 4 == 1 else str(j + 100)
                fh.write(json.dumps({"problem_id": f"q{p}", "completion": f"Work... so \\boxed{{{ans}}}"}) + "\n")
    run = tmp_path / "run"
    out = rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", comp, "--run", run)
    assert "imported 2400 completions for 6 problems" in out.stdout
    out = rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", comp, "--run", run)
    assert "imported 0 completions" in out.stdout and "2400 already stored" in out.stdout
    db = run / "results.sqlite"
    at_kill = kill_midway(["boundary", "verify", "--run", run, "--no-progress", "--workers", 1], db, "verdicts", 2400)
    assert 0 < at_kill < 2400
    rlscope("boundary", "verify", "--run", run, "--no-progress")
    verdicts = rows(db, "verdicts", "correct, extracted")
    assert len(verdicts) == 2400
    for pid, idx, correct, extracted in verdicts:
        assert bool(correct) == (idx % 4 == 0), (pid, idx, extracted)
    res = json.loads(rlscope("boundary", "passk", "--run", run, "--json").stdout)
    curve = {r["k"]: r["pass_at_k"] for r in res["curve"]}
    assert curve[1] == pytest.approx(0.25) and curve[256] == pytest.approx(1.0)
    assert res["curve"][0]["ci_low"] - 1e-9 <= 0.25 <= res["curve"][0]["ci_high"] + 1e-9
    assert (run / "passk.csv").read_text().startswith("k,pass_at_k")
    lines = rlscope("boundary", "export", "--run", run).stdout.splitlines()
    first = json.loads(lines[0])
    assert len(lines) == 2400 and list(first) == list(EXPORT_FIELDS) and first["gold"] == "0"
    assert first["problem_id"] == "q0" and first["sample_idx"] == 0 and first["correct"] is True
    rlscope("boundary", "export", "--run", run, "--out", tmp_path / "s.parquet")
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "s.parquet")
    assert table.num_rows == 2400 and sum(table.column("correct").to_pylist()) == 600


def test_bad_input_gives_one_clear_line(tmp_path, bench, tiny_model):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"problem_id": "q0", "completion": "x"}\n{"problem_id": "q1", "completion": \n')
    p = rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", bad, "--run", tmp_path / "r", check=False)
    assert p.returncode == 2 and f"{bad}:2:" in p.stderr and "Traceback" not in p.stderr
    unknown = tmp_path / "unknown.jsonl"
    unknown.write_text('{"problem_id": "zzz", "completion": "x"}\n')
    p = rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", unknown, "--run", tmp_path / "r", check=False)
    assert p.returncode == 2 and "zzz" in p.stderr and f"{unknown}:1:" in p.stderr
    p = rlscope("boundary", "sample", "--model", tiny_model, "--benchmark", "nosuchbench", "--run", tmp_path / "r2", check=False)
    assert p.returncode == 2 and "math500" in p.stderr and "gsm8k" in p.stderr
    p = rlscope("boundary", "sample", "--model", tmp_path / "missing-model", "--benchmark", f"jsonl:{bench}", "--run", tmp_path / "r3", check=False)
    assert p.returncode == 2 and "missing-model" in p.stderr and "Traceback" not in p.stderr
    p = rlscope("boundary", "sample", "--model", "m", "--backend", "openai", "--base-url", "http://127.0.0.1:9/v1",
                "--benchmark", f"jsonl:{bench}", "--run", tmp_path / "r4", "--no-progress", "--retries", "1", check=False)
    assert p.returncode == 2 and "127.0.0.1:9" in p.stderr and "Traceback" not in p.stderr
    p = rlscope("boundary", "passk", "--run", tmp_path / "nothing", check=False)
    assert p.returncode == 2 and "not a run directory" in p.stderr


def test_ctrl_c_ends_with_one_line_and_keeps_samples(tmp_path, tiny_model, bench):
    run = tmp_path / "run"
    args = ["boundary", "sample", "--model", tiny_model, "--benchmark", f"jsonl:{bench}", "-n", 96, "--batch-size", 2,
            "--max-new-tokens", 48, "--temperature", 1.0, "--threads", 1, "--no-progress", "--run", run]
    # SIGINT may be ignored by whatever started the tests (a background job): the child must see Ctrl-C
    proc = subprocess.Popen([sys.executable, "-m", "rlscope", *map(str, args)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    db = run / "results.sqlite"
    deadline = time.time() + 120
    while count(db, "generations") == 0 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.fail("sampling finished before it could be interrupted; give it more work")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    stored = count(db, "generations")
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert 0 < stored < 6 * 96
    out = rlscope(*args)
    assert f"({stored} already stored)" in out.stdout
    assert count(db, "generations") == 6 * 96
