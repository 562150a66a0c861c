"""Configs of the reasoning-boundary commands. The CLI is generated from these dataclasses."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Literal

import tyro

from rlscope.errors import RlscopeError

DTYPES = ("auto", "float32", "bfloat16", "float16")


def require(ok: bool, option: str, expected: str, got: object) -> None:
    """One line naming the option and what was expected, raised before anything is changed."""
    if not ok:
        raise RlscopeError(f"{option}: expected {expected}, got {got!r}")


@dataclasses.dataclass(frozen=True)
class SampleConfig:
    """`rlscope boundary sample`: draw n completions per problem into the run's store (resumable)."""

    model: str
    """Model: a local path or hub id (hf, vllm), or the served model name (openai)."""
    benchmark: str
    """A known name (see `rlscope boundary benchmarks`) or `jsonl:PATH`."""
    run: Path
    """Run directory (created if needed; an existing run is continued)."""
    backend: str = "hf"
    """hf | vllm | openai, or a module:Class implementing the Sampler protocol."""
    n: Annotated[int, tyro.conf.arg(aliases=["-n"])] = 16
    """Samples per problem (k goes up to n)."""
    data: str | None = None
    """Local copy of the benchmark (a file, or a folder holding test.jsonl)."""
    fields: dict[str, str] = dataclasses.field(default_factory=dict)
    """Field mapping for JSONL files, e.g. `--fields question problem answer solution`."""
    limit: int | None = None
    """Use only the first LIMIT problems."""
    template: str = "auto"
    """Prompt template (`auto`: qwen-boxed for math, code-complete for code) or module:function."""
    temperature: float = 0.6
    """Sampling temperature (paper: 0.6)."""
    top_p: float = 0.95
    """Nucleus sampling mass (paper: 0.95)."""
    max_new_tokens: int = 1024
    """Token budget per sample (paper: 16,384)."""
    seed: int = 0
    """Base seed; each sample's seed derives from (seed, problem_id, sample_idx)."""
    batch_size: int = 64
    """Samples generated (and committed to the store) per batch."""
    device: str = "auto"
    """hf: cpu, cuda, or auto."""
    dtype: str = "auto"
    """hf: auto (float32 on CPU), float32, bfloat16, float16."""
    threads: int | None = None
    """hf on CPU: torch threads (default: torch's choice)."""
    base_url: str = "http://127.0.0.1:8000/v1"
    """openai: server URL."""
    chat: bool = False
    """openai: use /chat/completions: the prompt is the question with the answer-format instruction as one user
    message, and the server applies the model's own chat template (template auto: chat-boxed)."""
    concurrency: int = 8
    """openai: requests in flight."""
    retries: int = 3
    """openai: retries of a call on connection errors, timeouts, 429 and 5xx (exponential backoff)."""
    timeout_s: float = 600.0
    """openai: seconds to wait for a request's answer (connecting, and each wait for data) before a retry."""
    ray: str | None = None
    """Spread sampling over Ray workers: 'local' (start Ray here), 'auto' (this machine's cluster) or ray://HOST:PORT."""
    ray_workers: int = 2
    """With --ray: workers, each holding one backend instance (an HF model per CPU worker, a vLLM engine per GPU)."""
    progress: bool = True
    """Show a progress bar."""

    def validate(self) -> None:
        """Every option checked before the run is touched (one line naming the option)."""
        require(self.n >= 1, "-n", "at least 1 sample per problem", self.n)
        require(self.ray_workers >= 1, "--ray-workers", "at least 1", self.ray_workers)
        require(self.limit is None or self.limit >= 1, "--limit", "at least 1 problem", self.limit)
        require(self.temperature >= 0, "--temperature", "a value >= 0 (0: greedy)", self.temperature)
        require(0 < self.top_p <= 1, "--top-p", "a value in (0, 1]", self.top_p)
        require(self.max_new_tokens >= 1, "--max-new-tokens", "at least 1", self.max_new_tokens)
        require(self.batch_size >= 1, "--batch-size", "at least 1", self.batch_size)
        require(self.concurrency >= 1, "--concurrency", "at least 1", self.concurrency)
        require(self.retries >= 0, "--retries", "0 or more", self.retries)
        require(self.timeout_s > 0, "--timeout-s", "a number of seconds > 0", self.timeout_s)
        require(self.threads is None or self.threads >= 1, "--threads", "at least 1", self.threads)
        require(self.dtype in DTYPES, "--dtype", " | ".join(DTYPES), self.dtype)
        require(self.device in ("auto", "cpu") or self.device.startswith("cuda"), "--device", "auto | cpu | cuda[:N]",
                self.device)
        require(not self.chat or self.backend == "openai", "--chat", "--backend openai (chat endpoints)", self.backend)
        if self.backend == "hf" and self.device.startswith("cuda"):
            import torch

            require(torch.cuda.is_available(), "--device", "auto or cpu: torch sees no CUDA device here", self.device)


