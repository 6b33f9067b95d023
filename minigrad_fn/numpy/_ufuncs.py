"""Elementwise functions with numpy's names, dtype promotion and broadcasting."""
from __future__ import annotations

import numpy as np

from tracing import Tracer

from .. import primitives as P
from ._core import as_array, cast_all, common_dtype, no_kwargs, no_out, result_dtype


def _binary(prim_fn, ufunc, compute_dtype_of=None):
    def fn(x1, x2, /, out=None, **kw):
        no_out(ufunc.__name__, out)
        no_kwargs(ufunc.__name__, kw)
        dt = result_dtype(ufunc, x1, x2) if compute_dtype_of is None else compute_dtype_of(x1, x2)
        a, b = cast_all((x1, x2), dt)
        return prim_fn(a, b)
    fn.__name__ = ufunc.__name__
    fn.__doc__ = f"numpy.{ufunc.__name__}, traceable."
    return fn


def _compare(prim_fn, ufunc):
    def fn(x1, x2, /, out=None, **kw):
        no_out(ufunc.__name__, out)
        no_kwargs(ufunc.__name__, kw)
        a, b = cast_all((x1, x2), common_dtype(x1, x2))
        return prim_fn(a, b)
    fn.__name__ = ufunc.__name__
    fn.__doc__ = f"numpy.{ufunc.__name__}, traceable."
    return fn


def _unary(prim_fn, ufunc):
    def fn(x, /, out=None, **kw):
        no_out(ufunc.__name__, out)
        no_kwargs(ufunc.__name__, kw)
        return prim_fn(as_array(x, result_dtype(ufunc, x)))
    fn.__name__ = ufunc.__name__
    fn.__doc__ = f"numpy.{ufunc.__name__}, traceable."
    return fn


add = _binary(P.add, np.add)
subtract = _binary(P.sub, np.subtract)
multiply = _binary(P.mul, np.multiply)
divide = true_divide = _binary(P.div, np.true_divide)
maximum = _binary(P.max, np.maximum)
minimum = _binary(P.min, np.minimum)
equal = _compare(P.eq, np.equal)
not_equal = _compare(P.ne, np.not_equal)
less = _compare(P.lt, np.less)
less_equal = _compare(P.le, np.less_equal)
greater = _compare(P.gt, np.greater)
greater_equal = _compare(P.ge, np.greater_equal)

exp = _unary(P.exp, np.exp)
log = _unary(P.log, np.log)
log1p = _unary(P.log1p, np.log1p)
expm1 = _unary(P.expm1, np.expm1)
sin = _unary(P.sin, np.sin)
cos = _unary(P.cos, np.cos)
tan = _unary(P.tan, np.tan)
tanh = _unary(P.tanh, np.tanh)
sqrt = _unary(P.sqrt, np.sqrt)
negative = _unary(P.neg, np.negative)
absolute = abs = _unary(P.abs, np.absolute)  # noqa: A001
sign = _unary(P.sign, np.sign)
floor = _unary(P.floor, np.floor)
ceil = _unary(P.ceil, np.ceil)
rint = _unary(P.round, np.rint)


def positive(x, /, out=None, **kw):
    """numpy.positive: the array itself."""
    return as_array(x)


def _as_bool(x):
    x = as_array(x)
    return x if x.dtype == np.dtype(bool) else P.ne(x, np.zeros((), x.dtype))


def logical_and(x1, x2, /, out=None, **kw):
    """numpy.logical_and, traceable."""
    return P.logical_and(_as_bool(x1), _as_bool(x2))


def logical_or(x1, x2, /, out=None, **kw):
    """numpy.logical_or, traceable."""
    return P.logical_or(_as_bool(x1), _as_bool(x2))


def logical_xor(x1, x2, /, out=None, **kw):
    """numpy.logical_xor, traceable."""
    return P.ne(_as_bool(x1), _as_bool(x2))


