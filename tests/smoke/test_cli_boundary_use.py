"""The boundary commands under ordinary use, run as a user runs them: run directories, imports, chat
prompts, partial failures, one writer at a time, option checks and one-line errors."""

import fcntl
import http.server
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rlscope.boundary.prompts import BOXED_INSTRUCTION
from rlscope.boundary.results import EXPORT_FIELDS

ENV = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
ENV.pop("RLSCOPE_LOG", None)


def rlscope(*args, check=True, cwd=None, timeout=300):
    proc = subprocess.run([sys.executable, "-m", "rlscope", *map(str, args)], capture_output=True, text=True, env=ENV,
                          cwd=cwd, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"rlscope {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


def one_line_error(proc, *expected: str) -> str:
    """Exit status 2 and one line on stderr, no traceback, containing every ``expected``."""
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, err)
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for text in expected:
        assert text in err, (text, err)
    return err


@pytest.fixture()
def bench(tmp_path) -> Path:
    path = tmp_path / "arith.jsonl"
    path.write_text("".join(json.dumps({"id": f"q{i}", "question": f"What is {i} + {i}?", "answer": str(2 * i)}) + "\n"
                            for i in range(4)))
    return path


def completions(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return path


def stored(run: Path) -> list[tuple]:
    con = sqlite3.connect(run / "results.sqlite")
    try:
        return con.execute("SELECT problem_id, sample_idx, completion, source FROM generations "
                           "ORDER BY problem_id, sample_idx").fetchall()
    finally:
        con.close()


# -- a server for fault injection --------------------------------------------------------------------------


class Server:
    """An OpenAI-compatible server on loopback: answers "<question> -> <seed>", and fails as told."""

    def __init__(self):
        self.calls: list[dict] = []
        self.fail: set[str] = set()  # questions answered with HTTP 500
        self.null: set[str] = set()  # questions answered with "text": null
        self.surrogate: set[str] = set()  # questions answered with a lone surrogate escape
        self.hang = False
        self.model = "good-model"
        self.lock = threading.Lock()
        state = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, status: int, raw: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with state.lock:
                    state.calls.append({"path": self.path, **body})
                if state.hang:
                    time.sleep(30)
                if body["model"] != state.model:
                    return self._send(404, json.dumps({"message": f"model {body['model']} not found"}).encode())
                text_in = body.get("prompt") or body["messages"][-1]["content"]
                if any(q in text_in for q in state.fail):
                    return self._send(500, b'{"error": {"message": "boom"}}')
                text = None if any(q in text_in for q in state.null) else f"{text_in[-20:]} -> {body['seed']}"
                raw = json.dumps({"choices": [{"index": 0, "text": text, "message": {"content": text},
                                               "finish_reason": "stop"}], "usage": {"completion_tokens": 5}})
                if any(q in text_in for q in state.surrogate):
                    raw = raw.replace(" -> ", " \\ud800 -> ")
                self._send(200, raw.encode())

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.handle_error = lambda *_: None  # a client that gave up on a hanging answer is expected here
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture()
def server():
    s = Server()
    yield s
    s.close()


def sample(server, bench, run, *extra, check=True, cwd=None):
    return rlscope("boundary", "sample", "--backend", "openai", "--base-url", server.url, "--model", server.model,
                   "--benchmark", f"jsonl:{bench}", "--run", run, "-n", 3, "--no-progress", "--retries", 0,
                   "--timeout-s", 5, *extra, check=check, cwd=cwd)


# -- run directories ---------------------------------------------------------------------------------------


def test_a_dotted_run_name_is_a_directory(tmp_path, bench):
    run = tmp_path / "runs" / "qwen2.5-math-7b"
    comp = completions(tmp_path / "c.jsonl", [{"problem_id": "q1", "completion": "\\boxed{2}"}])
    rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", comp, "--run", run)
    assert run.is_dir() and (run / "results.sqlite").is_file()
    rlscope("boundary", "verify", "--run", run, "--no-progress")
    assert "pass@k: 1 problems" in rlscope("boundary", "passk", "--run", run, "--bootstrap", 0).stdout
    (tmp_path / "afile.db").write_text("x")
    one_line_error(rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", comp, "--run",
                           tmp_path / "afile.db", check=False), "is a file; --run names a directory")


def test_a_failed_first_command_records_nothing_and_the_corrected_rerun_works(tmp_path, bench, server):
    run = tmp_path / "run"
    proc = rlscope("boundary", "sample", "--backend", "openai", "--base-url", server.url, "--model", "typo-model",
                   "--benchmark", f"jsonl:{bench}", "--run", run, "-n", 2, "--no-progress", "--retries", 0, check=False)
    one_line_error(proc, "HTTP 404", "typo-model")
    assert stored(run) == []
    out = sample(server, bench, run)
    assert "sampled 12 new samples" in out.stdout


