"""The shape primitives' JVP and batching rules beyond the generic tests (tests/test_transforms.py): each
op batched along the first, a middle and the last axis (negative in_axes too) against a loop and
jax.vmap; concatenate with batched and unbatched operands batched at different axes; the programs the
batching rules record (no transpose where none is needed); and vmap / jvp / jacfwd / jacrev of small
functions mixing these, against JAX."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax as jlax

import minigrad_fn as mg
from minigrad_fn import lax

jax.config.update("jax_enable_x64", True)

R = np.random.default_rng(0)


def _jpad(x, config):
    return jlax.pad(x, jnp.zeros((), x.dtype), config)


# name -> (minigrad op, jax op, per-example operand shape)
OPS = {
    "broadcast_in_dim": (lambda x: lax.broadcast_in_dim(x, (2, 3, 4, 5), (1, 3)),
                         lambda x: jlax.broadcast_in_dim(x, (2, 3, 4, 5), (1, 3)), (3, 1)),
    "broadcast_in_dim_front": (lambda x: lax.broadcast_in_dim(x, (3, 4, 2), (0, 1)),
                               lambda x: jlax.broadcast_in_dim(x, (3, 4, 2), (0, 1)), (3, 4)),
    "reshape_merge_front": (lambda x: lax.reshape(x, (6, 4)), lambda x: jlax.reshape(x, (6, 4)), (2, 3, 4)),
    "reshape_merge_back": (lambda x: lax.reshape(x, (2, 12)), lambda x: jlax.reshape(x, (2, 12)), (2, 3, 4)),
    "reshape_regroup": (lambda x: lax.reshape(x, (4, 6)), lambda x: jlax.reshape(x, (4, 6)), (2, 3, 4)),
    "reshape_split": (lambda x: lax.reshape(x, (2, 1, 3, 2)), lambda x: jlax.reshape(x, (2, 1, 3, 2)), (6, 2)),
    "transpose": (lambda x: lax.transpose(x, (2, 0, 1)), lambda x: jlax.transpose(x, (2, 0, 1)), (2, 3, 4)),
    "squeeze": (lambda x: lax.squeeze(x, (1, 3)), lambda x: jlax.squeeze(x, (1, 3)), (2, 1, 3, 1)),
    "slice": (lambda x: lax.slice(x, (1, 0, 2), (4, 5, 6), (2, 1, 2)),
              lambda x: jlax.slice(x, (1, 0, 2), (4, 5, 6), (2, 1, 2)), (4, 5, 6)),
    "pad": (lambda x: lax.pad(x, ((1, 0, 1), (0, 2, 0), (1, 1, 2))),
            lambda x: _jpad(x, ((1, 0, 1), (0, 2, 0), (1, 1, 2))), (2, 3, 4)),
    "rev": (lambda x: lax.rev(x, (0, 2)), lambda x: jlax.rev(x, (0, 2)), (2, 3, 4)),
}


def _axes(rank):
    """First, a middle and the last axis of a batched operand of `rank` axes, and the same negative."""
    pos = sorted({0, rank // 2, rank - 1})
    return pos + [a - rank for a in pos]


CASES = [(name, ax) for name, (_, _, shape) in OPS.items() for ax in _axes(len(shape) + 1)]


@pytest.mark.parametrize("name,in_axis", CASES)
def test_each_op_batched_along_any_axis(name, in_axis):
    f, g, shape = OPS[name]
    B = 3
    xs = R.standard_normal((B,) + shape)
    x = np.moveaxis(xs, 0, in_axis)
    want = np.stack([np.asarray(f(e)) for e in xs])
    for out_axis in (0, -1):
        got = np.asarray(mg.vmap(f, in_axes=in_axis, out_axes=out_axis)(x))
        np.testing.assert_allclose(got, np.moveaxis(want, 0, out_axis), rtol=0, atol=0)
        ref = jax.vmap(g, in_axes=in_axis, out_axes=out_axis)(x)
        np.testing.assert_allclose(got, np.asarray(ref), rtol=0, atol=0)


@pytest.mark.parametrize("dimension", [0, 1])
@pytest.mark.parametrize("in_axes", [(0, None, 2), (None, 1, None), (2, 0, -1), (-1, -1, -1), (1, 1, None),
                                     (None, None, 0), (0, 2, 1)])
def test_concatenate_mixing_batched_and_unbatched_operands(in_axes, dimension):
    B = 2
    per = [(2, 3), (2, 1), (2, 2)] if dimension == 1 else [(1, 3), (3, 3), (2, 3)]
    args = []
    for shape, ax in zip(per, in_axes):
        args.append(R.standard_normal(shape) if ax is None else
                    np.moveaxis(R.standard_normal((B,) + shape), 0, ax))
    f = lambda *xs: lax.concatenate(xs, dimension)  # noqa: E731
    got = np.asarray(mg.vmap(f, in_axes=in_axes)(*args))
    ref = jax.vmap(lambda *xs: jlax.concatenate(xs, dimension), in_axes=in_axes)(*args)
    np.testing.assert_allclose(got, np.asarray(ref), rtol=0, atol=0)


# ---- the programs the batching rules record ------------------------------------------------------------
def _prims(closed):
    return [e.prim.name for e in closed.jaxpr.eqns]


def test_batched_transpose_is_one_transpose():
    x = R.standard_normal((5, 2, 3, 4))
    f = lambda x: lax.transpose(x, (2, 0, 1))  # noqa: E731
    assert _prims(mg.make_jaxpr(mg.vmap(f))(x)) == ["transpose"]
    assert _prims(mg.make_jaxpr(mg.vmap(f), optimize=False)(x)) == ["transpose"]
    # batched in the middle, wanted there too: still one transpose, placing the batch axis as well
    y = np.moveaxis(x, 0, 2)
    closed = mg.make_jaxpr(mg.vmap(f, in_axes=2, out_axes=2), optimize=False)(y)
    assert _prims(closed) == ["transpose"]
    np.testing.assert_array_equal(np.asarray(mg.vmap(f, in_axes=2, out_axes=2)(y)),
                                  np.asarray(jax.vmap(lambda x: jlax.transpose(x, (2, 0, 1)), 2, 2)(y)))


def test_reshape_with_the_batch_axis_first_records_no_transpose():
    x = R.standard_normal((5, 2, 3, 4))
    closed = mg.make_jaxpr(mg.vmap(lambda x: lax.reshape(x, (6, 4))), optimize=False)(x)
    assert _prims(closed) == ["reshape"]
    assert closed.out_avals[0].shape == (5, 6, 4)


def _rule(prim, args, dims, **params):
    """The batching rule applied directly under make_jaxpr (unoptimised): (out_dims, recorded primitives)."""
    found = {}

    def run(*xs):
        outs, out_dims = prim.rules["batch"](list(xs), list(dims), **params)
        found["dims"] = out_dims
        return outs

    closed = mg.make_jaxpr(run, optimize=False)(*args)
    return found["dims"], _prims(closed), closed


@pytest.mark.parametrize("d", [0, 1, 2])
def test_rules_keep_the_batch_axis_in_place(d):
    """broadcast_in_dim, slice, pad, rev, squeeze and reshape (when its groups allow) record no transpose."""
    def batched(shape):
        s = list(shape)
        s.insert(d, 5)
        return np.zeros(s)

    P = lax
    dims, prims, closed = _rule(P.broadcast_in_dim_p, [batched((3, 1))], [d], shape=(2, 3, 4, 7),
                                broadcast_dimensions=(1, 3))
    assert prims == ["broadcast_in_dim"]
    want = np.moveaxis(np.zeros((5, 2, 3, 4, 7)), 0, dims[0]).shape
    assert closed.out_avals[0].shape == want
    for prim, params in [(P.slice_p, dict(start_indices=(0, 1), limit_indices=(3, 4), strides=(1, 2))),
                         (P.pad_p, dict(padding_config=((1, 0, 0), (0, 1, 1)))),
                         (P.rev_p, dict(dimensions=(0, 1))),
                         (P.transpose_p, dict(permutation=(1, 0)))]:
        dims, prims, _ = _rule(prim, [batched((3, 4))], [d], **params)
        assert prims == [prim.name] and dims == [d], (prim, prims, dims)
    dims, prims, _ = _rule(P.squeeze_p, [batched((1, 4))], [d], dimensions=(0,))
    assert prims == ["squeeze"] and dims == [max(d - 1, 0)]
    # (2, 3, 4) -> (6, 4): the batch axis can stay before, or after both merged axes; not between them
    dims, prims, _ = _rule(P.reshape_p, [batched((2, 3, 4))], [d], new_sizes=(6, 4))
    assert prims == (["transpose", "reshape"] if d == 1 else ["reshape"]), (d, prims)
    assert dims == [{0: 0, 1: 0, 2: 1}[d]]


def test_concatenate_batched_alike_moves_nothing():
    xs = [np.zeros((2, 5, 3)), np.zeros((2, 5, 1))]
    dims, prims, closed = _rule(lax.concatenate_p, xs, [1, 1], dimension=1)
    assert prims == ["concatenate"] and dims == [1] and closed.out_avals[0].shape == (2, 5, 4)
    # an unbatched operand is broadcast along the others' batch axis: still no transpose
    dims, prims, _ = _rule(lax.concatenate_p, [xs[0], np.zeros((2, 2))], [1, None], dimension=1)
    assert prims == ["broadcast_in_dim", "concatenate"] and dims == [1]


# ---- vmap and forward mode of functions mixing the shape ops ------------------------------------------------
def mixed(lx, pad, x, y):
    """x: (3, 4), y: (4,): every shape op once (and an iota), written once for both libraries."""
    t = lx.transpose(x, (1, 0))                        # (4, 3)
    b = lx.broadcast_in_dim(y, (4, 2), (0,))           # (4, 2)
    c = lx.concatenate([t, b, t], 1)                   # (4, 8)
    r = lx.reshape(c, (2, 16))
    s = lx.slice(r, (0, 1), (2, 16), (1, 2))           # (2, 8)
    p = pad(s, ((1, 0, 0), (0, 1, 1)))                 # (3, 16)
    q = lx.rev(p, (1,))
    e = lx.squeeze(lx.reshape(q, (3, 1, 16)), (1,))    # (3, 16)
    return e * lx.broadcasted_iota(e.dtype, e.shape, 1) if lx is jlax else e * lx.iota(e.dtype, e.shape, 1)


def f_mg(x, y):
    return mixed(lax, lax.pad, x, y)


def f_jax(x, y):
    return mixed(jlax, _jpad, x, y)


@pytest.mark.parametrize("in_axes,out_axes", [((0, 0), 0), ((1, None), 1), ((-1, 0), -1), ((None, 0), 2),
                                              ((2, None), 0)])
def test_vmap_of_a_mix_matches_jax(in_axes, out_axes):
    B = 3
    x = R.standard_normal([3, 4] if in_axes[0] is None else
                          list(np.moveaxis(np.zeros((B, 3, 4)), 0, in_axes[0]).shape))
    y = R.standard_normal((4,) if in_axes[1] is None else (B, 4))
    got = mg.vmap(f_mg, in_axes=in_axes, out_axes=out_axes)(x, y)
    ref = jax.vmap(f_jax, in_axes=in_axes, out_axes=out_axes)(x, y)
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=0, atol=0)


def test_nested_vmap_of_a_mix_matches_jax():
    x, y = R.standard_normal((2, 3, 4, 5)), R.standard_normal((2, 4))
    got = mg.vmap(mg.vmap(f_mg, in_axes=(-1, None)), in_axes=(0, 0), out_axes=1)(x, y)
    ref = jax.vmap(jax.vmap(f_jax, in_axes=(-1, None)), in_axes=(0, 0), out_axes=1)(x, y)
    np.testing.assert_allclose(np.asarray(got), np.asarray(ref), rtol=0, atol=0)


def test_jvp_of_a_mix_matches_jax():
    x, y = R.standard_normal((3, 4)), R.standard_normal(4)
    tx, ty = R.standard_normal((3, 4)), R.standard_normal(4)
    out, t = mg.jvp(f_mg, (x, y), (tx, ty))
    ref_out, ref_t = jax.jvp(f_jax, (x, y), (tx, ty))
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref_out), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(t), np.asarray(ref_t), rtol=1e-12, atol=1e-12)
    # one operand's tangent a symbolic zero: concatenate's other operands get zeros
    _, t = mg.jvp(lambda x: f_mg(x, y), (x,), (tx,))
    _, ref_t = jax.jvp(lambda x: f_jax(x, y), (x,), (tx,))
    np.testing.assert_allclose(np.asarray(t), np.asarray(ref_t), rtol=1e-12, atol=1e-12)


def test_jvp_of_a_nonlinear_composition_matches_jax():
    def h(lx, pad, x):
        z = lx.concatenate([lx.sin(x), lx.rev(x, (0,))], 0)            # (6, 4)
        z = lx.transpose(lx.reshape(z, (3, 2, 4)), (2, 0, 1)) ** 2     # (4, 3, 2)
        return pad(lx.slice(z, (1, 0, 0), (4, 3, 2), (2, 1, 1)), ((0, 0, 0), (1, 1, 0), (0, 0, 1)))

    x, tx = R.standard_normal((3, 4)), R.standard_normal((3, 4))
    out, t = mg.jvp(lambda x: h(lax, lax.pad, x), (x,), (tx,))
    ref_out, ref_t = jax.jvp(lambda x: h(jlax, _jpad, x), (x,), (tx,))
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref_out), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(t), np.asarray(ref_t), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("jac", ["jacfwd", "jacrev"])
def test_jacobians_of_a_mix_match_jax(jac):
    """jacfwd batches the JVP rules, jacrev the VJP rules (slice's pad, concatenate's slices...)."""
    x, y = R.standard_normal((3, 4)), R.standard_normal(4)
    got = getattr(mg, jac)(f_mg, argnums=(0, 1))(x, y)
    ref = getattr(jax, jac)(f_jax, argnums=(0, 1))(x, y)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(np.asarray(g), np.asarray(r), rtol=1e-12, atol=1e-12)
