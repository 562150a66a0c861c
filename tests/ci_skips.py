"""A pytest plugin: in CI (``CI=true``), a test skipped for a missing required component fails.

Loaded by ``tests/conftest.py``. Without CI set, skips stay skips (a user's machine may lack the browser).
"""

from __future__ import annotations

import os

import pytest

OPTIONAL = "optional:"
"""A skip whose reason starts with this is about an optional extra (vllm with a GPU); every other
skip means a required component is missing (bubblewrap, a pinned package, the browser, the shared
benchmark data), and in CI that fails the test instead of passing it silently."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _required_skip(report) -> str | None:
    """The reason of a skip that, in CI, must fail (None: not a skip, or an optional one)."""
    if not report.skipped or hasattr(report, "wasxfail") or not in_ci():
        return None
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    return None if reason.startswith(OPTIONAL) else reason


def _fail_required_skip(report) -> None:
    reason = _required_skip(report)
    if reason is not None:
        report.outcome = "failed"
        report.longrepr = f"required component missing in CI (CI=true), not skipped: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_required_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_required_skip(outcome.get_result())
