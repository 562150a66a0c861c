"""The reward search (rlscope.gen2sim.search): a language model's candidates through the real OpenAI client against a
real loopback server that replays answers (tests/data/llm/reflection), validated in the sandbox, trained side by
side, judged by the sub-task's own test, reflected on; the offline proposer's variants through `gen2sim run`, killed
and resumed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlscope.llm.base import sample_seed
from rlscope.llm.chat import SEED_STREAM
from rlscope.llm.record import RecordedResponses, ReplayServer
from rlscope.sandbox.probe import probe

DATA = Path(__file__).resolve().parents[1] / "data" / "llm" / "reflection"
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MUJOCO_GL": "egl"}
needs_sandbox = pytest.mark.skipif(probe().bwrap is None, reason="bubblewrap is not usable here")


class AnswersByRound(RecordedResponses):
    """``round{R}_c{I}.md``: round 2 once the request carries round 1's feedback; I from the request's seed."""

    def find(self, body):
        text = body["messages"][-1]["content"]
        r = 2 if "Round 1 of sub-task" in text else 1
        i = next(i for i in range(8) if sample_seed(0, SEED_STREAM, i) == body["seed"])
        answer = (DATA / f"round{r}_c{i}.md").read_text()
        return {"choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}]}


@needs_sandbox
def test_llm_candidates_reflect_on_a_failed_round_and_keep_the_better_candidate(tmp_path, monkeypatch):
    from rlscope.gen2sim.pipeline import RunConfig
    from rlscope.gen2sim.report import write_report
    from rlscope.gen2sim.search import SearchConfig, search_rewards

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-unused")
    with ReplayServer(AnswersByRound(source=str(DATA))) as server:
        llm = f"openai:replayed@{server.url}"
        cfg = SearchConfig(candidates=2, rounds=2, candidate_fraction=1.0, candidate_episodes=20, success_at=0.2,
                           rewards=llm)
        ctx = RunConfig(out=tmp_path, steps=49152)
        lines: list[str] = []
        t0 = time.perf_counter()
        chosen = search_rewards(DATA / "open_drawer_a_little", tmp_path / "candidates", cfg, ctx, lines.append)
        seconds = time.perf_counter() - t0
        assert len(server.requests) == 4  # two answers per round
        first, second = server.requests[0]["messages"], server.requests[2]["messages"]

    # round 2's prompt: round 1's request, the best answer of round 1, then its statistics and errors
    assert second[:len(first)] == first and second[len(first)]["role"] == "assistant"
    assert second[len(first)]["content"] == (DATA / "round1_c0.md").read_text()
    feedback = second[-1]["content"]
    assert "Round 1 of sub-task open: 2 candidate reward(s), each trained for 49,152 environment steps" in feedback
    assert "Statistics of the best, candidate 0" in feedback and "reward term 'side':" in feedback
    side = next(ln for ln in feedback.splitlines() if "reward term 'side':" in ln)
    tenths, summary = side.split(":", 1)[1].split("|")
    assert len(tenths.split()) == 10 and "mean" in summary and "min" in summary and "max" in summary
    assert "AxisError" in feedback  # the traceback of the candidate that failed
    assert "Guidance:" in feedback and "The term 'side' makes" in feedback and "drop or rewrite them" in feedback
    assert "Candidate 1 (answer 1): rejected by validation: " in feedback
    assert "success rate:" in feedback and "episodic return:" in feedback and "Episodes last 100 steps" in feedback
    # the success test shown is the task's, not a candidate's
    assert "SUCCESS = 0.1" in first[-1]["content"] and "return state.joint(JOINT).fraction >= SUCCESS" in first[-1]["content"]

    search = json.loads((tmp_path / "candidates" / "search.json").read_text())
    r1, r2 = search["subtasks"]["open"]
    assert r1["n"] == 2 and r1["c"] == 0 and r1["passk"] == {"1": 0.0, "2": 0.0}
    assert r2["c"] >= 1 and r2["passk"]["2"] == 1.0
    if r2["c"] == 1:  # by hand: pass@1 = c / n
        assert r2["passk"]["1"] == 0.5
    failed = next(c for c in r1["candidates"] if c["idx"] == 1)
    assert not failed["validation"]["ok"] and "AxisError" in " ".join(failed["validation"]["problems"])
    base = next(c for c in r1["candidates"] if c.get("baseline"))
    assert base["eval"]["honest_success_rate"] > 0.2  # the proposed code, on the same budget, beside the candidates
    assert search["chosen"]["open"]["round"] == 2 and search["chosen"]["open"]["idx"] == 0
    good = next(c for c in r2["candidates"] if c["idx"] == 0)
    assert good["eval"]["honest_success_rate"] > max(c["eval"]["honest_success_rate"] for c in r1["candidates"]
                                                     if c.get("eval") and not c.get("baseline"))
    code = (chosen / "open.py").read_text()
    assert '"grasp": 0.25 * grasp' in code and "def is_success(state):\n    return task_is_success(state)" in code
    assert "fraction > 0.0" not in (tmp_path / "candidates" / "open" / "round_1" / "tasks" / "open-1" / "open.py").read_text()
    for r in (1, 2):  # every round's prompt and reflection kept beside its candidates
        assert (tmp_path / "candidates" / "open" / f"round_{r}" / "prompt_open.md").exists()
        assert (tmp_path / "candidates" / "open" / f"round_{r}" / "feedback_open.md").exists()
    assert any("round 2: pass@1" in ln for ln in lines)
    print(f"two rounds of 2 candidates (+ the baseline) in {seconds:.0f} s")

    # the report of a run of the chosen task shows every round, its prompts and the code collapsed
    summary = {"task_id": "open_drawer_a_little", "subtasks": [], "chain": None, "search": search}
    run = tmp_path / "run"
    run.mkdir()
    (run / "summary.json").write_text(json.dumps(summary))
    html = write_report(run).read_text()
    assert "Reward search" in html and "open: round 2" in html and "<summary>code of candidate 0</summary>" in html
    assert "reflection on the round" in html and "AxisError" in html


def _rlscope(*args, cwd, **kw):
    return subprocess.Popen([sys.executable, "-m", "rlscope", *map(str, args)], cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


@needs_sandbox
def test_offline_search_killed_mid_candidate_resumes_without_retraining(tmp_path):
    """`gen2sim run --candidates 3 --rounds 1`, one short training at a time: killed while the second candidate
    trains, rerun; the first is not retrained, the second continues from its checkpoint."""
    args = ["gen2sim", "run", "--out", "g", "--tasks", "open_cabinet_drawer_0", "--steps", 16384, "--candidates", 3,
            "--rounds", 1, "--candidate-fraction", 1.0, "--candidate-workers", 1, "--candidate-episodes", 4, "--episodes", 4,
            "--ppo.num-envs", 32, "--ppo.rollout-steps", 16, "--no-video", "--no-progress"]
    runs = tmp_path / "g" / "runs" / "open_cabinet_drawer_0" / "candidates" / "open_drawer_0" / "round_1" / "runs"
    first, second = runs / "open_drawer_0-0", runs / "open_drawer_0-1" / "subtasks" / "open_drawer_0"
    proc = _rlscope(*args, cwd=tmp_path)
    deadline = time.monotonic() + 300
    while not ((first / "summary.json").exists() and (second / "checkpoint.pt").exists()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    import torch

    ck = torch.load(second / "checkpoint.pt", weights_only=False)["update"]
    finished = (first / "summary.json").stat().st_mtime_ns
    before = (second / "metrics.jsonl").read_text().splitlines()
    assert not (runs / "open_drawer_0-1" / "summary.json").exists()

    proc = _rlscope(*args, cwd=tmp_path)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert (first / "summary.json").stat().st_mtime_ns == finished  # not retrained
    after = (second / "metrics.jsonl").read_text().splitlines()
    assert ck in (10, 20, 30) and len(before) >= ck
    assert after[:ck] == before[:ck]  # resumed from its checkpoint: those rows (their timings too) were not rewritten
    assert [json.loads(x)["update"] for x in after] == list(range(1, 33))  # 16384 steps of 512: 32 updates, each once
    search = json.loads((tmp_path / "g" / "runs" / "open_cabinet_drawer_0" / "candidates" / "search.json").read_text())
    (rd,) = search["subtasks"]["open_drawer_0"]
    assert [c["what"] for c in rd["candidates"]] == ["as proposed", "open x3", "grasp x3, reach x3"]
    assert all(c.get("eval") for c in rd["candidates"])
    report = (tmp_path / "g" / "runs" / "open_cabinet_drawer_0" / "report.md").read_text()
    assert "## Reward search" in report and "open_drawer_0: round 1" in report


@needs_sandbox
def test_candidates_train_as_ray_tasks(tmp_path):
    """With --ray, a round's short trainings are Ray tasks (rlscope.gen2sim.ray_train) on a real local Ray."""
    pytest.importorskip("ray", reason="Ray (pip install 'rlscope[ray]') is required")
    from rlscope.gen2sim.pipeline import RunConfig, resolve_task_dir
    from rlscope.gen2sim.search import SearchConfig, search_rewards

    cfg = SearchConfig(candidates=2, rounds=1, candidate_episodes=4)
    chosen = search_rewards(resolve_task_dir("open_drawer"), tmp_path / "candidates", cfg,
                            RunConfig(out=tmp_path, steps=4096, ray="local"))
    (rd,) = json.loads((chosen / "search.json").read_text())["subtasks"]["open_drawer"]
    assert [c["what"] for c in rd["candidates"]] == ["as proposed", "open x3"]
    for c in rd["candidates"]:
        assert c["eval"]["episodes"] == 4 and c["train"]["steps"] == 2048 and c["stats"]["updates"] == 1  # half of 4096: one batch
        assert (tmp_path / "candidates" / "open_drawer" / "round_1" / "runs" / f"open_drawer-{c['idx']}" / "summary.json").exists()


