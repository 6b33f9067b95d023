"""Elementwise primitives: arithmetic, transcendental, rounding, comparison, logic, select, casts.

n-ary operations broadcast their operands numpy-style (same dtype required; the numpy surface promotes
first); every VJP rule undoes that broadcasting with the one shared `unbroadcast`.
Each primitive is one block: shape rule, numpy implementation, VJP rule per operand, lowering, display,
JVP and batching rules, wrapper. A differentiable operation's derivative is written once, as a local rule
per operand `rule(t, ans, *operands, **params)` = t times the local derivative (a diagonal Jacobian, so
the same expression serves a cotangent and a tangent): the VJP is that rule with the broadcasting undone,
the JVP is `local_jvp` of it. Every primitive here batches with `broadcasting_batch`. The wrappers that
JAX names like Python builtins (abs, round, pow, max, min) are `abs_`... here, so that in this module those
names keep their builtin meaning; the package exports them as `abs`...
"""
from __future__ import annotations

import numpy as np

from tracing import DTypeError, ShapedArray

from ._base import (Display, array_example, bool_values, broadcast_all, broadcast_example, broadcast_shapes, jnp,
                    lax, lax_op, nonzero, primitive, require_float, same_dtype, scalar, show_param, uniform,
                    unit_rule)
from ._transforms import broadcasting_batch, linear_jvp, local_jvp, zero_jvp
from .reductions import reduce_sum
from .shape import reshape

__all__ = [
    "neg", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "logistic", "sqrt", "abs_", "sign",
    "floor", "ceil", "round_", "integer_pow", "add", "sub", "mul", "div", "pow_", "max_", "min_",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not", "select",
    "convert_element_type", "stop_gradient", "unbroadcast", "floordiv", "mod",
    "neg_p", "exp_p", "log_p", "log1p_p", "expm1_p", "sin_p", "cos_p", "tan_p", "tanh_p", "logistic_p",
    "sqrt_p", "abs_p", "sign_p", "floor_p", "ceil_p", "round_p", "integer_pow_p", "add_p", "sub_p", "mul_p",
    "div_p", "pow_p", "max_p", "min_p", "eq_p", "ne_p", "lt_p", "le_p", "gt_p", "ge_p", "and_p", "or_p",
    "not_p", "select_p", "convert_element_type_p", "stop_gradient_p", "floordiv_p", "mod_p",
]

_BOOL = np.dtype(bool)
# numpy refuses bool operands for these (or would change their dtype: bool / bool is float64); the numpy
# surface promotes bool first where numpy does (bool ** bool is int8), so these see bool only through lax
_NO_BOOL = frozenset({"neg", "sign", "sub", "div", "pow", "integer_pow", "floordiv", "mod"})


def check_real(name: str, dt: np.dtype, *avals) -> None:
    """A DTypeError for complex operands (not supported yet: never compute with half of a number) and for
    bool operands of an operation numpy refuses them for."""
    kind = dt.kind
    if kind == "c" or (kind == "b" and name in _NO_BOOL):
        dtypes = ", ".join(a.dtype.name for a in avals) or dt.name
        if kind == "c":
            raise DTypeError(f"{name}: complex numbers are not supported yet (operands {dtypes})",
                             "Keep the real and imaginary parts as two real arrays.")
        raise DTypeError(f"{name}: not defined for bool operands (got {dtypes}; numpy refuses them too)",
                         "Cast with .astype(np.int8) or use the logical operations.")


def _unary_rule(name):
    def rule(x):
        if x.dtype.kind in "cb":
            check_real(name, x.dtype, x)
        return x
    return rule


def _float_unary_rule(name):
    def rule(x):
        require_float(name, x)
        return x
    return rule


def _binary_rule(name):
    def rule(x, y):
        dt = x.dtype
        if y.dtype is dt and dt.kind not in "cb":  # fast paths: one dtype, one shape or a scalar operand
            if x.shape == y.shape or not y.shape:
                return x  # avals are values: the operand's serves
            if not x.shape:
                return y
        dt = same_dtype(name, x, y)
        if dt.kind in "cb":
            check_real(name, dt, x, y)
        return ShapedArray(broadcast_shapes(name, x, y), dt)
    return rule