def test_a_run_resumes_from_another_working_directory_with_relative_paths(tmp_path, bench, server):
    (tmp_path / "elsewhere").mkdir()
    sample(server, bench, "run", "--limit", 2, cwd=tmp_path)  # jsonl:arith.jsonl is not absolute here
    rel_bench = Path("..") / bench.name
    out = rlscope("boundary", "sample", "--backend", "openai", "--base-url", server.url + "/", "--model", server.model,
                  "--benchmark", f"jsonl:{rel_bench}", "--run", "../run", "-n", 3, "--no-progress", "--retries", 0,
                  "--limit", 2, cwd=tmp_path / "elsewhere")
    assert "0 new samples (6 already stored)" in out.stdout
    one_line_error(sample(server, bench, tmp_path / "run", "--limit", 2, "--temperature", 0.2, check=False),
                   "was made with other settings", "temperature")


# -- imports -----------------------------------------------------------------------------------------------


def test_imports_are_explicit(tmp_path, bench):
    run = tmp_path / "run"
    imp = ("boundary", "import", "--benchmark", f"jsonl:{bench}", "--run", run)
    first = completions(tmp_path / "a.jsonl", [{"problem_id": "q1", "completion": "\\boxed{2}"},
                                               {"problem_id": "q1", "completion": "\\boxed{3}"}])
    assert "imported 2 completions" in rlscope(*imp, "--completions", first).stdout
    assert "imported 0 completions for 1 problems (2 already stored)" in rlscope(*imp, "--completions", first).stdout
    rlscope("boundary", "verify", "--run", run, "--no-progress")
    # a second shard without --append would overwrite samples 0 and 1: refused, with the way out
    shard = completions(tmp_path / "b.jsonl", [{"problem_id": "q1", "completion": "\\boxed{9}"}])
    one_line_error(rlscope(*imp, "--completions", shard, check=False), "1 completion(s) differ", "line 1",
                   "--replace", "--append")
    assert "imported 1 completions" in rlscope(*imp, "--completions", shard, "--append").stdout
    numbered = completions(tmp_path / "n.jsonl", [{"problem_id": "q2", "sample_idx": 5, "completion": "\\boxed{4}"}])
    rlscope(*imp, "--completions", numbered, "--append")
    assert [(p, i) for p, i, _, _ in stored(run)] == [("q1", 0), ("q1", 1), ("q1", 2), ("q2", 5)]
    # an edited file replaces only with --replace, and the replaced samples lose their verdicts
    edited = completions(tmp_path / "a.jsonl", [{"problem_id": "q1", "completion": "\\boxed{2}"},
                                                {"problem_id": "q1", "completion": "\\boxed{2} again"}])
    one_line_error(rlscope(*imp, "--completions", edited, check=False), "first: line 2, problem q1 sample 1")
    out = rlscope(*imp, "--completions", edited, "--replace")
    assert "1 replaced, their verdicts dropped" in out.stdout
    assert stored(run)[1][2] == "\\boxed{2} again"
    verify = rlscope("boundary", "verify", "--run", run, "--no-progress")
    assert "verified 3 samples" in verify.stdout  # the replaced one, the shard, the numbered one


def test_sampled_and_imported_sources_are_not_mixed(tmp_path, bench, server):
    run = tmp_path / "run"
    sample(server, bench, run, "--limit", 1)
    comp = completions(tmp_path / "c.jsonl", [{"problem_id": "q0", "completion": "x"}])
    one_line_error(rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", comp, "--run", run,
                           "--append", check=False), "holds samples drawn by `rlscope boundary sample`", "new --run")
    other = tmp_path / "imported"
    rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", comp, "--run", other)
    one_line_error(sample(server, bench, other, check=False), "holds imported completions")


