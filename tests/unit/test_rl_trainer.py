"""The shared RL loop on a tiny untrained organism model: every algorithm runs, checkpoints, resumes."""

import json

import pytest
import torch

from rlscope.boundary.organism.model import OrganismModelConfig, build_model, build_tokenizer
from rlscope.boundary.rl.trainer import RLConfig, build_batch, train


@pytest.fixture(scope="module")
def organism_model(tmp_path_factory):
    torch.set_num_threads(1)
    tok = build_tokenizer()
    model = build_model(OrganismModelConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64), tok)
    path = tmp_path_factory.mktemp("org") / "model"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def cfg(model, out, algo, **kw):
    base = dict(model=str(model), out=out, algo=algo, steps=2, save_steps=(1, 2), prompts_per_step=2, group_size=2,
                max_new_tokens=12, train_problems=50, progress=False)
    base.update(kw)
    return RLConfig(**base)


@pytest.mark.parametrize("algo", ["grpo", "dr_grpo", "ppo", "rloo", "reinforce_pp", "remax", "dapo"])
def test_every_algorithm_trains_and_checkpoints(organism_model, tmp_path, algo):
    kl = 0.05 if algo in ("grpo", "ppo", "reinforce_pp") else 0.0
    res = train(cfg(organism_model, tmp_path / algo, algo, kl_coef=kl))
    assert res["step"] == 2
    lines = [json.loads(x) for x in (tmp_path / algo / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2]
    assert all(0.0 <= r["charts/reward_mean"] <= 1.0 for r in lines)
    assert all("losses/policy" in r and r["losses/grad_norm"] == r["losses/grad_norm"] for r in lines)
    if kl:
        assert "charts/kl" in lines[0]
    for step in (1, 2):
        assert (tmp_path / algo / f"step_{step}" / "model.safetensors").exists()
    assert (tmp_path / algo / "latest" / "trainer_state.pt").exists()


def test_resume_continues_from_latest(organism_model, tmp_path):
    out = tmp_path / "run"
    train(cfg(organism_model, out, "grpo", steps=2, save_steps=(2,)))
    res = train(cfg(organism_model, out, "grpo", steps=3, save_steps=(2, 3)))
    steps = [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert res["step"] == 3 and steps == [1, 2, 3]  # step 3 only was added
    again = train(cfg(organism_model, out, "grpo", steps=3, save_steps=(2, 3)))
    assert again["step"] == 3 and len((out / "metrics.jsonl").read_text().splitlines()) == 3


def test_build_batch_positions_point_at_each_completion_token():
    ids, attn, pos = build_batch([[5, 6, 7], [8]], torch.tensor([[1, 2], [3, 4]]), pad_id=0)
    assert ids.tolist() == [[5, 6, 7, 1, 2], [8, 3, 4, 0, 0]]
    assert attn.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
    assert pos.tolist() == [[2, 3], [0, 1]]  # the logit at position p predicts token p + 1


def test_kill9_mid_training_resumes_without_duplicate_steps(organism_model, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "killed"
    code = (
        "from pathlib import Path\nfrom rlscope.boundary.rl.trainer import RLConfig, train\n"
        "if __name__ == '__main__':\n"
        f"    train(RLConfig(model={str(organism_model)!r}, out=Path({str(out)!r}), steps=40, save_steps=(40,), resume_every=3,"
        " prompts_per_step=2, group_size=2, max_new_tokens=12, train_problems=50, progress=False))\n"
    )
    script = tmp_path / "run.py"
    script.write_text(code)
    proc = subprocess.Popen([sys.executable, str(script)])
    metrics = out / "metrics.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        n = len(metrics.read_text().splitlines()) if metrics.exists() else 0
        if n >= 5:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = len(metrics.read_text().splitlines())
    assert 5 <= killed_at < 40
    subprocess.run([sys.executable, str(script)], check=True)
    steps = [json.loads(x)["step"] for x in metrics.read_text().splitlines()]
    assert steps == list(range(1, 41))