def _compare_rule(name):
    def rule(x, y):
        dt = same_dtype(name, x, y)
        if dt.kind == "c":
            check_real(name, dt, x, y)
        return ShapedArray(broadcast_shapes(name, x, y), _BOOL)
    return rule


def unbroadcast(g, shape: tuple):
    """Sum a cotangent of a broadcast result back down to an operand's `shape` (gradients add)."""
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(i + lead for i, d in enumerate(shape)
                                      if d == 1 and gshape[i + lead] != 1)
    if axes:
        g = reduce_sum(g, axes)
    return reshape(g, shape) if g.shape != shape else g


# ---- unary, float -------------------------------------------------------------------------------
def _unop(name, impl, local, float_only=True, lower=None, reads=None, reads_ans=None, values=uniform(),
          **display):
    """A unary elementwise primitive from its local rule `local(t, ans, x)` (t times f'(x)): its VJP rule as
    it is (no broadcasting to undo) and its JVP's; None: piecewise constant, no gradient and no tangent.
    `values`: the domain its examples draw from (see _base.array_example)."""
    rule = (_float_unary_rule if float_only else _unary_rule)(name)
    # a diagonal Jacobian; the piecewise-constant ones (no local rule) have no local gradient to show
    display = Display(kind="elementwise" if local is not None else "other", **display)
    p = primitive(name, rule, impl, [local], lower or lax_op(name),  # lax has the same name
                  reads=reads, reads_ans=reads_ans, display=display)
    p.rules["jvp"] = zero_jvp(p) if local is None else local_jvp(p, [local])
    p.rules["batch"] = broadcasting_batch(p)
    p.rules["example"] = array_example(values=values)
    return p


def _neg_of_neg(eqn, ctx):
    p = ctx.producer(eqn.invars[0])
    return p.invars[0] if p is not None and p.prim is neg_p else None


neg_p = _unop("neg", np.negative, lambda t, ans, x: neg(t), float_only=False, reads=(), formula="-1")
neg_p.rules["simplify"] = _neg_of_neg
exp_p = _unop("exp", np.exp, lambda t, ans, x: mul(t, ans), reads=(), reads_ans=True, formula="exp(x)")
log_p = _unop("log", np.log, lambda t, ans, x: div(t, x), reads=(0,), values=uniform(0.1, 3), formula="1/x")
log1p_p = _unop("log1p", np.log1p, lambda t, ans, x: div(t, add(x, scalar(1, x))), reads=(0,),
                values=uniform(-0.5, 2), formula="1/(1 + x)")
expm1_p = _unop("expm1", np.expm1, lambda t, ans, x: mul(t, add(ans, scalar(1, ans))),
                reads=(), reads_ans=True, formula="exp(x)")
sin_p = _unop("sin", np.sin, lambda t, ans, x: mul(t, cos(x)), reads=(0,), formula="cos(x)")
cos_p = _unop("cos", np.cos, lambda t, ans, x: neg(mul(t, sin(x))), reads=(0,), formula="-sin(x)")
tan_p = _unop("tan", np.tan, lambda t, ans, x: mul(t, add(scalar(1, ans), mul(ans, ans))),
              reads=(), reads_ans=True, values=uniform(-1.2, 1.2),  # away from the poles at +-pi/2
              formula="1 + tan(x)^2")
tanh_p = _unop("tanh", np.tanh, lambda t, ans, x: mul(t, sub(scalar(1, ans), mul(ans, ans))),
               reads=(), reads_ans=True, formula="1 - tanh(x)^2")
logistic_p = _unop("logistic", lambda x: _logistic_impl(x),
                   lambda t, ans, x: mul(t, mul(ans, sub(scalar(1, ans), ans))), reads=(), reads_ans=True,
                   short="sigmoid", pattern="sigmoid gate: local gradient (1 - s) s",
                   formula="(1 - sigmoid(x)) * sigmoid(x)")
sqrt_p = _unop("sqrt", np.sqrt, lambda t, ans, x: div(t, mul(scalar(2, ans), ans)), reads=(), reads_ans=True,
               values=uniform(0.1, 3), formula="1/(2*sqrt(x))")