def test_an_import_file_with_bad_bytes_or_values_is_named_by_line(tmp_path, bench):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"problem_id": "q1", "completion": "ok"}\n{"problem_id": "q1", "completion": "caf\xe9"}\n')
    run = tmp_path / "run"
    imp = ("boundary", "import", "--benchmark", f"jsonl:{bench}", "--run", run, "--completions")
    one_line_error(rlscope(*imp, bad, check=False), f"{bad}:2: not UTF-8 (byte 0xe9")
    neg = completions(tmp_path / "neg.jsonl", [{"problem_id": "q1", "sample_idx": -1, "completion": "x"}])
    one_line_error(rlscope(*imp, neg, check=False), f"{neg}:1: sample_idx must be an integer >= 0")
    lps = completions(tmp_path / "lps.jsonl", [{"problem_id": "q1", "completion": "x", "token_logprobs": [-0.5]},
                                               {"problem_id": "q1", "completion": "y", "token_logprobs": "-0.5"}])
    one_line_error(rlscope(*imp, lps, check=False), f"{lps}:2: problem q1: token_logprobs must be a list of numbers")
    lp = completions(tmp_path / "lp.jsonl", [{"problem_id": "q1", "completion": "x", "logprob": -2.0}])
    one_line_error(rlscope(*imp, lp, check=False), f"{lp}:1: problem q1: logprob needs a number and num_tokens a positive")
    assert not (run / "results.sqlite").exists() or stored(run) == []


# -- chat prompts ------------------------------------------------------------------------------------------


def test_chat_sends_the_question_and_instruction_and_no_chat_tokens(tmp_path, bench, server):
    sample(server, bench, tmp_path / "run", "--chat", "--limit", 1)
    call = next(c for c in server.calls if c["path"].endswith("/chat/completions"))
    assert call["messages"] == [{"role": "user", "content": "What is 0 + 0?\n" + BOXED_INSTRUCTION}]
    one_line_error(sample(server, bench, tmp_path / "run2", "--chat", "--template", "qwen-boxed", check=False),
                   "--template qwen-boxed", "chat-boxed")
    one_line_error(sample(server, bench, tmp_path / "run3", "--template", "chat-boxed", check=False), "add --chat")


# -- partial failures and time limits ----------------------------------------------------------------------


def test_every_finished_request_is_stored_when_one_fails(tmp_path, bench, server):
    run = tmp_path / "run"
    server.fail = {"What is 2 + 2?"}
    proc = sample(server, bench, run, "--concurrency", 2, check=False)
    one_line_error(proc, "HTTP 500")
    answered = [c for c in server.calls if "What is 2 + 2?" not in c["prompt"]]
    kept = stored(run)
    assert len(kept) == len(answered) >= 2 and "q2" not in {p for p, *_ in kept}  # every answered request, stored
    server.fail = set()
    calls = len(server.calls)
    assert f"sampled {12 - len(kept)} new samples ({len(kept)} already stored)" in sample(server, bench, run).stdout
    assert len(server.calls) - calls == 12 - len(kept)


def test_a_hanging_server_is_given_up_on_after_the_timeout(tmp_path, bench, server):
    server.hang = True
    t0 = time.monotonic()
    proc = sample(server, bench, tmp_path / "run", "--timeout-s", 1, "--limit", 1, check=False)
    assert time.monotonic() - t0 < 20
    one_line_error(proc, "no answer within 1s", "--timeout-s")


def test_null_text_is_an_error_and_lone_surrogates_are_stored_replaced(tmp_path, bench, server):
    server.null = {"What is 1 + 1?"}
    one_line_error(sample(server, bench, tmp_path / "run", "--limit", 2, check=False), "text is null, not a string")
    server.null, server.surrogate = set(), {"What is 0 + 0?"}
    sample(server, bench, tmp_path / "run2", "--limit", 1)
    assert all("\ufffd ->" in text for _, _, text, _ in stored(tmp_path / "run2"))


# -- one writer at a time ----------------------------------------------------------------------------------


def test_a_second_writer_stops_with_one_line_and_readers_work_alongside(tmp_path, bench):
    run = tmp_path / "run"
    comp = completions(tmp_path / "c.jsonl", [{"problem_id": "q1", "completion": "\\boxed{2}"}])
    rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", comp, "--run", run)
    rlscope("boundary", "verify", "--run", run, "--no-progress")
    fd = os.open(run / "writer.lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)  # as a running `rlscope boundary sample` holds it
    os.pwrite(fd, b"rlscope boundary sample (pid 4242)", 0)
    try:
        one_line_error(rlscope("boundary", "verify", "--run", run, "--force", check=False),
                       "is being written by rlscope boundary sample (pid 4242)")
        one_line_error(rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", comp, "--run", run,
                               check=False), "is being written by")
        assert "pass@k: 1 problems" in rlscope("boundary", "passk", "--run", run, "--bootstrap", 0).stdout
        assert len(rlscope("boundary", "export", "--run", run).stdout.splitlines()) == 1
    finally:
        os.close(fd)
    rlscope("boundary", "verify", "--run", run, "--force", "--no-progress")


