"""Exception classes raised at trace time, and how they find the user's source line."""
from __future__ import annotations

import linecache

from .source import emitting_for, register_internal_dir, user_frame  # noqa: F401


def user_line() -> str:
    """`file:line in function: source` for the user's innermost frame, or '' if none is found.

    While a rule emits equations on behalf of another equation (a backward pass), that is the forward
    equation's line, said so."""
    src = emitting_for()
    if src is not None and src.code is not None and src.forward is not None:
        return source_line(src)
    f = user_frame(2)
    if f is None:
        return ""
    return _line_text(f.f_code.co_filename, f.f_lineno, f.f_code.co_name)


def source_line(src) -> str:
    """An equation's SourceInfo as `user_line` writes a line ('' when it came from no user code)."""
    if src.code is None:
        return ""
    text = _line_text(src.code.co_filename, src.line, src.code.co_name)
    return f"{text} (in the backward pass of {src.forward.prim.name})" if src.forward is not None else text


def _line_text(filename: str, line: int, function: str) -> str:
    src = linecache.getline(filename, line).strip()
    loc = f"{filename}:{line} in {function}"
    return f"{loc}: `{src}`" if src else loc


class MinigradError(Exception):
    """Base class of every error this library raises on purpose.

    The message is built from what happened, where (the user's line, found when the error is made) and
    what to do about it.
    """

    def __init__(self, message: str, hint: str = "", where: str | None = None):
        self.raw_message = message
        self.hint = hint
        self.where = user_line() if where is None else where
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


class GradientLostError(MinigradError, ValueError):
    """A value being differentiated was turned into a Python number (float(), .item(), writing it into a
    numpy buffer): its derivative would be silently dropped. (A ValueError, not a TypeError: numpy swallows
    TypeErrors from float() when it assigns into an array, and would hide this one.)"""


class LeakedTracerError(TracerError):
    """A tracer was used after the transformation that made it had returned."""


class ArgumentError(MinigradError, TypeError):
    """An argument to a transformation is not an array, a scalar or a pytree of them."""


class OpError(MinigradError, RuntimeError):
    """A primitive's implementation failed on operands its shape rule accepted."""


class JaxprTypeError(MinigradError, TypeError):
    """The type checker found an ill-typed Jaxpr."""
