"""Benchmark math verification at large k: plain Math-Verify calls vs ``MathVerifier``.

Builds realistic pass@k outputs from MATH500 gold answers: per problem ``k`` completions whose
final answers repeat heavily (the gold in a few LaTeX spellings, a handful of wrong answers with
a skewed distribution, some truncated samples with no final answer), each wrapped in
chain-of-thought text. Then it times

(a) the baseline: per sample ``math_verify.parse(gold)``, ``math_verify.parse(completion)`` and
    ``math_verify.verify`` in this process (all samples, or a random subset reported per sample), and
(b) ``MathVerifier.verify`` on all samples, cold (including starting its worker processes)
    and warm (workers started beforehand, as a pipeline does while it generates; empty cache),

and prints samples, seconds, samples/s, speedup, and the agreement of the two verdicts on the
subset (listing the disagreements).

    python benchmarks/bench_verify.py                       # 20 problems x k=256
    python benchmarks/bench_verify.py --problems 50 --k 1024 --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import pathlib
import random
import re
import sys
import time

from tqdm import tqdm

from rlscope.boundary.benchmarks.base import Problem
from rlscope.boundary.verify.math import MathVerifier

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT / ".." / "shared" / "data" / "benchmarks" / "math" / "math500" / "test.jsonl"


@dataclasses.dataclass
class Args:
    data: pathlib.Path = DEFAULT_DATA
    """MATH500 test.jsonl (``problem``, ``answer``, ``unique_id`` fields)."""
    problems: int = 20
    """Problems drawn from the file."""
    k: int = 256
    """Samples per problem."""
    baseline_samples: int = 0
    """Samples verified by the plain Math-Verify baseline: a random subset of this size, 0 for all.
    (Math-Verify caches parsed LaTeX, so a small subset overstates its per-sample cost.)"""
    workers: int = 2
    """MathVerifier worker processes."""
    timeout_s: float = 5.0
    """MathVerifier CPU-time limit per distinct pair."""
    cot_chars: int = 1500
    """Approximate chain-of-thought length per completion."""
    seed: int = 0
    """Random seed for problems, answers and text."""
    json: pathlib.Path | None = None
    """Also write the results here as JSON."""
    show: int = 10
    """Disagreements to print."""


def parse_args(argv: list[str] | None = None) -> Args:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for field in dataclasses.fields(Args):
        default = field.default
        kind = pathlib.Path if field.name in ("data", "json") else type(default)
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=kind, default=default)
    return Args(**vars(parser.parse_args(argv)))


# --- synthetic samples --------------------------------------------------------------------

_NUM_RE = re.compile(r"^-?\d+$")
_FRAC_RE = re.compile(r"^(-?)\\frac\{(\d+)\}\{(\d+)\}$")


def gold_spellings(gold: str) -> list[str]:
    """The gold answer as models write it: the same value in a few LaTeX/plain forms."""
    forms = [gold, gold.replace("\\frac", "\\dfrac"), re.sub(r"\s+", "", gold)]
    if "\\left" in gold:
        forms.append(re.sub(r"\\left|\\right", "", gold))
    frac = re.search(r"\\frac\{([^{}]+)\}\{([^{}]+)\}", gold)
    if frac:  # \frac{\sqrt{3}}{2} -> (\sqrt{3})/(2): the same value, spelled differently
        forms.append(gold[: frac.start()] + f"({frac.group(1)})/({frac.group(2)})" + gold[frac.end() :])
    if _NUM_RE.match(gold):
        n = int(gold)
        forms += [f"{n}.0", f"{n:,}" if abs(n) >= 1000 else f"{n}\\text{{ units}}"]
    m = _FRAC_RE.match(gold)
    if m:
        sign, p, q = m.groups()
        forms.append(f"{sign}{p}/{q}")
        value = int(p) / int(q)
        if len(repr(value)) < 8:
            forms.append(f"{'-' if sign else ''}{value}")
    return list(dict.fromkeys(forms))


def perturb(gold: str, rng: random.Random) -> str:
    """A near miss: one digit changed, or a sign flipped (of a scalar)."""
    digits = [i for i, ch in enumerate(gold) if ch.isdigit()]
    if digits and (rng.random() < 0.8 or gold.startswith(("(", "[", "\\", "{"))):
        i = rng.choice(digits)
        return gold[:i] + str((int(gold[i]) + rng.randint(1, 9)) % 10) + gold[i + 1 :]
    return gold[1:] if gold.startswith("-") else "-" + gold


def wrong_answers(gold: str, other_golds: list[str], rng: random.Random, n: int = 6) -> list[str]:
    """The common wrong answers of one problem: mostly near misses of the gold, a couple of
    answers of other problems (a different shape)."""
    wrong: list[str] = []
    if _NUM_RE.match(gold):
        g = int(gold)
        wrong += [str(g + 1), str(2 * g), str(g - 1)]
    wrong += [perturb(gold, rng) for _ in range(n)]
    wrong = [w for w in dict.fromkeys(wrong) if w.strip() != gold.strip()][: n - 2]
    return wrong + rng.sample(other_golds, 2)


_STEPS = [
    "Let me first restate what we need. We are asked about the quantity described above.",
    "Compute {a} + {b} = {s}, and then {a} \\cdot {b} = {p}.",
    "So the expression becomes $\\frac{{{a}}}{{{b}}}$, which we simplify.",
    "Wait, let me double-check this step: {s} - {b} = {a}, consistent.",
    "Substituting $x = {a}$ gives ${a}^2 = {sq}$.",
    "Hmm, that does not look right; let me reconsider the constraint.",
    "By symmetry the two cases contribute equally, giving $2 \\times {a} = {d}$.",
    "Therefore we can conclude the remaining part directly.",
]
_RAMBLE = [
    "I am not sure how to approach this problem.",
    "Let me think about it from a different angle.",
    "Perhaps there is a symmetry argument here, but I cannot see it yet.",
    "Going back to the statement, what exactly is being asked?",
]
_ENDINGS = [
    ("Therefore, the final answer is $\\boxed{{{ans}}}$.", 0.8),
    ("So the answer is $\\boxed{{{ans}}}$", 0.1),
    ("The answer is ${ans}$.", 0.05),
    ("#### {ans}", 0.05),
]


def chain_of_thought(rng: random.Random, chars: int) -> str:
    parts: list[str] = []
    while sum(map(len, parts)) < chars:
        a, b = rng.randint(2, 99), rng.randint(2, 99)
        step = rng.choice(_STEPS).format(a=a, b=b, s=a + b, p=a * b, sq=a * a, d=2 * a)
        parts.append(step)
    return "\n\n".join(parts)


def make_samples(problems: list[Problem], all_golds: list[str], k: int, cot_chars: int, seed: int):
    """``(problem, completion)`` pairs, ``k`` per problem."""
    rng = random.Random(seed)
    items: list[tuple[Problem, str]] = []
    for problem in problems:
        gold = problem.answer or ""
        right = gold_spellings(gold)
        wrong = wrong_answers(gold, [g for g in all_golds if g != gold], rng)
        p_correct = rng.uniform(0.05, 0.9)
        p_truncated = rng.uniform(0.0, 0.1)
        p_tail = rng.uniform(0.0, 0.1)
        p_ramble = rng.uniform(0.0, 0.04)
        right_w = [0.7] + [0.3 / max(1, len(right) - 1)] * (len(right) - 1)
        wrong_w = [1.0 / (i + 1) ** 1.5 for i in range(len(wrong))]  # Zipf-like: a few dominate
        for _ in range(k):
            cot = chain_of_thought(rng, rng.randint(cot_chars // 2, cot_chars * 3 // 2))
            r = rng.random()
            if r < p_truncated:  # cut off by the length limit: the extractor finds some number
                items.append((problem, cot[: rng.randint(len(cot) // 2, len(cot))]))
                continue
            if r < p_truncated + p_ramble:  # no answer at all
                items.append((problem, "\n\n".join(rng.choices(_RAMBLE, k=rng.randint(3, 12)))))
                continue
            if r < p_truncated + p_ramble + p_correct:
                ans = rng.choices(right, right_w)[0]
            elif rng.random() < p_tail:
                ans = perturb(perturb(gold, rng), rng)  # the long tail of one-off wrong answers
            else:
                ans = rng.choices(wrong, wrong_w)[0]
            ending = rng.choices([e for e, _ in _ENDINGS], [w for _, w in _ENDINGS])[0]
            if ending.startswith("####") and not re.fullmatch(r"-?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?", ans):
                ending = _ENDINGS[0][0]  # "#### <answer>" is a GSM8K habit, for numbers
            items.append((problem, cot + "\n\n" + ending.format(ans=ans)))
    return items


# --- measurement --------------------------------------------------------------------------


def baseline_verdict(gold: str, completion: str) -> bool:
    import math_verify

    return bool(math_verify.verify(math_verify.parse(f"\\boxed{{{gold}}}"), math_verify.parse(completion)))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    if not args.data.exists():
        print(f"error: {args.data} not found (pass --data PATH)", file=sys.stderr)
        return 2
    with args.data.open() as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rng = random.Random(args.seed)
    chosen = rng.sample(rows, min(args.problems, len(rows)))
    problems = [Problem(r.get("unique_id", str(i)), r["problem"], r["answer"]) for i, r in enumerate(chosen)]
    items = make_samples(problems, [r["answer"] for r in rows], args.k, args.cot_chars, args.seed)
    n_base = args.baseline_samples if 0 < args.baseline_samples < len(items) else len(items)
    subset = sorted(rng.sample(range(len(items)), n_base))

    baseline_verdict("1", "\\boxed{1}")  # import and first-call set-up kept out of the timings

    start = time.perf_counter()
    baseline = [
        baseline_verdict(items[i][0].answer or "", items[i][1]) for i in tqdm(subset, desc="baseline", file=sys.stderr)
    ]
    t_base = time.perf_counter() - start

    # Cold: construct, start workers on demand, verify. Warm: workers started beforehand
    # (as a pipeline does while it generates), fresh cache.
    start = time.perf_counter()
    with MathVerifier(workers=args.workers, timeout_s=args.timeout_s) as verifier:
        verdicts = verifier.verify(items)
        stats = dataclasses.asdict(verifier.stats)
    t_cold = time.perf_counter() - start
    with MathVerifier(workers=args.workers, timeout_s=args.timeout_s) as verifier:
        verifier.start(wait=True)
        start = time.perf_counter()
        warm_verdicts = verifier.verify(items)
        t_warm = time.perf_counter() - start
    unstable = sum(w.correct != c.correct for w, c in zip(warm_verdicts, verdicts))

    disagreements = [(i, baseline[j]) for j, i in enumerate(subset) if verdicts[i].correct != baseline[j]]
    agreement = 1 - len(disagreements) / len(subset)
    rate_base = len(subset) / t_base
    rate_cold = len(items) / t_cold
    rate_warm = len(items) / t_warm

    print(f"\n{len(problems)} problems x k={args.k} = {len(items)} samples; baseline on {len(subset)} of them")
    print(f"{args.workers} workers, timeout {args.timeout_s} s CPU per pair")
    print(f"{'method':<24}{'samples':>9}{'seconds':>10}{'samples/s':>12}{'speedup':>9}")
    print(f"{'math_verify per sample':<24}{len(subset):>9}{t_base:>10.2f}{rate_base:>12.1f}{1.0:>8.1f}x")
    print(f"{'MathVerifier (cold)':<24}{len(items):>9}{t_cold:>10.2f}{rate_cold:>12.1f}{rate_cold / rate_base:>8.1f}x")
    print(f"{'MathVerifier (warm)':<24}{len(items):>9}{t_warm:>10.2f}{rate_warm:>12.1f}{rate_warm / rate_base:>8.1f}x")
    if len(subset) < len(items):
        print(f"baseline extrapolated to all {len(items)} samples: {len(items) / rate_base:.1f} s")
    if unstable:
        print(f"warning: {unstable} verdicts differ between the cold and the warm run (timeouts under load?)")
    print(
        f"MathVerifier work: {stats['pairs']} distinct pairs, {stats['fast']} fast, {stats['slow']} symbolic, "
        f"{stats['no_answer']} no answer, {stats['timeouts']} timeouts"
    )
    print(f"agreement on the subset: {len(subset) - len(disagreements)}/{len(subset)} ({100 * agreement:.2f}%)")
    for i, base in disagreements[: args.show]:
        problem, completion = items[i]
        print(
            f"  disagree: gold={problem.answer!r} extracted={verdicts[i].extracted!r} "
            f"ours={verdicts[i].correct} ({verdicts[i].reason}) math_verify={base} tail={completion[-60:]!r}"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "problems": len(problems),
                    "k": args.k,
                    "samples": len(items),
                    "baseline": {"samples": len(subset), "seconds": t_base, "samples_per_s": rate_base},
                    "verifier_cold": {"samples": len(items), "seconds": t_cold, "samples_per_s": rate_cold, **stats},
                    "verifier_warm": {"samples": len(items), "seconds": t_warm, "samples_per_s": rate_warm},
                    "speedup_cold": rate_cold / rate_base,
                    "speedup_warm": rate_warm / rate_base,
                    "agreement": agreement,
                    "disagreements": len(disagreements),
                    "workers": args.workers,
                    "timeout_s": args.timeout_s,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
