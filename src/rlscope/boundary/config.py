"""Configs of the reasoning-boundary commands. The CLI is generated from these dataclasses."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Literal

import tyro


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
    """openai: use /chat/completions (the prompt becomes one user message) instead of /completions."""
    concurrency: int = 8
    """openai: requests in flight."""
    retries: int = 3
    """openai: retries of a call on connection errors, 429 and 5xx (exponential backoff)."""
    progress: bool = True
    """Show a progress bar."""


@dataclasses.dataclass(frozen=True)
class ImportConfig:
    """`rlscope boundary import`: take completions generated elsewhere into the run's store."""

    benchmark: str
    """The benchmark the completions answer (a known name or `jsonl:PATH`)."""
    completions: Path
    """JSONL file, one `{"problem_id": ..., "completion": ...}` per line; order per problem gives sample_idx."""
    run: Path
    """Run directory."""
    data: str | None = None
    """Local copy of the benchmark."""
    fields: dict[str, str] = dataclasses.field(default_factory=dict)
    """Field mapping for JSONL benchmarks."""
    limit: int | None = None
    """Use only the first LIMIT problems."""


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
    progress: bool = True
    """Show a progress bar."""


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


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """`rlscope boundary export`: one JSONL line (or Parquet row) per sample."""

    run: Path
    """Run directory."""
    out: Path | None = None
    """Output file (default: stdout). A .parquet suffix writes Parquet."""
    format: Literal["auto", "jsonl", "parquet"] = "auto"
    """Output format (auto: from the suffix of --out)."""


@dataclasses.dataclass(frozen=True)
class BenchmarksConfig:
    """`rlscope boundary benchmarks`: list the available benchmarks."""

    json: bool = False
    """Print JSON instead of a table."""
