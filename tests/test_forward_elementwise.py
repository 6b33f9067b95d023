"""The elementwise primitives' JVP and batching rules beyond the generic tests (tests/test_transforms.py):
JVP conventions at non-smooth points (max/min ties, abs at 0, pow at a zero base or exponent, integer_pow
with y <= 0) against jax.jvp; batching with the batched and unbatched operands of different ranks, along
different axes, and a batched select predicate, against a loop and jax.vmap (and the programs recorded:
no transpose where none is needed); float32 kept; and jit(vmap), vmap(jvp), jvp(vmap) of one composite
elementwise expression against JAX."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax as jlax

import minigrad_fn as mg
from minigrad_fn import lax

jax.config.update("jax_enable_x64", True)

R = np.random.default_rng(0)


def _jvp(f, jf, primals, tangents):
    """Our (out, tangent) and jax.jvp's, as numpy arrays."""
    out, t = mg.jvp(f, primals, tangents)
    jout, jt = jax.jvp(jf, primals, tangents)
    return np.asarray(out), np.asarray(t), np.asarray(jout), np.asarray(jt)


# =====================================================================================================
# JVP at non-smooth points
# =====================================================================================================


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_min_ties_split_the_tangent_evenly(name):
    mg_op, jax_op = getattr(lax, name), getattr(jlax, name)
    x = np.array([1.0, 2.0, 3.0, 2.0])
    y = np.array([1.0, 1.0, 3.0, 5.0])
    tx = np.array([1.0, 10.0, 100.0, 1000.0])
    ty = np.array([2.0, 20.0, 200.0, 2000.0])
    out, t, jout, jt = _jvp(mg_op, jax_op, (x, y), (tx, ty))
    np.testing.assert_array_equal(out, jout)
    np.testing.assert_array_equal(t, jt)
    np.testing.assert_array_equal(t[[0, 2]], [1.5, 150.0])  # ties: the mean of the two tangents
    # only one operand carries a tangent: half of it at ties
    _, t, _, jt = _jvp(lambda x: mg_op(x, y), lambda x: jax_op(x, y), (x,), (tx,))
    np.testing.assert_array_equal(t, jt)
    np.testing.assert_array_equal(t[[0, 2]], [0.5, 50.0])
    # max(x, x): tied everywhere, the halves add up to the whole tangent
    _, t, _, jt = _jvp(lambda x: mg_op(x, x), lambda x: jax_op(x, x), (x,), (tx,))
    np.testing.assert_array_equal(t, tx)
    np.testing.assert_array_equal(t, jt)
    # a scalar broadcast against a vector and tied with two of its elements
    s, ts = np.float64(2.0), np.float64(7.0)
    _, t, _, jt = _jvp(mg_op, lambda a, b: getattr(jnp, "maximum" if name == "max" else "minimum")(a, b),
                       (x, s), (tx, ts))
    assert t.shape == (4,)
    np.testing.assert_array_equal(t, jt)


