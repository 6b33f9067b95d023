"""Where an equation came from: the user's line, the name stack it was traced under, and (for an
equation a transformation emitted on behalf of another, such as a backward equation) that equation.

Everything here is per thread (context variables), so two threads can trace at once.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

_INTERNAL_DIRS: list[str] = [os.path.dirname(os.path.abspath(__file__)) + os.sep]
# The ids of code objects known to be library code (this library, numpy, optree...) and known to be user
# code. Keyed by id because hashing a code object hashes its contents (hundreds of ns, on every equation);
# the code objects are kept alive in _KEPT so that an id in these sets is never reused by another one.
_LIBRARY_IDS: set = set()
_USER_IDS: set = set()
_KEPT: list = []


def _forget() -> None:
    _LIBRARY_IDS.clear()
    _USER_IDS.clear()
    _KEPT.clear()
    _SHARED.clear()


def register_internal_dir(path: str) -> None:
    """Mark a package directory as library code, so source info and errors point past it to the user."""
    d = os.path.dirname(os.path.abspath(path)) + os.sep if os.path.isfile(path) else os.path.abspath(path) + os.sep
    if d not in _INTERNAL_DIRS:
        _INTERNAL_DIRS.append(d)
        _forget()


def _third_party() -> tuple:
    dirs = []
    for mod in ("numpy", "optree", "jax", "jaxlib", "contextlib", "functools", "threading", "contextvars"):
        f = getattr(sys.modules.get(mod), "__file__", None)
        if f:
            dirs.append(os.path.dirname(os.path.abspath(f)) + os.sep if mod in ("numpy", "optree", "jax", "jaxlib")
                        else os.path.abspath(f))
    return tuple(dirs)


def is_internal(code) -> bool:
    """True for code of this library (registered directories), numpy, optree and the standard helpers."""
    i = id(code)
    if i in _LIBRARY_IDS:
        return True
    if i in _USER_IDS:
        return False
    fn = code.co_filename
    hit = fn.startswith("<frozen") or fn == "<straight_line>" or \
        os.path.abspath(fn).startswith(tuple(_INTERNAL_DIRS) + _third_party())
    if len(_KEPT) > 20000:  # code made by exec() is new each time: keep the caches bounded
        _forget()
    _KEPT.append(code)
    (_LIBRARY_IDS if hit else _USER_IDS).add(i)
    return hit


def user_frame(depth: int = 1):
    """The innermost stack frame that belongs to the user's code (not to this library, numpy or optree)."""
    f = sys._getframe(depth)
    while f is not None and is_internal(f.f_code):
        f = f.f_back
    return f


class SourceInfo:
    """Where an equation was made: the user's code and line, the name stack (transformations and named
    scopes, outermost first), the user-level calls it was made in (recorded only when a trace asks for
    them: `(function name, call id)` pairs, outermost first), and for an equation emitted by a rule on
    behalf of another equation (a backward equation, say), that equation (`forward`)."""

    __slots__ = ("code", "line", "name_stack", "calls", "forward")

    def __init__(self, code, line: int, name_stack: tuple = (), calls: tuple | None = None, forward=None):
        self.code = code
        self.line = line
        self.name_stack = name_stack
        self.calls = calls
        self.forward = forward

    @property
    def file(self) -> str:
        return self.code.co_filename if self.code is not None else ""

    @property
    def function(self) -> str:
        return self.code.co_name if self.code is not None else ""

    def location(self) -> str:
        """`file.py:12 (fn)`, or '' when the equation came from no user code."""
        if self.code is None:
            return ""
        return f"{os.path.basename(self.file)}:{self.line} ({self.function})"

    def describe(self) -> str:
        """The location and the name stack: `model.py:12 (loss) [grad(loss)/transpose]`."""
        loc = self.location()
        stack = "/".join(self.name_stack)
        return f"{loc} [{stack}]" if stack else loc

    def replace(self, **changes) -> "SourceInfo":
        new = SourceInfo(self.code, self.line, self.name_stack, self.calls, self.forward)
        for k, v in changes.items():
            setattr(new, k, v)
        return new

    def __repr__(self):
        return f"SourceInfo({self.describe()!r})"