# -- bad input: one line, exit 2, nothing changed ------------------------------------------------------------


@pytest.mark.parametrize("extra, expected", [
    (["-n", 0], "-n: expected at least 1 sample per problem, got 0"),
    (["-n", -3], "-n: expected at least 1"),
    (["--limit", 0], "--limit: expected at least 1 problem"),
    (["--temperature", -1], "--temperature: expected a value >= 0"),
    (["--top-p", 0], "--top-p: expected a value in (0, 1]"),
    (["--batch-size", 0], "--batch-size: expected at least 1"),
    (["--dtype", "float8"], "--dtype: expected auto | float32 | bfloat16 | float16, got 'float8'"),
    (["--device", "cuda"], "--device: expected auto or cpu: torch sees no CUDA device here"),
])
def test_bad_sampling_options_are_refused_before_anything_changes(tmp_path, bench, extra, expected):
    run = tmp_path / "run"
    proc = rlscope("boundary", "sample", "--model", "unused", "--benchmark", f"jsonl:{bench}", "--run", run, *extra,
                   check=False)
    one_line_error(proc, expected)
    assert not run.exists()


@pytest.fixture()
def verified_run(tmp_path, bench) -> Path:
    run = tmp_path / "run"
    comp = completions(tmp_path / "c.jsonl", [{"problem_id": "q1", "completion": "so \\boxed{2}"},
                                              {"problem_id": "q1", "completion": "so \\boxed{5}"},
                                              {"problem_id": "q2", "completion": "so \\boxed{4}"}])
    rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", comp, "--run", run)
    rlscope("boundary", "verify", "--run", run, "--no-progress")
    return run


def test_bad_passk_and_export_options_are_one_line(tmp_path, verified_run):
    run = verified_run
    one_line_error(rlscope("boundary", "passk", "--run", run, "--bootstrap", -1, check=False), "--bootstrap: expected 0")
    one_line_error(rlscope("boundary", "passk", "--run", run, "--confidence", 1.5, check=False), "--confidence")
    one_line_error(rlscope("boundary", "verify", "--run", run, "--force", "--workers", 0, check=False), "--workers")
    assert json.loads(rlscope("boundary", "passk", "--run", run, "--json", "--bootstrap", 0).stdout)["problems"] == 2
    for out, expected in [(tmp_path / "missing" / "x.jsonl", "a file in an existing directory"),
                          (tmp_path, "a file path, not a directory"),
                          (tmp_path / "x.txt", "a file ending in .jsonl, .json, .csv, .parquet")]:
        one_line_error(rlscope("boundary", "export", "--run", run, "--out", out, check=False), "--out", expected)
    assert not (tmp_path / "x.txt").exists()


