"""Resumable sampling and import: benchmark -> prompts -> Sampler -> store(generations).

Only samples missing from the store are drawn; each batch is committed as it
finishes, so a killed run continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from rlscope.boundary.benchmarks import load_benchmark
from rlscope.boundary.benchmarks.base import Problem
from rlscope.boundary.config import ImportConfig, SampleConfig
from rlscope.boundary.prompts import get_template, template_id
from rlscope.boundary.runs import check_same, open_run
from rlscope.config import write_manifest
from rlscope.errors import DataError, RlscopeError
from rlscope.llm.base import SampleRequest, SamplingParams, get_sampler, sample_seed
from rlscope.store import GenerationRow

log = logging.getLogger(__name__)


@dataclasses.dataclass
class SampleSummary:
    """What a sampling command did."""

    problems: int
    requested: int
    already: int
    generated: int
    tokens: int
    seconds: float


def resolve_template(name: str, problems: list[Problem]) -> str:
    if name != "auto":
        return name
    kinds = {p.kind for p in problems}
    return "code-complete" if kinds == {"code"} else "qwen-boxed"


def render_prompts(problems: list[Problem], template: str) -> list[str]:
    tmpl = get_template(template)
    return [tmpl.render(p) for p in problems]


def _backend_kwargs(cfg: SampleConfig) -> dict:
    if cfg.backend == "hf":
        return {"device": cfg.device, "dtype": cfg.dtype, "batch_size": cfg.batch_size, "threads": cfg.threads}
    if cfg.backend == "openai":
        return {"base_url": cfg.base_url, "mode": "chat" if cfg.chat else "completions", "concurrency": cfg.concurrency,
                "max_retries": cfg.retries}
    return {}


def _missing(problems: list[Problem], have: dict[str, set[int]], n: int) -> list[tuple[int, int]]:
    """(problem position, sample_idx) still to draw, in problem order."""
    return [(i, j) for i, p in enumerate(problems) for j in range(n) if j not in have.get(p.problem_id, ())]


def run_sample(cfg: SampleConfig) -> SampleSummary:
    """Draw ``cfg.n`` samples per problem into ``cfg.run``; continue a partial run."""
    problems = load_benchmark(cfg.benchmark, data=cfg.data, limit=cfg.limit, fields=cfg.fields or None)
    template = resolve_template(cfg.template, problems)
    prompts = render_prompts(problems, template)
    params = SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens)
    store = open_run(cfg.run, create=True)
    try:
        check_same(
            store,
            "sampling",
            {
                "model": cfg.model,
                "backend": cfg.backend,
                "benchmark": cfg.benchmark,
                "template": template_id(template),
                "temperature": cfg.temperature,
                "top_p": cfg.top_p,
                "max_new_tokens": cfg.max_new_tokens,
                "seed": cfg.seed,
            },
        )
        store.put_problems(problems, prompts)
        write_manifest(cfg.run, "sample", cfg, {"template": template_id(template), "problems": len(problems)})
        todo = _missing(problems, store.sample_indices(), cfg.n)
        already = len(problems) * cfg.n - len(todo)
        summary = SampleSummary(len(problems), len(problems) * cfg.n, already, 0, 0, 0.0)
        if not todo:
            log.info("nothing to sample: %d samples already stored", already)
            return summary
        sampler = get_sampler(cfg.backend, cfg.model, **_backend_kwargs(cfg))
        bar = _progress(cfg.progress, total=len(problems) * cfg.n, initial=already)
        remaining = Counter(i for i, _ in todo)  # problem position -> samples still to draw
        complete = len(problems) - len(remaining)
        start = time.perf_counter()
        for chunk in _chunks(todo, cfg.batch_size):
            requests = [
                SampleRequest(prompts[i], sample_seed(cfg.seed, problems[i].problem_id, j)) for i, j in chunk
            ]
            comps = sampler.generate(requests, params)
            rows = [
                GenerationRow(problems[i].problem_id, j, c.text, c.num_tokens, c.finish_reason, req.seed, "sample")
                for (i, j), c, req in zip(chunk, comps, requests)
            ]
            store.put_generations(rows)
            summary.generated += len(rows)
            summary.tokens += sum(c.num_tokens for c in comps)
            summary.seconds = time.perf_counter() - start
            for i, _ in chunk:
                remaining[i] -= 1
                complete += remaining[i] == 0
            if bar is not None:
                bar.update(len(rows))
                bar.set_postfix(
                    problems=f"{complete}/{len(problems)}",
                    tok_s=f"{summary.tokens / max(summary.seconds, 1e-9):.0f}",
                )
        if bar is not None:
            bar.close()
        return summary
    finally:
        store.close()


def _chunks(items: list, size: int) -> Iterator[list]:
    for k in range(0, len(items), max(size, 1)):
        yield items[k : k + size]


def _progress(enabled: bool, total: int, initial: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="sample", dynamic_ncols=True)


def read_completions(path: Path, known_ids: set[str]) -> list[GenerationRow]:
    """Parse an import file; ``sample_idx`` counts lines per problem in file order."""
    if not path.exists():
        raise RlscopeError(f"{path}: no such completions file")
    rows: list[GenerationRow] = []
    counts: dict[str, int] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"not valid JSON ({exc.msg} at column {exc.colno})", str(path), lineno) from None
            if not isinstance(rec, dict):
                raise DataError("expected a JSON object with problem_id and completion", str(path), lineno)
            for key in ("problem_id", "completion"):
                if key not in rec:
                    raise DataError(f"missing field {key!r} (expected problem_id and completion)", str(path), lineno)
            pid = str(rec["problem_id"])
            if pid not in known_ids:
                raise DataError(f"problem_id {pid!r} is not in the benchmark", str(path), lineno)
            if not isinstance(rec["completion"], str):
                raise DataError(f"problem {pid}: completion must be a string", str(path), lineno)
            idx = counts.get(pid, 0)
            counts[pid] = idx + 1
            rows.append(GenerationRow(pid, idx, rec["completion"], source="import"))
    if not rows:
        raise DataError("no completions in file", str(path))
    return rows


def run_import(cfg: ImportConfig) -> SampleSummary:
    """Take completions generated elsewhere into the store (idempotent: importing twice adds nothing)."""
    problems = load_benchmark(cfg.benchmark, data=cfg.data, limit=cfg.limit, fields=cfg.fields or None)
    rows = read_completions(cfg.completions, {p.problem_id for p in problems})
    store = open_run(cfg.run, create=True)
    try:
        check_same(store, "import", {"benchmark": cfg.benchmark, "completions": str(cfg.completions)})
        store.put_problems(problems, [None] * len(problems))
        write_manifest(cfg.run, "import", cfg, {"problems": len(problems)})
        start = time.perf_counter()
        inserted = 0
        for chunk in _chunks(rows, 5000):
            inserted += store.put_generations(chunk)
        return SampleSummary(
            problems=len({r.problem_id for r in rows}),
            requested=len(rows),
            already=len(rows) - inserted,
            generated=inserted,
            tokens=0,
            seconds=time.perf_counter() - start,
        )
    finally:
        store.close()