def test_abs_tangent_at_zero_is_the_tangent():
    # lax.abs's JVP is select(x >= 0, t, -t): abs'(0) = 1, at -0.0 too
    x = np.array([-1.5, 0.0, 2.0, -0.0])
    tx = np.array([1.0, 10.0, 100.0, 1000.0])
    for jf in (jlax.abs, jnp.abs):
        out, t, jout, jt = _jvp(lax.abs, jf, (x,), (tx,))
        np.testing.assert_array_equal(t, jt)
    np.testing.assert_array_equal(t, [-1.0, 10.0, 100.0, 1000.0])


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning", "ignore:invalid value:RuntimeWarning")
def test_pow_tangent_at_zero_base_and_zero_exponent():
    xs, ys = np.meshgrid([0.0, 1.0, 2.0], [0.0, 0.5, 1.0, 2.0, 3.0], indexing="ij")
    x, y = xs.ravel(), ys.ravel()
    tx, ty = R.standard_normal(x.shape), R.standard_normal(y.shape)
    out, t, jout, jt = _jvp(lax.pow, jlax.pow, (x, y), (tx, ty))
    np.testing.assert_array_equal(out, jout)
    origin = (x == 0) & (y == 0)
    # at 0 ** 0 the x part is 0 (JAX's rule for integer exponents, as x ** 0 and integer_pow(x, 0)); JAX's
    # float-exponent rule gives 0 * 0 ** -1 = nan there. Everywhere else: JAX's tangent.
    assert np.isnan(jt[origin]).all()
    np.testing.assert_array_equal(t[origin], 0.0)
    np.testing.assert_allclose(t[~origin], jt[~origin], rtol=1e-14, atol=0)
    # each operand alone: d/dx (inf at x = 0, y = 0.5; 1 at x = 0, y = 1) and d/dy (log 0 taken as 0)
    _, tdx, _, jdx = _jvp(lambda a: lax.pow(a, y), lambda a: jlax.pow(a, y), (x,), (np.ones_like(x),))
    np.testing.assert_array_equal(tdx[origin], 0.0)
    np.testing.assert_allclose(tdx[~origin], jdx[~origin], rtol=1e-14, atol=0)
    assert np.isposinf(tdx[(x == 0) & (y == 0.5)]).all()
    np.testing.assert_array_equal(tdx[(x == 0) & (y == 1)], 1.0)
    _, tdy, _, jdy = _jvp(lambda b: lax.pow(x, b), lambda b: jlax.pow(x, b), (y,), (np.ones_like(y),))
    np.testing.assert_array_equal(tdy[x == 0], 0.0)
    np.testing.assert_allclose(tdy, jdy, rtol=1e-14, atol=0)


@pytest.mark.parametrize("y", [0, -1, -2, -3])
def test_integer_pow_tangent_with_zero_and_negative_exponents(y):
    x = np.array([0.0, 1.5, -2.0]) if y == 0 else np.array([0.5, 1.5, -2.0])
    tx = np.array([3.0, -1.0, 0.25])
    out, t, jout, jt = _jvp(lambda a: lax.integer_pow(a, y), lambda a: jlax.integer_pow(a, y), (x,), (tx,))
    np.testing.assert_allclose(out, jout, rtol=1e-15)
    np.testing.assert_allclose(t, jt, rtol=1e-15)
    if y == 0:
        np.testing.assert_array_equal(t, 0.0)  # at x = 0 too
    else:
        np.testing.assert_allclose(t, y * x ** (y - 1) * tx, rtol=1e-15)


def test_no_tangent_through_comparisons_rounding_and_integer_casts():
    x = np.array([-1.2, 0.4, 2.7])
    tx = np.ones_like(x)
    for f in (lax.sign, lax.floor, lax.ceil, lax.round, lax.stop_gradient,
              lambda a: lax.convert_element_type(lax.convert_element_type(a, np.int32), np.float64)):
        _, t = mg.jvp(f, (x,), (tx,))
        np.testing.assert_array_equal(t, 0.0)
    # a bool output: its tangent is zeros of the output's dtype and shape
    _, t = mg.jvp(lambda a: lax.gt(a, np.zeros((), a.dtype)), (x,), (tx,))
    assert t.dtype == np.bool_ and t.shape == (3,) and not t.any()
    # select: the predicate is constant, each branch gets its tangent where it is taken
    p = np.array([True, False, True])
    _, t = mg.jvp(lambda a, b: lax.select(p, a, b), (x, 2 * x), (tx, 3 * tx))
    np.testing.assert_array_equal(t, [1.0, 3.0, 1.0])
    _, t = mg.jvp(lambda a: lax.select(p, a, 2 * x), (x,), (tx,))  # the other branch a constant
    np.testing.assert_array_equal(t, [1.0, 0.0, 1.0])


# =====================================================================================================
# Batching: broadcasting across the batch, against a loop and jax.vmap
# =====================================================================================================


