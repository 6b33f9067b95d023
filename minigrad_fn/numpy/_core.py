"""Shared helpers of the numpy surface: numpy's dtype promotion and turning operands into arrays."""
from __future__ import annotations

import functools
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


def _keys(op: str, xs) -> tuple:
    keys = tuple(_key(x) for x in xs)
    for x, k in zip(xs, keys):
        if k not in _NUMERIC and k not in _DUMMY and np.dtype(k).kind not in "biufc":
            raise ArgumentError(f"{op}: an operand of type {type(x).__name__} ({np.dtype(k)}) cannot take part; "
                                "operands must be arrays or numbers",
                                "Convert it to a number or an array first.")
    return keys


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
        names = ", ".join(k.__name__ if k in _DUMMY else np.dtype(k).name for k in keys)
        raise DTypeError(f"{ufunc.__name__}: not defined for operands of dtype {names} (numpy refuses them too)",
                         "Cast the operands with .astype(...) to a dtype the operation accepts.") from None


def common_dtype(*xs) -> np.dtype:
    """numpy.result_type of the operands, Python scalars weak."""
    keys = _keys("result_type", xs)
    return np.result_type(*[_DUMMY[k] if k in _DUMMY else k for k in keys])


def as_array(x: Any, dtype: np.dtype | None = None):
    """A tracer or numpy array (never a list or Python scalar), cast to dtype when given."""
    if isinstance(x, Tracer):
        return x if dtype is None or x.aval.dtype == dtype else P.convert_element_type(x, dtype)
    if isinstance(x, (list, tuple)) and any(isinstance(e, Tracer) for e in _flat(x)):
        from ._shape import stack
        return as_array(stack([as_array(e) for e in x]), dtype)
    a = np.asarray(x, dtype=dtype)
    return a


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
