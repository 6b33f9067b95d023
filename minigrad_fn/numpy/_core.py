"""Shared helpers of the numpy surface: numpy's dtype promotion and turning operands into arrays."""
from __future__ import annotations

import functools
import sys
from typing import Any, Sequence

import numpy as np

from tracing import ArgumentError, DTypeError, MinigradError, ShapeError, Tracer

from .. import primitives as P


class UnsupportedError(MinigradError, TypeError):
    """A numpy function or argument that minigrad_fn.numpy does not support on traced arrays."""


class IndexShapeError(ShapeError, IndexError):
    """An index out of range, or index arrays that do not fit the array (an IndexError, as in numpy)."""


_PY_SCALARS = (bool, int, float, complex)
_DUMMY = {bool: True, int: 1, float: 1.0, complex: 1j}


def is_traced(x: Any) -> bool:
    """True if x is a tracer (an array being traced by grad, jit or make_jaxpr)."""
    return isinstance(x, Tracer)


def _key(x):
    if isinstance(x, Tracer):
        return x.aval.dtype
    if type(x) in _PY_SCALARS:
        return type(x)
    if isinstance(x, (np.ndarray, np.generic)):
        return x.dtype
    return np.asarray(x).dtype


_NUMERIC = frozenset(np.dtype(c) for c in "?bhilqpBHILQPefdgFDG")
_REAL = frozenset(d for d in _NUMERIC if d.kind != "c") | {bool, int, float}


def _name(k) -> str:
    return k.__name__ if k in _DUMMY else np.dtype(k).name


def _keys(op: str, xs) -> tuple:
    keys = tuple(map(_key, xs))
    if _REAL.issuperset(keys):  # the common case: real dtypes and Python numbers
        return keys
    for x, k in zip(xs, keys):
        if k in _REAL:
            continue
        if k is complex or np.dtype(k).kind == "c":
            raise complex_error(op, ", ".join(map(_name, keys)))
        if k not in _NUMERIC and np.dtype(k).kind not in "biuf":
            raise ArgumentError(f"{op}: an operand of type {type(x).__name__} ({np.dtype(k)}) cannot take part; "
                                "operands must be arrays or numbers",
                                "Convert it to a number or an array first.")
    return keys


def complex_error(op: str, dtypes: str) -> DTypeError:
    """The error for a complex operand or result: refused under every transformation until complex numbers
    are supported end to end (computing with half of a number would give wrong numbers silently)."""
    return DTypeError(f"{op}: complex numbers are not supported yet (operands {dtypes})",
                      "Keep the real and imaginary parts as two real arrays.")


class OutOfRangeError(MinigradError, OverflowError):
    """A Python int that does not fit the dtype it must become (numpy raises OverflowError too)."""


@functools.lru_cache(maxsize=4096)
def _ufunc_dtypes(ufunc: np.ufunc, keys: tuple) -> np.dtype:
    dummies = [_DUMMY[k] if k in _DUMMY else np.ones((), k) for k in keys]
    return ufunc(*dummies).dtype


def result_dtype(ufunc: np.ufunc, *xs) -> np.dtype:
    """The dtype numpy's `ufunc` gives for these operands (Python scalars weak, as NumPy 2)."""
    keys = _keys(ufunc.__name__, xs)
    try:
        return _ufunc_dtypes(ufunc, keys)
    except TypeError:  # numpy has no loop for these dtypes (sign of bool, bitwise ops on floats...)
        names = ", ".join(map(_name, keys))
        raise DTypeError(f"{ufunc.__name__}: not defined for operands of dtype {names} (shapes {shapes_of(xs)}; "
                         "numpy refuses them too)",
                         "Cast the operands with .astype(...) to a dtype the operation accepts.") from None


def shapes_of(xs) -> str:
    """`(3,) and ()`: the shapes of operands that may be tracers, arrays or Python scalars (for messages)."""
    shapes = [str(tuple(x.shape) if hasattr(x, "shape") else np.shape(x)) for x in xs]
    return shapes[0] if len(shapes) == 1 else ", ".join(shapes[:-1]) + " and " + shapes[-1]


def common_dtype(*xs, op: str = "result_type") -> np.dtype:
    """numpy.result_type of the operands, Python scalars weak (`op` names the operation in errors)."""
    keys = _keys(op, xs)
    return np.result_type(*[_DUMMY[k] if k in _DUMMY else k for k in keys])


