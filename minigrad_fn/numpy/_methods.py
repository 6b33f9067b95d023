"""What makes a tracer behave like an ndarray: operators, methods, and numpy's dispatch protocols.

`tracing.Tracer` knows no operations; this module attaches them, so `x + y`, `x[idx]`, `x.sum(0)`,
`np.exp(x)`, `np.dot(W, x)` and `numpy_array @ x` all reach minigrad_fn.numpy.
"""
from __future__ import annotations

import numpy as np

from tracing import ConcretizationError, Tracer, TracerError

from . import _core
from ._core import UnsupportedError


def _swap(f):
    return lambda self, other: f(other, self)


def _pow(mnp):
    # as ndarray.__pow__: a Python-int exponent 2 is numpy's square (bool ** 2 is int8, not int64)
    return lambda self, other: mnp.square(self) if type(other) is int and other == 2 else mnp.power(self, other)


def attach(mnp) -> None:
    """Give `Tracer` ndarray's operators and methods, implemented by the module `mnp`."""
    ops = {
        "__add__": mnp.add, "__sub__": mnp.subtract, "__mul__": mnp.multiply, "__truediv__": mnp.divide,
        "__pow__": _pow(mnp), "__matmul__": mnp.matmul, "__floordiv__": mnp.floor_divide, "__mod__": mnp.remainder,
        "__lt__": mnp.less, "__le__": mnp.less_equal, "__gt__": mnp.greater, "__ge__": mnp.greater_equal,
        "__eq__": mnp.equal, "__ne__": mnp.not_equal,
        "__and__": mnp.bitwise_and, "__or__": mnp.bitwise_or, "__xor__": mnp.bitwise_xor,
    }
    for name, f in ops.items():
        setattr(Tracer, name, f)
    for name in ("add", "sub", "mul", "truediv", "pow", "matmul", "floordiv", "mod", "and", "or", "xor"):
        setattr(Tracer, f"__r{name}__", _swap(ops[f"__{name}__"]))
    Tracer.__neg__ = mnp.negative
    Tracer.__pos__ = mnp.positive
    Tracer.__abs__ = mnp.absolute
    Tracer.__invert__ = mnp.invert
    Tracer.__getitem__ = mnp._indexing.getitem
    Tracer.__iter__ = lambda self: (self[i] for i in range(len(self)))
    Tracer.T = property(lambda self: mnp.transpose(self))
    Tracer.mT = property(lambda self: mnp.swapaxes(self, -1, -2))
    for name in ("sum", "mean", "max", "min", "prod", "var", "std", "argmax", "argmin", "cumsum", "clip",
                 "ravel", "squeeze", "take", "swapaxes", "round"):
        setattr(Tracer, name, getattr(mnp, name))
    Tracer.dot = lambda self, b: mnp.dot(self, b)
    Tracer.astype = lambda self, dtype, copy=True: _core.as_array(self, np.dtype(dtype))
    Tracer.reshape = lambda self, *shape, order="C": mnp.reshape(
        self, shape[0] if len(shape) == 1 and not isinstance(shape[0], (int, np.integer)) else shape, order)
    Tracer.transpose = lambda self, *axes: mnp.transpose(
        self, None if not axes else axes[0] if len(axes) == 1 and not isinstance(axes[0], (int, np.integer)) else axes)
    Tracer.flatten = lambda self, order="C": mnp.ravel(self, order)
    Tracer.copy = lambda self: self
    Tracer.__array_ufunc__ = _array_ufunc(mnp)
    Tracer.__array_function__ = _array_function(mnp)
    Tracer.__array__ = _no_array
    Tracer.__setitem__ = _no_setitem
    Tracer.at = property(lambda self: _At(self, mnp))


def _no_setitem(self, key, value):
    raise UnsupportedError(
        f"a traced array {self.aval} is immutable: x[...] = value cannot change it",
        "Write y = x.at[idx].set(value) (or .add(value)), as in JAX, or mnp.where(mask, value, x); "
        "then use y.")


