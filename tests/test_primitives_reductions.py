"""The reduction primitives (`minigrad_fn/primitives/reductions.py`: reduce_*, argmax/argmin, cumsum): VJP rules
against JAX and finite differences, second order, ties and zeros, forward values of argmax/argmin, shape rules,
and the XLA lowering. The cases and checks are in `primitive_cases.py`."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad_fn as mg
import minigrad_fn.lax as lax
from primitive_cases import (CASES, SECOND_ORDER, SHAPE_EXAMPLES, ZERO_GRADIENT, _grads, _sum,
                             check_grads_and_xla_lowering, check_no_gradient, check_second_order,
                             check_shape_rule, check_vjp, family)

FAMILY = family("reductions")


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


@pytest.mark.parametrize("name", ["reduce_max", "reduce_min"])
@pytest.mark.parametrize("axes", [(0,), (1,), (0, 1), ()])
def test_reduce_max_min_split_ties_evenly(name, axes):
    x = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [-1.0, 0.5, -1.0]])
    c = np.random.default_rng(1).standard_normal(np.sum(x, axis=axes).shape)
    jax_fn = jnp.max if name == "reduce_max" else jnp.min
    (g,) = _grads(lambda x: _sum(lax.mul(getattr(lax, name)(x, axes), c)),
                  lambda x: jnp.sum(jax_fn(x, axis=axes) * c), x)
    if name == "reduce_max" and axes == (1,):
        np.testing.assert_allclose(g, [[0, c[0] / 2, c[0] / 2], [c[1] / 3] * 3, [0, c[2], 0]])
    if name == "reduce_min" and axes == (0, 1):
        np.testing.assert_allclose(g, [[0, 0, 0], [0, 0, 0], [c / 2, 0, c / 2]])


@pytest.mark.parametrize("axes", [(0,), (1,), (0, 1)])
@pytest.mark.parametrize("zeros", [[], [(0, 1)], [(0, 1), (1, 1)], [(0, 1), (0, 2)], [(0, 0), (0, 1), (0, 2)]])
def test_reduce_prod_with_zeros_is_exact(axes, zeros):
    x = np.array([[2.0, 3.0, -1.5], [0.5, 4.0, 1.25]])
    for z in zeros:
        x[z] = 0.0
    c = np.arange(1.0, 1.0 + np.prod(np.sum(x, axis=axes).shape)).reshape(np.sum(x, axis=axes).shape)
    f = lambda x: _sum(lax.mul(lax.reduce_prod(x, axes), c))  # noqa: E731
    jf = lambda x: jnp.sum(jnp.prod(x, axis=axes) * c)  # noqa: E731
    (g,) = _grads(f, jf, x)
    assert np.isfinite(g).all()
    # by hand: the product of the others, times the cotangent of the slice
    expect = np.zeros_like(x)
    for i in np.ndindex(*x.shape):
        others = x.copy()
        others[i] = 1.0
        sel = tuple(slice(None) if d in axes else i[d] for d in range(2))
        keep = tuple(i[d] for d in range(2) if d not in axes)
        expect[i] = np.prod(others[sel]) * c[keep]
    np.testing.assert_allclose(g, expect, rtol=1e-14, atol=0)
    v = np.random.default_rng(3).standard_normal(x.shape)
    (h,) = _grads(lambda x: _sum(lax.mul(mg.grad(f)(x), v)), lambda x: jnp.sum(jax.grad(jf)(x) * v), x)
    assert np.isfinite(h).all()

# =====================================================================================================
# Non-differentiable primitives: forward values, and no gradient through them
# =====================================================================================================


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_argmax_argmin_forward_first_of_ties(name, index_dtype):
    x = np.array([[1.0, 5.0, 5.0, 0.0], [-2.0, -2.0, 7.0, 7.0], [3.0, 3.0, 3.0, 3.0]])
    for axis in (0, 1):
        out = getattr(lax, name)(x, axis, index_dtype)
        assert out.dtype == index_dtype
        np.testing.assert_array_equal(out, getattr(np, name)(x, axis=axis))
        np.testing.assert_array_equal(out, np.asarray(getattr(jnp, name)(x, axis=axis)))

@pytest.mark.parametrize("name", sorted(n for n in ZERO_GRADIENT if n.split()[0] in FAMILY))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_gradient_through_non_differentiable(name, dtype):
    check_no_gradient(name, dtype)


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
