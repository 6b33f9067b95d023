"""The indexing primitives (`minigrad_fn/primitives/indexing.py`: gather, scatter_add): VJP rules against JAX
and finite differences, second order, shape rules and their errors, and the XLA lowering. The cases and checks
are in `primitive_cases.py`."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad_fn as mg
import minigrad_fn.lax as lax
from primitive_cases import (CASES, SECOND_ORDER, SHAPE_EXAMPLES, check_grads_and_xla_lowering,
                             check_second_order, check_shape_rule, check_vjp, family)

FAMILY = family("indexing")


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
# Shape rules against the numpy implementations, float32 and float64; make_jaxpr + typecheck
# =====================================================================================================


@pytest.mark.parametrize("name", sorted(FAMILY & set(SHAPE_EXAMPLES)))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_rule_matches_impl(name, dtype):
    check_shape_rule(name, dtype)


def test_scatter_add_rejects_updates_of_another_dtype_or_shape():
    x, idx = np.zeros((4, 3)), np.array([[0], [2]])
    with pytest.raises(mg.DTypeError, match="dtype"):
        mg.make_jaxpr(lambda x, u: lax.scatter_add(x, idx, u))(x, np.ones((2, 3), np.float32))
    with pytest.raises(mg.ShapeError, match=r"\(2, 3\)"):
        mg.make_jaxpr(lambda x, u: lax.scatter_add(x, idx, u))(x, np.ones((3, 3)))

# =====================================================================================================
# mg.check_grads (our VJP vs jax.vjp of the lowered IR vs finite differences), and each primitive
# compiled by XLA through its lowering rule against the numpy implementation
# =====================================================================================================


@pytest.mark.parametrize("name", sorted(FAMILY & set(CASES)))
@settings(max_examples=8)
@given(data=st.data())
def test_check_grads_and_xla_lowering(name, data):
    check_grads_and_xla_lowering(name, data)