def _loop(f, args, in_axes):
    size = next(np.shape(a)[ax] for a, ax in zip(args, in_axes) if ax is not None)
    return np.stack([np.asarray(f(*[a if ax is None else np.take(a, k, ax) for a, ax in zip(args, in_axes)]))
                     for k in range(size)])


def _prims(closed):
    return [e.prim.name for e in closed.jaxpr.eqns]


# (name, per-example function as (minigrad, jax), args, in_axes)
BATCH_CASES = [
    # the batched operand has a lower rank than the unbatched one: it broadcasts against it per example
    ("lower rank batched", (lax.mul, jnp.multiply), (R.standard_normal((4, 3)), R.standard_normal((2, 3))),
     (0, None)),
    ("lower rank batched, axis 1", (lax.sub, jnp.subtract), (R.standard_normal((3, 4)), R.standard_normal((2, 3))),
     (1, None)),
    ("lower rank batched, unbatched second", (lax.pow, jnp.power),
     (R.uniform(0.5, 2, (2, 3)), R.uniform(-1, 1, (4, 1, 2, 3))), (None, 0)),
    # a batched scalar against an unbatched matrix
    ("batched scalar", (lax.div, jnp.divide), (R.standard_normal(5), R.uniform(0.5, 2, (2, 3))), (0, None)),
    ("batched scalar second", (lax.max, jnp.maximum), (R.standard_normal((2, 3)), R.standard_normal(5)), (None, 0)),
    # in_axes=-1
    ("in_axes -1", (lax.add, jnp.add), (R.standard_normal((2, 3, 4)), R.standard_normal(3)), (-1, None)),
    ("in_axes -1 both", (lax.min, jnp.minimum), (R.standard_normal((2, 4)), R.standard_normal((3, 2, 4))), (-1, -1)),
    # both operands batched, along different axes (and different ranks)
    ("different axes", (lax.mul, jnp.multiply), (R.standard_normal((4, 2, 3)), R.standard_normal((2, 3, 4))),
     (0, 2)),
    ("different axes and ranks", (lax.sub, jnp.subtract), (R.standard_normal((2, 4, 3)), R.standard_normal((3, 4))),
     (1, 1)),
    # select with only the predicate batched, and with a predicate of a different rank than the branches
    ("select batched predicate only", (lax.select, jnp.where),
     (R.random((4, 2, 3)) < 0.5, R.standard_normal((2, 3)), R.standard_normal(3)), (0, None, None)),
    ("select batched predicate, axis -1", (lax.select, jnp.where),
     (R.random((3, 4)) < 0.5, R.standard_normal((2, 3)), R.standard_normal((2, 1))), (-1, None, None)),
    ("select low-rank predicate, batched branch", (lax.select, jnp.where),
     (R.random(3) < 0.5, R.standard_normal((2, 4, 3)), R.standard_normal((2, 3))), (None, 1, None)),
    # parameters pass through
    ("integer_pow", (lambda x: lax.integer_pow(x, -3), lambda x: jlax.integer_pow(x, -3)),
     (R.uniform(0.5, 2, (2, 4, 3)),), (1,)),
    ("convert_element_type", (lambda x: lax.convert_element_type(x, np.float32), lambda x: x.astype(np.float32)),
     (R.standard_normal((3, 4)),), (-1,)),
]


@pytest.mark.parametrize("name,fns,args,in_axes", BATCH_CASES, ids=[c[0] for c in BATCH_CASES])
@pytest.mark.parametrize("out_axes", [0, -1])
def test_batching_broadcasts_across_the_batch(name, fns, args, in_axes, out_axes):
    f, jf = fns
    got = np.asarray(mg.vmap(f, in_axes=in_axes, out_axes=out_axes)(*args))
    want = np.moveaxis(_loop(f, args, in_axes), 0, out_axes)
    jwant = np.asarray(jax.vmap(jf, in_axes=in_axes, out_axes=out_axes)(*args))
    assert got.shape == want.shape == jwant.shape and got.dtype == want.dtype == jwant.dtype
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, jwant, rtol=1e-14, atol=0)


