"""A value being differentiated never silently becomes a constant, and ordinary input that used to crash
(traced linspace/arange, item assignment, deepcopy, einsum's sublist form) works or says what to do."""
import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import lax

X = np.array([1.0, 2.0, 3.0])


def _buffer_write(x):
    buf = np.zeros(3)
    buf[0] = x[0]
    return mnp.sum(x * buf)


DROPPING = {
    "float()": lambda x: float(x[0]) * x[1],
    "int() of a float": lambda x: int(x[0]) * x[1],
    ".item()": lambda x: x[0].item() * x[1],
    "np.float64()": lambda x: np.float64(x[0]) * x[1],
    "np.asarray()": lambda x: mnp.sum(np.asarray(x) * x),
    "writing into a numpy buffer": _buffer_write,
    "an index from a float value": lambda x: x[0] * np.ones(3)[int(x[1])],
}


@pytest.mark.parametrize("name", sorted(DROPPING))
def test_turning_a_differentiated_value_into_a_constant_is_an_error(name):
    f = DROPPING[name]
    for transform in (lambda f: mg.grad(lambda x: mnp.sum(f(x))),
                      lambda f: lambda x: mg.jvp(f, (x,), (np.ones(3),)),
                      lambda f: mg.jacrev(f)):
        with pytest.raises(mg.GradientLostError, match="derivative would be lost") as e:
            transform(f)(X)
        assert "test_concretization.py" in str(e.value) and e.value.hint


def test_inspecting_a_value_stays_fine():
    assert float(mg.grad(lambda x: x * 2.0 if x > 0 else -x)(1.5)) == 2.0
    assert float(mg.grad(lambda x: x ** 3 if bool(x < 2) else x)(1.0)) == 3.0
    # integer values (an index, a count) carry no derivative: converting them drops nothing
    g = mg.grad(lambda x, i: x[int(i)] * 2.0)(X, np.int64(1))
    np.testing.assert_array_equal(g, [0.0, 2.0, 0.0])
    # what stop_gradient made, or what depends only on comparisons, is a constant on purpose
    assert float(mg.grad(lambda x: float(lax.stop_gradient(x)) * x)(3.0)) == 3.0
    assert float(mg.grad(lambda x: float(x > 1) * x)(3.0)) == 1.0
    # and outside any differentiation (make_jaxpr, eager) nothing changes
    assert float(mg.vmap(lambda x: x * 2.0, in_axes=None, axis_size=2)(1.5)[0]) == 3.0


def test_the_right_answer_when_written_with_arrays():
    g = mg.grad(lambda x: mnp.sum(x[0] * x[1]))(X)
    np.testing.assert_array_equal(g, [2.0, 1.0, 0.0])


def test_copies_of_tracers_are_the_same_value():
    g = mg.grad(lambda x: mnp.sum(x * copy.deepcopy(x) + copy.copy(x)))(X)
    np.testing.assert_allclose(g, 2 * X + 1)


# ---- creation functions with traced arguments ---------------------------------------------------------
def test_linspace_with_traced_endpoints_matches_jax():
    for kw in ({}, {"endpoint": False}, {"num": 1}, {"axis": 1}):
        def f(x, lib):
            y = lib.linspace(x[0], x[1:], **{"num": 4, **kw})
            return lib.sum(lib.tanh(y) * y)
        got = mg.value_and_grad(lambda x: f(x, mnp))(X)
        want = jax.value_and_grad(lambda x: f(x, jnp))(X)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(mg.jit(lambda a: mnp.linspace(a, 2 * a, 5))(np.float32(1.0)),
                               np.linspace(1.0, 2.0, 5), rtol=1e-6)
    assert mg.jit(lambda a: mnp.linspace(a, 2 * a, 5))(np.float32(1.0)).dtype == np.float32


def test_arange_needs_concrete_bounds_and_says_so():
    with pytest.raises(mg.ConcretizationError, match=r"arange's bounds .* depends on argument n"):
        mg.jit(lambda n: mnp.arange(n))(3)
    np.testing.assert_array_equal(mg.jit(lambda x, n: x[:n] * mnp.arange(n), static_argnums=1)(X, 2), [0.0, 2.0])
    assert np.asarray(mg.grad(lambda x, n: mnp.sum(x[: int(n)] * mnp.arange(n)))(X, np.int64(2))).tolist() == \
        [0.0, 1.0, 0.0]


def test_einsum_sublist_form():
    a, b = np.random.default_rng(0).standard_normal((2, 3)), np.random.default_rng(1).standard_normal((3, 4))
    np.testing.assert_allclose(mnp.einsum(a, [0, 1], b, [1, 2], [0, 2]), a @ b)
    got = mg.grad(lambda a: mnp.sum(mnp.einsum(a, [0, 1], b, [1, 2]) ** 2))(a)
    want = jax.grad(lambda a: jnp.sum(jnp.einsum(a, [0, 1], b, [1, 2]) ** 2))(a)
    np.testing.assert_allclose(got, want, rtol=1e-12)


# ---- item assignment: x.at[...] -------------------------------------------------------------------------
def test_item_assignment_on_a_tracer_points_to_at():
    def f(x):
        x[0] = 1.0
        return mnp.sum(x)
    with pytest.raises(mg.UnsupportedError, match="immutable") as e:
        mg.grad(f)(X)
    assert "test_concretization.py" in str(e.value) and "x.at[idx].set(value)" in str(e.value)


AT_CASES = {
    "set a slice": (lambda lib, x: x.at[0, 1:].set(x[1, :2] * 2.0)),
    "add at repeated indices": (lambda lib, x: x.at[lib.array([0, 0, 1])].add(1.5 * x[1])),
    "set a scalar everywhere in a row": (lambda lib, x: x.at[1].set(7.0)),
    "add with a negative index": (lambda lib, x: x.at[:, -1].add(x[:, 0])),
    "get": (lambda lib, x: x.at[1, ::2].get()),
}


@pytest.mark.parametrize("name", sorted(AT_CASES))
def test_at_updates_match_jax(name):
    f = AT_CASES[name]
    x = np.arange(6.0).reshape(2, 3) / 3.0

    def loss(lib):
        return lambda x: lib.sum(lib.sin(f(lib, x)) * x.sum())

    np.testing.assert_allclose(mg.value_and_grad(loss(mnp))(x)[1], jax.grad(loss(jnp))(x), rtol=1e-12)
    np.testing.assert_allclose(mg.jit(lambda x: f(mnp, x))(x), f(jnp, jnp.asarray(x)), rtol=1e-12)
    np.testing.assert_allclose(mg.vmap(lambda x: f(mnp, x))(np.stack([x, 2 * x])),
                               jax.vmap(lambda x: f(jnp, x))(np.stack([x, 2 * x])), rtol=1e-12)