@dataclasses.dataclass(frozen=True)
class ImportConfig:
    """`rlscope boundary import`: take completions generated elsewhere into the run's store."""

    benchmark: str
    """The benchmark the completions answer (a known name or `jsonl:PATH`)."""
    completions: Path
    """JSONL file, one `{"problem_id": ..., "completion": ...}` per line (optionally `"sample_idx"`; else the
    order of a problem's lines numbers them)."""
    run: Path
    """Run directory."""
    append: bool = False
    """Add the file's completions as more samples (a shard): numbered after those already stored, or by the
    file's sample_idx."""
    replace: bool = False
    """Replace stored completions that the file gives again with other text (drops their verdicts)."""
    data: str | None = None
    """Local copy of the benchmark."""
    fields: dict[str, str] = dataclasses.field(default_factory=dict)
    """Field mapping for JSONL benchmarks."""
    limit: int | None = None
    """Use only the first LIMIT problems."""

    def validate(self) -> None:
        require(self.limit is None or self.limit >= 1, "--limit", "at least 1 problem", self.limit)
        require(not (self.append and self.replace), "--append/--replace", "one of them, not both", "both")


@dataclasses.dataclass(frozen=True)
class VerifyConfig:
    """`rlscope boundary verify`: verify every stored sample that has no verdict yet."""

    run: Path
    """Run directory."""
    workers: int = 2
    """Verifier worker processes (math-verify workers; sandbox workers for code)."""
    timeout_s: float = 5.0
    """Per-answer time limit of symbolic math equivalence."""
    force: bool = False
    """Drop existing verdicts and verify everything again."""
    ray: str | None = None
    """Spread verification over Ray workers: 'local' (start Ray here), 'auto' (this machine's cluster) or ray://HOST:PORT."""
    ray_workers: int = 2
    """With --ray: worker processes, each verifying blocks of samples with --workers processes of its own."""
    progress: bool = True
    """Show a progress bar."""

    def validate(self) -> None:
        require(self.workers >= 1, "--workers", "at least 1", self.workers)
        require(self.ray_workers >= 1, "--ray-workers", "at least 1", self.ray_workers)
        require(self.timeout_s > 0, "--timeout-s", "a number of seconds > 0", self.timeout_s)


@dataclasses.dataclass(frozen=True)
class PassKConfig:
    """`rlscope boundary passk`: pass@k curve with bootstrap CIs; writes passk.json and passk.csv into the run."""

    run: Path
    """Run directory."""
    json: bool = False
    """Print JSON on stdout instead of a table."""
    bootstrap: int = 1000
    """Bootstrap replicates for the confidence intervals (0: none)."""
    confidence: float = 0.95
    """Confidence level of the intervals."""

    def validate(self) -> None:
        require(self.bootstrap >= 0, "--bootstrap", "0 (no intervals) or more replicates", self.bootstrap)
        require(0 < self.confidence < 1, "--confidence", "a level in (0, 1)", self.confidence)


EXPORT_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}
"""File suffix -> export format."""


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """`rlscope boundary export`: one record per sample, with its problem's gold answer and its verdict."""

    run: Path
    """Run directory."""
    out: Path | None = None
    """Output file (default: JSONL on stdout); its suffix picks the format: .jsonl, .csv or .parquet."""
    format: Literal["auto", "jsonl", "csv", "parquet"] = "auto"
    """Output format (auto: from the suffix of --out)."""

    def resolved_format(self) -> str:
        """The format to write, checked against --out before anything is written."""
        if self.out is None:
            require(self.format in ("auto", "jsonl"), "--format", "jsonl on stdout (csv and parquet need --out FILE)",
                    self.format)
            return "jsonl"
        require(not self.out.is_dir(), "--out", "a file path, not a directory", str(self.out))
        require(self.out.parent.is_dir(), "--out", "a file in an existing directory", str(self.out))
        if self.format != "auto":
            return self.format
        suffix = self.out.suffix.lower()
        require(suffix in EXPORT_FORMATS, "--out", f"a file ending in {', '.join(EXPORT_FORMATS)} (or --format)",
                str(self.out))
        return EXPORT_FORMATS[suffix]


@dataclasses.dataclass(frozen=True)
class AnswersConfig:
    """`rlscope boundary answers`: each problem's distinct extracted answers with counts and verdicts, and the
    problems worth a look (a frequent answer judged wrong that equals the gold once spelling is ignored; many
    samples without an answer)."""

    run: Path
    """Run directory (verified)."""
    problem: str | None = None
    """Only this problem."""
    top: int = 5
    """Distinct answers shown per problem."""
    flagged: bool = False
    """Only the problems with a flag."""
    json: bool = False
    """Print JSON instead of tables."""

    def validate(self) -> None:
        require(self.top >= 1, "--top", "at least 1", self.top)


@dataclasses.dataclass(frozen=True)
class BenchmarksConfig:
    """`rlscope boundary benchmarks`: list the available benchmarks."""

    json: bool = False
    """Print JSON instead of a table."""
