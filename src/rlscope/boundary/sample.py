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
from rlscope.boundary.runs import check_same, open_run, record, writer
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


def resolve_template(name: str, problems: list[Problem], chat: bool = False) -> str:
    """The template to use: ``auto`` picks by the problems' kind and by the endpoint (raw text or chat)."""
    if name == "auto":
        kinds = {p.kind for p in problems}
        if kinds == {"code"}:
            return "code-complete"
        return "chat-boxed" if chat else "qwen-boxed"
    tpl = get_template(name)
    if chat and not tpl.chat:
        raise RlscopeError(f"--template {name}: renders raw text for /completions, with any chat tokens already in it; "
                           "with --chat the server applies the model's chat template, so use a chat template "
                           "(chat-boxed, or auto)")
    if not chat and tpl.chat:
        raise RlscopeError(f"--template {name}: renders one chat message; add --chat (openai backend) or use a raw "
                           "template (qwen-boxed, plain-boxed)")
    return name


def render_prompts(problems: list[Problem], template: str) -> list[str]:
    tmpl = get_template(template)
    return [tmpl.render(p) for p in problems]


def _backend_kwargs(cfg: SampleConfig) -> dict:
    if cfg.backend == "hf":
        return {"device": cfg.device, "dtype": cfg.dtype, "batch_size": cfg.batch_size, "threads": cfg.threads}
    if cfg.backend == "openai":
        return {"base_url": cfg.base_url, "mode": "chat" if cfg.chat else "completions", "concurrency": cfg.concurrency,
                "max_retries": cfg.retries, "timeout_s": cfg.timeout_s}
    return {}


def _missing(problems: list[Problem], have: dict[str, set[int]], n: int) -> list[tuple[int, int]]:
    """(problem position, sample_idx) still to draw, in problem order."""
    return [(i, j) for i, p in enumerate(problems) for j in range(n) if j not in have.get(p.problem_id, ())]


