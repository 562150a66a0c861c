"""Inside the sandbox: a warm zygote that forks one isolated child per program.

Standard library only; the host starts it (usually inside bubblewrap) as
``python -I -S -B zygote.py OPTIONS_JSON`` and talks to it over stdin/stdout in frames
(:func:`write_frame`). Importing this module has no side effects, so the host shares its
protocol helpers.

The process tree::

    starter  drops to an unprivileged uid; new user + mount + pid + IPC namespace; a private
             tmpfs on /tmp and /dev/shm; /proc hidden; forks the zygote and waits
      zygote   pid 1 of that pid namespace, not dumpable, seccomp; loops over jobs. Per job:
               unshare(CLONE_NEWPID | CLONE_NEWIPC), fork, setns back (one fork per program)
        program  pid 1 of a fresh pid namespace; fresh IPC namespace; new session; rlimits;
                 no capabilities; no_new_privs; fds 0-3 only -> runs the code

Because the program is pid 1 of its own pid namespace, everything it starts (detached,
double-forked, setsid) dies with it, and it cannot see or signal the zygote. /tmp and /dev/shm
are its only writable places; the zygote mounts fresh ones after a program that wrote there.

The program reports only outputs (fd 3); it never sees expected values. The zygote relays
stdout/stderr/result bytes raw and caps them; the host decides the verdict.
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import sys
import time

# -- protocol (shared with the host) --------------------------------------------------------

JOB, KILL, READY, DONE, FATAL = b"J", b"K", b"R", b"D", b"F"
_HEADER = struct.Struct(">cI")
_LEN = struct.Struct(">I")
SETUP_FAILED = 125
"""Exit status of a program child whose isolation setup failed (the code never ran)."""


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def write_frame(fd: int, kind: bytes, payload: bytes) -> None:
    write_all(fd, _HEADER.pack(kind, len(payload)) + payload)


def pack_done(header: dict, blobs: list[bytes]) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode()
    parts = [_LEN.pack(len(head)), head]
    for blob in blobs:
        parts += [_LEN.pack(len(blob)), blob]
    return b"".join(parts)


def unpack_done(payload: bytes) -> tuple[dict, list[bytes]]:
    (n,) = _LEN.unpack_from(payload, 0)
    header = json.loads(payload[4 : 4 + n])
    pos, blobs = 4 + n, []
    while pos < len(payload):
        (m,) = _LEN.unpack_from(payload, pos)
        blobs.append(bytes(payload[pos + 4 : pos + 4 + m]))
        pos += 4 + m
    return header, blobs


class FrameReader:
    """Accumulates bytes from a pipe and yields complete ``(kind, payload)`` frames."""

    def __init__(self, fd: int, chunk: int = 1 << 16):
        self.fd = fd
        self.chunk = chunk
        self.buf = bytearray()
        self.eof = False

    def feed(self) -> None:
        data = os.read(self.fd, self.chunk)
        if data:
            self.buf += data
        else:
            self.eof = True

    def pop(self) -> tuple[bytes, bytes] | None:
        if len(self.buf) < _HEADER.size:
            return None
        kind, n = _HEADER.unpack_from(self.buf, 0)
        if len(self.buf) < _HEADER.size + n:
            return None
        payload = bytes(self.buf[_HEADER.size : _HEADER.size + n])
        del self.buf[: _HEADER.size + n]
        return kind, payload


# -- Linux primitives through libc -----------------------------------------------------------

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_REC, MS_PRIVATE = 32, 0x4000, 0x40000
MNT_DETACH = 2
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_SECCOMP = 1, 4, 22
PR_SET_NO_NEW_PRIVS = 38

_libc = None


def libc():
    global _libc
    if _libc is None:
        import ctypes

        lib = ctypes.CDLL(None, use_errno=True)
        lib.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
        lib.setns.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.unshare.argtypes = [ctypes.c_int]
        # resolved here, in the zygote: a first lookup in each child would cost page faults
        lib.capset.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        _libc = lib
    return _libc


def _check(ret: int, what: str) -> None:
    if ret != 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def prctl(option: int, arg2: int = 0, arg3: int = 0) -> int:
    return libc().prctl(option, arg2, arg3, 0, 0)


def unshare(flags: int) -> None:
    _check(libc().unshare(flags), f"unshare({flags:#x})")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def c(text: str | None) -> bytes | None:
        return None if text is None else text.encode()

    _check(libc().mount(c(source), c(target), c(fstype), flags, c(data)), f"mount {target}")


_cap_buffers: tuple = ()
_cap_addresses: tuple[int, int] = (0, 0)


def prepare_capabilities() -> None:
    """Build capset's arguments once (in the zygote): version 3, this process, all sets empty."""
    global _cap_buffers, _cap_addresses
    import ctypes

    _cap_buffers = ((ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)())
    _cap_addresses = (ctypes.addressof(_cap_buffers[0]), ctypes.addressof(_cap_buffers[1]))


