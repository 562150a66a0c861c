"""Tests decided outside the sandbox: learn what a test would call, run only that inside, replay.

Benchmark tests (HumanEval's ``check(candidate)``, MBPP's asserts) hold the expected values, so
they never enter the sandbox. Instead:

1. **Discovery** (host, once per problem): run the test with a stand-in ``candidate`` that
   records its arguments and returns a permissive placeholder; ``assert`` statements are
   evaluated but not enforced. The result is the list of calls.
2. **Execution** (sandbox): the program runs and reports, for each call, its output (as exact
   built-in values, :mod:`rlscope.sandbox.codec`) or the exception it raised.
3. **Replay** (host): run the test again for real, with a stand-in that checks each call's
   arguments against the recorded ones and returns the reported output. The test's own
   assertions decide. ``candidate(...) == expected`` (and ``!=``) compares type-strictly:
   ``True`` is not ``1``, ``1.0`` is not ``1``, a tuple is not a list.

A test whose later calls depend on earlier outputs diverges at replay; the calls are then
rediscovered with the outputs known so far and the program runs again (a few rounds at most).

The test code and the context it may use (the benchmark prompt's helpers) are trusted
benchmark code; they run in this process, on values that can only be built-ins.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import functools
import random
import sys
import threading
import traceback
from collections.abc import Sequence
from typing import Any, Literal

from rlscope.sandbox import codec

TestStyle = Literal["check", "asserts"]
_TEST_FILE = "<tests>"
_CONTEXT_FILE = "<context>"
_SEED = 1234
_random_lock = threading.Lock()


def strict_equal(a: object, b: object) -> bool:
    """Equality that also requires equal types, all the way down (``True != 1``, ``1.0 != 1``, ``(1,) != [1]``)."""
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is list or ta is tuple:
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    if ta is dict:
        try:
            if {(type(k), k) for k in a} != {(type(k), k) for k in b}:  # type: ignore[union-attr]
                return False
        except TypeError:
            return False
        return all(strict_equal(v, b[k]) for k, v in a.items())  # type: ignore[union-attr,index]
    if ta is set or ta is frozenset:
        try:
            return {(type(x), x) for x in a} == {(type(x), x) for x in b}  # type: ignore[union-attr]
        except TypeError:
            return False
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001
        return False


def describe(value: object, cap: int = 80) -> str:
    """``'5' (str)`` for messages."""
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        text = "?"
    if len(text) > cap:
        text = text[: cap - 3] + "..."
    return f"{text} ({type(value).__name__})"


# -- the recorded calls --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Call:
    """One call of the function under test, in its wire form (exact built-ins only)."""

    args: Any
    """``codec.encode(tuple(args))``."""
    kwargs: Any
    """``codec.encode(dict(kwargs))``."""

    @functools.cached_property
    def key(self) -> str:
        # the wire form holds only str/int/float/bool/None/list/dict, whose repr tells True from 1
        return repr((self.args, self.kwargs))

    @classmethod
    def of(cls, args: Sequence[Any], kwargs: dict[str, Any] | None = None) -> Call:
        return cls(codec.encode(tuple(args)), codec.encode(dict(kwargs or {})))

    def wire(self) -> list[Any]:
        return [self.args, self.kwargs]

    def portable(self) -> bool:
        """False when an argument cannot cross into the sandbox (a lambda, an object)."""
        return not (_has_opaque(self.args) or _has_opaque(self.kwargs))


def _has_opaque(wire: Any) -> bool:
    if type(wire) is list:
        return any(_has_opaque(v) for v in wire)
    if type(wire) is dict:
        return "$opaque" in wire or any(_has_opaque(v) for v in wire.values())
    return False


class _Pending:
    """Placeholder output during discovery: accepts every operation, so the test goes on."""

    def __getattr__(self, name: str) -> Any:
        return self

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self

    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    def __lt__(self, other: object) -> bool:
        return True

    __le__ = __gt__ = __ge__ = __contains__ = __lt__

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        return 0

    def __iter__(self):
        return iter(())

    def __hash__(self) -> int:
        return 0

    def __int__(self) -> int:
        return 0

    __index__ = __trunc__ = __floor__ = __ceil__ = __int__

    def __float__(self) -> float:
        return 0.0

    def __complex__(self) -> complex:
        return 0j

    def __str__(self) -> str:
        return ""

    def __format__(self, spec: str) -> str:
        return ""

    def __getitem__(self, key: object) -> Any:
        return self

    def _self(self, *args: Any) -> Any:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _self
    __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = __pow__ = __rpow__ = __divmod__ = _self
    __neg__ = __pos__ = __abs__ = __invert__ = __round__ = _self
    __and__ = __rand__ = __or__ = __ror__ = __xor__ = __rxor__ = __lshift__ = __rshift__ = _self


class _Diverged(BaseException):
    """The test made a call that was not run in the sandbox (BaseException: tests do not catch it)."""


class CandidateRaised(BaseException):
    """Carries an exception the program raised inside the sandbox through the replayed test."""

    def __init__(self, record: dict[str, Any]):
        super().__init__(record.get("type", "?"))
        self.record = record


def _rebuild_exception(record: dict[str, Any]) -> BaseException:
    """The program's exception as the test would have seen it: the same built-in type, else Exception."""
    cls = getattr(builtins, str(record.get("type", "")), None)
    message = str(record.get("message", ""))
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            exc = cls(message)
        except Exception:  # noqa: BLE001
            exc = Exception(message)
    else:
        exc = Exception(f"{record.get('type')}: {message}")
    exc.__rlscope_record__ = record  # type: ignore[attr-defined]
    return exc


