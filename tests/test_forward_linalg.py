"""Batching and forward mode of dot_general beyond the generic tests: the lhs only, the rhs only or both
batched, along every axis of the operands, with and without existing batch dimensions, against a loop and
jax.vmap of jax.lax.dot_general; matmul of a batched vector; per-example gradients."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import lax

R = np.random.default_rng(0)
N = 2  # batch size

# (x shape, y shape, dimension_numbers): per-example operands
DOTS = {
    "matmul": ((2, 3), (3, 4), (((1,), (0,)), ((), ()))),
    "transposed": ((3, 2), (4, 3), (((0,), (1,)), ((), ()))),
    "outer": ((2,), (3, 1), (((), ()), ((), ()))),
    "batched matmul": ((5, 2, 3), (5, 3, 4), (((2,), (1,)), ((0,), (0,)))),
    "batch axes inside": ((2, 3, 5), (3, 5, 4), (((1,), (0,)), ((2,), (1,)))),
    "two contractions, vector": ((3, 2, 4), (4, 3), (((0, 2), (1, 0)), ((), ()))),
}


def _mg_dot(dn):
    return lambda x, y: lax.dot_general(x, y, dn)


def _jax_dot(dn):
    return lambda x, y: jax.lax.dot_general(x, y, dn, precision=jax.lax.Precision.HIGHEST)


def _axes_cases(xshape, yshape):
    """(in_axes for x, for y): lhs only, rhs only, both, at every position (negative ones too)."""
    xs, ys = range(-1, len(xshape) + 1), range(-1, len(yshape) + 1)
    return ([(a, None) for a in xs] + [(None, b) for b in ys] + list(itertools.product(xs, ys)))


@pytest.mark.parametrize("name", DOTS)
def test_dot_general_batched_on_every_axis(name):
    xshape, yshape, dn = DOTS[name]
    xs, ys = R.standard_normal((N,) + xshape), R.standard_normal((N,) + yshape)
    mg_dot, jax_dot = _mg_dot(dn), _jax_dot(dn)
    for ax, ay in _axes_cases(xshape, yshape):
        x = xs[0] if ax is None else np.moveaxis(xs, 0, ax)
        y = ys[0] if ay is None else np.moveaxis(ys, 0, ay)
        got = np.asarray(mg.vmap(mg_dot, in_axes=(ax, ay))(x, y))
        loop = np.stack([np.asarray(mg_dot(xs[0] if ax is None else xs[k], ys[0] if ay is None else ys[k]))
                         for k in range(N)])
        ref = np.asarray(jax.vmap(jax_dot, in_axes=(ax, ay))(x, y))
        np.testing.assert_allclose(got, loop, rtol=1e-12, atol=1e-12, err_msg=f"in_axes=({ax}, {ay}) vs loop")
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12, err_msg=f"in_axes=({ax}, {ay}) vs jax")


def test_dot_general_batched_out_axes_and_nested():
    xshape, yshape, dn = DOTS["batch axes inside"]
    xs, ys = R.standard_normal((3, N) + xshape), R.standard_normal((N,) + yshape)
    mg_dot, jax_dot = _mg_dot(dn), _jax_dot(dn)
    # vmap of vmap: x batched twice (axes 0 and 2 of the stored array), y once
    x = np.moveaxis(xs, 1, 3)
    inner = dict(in_axes=(2, 0), out_axes=-1)
    got = mg.vmap(mg.vmap(mg_dot, **inner), in_axes=(0, None), out_axes=1)(x, ys)
    ref = jax.vmap(jax.vmap(jax_dot, **inner), in_axes=(0, None), out_axes=1)(x, ys)
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("const", ["x", "y"])
def test_dot_general_jvp_with_one_constant_operand(const):
    xshape, yshape, dn = DOTS["batch axes inside"]
    x, y = R.standard_normal(xshape), R.standard_normal(yshape)
    t = R.standard_normal(yshape if const == "x" else xshape)
    if const == "x":
        ours = mg.jvp(lambda y: _mg_dot(dn)(x, y), (y,), (t,))
        theirs = jax.jvp(lambda y: _jax_dot(dn)(x, y), (y,), (t,))
    else:
        ours = mg.jvp(lambda x: _mg_dot(dn)(x, y), (x,), (t,))
        theirs = jax.jvp(lambda x: _jax_dot(dn)(x, y), (x,), (t,))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)


def test_matmul_of_batched_vectors_and_a_matrix():
    M, V = R.standard_normal((3, 4)), R.standard_normal((5, 3))
    np.testing.assert_allclose(np.asarray(mg.vmap(lambda v: v @ M)(V)), V @ M, rtol=1e-12)
    W = R.standard_normal((4, 3))
    np.testing.assert_allclose(np.asarray(mg.vmap(lambda v: W @ v)(V)), V @ W.T, rtol=1e-12)
    # the vectors along axis 1, the result along axis 1
    got = mg.vmap(lambda v: mnp.matmul(v, M), in_axes=1, out_axes=1)(V.T)
    np.testing.assert_allclose(np.asarray(got), (V @ M).T, rtol=1e-12)
    # a batched matrix times an unbatched vector
    Ms, v = R.standard_normal((5, 4, 3)), R.standard_normal(3)
    np.testing.assert_allclose(np.asarray(mg.vmap(lambda m: m @ v)(Ms)), Ms @ v, rtol=1e-12)


def _loss(xp, W, b, x, y):
    h = xp.tanh(x @ W + b)
    return xp.sum((h @ W.T - y) ** 2)


def test_per_example_gradients_against_jax():
    W, b = R.standard_normal((3, 4)), R.standard_normal(4)
    X, Y = R.standard_normal((6, 2, 3)), R.standard_normal((6, 2, 3))
    ours = mg.vmap(mg.grad(lambda W, b, x, y: _loss(mnp, W, b, x, y), argnums=(0, 1)),
                   in_axes=(None, None, 0, 0))(W, b, X, Y)
    theirs = jax.vmap(jax.grad(lambda W, b, x, y: _loss(jnp, W, b, x, y), argnums=(0, 1)),
                      in_axes=(None, None, 0, 0))(W, b, X, Y)
    for a, c in zip(ours, theirs):
        assert np.shape(a) == np.shape(c)
        np.testing.assert_allclose(np.asarray(a), np.asarray(c), rtol=1e-10, atol=1e-12)
    # per-example Jacobian-vector products: forward mode under vmap, the examples along axis 1
    tW = R.standard_normal(W.shape)
    ours = mg.vmap(lambda x, y: mg.jvp(lambda W: _loss(mnp, W, b, x, y), (W,), (tW,))[1], in_axes=1)(
        np.moveaxis(X, 0, 1), np.moveaxis(Y, 0, 1))
    theirs = jax.vmap(lambda x, y: jax.jvp(lambda W: _loss(jnp, W, b, x, y), (W,), (tW,))[1])(X, Y)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(theirs), rtol=1e-10, atol=1e-12)
