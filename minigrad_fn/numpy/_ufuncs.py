"""Elementwise functions with numpy's names, dtype promotion and broadcasting."""
from __future__ import annotations

import numpy as np

from tracing import Tracer

from .. import primitives as P
from ..primitives.elementwise import floordiv as _floordiv, mod as _mod
from ._core import _key, as_array, cast_all, common_dtype, no_kwargs, no_out, result_dtype, shapes_of


def _binary(prim_fn, ufunc):
    def fn(x1, x2, /, out=None, **kw):
        if out is not None or kw:
            no_out(ufunc.__name__, out)
            no_kwargs(ufunc.__name__, kw)
        dt = result_dtype(ufunc, x1, x2)
        return prim_fn(as_array(x1, dt), as_array(x2, dt))
    fn.__name__ = ufunc.__name__
    fn.__doc__ = f"numpy.{ufunc.__name__}, traceable."
    return fn


# x1 op x2 where x1 is below every value of x2's dtype (above: the mirrored operation's answer)
_BELOW = {np.equal: False, np.not_equal: True, np.less: True, np.less_equal: True, np.greater: False,
          np.greater_equal: False}
_MIRROR = {np.equal: np.equal, np.not_equal: np.not_equal, np.less: np.greater, np.less_equal: np.greater_equal,
           np.greater: np.less, np.greater_equal: np.less_equal}
_UINT64 = np.dtype(np.uint64)


def _compare(prim_fn, ufunc):
    # exact, as numpy 2: in the operands' common dtype, except for a Python int beyond the other operand's
    # integer range (the answer is then its sign's) and uint64 against signed integers (whose common dtype,
    # float64, would round both)
    def fn(x1, x2, /, out=None, **kw):
        no_out(ufunc.__name__, out)
        no_kwargs(ufunc.__name__, kw)
        dt = common_dtype(x1, x2, op=ufunc.__name__)
        if type(x1) is int or type(x2) is int:
            known = _beyond_range(ufunc, x1, x2)
            if known is not None:
                return known
        elif dt.kind == "f":
            k1, k2 = _key(x1), _key(x2)
            if k1 in _INTS and k2 in _INTS and (k1 == _UINT64) != (k2 == _UINT64):
                return _signed_vs_uint64(ufunc, x1, x2)
        a, b = cast_all((x1, x2), dt)
        return prim_fn(a, b)
    fn.__name__ = ufunc.__name__
    fn.__doc__ = f"numpy.{ufunc.__name__}, traceable."
    return fn


_INTS = frozenset(np.dtype(c) for c in "bhilqpBHILQP")


def _all(x, value: bool):
    """An array of x's shape (and batch axes) full of `value`; x is an integer array."""
    x = as_array(x)
    return P.eq(x, x) if value else P.ne(x, x)


def _beyond_range(ufunc, x1, x2):
    """x1 op x2 where one is a Python int beyond the other's integer dtype: numpy 2's answer, else None."""
    if type(x1) is int and type(x2) is not int:
        c, arr, op = x1, x2, ufunc
    elif type(x2) is int and type(x1) is not int:
        c, arr, op = x2, x1, _MIRROR[ufunc]
    else:
        return None
    dt = _key(arr)
    if dt not in _INTS:
        return None
    info = np.iinfo(dt)
    if info.min <= c <= info.max:
        return None
    return _all(arr, _BELOW[op] if c < info.min else _BELOW[_MIRROR[op]])


def _signed_vs_uint64(ufunc, x1, x2):
    # s op u = (s < 0 ? s is below every u : uint64(s) op u)
    signed_first = _key(x1) != _UINT64
    s, u = (x1, x2) if signed_first else (x2, x1)
    op = ufunc if signed_first else _MIRROR[ufunc]
    s, u = as_array(s, np.dtype(np.int64)), as_array(u, _UINT64)
    negative = P.lt(s, np.zeros((), np.int64))
    same = _PRIMS[op](P.convert_element_type(s, _UINT64), u)
    return P.logical_or(negative, same) if _BELOW[op] else P.logical_and(P.logical_not(negative), same)


def _unary(prim_fn, ufunc, non_float_unchanged=False):
    # floor/ceil/rint keep integer (and bool) operands as they are, as numpy does; their primitives take floats
    def fn(x, /, out=None, **kw):
        if out is not None or kw:
            no_out(ufunc.__name__, out)
            no_kwargs(ufunc.__name__, kw)
        dt = result_dtype(ufunc, x)
        x = as_array(x, dt)
        return x if non_float_unchanged and dt.kind != "f" else prim_fn(x)
    fn.__name__ = ufunc.__name__
    fn.__doc__ = f"numpy.{ufunc.__name__}, traceable."
    return fn


add = _binary(P.add, np.add)
subtract = _binary(P.sub, np.subtract)
multiply = _binary(P.mul, np.multiply)
divide = true_divide = _binary(P.div, np.true_divide)
maximum = _binary(P.max, np.maximum)
minimum = _binary(P.min, np.minimum)
_PRIMS = {np.equal: P.eq, np.not_equal: P.ne, np.less: P.lt, np.less_equal: P.le, np.greater: P.gt,
          np.greater_equal: P.ge}