class _At:
    """`x.at[idx]`: JAX's functional updates, `.set`, `.add`, `.get`, returning a new array."""

    def __init__(self, x, mnp):
        self.x, self.mnp = x, mnp

    def __getitem__(self, idx):
        return _AtIndex(self.x, idx, self.mnp)


class _AtIndex:
    def __init__(self, x, idx, mnp):
        self.x, self.idx, self.mnp = x, idx, mnp

    def get(self):
        """x[idx]."""
        return self.x[self.idx]

    def _scatter(self, values):
        """Flat x, the flat positions idx selects, and `values` broadcast to them, flat."""
        mnp, x = self.mnp, self.x
        positions = np.arange(int(np.prod(x.shape, dtype=np.int64))).reshape(x.shape)
        p = mnp._indexing.getitem(positions, self.idx)  # numpy's indexing rules, traced indices included
        v = mnp.broadcast_to(_core.as_array(values, x.dtype), np.shape(p))
        return mnp.reshape(x, (-1,)), mnp.reshape(p, (-1, 1)), mnp.reshape(v, (-1,))

    def add(self, values):
        """x with `values` added at idx (repeated indices add up, as in JAX)."""
        from .. import primitives as P
        flat, p, v = self._scatter(values)
        return self.mnp.reshape(P.scatter_add(flat, p, v), self.x.shape)

    def set(self, values):
        """x with idx set to `values` (for a repeated index, the mean of its values: JAX leaves it unspecified)."""
        from .. import primitives as P
        mnp = self.mnp
        flat, p, v = self._scatter(values)
        zero = mnp.zeros(flat.shape, flat.dtype)
        count = P.scatter_add(zero, p, mnp.ones(v.shape, flat.dtype))
        total = P.scatter_add(zero, p, v)
        hit = count > 0
        mean = total / mnp.maximum(count, 1) if flat.dtype.kind == "f" else total // mnp.maximum(count, 1)
        return mnp.reshape(mnp.where(hit, mean.astype(flat.dtype), flat), self.x.shape)


_TO_NUMPY_HINT = ("Use minigrad_fn.numpy (or numpy functions that dispatch to it, like np.exp, np.dot(W, x), "
                  "W @ x, np.sum; not methods of a numpy array such as W.dot(x)); for a concrete value outside "
                  "the trace, return it from the function.")


def _no_array(self, dtype=None, copy=None):
    how = "np.asarray, np.array, or a numpy function or method that converts its input"
    try:  # a value being differentiated: say that its derivative would be lost (GradientLostError)
        self.concrete(f"conversion to a numpy array ({how})", hint=_TO_NUMPY_HINT)
    except ConcretizationError:
        pass  # an abstract value: the error below says what to do
    raise self._refuse(TracerError(f"a traced array {self.aval} cannot become a numpy array ({how})", _TO_NUMPY_HINT))


_UFUNC_NAMES = {"true_divide": "divide", "absolute": "absolute", "rint": "rint"}


def _array_ufunc(mnp):
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        name = _UFUNC_NAMES.get(ufunc.__name__, ufunc.__name__)
        fn = getattr(mnp, name, None)
        if method != "__call__" or fn is None or not callable(fn):
            what = f"numpy.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
            raise UnsupportedError(f"{what} is not supported on traced arrays (got {self.aval})",
                                   "minigrad_fn.numpy lists what is supported; write the computation with those "
                                   "functions, or do it outside the traced function.")
        _core.no_out(ufunc.__name__, kwargs.pop("out", None))
        _core.no_kwargs(ufunc.__name__, kwargs)
        return fn(*inputs)
    return __array_ufunc__


def _array_function(mnp):
    table = mnp._DISPATCH

    def __array_function__(self, func, types, args, kwargs):
        fn = table.get(func)
        if fn is None:
            mod = getattr(func, "__module__", "numpy") or "numpy"
            mod = "numpy" if mod.startswith("numpy._core") or mod.startswith("numpy.core") else mod
            raise UnsupportedError(
                f"{mod}.{func.__name__} is not supported on traced arrays (got {self.aval})",
                "minigrad_fn.numpy lists what is supported; write the computation with those functions, "
                "or apply it outside the traced function.")
        return fn(*args, **kwargs)
    return __array_function__
