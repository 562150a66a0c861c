"""The one RL trainer loop shared by every algorithm: sample groups -> verify -> advantages -> update.

Top to bottom, per step: draw ``P`` training problems, sample ``G`` answers each from the
policy, reward them with the boundary's verifier, compute reference/critic quantities the
algorithm needs, its advantages, and take ``ppo_epochs`` passes of clipped policy-gradient
updates. Checkpoints are atomic; a killed run resumes from the latest one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import time
from pathlib import Path

import torch

from rlscope.boundary.benchmarks.base import Problem
from rlscope.boundary.rl.advantages import masked_mean
from rlscope.boundary.rl.algorithms import Algorithm, get_algorithm
from rlscope.boundary.rl.losses import kl_penalty, policy_loss, token_logprobs, value_loss
from rlscope.checkpoint import load_state, rng_state, save_checkpoint, set_rng_state, truncate_metrics
from rlscope.errors import RlscopeError
from rlscope.llm.base import SampleRequest, SamplingParams

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class RLConfig:
    """`rlscope boundary train`: RL with verifiable rewards on the organism task (or any JSONL math set)."""

    model: str
    """Initial policy (an HF model folder); also the KL reference."""
    out: Path
    """Output folder: step_<k>/ checkpoints, latest/ (resume), metrics.jsonl."""
    algo: str = "grpo"
    """grpo | dr_grpo | ppo | rloo | reinforce_pp | remax | dapo, or module:object."""
    steps: int = 150
    """Optimizer steps (one batch of P x G samples each)."""
    save_steps: tuple[int, ...] = (50, 100, 150)
    """Steps at which to keep a checkpoint step_<k>/."""
    prompts_per_step: int = 16
    """P: problems per step."""
    group_size: int = 8
    """G: samples per problem."""
    temperature: float = 1.0
    """Sampling temperature of the rollouts."""
    max_new_tokens: int = 96
    """Rollout length limit (the organism's longest traces are about 80 tokens)."""
    lr: float = 1e-4
    """Policy learning rate (AdamW)."""
    clip_eps: float = 0.2
    """PPO clip range (lower; the upper one too unless the algorithm sets clip-higher)."""
    kl_coef: float = 0.0
    """KL penalty to the initial model (0: none, as in DAPO and Dr.GRPO)."""
    kl_estimator: str = "k3"
    """k1 | k2 | k3."""
    ppo_epochs: int = 1
    """Passes over each batch (1 = on-policy)."""
    gamma: float = 1.0
    """Discount (token level)."""
    gae_lambda: float = 0.95
    """GAE lambda (PPO)."""
    critic_lr: float = 1e-3
    """Value model learning rate (PPO)."""
    resume_every: int = 10
    """Write the resumable state (latest/) every N steps (and at save_steps)."""
    dynamic_sampling_tries: int = 4
    """DAPO: at most this many extra sampling rounds to fill the batch with informative groups."""
    train_problems: int = 20_000
    """Size of the training problem pool (organism task)."""
    train_data: str | None = None
    """Optional JSONL benchmark (`jsonl:PATH` form or a path) to train on instead of the organism task."""
    min_ops: int = 2
    """Organism task: fewest operations."""
    max_ops: int = 6
    """Organism task: most operations."""
    seed: int = 0
    """Seed of problem order, sampling and initialization."""
    threads: int = 1
    """Torch threads of the update (forward/backward)."""
    sample_threads: int = 1
    """Torch threads while sampling rollouts (0: same as ``threads``). Measured on 2 cores with
    OMP_WAIT_POLICY=PASSIVE (benchmarks/bench_training.py): small-batch decoding runs faster on one
    thread, the update on two."""
    progress: bool = True
    """Show a progress bar."""


@dataclasses.dataclass
class Rollout:
    """One batch of samples; N = P * G rows, grouped by prompt. T = longest completion."""

    prompt_ids: list[list[int]]
    """(N,) prompt token ids per row."""
    tokens: torch.Tensor
    """(N, T) completion tokens (padded)."""
    mask: torch.Tensor
    """(N, T) 1 on completion tokens."""
    rewards: torch.Tensor
    """(N,) verifier rewards in {0, 1}."""
    group_size: int
    greedy_rewards: torch.Tensor | None = None
    """(P,) ReMax baseline."""
    old_logp: torch.Tensor | None = None
    ref_logp: torch.Tensor | None = None
    kl: torch.Tensor | None = None
    values: torch.Tensor | None = None
    returns: torch.Tensor | None = None

    def group_rewards(self) -> torch.Tensor:
        return self.rewards.view(-1, self.group_size)  # (P, G)


def build_batch(prompt_ids: list[list[int]], tokens: torch.Tensor, pad_id: int):
    """Right-padded prompt+completion inputs and the index of each completion token's logit.

    Returns input_ids (N, L), attention (N, L), positions (N, T): logits at ``positions[i, t]``
    predict completion token ``t`` of row ``i``.
    """
    N, T = tokens.shape
    lens = torch.tensor([len(p) for p in prompt_ids])
    L = int(lens.max()) + T
    ids = torch.full((N, L), pad_id, dtype=torch.long)
    attn = torch.zeros((N, L), dtype=torch.long)
    for i, p in enumerate(prompt_ids):
        ids[i, : len(p)] = torch.tensor(p)
        ids[i, len(p) : len(p) + T] = tokens[i]
        attn[i, : len(p) + T] = 1
    positions = lens.unsqueeze(1) - 1 + torch.arange(T).unsqueeze(0)  # (N, T)
    return ids, attn, positions


def sequence_logprobs(model, ids, attn, positions, tokens, temperature: float = 1.0) -> torch.Tensor:
    """log p of each completion token under the sampling distribution softmax(logits / temperature): (N, T)."""
    logits = model(input_ids=ids, attention_mask=attn).logits  # (N, L, V)
    sel = logits.gather(1, positions.unsqueeze(-1).expand(-1, -1, logits.shape[-1]))  # (N, T, V)
    if temperature not in (0.0, 1.0):
        sel = sel / temperature
    return token_logprobs(sel, tokens)


class ValueModel(torch.nn.Module):
    """A critic: the policy's backbone architecture (initialized from the same weights) and a scalar head."""

    def __init__(self, path: str):
        super().__init__()
        from transformers import AutoModel

        self.backbone = AutoModel.from_pretrained(path, dtype=torch.float32)
        self.head = torch.nn.Linear(self.backbone.config.hidden_size, 1)
        torch.nn.init.zeros_(self.head.weight)
        torch.nn.init.zeros_(self.head.bias)

    def forward(self, ids, attn, positions) -> torch.Tensor:  # -> (N, T)
        h = self.backbone(input_ids=ids, attention_mask=attn).last_hidden_state  # (N, L, C)
        v = self.head(h).squeeze(-1)  # (N, L)
        return v.gather(1, positions)


def training_problems(cfg: RLConfig) -> list[Problem]:
    if cfg.train_data:
        from rlscope.boundary.benchmarks import load_benchmark

        name = cfg.train_data if cfg.train_data.startswith("jsonl:") else f"jsonl:{cfg.train_data}"
        return load_benchmark(name)
    from rlscope.boundary.organism.task import sample_problems, to_problem

    return [to_problem(p) for p in sample_problems(cfg.train_problems, "train", cfg.seed + 1000, cfg.min_ops, cfg.max_ops)]


class Rewarder:
    """Binary rewards from the boundary's math verifier (the same one evaluation uses)."""

    def __init__(self):
        from rlscope.boundary.verify.math import MathVerifier

        self.verifier = MathVerifier(workers=1)

    def __call__(self, problems: list[Problem], texts: list[str]) -> torch.Tensor:
        verdicts = self.verifier.verify(list(zip(problems, texts)))
        return torch.tensor([float(v.correct) for v in verdicts])

    def close(self) -> None:
        self.verifier.close()


def train(cfg: RLConfig) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlscope.llm.hf import HFSampler

    torch.set_num_threads(cfg.threads)
    algo: Algorithm = get_algorithm(cfg.algo)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    latest = out / "latest"
    state = load_state(latest) if (latest / "config.json").exists() else None
    if not Path(cfg.model).exists():
        raise RlscopeError(f"model path {cfg.model!r} does not exist")
    tokenizer = AutoTokenizer.from_pretrained(cfg.model)
    policy = AutoModelForCausalLM.from_pretrained(latest if state else cfg.model, dtype=torch.float32)
    reference = None
    if cfg.kl_coef > 0:
        reference = AutoModelForCausalLM.from_pretrained(cfg.model, dtype=torch.float32).eval()
    critic = ValueModel(cfg.model) if algo.needs_critic else None
    opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr, weight_decay=0.0)
    critic_opt = torch.optim.AdamW(critic.parameters(), lr=cfg.critic_lr) if critic is not None else None
    problems = training_problems(cfg)
    rng = random.Random(cfg.seed)
    order = list(range(len(problems)))
    rng.shuffle(order)
    step, cursor = 0, 0
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        if critic is not None and "critic" in state:
            critic.load_state_dict(state["critic"])
            critic_opt.load_state_dict(state["critic_optimizer"])
        set_rng_state(state["rng"])
        rng.setstate(state["data_rng"])
        step, cursor, order = state["step"], state["cursor"], state["order"]
        log.info("resuming %s at step %d", out, step)
        truncate_metrics(out / "metrics.jsonl", "step", step)
    sampler = HFSampler.wrap(policy, tokenizer, batch_size=cfg.prompts_per_step * cfg.group_size)
    params = SamplingParams(temperature=cfg.temperature, top_p=1.0, max_new_tokens=cfg.max_new_tokens)
    rewarder = Rewarder()
    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.steps, initial=step, unit="step", dynamic_ncols=True, desc=f"train {algo.name}")
    metrics_file = open(out / "metrics.jsonl", "a", encoding="utf-8")
    try:
        while step < cfg.steps:
            t0 = time.perf_counter()

            def next_problems(k: int) -> list[Problem]:
                nonlocal cursor
                picked = [problems[order[(cursor + j) % len(order)]] for j in range(k)]
                cursor += k
                return picked

            policy.eval()  # rollouts and old log-probs without dropout
            torch.set_num_threads(cfg.sample_threads or cfg.threads)
            _, rollout, sample_stats = collect(
                cfg, algo, sampler, tokenizer, params, rewarder, next_problems, step
            )
            torch.set_num_threads(cfg.threads)
            ids, attn, positions = build_batch(rollout.prompt_ids, rollout.tokens, tokenizer.pad_token_id)
            temp = cfg.temperature
            first_logp = None
            if cfg.ppo_epochs == 1:
                # on-policy: the first pass's log-probs are the old ones, no separate forward needed
                policy.train()
                first_logp = sequence_logprobs(policy, ids, attn, positions, rollout.tokens, temp)
                rollout.old_logp = first_logp.detach()
            with torch.no_grad():
                if first_logp is None:
                    rollout.old_logp = sequence_logprobs(policy, ids, attn, positions, rollout.tokens, temp)
                if reference is not None:
                    rollout.ref_logp = sequence_logprobs(reference, ids, attn, positions, rollout.tokens, temp)
                    rollout.kl = kl_penalty(rollout.old_logp, rollout.ref_logp, cfg.kl_estimator) * rollout.mask
                if critic is not None:
                    rollout.values = critic(ids, attn, positions) * rollout.mask
            adv = algo.advantages(rollout, cfg)  # (N, T)
            clip_high = algo.clip_high if algo.clip_high is not None else cfg.clip_eps
            stats: dict[str, float] = {}
            policy.train()
            for epoch in range(cfg.ppo_epochs):
                if epoch == 0 and first_logp is not None:
                    logp = first_logp
                else:
                    logp = sequence_logprobs(policy, ids, attn, positions, rollout.tokens, temp)
                loss, pstats = policy_loss(
                    logp, rollout.old_logp, adv, rollout.mask, cfg.clip_eps, clip_high, algo.aggregation,
                    norm_len=cfg.max_new_tokens,
                )
                if reference is not None and algo.kl_in_loss:
                    kl_tok = kl_penalty(logp, rollout.ref_logp, cfg.kl_estimator)
                    loss = loss + cfg.kl_coef * masked_mean(kl_tok, rollout.mask)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
                opt.step()
                stats.update(pstats)
                stats["losses/policy"] = loss.item()
                stats["losses/grad_norm"] = float(grad_norm)
                if critic is not None:
                    v = critic(ids, attn, positions)
                    vloss = value_loss(v, rollout.values, rollout.returns, rollout.mask)
                    critic_opt.zero_grad(set_to_none=True)
                    vloss.backward()
                    torch.nn.utils.clip_grad_norm_(critic.parameters(), 1.0)
                    critic_opt.step()
                    stats["losses/value"] = vloss.item()
            step += 1
            dt = time.perf_counter() - t0
            record = {
                "step": step,
                "charts/reward_mean": float(rollout.rewards.mean()),
                "charts/response_length": float(rollout.mask.sum(1).float().mean()),
                "perf/step_s": dt,
                "perf/sample_tokens_per_s": sample_stats["tokens"] / max(sample_stats["seconds"], 1e-9),
                **({"charts/kl": float(masked_mean(rollout.kl, rollout.mask))} if rollout.kl is not None else {}),
                **{k: v for k, v in sample_stats.items() if k.startswith("charts/")},
                **stats,
            }
            metrics_file.write(json.dumps(record) + "\n")
            metrics_file.flush()
            if bar is not None:
                bar.update(1)
                bar.set_postfix(reward=f"{record['charts/reward_mean']:.3f}")
            if step in cfg.save_steps or step == cfg.steps:
                save_checkpoint(out / f"step_{step}", policy, tokenizer, meta={"rl": _jsonable(cfg), "step": step})
            if step in cfg.save_steps or step % cfg.resume_every == 0 or step == cfg.steps:
                train_state = {
                    "step": step, "cursor": cursor, "order": order, "optimizer": opt.state_dict(),
                    "rng": rng_state(), "data_rng": rng.getstate(),
                }
                if critic is not None:
                    train_state["critic"] = critic.state_dict()
                    train_state["critic_optimizer"] = critic_opt.state_dict()
                save_checkpoint(latest, policy, tokenizer, train_state, meta={"rl": _jsonable(cfg), "step": step})
    finally:
        metrics_file.close()
        rewarder.close()
        if bar is not None:
            bar.close()
    return {"step": step, "out": str(out)}