# abs'(0) = 1, as lax.abs: the local rule is select(x >= 0, t, -t)
abs_p = _unop("abs", np.abs, lambda t, ans, x: select(ge(x, scalar(0, x)), t, neg(t)),
              float_only=False, reads=(0,), values=nonzero(0.05),  # away from the kink at 0
              formula="sign(x)",
              # unsigned and bool: the identity, as numpy (lax.abs refuses them)
              lower=lambda x: x if x.dtype.kind in "ub" else lax.abs(x))
# piecewise constant: the gradient and the tangent are zero almost everywhere, as in JAX
_STEP = "0: a step function is flat, nothing flows back"  # the local gradient of the piecewise-constant ones
sign_p = _unop("sign", np.sign, None, float_only=False,  # sign(-0.0) is +0.0 in numpy, -0.0 in lax
               lower=lambda x: lax.select(lax.eq(x, lax.full_like(x, 0)), lax.full_like(x, 0), lax.sign(x))
               if x.dtype.kind == "f" else lax.sign(x), formula=_STEP)
floor_p = _unop("floor", np.floor, None, formula=_STEP)
ceil_p = _unop("ceil", np.ceil, None, formula=_STEP)
round_p = _unop("round", np.round, None,  # half to even, as numpy
                lower=lambda x: lax.round(x, lax.RoundingMethod.TO_NEAREST_EVEN), formula=_STEP)


def _logistic_impl(x):
    # 1 / (1 + exp(-x)) overflows for very negative x; this form never does.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def neg(x): return neg_p.bind(x)
def exp(x): return exp_p.bind(x)
def log(x): return log_p.bind(x)
def log1p(x): return log1p_p.bind(x)
def expm1(x): return expm1_p.bind(x)
def sin(x): return sin_p.bind(x)
def cos(x): return cos_p.bind(x)
def tan(x): return tan_p.bind(x)
def tanh(x): return tanh_p.bind(x)
def logistic(x): return logistic_p.bind(x)
def sqrt(x): return sqrt_p.bind(x)
def abs_(x): return abs_p.bind(x)
def sign(x): return sign_p.bind(x)
def floor(x): return floor_p.bind(x)
def ceil(x): return ceil_p.bind(x)
def round_(x): return round_p.bind(x)


# ---- integer_pow: x ** n for a Python int n ----------------------------------------------------------
def _integer_pow_impl(x, y):
    if y >= 0:
        return np.power(x, y)
    if x.dtype.kind in "iu":
        return _int_negative_pow(np, x, y)
    return np.power(x, float(y)).astype(x.dtype, copy=False)


def _int_negative_pow(xp, x, y):
    """An integer x ** y for y < 0, truncated toward zero as numpy's integer reciprocal: 1 at x = 1, +-1 at
    x = -1, else 0 (also at x = 0, where numpy's answer is undefined). `xp`: numpy or jax.numpy; y is an int
    or an integer array (its parity gives the sign at x = -1)."""
    zero, one = xp.zeros((), x.dtype), xp.ones((), x.dtype)
    r = xp.where(x == one, one, zero)
    if x.dtype.kind == "i":
        r = xp.where(x == -one, xp.where(xp.asarray(y) % 2 == 0, one, -one), r)
    return r


def _integer_pow_lower(x, *, y):
    if y < 0 and x.dtype.kind in "iu":  # lax.integer_pow refuses negative powers of integers
        return _int_negative_pow(jnp, x, y)
    return lax.integer_pow(x, y)


def _integer_pow_rule(x, *, y):
    check_real("integer_pow", x.dtype, x)
    return x


def _integer_pow_local(t, ans, x, *, y):  # t * y x**(y-1); x**0 is constant
    if y == 0:
        return None
    d = scalar(y, x) if y - 1 == 0 else mul(scalar(y, x), x if y - 1 == 1 else integer_pow(x, y - 1))
    return mul(t, d)


def _integer_pow_formula(eqn) -> str:
    """n*x^(n-1) with n filled in: `2*x`, `3*x^2`, `-x^(-2)`."""
    n = eqn.params["y"]
    if n in (0, 1):
        return str(n)
    coefficient = "-" if n == -1 else f"{n}*"
    power = "x" if n == 2 else f"x^{n - 1}" if n > 2 else f"x^({n - 1})"
    return coefficient + power


integer_pow_p = primitive("integer_pow", _integer_pow_rule, _integer_pow_impl, [_integer_pow_local],
                          _integer_pow_lower, reads=(0,),
                          display=Display("pow", show_param("y"), kind="elementwise", formula=_integer_pow_formula))
