"""Exception classes raised at trace time, and how they find the user's source line."""
from __future__ import annotations

import linecache
import os
import sys

_INTERNAL_DIRS: list[str] = [os.path.dirname(os.path.abspath(__file__)) + os.sep]


def register_internal_dir(path: str) -> None:
    """Mark a package directory as library code, so error messages point past it to the user's line."""
    d = os.path.dirname(os.path.abspath(path)) + os.sep if os.path.isfile(path) else os.path.abspath(path) + os.sep
    if d not in _INTERNAL_DIRS:
        _INTERNAL_DIRS.append(d)


def _third_party_dirs() -> list[str]:
    dirs = []
    for mod in ("numpy", "optree", "contextlib", "functools"):
        m = sys.modules.get(mod)
        f = getattr(m, "__file__", None)
        if f:
            dirs.append(os.path.dirname(os.path.abspath(f)) + os.sep if mod in ("numpy", "optree")
                        else os.path.abspath(f))
    return dirs


def user_frame():
    """The innermost stack frame that belongs to the user's code (not to this library, numpy or optree)."""
    skip = tuple(_INTERNAL_DIRS) + tuple(_third_party_dirs())
    f = sys._getframe(1)
    while f is not None:
        fn = os.path.abspath(f.f_code.co_filename)
        if not fn.startswith(skip) and not fn.startswith("<frozen"):
            return f
        f = f.f_back
    return None


def user_line() -> str:
    """`file:line in function: source` for the user's innermost frame, or '' if none is found."""
    f = user_frame()
    if f is None:
        return ""
    src = linecache.getline(f.f_code.co_filename, f.f_lineno).strip()
    loc = f"{f.f_code.co_filename}:{f.f_lineno} in {f.f_code.co_name}"
    return f"{loc}: `{src}`" if src else loc


class MinigradError(Exception):
    """Base class of every error this library raises on purpose.

    The message is built from what happened, where (the user's line, found when the error is made) and
    what to do about it.
    """

    def __init__(self, message: str, hint: str = ""):
        self.raw_message = message
        self.hint = hint
        self.where = user_line()
        text = message
        if self.where:
            text += f"\n  at {self.where}"
        if hint:
            text += f"\n  {hint}"
        super().__init__(text)


class ShapeError(MinigradError, ValueError):
    """Operand shapes do not fit the operation."""


class DTypeError(MinigradError, TypeError):
    """Operand dtypes do not fit the operation."""


class TracerError(MinigradError, TypeError):
    """A traced value was used where a concrete one is needed, or after its trace ended."""


class ConcretizationError(TracerError):
    """Python needed the value of an abstract tracer (branching, float(), .item())."""


class LeakedTracerError(TracerError):
    """A tracer was used after the transformation that made it had returned."""


class ArgumentError(MinigradError, TypeError):
    """An argument to a transformation is not an array, a scalar or a pytree of them."""


class OpError(MinigradError, RuntimeError):
    """A primitive's implementation failed on operands its shape rule accepted."""


class JaxprTypeError(MinigradError, TypeError):
    """The type checker found an ill-typed Jaxpr."""