def _jsonable(cfg: RLConfig) -> dict:
    from rlscope.config import to_jsonable

    return to_jsonable(cfg)


def collect(cfg, algo, sampler, tokenizer, params, rewarder, next_problems, step):
    """Sample P groups of G answers (DAPO: only groups whose rewards differ) and reward them."""
    from rlscope.llm.base import sample_seed

    P, G = cfg.prompts_per_step, cfg.group_size
    kept_problems: list[Problem] = []
    kept: list[tuple[list[int], tuple[int, ...], float]] = []
    tokens_total, seconds, tries, all_rewards = 0, 0.0, 0, []
    while len(kept_problems) < P:
        want = P - len(kept_problems)
        probs = next_problems(want if not algo.dynamic_sampling else max(want, P // 2))
        reqs = [
            SampleRequest(p.question, sample_seed(cfg.seed, f"{step}:{tries}:{p.problem_id}", j)) for p in probs for j in range(G)
        ]
        t = time.perf_counter()
        comps = sampler.generate(reqs, params)
        seconds += time.perf_counter() - t
        tokens_total += sum(c.num_tokens for c in comps)
        rewards = rewarder([p for p in probs for _ in range(G)], [c.text for c in comps]).view(-1, G)
        all_rewards.append(rewards)
        for i, p in enumerate(probs):
            r = rewards[i]
            if algo.dynamic_sampling and tries < cfg.dynamic_sampling_tries and bool((r == r[0]).all()):
                continue
            if len(kept_problems) == P:
                break
            prompt_ids = sampler.encode(p.question)
            kept_problems.append(p)
            for j in range(G):
                kept.append((prompt_ids, comps[i * G + j].token_ids, float(r[j])))
        tries += 1
        if not algo.dynamic_sampling:
            break
    T = max(len(c) for _, c, _ in kept)
    tokens = torch.full((len(kept), T), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(kept), T))
    for i, (_, c, _) in enumerate(kept):
        tokens[i, : len(c)] = torch.tensor(c, dtype=torch.long)
        mask[i, : len(c)] = 1
    rollout = Rollout([k[0] for k in kept], tokens, mask, torch.tensor([k[2] for k in kept]), G)
    if algo.needs_greedy:
        greedy = sampler.generate([SampleRequest(p.question, 0) for p in kept_problems], dataclasses.replace(params, temperature=0.0))
        rollout.greedy_rewards = rewarder(kept_problems, [c.text for c in greedy])
    sampled = torch.cat([r.reshape(-1) for r in all_rewards])
    stats = {
        "tokens": tokens_total,
        "seconds": seconds,
        "charts/sampled_reward_mean": float(sampled.mean()),
        "charts/sampling_rounds": tries,
    }
    return kept_problems, rollout, stats
