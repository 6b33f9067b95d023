"""The elementwise primitives (`minigrad_fn/primitives/elementwise.py`): VJP rules against JAX and finite
differences, second order, conventions at non-smooth points, forward values of the non-differentiable ones,
shape rules, and the XLA lowering. The cases and checks are in `primitive_cases.py`."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad_fn as mg
import minigrad_fn.lax as lax
from primitive_cases import (CASES, COMPARE, SECOND_ORDER, SHAPE_EXAMPLES, UNARY, ZERO_GRADIENT, _grads, _sum,
                             check_grads_and_xla_lowering, check_no_gradient, check_second_order,
                             check_shape_rule, check_vjp, family, jlax)

FAMILY = family("elementwise")


# =====================================================================================================
# First order: grad of sum(f(args) * c) against jax.grad and central finite differences
# =====================================================================================================


@pytest.mark.parametrize("name", sorted(FAMILY & set(CASES)))
@given(data=st.data())
def test_vjp_against_jax_and_finite_differences(name, data):
    check_vjp(name, data)


# =====================================================================================================
# Second order: a Hessian-vector product, grad of <grad f, v>, against JAX's
# =====================================================================================================


@pytest.mark.parametrize("name", sorted(FAMILY & set(SECOND_ORDER)))
@given(data=st.data())
def test_second_order_against_jax(name, data):
    check_second_order(name, data)


# =====================================================================================================
# Conventions at non-smooth points, against compiled jax.grad
# =====================================================================================================


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_split_ties_evenly(name):
    mg_op, jax_op = getattr(lax, name), getattr(jnp, "maximum" if name == "max" else "minimum")
    x = np.array([1.0, 2.0, 3.0, 2.0])
    y = np.array([1.0, 1.0, 3.0, 5.0])
    c = np.array([1.0, 2.0, 4.0, 8.0])
    gx, gy = _grads(lambda x, y: _sum(lax.mul(mg_op(x, y), c)), lambda x, y: jnp.sum(jax_op(x, y) * c), x, y)
    np.testing.assert_array_equal(gx + gy, c)  # the whole cotangent arrives, halves at ties
    np.testing.assert_array_equal(gx[[0, 2]], [0.5, 2.0])
    np.testing.assert_array_equal(gy[[0, 2]], [0.5, 2.0])
    # the same value on both sides (max(x, x)), and a broadcast scalar tied with two elements
    (g,) = _grads(lambda x: _sum(lax.mul(mg_op(x, x), c)), lambda x: jnp.sum(jax_op(x, x) * c), x)
    np.testing.assert_array_equal(g, c)
    gx, gs = _grads(lambda x, s: _sum(lax.mul(mg_op(x, s), c)), lambda x, s: jnp.sum(jax_op(x, s) * c),
                    x, np.float64(2.0))
    assert gs.shape == () and gs.dtype == np.float64
    np.testing.assert_array_equal(gx, [0.0, 1.0, 4.0, 4.0] if name == "max" else [1.0, 1.0, 0.0, 4.0])
    assert gs == (6.0 if name == "max" else 9.0)


def test_abs_gradient_at_zero_is_jaxs():
    # lax.abs's rule is select(x >= 0, g, -g): abs'(0) = 1 in JAX (jnp.abs and lax.abs alike)
    x = np.array([-1.5, 0.0, 2.0, -0.0])
    (g,) = _grads(lambda x: _sum(lax.abs(x)), lambda x: jnp.sum(jnp.abs(x)), x)
    np.testing.assert_array_equal(g, [-1.0, 1.0, 1.0, 1.0])


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "round"])
def test_piecewise_constant_have_zero_gradient_even_at_jumps(name):
    x = np.array([-2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.3])
    jax_fn = UNARY[name][0]
    (g,) = _grads(lambda x: _sum(lax.mul(getattr(lax, name)(x), x)), lambda x: jnp.sum(jax_fn(x) * x), x)
    np.testing.assert_array_equal(g, np.asarray(jax_fn(x)))  # d(f(x) * x) = f(x): nothing from f itself
    f_mg = lambda x: _sum(getattr(lax, name)(x))  # noqa: E731
    np.testing.assert_array_equal(mg.grad(f_mg)(x), np.zeros_like(x))
    np.testing.assert_array_equal(mg.grad(lambda x: _sum(mg.grad(f_mg)(x)))(x), np.zeros_like(x))


@pytest.mark.parametrize("y", [0, 1, 2, 3, -1, -2])
def test_integer_pow_at_zero_and_exponent_zero(y):
    x = np.array([0.0, 1.5, -2.0]) if y > 0 else np.array([0.5, 1.5, -2.0]) if y < 0 else np.array([0.0, 1.5, -2.0])
    f = lambda x: _sum(lax.integer_pow(x, y))  # noqa: E731
    jf = lambda x: jnp.sum(jlax.integer_pow(x, y))  # noqa: E731
    np.testing.assert_array_equal(lax.integer_pow(x, y), np.asarray(jlax.integer_pow(x, y)))
    (g,) = _grads(f, jf, x)
    (gg,) = _grads(lambda x: _sum(mg.grad(f)(x)), lambda x: jnp.sum(jax.grad(jf)(x)), x)
    if y == 0:
        np.testing.assert_array_equal(g, 0.0)
        np.testing.assert_array_equal(gg, 0.0)
    if y == 1:
        np.testing.assert_array_equal(g, 1.0)


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_pow_conventions_at_zero_base_and_zero_exponent():
    # every (x, y) pair with x in {0, 1, 2} and y in {0, 0.5, 1, 2, 3}
    xs, ys = np.meshgrid([0.0, 1.0, 2.0], [0.0, 0.5, 1.0, 2.0, 3.0], indexing="ij")
    x, y = xs.ravel(), ys.ravel()
    f = lambda x, y: _sum(lax.pow(x, y))  # noqa: E731
    jf = lambda x, y: jnp.sum(jnp.power(x, y))  # noqa: E731
    np.testing.assert_array_equal(lax.pow(x, y), np.asarray(jnp.power(x, y)))
    gx, gy = mg.grad(f, (0, 1))(x, y)
    jgx, jgy = (np.asarray(g) for g in jax.grad(jf, (0, 1))(x, y))
    at0 = x == 0
    # d/dx x**0 = 0, even at x = 0: JAX's rule for integer exponents (jax.grad of x ** 0 and of
    # lax.integer_pow(x, 0)). JAX's rule for float exponents computes 0 * 0**-1 = nan there instead.
    origin = at0 & (y == 0)
    np.testing.assert_array_equal(gx[origin], 0.0)
    assert float(jax.grad(lambda x: x ** 0)(0.0)) == 0.0
    np.testing.assert_allclose(gx[~origin], jgx[~origin], rtol=1e-15, atol=0)
    np.testing.assert_array_equal(gx[at0 & (y == 1)], 1.0)
    assert np.isposinf(gx[at0 & (y == 0.5)]).all()
    np.testing.assert_array_equal(gy[at0], 0.0)  # log(0) taken as 0: no nan, as JAX
    np.testing.assert_allclose(gy, jgy, rtol=1e-15, atol=0)
    # second order where x > 0 (at x = 0 the entries mix 0, inf and nan, by different rules in each)
    _grads(lambda x, y: _sum(lax.add(*mg.grad(f, (0, 1))(x, y))),
           lambda x, y: jnp.sum(sum(jax.grad(jf, (0, 1))(x, y))), x[~at0], y[~at0])

# =====================================================================================================
# Non-differentiable primitives: forward values, and no gradient through them
# =====================================================================================================


@pytest.mark.parametrize("name", sorted(COMPARE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_comparisons_forward(name, dtype):
    x = np.array([[-1, 0, 1, 2]], dtype=dtype)
    y = np.array([[0], [1], [-1]], dtype=dtype)
    out = getattr(lax, name)(x, y)
    ref = getattr(np, {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal", "gt": "greater",
                       "ge": "greater_equal"}[name])(x, y)
    assert out.dtype == np.bool_ and out.shape == (3, 4)
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(out, np.asarray(COMPARE[name](x, y)))


@pytest.mark.parametrize("name", ["and", "or", "not"])
def test_logic_forward(name):
    p = np.array([[True, False, True]])
    q = np.array([[True], [False]])
    if name == "not":
        out, ref, jref = lax.logical_not(p), np.logical_not(p), ~jnp.asarray(p)
    else:
        mg_op = lax.logical_and if name == "and" else lax.logical_or
        np_op = np.logical_and if name == "and" else np.logical_or
        out, ref = mg_op(p, q), np_op(p, q)
        jref = jnp.asarray(p) & jnp.asarray(q) if name == "and" else jnp.asarray(p) | jnp.asarray(q)
    assert out.dtype == np.bool_ and out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(out, np.asarray(jref))


def test_round_is_half_to_even_and_integer_division_truncates():
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, -0.51])
    np.testing.assert_array_equal(lax.round(x), np.asarray(jnp.round(x)))
    np.testing.assert_array_equal(lax.round(x), np.asarray(jlax.round(x, jlax.RoundingMethod.TO_NEAREST_EVEN)))
    a = np.array([7, -7, 7, -7, 6], dtype=np.int32)
    b = np.array([2, 2, -2, -2, 3], dtype=np.int32)
    out = lax.div(a, b)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.asarray(jlax.div(a, b)))

@pytest.mark.parametrize("name", sorted(n for n in ZERO_GRADIENT if n.split()[0] in FAMILY))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_gradient_through_non_differentiable(name, dtype):
    check_no_gradient(name, dtype)


def test_stop_gradient_blocks_only_its_branch():
    x = np.array([0.5, -1.0, 2.0])
    (g,) = _grads(lambda x: _sum(lax.mul(x, lax.stop_gradient(x))), lambda x: jnp.sum(x * jlax.stop_gradient(x)), x)
    np.testing.assert_array_equal(g, x)  # not 2x


def test_convert_element_type_gradient_keeps_the_argument_dtype():
    x32 = np.array([0.5, -1.0, 2.0], np.float32)
    g = mg.grad(lambda x: _sum(lax.mul(lax.convert_element_type(x, np.float64), np.array([1.0, 2.0, 3.0]))))(x32)
    assert g.dtype == np.float32
    np.testing.assert_array_equal(g, [1.0, 2.0, 3.0])
    g = mg.grad(lambda x: _sum(lax.integer_pow(lax.convert_element_type(x, np.float32), 2)))(x32.astype(np.float64))
    assert g.dtype == np.float64
    np.testing.assert_allclose(g, 2 * x32)

# =====================================================================================================
# Shape rules against the numpy implementations, float32 and float64; make_jaxpr + typecheck
# =====================================================================================================


@pytest.mark.parametrize("name", sorted(FAMILY & set(SHAPE_EXAMPLES)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_rule_matches_impl(name, dtype):
    check_shape_rule(name, dtype)


# =====================================================================================================
# mg.check_grads (our VJP vs jax.vjp of the lowered IR vs finite differences), and each primitive
# compiled by XLA through its lowering rule against the numpy implementation
# =====================================================================================================


@pytest.mark.parametrize("name", sorted(FAMILY & set(CASES)))
@settings(max_examples=8)
@given(data=st.data())
def test_check_grads_and_xla_lowering(name, data):
    check_grads_and_xla_lowering(name, data)
