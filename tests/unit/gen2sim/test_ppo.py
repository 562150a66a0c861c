"""PPO pieces against hand-computed tables and brute force."""

import numpy as np
import pytest
import torch

from rlscope.gen2sim.rl.ppo import (RewardScaler, RunningMeanStd, approx_kl, clipped_policy_loss, gae, value_loss)


def test_gae_hand_computed_table():
    # one env, three steps, episode ends after step 1 (index 1); gamma 0.5, lambda 0.5
    r = torch.tensor([[1.0], [2.0], [3.0]])
    v = torch.tensor([[0.5], [1.0], [2.0]])
    done = torch.tensor([[0.0], [1.0], [0.0]])
    nv = torch.tensor([4.0])
    adv, ret = gae(r, v, done, nv, gamma=0.5, lam=0.5)
    d2 = 3 + 0.5 * 4 - 2  # 3.0
    a2 = d2
    d1 = 2 - 1.0  # episode ended: no bootstrap
    a1 = d1
    d0 = 1 + 0.5 * 1.0 - 0.5  # 1.0
    a0 = d0 + 0.25 * a1  # 1.25
    assert adv[:, 0].tolist() == pytest.approx([a0, a1, a2])
    assert ret[:, 0].tolist() == pytest.approx([a0 + 0.5, a1 + 1.0, a2 + 2.0])


def test_gae_matches_brute_force_returns_with_lambda_one():
    g = torch.Generator().manual_seed(0)
    T, N = 7, 3
    r, v = torch.rand(T, N, generator=g), torch.rand(T, N, generator=g)
    done = (torch.rand(T, N, generator=g) < 0.3).float()
    nv = torch.rand(N, generator=g)
    _, ret = gae(r, v, done, nv, gamma=0.9, lam=1.0)
    for n in range(N):  # lambda = 1: the discounted return, bootstrapped only at the rollout end
        acc = nv[n].item()
        for t in range(T - 1, -1, -1):
            acc = r[t, n].item() + 0.9 * acc * (1 - done[t, n].item())
            assert ret[t, n].item() == pytest.approx(acc, rel=1e-5)


@pytest.mark.parametrize("ratio, adv, expected", [
    (1.5, 1.0, -1.2),  # positive advantage: the gain is clipped at 1 + eps
    (0.5, 1.0, -0.5),  # positive advantage, ratio fell: unclipped (pessimistic)
    (0.5, -1.0, 0.8),  # negative advantage: clipped at 1 - eps
    (1.5, -1.0, 1.5),  # negative advantage, ratio rose: unclipped
])
def test_clipped_policy_loss_table(ratio, adv, expected):
    old = torch.tensor([0.0])
    logp = torch.log(torch.tensor([ratio]))
    assert clipped_policy_loss(logp, old, torch.tensor([adv]), 0.2).item() == pytest.approx(expected, rel=1e-6)


def test_value_loss_clipping_and_kl():
    v, old, ret = torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([3.0])
    assert value_loss(v, old, ret, None).item() == pytest.approx(0.5)
    # clipped prediction 0.2 is further from the return: max picks it
    assert value_loss(v, old, ret, 0.2).item() == pytest.approx(0.5 * (3.0 - 0.2) ** 2)
    assert approx_kl(torch.zeros(4), torch.zeros(4)).item() == 0.0
    assert approx_kl(torch.tensor([0.1]), torch.tensor([0.0])).item() > 0


def test_running_mean_std_matches_numpy_over_batches():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, size=(1000, 4))
    rms = RunningMeanStd((4,))
    for chunk in np.array_split(x, 7):
        rms.update(chunk)
    assert np.allclose(rms.mean, x.mean(0), atol=1e-3)
    assert np.allclose(rms.var, x.var(0), rtol=1e-3)
    z = rms.normalize(x)
    assert np.allclose(z.mean(0), 0, atol=1e-2) and np.allclose(z.std(0), 1, atol=1e-2)
    clone = RunningMeanStd((4,))
    clone.load_state_dict(rms.state_dict())
    assert np.array_equal(clone.normalize(x), z)


