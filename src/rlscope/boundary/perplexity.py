"""`rlscope boundary perplexity --scorer MODEL --run DIR`: how likely another model finds a run's answers.

Each sample (its prompt and completion, as sampled) is scored under the scorer model: the sum of the
completion's token log-probabilities given the prompt, and its number of tokens. Scores are stored with the
run (one row per sample and scorer), in batches, so an interrupted run continues where it stopped and a
finished one costs nothing. ``rlscope boundary compare`` reads them: the paper's perplexity figure (an RL
model's answers are likely under its base; the base cannot have produced what it finds unlikely).

Backends: ``hf`` (transformers, CPU or GPU) and ``vllm`` (the offline engine's prompt logprobs) score the
same tokens: the completion tokenized after the prompt, then the end-of-sequence token. ``openai`` asks an
OpenAI-compatible server for the prompt logprobs of prompt + completion (echo), as the server tokenizes the
text whole and with no end-of-sequence token: score the runs you compare with one backend.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Literal

from rlscope.boundary.config import require
from rlscope.errors import RlscopeError

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class PerplexityConfig:
    """`rlscope boundary perplexity --scorer MODEL --run DIR`: score a run's samples under another model, stored with
    the run (resumable)."""

    run: Path
    """Run directory (sampled or imported)."""
    scorer: str
    """The scoring model. hf: a local transformers directory; vllm: a model name or directory; openai: MODEL@URL
    (the served model name and the API root, e.g. qwen@http://127.0.0.1:8000/v1; key from $OPENAI_API_KEY)."""
    backend: Literal["hf", "vllm", "openai"] = "hf"
    """Scoring backend: hf (transformers, CPU or GPU), vllm (offline engine, GPU) or openai (an OpenAI-compatible
    server returning prompt logprobs with echo, such as `vllm serve`)."""
    name: str | None = None
    """Name the scores are stored under (default: the scorer's model name, without its directory or URL); give runs the
    same name to compare them."""
    batch_size: int = 16
    """Samples scored per forward pass (hf), per engine call (vllm: hundreds keep the GPU busy) or per request (openai);
    each batch is stored as it finishes."""
    limit: int = 0
    """Samples scored per problem (0: all)."""
    template: str | None = None
    """Prompt template for problems stored without a prompt (imported runs), e.g. qwen-boxed; a stored prompt wins."""
    progress: bool = True
    """Show a progress bar."""

    def validate(self) -> None:
        """Every option checked before the run is touched (one line naming the option)."""
        require(self.batch_size >= 1, "--batch-size", "a positive number of samples", self.batch_size)
        require(self.limit >= 0, "--limit", "0 (all samples) or a positive number per problem", self.limit)
        if self.backend == "openai":
            parse_endpoint(self.scorer)

    @property
    def label(self) -> str:
        """The name the scores are stored under."""
        model = parse_endpoint(self.scorer)[0] if self.backend == "openai" else self.scorer
        return self.name or Path(model.rstrip("/")).name


def parse_endpoint(scorer: str) -> tuple[str, str]:
    """``MODEL@URL`` -> ``(MODEL, URL)``: the served model name and the server's API root (no trailing slash).

    The last ``@`` splits them, and the URL must start with http:// or https:// (no credentials in it: the
    key belongs in ``$OPENAI_API_KEY``); anything else raises an error naming ``--scorer`` and the form expected.
    """
    model, sep, url = scorer.rpartition("@")
    if not sep or not model.strip() or not url.startswith(("http://", "https://")):
        raise RlscopeError(f"--scorer {scorer!r}: the openai backend expects MODEL@URL, the served model name and the "
                           "API root, e.g. qwen@http://127.0.0.1:8000/v1")
    return model, url.rstrip("/")


def make_scorer(cfg: PerplexityConfig):
    """The scoring model of ``cfg.backend``: an object with ``score(prompts, completions, batch_size)`` returning
    ``(sum of the completion's token log-probabilities, number of tokens)`` per sample."""
    if cfg.backend == "openai":
        from rlscope.llm.openai_compat import OpenAISampler

        model, url = parse_endpoint(cfg.scorer)
        return OpenAISampler(model, base_url=url)
    if cfg.backend == "vllm":
        from rlscope.llm.vllm import VLLMSampler

        return VLLMSampler(cfg.scorer)
    from rlscope.llm.hf import HFSampler

    return HFSampler(cfg.scorer, batch_size=cfg.batch_size)


def score_run(cfg: PerplexityConfig) -> dict[str, float | int | str]:
    """Score every sample of the run not yet scored under ``cfg.label``; returns the totals."""
    from rlscope.boundary.runs import open_run, writer

    cfg.validate()
    from rlscope.boundary.prompts import render_prompt
    from rlscope.boundary.runs import stored_problems

    store = open_run(cfg.run)
    try:
        prompts = {p.problem_id: prompt if prompt is not None or cfg.template is None else render_prompt(cfg.template, p)
                   for p, prompt in stored_problems(store)}
        done = store.scores(cfg.label)
        todo = [(r["problem_id"], r["sample_idx"], r["completion"]) for r in store.iter_samples()
                if (r["problem_id"], r["sample_idx"]) not in done and (not cfg.limit or r["sample_idx"] < cfg.limit)]
    finally:
        store.close()
    missing = sorted({p for p, _, _ in todo if prompts.get(p) is None})
    if missing:
        raise RlscopeError(f"{cfg.run}: problem(s) {', '.join(missing[:5])} have no stored prompt to score the completion "
                           "after (an imported run); pass --template NAME to render one (e.g. --template qwen-boxed)")
    if todo:
        log.info("scoring %d samples of %s under %s (%s backend)", len(todo), cfg.run, cfg.label, cfg.backend)
        scorer = make_scorer(cfg)
        with writer(cfg.run, "perplexity"):
            store = open_run(cfg.run)
            try:
                _score(store, scorer, cfg, todo, prompts)
            finally:
                store.close()
    store = open_run(cfg.run)
    try:
        scores = store.scores(cfg.label)
    finally:
        store.close()
    lp = sum(v[0] for v in scores.values())
    tokens = sum(v[1] for v in scores.values())
    return {"scorer": cfg.label, "scored": len(scores), "new": len(todo), "tokens": tokens,
            "nll_per_token": -lp / max(tokens, 1)}


def _score(store, scorer, cfg: PerplexityConfig, todo: list[tuple[str, int, str]], prompts: dict[str, str]) -> None:
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc=f"scoring under {cfg.label}", unit="sample", disable=not cfg.progress)
    for start in range(0, len(todo), cfg.batch_size):
        chunk = todo[start:start + cfg.batch_size]
        got = scorer.score([prompts[p] for p, _, _ in chunk], [c for _, _, c in chunk], batch_size=cfg.batch_size)
        store.put_scores(cfg.label, [(p, i, lp, n) for (p, i, _), (lp, n) in zip(chunk, got)])  # kept batch by batch
        bar.update(len(chunk))
    bar.close()


def nll_per_token(run: Path, scorer: str) -> dict[tuple[str, int], float]:
    """(problem_id, sample_idx) -> negative log-likelihood per token of each sample of ``run`` scored under ``scorer``."""
    from rlscope.boundary.runs import open_run

    store = open_run(run)
    try:
        return {k: -lp / max(n, 1) for k, (lp, n) in store.scores(scorer).items()}
    finally:
        store.close()


def common_scorers(runs: list[Path]) -> list[str]:
    """Scorers every run was scored under."""
    from rlscope.boundary.runs import open_run

    sets = []
    for run in runs:
        store = open_run(run)
        try:
            sets.append(set(store.scorers()))
        finally:
            store.close()
    return sorted(set.intersection(*sets)) if sets else []