integer_pow_p.rules["jvp"] = local_jvp(integer_pow_p, [_integer_pow_local])
integer_pow_p.rules["batch"] = broadcasting_batch(integer_pow_p)
integer_pow_p.rules["simplify"] = lambda eqn, ctx: eqn.invars[0] if eqn.params["y"] == 1 else None


def _integer_pow_example(s):
    y = s.integers(-2, 4)  # a negative power's base away from 0
    return [(nonzero() if y < 0 else uniform())(s, s.shape())], {"y": y}


integer_pow_p.rules["example"] = _integer_pow_example
def integer_pow(x, y: int): return integer_pow_p.bind(x, y=int(y))


# ---- binary arithmetic -----------------------------------------------------------------------------
def _binop(name, impl, local_x, local_y, lower=None, reads=None, reads_ans=None, pattern="",
           values=(uniform(), uniform()), formula=()):
    """A binary elementwise primitive from its local rules `local(t, ans, x, y)` (t times d ans / d x, and
    d ans / d y): the VJP sums each back to its operand's shape; the JVP broadcasts and adds them.
    `values`: the domains of x and y its examples draw from (see _base.broadcast_example); `pattern` and
    `formula`: its display's (see _base.Display)."""
    def unbroadcasting(rule, i):
        return lambda g, ans, x, y: unbroadcast(rule(g, ans, x, y), (x, y)[i].shape)
    p = primitive(name, _binary_rule(name), impl, [unbroadcasting(local_x, 0), unbroadcasting(local_y, 1)],
                  lower or lax_op(name), reads=reads, reads_ans=reads_ans,
                  display=Display(kind="elementwise", pattern=pattern, formula=formula))
    p.rules["jvp"] = local_jvp(p, [local_x, local_y])
    p.rules["batch"] = broadcasting_batch(p)
    p.rules["example"] = broadcast_example(*values)
    return p


def _pow_dx(t, ans, x, y):
    # y * x**(y-1), with 0 at x == y == 0 (d/dx x**0 = 0; JAX's rule for integer exponents, where its
    # float rule gives 0 * inf = nan). Guarding only that point keeps d/dy of this (x**-1 at y == 0) right.
    # The branch not taken there is evaluated at x = 1, so that it, and every derivative of it, stays
    # finite: a select's unchosen branch gets a zero cotangent, and 0 * inf would still be nan.
    zero = scalar(0, x)
    origin = logical_and(eq(x, zero), eq(y, zero))
    safe_x = select(origin, scalar(1, x), x)
    return mul(t, select(origin, zero, mul(y, pow_(safe_x, sub(y, scalar(1, y))))))


def _pow_dy(t, ans, x, y):
    # log(x) * x**y, with log(x) replaced by 0 where x == 0 (JAX's convention)
    safe = select(eq(x, scalar(0, x)), scalar(1, x), x)
    return mul(t, mul(log(safe), ans))


def _bool_as(name, bool_name):
    """The lowering of `lax.<name>`, or of `lax.<bool_name>` on bool operands."""
    def lower(x, y):
        return getattr(lax, bool_name if x.dtype == _BOOL else name)(*broadcast_all(x, y))
    lower.__name__ = f"lower_{name}"
    return lower


def _is_zero(v, negative: bool) -> bool:
    """v is a literal (a numpy value, not a JAX one) float zero, of this sign everywhere."""
    return (isinstance(v, (np.ndarray, np.generic)) and v.dtype.kind == "f" and not np.any(v)
            and bool(np.all(np.signbit(v) == negative)))


def _plus_zero(x, y):
    # x + 0.0, which XLA's simplifier would make x: -0.0 + 0.0 is +0.0
    x, _ = broadcast_all(x, y)
    zero = lax.full_like(x, 0)
    return lax.select(lax.eq(x, zero), zero, x)


def _lower_add(x, y):
    if x.dtype == _BOOL:
        return lax.bitwise_or(*broadcast_all(x, y))
    if _is_zero(y, False) or _is_zero(x, False):
        return _plus_zero(x, y) if _is_zero(y, False) else _plus_zero(y, x)
    return lax.add(*broadcast_all(x, y))


def _lower_sub(x, y):
    return _plus_zero(x, y) if _is_zero(y, True) else lax.sub(*broadcast_all(x, y))  # x - -0.0 is x + 0.0


