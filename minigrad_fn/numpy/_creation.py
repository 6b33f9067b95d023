"""Array creation. Constants are plain numpy arrays (they never depend on traced inputs), except
`array`/`asarray` of traced values, which stay traced, and zeros/ones/full while a program is staged
(make_jaxpr, jit): those are recorded as a broadcast of a scalar, as JAX does, so the program holds no
large constant."""
from __future__ import annotations

import numpy as np

from tracing import Tracer, is_staging

from .. import primitives as P

from ._core import as_array


def array(object, dtype=None, copy=True, ndmin=0):  # noqa: A002
    """numpy.array; traced values (or lists holding them) stay traced."""
    if isinstance(object, Tracer) or (isinstance(object, (list, tuple)) and _has_tracer(object)):
        a = as_array(object, np.dtype(dtype) if dtype is not None else None)
        if ndmin > a.ndim:
            from ._shape import reshape
            a = reshape(a, (1,) * (ndmin - a.ndim) + a.shape)
        return a
    return np.array(object, dtype=dtype, copy=copy, ndmin=ndmin)


def asarray(a, dtype=None, order=None):
    """numpy.asarray; traced values stay traced (cast when dtype is given)."""
    if isinstance(a, Tracer) or (isinstance(a, (list, tuple)) and _has_tracer(a)):
        return as_array(a, np.dtype(dtype) if dtype is not None else None)
    return np.asarray(a, dtype=dtype)


def _has_tracer(seq) -> bool:
    return any(isinstance(e, Tracer) or (isinstance(e, (list, tuple)) and _has_tracer(e)) for e in seq)


def _like_shape(a, dtype, shape):
    dt = np.dtype(dtype) if dtype is not None else np.dtype(a.dtype) if hasattr(a, "dtype") else np.asarray(a).dtype
    return (np.shape(a) if shape is None and not isinstance(a, Tracer) else a.shape if shape is None else shape), dt


def zeros_like(a, dtype=None, shape=None):
    """numpy.zeros_like (a constant, even for a traced a)."""
    s, dt = _like_shape(a, dtype, shape)
    return zeros(s, dt)


def ones_like(a, dtype=None, shape=None):
    """numpy.ones_like (a constant, even for a traced a)."""
    s, dt = _like_shape(a, dtype, shape)
    return ones(s, dt)


def empty_like(a, dtype=None, shape=None):
    """numpy.empty_like, given zeros (a constant)."""
    return zeros_like(a, dtype, shape)


def full_like(a, fill_value, dtype=None, shape=None):
    """numpy.full_like; a traced fill value is broadcast (and stays traced)."""
    s, dt = _like_shape(a, dtype, shape)
    return full(s, fill_value, dt)


def full(shape, fill_value, dtype=None):
    """numpy.full; a traced fill value is broadcast (and stays traced)."""
    if isinstance(fill_value, Tracer):
        from ._shape import broadcast_to
        return broadcast_to(as_array(fill_value, np.dtype(dtype) if dtype else None), shape)
    if is_staging():  # recorded as a broadcast of the scalar: no large constant in the program
        v = np.array(fill_value, dtype=dtype)
        dims = tuple(int(d) for d in shape) if np.ndim(shape) else (int(shape),)
        if v.ndim == 0 and int(np.prod(dims, dtype=np.int64)) > 1:
            return P.broadcast_in_dim(v, dims, ())
    return np.full(shape, fill_value, dtype)


def zeros(shape, dtype=float):
    """numpy.zeros."""
    return full(shape, 0, dtype)


def ones(shape, dtype=float):
    """numpy.ones."""
    return full(shape, 1, dtype)


empty = zeros
eye, identity, tri = np.eye, np.identity, np.tri


def arange(*args, **kwargs):
    """numpy.arange; its length is a shape, so its arguments must be concrete (a clear error under jit)."""
    args = [int(a.concrete("arange's bounds (its length is the shape of the result)")) if isinstance(a, Tracer)
            and a.dtype.kind in "iub" else a for a in args]
    return np.arange(*args, **kwargs)


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """numpy.linspace; traced start and stop give a traced result (the count and the flags are static)."""
    if not (isinstance(start, Tracer) or isinstance(stop, Tracer)):
        return np.linspace(start, stop, num, endpoint, retstep, dtype, axis)
    from ._shape import expand_dims, moveaxis
    from ._ufuncs import add, multiply, subtract
    num = int(num)
    div = (num - 1) if endpoint else num
    dt = np.result_type(*[np.dtype(a.dtype) for a in (start, stop) if hasattr(a, "dtype")], 1.0)  # as numpy
    start, stop = asarray(start, dt), asarray(stop, dt)
    step = subtract(stop, start) / (div if div > 0 else 1)
    steps = np.arange(num, dtype=dt).reshape((num,) + (1,) * max(np.ndim(start), np.ndim(stop)))
    y = add(expand_dims(start, 0), multiply(steps, expand_dims(step, 0)))
    if endpoint and num > 1:
        last = [slice(None)] * y.ndim
        last[0] = slice(num - 1, num)
        y = P.concatenate([y[tuple(slice(0, num - 1) if i == 0 else slice(None) for i in range(y.ndim))],
                           P.broadcast_in_dim(stop, y[tuple(last)].shape, tuple(range(1, y.ndim)))], 0)
    if axis != 0:
        y = moveaxis(y, 0, axis)
    if dtype is not None:
        y = asarray(y, dtype)
    return (y, step) if retstep else y