def clean_text(text: str) -> str:
    """``text`` storable as UTF-8: lone surrogates (from a server's JSON escapes) become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


FLUSH_EVERY = 16
"""Finished samples held before they are committed (a streaming backend commits each group as it arrives)."""


def run_sample(cfg: SampleConfig) -> SampleSummary:
    """Draw ``cfg.n`` samples per problem into ``cfg.run``; continue a partial run.

    Options are checked before the run is touched; the run's settings (and its problems) are recorded
    with the first samples stored, so a command that fails before that leaves nothing behind. Every
    finished request is stored as it arrives: a failure keeps all that finished before it."""
    cfg.validate()
    problems = load_benchmark(cfg.benchmark, data=cfg.data, limit=cfg.limit, fields=cfg.fields or None)
    template = resolve_template(cfg.template, problems, chat=cfg.chat)
    prompts = render_prompts(problems, template)
    params = SamplingParams(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens)
    with writer(cfg.run, "sample"):
        store = open_run(cfg.run, create=True)
        try:
            settings = check_same(store, "sampling", {
                "model": cfg.model, "backend": cfg.backend, "benchmark": cfg.benchmark, "data": cfg.data,
                "template": template_id(template), "temperature": cfg.temperature, "top_p": cfg.top_p,
                "max_new_tokens": cfg.max_new_tokens, "seed": cfg.seed})
            if "import" in store.sources():
                raise RlscopeError(f"{cfg.run} holds imported completions; sampling into it would mix two sources under "
                                   "one problem: sample into a new --run")
            return _sample_into(store, cfg, settings, problems, prompts, params, template)
        finally:
            store.close()


def _sample_into(store, cfg: SampleConfig, settings: dict, problems: list[Problem], prompts: list[str], params,
                 template: str) -> SampleSummary:
    todo = _missing(problems, store.sample_indices(), cfg.n)
    already = len(problems) * cfg.n - len(todo)
    summary = SampleSummary(len(problems), len(problems) * cfg.n, already, 0, 0, 0.0)
    if not todo:
        log.info("nothing to sample: %d samples already stored", already)
        return summary
    if cfg.ray is None:
        sampler = get_sampler(cfg.backend, cfg.model, **_backend_kwargs(cfg))
    else:
        from rlscope.llm.ray_sampler import RaySampler

        sampler = RaySampler(cfg.backend, cfg.model, _backend_kwargs(cfg), cfg.ray, cfg.ray_workers)
    bar = _progress(cfg.progress, total=len(problems) * cfg.n, initial=already)
    remaining = Counter(i for i, _ in todo)  # problem position -> samples still to draw
    complete = len(problems) - len(remaining)
    start = time.perf_counter()
    pending: list[tuple[int, GenerationRow]] = []
    first = True

    def flush() -> None:
        nonlocal complete, first
        if not pending:
            return
        if first:  # this command's problems (a larger --limit adds some) and the run's settings, with its first samples
            store.put_problems(problems, prompts)
            record(store, "sampling", settings)
            write_manifest(cfg.run, "sample", cfg, {"template": template_id(template), "problems": len(problems)})
            first = False
        store.put_generations([row for _, row in pending])
        summary.generated += len(pending)
        summary.tokens += sum(row.num_tokens or 0 for _, row in pending)
        summary.seconds = time.perf_counter() - start
        for i, _ in pending:
            remaining[i] -= 1
            complete += remaining[i] == 0
        if bar is not None:
            bar.update(len(pending))
            bar.set_postfix(problems=f"{complete}/{len(problems)}",
                            tok_s=f"{summary.tokens / max(summary.seconds, 1e-9):.0f}",
                            **({"workers_tok_s": sampler.throughput()} if hasattr(sampler, "throughput") else {}))
        pending.clear()

    try:
        for chunk in _chunks(todo, cfg.batch_size * getattr(sampler, "workers", 1)):  # a batch for every worker
            requests = [SampleRequest(prompts[i], sample_seed(cfg.seed, problems[i].problem_id, j)) for i, j in chunk]

            def done(k: int, c, chunk=chunk, requests=requests) -> None:
                i, j = chunk[k]
                pending.append((i, GenerationRow(problems[i].problem_id, j, clean_text(c.text), c.num_tokens,
                                                 c.finish_reason, requests[k].seed, "sample")))
                if len(pending) >= FLUSH_EVERY:
                    flush()

            try:
                if getattr(sampler, "streams", False):
                    sampler.generate(requests, params, on_result=done)
                else:
                    for k, c in enumerate(sampler.generate(requests, params)):
                        done(k, c)
            finally:
                flush()  # what finished is stored, whatever happens next
    finally:
        if bar is not None:
            bar.close()
        if hasattr(sampler, "close"):
            sampler.close()
    return summary


def _chunks(items: list, size: int) -> Iterator[list]:
    for k in range(0, len(items), max(size, 1)):
        yield items[k : k + size]


def _progress(enabled: bool, total: int, initial: int):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, unit="sample", dynamic_ncols=True)


SELF_SCORER = "self"
"""Scorer name under which a run keeps its samples' log-probabilities under the model that drew them (imported
``token_logprobs`` / ``logprob``, or `rlscope boundary perplexity --scorer THAT_MODEL --name self`); `compare`
turns them into each run's token entropy."""


def _logprob(rec: dict, pid: str, path: Path, lineno: int) -> tuple[float, int] | None:
    """An import line's own log-probability: ``token_logprobs`` (one number per completion token; a leading null
    is skipped), or ``logprob`` (their sum) with ``num_tokens``; None when the line has neither."""
    if rec.get("token_logprobs") is not None:
        vals = rec["token_logprobs"]
        if not isinstance(vals, list) or not all(v is None or isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
            raise DataError(f"problem {pid}: token_logprobs must be a list of numbers", str(path), lineno)
        vals = [v for v in vals if v is not None]
        return (float(sum(vals)), len(vals)) if vals else None
    if rec.get("logprob") is None:
        return None
    lp, n = rec["logprob"], rec.get("num_tokens")
    if not isinstance(lp, (int, float)) or isinstance(lp, bool) or not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise DataError(f"problem {pid}: logprob needs a number and num_tokens a positive integer, got {lp!r} and {n!r}",
                        str(path), lineno)
    return float(lp), n


def read_completions(path: Path, known_ids: set[str]) -> list[tuple[int, GenerationRow, bool, tuple[float, int] | None]]:
    """Parse an import file: (line, row, whether the line gave its sample_idx, its own log-probability and token
    count if given). Without ``sample_idx`` a problem's lines are numbered in file order (after any numbered ones,
    see :func:`run_import`)."""
    if path.is_dir() or not path.exists():
        raise RlscopeError(f"{path}: no such completions file")
    out: list[tuple[int, GenerationRow, bool, tuple[float, int] | None]] = []
    counts: dict[str, int] = {}
    seen: dict[tuple[str, int], int] = {}
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"not UTF-8 (byte {raw[exc.start]:#04x} at column {exc.start + 1})", str(path), lineno) from None
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
                raise DataError(f"problem {pid}: completion must be a string, got {type(rec['completion']).__name__}",
                                str(path), lineno)
            given = rec.get("sample_idx")
            if given is not None and (not isinstance(given, int) or isinstance(given, bool) or given < 0):
                raise DataError(f"sample_idx must be an integer >= 0, got {given!r}", str(path), lineno)
            idx = given if given is not None else counts.get(pid, 0)
            counts[pid] = max(counts.get(pid, 0), idx + 1)
            if (pid, idx) in seen:
                raise DataError(f"problem {pid} sample {idx} is also on line {seen[pid, idx]}", str(path), lineno)
            seen[pid, idx] = lineno
            own = _logprob(rec, pid, path, lineno)
            row = GenerationRow(pid, idx, clean_text(rec["completion"]), num_tokens=own and own[1], source="import")
            out.append((lineno, row, given is not None, own))
    if not out:
        raise DataError("no completions in file", str(path))
    return out