def _pow_lower(x, y):
    x, y = broadcast_all(x, y)
    if x.dtype.kind == "f":
        return lax.pow(x, y)  # lax.pow takes float bases only
    # by squaring, over every bit of y (jnp.power stops early: int8 (-128) ** 64 would be 1, not 0)
    p, base, e = lax.full_like(x, 1), x, y
    one = lax.full_like(y, 1)
    for _ in range(8 * x.dtype.itemsize):
        p = lax.select(lax.eq(lax.bitwise_and(e, one), one), lax.mul(p, base), p)
        base, e = lax.mul(base, base), lax.shift_right_logical(e, one)
    # negative exponents: numpy raises; here truncated toward zero, as numpy's integer reciprocal
    return lax.select(lax.lt(y, lax.full_like(y, 0)), _int_negative_pow(jnp, x, y), p) if x.dtype.kind == "i" else p


def _max_rule(mine, other):
    # ties split the gradient (and the tangent) evenly between the operands, as in JAX
    def rule(t, ans, x, y):
        a, b = (x, y) if mine == 0 else (y, x)
        num = select(eq(a, ans), scalar(1, t), scalar(0, t))
        den = select(eq(b, ans), scalar(2, t), scalar(1, t))
        return mul(t, div(num, den))
    return rule


# on bool operands numpy's add is logical or and its multiply logical and (lax.add and lax.mul refuse bool)
# XLA simplifies x + 0.0 and x - -0.0 to x, wrong at x = -0.0: the lowerings keep numpy's +0.0 there
add_p = _binop("add", np.add, lambda t, ans, x, y: t, lambda t, ans, x, y: t, lower=_lower_add, reads=(),
               pattern="add distributes: each input gets the upstream gradient unchanged", formula=("1", "1"))
sub_p = _binop("sub", np.subtract, lambda t, ans, x, y: t, lambda t, ans, x, y: neg(t), lower=_lower_sub,
               reads=(),
               pattern="sub distributes: the upstream gradient, negated for the subtracted input",
               formula=("1", "-1"))
mul_p = _binop("mul", np.multiply, lambda t, ans, x, y: mul(t, y), lambda t, ans, x, y: mul(t, x),
               lower=_bool_as("mul", "bitwise_and"), reads=(0, 1),
               pattern="mul switches: each input gets upstream x the other input", formula=("y", "x"))
def _div_lower(x, y):
    # XLA divides by a constant as a multiplication by its reciprocal, which can round the other way:
    # the barrier keeps numpy's division (round(x, -2) divides by 100 and must not move a value off a tie)
    return lax.div(*broadcast_all(x, y if hasattr(y, "aval") else lax.optimization_barrier(y)))


div_p = _binop("div", lambda x, y: _div_impl(x, y), lambda t, ans, x, y: div(t, y),
               lambda t, ans, x, y: neg(mul(t, div(ans, y))), lower=_div_lower, reads=(1,), reads_ans=True,
               values=(uniform(), nonzero()), formula=("1/y", "-x/y^2"))
pow_p = _binop("pow", np.power, _pow_dx, _pow_dy, lambda x, y: _pow_lower(x, y), reads=(0, 1), reads_ans=True,
               values=(uniform(0.5, 2), uniform()),  # a positive base: x ** y is smooth in both
               formula=("y*x^(y-1)", "log(x)*x^y"))
max_p = _binop("max", np.maximum, _max_rule(0, 1), _max_rule(1, 0), reads=(0, 1), reads_ans=True,
               pattern="max routes: all of the gradient to the larger input, none to the other",
               formula=("1 if x > y else 0", "1 if y > x else 0"))
min_p = _binop("min", np.minimum, _max_rule(0, 1), _max_rule(1, 0), reads=(0, 1), reads_ans=True,
               pattern="min routes: all of the gradient to the smaller input, none to the other",
               formula=("1 if x < y else 0", "1 if y < x else 0"))