@needs_sandbox
def test_ablate_decomposition_same_budget_side_by_side(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rlscope", "gen2sim", "ablate-decomposition", "put_cube_in_drawer", "--out",
                           "ab", "--steps", "2048", "--episodes", "4", "--no-progress"], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads((tmp_path / "ab" / "ablation.json").read_text())
    d, u = res["decomposed"], res["undecomposed"]
    assert d["subtasks"] == ["open", "place", "close"] and u["subtasks"] == ["whole"]
    assert d["train_steps"] == u["train_steps"] == 3 * 2048  # the same total budget
    assert d["episodes"] == u["episodes"] == 4 and len(d["per_stage_success"]) == 3
    whole = json.loads((tmp_path / "ab" / "runs" / "undecomposed" / "task" / "task.json").read_text())["subtasks"][0]
    assert whole["episode_steps"] == 80 + 100 + 80 and whole["train_steps"] == 200_000 + 800_000 + 300_000
    assert "decomposed" in proc.stdout and "undecomposed" in proc.stdout and "honest success" in proc.stdout
    md = (tmp_path / "ab" / "ablation.md").read_text()
    assert f"honest success {d['honest_success_rate']:.2f} over 4 episodes" in md
    assert "runs/undecomposed/report.html" in (tmp_path / "ab" / "ablation.html").read_text()
    bad = subprocess.run([sys.executable, "-m", "rlscope", "gen2sim", "ablate-decomposition", "open_drawer", "--out", "x"],
                         cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "has one sub-task: nothing to ablate" in bad.stderr


@needs_sandbox
def test_stages_are_searched_in_order_and_full_training_continues_the_chosen_policy(tmp_path):
    """A later stage's candidates start where the earlier stage's chosen candidate ended its evaluation; the full
    training continues the chosen candidate's policy (its metrics rows kept, not retrained)."""
    import numpy as np

    from rlscope.gen2sim.pipeline import RunConfig, TrainTaskConfig, resolve_task_dir, run_train
    from rlscope.gen2sim.search import POLICIES, SearchConfig, search_rewards

    where = tmp_path / "candidates"
    cfg = SearchConfig(candidates=2, rounds=1, candidate_episodes=6)
    chosen = search_rewards(resolve_task_dir("put_cube_in_drawer"), where, cfg, RunConfig(out=tmp_path, steps=4096))
    search = json.loads((chosen / "search.json").read_text())
    assert list(search["subtasks"]) == ["open", "place", "close"]
    assert not (where / "open" / "start_states.npy").exists()  # the first stage starts from its own start states
    for prev, name in (("open", "place"), ("place", "close")):
        pick = search["chosen"][prev]
        ended = where / prev / "round_1" / "runs" / f"{prev}-{pick['idx']}" / "subtasks" / prev
        states, ok = np.load(ended / "end_states.npy"), np.load(ended / "end_success.npy")
        starts = np.load(where / name / "start_states.npy")
        np.testing.assert_array_equal(starts, states[ok] if ok.any() else states)
        for c in search["subtasks"][name][0]["candidates"]:
            run = where / name / "round_1" / "runs" / f"{name}-{c['idx']}"
            first = np.load(run / "subtasks" / name / "frames.npz")["states"][0]  # the recorded episode's start
            assert np.isclose(starts[:, 1:], first[1:], atol=1e-9).all(axis=1).any()  # one of them (time reset to 0)

    full = run_train(TrainTaskConfig(task=str(chosen), out=tmp_path / "full", steps=4096, episodes=4, video=False,
                                     report=False, progress=False, warm_start=chosen / POLICIES))
    for sub in full["subtasks"]:
        pick = search["chosen"][sub["name"]]
        short = where / sub["name"] / "round_1" / "runs" / f"{sub['name']}-{pick['idx']}" / "subtasks" / sub["name"]
        before = (short / "metrics.jsonl").read_text().splitlines()
        after = (tmp_path / "full" / "subtasks" / sub["name"] / "metrics.jsonl").read_text().splitlines()
        assert len(before) == 1 and after[:1] == before  # the candidate's update, continued
        assert [json.loads(x)["update"] for x in after] == [1, 2] and sub["train"]["steps"] == 4096
        assert sub["train"]["warm_start"]["steps"] == 2048 == pick["train"]["steps"]
    from rlscope.gen2sim.report import findings

    said = findings(full, {})
    assert "place: the full training continued the reward search's chosen candidate from its 2,048 steps" in " ".join(said)