NO_SOURCE = SourceInfo(None, 0)

# The name stack of the current thread, and, while a rule emits equations on behalf of another equation,
# that equation (its equations get a source derived from it instead of the user's frame, which is the
# library's at that point); or, while a value-carrying trace has its parent compute an operation, the
# source it found for it (so the parent need not walk the stack again).
_name_stack: ContextVar[tuple] = ContextVar("minigrad_name_stack", default=())
_emitting_for: ContextVar = ContextVar("minigrad_emitting_for", default=None)


def current_name_stack() -> tuple:
    """The names of the transformations and scopes the current code runs under, outermost first."""
    return _name_stack.get()


@contextmanager
def name_scope(name: str) -> Iterator[None]:
    """Equations traced in the block get `name` on their name stack (as `jax.named_scope`)."""
    token = _name_stack.set(_name_stack.get() + (name,))
    try:
        yield
    finally:
        _name_stack.reset(token)


def emitting_for() -> SourceInfo | None:
    """The source given to equations emitted now on behalf of another equation, else None."""
    eqn = _emitting_for.get()
    return None if eqn is None or type(eqn) is SourceInfo else _on_behalf_of(eqn)


@contextmanager
def emitting_on_behalf_of(eqn) -> Iterator[None]:
    """Equations traced in the block come from a rule of `eqn` (a backward pass sets this per equation):
    they get its user line, its name stack plus "transpose", and `forward=eqn`."""
    token = _emitting_for.set(eqn)
    try:
        yield
    finally:
        _emitting_for.reset(token)


_TRANSPOSED: dict = {}  # name stack -> the same plus "transpose" (one tuple per stack, not per equation)
_last_behalf: tuple = (None, None)  # (forward equation, the source its backward equations get)


def _on_behalf_of(eqn) -> SourceInfo:
    global _last_behalf
    last_eqn, src = _last_behalf
    if last_eqn is not eqn:  # made once per forward equation, and only when something records
        s = eqn.source
        stack = _TRANSPOSED.get(s.name_stack)
        if stack is None:
            if len(_TRANSPOSED) > 4096:  # bounded, whatever names the scopes take
                _TRANSPOSED.clear()
            stack = _TRANSPOSED[s.name_stack] = s.name_stack + ("transpose",)
        src = SourceInfo(s.code, s.line, stack, s.calls, eqn)
        _last_behalf = (eqn, src)
    return src


_SHARED: dict = {}  # (id(code), instruction, name stack) -> SourceInfo: one object per call site


def capture(depth: int, calls_from=None) -> SourceInfo:
    """The source of an equation being made now: the user's frame (searched from `depth` frames up),
    the current name stack; `calls_from(frame)` gives the user-level calls when a trace wants them.
    This runs once per equation, so it is written for speed: a cached internal/user verdict per code
    object, and one shared SourceInfo per (code, instruction, name stack)."""
    behalf = _emitting_for.get()
    if behalf is not None:
        return behalf if type(behalf) is SourceInfo else _on_behalf_of(behalf)
    f = sys._getframe(depth)
    library = _LIBRARY_IDS
    while f is not None and (id(f.f_code) in library or (id(f.f_code) not in _USER_IDS and is_internal(f.f_code))):
        f = f.f_back
    if f is None:
        return SourceInfo(None, 0, _name_stack.get())
    if calls_from is not None:  # walked from the innermost frame: library functions (nn) may count as calls
        return SourceInfo(f.f_code, f.f_lineno, _name_stack.get(), calls_from(sys._getframe(depth)))
    # keyed by the instruction, not the line: f_lineno is decoded from the line table on each access
    code = f.f_code  # user code: kept alive in _KEPT (is_internal), so its id names it
    key = (id(code), f.f_lasti, _name_stack.get())
    src = _SHARED.get(key)
    if src is None:
        src = _SHARED[key] = SourceInfo(code, f.f_lineno, key[2])
    return src
