"""Training and sampling tokens/s of the organism's RL step against the plain transformers path, and the
thread settings that suit a 2-core machine, in one run.

Model: the shipped organism base (a real ``LlamaForCausalLM``). Work: one RL step of the study's
defaults, P x G = 16 x 8 answers to training problems.

- sampling: rlscope's ``HFSampler`` (prompt prefilled once per group, KV cache repeated, preallocated)
  against ``model.generate(do_sample=True)`` on the prompt repeated G times; tokens/s of generated tokens;
- training: the trainer's update (``build_batch`` + ``sequence_logprobs``: log-softmax only at the
  completion positions, one forward + backward + AdamW) against the plain transformers path
  (``model(input_ids, labels=...)`` with the prompt masked out: cross-entropy over every position)
  plus the no-grad forward a PPO-style loop makes for the old log-probs; tokens/s of completion tokens.

Each setting runs in its own process (thread counts are fixed at start): torch threads 1 or 2,
``OMP_WAIT_POLICY`` PASSIVE or ACTIVE.

    python benchmarks/bench_training.py [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SETTINGS = [(1, "PASSIVE"), (2, "PASSIVE"), (1, "ACTIVE"), (2, "ACTIVE")]


def measure(repeats: int, P: int, G: int, max_new_tokens: int) -> dict:
    import torch

    from rlscope.boundary.organism.shipped import shipped_model
    from rlscope.boundary.organism.task import sample_problems
    from rlscope.boundary.rl.losses import policy_loss
    from rlscope.boundary.rl.trainer import build_batch, sequence_logprobs
    from rlscope.llm.base import SampleRequest, SamplingParams, sample_seed
    from rlscope.llm.hf import HFSampler

    sampler = HFSampler(shipped_model("shipped:base"), batch_size=P * G)
    model, tok = sampler.model, sampler.tokenizer
    problems = sample_problems(P, "train", seed=7)
    params = SamplingParams(temperature=1.0, top_p=1.0, max_new_tokens=max_new_tokens)
    reqs = [SampleRequest(p.question, sample_seed(0, p.question, j)) for p in problems for j in range(G)]

    def timed(fn):
        best = float("inf")
        out = None
        for _ in range(repeats):
            t = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - t)
        return best, out

    # sampling
    s_ours, comps = timed(lambda: sampler.generate(reqs, params))
    ours_tokens = sum(c.num_tokens for c in comps)

    def plain_generate():
        n = 0
        with torch.no_grad():
            for p in problems:
                ids = torch.tensor([tok.encode(p.question)] * G)
                out = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=1.0, top_p=1.0,
                                     max_new_tokens=max_new_tokens, pad_token_id=tok.pad_token_id)
                gen = out[:, ids.shape[1]:]
                eos = tok.eos_token_id
                n += int(((gen != tok.pad_token_id) & (gen != eos)).sum()) + int((gen == eos).any(dim=1).sum())
        return n

    s_plain, plain_tokens = timed(plain_generate)

    # training: the same batch for both paths
    prompt_ids = [sampler.encode(p.question) for p in problems for _ in range(G)]
    T = max(len(c.token_ids) for c in comps)
    tokens = torch.full((len(comps), T), tok.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(comps), T))
    for i, c in enumerate(comps):
        tokens[i, : len(c.token_ids)] = torch.tensor(c.token_ids)
        mask[i, : len(c.token_ids)] = 1
    n_tokens = int(mask.sum())
    adv = torch.randn(len(comps), 1).expand(-1, T)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-6)

    def ours_step():
        ids, attn, pos = build_batch(prompt_ids, tokens, tok.pad_token_id)
        logp = sequence_logprobs(model, ids, attn, pos, tokens)
        loss, _ = policy_loss(logp, logp.detach(), adv, mask)  # on-policy: the first forward gives old log-probs
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def plain_step():
        ids, attn, pos = build_batch(prompt_ids, tokens, tok.pad_token_id)
        labels = torch.full_like(ids, -100)
        labels.scatter_(1, pos + 1, torch.where(mask > 0, tokens, torch.full_like(tokens, -100)))
        with torch.no_grad():  # old log-probs, as a PPO-style loop computes them
            model(input_ids=ids, attention_mask=attn)
        out = model(input_ids=ids, attention_mask=attn, labels=labels)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()

    t_ours, _ = timed(ours_step)
    t_plain, _ = timed(plain_step)
    return {"sample_ours_tok_s": ours_tokens / s_ours, "sample_plain_tok_s": plain_tokens / s_plain,
            "train_ours_tok_s": n_tokens / t_ours, "train_plain_tok_s": n_tokens / t_plain,
            "sample_tokens": ours_tokens, "train_tokens": n_tokens}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3, help="best of this many repetitions per measurement")
    ap.add_argument("--prompts", type=int, default=16, help="P")
    ap.add_argument("--group", type=int, default=8, help="G")
    ap.add_argument("--max-new-tokens", type=int, default=80)
    ap.add_argument("--json", default=None)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        import torch

        torch.set_num_threads(args.threads)
        torch.manual_seed(0)
        print(json.dumps(measure(args.repeats, args.prompts, args.group, args.max_new_tokens)))
        return
    rows = []
    for threads, policy in SETTINGS:
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": policy, "TOKENIZERS_PARALLELISM": "false"}
        out = subprocess.run([sys.executable, __file__, "--worker", "--threads", str(threads), "--repeats", str(args.repeats),
                              "--prompts", str(args.prompts), "--group", str(args.group),
                              "--max-new-tokens", str(args.max_new_tokens)],
                             env=env, capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r.update(threads=threads, omp_wait_policy=policy)
        rows.append(r)
        print(f"  threads {threads} {policy}: done", flush=True)
    print(f"\none RL step of the organism study: P x G = {args.prompts} x {args.group}, up to {args.max_new_tokens} new tokens; "
          f"best of {args.repeats}\n")
    print(f"{'threads':>7} {'OMP_WAIT':>8} | {'sample ours':>11} {'plain':>8} {'x':>5} | {'train ours':>10} {'plain':>8} {'x':>5}   (tokens/s)")
    for r in rows:
        print(f"{r['threads']:>7} {r['omp_wait_policy']:>8} | {r['sample_ours_tok_s']:>11.0f} {r['sample_plain_tok_s']:>8.0f} "
              f"{r['sample_ours_tok_s'] / r['sample_plain_tok_s']:>5.2f} | {r['train_ours_tok_s']:>10.0f} "
              f"{r['train_plain_tok_s']:>8.0f} {r['train_ours_tok_s'] / r['train_plain_tok_s']:>5.2f}")
    best = min(rows, key=lambda r: r["sample_tokens"] / r["sample_ours_tok_s"] + r["train_tokens"] / r["train_ours_tok_s"])
    print(f"\nfastest RL step (sampling + update) with rlscope: {best['threads']} thread(s), OMP_WAIT_POLICY={best['omp_wait_policy']}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
