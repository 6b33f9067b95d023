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

from ._base import (Display, broadcast_shapes, jnp, lax, lax_op, primitive, require_float, same_dtype, scalar,
                    show_param, unit_rule)
from ._transforms import broadcasting_batch, linear_jvp, local_jvp, zero_jvp
from .reductions import reduce_sum
from .shape import reshape

__all__ = [
    "neg", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "logistic", "sqrt", "abs_", "sign",
    "floor", "ceil", "round_", "integer_pow", "add", "sub", "mul", "div", "pow_", "max_", "min_",
    "eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or", "logical_not", "select",
    "convert_element_type", "stop_gradient", "unbroadcast",
    "neg_p", "exp_p", "log_p", "log1p_p", "expm1_p", "sin_p", "cos_p", "tan_p", "tanh_p", "logistic_p",
    "sqrt_p", "abs_p", "sign_p", "floor_p", "ceil_p", "round_p", "integer_pow_p", "add_p", "sub_p", "mul_p",
    "div_p", "pow_p", "max_p", "min_p", "eq_p", "ne_p", "lt_p", "le_p", "gt_p", "ge_p", "and_p", "or_p",
    "not_p", "select_p", "convert_element_type_p", "stop_gradient_p",
]

_BOOL = np.dtype(bool)


def _unary_rule(name):
    def rule(x):
        return x
    return rule


def _float_unary_rule(name):
    def rule(x):
        require_float(name, x)
        return x
    return rule


def _binary_rule(name):
    def rule(x, y):
        return ShapedArray(broadcast_shapes(name, x, y), same_dtype(name, x, y))
    return rule


def _compare_rule(name):
    def rule(x, y):
        same_dtype(name, x, y)
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
def _unop(name, impl, local, float_only=True, lower=None, reads=None, reads_ans=None, **display):
    """A unary elementwise primitive from its local rule `local(t, ans, x)` (t times f'(x)): its VJP rule as
    it is (no broadcasting to undo) and its JVP's; None: piecewise constant, no gradient and no tangent."""
    rule = (_float_unary_rule if float_only else _unary_rule)(name)
    # a diagonal Jacobian; the piecewise-constant ones (no local rule) have no local gradient to show
    display = Display(kind="elementwise" if local is not None else "other", **display)
    p = primitive(name, rule, impl, [local], lower or lax_op(name),  # lax has the same name
                  reads=reads, reads_ans=reads_ans, display=display)
    p.rules["jvp"] = zero_jvp(p) if local is None else local_jvp(p, [local])
    p.rules["batch"] = broadcasting_batch(p)
    return p


def _neg_of_neg(eqn, ctx):
    p = ctx.producer(eqn.invars[0])
    return p.invars[0] if p is not None and p.prim is neg_p else None


neg_p = _unop("neg", np.negative, lambda t, ans, x: neg(t), float_only=False, reads=())
neg_p.rules["simplify"] = _neg_of_neg
exp_p = _unop("exp", np.exp, lambda t, ans, x: mul(t, ans), reads=(), reads_ans=True)
log_p = _unop("log", np.log, lambda t, ans, x: div(t, x), reads=(0,))
log1p_p = _unop("log1p", np.log1p, lambda t, ans, x: div(t, add(x, scalar(1, x))), reads=(0,))
expm1_p = _unop("expm1", np.expm1, lambda t, ans, x: mul(t, add(ans, scalar(1, ans))),
                reads=(), reads_ans=True)
sin_p = _unop("sin", np.sin, lambda t, ans, x: mul(t, cos(x)), reads=(0,))
cos_p = _unop("cos", np.cos, lambda t, ans, x: neg(mul(t, sin(x))), reads=(0,))
tan_p = _unop("tan", np.tan, lambda t, ans, x: mul(t, add(scalar(1, ans), mul(ans, ans))),
              reads=(), reads_ans=True)
tanh_p = _unop("tanh", np.tanh, lambda t, ans, x: mul(t, sub(scalar(1, ans), mul(ans, ans))),
               reads=(), reads_ans=True)
logistic_p = _unop("logistic", lambda x: _logistic_impl(x),
                   lambda t, ans, x: mul(t, mul(ans, sub(scalar(1, ans), ans))), reads=(), reads_ans=True,
                   short="sigmoid", pattern="sigmoid gate: local gradient (1 - s) s")
sqrt_p = _unop("sqrt", np.sqrt, lambda t, ans, x: div(t, mul(scalar(2, ans), ans)), reads=(), reads_ans=True)
# abs'(0) = 1, as lax.abs: the local rule is select(x >= 0, t, -t)
abs_p = _unop("abs", np.abs, lambda t, ans, x: select(ge(x, scalar(0, x)), t, neg(t)),
              float_only=False, reads=(0,))
