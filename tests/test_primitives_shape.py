"""The shape primitives (`minigrad_fn/primitives/shape.py`: broadcast_in_dim, reshape, transpose, squeeze,
concatenate, slice, pad, rev, iota): VJP rules against JAX and finite differences, second order, empty axes,
iota's values, shape rules, and the XLA lowering. The cases and checks are in `primitive_cases.py`."""
from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad_fn as mg
import minigrad_fn.lax as lax
from primitive_cases import (CASES, SECOND_ORDER, SHAPE_EXAMPLES, check_grads_and_xla_lowering,
                             check_second_order, check_shape_rule, check_vjp, family, jlax)
from tracing import ShapedArray

FAMILY = family("shape")


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


def test_pad_and_slice_vjps_of_empty_axes_under_tracing():
    # an empty axis with interior padding: the VJP's slice must still be a valid one when it is recorded
    config = ((1, 1, 2), (0, 1, 1))

    def pullback(x, c):
        return mg.vjp(lambda x: lax.pad(x, config), x)[1](c)[0]

    x, c = np.zeros((0, 2)), np.arange(8.0).reshape(2, 4)
    closed = mg.make_jaxpr(pullback)(x, c)
    mg.typecheck(closed.jaxpr)
    assert closed.out_avals == [ShapedArray((0, 2), np.dtype(np.float64))]
    np.testing.assert_array_equal(pullback(x, c), np.asarray(jax.vjp(lambda x: jlax.pad(x, 0.0, config), x)[1](c)[0]))
    closed = mg.make_jaxpr(lambda x, c: mg.vjp(lambda x: lax.slice(x, (1,), (1,)), x)[1](c)[0])(np.ones(3), np.ones(0))
    mg.typecheck(closed.jaxpr)
    assert closed.out_avals == [ShapedArray((3,), np.dtype(np.float64))]


@pytest.mark.parametrize("shape, dimension", [((4,), 0), ((2, 3), 0), ((2, 3), 1), ((2, 1, 3), 2)])
@pytest.mark.parametrize("dtype", [np.int32, np.float32, np.float64])
def test_iota_forward(shape, dimension, dtype):
    out = lax.iota(dtype, shape, dimension)
    assert out.dtype == dtype and out.shape == shape
    np.testing.assert_array_equal(out, np.asarray(jlax.broadcasted_iota(dtype, shape, dimension)))

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