def test_batching_records_no_transpose_where_none_is_needed():
    x, y = R.standard_normal((4, 2, 3)), R.standard_normal((2, 3))
    # batched along the same axis, or an unbatched operand that lines up from the right: one mul
    assert _prims(mg.make_jaxpr(mg.vmap(lax.mul), optimize=False)(x, x)) == ["mul"]
    assert _prims(mg.make_jaxpr(mg.vmap(lax.mul, in_axes=(0, None)), optimize=False)(x, y)) == ["mul"]
    assert _prims(mg.make_jaxpr(mg.vmap(lax.mul, in_axes=(2, 2), out_axes=2), optimize=False)(x, x)) == ["mul"]
    assert _prims(mg.make_jaxpr(mg.vmap(lax.exp, in_axes=1, out_axes=1), optimize=False)(x)) == ["exp"]
    # a batched scalar against an unbatched matrix: a reshape to (B, 1, 1), no transpose
    prims = _prims(mg.make_jaxpr(mg.vmap(lax.mul, in_axes=(0, None)), optimize=False)(R.standard_normal(4), y))
    assert "transpose" not in prims and prims[-1] == "mul"


def test_float32_keeps_float32_tangents_and_batched_outputs():
    x = R.uniform(0.5, 2, (4, 3)).astype(np.float32)
    y = R.uniform(0.5, 2, 3).astype(np.float32)

    def f(x, y):
        return lax.add(lax.mul(lax.tanh(x), lax.pow(x, y)),
                       lax.select(lax.gt(x, y), lax.integer_pow(x, -2), lax.max(x, y)))

    out, t = mg.jvp(f, (x, y), (np.ones_like(x), np.ones_like(y)))
    assert out.dtype == t.dtype == np.float32 and t.shape == (4, 3)
    jt = np.asarray(jax.jvp(f_jax, (x, y), (np.ones_like(x), np.ones_like(y)))[1])
    np.testing.assert_allclose(t, jt, rtol=1e-5, atol=1e-6)
    yb = (y * R.uniform(0.5, 1.5, (4, 3))).astype(np.float32)
    for in_axes, args in [((0, None), (x, y)), ((1, None), (x.T, y)), ((1, 0), (x.T, yb)), ((None, 0), (y, yb))]:
        b = np.asarray(mg.vmap(f, in_axes=in_axes)(*args))
        assert b.dtype == np.float32, in_axes
        np.testing.assert_allclose(b, np.asarray(jax.vmap(f_jax, in_axes=in_axes)(*args)), rtol=1e-5, atol=1e-6)
    # a tangent through a float64 -> float32 cast comes back float32; batched, likewise
    _, t = mg.jvp(lambda a: lax.convert_element_type(a, np.float32), (x.astype(np.float64),), (np.ones((4, 3)),))
    assert t.dtype == np.float32
    tb = mg.vmap(lambda a, v: mg.jvp(lambda a: lax.convert_element_type(lax.sin(a), np.float32), (a,), (v,))[1])(
        x.astype(np.float64), np.ones((4, 3)))
    assert tb.dtype == np.float32 and tb.shape == (4, 3)


def f_jax(x, y):
    return jnp.tanh(x) * jnp.power(x, y) + jnp.where(x > y, jlax.integer_pow(x, -2), jnp.maximum(x, y))


# =====================================================================================================
# Composition: jit(vmap), vmap(jvp), jvp(vmap) of one composite elementwise expression
# =====================================================================================================


def comp_mg(x, y, p):
    """exp(-x^2) * sin(y) / (1 + |x|) + max(x, y) ** 2, where p; log1p(y^2) - stop_gradient(x) elsewhere."""
    a = lax.div(lax.mul(lax.exp(lax.neg(lax.integer_pow(x, 2))), lax.sin(y)),
                lax.add(np.ones((), x.dtype), lax.abs(x)))
    b = lax.add(a, lax.integer_pow(lax.max(x, y), 2))
    c = lax.sub(lax.log1p(lax.mul(y, y)), lax.stop_gradient(x))
    return lax.select(p, b, c)