equal, not_equal, less, less_equal, greater, greater_equal = (
    _compare(_PRIMS[u], u) for u in (np.equal, np.not_equal, np.less, np.less_equal, np.greater, np.greater_equal))

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


floor = _unary(P.floor, np.floor, non_float_unchanged=True)  # zero gradient, as JAX
ceil = _unary(P.ceil, np.ceil, non_float_unchanged=True)
rint = _unary(P.round, np.rint, non_float_unchanged=True)


def positive(x, /, out=None, **kw):
    """numpy.positive: the array itself."""
    no_out("positive", out)
    no_kwargs("positive", kw)
    x = as_array(x)
    if x.dtype == np.dtype(bool):
        from tracing import DTypeError
        raise DTypeError(f"positive: not defined for bool operands (got {x.dtype.name} {x.shape})",
                         "Cast it with .astype(int) first.")
    return x


def _as_bool(x):
    # numpy's logical operations take a Python int as an int64 (one beyond its range is refused)
    x = as_array(x, np.dtype(np.int64)) if type(x) is int else as_array(x)
    return x if x.dtype == np.dtype(bool) else P.ne(x, np.zeros((), x.dtype))


def logical_and(x1, x2, /, out=None, **kw):
    """numpy.logical_and, traceable."""
    no_out("logical_and", out)
    no_kwargs("logical_and", kw)
    return P.logical_and(_as_bool(x1), _as_bool(x2))


def logical_or(x1, x2, /, out=None, **kw):
    """numpy.logical_or, traceable."""
    no_out("logical_or", out)
    no_kwargs("logical_or", kw)
    return P.logical_or(_as_bool(x1), _as_bool(x2))


def logical_xor(x1, x2, /, out=None, **kw):
    """numpy.logical_xor, traceable."""
    no_out("logical_xor", out)
    no_kwargs("logical_xor", kw)
    return P.ne(_as_bool(x1), _as_bool(x2))


def logical_not(x, /, out=None, **kw):
    """numpy.logical_not, traceable."""
    no_out("logical_not", out)
    no_kwargs("logical_not", kw)
    return P.logical_not(_as_bool(x))


def _bitwise(logical_fn, ufunc):
    # on bool operands the bitwise ops are the logical ones; integer bit twiddling has no primitive
    def fn(*xs, out=None, **kw):
        no_out(ufunc.__name__, out)
        no_kwargs(ufunc.__name__, kw)
        dt = result_dtype(ufunc, *xs)
        if dt != np.dtype(bool):
            from ._core import UnsupportedError
            raise UnsupportedError(f"{ufunc.__name__}: only bool operands are supported, got {dt.name} "
                                   f"(shapes {shapes_of(xs)})",
                                   "Compare first (x > 0) to get masks; integer bit operations are not traceable.")
        return logical_fn(*cast_all(xs, dt))
    fn.__name__ = ufunc.__name__
    fn.__doc__ = f"numpy.{ufunc.__name__} for bool operands (the logical operation), traceable."
    return fn


bitwise_and = _bitwise(logical_and, np.bitwise_and)
bitwise_or = _bitwise(logical_or, np.bitwise_or)
bitwise_xor = _bitwise(logical_xor, np.bitwise_xor)
invert = bitwise_not = _bitwise(logical_not, np.invert)


def power(x1, x2, /, out=None, **kw):
    """numpy.power; a Python-int exponent becomes integer_pow (exact gradient at x = 0)."""
    no_out("power", out)
    no_kwargs("power", kw)
    dt = result_dtype(np.power, x1, x2)  # a numpy integer scalar is strong (float32 ** np.int32(2) is float64)
    if isinstance(x2, (int, np.integer)) and not isinstance(x2, (bool, np.bool_)):
        if dt.kind in "iu" or not -2**31 <= x2 < 2**31:
            as_array(x2, dt)  # numpy converts it to dt first: an OutOfRangeError where that overflows
        if x2 < 0 and dt.kind in "iub":
            raise ValueError("Integers to negative integer powers are not allowed.")
        return P.integer_pow(as_array(x1, dt), int(x2))
    a, b = cast_all((x1, x2), dt)
    return P.pow(a, b)


def square(x, /, out=None, **kw):
    """numpy.square, traceable."""
    no_out("square", out)
    no_kwargs("square", kw)
    return P.integer_pow(as_array(x, result_dtype(np.square, x)), 2)


def reciprocal(x, /, out=None, **kw):
    """numpy.reciprocal, traceable."""
    no_out("reciprocal", out)
    no_kwargs("reciprocal", kw)
    return P.integer_pow(as_array(x, result_dtype(np.reciprocal, x)), -1)


def floor_divide(x1, x2, /, out=None, **kw):
    """numpy.floor_divide, exactly (integers: exact, 0 for a division by zero; floats: numpy's fmod-based
    algorithm); zero gradient, as JAX."""
    no_out("floor_divide", out)
    no_kwargs("floor_divide", kw)
    return _floordiv(*cast_all((x1, x2), result_dtype(np.floor_divide, x1, x2)))


