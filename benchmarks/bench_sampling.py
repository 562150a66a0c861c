"""Sampling tokens/s of the HF backend against plain `model.generate`, in one run.

Both draw n samples per prompt from the same tiny Llama (built here, untrained) with the same
temperature/top-p and the same number of new tokens (EOS suppressed so lengths match):
  - baseline: `model.generate(prompt repeated n times, do_sample=True)` (prefills every copy),
  - rlscope HFSampler: prompt prefilled once, KV cache repeated, per-sample seeded decode loop.

    python benchmarks/bench_sampling.py [--threads 1] [--n 64] [--prompt-tokens 200]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--n", type=int, default=64, help="samples per prompt (= batch)")
    ap.add_argument("--prompts", type=int, default=3)
    ap.add_argument("--prompt-tokens", type=int, default=200)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from rlscope.llm.base import SampleRequest, SamplingParams, sample_seed
    from rlscope.llm.hf import HFSampler
    from rlscope.llm.tiny import TinyModelConfig, build_tiny_model

    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_model(
            tmp, TinyModelConfig(hidden_size=args.hidden, num_layers=args.layers, intermediate_size=args.hidden * 11 // 4)
        )
        sampler = HFSampler(str(path), batch_size=args.n, threads=args.threads)
    sampler.eos_ids = set()  # fixed lengths for a like-for-like comparison
    model, tok = sampler.model, sampler.tokenizer
    prompts = [("Question %d: " % i + "abcdefghij " * 100)[: args.prompt_tokens] for i in range(args.prompts)]
    params = SamplingParams(temperature=1.0, top_p=0.95, max_new_tokens=args.max_new_tokens)

    def run_ours() -> int:
        reqs = [SampleRequest(p, sample_seed(0, str(i), j)) for i, p in enumerate(prompts) for j in range(args.n)]
        return sum(c.num_tokens for c in sampler.generate(reqs, params))

    def run_plain() -> int:
        total = 0
        for p in prompts:
            ids = tok(p, return_tensors="pt")["input_ids"]
            with torch.inference_mode():
                out = model.generate(
                    ids.repeat(args.n, 1),
                    attention_mask=torch.ones(args.n, ids.shape[1], dtype=torch.long),
                    do_sample=True, temperature=1.0, top_p=0.95, top_k=0,
                    max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens, pad_token_id=0,
                )
            total += (out.shape[1] - ids.shape[1]) * args.n
        return total

    results = {}
    for name, fn in (("plain model.generate", run_plain), ("rlscope HFSampler", run_ours)):
        fn()  # warm-up
        best = float("inf")
        for _ in range(args.repeats):
            t = time.perf_counter()
            tokens = fn()
            best = min(best, time.perf_counter() - t)
        results[name] = (tokens, best)
    base_rate = results["plain model.generate"][0] / results["plain model.generate"][1]
    print(f"model d={args.hidden} L={args.layers}, {args.prompts} prompts x n={args.n}, prompt {args.prompt_tokens} tok, "
          f"{args.max_new_tokens} new tok, threads={args.threads}, torch {torch.__version__}")
    print(f"{'method':<24}{'tokens':>9}{'seconds':>10}{'tokens/s':>11}{'speedup':>9}")
    for name, (tokens, secs) in results.items():
        rate = tokens / secs
        print(f"{name:<24}{tokens:>9}{secs:>10.2f}{rate:>11.0f}{rate / base_rate:>9.2f}")


if __name__ == "__main__":
    main()