def as_array(x: Any, dtype: np.dtype | None = None):
    """A tracer or numpy array (never a list or Python scalar), cast to dtype when given. Complex values are
    refused (not supported yet), and so is a Python int out of dtype's range (numpy refuses it too)."""
    if isinstance(x, Tracer):
        if x.aval.dtype is dtype and dtype.kind != "c":  # the common case: nothing to cast or refuse
            return x
        if x.aval.dtype.kind == "c" or (dtype is not None and np.dtype(dtype).kind == "c"):
            to = "" if dtype is None else f" to {np.dtype(dtype).name}"
            raise complex_error(_caller("astype" if dtype is not None else "an operation"), x.aval.dtype.name + to)
        return x if dtype is None or x.aval.dtype == dtype else P.convert_element_type(x, dtype)
    if isinstance(x, (list, tuple)) and any(isinstance(e, Tracer) for e in _flat(x)):
        from ._shape import stack
        return as_array(stack([as_array(e) for e in x]), dtype)
    if type(x) is complex or (isinstance(x, (np.ndarray, np.generic)) and x.dtype.kind == "c"):
        raise complex_error(_caller("asarray"), type(x).__name__ if type(x) is complex else x.dtype.name)
    try:
        a = np.asarray(x, dtype=dtype)
    except OverflowError:
        if type(x) is not int:
            raise
        raise OutOfRangeError(f"{_caller('asarray')}: the Python integer {x} is out of bounds for "
                              f"{np.dtype(dtype).name} "
                              "(numpy refuses it too)",
                              "Cast the other operand to a wider dtype with .astype(...) first.") from None
    if a.dtype.kind == "c":
        raise complex_error(_caller("asarray"), a.dtype.name)
    return a


def _caller(default: str) -> str:
    """The public minigrad_fn.numpy function that called as_array (for error messages), else `default`."""
    f = sys._getframe(2)
    while f is not None and f.f_code.co_filename.startswith(_HERE):
        name = f.f_code.co_name
        if name == "fn" and isinstance(f.f_locals.get("ufunc"), np.ufunc):  # a ufunc's wrapper (add, ...)
            return f.f_locals["ufunc"].__name__
        if not name.startswith(("_", "<")) and name not in ("as_array", "cast_all", "fn"):
            return name
        f = f.f_back
    return default


_HERE = __file__.rsplit("_core.py", 1)[0]


def _flat(seq):
    for e in seq:
        if isinstance(e, (list, tuple)):
            yield from _flat(e)
        else:
            yield e


def cast_all(xs: Sequence, dtype: np.dtype) -> list:
    """Every operand as an array of `dtype`."""
    return [as_array(x, dtype) for x in xs]


def normalize_axis(axis: int, ndim: int, op: str) -> int:
    """A non-negative axis, or a ShapeError naming the operation."""
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ShapeError(f"{op}: axis {axis} is out of bounds for an array of dimension {ndim}",
                         f"Use an axis between {-ndim} and {ndim - 1}.")
    return axis % ndim


def normalize_axes(axis, ndim: int, op: str) -> tuple:
    """axis=None/int/tuple as a sorted tuple of non-negative axes (None means all)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        axes = tuple(normalize_axis(a, ndim, op) for a in axis)
        if len(set(axes)) != len(axes):
            raise ShapeError(f"{op}: repeated axis in {axis}")
        return tuple(sorted(axes))
    return (normalize_axis(axis, ndim, op),)


def no_out(op: str, out) -> None:
    """Refuse numpy's `out=` argument, which has no meaning for immutable traced arrays."""
    if out is not None:
        raise UnsupportedError(f"{op}: the out= argument is not supported",
                               "Use the returned array instead of writing into one.")


def no_kwargs(op: str, kwargs: dict) -> None:
    """Refuse ufunc keyword arguments (where=, dtype=, casting=...) rather than ignore them."""
    if kwargs:
        raise UnsupportedError(f"{op}: the argument(s) {', '.join(sorted(kwargs))} are not supported",
                               "Cast with .astype(...) and select with where(...) instead.")


def shape_of(x) -> tuple:
    """The shape of an array-like, tracer or Python scalar."""
    return x.shape if isinstance(x, (Tracer, np.ndarray)) else np.shape(x)