# x + 0 -> x: the symbolic zeros a backward pass can leave behind; for floats only -0.0 is add's unit
# (-0.0 + 0.0 is 0.0) and only +0.0 sub's (-0.0 - 0.0 is -0.0, but -0.0 - -0.0 is 0.0)
add_p.rules["simplify"] = unit_rule(0, float_unit=-0.0)
sub_p.rules["simplify"] = unit_rule(0, commutative=False, float_unit=0.0)
mul_p.rules["simplify"] = unit_rule(1)  # x * 1 -> x: e.g. the cotangent 1.0 that seeds grad
div_p.rules["simplify"] = unit_rule(1, commutative=False)


def _div_impl(x, y):
    if x.dtype.kind in "iu":  # integer division rounds toward zero, exactly, as lax.div
        with np.errstate(all="ignore"):
            safe = np.where(y == 0, np.ones((), y.dtype), y)
            q = np.floor_divide(x, safe)
            q = np.where((np.remainder(x, safe) != 0) & ((x < 0) != (safe < 0)), q + np.ones((), q.dtype), q)
            # x / 0 is numpy's true_divide cast back (what its integer mean gives; a platform value), XLA's -1
            return np.where(y == 0, np.true_divide(x, y).astype(q.dtype), q)
    return np.true_divide(x, y)


def add(x, y): return add_p.bind(x, y)
def sub(x, y): return sub_p.bind(x, y)
def mul(x, y): return mul_p.bind(x, y)
def div(x, y): return div_p.bind(x, y)
def pow_(x, y): return pow_p.bind(x, y)
def max_(x, y): return max_p.bind(x, y)
def min_(x, y): return min_p.bind(x, y)


# ---- floordiv and mod: numpy's floor_divide and remainder, exactly ----------------------------------
# Integers: exact integer operations, floor semantics, 0 for a division by zero. Floats: numpy's fmod-based
# npy_divmod (not floor(x / y): 1.0 // 0.1 is 9.0, 5.0 % inf is 5.0), float16 computed in float32 as numpy
# does. d(x // y) = 0; d(x % y) = dx - floor_divide(x, y) dy, as JAX's.
def _lax_divmod(x, y):
    """(x // y, x % y) with jax.lax, as numpy computes them."""
    y0 = y
    x, y = broadcast_all(x, y)
    dt = x.dtype
    if dt == np.float16:
        f32 = np.dtype(np.float32)
        q, r = _lax_divmod(lax.convert_element_type(x, f32), lax.convert_element_type(y, f32))
        return lax.convert_element_type(q, dt), lax.convert_element_type(r, dt)
    zero, one = lax.full_like(x, 0), lax.full_like(x, 1)
    by_zero = lax.eq(y, zero)
    if dt.kind in "iu":
        safe = lax.select(by_zero, one, y)
        q, r = lax.div(x, safe), lax.rem(x, safe)  # toward zero; INT_MIN // -1 wraps to INT_MIN, as numpy
        if dt.kind == "i":  # toward minus infinity
            fix = lax.bitwise_and(lax.ne(r, zero), lax.ne(lax.lt(r, zero), lax.lt(y, zero)))
            q, r = lax.select(fix, lax.sub(q, one), q), lax.select(fix, lax.add(r, y), r)
        return lax.select(by_zero, zero, q), lax.select(by_zero, zero, r)
    if not hasattr(y, "aval") or np.shape(y) != np.shape(y0):
        # XLA divides by a literal or a broadcast array as a multiplication by its reciprocal: not exact
        y = lax.optimization_barrier(y)
    fmod = lax.rem(x, y)  # C's fmod
    div = lax.div(lax.sub(x, fmod), y)  # very nearly an integer
    fix = lax.bitwise_and(lax.ne(fmod, zero), lax.ne(lax.lt(y, zero), lax.lt(fmod, zero)))
    # a zero takes y's sign; written so that JAX's derivative of it is fmod's (1 for x), as ours
    signed_zero = lax.sub(jnp.copysign(zero, y), lax.sub(lax.stop_gradient(fmod), fmod))
    mod = lax.select(fix, lax.add(fmod, y), lax.select(lax.eq(fmod, zero), signed_zero, fmod))
    div = lax.select(fix, lax.sub(div, one), div)
    floor = lax.floor(div)  # snapped to the nearest integer
    floor = lax.select(lax.gt(lax.sub(div, floor), lax.full_like(x, 0.5)), lax.add(floor, one), floor)
    floor = lax.select(lax.eq(div, zero), jnp.copysign(zero, lax.div(x, y)), floor)
    return lax.select(by_zero, lax.div(x, y), floor), lax.select(by_zero, fmod, mod)