def remainder(x1, x2, /, out=None, **kw):
    """numpy.remainder (mod), exactly, with the sign of x2; gradients 1 and -floor_divide(x1, x2), as JAX."""
    no_out("remainder", out)
    no_kwargs("remainder", kw)
    return _mod(*cast_all((x1, x2), result_dtype(np.remainder, x1, x2)))


mod = remainder


def round(a, decimals: int = 0, out=None):  # noqa: A001
    """numpy.round (half to even, to `decimals` places, which may be negative), traceable; zero gradient."""
    no_out("round", out)
    a = as_array(a)
    decimals = int(decimals)
    if a.dtype.kind in "iu" and decimals >= 0:
        return a
    if a.dtype.kind == "b":
        if decimals:
            from tracing import DTypeError
            raise DTypeError(f"round: bool operands cannot be rounded to {decimals} decimals")
        return rint(a)
    if decimals == 0:
        return P.round(a)
    # as numpy: scale by 10**|decimals| (exact for moderate decimals), round, scale back
    dt = a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)
    f = np.asarray(10.0 ** (decimals if decimals > 0 else -decimals), dt)  # (not the traced abs above)
    x = as_array(a, dt)
    r = P.div(P.round(P.mul(x, f)), f) if decimals > 0 else P.mul(P.round(P.div(x, f)), f)
    return as_array(r, a.dtype)


around = round


def where(condition, x=None, y=None, /):
    """numpy.where(condition, x, y): elementwise choice; the gradient flows to the chosen operand."""
    if x is None and y is None:
        if isinstance(condition, Tracer):
            from ._core import UnsupportedError
            raise UnsupportedError(f"where(condition) with one argument returns data-dependent shapes; "
                                   f"it is not supported on traced arrays (got a condition {condition.aval})",
                                   "Use where(condition, x, y) with three arguments.")
        return np.where(condition)
    dt = common_dtype(x, y, op="where")
    a, b = cast_all((x, y), dt)
    return P.select(_as_bool(condition), a, b)


def clip(a, a_min=None, a_max=None, out=None, *, min=None, max=None):  # noqa: A002
    """numpy.clip as maximum then minimum (ties split the gradient, as jnp.clip); a Python-int bound beyond an
    integer array's range clips nothing, as in numpy 2."""
    no_out("clip", out)
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    dt = _key(a) if isinstance(a, (Tracer, np.ndarray, np.generic)) else None
    if dt in _INTS:
        info = np.iinfo(dt)
        lo = None if type(lo) is int and lo <= info.min else lo
        hi = None if type(hi) is int and hi >= info.max else hi
    if lo is not None:
        a = maximum(lo, a)
    if hi is not None:
        a = minimum(hi, a)
    return as_array(a)


def logaddexp(x1, x2, /, out=None, **kw):
    """numpy.logaddexp, log(exp(x1) + exp(x2)) without overflow, as max + log1p(exp(min - max)): written with
    min - max (not -|x1 - x2|) so that at x1 == x2 each operand gets half the gradient, as it should."""
    no_out("logaddexp", out)
    no_kwargs("logaddexp", kw)
    a, b = cast_all((x1, x2), result_dtype(np.logaddexp, x1, x2))
    hi, lo = maximum(a, b), minimum(a, b)
    delta = subtract(lo, hi)  # NaN only for equal infinities (or a NaN operand): then x1 + x2 is the answer
    return where(isnan(delta), add(a, b), add(hi, log1p(exp(delta))))


def logaddexp2(x1, x2, /, out=None, **kw):
    """numpy.logaddexp2, log2(2**x1 + 2**x2) without overflow (as logaddexp, in base 2)."""
    no_out("logaddexp2", out)
    no_kwargs("logaddexp2", kw)
    a, b = cast_all((x1, x2), result_dtype(np.logaddexp2, x1, x2))
    hi, lo = maximum(a, b), minimum(a, b)
    delta = subtract(lo, hi)
    ln2 = np.asarray(np.log(2), hi.dtype)
    return where(isnan(delta), add(a, b), add(hi, divide(log1p(exp(multiply(delta, ln2))), ln2)))


def stop_gradient(x):
    """The value of x, with no gradient flowing through it."""
    return P.stop_gradient(as_array(x))


def isfinite(x, /, out=None, **kw):
    """numpy.isfinite, traceable (no gradient)."""
    no_out("isfinite", out)
    no_kwargs("isfinite", kw)
    x = as_array(x)
    if x.dtype.kind != "f":
        return P.eq(x, x) if isinstance(x, Tracer) else np.ones(x.shape, bool)
    return P.lt(P.abs(x), np.asarray(np.inf, x.dtype))


def isnan(x, /, out=None, **kw):
    """numpy.isnan, traceable (no gradient)."""
    no_out("isnan", out)
    no_kwargs("isnan", kw)
    x = as_array(x)
    return P.ne(x, x)