# -- the test program, compiled twice -------------------------------------------------------------


class _Soften(ast.NodeTransformer):
    """``assert test, msg`` -> ``__rlscope_soft__(test)``: evaluated, never enforced."""

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        call = ast.Call(ast.Name("__rlscope_soft__", ast.Load()), [self.visit(node.test)], [])
        return ast.copy_location(ast.Expr(call), node)


class _Strict(ast.NodeTransformer):
    """``candidate(...) == x`` -> ``__rlscope_eq__(candidate(...), x)`` (and ``!=``); assertion
    messages dropped (they often call the candidate again, off the recorded script)."""

    def __init__(self, names: set[str]):
        self.names = names

    def visit_Assert(self, node: ast.Assert) -> ast.AST:
        node.msg = None
        self.generic_visit(node)
        return node

    def _is_call(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.names

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) != 1 or not isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            return node
        left, right = node.left, node.comparators[0]
        if not (self._is_call(left) or self._is_call(right)):
            return node
        new: ast.expr = ast.Call(ast.Name("__rlscope_eq__", ast.Load()), [left, right], [])
        if isinstance(node.ops[0], ast.NotEq):
            new = ast.UnaryOp(ast.Not(), new)
        return ast.copy_location(new, node)


def _quiet_print(*args: Any, **kwargs: Any) -> None:
    return None


@dataclasses.dataclass
class ReplayVerdict:
    """How the replayed test ended."""

    status: Literal["pass", "fail", "error", "more", "harness"]
    """``more``: the test needs calls that did not run (``calls`` lists them all);
    ``harness``: the test itself cannot run here."""
    detail: str = ""
    error: str | None = None
    calls: list[Call] | None = None


