"""Forward mode and batching of the reductions where the generic tests (tests/test_transforms.py, on
tie-free and zero-free values) do not reach: reduce_max/min at ties, reduce_prod at zeros, and per-example
gradients (vmap of grad) through them, each against JAX."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import lax

R = np.random.default_rng(0)


def _check_jvp(mg_fn, jax_fn, x, t):
    out, tout = mg.jvp(mg_fn, (x,), (t,))
    ref_out, ref_t = jax.jvp(jax_fn, (jnp.asarray(x),), (jnp.asarray(t),))
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref_out), rtol=1e-12, atol=1e-12)
    assert np.shape(tout) == np.shape(ref_t)
    np.testing.assert_allclose(np.asarray(tout), np.asarray(ref_t), rtol=1e-12, atol=1e-12)
    return np.asarray(tout)


TIES = np.array([[1.0, 3.0, 3.0, -2.0],
                 [0.5, 0.5, 0.5, 0.5],
                 [-1.0, -4.0, 2.0, -4.0]])


@pytest.mark.parametrize("name", ["reduce_max", "reduce_min"])
@pytest.mark.parametrize("axes", [(0,), (1,), (0, 1), ()])
def test_chooser_jvp_at_ties_against_jax(name, axes):
    mg_red, jax_red = getattr(lax, name), getattr(jax.lax, name)
    t = R.standard_normal(TIES.shape)
    _check_jvp(lambda x: mg_red(x, axes), lambda x: jax_red(x, axes), TIES, t)


def test_max_jvp_splits_evenly_between_ties():
    x = np.array([2.0, 5.0, 5.0, 1.0, 5.0])
    t = np.array([10.0, 3.0, 6.0, 100.0, 0.0])
    _, tout = mg.jvp(lambda x: lax.reduce_max(x, (0,)), (x,), (t,))
    assert np.asarray(tout) == pytest.approx(3.0)  # (3 + 6 + 0) / 3


PRODS = [np.array([2.0, 0.0, 3.0, -1.5]),                    # one zero: only its tangent counts
         np.array([0.0, 1.5, 0.0, 2.0]),                     # two zeros: the tangent is zero
         np.array([[0.0, 2.0, -1.0], [1.5, 0.5, 2.0]]),      # one row with a zero, one without
         np.array([[[0.0, 0.0], [1.0, 2.0]], [[3.0, 0.0], [0.5, -2.0]]])]


@pytest.mark.parametrize("k", range(len(PRODS)))
def test_prod_jvp_with_zeros_against_jax(k):
    x = PRODS[k]
    for axes in [tuple(range(x.ndim))] + [(a,) for a in range(x.ndim)]:
        t = R.standard_normal(x.shape)
        _check_jvp(lambda x: lax.reduce_prod(x, axes), lambda x: jax.lax.reduce_prod(x, axes), x, t)


def test_prod_jvp_one_zero_is_exact():
    x, t = np.array([2.0, 0.0, 3.0]), np.array([1.0, 1.0, 1.0])
    _, tout = mg.jvp(lambda x: lax.reduce_prod(x, (0,)), (x,), (t,))
    assert float(tout) == 6.0  # d/dx1 (2 * x1 * 3) = 6, with nothing divided by zero


def test_reductions_batched_at_ties_and_zeros():
    # every batch position of an operand with ties and zeros, against a loop
    xs = np.stack([TIES, TIES * 0, np.where(TIES > 0, 0.0, TIES)])
    for in_axis in range(3):
        stacked = np.moveaxis(xs, 0, in_axis)
        for name, ref in [("reduce_max", np.max), ("reduce_min", np.min), ("reduce_prod", np.prod),
                          ("reduce_sum", np.sum)]:
            fn = getattr(lax, name)
            for axes in [(0,), (1,), (0, 1)]:
                got = mg.vmap(lambda x: fn(x, axes), in_axes=in_axis)(stacked)
                np.testing.assert_allclose(np.asarray(got), np.stack([ref(x, axis=axes) for x in xs]),
                                           rtol=1e-12, err_msg=f"{name} axes={axes} in_axes={in_axis}")
        for name in ("argmax", "argmin", "cumsum"):
            got = mg.vmap(lambda x: getattr(lax, name)(x, 1), in_axes=in_axis)(stacked)
            want = np.stack([getattr(np, name)(x, axis=1) for x in xs])
            np.testing.assert_array_equal(np.asarray(got), want)


def _loss(xp, w, x):
    # a small function through every reduction: max (with ties), min, prod (with zeros), sum, cumsum
    h = x * w
    m = xp.max(h, axis=1) + xp.min(h, axis=0).sum()
    return xp.sum(m ** 2) + xp.prod(h[:, :2], axis=1).sum() + xp.cumsum(h, axis=1)[:, -1].sum()


def test_per_example_gradients_against_jax():
    w = np.array([[1.0, 1.0, 2.0], [0.0, 1.5, -1.0]])
    xs = np.stack([np.ones((2, 3)), R.standard_normal((2, 3)), np.array([[2.0, 2.0, 1.0], [3.0, 0.0, 0.0]])])
    ours = mg.vmap(mg.grad(lambda w, x: _loss(mnp, w, x)), in_axes=(None, 0))(w, xs)
    theirs = jax.vmap(jax.grad(lambda w, x: _loss(jnp, w, x)), in_axes=(None, 0))(w, xs)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-12, atol=1e-12)
    # and forward over the batch: the JVP of each example's loss
    t = R.standard_normal(w.shape)
    ours = mg.vmap(lambda x: mg.jvp(lambda w: _loss(mnp, w, x), (w,), (t,))[1])(xs)
    theirs = jax.vmap(lambda x: jax.jvp(lambda w: _loss(jnp, w, x), (w,), (t,))[1])(xs)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-12, atol=1e-12)