def logical_not(x, /, out=None, **kw):
    """numpy.logical_not, traceable."""
    return P.logical_not(_as_bool(x))


def power(x1, x2, /, out=None, **kw):
    """numpy.power; a Python-int exponent becomes integer_pow (exact gradient at x = 0)."""
    no_out("power", out)
    if isinstance(x2, (int, np.integer)) and not isinstance(x2, bool):
        dt = result_dtype(np.power, x1, int(x2))
        return P.integer_pow(as_array(x1, dt), int(x2))
    dt = result_dtype(np.power, x1, x2)
    a, b = cast_all((x1, x2), dt)
    return P.pow(a, b)


def square(x, /, out=None, **kw):
    """numpy.square, traceable."""
    no_out("square", out)
    return P.integer_pow(as_array(x, result_dtype(np.square, x)), 2)


def reciprocal(x, /, out=None, **kw):
    """numpy.reciprocal, traceable."""
    return P.integer_pow(as_array(x, result_dtype(np.reciprocal, x)), -1)


def floor_divide(x1, x2, /, out=None, **kw):
    """numpy.floor_divide for floats (floor(x1 / x2)); zero gradient, as JAX."""
    dt = result_dtype(np.floor_divide, x1, x2)
    if dt.kind != "f":
        a, b = cast_all((x1, x2), dt)
        q = P.div(a, b)  # rounds toward zero
        wrong = P.logical_and(P.ne(P.mul(q, b), a), P.ne(P.lt(a, np.zeros((), dt)), P.lt(b, np.zeros((), dt))))
        return P.select(wrong, P.sub(q, np.ones((), dt)), q)
    a, b = cast_all((x1, x2), dt)
    return P.floor(P.div(a, b))


def remainder(x1, x2, /, out=None, **kw):
    """numpy.remainder (mod): x1 - floor_divide(x1, x2) * x2."""
    dt = result_dtype(np.remainder, x1, x2)
    a, b = cast_all((x1, x2), dt)
    return P.sub(a, P.mul(floor_divide(a, b), b))


mod = remainder


def round(a, decimals: int = 0, out=None):  # noqa: A001
    """numpy.round (half to even), traceable; zero gradient."""
    no_out("round", out)
    a = as_array(a)
    if decimals == 0:
        return P.round(a)
    if a.dtype.kind != "f":
        return a
    s = np.asarray(10.0 ** decimals, a.dtype)
    return P.div(P.round(P.mul(a, s)), s)


around = round


def where(condition, x=None, y=None, /):
    """numpy.where(condition, x, y): elementwise choice; the gradient flows to the chosen operand."""
    if x is None and y is None:
        if isinstance(condition, Tracer):
            from ._core import UnsupportedError
            raise UnsupportedError("where(condition) with one argument returns data-dependent shapes; "
                                   "it is not supported on traced arrays",
                                   "Use where(condition, x, y) with three arguments.")
        return np.where(condition)
    dt = common_dtype(x, y)
    a, b = cast_all((x, y), dt)
    return P.select(_as_bool(condition), a, b)


def clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None):  # noqa: A002
    """numpy.clip as maximum then minimum (ties split the gradient, as jnp.clip)."""
    no_out("clip", out)
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    if lo is not None:
        a = maximum(lo, a)
    if hi is not None:
        a = minimum(hi, a)
    return as_array(a)


def stop_gradient(x):
    """The value of x, with no gradient flowing through it."""
    return P.stop_gradient(as_array(x))


def isfinite(x, /, out=None, **kw):
    """numpy.isfinite, traceable (no gradient)."""
    x = as_array(x)
    if x.dtype.kind != "f":
        return P.eq(x, x) if isinstance(x, Tracer) else np.ones(x.shape, bool)
    return P.lt(P.abs(x), np.asarray(np.inf, x.dtype))


def isnan(x, /, out=None, **kw):
    """numpy.isnan, traceable (no gradient)."""
    x = as_array(x)
    return P.ne(x, x)
