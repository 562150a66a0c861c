"""In CI, a test skipped for a missing required component fails; an optional extra may still skip."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]

CASES = '''
import pytest

def test_required():
    pytest.skip("bubblewrap is not usable here")

def test_optional():
    pytest.skip("optional: needs vllm and a CUDA GPU")

@pytest.mark.skipif(True, reason="no Chromium on PATH")
def test_marked():
    pass

def test_passes():
    pass
'''


def _run(tmp_path: Path, source: str, ci: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_cases.py").write_text(source)
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(TESTS)}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "ci_skips", "-p", "no:cacheprovider", "-rA",
                           str(tmp_path / "test_cases.py")], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=120)


@pytest.mark.parametrize("ci, failed", [("true", 2), ("", 0)])
def test_required_skips_fail_only_in_ci(tmp_path, ci, failed):
    proc = _run(tmp_path, CASES, ci)
    tail = proc.stdout.strip().splitlines()[-1]
    if failed:
        assert proc.returncode == 1, proc.stdout
        assert "1 passed" in tail and "1 skipped" in tail, tail  # the optional one still skips
        assert "required component missing in CI (CI=true), not skipped: bubblewrap is not usable here" in proc.stdout
        assert "not skipped: no Chromium on PATH" in proc.stdout
    else:
        assert proc.returncode == 0 and "3 skipped" in tail, proc.stdout


def test_a_missing_required_module_fails_collection_in_ci(tmp_path):
    proc = _run(tmp_path, "import pytest\npytest.importorskip('rlscope_no_such_module')\n\ndef test_x():\n    pass\n", "true")
    assert proc.returncode != 0
    assert "not skipped: could not import 'rlscope_no_such_module'" in proc.stdout