def _quiet(ufunc):
    # numpy's result, without its warnings for division by zero (XLA has none to give)
    def impl(x, y):
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return ufunc(x, y)
    return impl


floordiv_p = primitive("floordiv", _binary_rule("floordiv"), _quiet(np.floor_divide), [None, None],
                       lambda x, y: _lax_divmod(x, y)[0], display=Display("//", local=_STEP))
floordiv_p.rules["jvp"] = zero_jvp(floordiv_p)  # piecewise constant, as floor
floordiv_p.rules["batch"] = broadcasting_batch(floordiv_p)
# uniform values: x / y is an integer (where both jump) with probability 0
floordiv_p.rules["example"] = broadcast_example(uniform(-3, 3), nonzero())
mod_p = _binop("mod", _quiet(np.remainder), lambda t, ans, x, y: t,
               lambda t, ans, x, y: neg(mul(t, floordiv(x, y))), lower=lambda x, y: _lax_divmod(x, y)[1],
               reads=(0, 1), reads_ans=False, values=(uniform(-3, 3), nonzero()), formula=("1", "-floor(x/y)"))
def floordiv(x, y): return floordiv_p.bind(x, y)
def mod(x, y): return mod_p.bind(x, y)


# ---- comparisons and logic (no gradient: their outputs are bool) ---------------------------------
def _no_tangent(p):
    """A primitive through which no tangent flows, as in JAX (bool outputs, stop_gradient); it batches by
    broadcasting."""
    p.rules["jvp"] = zero_jvp(p)
    p.rules["batch"] = broadcasting_batch(p)
    return p


def _ties(s, shape):
    """Example values for comparisons: floats in {-1, 0, 1}, so that some are equal."""
    return s.integers(-1, 2, shape).astype(np.float64)


def _cmp(name, impl):
    p = _no_tangent(primitive(name, _compare_rule(name), impl, [None, None], lax_op(name), display=Display()))
    p.rules["example"] = broadcast_example(_ties, _ties)
    return p


eq_p = _cmp("eq", np.equal)
ne_p = _cmp("ne", np.not_equal)
lt_p = _cmp("lt", np.less)
le_p = _cmp("le", np.less_equal)
gt_p = _cmp("gt", np.greater)
ge_p = _cmp("ge", np.greater_equal)


def _logic_rule(name):
    def rule(*xs):
        check_real(name, same_dtype(name, *xs), *xs)
        return ShapedArray(broadcast_shapes(name, *xs), _BOOL)
    return rule


def _logic_lower(name):
    # logical, as numpy's, on any dtype (lax's bitwise operations are logical only on bool)
    def lower(*xs):
        return getattr(lax, name)(*[x if x.dtype == _BOOL else lax.ne(x, lax.full_like(x, 0))
                                    for x in broadcast_all(*xs)])
    return lower


and_p = _no_tangent(primitive("and", _logic_rule("and"), np.logical_and, [None, None], _logic_lower("bitwise_and"),
                              display=Display()))
or_p = _no_tangent(primitive("or", _logic_rule("or"), np.logical_or, [None, None], _logic_lower("bitwise_or"),
                             display=Display()))
not_p = _no_tangent(primitive("not", _logic_rule("not"), np.logical_not, [None], _logic_lower("bitwise_not"),
                              display=Display()))
and_p.rules["example"] = or_p.rules["example"] = broadcast_example(bool_values, bool_values)
not_p.rules["example"] = array_example(values=bool_values)


def eq(x, y): return eq_p.bind(x, y)
def ne(x, y): return ne_p.bind(x, y)
def lt(x, y): return lt_p.bind(x, y)
def le(x, y): return le_p.bind(x, y)
def gt(x, y): return gt_p.bind(x, y)
def ge(x, y): return ge_p.bind(x, y)
def logical_and(x, y): return and_p.bind(x, y)
def logical_or(x, y): return or_p.bind(x, y)
def logical_not(x): return not_p.bind(x)


# ---- select(pred, on_true, on_false): numpy's where ----------------------------------------------
def _select_rule(pred, x, y):
    if pred.dtype != _BOOL:
        raise DTypeError(f"select: the predicate must be bool, got {pred.dtype.name} {pred.shape}",
                         "Compare first (x > 0) or cast with .astype(bool).")
    return ShapedArray(broadcast_shapes("select", pred, x, y), same_dtype("select", x, y))