# piecewise constant: the gradient and the tangent are zero almost everywhere, as in JAX
sign_p = _unop("sign", np.sign, None, float_only=False)
floor_p = _unop("floor", np.floor, None)
ceil_p = _unop("ceil", np.ceil, None)
round_p = _unop("round", np.round, None,  # half to even, as numpy
                lower=lambda x: lax.round(x, lax.RoundingMethod.TO_NEAREST_EVEN))


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
    return np.power(x, y) if y >= 0 else np.power(x, float(y)).astype(x.dtype, copy=False)


def _integer_pow_local(t, ans, x, *, y):  # t * y x**(y-1); x**0 is constant
    if y == 0:
        return None
    d = scalar(y, x) if y - 1 == 0 else mul(scalar(y, x), x if y - 1 == 1 else integer_pow(x, y - 1))
    return mul(t, d)


integer_pow_p = primitive("integer_pow", lambda x, *, y: x, _integer_pow_impl, [_integer_pow_local],
                          lax_op("integer_pow"), reads=(0,),
                          display=Display("pow", show_param("y"), kind="elementwise"))
integer_pow_p.rules["jvp"] = local_jvp(integer_pow_p, [_integer_pow_local])
integer_pow_p.rules["batch"] = broadcasting_batch(integer_pow_p)
integer_pow_p.rules["simplify"] = lambda eqn, ctx: eqn.invars[0] if eqn.params["y"] == 1 else None
def integer_pow(x, y: int): return integer_pow_p.bind(x, y=int(y))


# ---- binary arithmetic -----------------------------------------------------------------------------
def _binop(name, impl, local_x, local_y, lower=None, reads=None, reads_ans=None, pattern=""):
    """A binary elementwise primitive from its local rules `local(t, ans, x, y)` (t times d ans / d x, and
    d ans / d y): the VJP sums each back to its operand's shape; the JVP broadcasts and adds them."""
    def unbroadcasting(rule, i):
        return lambda g, ans, x, y: unbroadcast(rule(g, ans, x, y), (x, y)[i].shape)
    p = primitive(name, _binary_rule(name), impl, [unbroadcasting(local_x, 0), unbroadcasting(local_y, 1)],
                  lower or lax_op(name), reads=reads, reads_ans=reads_ans,
                  display=Display(kind="elementwise", pattern=pattern))
    p.rules["jvp"] = local_jvp(p, [local_x, local_y])
    p.rules["batch"] = broadcasting_batch(p)
    return p


def _pow_dx(t, ans, x, y):
    # y * x**(y-1), with 0 at x == y == 0 (d/dx x**0 = 0; JAX's rule for integer exponents, where its
    # float rule gives 0 * inf = nan). Guarding only that point keeps d/dy of this (x**-1 at y == 0) right.
    zero = scalar(0, x)
    origin = logical_and(eq(x, zero), eq(y, zero))
    return mul(t, select(origin, zero, mul(y, pow_(x, sub(y, scalar(1, y))))))


def _pow_dy(t, ans, x, y):
    # log(x) * x**y, with log(x) replaced by 0 where x == 0 (JAX's convention)
    safe = select(eq(x, scalar(0, x)), scalar(1, x), x)
    return mul(t, mul(log(safe), ans))


def _max_rule(mine, other):
    # ties split the gradient (and the tangent) evenly between the operands, as in JAX
    def rule(t, ans, x, y):
        a, b = (x, y) if mine == 0 else (y, x)
        num = select(eq(a, ans), scalar(1, t), scalar(0, t))
        den = select(eq(b, ans), scalar(2, t), scalar(1, t))
        return mul(t, div(num, den))
    return rule


add_p = _binop("add", np.add, lambda t, ans, x, y: t, lambda t, ans, x, y: t, reads=(),
               pattern="add distributes: each input gets the upstream gradient unchanged")
sub_p = _binop("sub", np.subtract, lambda t, ans, x, y: t, lambda t, ans, x, y: neg(t), reads=(),
               pattern="sub distributes: the upstream gradient, negated for the subtracted input")
mul_p = _binop("mul", np.multiply, lambda t, ans, x, y: mul(t, y), lambda t, ans, x, y: mul(t, x),
               reads=(0, 1), pattern="mul switches: each input gets upstream x the other input")
div_p = _binop("div", lambda x, y: _div_impl(x, y), lambda t, ans, x, y: div(t, y),
               lambda t, ans, x, y: neg(mul(t, div(ans, y))), reads=(1,), reads_ans=True)
pow_p = _binop("pow", np.power, _pow_dx, _pow_dy,  # lax.pow takes float bases only
               lambda x, y: (lax_op("pow") if np.dtype(x.dtype).kind in "fc" else jnp.power)(x, y),
               reads=(0, 1), reads_ans=True)