def test_a_foreign_or_truncated_store_is_one_line(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.sqlite").write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)  # truncated
    one_line_error(rlscope("boundary", "passk", "--run", run, check=False), "not a readable rlscope results store")
    other = tmp_path / "other"
    other.mkdir()
    con = sqlite3.connect(other / "results.sqlite")
    con.execute("CREATE TABLE generations (x INTEGER)")
    con.commit()
    con.close()
    one_line_error(rlscope("boundary", "passk", "--run", other, check=False), "a results store of another kind")


def test_a_data_file_with_the_wrong_schema_is_one_line(tmp_path):
    data = tmp_path / "test.jsonl"
    data.write_text(json.dumps({"prompt": "What?", "solution": "4"}) + "\n")
    proc = rlscope("boundary", "sample", "--model", "unused", "--benchmark", "math500", "--data", data, "--run",
                   tmp_path / "run", check=False)
    one_line_error(proc, str(data))


def test_json_piped_into_head_ends_quietly(verified_run):
    proc = subprocess.run(f"{sys.executable} -m rlscope boundary passk --run {verified_run} --json | head -c 20",
                          shell=True, capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.stdout.startswith("{") and "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr


# -- what passk and export say -----------------------------------------------------------------------------


def test_passk_names_problems_without_samples_or_verdicts(verified_run, bench, tmp_path):
    proc = rlscope("boundary", "passk", "--run", verified_run, "--bootstrap", 0)
    assert "warning: 2 of 4 problems in the run have no samples" in proc.stderr
    more = completions(tmp_path / "m.jsonl", [{"problem_id": "q3", "completion": "so \\boxed{6}"}])
    rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", more, "--run", verified_run, "--append")
    res = json.loads(rlscope("boundary", "passk", "--run", verified_run, "--json", "--bootstrap", 0).stdout)
    assert (res["problems_without_samples"], res["problems_without_verdicts"], res["problems"]) == (1, 1, 2)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_export_carries_gold_verdict_and_provenance_in_the_format_of_its_suffix(verified_run, tmp_path, suffix):
    out = tmp_path / f"samples{suffix}"
    assert "wrote 3 samples" in rlscope("boundary", "export", "--run", verified_run, "--out", out).stdout
    if suffix == ".jsonl":
        records = [json.loads(line) for line in out.read_text().splitlines()]
    elif suffix == ".csv":
        import csv

        records = list(csv.DictReader(out.open()))
    else:
        import pyarrow.parquet as pq

        records = pq.read_table(out).to_pylist()
    assert list(records[0]) == list(EXPORT_FIELDS)
    first, second = records[0], records[1]
    assert (first["problem_id"], str(first["gold"]), first["extracted"], str(first["correct"])) == ("q1", "2", "2", "True")
    assert str(second["correct"]) == "False" and second["reason"] and first["source"] == "import"


def test_an_export_imports_back_with_its_sample_indices(tmp_path, bench):
    run = tmp_path / "run"
    shard = completions(tmp_path / "s.jsonl", [{"problem_id": "q1", "sample_idx": 7, "completion": "\\boxed{2}"},
                                               {"problem_id": "q1", "sample_idx": 3, "completion": "\\boxed{1}"}])
    rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", shard, "--run", run)
    rlscope("boundary", "export", "--run", run, "--out", tmp_path / "out.jsonl")
    again = tmp_path / "again"
    rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", tmp_path / "out.jsonl", "--run", again)
    assert stored(again) == stored(run) and [i for _, i, _, _ in stored(run)] == [3, 7]


def test_answers_lists_each_problems_answers_and_flags(tmp_path, bench):
    lines = [{"problem_id": "q1", "completion": "so \\boxed{2}"}] * 3 + [{"problem_id": "q1", "completion": "so \\boxed{3}"}]
    lines += [{"problem_id": "q2", "completion": "I cannot tell"}] * 3 + [{"problem_id": "q2", "completion": "\\boxed{4}"}]
    run = tmp_path / "run"
    rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", completions(tmp_path / "c.jsonl", lines),
            "--run", run)
    rlscope("boundary", "verify", "--run", run, "--no-progress")
    out = rlscope("boundary", "answers", "--run", run).stdout
    assert "problem q1: gold '2', 4 samples, 2 distinct answers" in out
    assert "flag: no answer could be extracted from 3 of 4 samples" in out and "1 of 2 problems flagged" in out
    data = json.loads(rlscope("boundary", "answers", "--run", run, "--problem", "q1", "--json").stdout)
    assert [(a["answer"], a["count"], a["correct"]) for a in data[0]["answers"]] == [("2", 3, 3), ("3", 1, 0)]
    flagged = json.loads(rlscope("boundary", "answers", "--run", run, "--flagged", "--json").stdout)
    assert [p["problem_id"] for p in flagged] == ["q2"]
    one_line_error(rlscope("boundary", "answers", "--run", run, "--problem", "nope", check=False), "no samples of problem 'nope'")


def test_an_unparsable_gold_is_named_by_problem(tmp_path):
    bench = tmp_path / "b.jsonl"
    bench.write_text(json.dumps({"id": "ok", "question": "?", "answer": "2"}) + "\n"
                     + json.dumps({"id": "broken-gold", "question": "?", "answer": "\\text{}"}) + "\n")
    comp = completions(tmp_path / "c.jsonl", [{"problem_id": "ok", "completion": "\\boxed{2}"},
                                              {"problem_id": "broken-gold", "completion": "\\boxed{7}"}])
    run = tmp_path / "run"
    rlscope("boundary", "import", "--benchmark", f"jsonl:{bench}", "--completions", comp, "--run", run)
    proc = rlscope("boundary", "verify", "--run", run, "--no-progress")
    assert "warning: error: gold unparsable on 1 problem(s): broken-gold" in proc.stderr


def test_a_run_extended_to_more_problems_stores_them_and_verifies(tmp_path, bench, server):
    """A second `sample` with a larger --limit adds problems to a recorded run: they are stored with it."""
    run = tmp_path / "run"
    sample(server, bench, run, "--limit", 2)
    sample(server, bench, run, "--limit", 4)
    assert "verified 12 samples" in rlscope("boundary", "verify", "--run", run, "--no-progress").stdout
    res = json.loads(rlscope("boundary", "passk", "--run", run, "--json", "--bootstrap", 0).stdout)
    assert (res["problems"], res["problems_in_run"]) == (4, 4)