class CheckPlan:
    """One test program, ready for discovery and replay. Build through :func:`plan_for` (cached)."""

    def __init__(self, test: str, entry_point: str, context: str = "", style: TestStyle = "check", strict: bool = True):
        self.entry_point = entry_point
        self.style = style
        self.strict = strict
        self.test_lines = test.splitlines()
        tree = ast.parse(test, _TEST_FILE)
        names = {entry_point}
        if style == "check":
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and node.name == "check" and node.args.args:
                    names.add(node.args.args[0].arg)
        hard = _Strict(names).visit(ast.parse(test, _TEST_FILE)) if strict else ast.parse(test, _TEST_FILE)
        soft = _Soften().visit(ast.parse(test, _TEST_FILE))
        self._hard = compile(ast.fix_missing_locations(hard), _TEST_FILE, "exec")
        self._soft = compile(ast.fix_missing_locations(soft), _TEST_FILE, "exec")
        try:
            self._context = compile(context, _CONTEXT_FILE, "exec") if context.strip() else None
        except SyntaxError:
            self._context = None
        self._discovered: list[Call] | None = None
        self._lock = threading.Lock()

    # -- running the test ------------------------------------------------------------------------

    def _execute(self, code, stub) -> None:
        ns: dict[str, Any] = {"__name__": "__rlscope_tests__", "__builtins__": builtins}
        if self._context is not None:
            try:
                exec(self._context, ns)
            except Exception:  # noqa: BLE001 - a prompt that does not run alone; the tests may not need it
                pass
        ns.update(
            {
                self.entry_point: stub,
                "print": _quiet_print,
                "__rlscope_eq__": strict_equal,
                "__rlscope_soft__": _quiet_print,
            }
        )
        with _random_lock:
            state = random.getstate()
            random.seed(_SEED)
            old_limit = sys.getrecursionlimit()
            try:
                exec(code, ns)
                if self.style == "check":
                    check = ns.get("check")
                    if not callable(check):
                        raise NameError("the test code defines no check(candidate)")
                    check(stub)
            finally:
                random.setstate(state)
                sys.setrecursionlimit(old_limit)

    def discover(self, known: Sequence[tuple[Call, dict[str, Any]]] = ()) -> list[Call]:
        """The calls the test makes; ``known`` (call, record) pairs answer the first ones for real."""
        if not known and self._discovered is not None:
            return list(self._discovered)
        calls: list[Call] = []

        def stub(*args: Any, **kwargs: Any) -> Any:
            call = Call.of(args, kwargs)
            i = len(calls)
            calls.append(call)
            if i < len(known) and known[i][0].key == call.key:
                record = known[i][1]
                if "exc" in record:
                    raise _rebuild_exception(record["exc"])
                return codec.decode(record["out"])
            return _Pending()

        try:
            self._execute(self._soft, stub)
        except Exception:  # noqa: BLE001 - the placeholder went where it could not; keep what was found
            pass
        if not known:
            with self._lock:
                self._discovered = list(calls)
        return calls

    def replay(self, calls: Sequence[Call], records: Sequence[dict[str, Any]]) -> ReplayVerdict:
        """Run the test for real on the reported outputs of ``calls``."""
        state = {"i": 0}

        first = {}
        for i, c in enumerate(calls):
            first.setdefault(c.key, i)

        def stub(*args: Any, **kwargs: Any) -> Any:
            call = Call.of(args, kwargs)
            i = state["i"]
            state["i"] = i + 1
            if i >= len(calls) or calls[i].key != call.key:
                # off the script: the same arguments ran before (the test repeats a call)
                if call.key not in first:
                    raise _Diverged()
                i = first[call.key]
                state["off_script"] = True
            record = records[i]
            if "exc" in record:
                raise CandidateRaised(record["exc"])
            return codec.decode(record["out"])

        try:
            self._execute(self._hard, stub)
        except _Diverged:
            known = list(zip(calls, records))
            return ReplayVerdict("more", calls=self.discover(known))
        except CandidateRaised as exc:
            rec = exc.record
            return ReplayVerdict("error", detail=f"{rec.get('type')}: {rec.get('message', '')}"[:300], error=rec.get("traceback"))
        except AssertionError as exc:
            return ReplayVerdict("fail", detail=self._where(exc, "check failed"))
        except NameError as exc:
            return ReplayVerdict("harness", detail=f"the tests use a name they do not define: {exc}")
        except codec.CodecError as exc:
            return ReplayVerdict("fail", detail=f"malformed output: {exc}")
        except Exception as exc:  # noqa: BLE001 - the test choked on a wrong output (wrong type, ...)
            return ReplayVerdict("fail", detail=self._where(exc, f"{type(exc).__name__}: {exc}"[:200]))
        if state["i"] != len(calls) and not state.get("off_script"):
            return ReplayVerdict("more", calls=self.discover(list(zip(calls, records))))
        return ReplayVerdict("pass", detail=f"{len(calls)} calls checked")

    def _where(self, exc: BaseException, what: str) -> str:
        line = None
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename == _TEST_FILE:
                line = frame.lineno
        if line is None or not (0 < line <= len(self.test_lines)):
            return what
        return f"{what} at test line {line}: {self.test_lines[line - 1].strip()[:160]}"


_plans: dict[tuple[str, str, str, str, bool], CheckPlan] = {}
_plans_lock = threading.Lock()
_MAX_PLANS = 4096


def plan_for(test: str, entry_point: str, context: str = "", style: TestStyle = "check", strict: bool = True) -> CheckPlan:
    """A cached :class:`CheckPlan` (discovery runs once per distinct test)."""
    key = (test, entry_point, context, style, strict)
    with _plans_lock:
        plan = _plans.get(key)
        if plan is None:
            if len(_plans) >= _MAX_PLANS:
                _plans.clear()
            plan = _plans[key] = CheckPlan(test, entry_point, context, style, strict)
        return plan