def test_reward_scaler_divides_by_return_std():
    s = RewardScaler(num_envs=2, gamma=0.0)  # gamma 0: the "return" is the reward itself
    rng = np.random.default_rng(1)
    for _ in range(2000):
        out = s(rng.normal(0, 5.0, 2), np.zeros(2, dtype=bool))
    assert np.sqrt(s.rms.var) == pytest.approx(5.0, rel=0.05)
    assert abs(out).max() < 10.0


def test_gaussian_logp_matches_torch_normal():
    from rlscope.gen2sim.rl.ppo import gaussian_logp

    g = torch.Generator().manual_seed(0)
    mean, a = torch.randn(7, 4, generator=g), torch.randn(7, 4, generator=g)
    log_std = torch.tensor([-0.5, 0.0, 0.3, -1.2])
    want = torch.distributions.Normal(mean, log_std.exp()).log_prob(a).sum(-1)
    assert torch.allclose(gaussian_logp(a, mean, log_std), want, atol=1e-5)


def test_numpy_snapshot_acts_like_the_network_and_stays_frozen():
    from rlscope.gen2sim.rl.ppo import ActorCritic, gaussian_logp

    torch.manual_seed(0)
    net = ActorCritic(9, 4, hidden=16)
    with torch.no_grad():
        net.actor[-1].weight.normal_()  # a policy whose mean is not ~0
        net.log_std.copy_(torch.tensor([-0.5, -0.2, 0.1, -1.0]))
    snap = net.snapshot()
    x = np.random.default_rng(1).standard_normal((5, 9)).astype(np.float32)
    xt = torch.from_numpy(x)
    with torch.no_grad():
        mean, value = net.actor(xt).numpy(), net.value(xt).numpy()
    np.testing.assert_allclose(snap.mean(x), mean, atol=1e-5)
    np.testing.assert_allclose(snap.value(x), value, atol=1e-5)
    a, logp, _ = snap.act(x, np.random.default_rng(2))
    assert a.dtype == np.float32 and not np.allclose(a, mean)
    with torch.no_grad():  # the log-probability it reports is the network's for the action it took
        want = gaussian_logp(torch.from_numpy(a), torch.from_numpy(mean), net.log_std).numpy()
    np.testing.assert_allclose(logp, want, atol=1e-4)
    with torch.no_grad():
        for q in net.parameters():
            q.add_(1.0)
    np.testing.assert_allclose(snap.mean(x), mean, atol=1e-5)  # a copy: the network's update did not reach it


def test_ppo_update_raises_the_probability_of_advantaged_actions():
    from rlscope.gen2sim.rl.ppo import ActorCritic, PPOConfig, gaussian_logp
    from rlscope.gen2sim.rl.train import Batch, ppo_update

    torch.manual_seed(0)
    net = ActorCritic(3, 4, hidden=16)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    n = 256
    g = torch.Generator().manual_seed(0)
    obs = torch.randn(n, 3, generator=g)
    with torch.no_grad():
        act = net.actor(obs) + 0.5 * torch.randn(n, 4, generator=g)
        logp = gaussian_logp(act, net.actor(obs), net.log_std)
    adv = act[:, 0].clone()  # actions with a larger first component were better
    b = Batch(obs, act, logp, torch.zeros(n), adv, torch.zeros(n))
    stats = ppo_update(net, opt, b, PPOConfig(epochs=4, minibatches=4), torch.Generator().manual_seed(1))
    with torch.no_grad():
        new_logp = gaussian_logp(act, net.actor(obs), net.log_std)
    gain = ((new_logp - logp) * adv).mean()
    assert gain > 0  # log-probability moved towards positive advantages
    assert set(stats) == {"losses/policy", "losses/value", "losses/approx_kl", "losses/clipfrac"}
    assert 0.0 <= stats["losses/clipfrac"] <= 1.0 and stats["losses/approx_kl"] >= 0.0