max_p = _binop("max", np.maximum, _max_rule(0, 1), _max_rule(1, 0), reads=(0, 1), reads_ans=True,
               pattern="max routes: all of the gradient to the larger input, none to the other")
min_p = _binop("min", np.minimum, _max_rule(0, 1), _max_rule(1, 0), reads=(0, 1), reads_ans=True,
               pattern="min routes: all of the gradient to the smaller input, none to the other")
add_p.rules["simplify"] = unit_rule(0)  # x + 0 -> x: the symbolic zeros a backward pass can leave behind
sub_p.rules["simplify"] = unit_rule(0, commutative=False)
mul_p.rules["simplify"] = unit_rule(1)  # x * 1 -> x: e.g. the cotangent 1.0 that seeds grad
div_p.rules["simplify"] = unit_rule(1, commutative=False)


def _div_impl(x, y):
    if x.dtype.kind in "iu":  # integer division rounds toward zero, as lax.div
        q = np.trunc(np.true_divide(x, y))
        return q.astype(np.result_type(x, y), copy=False)
    return np.true_divide(x, y)


def add(x, y): return add_p.bind(x, y)
def sub(x, y): return sub_p.bind(x, y)
def mul(x, y): return mul_p.bind(x, y)
def div(x, y): return div_p.bind(x, y)
def pow_(x, y): return pow_p.bind(x, y)
def max_(x, y): return max_p.bind(x, y)
def min_(x, y): return min_p.bind(x, y)


# ---- comparisons and logic (no gradient: their outputs are bool) ---------------------------------
def _no_tangent(p):
    """A primitive through which no tangent flows, as in JAX (bool outputs, stop_gradient); it batches by
    broadcasting."""
    p.rules["jvp"] = zero_jvp(p)
    p.rules["batch"] = broadcasting_batch(p)
    return p


def _cmp(name, impl):
    return _no_tangent(primitive(name, _compare_rule(name), impl, [None, None], lax_op(name), display=Display()))


eq_p = _cmp("eq", np.equal)
ne_p = _cmp("ne", np.not_equal)
lt_p = _cmp("lt", np.less)
le_p = _cmp("le", np.less_equal)
gt_p = _cmp("gt", np.greater)
ge_p = _cmp("ge", np.greater_equal)
and_p = _no_tangent(primitive("and", _binary_rule("and"), np.logical_and, [None, None], lax_op("bitwise_and"),
                              display=Display()))
or_p = _no_tangent(primitive("or", _binary_rule("or"), np.logical_or, [None, None], lax_op("bitwise_or"),
                             display=Display()))
not_p = _no_tangent(primitive("not", _unary_rule("not"), np.logical_not, [None], lax_op("bitwise_not"),
                              display=Display()))


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
    kind="elementwise", pattern="select routes: each element's gradient goes to the input it was taken from"))
select_p.rules["simplify"] = _known_select
select_p.rules["jvp"] = linear_jvp(select_p, linear=(1, 2))  # linear in the branches, constant in the predicate
select_p.rules["batch"] = broadcasting_batch(select_p)
def select(pred, on_true, on_false): return select_p.bind(pred, on_true, on_false)


# ---- casts and stop_gradient ---------------------------------------------------------------------
def _convert_vjp(g, ans, x, *, new_dtype):
    return convert_element_type(g, x.dtype) if np.dtype(x.dtype).kind == "f" else None


def _convert_jvp_local(t, ans, x, *, new_dtype):
    # linear float -> float; a non-float result carries no tangent (an int operand has none to give)
    return convert_element_type(t, new_dtype) if np.dtype(new_dtype).kind == "f" else None


convert_element_type_p = primitive(
    "convert_element_type", lambda x, *, new_dtype: ShapedArray(x.shape, new_dtype),
    lambda x, *, new_dtype: np.asarray(x).astype(new_dtype), [_convert_vjp], lax_op("convert_element_type"),
    reads=(), display=Display("convert", kind="elementwise"))
convert_element_type_p.rules["jvp"] = local_jvp(convert_element_type_p, [_convert_jvp_local])
convert_element_type_p.rules["batch"] = broadcasting_batch(convert_element_type_p)


def convert_element_type(x, new_dtype):
    new_dtype = np.dtype(new_dtype)
    if x.dtype == new_dtype:
        return x
    return convert_element_type_p.bind(x, new_dtype=new_dtype)


stop_gradient_p = _no_tangent(primitive("stop_gradient", _unary_rule("stop_gradient"), lambda x: x, [None],
                                        lax_op("stop_gradient"), display=Display(local="0: nothing flows back")))
def stop_gradient(x): return stop_gradient_p.bind(x)