@dataclasses.dataclass
class ImportSummary(SampleSummary):
    replaced: int = 0


def run_import(cfg: ImportConfig) -> ImportSummary:
    """Take completions generated elsewhere into the store.

    Importing the same file again adds nothing. A file whose completions differ from those stored under the
    same (problem, sample) is refused unless ``--replace`` (their verdicts are dropped) or ``--append`` (added
    as more samples: unnumbered lines after those stored, numbered lines where they say)."""
    cfg.validate()
    problems = load_benchmark(cfg.benchmark, data=cfg.data, limit=cfg.limit, fields=cfg.fields or None)
    lines = read_completions(cfg.completions, {p.problem_id for p in problems})
    with writer(cfg.run, "import"):
        store = open_run(cfg.run, create=True)
        try:
            settings = check_same(store, "import", {"benchmark": cfg.benchmark, "data": cfg.data})
            if "sample" in store.sources():
                raise RlscopeError(f"{cfg.run} holds samples drawn by `rlscope boundary sample`; importing into it would "
                                   "mix two sources under one problem: import into a new --run")
            stored = store.completions()
            if cfg.append:
                after: dict[str, int] = {}
                for pid, idx in stored:
                    after[pid] = max(after.get(pid, 0), idx + 1)
                shifted = []
                for lineno, row, given, own in lines:
                    if not given:
                        row = dataclasses.replace(row, sample_idx=row.sample_idx + after.get(row.problem_id, 0))
                    shifted.append((lineno, row, given, own))
                lines = shifted
            new = [row for _, row, _, _ in lines if (row.problem_id, row.sample_idx) not in stored]
            changed = [(lineno, row) for lineno, row, _, _ in lines
                       if stored.get((row.problem_id, row.sample_idx), row.completion) != row.completion]
            if changed and not cfg.replace:
                lineno, row = changed[0]
                raise RlscopeError(
                    f"{cfg.completions}: {len(changed)} completion(s) differ from those stored in {cfg.run} under the same "
                    f"problem and sample (first: line {lineno}, problem {row.problem_id} sample {row.sample_idx}); "
                    "--replace to replace them (their verdicts are dropped), or --append to add the file as more samples")
            start = time.perf_counter()
            if new or changed:
                store.put_problems(problems, [None] * len(problems))
                record(store, "import", settings)
                write_manifest(cfg.run, "import", cfg, {"problems": len(problems)})
            inserted = 0
            for chunk in _chunks(new, 5000):
                inserted += store.put_generations(chunk)
            replaced = store.replace_generations([row for _, row in changed]) if changed else 0
            store.put_scores(SELF_SCORER, [(row.problem_id, row.sample_idx, *own) for _, row, _, own in lines if own])
            return ImportSummary(problems=len({row.problem_id for _, row, _, _ in lines}), requested=len(lines),
                                 already=len(lines) - inserted - replaced, generated=inserted, tokens=0,
                                 seconds=time.perf_counter() - start, replaced=replaced)
        finally:
            store.close()