@pytest.mark.parametrize("overlap", [False, True])
def test_training_loop_resumes_where_it_stopped(tmp_path, overlap):
    """Both schedules (update after collecting; update while the next batch is collected) write one
    metrics row per update, checkpoint, and a run cut short resumes to the same number of updates."""
    import json

    from rlscope.gen2sim.pipeline import resolve_task_dir
    from rlscope.gen2sim.rl.ppo import PPOConfig
    from rlscope.gen2sim.rl.train import TrainConfig, make_envs, train
    from rlscope.gen2sim.sim.scene import build_scene
    from rlscope.gen2sim.tasks.task import compile_code, load_task

    task = load_task(resolve_task_dir("open_drawer"))
    scene, sub = build_scene(task.scene, task.root), task.subtasks[0]
    code = compile_code(sub)
    ppo = PPOConfig(num_envs=8, rollout_steps=8, epochs=2, minibatches=2, overlap=overlap)
    short = TrainConfig(total_steps=64 * 3, nthread=1, checkpoint_every=3, progress=False, ppo=ppo)
    train(make_envs(scene, sub, code, short), short, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [1, 2, 3]
    assert all(r["losses/approx_kl"] >= 0 for r in rows)
    (tmp_path / "result.json").unlink()  # as if it had been killed after the checkpoint at update 3
    full = TrainConfig(total_steps=64 * 5, nthread=1, checkpoint_every=3, progress=False, ppo=ppo)
    res = train(make_envs(scene, sub, code, full), full, tmp_path)
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["update"] for r in rows] == [1, 2, 3, 4, 5] and res.steps == 64 * 5


def test_training_runs_numpys_blas_on_one_thread_and_gives_it_back(tmp_path, monkeypatch):
    """OpenBLAS's second thread only cost CPU for the policy's small products; the limit ends with training."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from rlscope.gen2sim.pipeline import resolve_task_dir
    from rlscope.gen2sim.rl import train as train_mod
    from rlscope.gen2sim.rl.ppo import PPOConfig
    from rlscope.gen2sim.sim.scene import build_scene
    from rlscope.gen2sim.tasks.task import compile_code, load_task

    def blas_threads():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    if not blas_threads():
        pytest.skip("NumPy here has no BLAS that threadpoolctl can see")
    seen = []
    real_update = train_mod.ppo_update

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return real_update(*args, **kwargs)

    monkeypatch.setattr(train_mod, "ppo_update", spy)
    task = load_task(resolve_task_dir("open_drawer"))
    scene, sub = build_scene(task.scene, task.root), task.subtasks[0]
    cfg = train_mod.TrainConfig(total_steps=64, nthread=1, progress=False,
                                ppo=PPOConfig(num_envs=8, rollout_steps=8, epochs=1, minibatches=2))
    with threadpool_limits(limits=2, user_api="blas"):
        train_mod.train(train_mod.make_envs(scene, sub, compile_code(sub), cfg), cfg, tmp_path)
        assert blas_threads() == {2}  # given back
    assert seen == [{1}]


def test_evaluation_with_sampled_actions_is_reproducible_from_its_seed():
    """The evaluated (sampled) policy draws its action noise from the evaluation's seed, not torch's global stream:
    the same policy and seed give the same episodes, whatever ran before."""
    from pathlib import Path

    from rlscope.gen2sim.pipeline import STANDARD_DIR
    from rlscope.gen2sim.rl.evaluate import evaluate, evaluate_chain
    from rlscope.gen2sim.rl.ppo import ActorCritic, Policy
    from rlscope.gen2sim.sim.env import observation_size
    from rlscope.gen2sim.sim.scene import build_scene
    from rlscope.gen2sim.tasks.task import compile_code, load_task

    task = load_task(STANDARD_DIR / "put_cube_in_drawer")
    scene = build_scene(task.scene, Path(task.root))
    subs = list(task.subtasks[:2])
    codes = [compile_code(s) for s in subs]
    torch.manual_seed(0)
    policies = [Policy(ActorCritic(observation_size(s), 4, 32, 0.0), None) for s in subs]

    def once(seed, churn):
        torch.rand(churn)  # other work moves torch's global random stream
        res = evaluate(scene, subs[0], codes[0], policies[0], episodes=6, seed=seed, record=0, nthread=1)
        chain = evaluate_chain(scene, subs, codes, policies, episodes=6, seed=seed, record=0, nthread=1)
        return res.returns, chain.stages[-1].end_states

    a, b, c = once(3, 1), once(3, 17), once(4, 1)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
