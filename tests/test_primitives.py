"""What concerns every primitive at once: each has a case, a shape-rule example and a family test file
(`test_primitives_<family>.py`, one per module of `minigrad_fn/primitives/`); VJPs of non-float outputs; and
the numpy interpreter for JAX's jaxprs (`primitive_cases.jax_ref`) against compiled JAX."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.lax as lax
from primitive_cases import (_JAX_NUMPY, BINARY, CASES, FAMILIES, NOT_DIFFERENTIABLE, SECOND_ORDER, SHAPE_EXAMPLES,
                             UNARY, ZERO_GRADIENT, family, jax_ref, jlax)


def test_every_primitive_is_covered():
    names = set(lax.all_primitives())
    assert len(names) >= 55
    assert set(CASES) == names, (f"primitives without a case here: {sorted(names - set(CASES))}; "
                                 f"cases for unknown primitives: {sorted(set(CASES) - names)}")
    assert set(SHAPE_EXAMPLES) == names, f"no shape-rule example for {sorted(names - set(SHAPE_EXAMPLES))}"
    assert NOT_DIFFERENTIABLE <= names
    assert set(ZERO_GRADIENT) == NOT_DIFFERENTIABLE - {"iota"} | {"convert_element_type to int"}
    # the family test files together run every primitive, each once
    in_families = [n for m in FAMILIES for n in family(m)]
    assert sorted(in_families) == sorted(names), "a primitive in no family, or in two: the split loses or repeats it"
    assert set(SECOND_ORDER) >= (set(UNARY) | set(BINARY) | {"integer_pow", "dot_general", "reduce_max",
                                                            "reduce_prod", "gather"}) - NOT_DIFFERENTIABLE


def test_vjp_of_boolean_and_integer_outputs_is_zero():
    x = np.array([1.0, -2.0, 0.5])
    out, vjp_fn = mg.vjp(lambda x: (lax.gt(x, 0.0), lax.argmax(x, 0)), x)
    np.testing.assert_array_equal(out[0], [True, False, True])
    (g,) = vjp_fn((np.ones(3, bool), np.ones((), np.int64)))
    assert g.dtype == np.float64 and g.shape == (3,)
    np.testing.assert_array_equal(g, 0.0)


# =====================================================================================================
# The reference interpreter itself, against compiled JAX
# =====================================================================================================


def _elementwise_program(x, y):
    rounded = jlax.round(y * 2, jlax.RoundingMethod.TO_NEAREST_EVEN) + jlax.round(y * 2)
    return (jnp.sin(x) * jnp.cos(y) + jnp.tan(x / 3) - jnp.tanh(y) * jnp.exp(-x) + jnp.log(x) + jnp.log1p(x)
            + jnp.expm1(y) + jnp.sqrt(x) + jnp.abs(y) + jnp.sign(y) + jnp.floor(y) + jnp.ceil(y) + rounded
            + jlax.logistic(y) + jlax.rsqrt(x) + jnp.square(y) + jnp.array(x, copy=True))


def _binary_program(x, y):
    pred = (x > y) & (x >= 1) | ~(x < y) ^ (x <= 0.7)
    return (jnp.power(x, y) + jlax.integer_pow(x, -2) + jlax.integer_pow(y, 3) + jnp.maximum(x, y)
            - jnp.minimum(x, y) + jnp.where(pred, x, y) * (x == y) * (x != y))


def _reduction_program(x, y):
    return (jnp.sum(x, axis=0) * jnp.max(x, 1).sum() + jnp.min(x, 0) * jnp.prod(x, 0) + jnp.max(x) * y
            + jnp.argmax(x, 0) - jnp.argmin(x, 0) + jlax.cumsum(x, 1, reverse=True)[0] + jlax.cumsum(x, 0)[1])


def _shape_program(x, y):
    padded = jlax.pad(x, 0.5, [(1, 2, 1), (0, 1, 2)])[1:4, 2:5].sum() + jlax.pad(x, 0.0, [(-1, 1, 1), (1, -2, 0)]).sum()
    sliced = jlax.slice(jnp.concatenate([x, x * 2], 0), (1, 0), (4, 3), (2, 2)).sum()
    return (padded + sliced + jlax.rev(x, (0, 1))[0] + jnp.reshape(jnp.transpose(x), (3, 2))[:, 1]
            + jlax.squeeze(x[:1], (0,)) + jlax.broadcasted_iota(np.float64, (2, 3), 1)[1] + jlax.iota(np.int32, 3)
            + jnp.concatenate([x, y[None]], 0)[1:].sum(0) + jnp.stack([x, x * 2], 1)[:, 0])


def _dot_program(x, y):
    batched = jlax.dot_general(jnp.stack([x, x + 1]), jnp.stack([x.T, x.T * 2], 2), (((2,), (0,)), ((0,), (2,))))
    return (jlax.dot_general(x, y, (((1,), (0,)), ((), ()))).sum() * x + batched[0].sum()
            + jlax.div(jnp.array([7, -7, 5]), jnp.array([2, 2, -3])))


def _indexing_program(x, y):
    where = tuple(np.moveaxis(np.array([[0, 2], [1, 1], [1, 1]]), -1, 0))
    return (x[where].sum() + x.at[where].add(np.array([0.5, 3.0, -1.5])).sum(0).sum() + x[1].sum()
            + x[:, jnp.array([2, 0, 2, 1])].sum() + x.at[:, jnp.array([0, 0])].add(x[:, :2] * 3)[1]
            + y[jnp.array([[0, 2], [1, 1]])].sum())


PROGRAMS = [_elementwise_program, _binary_program, _reduction_program, _shape_program, _dot_program,
            _indexing_program]


def _value_grad_and_second_order(program):
    def loss(x, y):
        return jnp.sum(jnp.sin(program(x, y)))

    def second(x, y):
        return jnp.sum(jax.grad(loss, (0, 1))(x, y)[0] * x)
    return program, jax.grad(loss, (0, 1)), jax.grad(second, (0, 1))


@pytest.mark.parametrize("program", PROGRAMS)
def test_reference_interpreter_matches_compiled_jax(program):
    rng = np.random.default_rng(7)
    x, y = rng.uniform(0.5, 2, (2, 3)), rng.uniform(-2, 2, (3,))
    for fn in _value_grad_and_second_order(program):
        ours = jax.tree_util.tree_leaves(jax_ref(fn, x, y))
        compiled = jax.tree_util.tree_leaves(jax.jit(fn)(x, y))
        for a, b in zip(ours, compiled):
            np.testing.assert_allclose(a, np.asarray(b), rtol=1e-10, atol=1e-12)


def test_reference_interpreter_rules_are_all_checked_against_compiled_jax():
    seen: set = set()
    for program in PROGRAMS:
        for fn in _value_grad_and_second_order(program):
            jax_ref(fn, np.ones((2, 3)), np.ones(3), seen=seen)
    missing = set(_JAX_NUMPY) - seen - {"copy_p"}
    assert not missing, f"the interpreter's {sorted(missing)} are not checked against compiled JAX"