def _known_select(eqn, ctx):
    pred, x, y = eqn.invars
    p = ctx.value(pred)
    if p is not None and (np.all(p) or not np.any(p)):
        keep = x if np.all(p) else y
        return keep if keep.aval == eqn.outvars[0].aval else None
    return None


select_p = primitive("select", _select_rule, np.where, [
    None,
    lambda g, ans, p, x, y: unbroadcast(select(p, g, scalar(0, g)), x.shape),
    lambda g, ans, p, x, y: unbroadcast(select(p, scalar(0, g), g), y.shape),
], lax_op("select"), reads=(0,), display=Display(
    kind="elementwise", pattern="select routes: each element's gradient goes to the input it was taken from",
    formula=("", "1 where x else 0", "0 where x else 1")))
select_p.rules["simplify"] = _known_select
select_p.rules["jvp"] = linear_jvp(select_p, linear=(1, 2))  # linear in the branches, constant in the predicate
select_p.rules["batch"] = broadcasting_batch(select_p)
select_p.rules["example"] = broadcast_example(bool_values, uniform(), uniform())
def select(pred, on_true, on_false): return select_p.bind(pred, on_true, on_false)


# ---- casts and stop_gradient ---------------------------------------------------------------------
def _convert_vjp(g, ans, x, *, new_dtype):
    return convert_element_type(g, x.dtype) if np.dtype(x.dtype).kind == "f" else None


def _convert_jvp_local(t, ans, x, *, new_dtype):
    # linear float -> float; a non-float result carries no tangent (an int operand has none to give)
    return convert_element_type(t, new_dtype) if np.dtype(new_dtype).kind == "f" else None


def _lower_convert(x, *, new_dtype):
    y = lax.convert_element_type(x, new_dtype)
    # XLA rewrites float(mask) * y as select(mask, y, 0), which is 0, not nan, where y is inf or nan (and
    # float(mask) / 0.0 likewise): the barrier keeps the conversion a number
    return lax.optimization_barrier(y) if x.dtype == _BOOL and np.dtype(new_dtype).kind == "f" else y


def _convert_rule(x, *, new_dtype):
    check_real("convert_element_type", x.dtype, x)
    check_real("convert_element_type", np.dtype(new_dtype), ShapedArray(x.shape, new_dtype))
    return ShapedArray(x.shape, new_dtype)


convert_element_type_p = primitive(
    "convert_element_type", _convert_rule,
    lambda x, *, new_dtype: np.asarray(x).astype(new_dtype), [_convert_vjp], _lower_convert,
    reads=(), display=Display("convert", kind="elementwise", formula="1"))
convert_element_type_p.rules["jvp"] = local_jvp(convert_element_type_p, [_convert_jvp_local])
convert_element_type_p.rules["batch"] = broadcasting_batch(convert_element_type_p)


def _convert_example(s):
    # float64 to float64, int32 or bool, and int32 or bool to float64; not float32, whose rounding would
    # swamp check_rules' finite differences (eps 1e-6, computed in the operand's or the result's dtype)
    src, dst = s.choice([(np.float64, np.float64), (np.float64, np.int32), (np.float64, bool),
                         (np.int32, np.float64), (bool, np.float64)])
    return [s.floats(s.shape(), -3, 3).astype(src)], {"new_dtype": np.dtype(dst)}


convert_element_type_p.rules["example"] = _convert_example


def convert_element_type(x, new_dtype):
    new_dtype = np.dtype(new_dtype)
    if x.dtype == new_dtype:
        return x
    return convert_element_type_p.bind(x, new_dtype=new_dtype)


stop_gradient_p = _no_tangent(primitive("stop_gradient", _unary_rule("stop_gradient"), lambda x: x, [None],
                                        lax_op("stop_gradient"), display=Display(local="0: nothing flows back")))
# integer operands: finite differences of the implementation (the identity) see through stop_gradient, as
# they do in JAX, so for a float operand check_rules would compare its zero gradient with 1
stop_gradient_p.rules["example"] = array_example(values=lambda s, shape: s.integers(-3, 4, shape))
def stop_gradient(x): return stop_gradient_p.bind(x)