def comp_jax(x, y, p):
    a = jnp.exp(-x ** 2) * jnp.sin(y) / (1 + jnp.abs(x))
    b = a + jnp.maximum(x, y) ** 2
    c = jnp.log1p(y * y) - jlax.stop_gradient(x)
    return jnp.where(p, b, c)


B = 5
X = R.standard_normal((B, 2, 3))
Y = R.standard_normal(3)
YB = R.standard_normal((3, B))
P = R.random((2, 3)) < 0.5
PB = R.random((B, 3)) < 0.5


@pytest.mark.parametrize("in_axes,args", [
    ((0, None, None), (X, Y, P)),
    ((0, 1, None), (X, YB, P)),
    ((2, -1, 0), (np.moveaxis(X, 0, 2), YB, PB)),
], ids=["x batched", "x and y on different axes", "all batched, pred lower rank"])
def test_jit_of_vmap_matches_jax(in_axes, args):
    got = mg.jit(mg.vmap(comp_mg, in_axes=in_axes, out_axes=-1))(*args)
    want = jax.vmap(comp_jax, in_axes=in_axes, out_axes=-1)(*args)
    assert np.asarray(got).shape == np.shape(want)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(np.asarray(got), np.asarray(mg.vmap(comp_mg, in_axes=in_axes, out_axes=-1)(*args)),
                               rtol=1e-13, atol=1e-14)


def test_vmap_of_jvp_matches_jax():
    tx, ty = R.standard_normal(X.shape), R.standard_normal(YB.shape)

    def tangent(xp, f):
        def per_example(x, y, tx, ty, p):
            return xp.jvp(lambda a, b: f(a, b, p), (x, y), (tx, ty))[1]
        return per_example

    in_axes = (0, 1, 0, 1, None)
    got = mg.vmap(tangent(mg, comp_mg), in_axes=in_axes)(X, YB, tx, ty, P)
    want = jax.vmap(tangent(jax, comp_jax), in_axes=in_axes)(X, YB, tx, ty, P)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-13)
    # and jit of it, and the tangent alone batched (the primal the same for every example)
    got = mg.jit(mg.vmap(tangent(mg, comp_mg), in_axes=(None, None, 0, 1, None)))(X[0], YB[:, 0], tx, ty, P)
    want = jax.vmap(tangent(jax, comp_jax), in_axes=(None, None, 0, 1, None))(X[0], YB[:, 0], tx, ty, P)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-13)


def test_jvp_of_vmap_matches_jax():
    tx, ty = R.standard_normal(X.shape), R.standard_normal(YB.shape)
    f = mg.vmap(lambda x, y: comp_mg(x, y, P), in_axes=(0, 1))
    jf = jax.vmap(lambda x, y: comp_jax(x, y, P), in_axes=(0, 1))
    out, t = mg.jvp(f, (X, YB), (tx, ty))
    jout, jt = jax.jvp(jf, (X, YB), (tx, ty))
    np.testing.assert_allclose(np.asarray(out), np.asarray(jout), rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(np.asarray(t), np.asarray(jt), rtol=1e-12, atol=1e-13)


def test_second_order_forward_matches_jax():
    # jvp of jvp, and hessian (forward over reverse: the VJP's local rules differentiated by the JVP rules)
    x, y = R.standard_normal((2, 3)), R.standard_normal(3)
    t = R.standard_normal((2, 3))

    def inner(xp, f):
        return lambda a: xp.jvp(lambda b: f(b, y, P), (a,), (t,))[1]

    got = mg.jvp(inner(mg, comp_mg), (x,), (t,))[1]
    want = jax.jvp(inner(jax, comp_jax), (x,), (t,))[1]
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-13)
    h = mg.hessian(lambda a: lax.reduce_sum(comp_mg(a, y, P), (0, 1)))(x)
    jh = jax.hessian(lambda a: jnp.sum(comp_jax(a, y, P)))(x)
    np.testing.assert_allclose(np.asarray(h), np.asarray(jh), rtol=1e-12, atol=1e-13)