def drop_capabilities() -> None:
    """Empty the effective, permitted and inheritable sets (and so the ambient one). With
    no_new_privs set afterwards nothing can give them back: the bounding set no longer matters."""
    if not _cap_buffers:
        prepare_capabilities()
    _check(libc().capset(*_cap_addresses), "capset")


# x86_64 syscall numbers nothing in the sandbox may use (all answer EPERM): tracing, keyrings,
# kernel modules, new mount API, bpf/perf/io_uring/userfaultfd attack surface, ... The filter is
# installed in the zygote and inherited by every program. unshare() and clone() may not create a
# user namespace, the only namespace an unprivileged process can make; mount(), setns() and the
# other namespace kinds need capabilities, which the zygote holds and programs never do.
_DENY_X86_64 = (
    101, 103, 134, 153, 155, 161, 163, 167, 168, 169, 170, 171, 175, 176, 179, 212, 246, 248, 249, 250,
    298, 303, 304, 310, 311, 312, 313, 320, 321, 323, 425, 426, 427, 428, 429, 430, 431, 432, 433, 442,
)
_NR_CLONE, _NR_UNSHARE, _NR_CLONE3 = 56, 272, 435


def seccomp_program() -> bytes | None:
    """The classic-BPF filter (None where it is not written for this machine's architecture)."""
    if os.uname().machine != "x86_64":
        return None
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | 1, 0x00050000 | 38
    code = [
        (ld, 0, 0, 4),  # arch
        (jeq, 1, 0, 0xC000003E),
        (ret, 0, 0, kill),
        (ld, 0, 0, 0),  # syscall number
        (jge, 0, 1, 0x40000000),  # x32 ABI
        (ret, 0, 0, enosys),
        (jeq, 0, 1, _NR_CLONE3),  # glibc falls back to clone(), whose flags are visible
        (ret, 0, 0, enosys),
    ]
    for nr in _DENY_X86_64:
        code += [(jeq, 0, 1, nr), (ret, 0, 0, eperm)]
    code += [
        (jeq, 1, 0, _NR_CLONE),
        (jeq, 0, 3, _NR_UNSHARE),
        (ld, 0, 0, 16),  # flags (low half of args[0])
        (jset, 0, 1, CLONE_NEWUSER),
        (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
    ]
    return b"".join(struct.pack("HBBI", c, jt, jf, k) for c, jt, jf, k in code)


class SeccompFilter:
    """A filter built once (in the zygote) and installed in each program child."""

    def __init__(self, program: bytes):
        import ctypes

        class SockFprog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

        self._buf = ctypes.create_string_buffer(program, len(program))
        self._prog = SockFprog(len(program) // 8, ctypes.cast(self._buf, ctypes.c_void_p).value)
        self._addr = ctypes.addressof(self._prog)

    def install(self) -> None:
        _check(prctl(PR_SET_SECCOMP, 2, self._addr), "seccomp")  # SECCOMP_MODE_FILTER


# -- the program child -------------------------------------------------------------------------

_TRACEBACK_CAP = 8192


def _cap_text(text: str, cap: int = _TRACEBACK_CAP) -> str:
    if len(text) <= cap:
        return text
    half = cap // 2
    return text[:half] + f"\n... [{len(text) - cap} characters cut] ...\n" + text[-half:]


def _program_traceback(exc: BaseException):
    """The traceback from the program's first frame on (the zygote's own frames left out)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != "program.py":
        tb = tb.tb_next
    return tb


def _exception_record(exc: BaseException) -> dict:
    import traceback

    try:
        name = type(exc).__name__
        name = name if type(name) is str else "?"
    except BaseException:  # noqa: BLE001
        name = "?"
    try:
        message = str(exc)
    except BaseException:  # noqa: BLE001
        message = ""
    try:
        text = "".join(traceback.format_exception(type(exc), exc, _program_traceback(exc)))
    except BaseException:  # noqa: BLE001
        text = f"{name}: {message}\n"
    return {"type": name[:200], "message": _cap_text(message, 1000), "traceback": _cap_text(text)}


class _Program:
    """Runs in the program child, after isolation: execute the code, report outputs on fd 3."""

    def __init__(self, job: dict, codec):
        self.job = job
        self.codec = codec
        self._write = os.write  # kept before the program can replace os.write

    def report(self, record: dict) -> None:
        data = json.dumps(record, separators=(",", ":")).encode()
        view = memoryview(data)
        try:
            while view:
                view = view[self._write(3, view) :]
        except OSError:
            pass

    def _module(self, name: str):
        import linecache  # preloaded: these imports only look in sys.modules
        import types

        module = types.ModuleType(name)
        module.__file__ = "program.py"
        code = self.job["code"]
        linecache.cache["program.py"] = (len(code), None, code.splitlines(True), "program.py")
        sys.modules[name] = module
        return module

    def run(self) -> int:
        mode = self.job["mode"]
        if mode == "script":
            return self._script()
        return self._calls()

    def _script(self) -> int:
        import traceback

        module = self._module("__main__")
        record: dict = {}
        status = 0
        try:
            exec(compile(self.job["code"], "program.py", "exec"), module.__dict__)
        except SystemExit as exc:
            status = _exit_status(exc)
        except BaseException as exc:  # noqa: BLE001 - this is the interpreter's top level
            record["exc"] = _exception_record(exc)
            try:
                traceback.print_exception(type(exc), exc, _program_traceback(exc))
            except BaseException:  # noqa: BLE001
                pass
            status = 1
        status = _finish_interpreter(status)
        self.report(record)
        return status

    def _calls(self) -> int:
        codec = self.codec
        module = self._module("__candidate__")
        record: dict = {"calls": []}
        try:
            exec(compile(self.job["code"], "program.py", "exec"), module.__dict__)
            fn = module.__dict__.get(self.job["entry_point"])
            if not callable(fn):
                raise NameError(f"the program defines no function {self.job['entry_point']!r}")
        except BaseException as exc:  # noqa: BLE001
            record["load"] = _exception_record(exc)
            self.report(record)
            return 0
        for args_enc, kwargs_enc in self.job["calls"]:
            args, kwargs = codec.decode(args_enc), codec.decode(kwargs_enc)
            try:
                out = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001
                record["calls"].append({"exc": _exception_record(exc)})
                continue
            try:
                record["calls"].append({"out": codec.encode(out)})
            except BaseException as exc:  # noqa: BLE001 - too deep, a hostile type...
                record["calls"].append({"out": {"$opaque": ["unencodable", _cap_text(str(exc), 200)]}})
        _finish_interpreter(0)
        self.report(record)
        return 0


class _Quitter:
    """``exit`` and ``quit`` as the ``site`` module defines them: calling one raises ``SystemExit(code)``."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"Use {self.name}() or Ctrl-D (i.e. EOF) to exit"

    def __call__(self, code=None):
        raise SystemExit(code)


def _exit_status(exc: SystemExit) -> int:
    code = exc.code
    if code is None:
        return 0
    if type(code) is int:
        return code & 0xFF
    try:
        sys.stderr.write(f"{code}\n")
    except BaseException:  # noqa: BLE001
        pass
    return 1


def _finish_interpreter(status: int) -> int:
    """What a normal interpreter exit does: join threads, run atexit, flush."""
    threading = sys.modules.get("threading")  # only a program that imported it can have threads
    if threading is not None:
        try:
            threading._shutdown()  # type: ignore[attr-defined]
        except BaseException:  # noqa: BLE001
            pass
    try:
        import atexit

        atexit._run_exitfuncs()  # type: ignore[attr-defined]
    except BaseException:  # noqa: BLE001
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001
            status = status or 120
    return status


# -- the zygote -------------------------------------------------------------------------------

_RLIMITS = {}
try:
    import resource as _resource

    _RLIMITS = {
        "cpu": _resource.RLIMIT_CPU,
        "fsize": _resource.RLIMIT_FSIZE,
        "nofile": _resource.RLIMIT_NOFILE,
        "core": _resource.RLIMIT_CORE,
        "nproc": _resource.RLIMIT_NPROC,
        "as": _resource.RLIMIT_AS,
    }
except ImportError:  # not Unix: the host only imports this module for its protocol helpers
    pass

_PRELOAD = (
    "abc atexit bisect collections copy functools heapq io itertools linecache math operator re string "
    "traceback types typing"
).split()
"""What HumanEval-style programs import most, loaded once in the zygote. Each module also makes
every fork slower (page tables are copied per program), so rarer ones are left to the program;
``random`` and ``threading`` also add work to every fork (their at-fork hooks)."""


class Zygote:
    def __init__(self, options: dict):
        self.options = options
        self.ns = bool(options.get("ns"))
        self.ctl_in = os.dup(0)
        self.ctl_out = os.dup(1)
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
        self.reader = FrameReader(self.ctl_in)
        self.pending: list[tuple[bytes, bytes]] = []
        self.proc_fd = -1
        self.pidns_fd = -1
        self.ipcns_fd = -1
        self.vm_kb = 0
        self.tmp_bytes = 0
        self.features: list[str] = []
        self.seccomp: SeccompFilter | None = None
        self.codec = None
        self.hard_limits: dict[int, int] = {}
        self.null_fd = -1

    # -- setup, once ------------------------------------------------------------------------------

    def setup(self) -> None:
        """Everything before the first job. Returns in the zygote; the starter never returns."""
        opts = self.options
        sys.path[:0] = [p for p in opts.get("paths", []) if p not in sys.path]
        import codec  # the sibling file, bound next to this one

        self.codec = codec
        if os.geteuid() == 0 and opts.get("drop_uid") is not None:
            try:
                with open("/proc/self/oom_score_adj", "w") as f:
                    f.write("-1000")  # the starter; the zygote and its programs raise theirs to 1000
            except OSError:
                pass
            os.setgroups([])
            os.setresgid(opts["drop_gid"], opts["drop_gid"], opts["drop_gid"])
            os.setresuid(opts["drop_uid"], opts["drop_uid"], opts["drop_uid"])
            self.features.append(f"uid{opts['drop_uid']}")
        # what every program starts with, set once here rather than in each child
        os.environ.clear()
        os.environ.update(_environment("/tmp" if self.ns else "/"))
        import ctypes  # noqa: F401 - every child uses it; load once here
        import fcntl  # noqa: F401
        import resource  # noqa: F401

        prepare_capabilities()
        self.hard_limits = {r: resource.getrlimit(r)[1] for r in _RLIMITS.values()}
        self.null_fd = os.open(os.devnull, os.O_RDONLY)
        self.tmp_bytes = int(opts.get("tmp_mb", 32)) << 20
        if opts.get("seccomp", True):
            program = seccomp_program()
            self.seccomp = SeccompFilter(program) if program is not None else None
        if self.ns:  # still one thread here: a user namespace needs that
            uid, gid = os.geteuid(), os.getegid()
            prctl(PR_SET_DUMPABLE, 1)  # own /proc/self files, to write the id maps
            unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC)
            with open("/proc/self/uid_map", "w") as f:
                f.write(f"1000 {uid} 1")
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
            with open("/proc/self/gid_map", "w") as f:
                f.write(f"1000 {gid} 1")
            mount(None, "/", None, MS_REC | MS_PRIVATE)
            self._mount_scratch()
            os.chdir("/tmp")
            self.proc_fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
            mount("tmpfs", "/proc", "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=555")
            self.features += ["userns", "pidns"]
            self._fork_zygote()  # only the zygote returns
            self.pidns_fd = os.open("self/ns/pid", os.O_RDONLY, dir_fd=self.proc_fd)
            self.ipcns_fd = os.open("self/ns/ipc", os.O_RDONLY, dir_fd=self.proc_fd)
            sys.path[:] = ["/tmp"] + [p for p in sys.path if p not in opts.get("private_paths", [])]
        else:
            try:
                self.proc_fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
            except OSError:
                self.proc_fd = -1
        if self.ns:
            self._raise_oom_score()  # inherited by every program: the OOM killer takes those first
        for name in opts.get("preload", _PRELOAD):
            try:
                __import__(name)
            except Exception:  # noqa: BLE001 - optional
                pass
        # `python -S` skips site, which defines exit() and quit(): once here, every program inherits them, so one
        # that ends with exit() (a stdin/stdout solution) behaves as in a normal interpreter; inside a called
        # function SystemExit is an exception like any other
        import builtins

        builtins.exit = _Quitter("exit")  # type: ignore[attr-defined]
        builtins.quit = _Quitter("quit")  # type: ignore[attr-defined]
        self.vm_kb = _vm_kb(self.proc_fd)
        sys.argv = ["program.py"]
        sys.stdin = sys.__stdin__ = open(0, encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115
        sys.stdout = sys.__stdout__ = open(1, "w", encoding="utf-8", errors="backslashreplace", closefd=False)  # noqa: SIM115
        sys.stderr = sys.__stderr__ = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)  # noqa: SIM115
        prctl(PR_SET_DUMPABLE, 0)
        if self.seccomp is not None:
            self.seccomp.install()
            self.features.append("seccomp")
        import gc

        gc.collect()
        gc.freeze()  # forked children then leave the zygote's pages shared
        try:  # hand freed heap back: fewer pages to map per fork
            libc().malloc_trim(0)
        except AttributeError:  # not glibc
            pass

    def _mount_scratch(self, remount: bool = False, only: str | None = None) -> None:
        flags = MS_NOSUID | MS_NODEV | (MS_REMOUNT if remount else 0)
        inodes = max(1024, self.tmp_bytes >> 12)
        for target in ("/tmp", "/dev/shm"):
            if os.path.isdir(target) and only in (None, target):
                mount("tmpfs", target, "tmpfs", flags, f"size={self.tmp_bytes},nr_inodes={inodes},mode=1777")

    def _reset_scratch(self) -> None:
        """Give /tmp and /dev/shm back empty: a fresh tmpfs where the program left anything.
        (Detaching the old one costs the same however many files or levels it holds.)"""
        for target in ("/tmp", "/dev/shm"):
            try:
                with os.scandir(target) as it:
                    if next(it, None) is None:
                        continue
            except OSError:
                continue
            os.chdir("/")
            _check(libc().umount2(target.encode(), MNT_DETACH), f"umount {target}")
            self._mount_scratch(only=target)
        os.chdir("/tmp")

    def _fork_zygote(self) -> None:
        """The starter stays behind as the parent of the zygote (pid 1 of the new pid namespace)."""
        pid = os.fork()
        if pid == 0:
            return
        os.close(self.ctl_in)
        os.close(self.ctl_out)
        prctl(PR_SET_DUMPABLE, 0)
        while True:
            try:
                _, status = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)

    # -- the job loop -------------------------------------------------------------------------------

    def serve(self) -> None:
        ready = {"pid": os.getpid(), "vm_kb": self.vm_kb, "features": self.features, "python": sys.version.split()[0]}
        write_frame(self.ctl_out, READY, json.dumps(ready).encode())
        oneshot = bool(self.options.get("oneshot"))
        while True:
            frame = self._next_frame()
            if frame is None:
                return
            kind, payload = frame
            if kind != JOB:
                continue  # a kill for a job that already ended
            job = json.loads(payload)
            header, blobs = self.run_job(job)
            write_frame(self.ctl_out, DONE, pack_done(header, blobs))
            if oneshot:
                return

    def _next_frame(self):
        if self.pending:
            return self.pending.pop(0)
        while True:
            frame = self.reader.pop()
            if frame is not None:
                return frame
            if self.reader.eof:
                return None
            self.reader.feed()

    def run_job(self, job: dict) -> tuple[dict, list[bytes]]:
        limits = job["limits"]
        if self.ns and (int(limits["tmp_mb"]) << 20) != self.tmp_bytes:
            self.tmp_bytes = int(limits["tmp_mb"]) << 20
            self._mount_scratch(remount=True)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        res_r, res_w = os.pipe()
        st_r, st_w = os.pipe()
        workdir = "/tmp"
        if not self.ns:
            import tempfile

            workdir = tempfile.mkdtemp(prefix="rlscope-job-")
        started = time.monotonic()
        if self.ns:
            unshare(CLONE_NEWPID | CLONE_NEWIPC)  # the child: pid 1 of a new pid namespace, fresh IPC
        pid = os.fork()
        if pid == 0:  # the program
            status = SETUP_FAILED
            try:
                for fd in (out_r, err_r, res_r, st_r, self.ctl_in, self.ctl_out):
                    os.close(fd)
                status = self._program(job, out_w, err_w, res_w, st_w, workdir)
            finally:
                os._exit(status)
        if self.ns:
            _check(libc().setns(self.pidns_fd, CLONE_NEWPID), "setns pid")
            _check(libc().setns(self.ipcns_fd, CLONE_NEWIPC), "setns ipc")
        for fd in (out_w, err_w, res_w, st_w):
            os.close(fd)
        try:
            header, blobs = self._supervise(job, pid, out_r, err_r, res_r, st_r, started)
        finally:
            for fd in (out_r, err_r, res_r, st_r):
                os.close(fd)
        if self.ns:
            self._reset_scratch()
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
        return header, blobs

    def _supervise(self, job: dict, pid: int, out_r: int, err_r: int, res_r: int, st_r: int, started: float):
        limits = job["limits"]
        pidfd = os.pidfd_open(pid)
        bufs = {out_r: bytearray(), err_r: bytearray(), res_r: bytearray(), st_r: bytearray()}
        poller = select.poll()
        for fd in (out_r, err_r, res_r, st_r, pidfd, self.ctl_in):
            poller.register(fd, select.POLLIN)
        open_fds = {out_r, err_r, res_r, st_r}
        out_cap, res_cap = int(limits["output_bytes"]), int(limits["result_bytes"])
        deadline = started + float(limits["wall_time_s"])
        killed: str | None = None
        exited_at = None
        host_gone = False

        def kill(reason: str) -> None:
            nonlocal killed
            if killed is None:
                killed = reason
            try:
                if self.ns:
                    os.kill(pid, signal.SIGKILL)  # pid 1 of its namespace: all of it dies
                else:
                    os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        try:
            while open_fds or exited_at is None:
                now = time.monotonic()
                if now >= deadline:
                    if killed is None:
                        kill("wall")
                        deadline = now + 10.0
                    else:
                        break  # the process does not go away: give up on it
                if exited_at is not None and now - exited_at > 0.5:
                    break  # unsafe mode only: an escaped process holds a pipe open
                timeout = deadline - now if exited_at is None else 0.1
                for fd, _ev in poller.poll(max(0.0, timeout) * 1000.0):
                    if fd == pidfd:
                        poller.unregister(pidfd)
                        exited_at = time.monotonic()
                        continue
                    if fd == self.ctl_in:
                        host_gone = self._control(job["id"], kill) or host_gone
                        if host_gone:
                            poller.unregister(self.ctl_in)
                        continue
                    data = os.read(fd, 1 << 16)
                    if not data:
                        poller.unregister(fd)
                        open_fds.discard(fd)
                        continue
                    buf = bufs[fd]
                    if fd == out_r or fd == err_r:
                        room = out_cap - len(bufs[out_r]) - len(bufs[err_r])
                        if len(data) > room:
                            buf += data[: max(room, 0)]
                            kill("output")
                        else:
                            buf += data
                    elif fd == res_r:
                        if len(buf) + len(data) > res_cap:
                            kill("result")
                        else:
                            buf += data
                    else:
                        buf += data
            if exited_at is None:
                kill(killed or "wall")
            _, status, usage = os.wait4(pid, 0)
            if not self.ns:
                try:
                    os.killpg(pid, signal.SIGKILL)  # what it left in its process group
                except OSError:
                    pass
        finally:
            os.close(pidfd)
        header: dict = {
            "id": job["id"],
            "wall_s": time.monotonic() - started,
            "killed": killed,
            "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
            "cpu_s": usage.ru_utime + usage.ru_stime,
            "maxrss_kb": usage.ru_maxrss,
            "minflt": usage.ru_minflt,
        }
        for line in bytes(bufs[st_r]).splitlines():
            try:
                header.update(json.loads(line))
            except ValueError:
                pass
        if host_gone:
            sys.exit(0)
        return header, [bytes(bufs[out_r]), bytes(bufs[err_r]), bytes(bufs[res_r])]

    def _control(self, job_id: int, kill) -> bool:
        """Handle host frames during a job; True when the host has gone."""
        try:
            self.reader.feed()
        except OSError:
            self.reader.eof = True
        while (frame := self.reader.pop()) is not None:
            if frame[0] == KILL:
                order = json.loads(frame[1])
                if order.get("id") == job_id:
                    kill(order.get("reason", "host"))
            else:
                self.pending.append(frame)
        if self.reader.eof:
            kill("host")
            return True
        return False

    # -- the program child --------------------------------------------------------------------------

    def _program(self, job: dict, out_w: int, err_w: int, res_w: int, st_w: int, workdir: str) -> int:
        try:
            self._isolate(job, out_w, err_w, res_w, st_w, workdir)
        except BaseException as exc:  # noqa: BLE001
            try:
                write_all(st_w, json.dumps({"setup_error": f"{type(exc).__name__}: {exc}"}).encode() + b"\n")
            except OSError:
                pass
            return SETUP_FAILED
        return _Program(job, self.codec).run()

    def _isolate(self, job: dict, out_w: int, err_w: int, res_w: int, st_w: int, workdir: str) -> None:
        """Everything between fork and the program's first line. In the namespaced sandbox the
        zygote has done the rest once: environment, sys state, seccomp, oom_score_adj; and a
        program dies with its zygote (pid 1 of the enclosing pid namespace)."""
        resource = _resource
        limits = job["limits"]
        os.setsid()
        if not self.ns:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            os.chdir(workdir)
            os.environ.clear()
            os.environ.update(_environment(workdir))
            sys.path.insert(0, workdir)
            self._raise_oom_score()
        cpu = max(1, int(-(-float(limits["cpu_time_s"]) // 1)))
        fsize = int(limits["file_size_mb"]) << 20
        wanted = [
            ("cpu", cpu, cpu + 1),
            ("fsize", fsize, fsize),
            ("nofile", int(limits["open_files"]), int(limits["open_files"])),
            ("core", 0, 0),
        ]
        fallback = job.get("fallback", {})
        if fallback.get("nproc"):
            n = int(limits["processes"]) + 3  # the zygote and its starter share the count
            wanted.append(("nproc", n, n))
        if fallback.get("as"):
            n = (int(limits["memory_mb"]) << 20) + self.vm_kb * 1024
            wanted.append(("as", n, n))
        for name, soft, hard in wanted:
            which = _RLIMITS[name]
            cap = self.hard_limits.get(which, resource.RLIM_INFINITY)
            if cap != resource.RLIM_INFINITY:
                soft, hard = min(soft, cap), min(hard, cap)
            resource.setrlimit(which, (soft, hard))
        stdin = job.get("stdin")
        if stdin is not None:
            fd0 = os.memfd_create("stdin")
            write_all(fd0, stdin.encode("utf-8", "surrogateescape"))
            os.lseek(fd0, 0, os.SEEK_SET)
        else:
            fd0 = self.null_fd
        # fds 0-3 only; st_w stays until the end of setup (setup errors), then goes too
        if min(fd0, out_w, err_w, res_w, st_w) < 4:
            fd0, out_w, err_w, res_w, st_w = (_move_fd_above(fd, 4) for fd in (fd0, out_w, err_w, res_w, st_w))
        os.dup2(fd0, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.dup2(res_w, 3)
        os.closerange(4, st_w)
        os.closerange(st_w + 1, 1 << 20)
        try:
            drop_capabilities()
        except OSError:
            if os.geteuid() == 0 or self.ns:
                raise
        _check(prctl(PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
        os.close(st_w)

    def _raise_oom_score(self) -> None:
        """The OOM killer takes the program first (this process and its children)."""
        if self.proc_fd < 0:
            return
        prctl(PR_SET_DUMPABLE, 1)  # its own /proc files
        try:
            fd = os.open("self/oom_score_adj", os.O_WRONLY, dir_fd=self.proc_fd)
            os.write(fd, b"1000")
            os.close(fd)
        except OSError:
            pass
        prctl(PR_SET_DUMPABLE, 0)


def _environment(home: str) -> dict[str, str]:
    """The whole environment of a program: nothing inherited. Math libraries stay on one thread
    (a thread pool in the zygote would not survive the fork, and threads count against the limit)."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "TMPDIR": home, "LANG": "C.UTF-8"}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _move_fd_above(fd: int, low: int) -> int:
    if fd >= low:
        return fd
    import fcntl

    new = fcntl.fcntl(fd, fcntl.F_DUPFD, low)
    os.close(fd)
    return new


def _vm_kb(proc_fd: int) -> int:
    """This process's address space, in kB (0 when /proc cannot be read)."""
    if proc_fd < 0:
        return 0
    try:
        fd = os.open("self/status", os.O_RDONLY, dir_fd=proc_fd)
        with open(fd) as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main(argv: list[str]) -> int:
    options = json.loads(argv[1]) if len(argv) > 1 else {}
    zygote = Zygote(options)
    try:
        zygote.setup()
    except BaseException as exc:  # noqa: BLE001
        write_frame(zygote.ctl_out, FATAL, f"{type(exc).__name__}: {exc}".encode())
        return 1
    try:
        zygote.serve()
    except BrokenPipeError:
        pass
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    raise SystemExit(main(sys.argv))
