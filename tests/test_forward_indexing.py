"""Batching and forward mode of gather and scatter_add beyond the generic tests (which batch the operand
only, with fixed in-range indices): the operand only, the indices only or both batched (and for scatter_add
the updates too), at every batch position, negative indices included, against a loop; numpy-surface
indexing under vmap; per-example gradients of an embedding lookup against JAX."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import lax
from minigrad_fn.numpy._indexing import getitem

R = np.random.default_rng(0)
N = 3  # batch size
X_SHAPE = (4, 3, 2)


def _indices(k, batch=(2, 2)):
    """N examples of indices of shape batch + (k,) into X_SHAPE's first k axes, negative ones included
    (numpy's meaning: from the end), duplicates likely."""
    hi = np.array(X_SHAPE[:k])
    return R.integers(-hi, hi, size=(N,) + batch + (k,))


def _stack(examples, axis):
    return examples[0] if axis is None else np.moveaxis(examples, 0, axis)


def _ex(examples, axis, n):
    return examples[0] if axis is None else examples[n]


@pytest.mark.parametrize("k", [1, 2, 3])
def test_gather_batched_operand_indices_or_both(k):
    xs, idxs = R.standard_normal((N,) + X_SHAPE), _indices(k)
    axes_x, axes_i = [None] + list(range(-1, len(X_SHAPE) + 1)), [None] + list(range(-1, idxs.ndim))
    for ax, ai in itertools.product(axes_x, axes_i):
        if ax is None and ai is None:
            continue
        got = mg.vmap(lax.gather, in_axes=(ax, ai))(_stack(xs, ax), _stack(idxs, ai))
        want = np.stack([np.asarray(lax.gather(_ex(xs, ax, n), _ex(idxs, ai, n))) for n in range(N)])
        np.testing.assert_array_equal(np.asarray(got), want, err_msg=f"in_axes=({ax}, {ai})")


def test_gather_batched_indices_in_a_narrow_dtype():
    # the example's position is prepended to each index: a dtype too narrow for the batch is widened
    x, idx = R.standard_normal((300, 2)), R.integers(-2, 2, (300, 4, 1)).astype(np.int8)
    got = mg.vmap(lax.gather)(x, idx)
    np.testing.assert_array_equal(np.asarray(got), np.stack([x[n][idx[n, :, 0]] for n in range(300)]))


@pytest.mark.parametrize("k", [1, 2])
def test_scatter_add_every_batched_combination(k):
    idxs = _indices(k)
    ops = R.standard_normal((N,) + X_SHAPE)
    upds = R.standard_normal((N,) + idxs.shape[1:-1] + X_SHAPE[k:])
    choices = [[None, 0, -1, 2], [None, 0, -1, 1], [None, 0, -1, 2]]  # per operand: unbatched, or an axis
    for ao, ai, au in itertools.product(*choices):
        if ao is None and ai is None and au is None:
            continue
        got = mg.vmap(lax.scatter_add, in_axes=(ao, ai, au))(_stack(ops, ao), _stack(idxs, ai), _stack(upds, au))
        want = []
        for n in range(N):
            out = _ex(ops, ao, n).copy()
            np.add.at(out, tuple(np.moveaxis(_ex(idxs, ai, n), -1, 0)), _ex(upds, au, n))
            want.append(out)
        np.testing.assert_allclose(np.asarray(got), np.stack(want), rtol=1e-12, atol=1e-12,
                                   err_msg=f"in_axes=({ao}, {ai}, {au})")


def test_numpy_indexing_under_vmap_with_negative_indices():
    xs = R.standard_normal((N, 5, 5))
    i, j = np.array([0, -1, 2, -5]), np.array([[-1], [3]])
    keys = [lambda i: i, lambda i: (slice(None), i), lambda i: (i, slice(1, None)), lambda i: (j, i)]
    idxs = np.stack([i, np.roll(i, 1), -np.arange(1, 5)])
    for key in keys:
        for ax, ai in [(0, None), (None, 0), (0, 0), (2, 0), (1, None), (-1, -1)]:
            x, idx = _stack(xs, ax), _stack(idxs, ai)
            # x[key(i)] (getitem, for an x that is a numpy array while i is traced)
            got = mg.vmap(lambda x, i: getitem(x, key(i)), in_axes=(ax, ai))(x, idx)
            want = np.stack([_ex(xs, ax, n)[key(_ex(idxs, ai, n))] for n in range(N)])
            np.testing.assert_array_equal(np.asarray(got), want)


def test_jvp_of_gather_and_scatter_under_vmap():
    x, u = R.standard_normal(X_SHAPE), R.standard_normal((N, 2, 2) + X_SHAPE[2:])
    idxs = _indices(2)
    tx, tu = R.standard_normal(X_SHAPE), R.standard_normal(u.shape)

    def f(xp, x, idx, u):
        where = tuple(np.moveaxis(idx, -1, 0)) if xp is jnp else None
        if xp is jnp:
            return jnp.sin(x.at[where].add(u)[where]) * x[where]
        return mnp.sin(lax.gather(lax.scatter_add(x, idx, u), idx)) * lax.gather(x, idx)

    ours = mg.vmap(lambda idx, u, tu: mg.jvp(lambda x, u: f(mnp, x, idx, u), (x, u), (tx, tu)))(idxs, u, tu)
    theirs = [jax.jvp(lambda x, u: f(jnp, x, idxs[n], u), (x, u[n]), (tx, tu[n])) for n in range(N)]
    for a, b in zip(ours, zip(*theirs)):
        np.testing.assert_allclose(np.asarray(a), np.stack(b), rtol=1e-12, atol=1e-12)


def _loss(xp, E, w, ids, y):
    # an embedding lookup (negative ids too), pooled, then a linear layer
    h = xp.tanh(E[ids]).sum(axis=0)
    return (h @ w - y) ** 2


def test_per_example_gradients_against_jax():
    E, w = R.standard_normal((6, 3)), R.standard_normal(3)
    ids, y = R.integers(-6, 6, (5, 4)), R.standard_normal(5)
    ours = mg.vmap(mg.grad(lambda E, w, i, y: _loss(mnp, E, w, i, y), argnums=(0, 1)),
                   in_axes=(None, None, 0, 0))(E, w, ids, y)
    theirs = jax.vmap(jax.grad(lambda E, w, i, y: _loss(jnp, E, w, i, y), argnums=(0, 1)),
                      in_axes=(None, None, 0, 0))(E, w, ids, y)
    for a, b in zip(ours, theirs):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)
    # per-example embedding tables too (the gather's operand and indices both batched)
    Es = R.standard_normal((5, 6, 3))
    ours = mg.vmap(mg.grad(lambda E, i: _loss(mnp, E, w, i, 0.5)), in_axes=(0, 0))(Es, ids)
    theirs = jax.vmap(jax.grad(lambda E, i: _loss(jnp, E, w, i, 0.5)), in_axes=(0, 0))(Es, ids)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-12, atol=1e-12)
