"""Reductions and scans with numpy's signatures (axis, dtype, keepdims, ddof)."""
from __future__ import annotations

import builtins
import functools

import numpy as np

from .. import primitives as P
from ._core import as_array, no_out, normalize_axes, normalize_axis
from ._shape import ravel, reshape
from ._ufuncs import divide, sqrt, square, subtract


def _keep(x, axes, keepdims, op_input_shape):
    if not keepdims:
        return x
    return reshape(x, tuple(1 if i in axes else d for i, d in enumerate(op_input_shape)))


def _reduce(prim_fn, ufunc, name, a, axis, dtype, keepdims, out):
    no_out(name, out)
    a = as_array(a)
    dt = np.dtype(dtype) if dtype is not None else _reduce_dtype(ufunc, a.dtype)
    axes = normalize_axes(axis, a.ndim, name)
    r = prim_fn(as_array(a, dt), axes) if axes else as_array(a, dt)
    return _keep(r, axes, keepdims, a.shape)


@functools.lru_cache(maxsize=256)
def _reduce_dtype(ufunc, dt):
    return ufunc.reduce(np.ones(1, dt)).dtype


def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):  # noqa: A001
    """numpy.sum, traceable (`where=` masks elements out, `initial` is added in the result dtype)."""
    if where is not None:
        from ._ufuncs import where as _where
        a = as_array(a)
        a = _where(where, a, np.zeros((), a.dtype))
    r = _reduce(P.reduce_sum, np.add, "sum", a, axis, dtype, keepdims, out)
    return r if initial is None else P.add(r, np.asarray(initial, r.dtype))


def prod(a, axis=None, dtype=None, out=None, keepdims=False):
    """numpy.prod, traceable (exact gradient with zeros in the input)."""
    return _reduce(P.reduce_prod, np.multiply, "prod", a, axis, dtype, keepdims, out)


def _extremum(prim_fn, name, a, axis, out, keepdims):
    no_out(name, out)
    a = as_array(a)
    axes = normalize_axes(axis, a.ndim, name)
    if any(a.shape[i] == 0 for i in axes):
        from tracing import ShapeError
        raise ShapeError(f"{name}: zero-size array {a.shape} to reduction operation {name} which has no identity")
    r = prim_fn(a, axes) if axes else a
    return _keep(r, axes, keepdims, a.shape)


def max(a, axis=None, out=None, keepdims=False):  # noqa: A001
    """numpy.max (amax), traceable; ties share the gradient evenly, as JAX."""
    return _extremum(P.reduce_max, "max", a, axis, out, keepdims)


def min(a, axis=None, out=None, keepdims=False):  # noqa: A001
    """numpy.min (amin), traceable; ties share the gradient evenly, as JAX."""
    return _extremum(P.reduce_min, "min", a, axis, out, keepdims)


amax, amin = max, min


def _count(shape, axes) -> int:
    return int(np.prod([shape[i] for i in axes], dtype=np.int64))


def mean(a, axis=None, dtype=None, out=None, keepdims=False):
    """numpy.mean, traceable (float16 accumulates in float32, as numpy)."""
    no_out("mean", out)
    a = as_array(a)
    dt = np.dtype(dtype) if dtype is not None else (a.dtype if a.dtype.kind in "fc" else np.dtype(np.float64))
    acc = np.dtype(np.float32) if dtype is None and dt == np.float16 else dt
    axes = normalize_axes(axis, a.ndim, "mean")
    s = sum(a, axis=axes, dtype=acc, keepdims=keepdims)
    return as_array(P.div(s, np.asarray(_count(a.shape, axes), acc)), dt)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """numpy.var: the sum of squared deviations from the mean, divided by N - ddof.

    As numpy, the deviations are taken in the promoted dtype of `a` and its mean, the squares summed in
    `dtype`, and the result has the dtype of that sum."""
    no_out("var", out)
    a = as_array(a)
    axes = normalize_axes(axis, a.ndim, "var")
    centered = subtract(a, mean(a, axis=axes, dtype=dtype, keepdims=True))
    s = sum(square(centered), axis=axes, dtype=dtype, keepdims=keepdims)
    return as_array(divide(s, builtins.max(_count(a.shape, axes) - ddof, 0)), s.dtype)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """numpy.std: the square root of var (in var's dtype)."""
    v = var(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims)
    return as_array(sqrt(v), v.dtype)


def _arg(prim_fn, name, a, axis, out, keepdims):
    no_out(name, out)
    a = as_array(a)
    if axis is None:
        r = prim_fn(ravel(a), 0, np.int64)
        return reshape(r, (1,) * a.ndim) if keepdims else r
    ax = normalize_axis(axis, a.ndim, name)
    return _keep(prim_fn(a, ax, np.int64), (ax,), keepdims, a.shape)


def argmax(a, axis=None, out=None, *, keepdims=False):
    """numpy.argmax, traceable (integer output, no gradient)."""
    return _arg(P.argmax, "argmax", a, axis, out, keepdims)


def argmin(a, axis=None, out=None, *, keepdims=False):
    """numpy.argmin, traceable (integer output, no gradient)."""
    return _arg(P.argmin, "argmin", a, axis, out, keepdims)


def cumsum(a, axis=None, dtype=None, out=None):
    """numpy.cumsum, traceable."""
    no_out("cumsum", out)
    a = as_array(a)
    dt = np.dtype(dtype) if dtype is not None else _reduce_dtype(np.add, a.dtype)
    if axis is None:
        a, axis = ravel(a), 0
    return P.cumsum(as_array(a, dt), normalize_axis(axis, a.ndim, "cumsum"))
