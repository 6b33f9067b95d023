"""jvp, linearize, jacfwd, jacrev, hessian and vmap: the API (pytrees, in_axes/out_axes, has_aux), their
errors, and a composition table with grad and jit in every order, each checked against JAX."""
import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp

R = np.random.default_rng(0)


def f_xp(xp, x, W):
    """A small nonlinear function of a vector and a matrix, written once for both libraries."""
    h = xp.tanh(W @ x)
    return xp.sum(h ** 2) + xp.sum(xp.sin(x) * x)


def f_mg(x, W):
    return f_xp(mnp, x, W)


def f_jax(x, W):
    return f_xp(jnp, x, W)


X, W = R.standard_normal(4), R.standard_normal((3, 4))


# ---- jvp and linearize -------------------------------------------------------------------------------------
def test_jvp_matches_jax_with_pytrees_and_aux():
    def g(p):
        return {"a": mnp.tanh(p["x"]) * p["y"][0], "b": mnp.sum(p["x"] ** 2)}, mnp.max(p["x"])

    def gj(p):
        return {"a": jnp.tanh(p["x"]) * p["y"][0], "b": jnp.sum(p["x"] ** 2)}, jnp.max(p["x"])

    p = {"x": R.standard_normal(3), "y": [R.standard_normal(()), R.standard_normal(2)]}
    t = {"x": R.standard_normal(3), "y": [R.standard_normal(()), R.standard_normal(2)]}
    out, tout, aux = mg.jvp(g, (p,), (t,), has_aux=True)
    rout, rt, raux = jax.jvp(gj, (p,), (t,), has_aux=True)
    for k in ("a", "b"):
        np.testing.assert_allclose(out[k], rout[k], rtol=1e-12)
        np.testing.assert_allclose(tout[k], rt[k], rtol=1e-12)
    np.testing.assert_allclose(aux, raux)


def test_jvp_of_an_input_returned_and_of_a_constant_output():
    out, t = mg.jvp(lambda x: (x, np.ones(2)), (np.ones(3),), (np.full(3, 2.0),))
    np.testing.assert_array_equal(t[0], np.full(3, 2.0))
    np.testing.assert_array_equal(t[1], np.zeros(2))


def test_linearize_records_the_tangent_program_once():
    y, f_jvp = mg.linearize(f_mg, X, W)
    np.testing.assert_allclose(y, f_jax(X, W), rtol=1e-12)
    for _ in range(3):
        v, dW = R.standard_normal(4), R.standard_normal((3, 4))
        np.testing.assert_allclose(f_jvp(v, dW), jax.jvp(f_jax, (X, W), (v, dW))[1], rtol=1e-10)
    text = str(f_jvp.jaxpr)
    assert "tanh" not in text and "sin" not in text  # the primal work ran when linearize did
    np.testing.assert_allclose(mg.jit(f_jvp)(v, dW), jax.jvp(f_jax, (X, W), (v, dW))[1], rtol=1e-10)


# ---- Jacobians -----------------------------------------------------------------------------------------------
def test_jacfwd_and_jacrev_match_jax_on_pytrees():
    def g(p, z):
        return {"u": mnp.tanh(p["a"] @ z), "v": mnp.sum(p["b"] * z[:2])}

    def gj(p, z):
        return {"u": jnp.tanh(p["a"] @ z), "v": jnp.sum(p["b"] * z[:2])}

    p, z = {"a": R.standard_normal((2, 3)), "b": R.standard_normal(2)}, R.standard_normal(3)
    for ours, theirs in ((mg.jacfwd, jax.jacfwd), (mg.jacrev, jax.jacrev)):
        for argnums in (0, 1, (0, 1)):
            got, want = ours(g, argnums)(p, z), theirs(gj, argnums)(p, z)
            flat_g, tree_g = jax.tree_util.tree_flatten(got)
            flat_w, tree_w = jax.tree_util.tree_flatten(want)
            assert tree_g == tree_w, (ours.__name__, argnums, tree_g, tree_w)
            for a, b in zip(flat_g, flat_w):
                assert np.shape(a) == np.shape(b)
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_hessian_matches_jax_and_is_symmetric():
    H = mg.hessian(f_mg)(X, W)
    np.testing.assert_allclose(H, jax.hessian(f_jax)(X, W), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    Hw = mg.hessian(f_mg, argnums=1)(X, W)
    assert Hw.shape == (3, 4, 3, 4)
    np.testing.assert_allclose(Hw, jax.hessian(f_jax, argnums=1)(X, W), rtol=1e-10, atol=1e-12)


def test_jacobian_of_elementwise_max_is_diagonal():
    x = R.standard_normal(16)
    J = mg.jacfwd(lambda x: mnp.maximum(x, 0.0))(x)
    np.testing.assert_array_equal(J, np.diag((x > 0).astype(float)))
    np.testing.assert_array_equal(mg.jacrev(lambda x: mnp.maximum(x, 0.0))(x), J)


# ---- vmap ------------------------------------------------------------------------------------------------
def test_vmap_in_axes_out_axes_as_jax():
    def g(a, b, c):
        return {"s": a * b["k"], "t": mnp.sum(c)}

    def gj(a, b, c):
        return {"s": a * b["k"], "t": jnp.sum(c)}

    a, b, c = R.standard_normal((5, 3)), {"k": R.standard_normal((3, 5))}, R.standard_normal(4)
    for in_axes, out_axes in [((0, {"k": -1}, None), 0), ((0, {"k": 1}, None), {"s": 1, "t": None}),
                              ([0, 1, None], -1)]:
        got = mg.vmap(g, in_axes=in_axes, out_axes=out_axes)(a, b, c)
        want = jax.vmap(gj, in_axes=tuple(in_axes) if isinstance(in_axes, list) else in_axes,
                        out_axes=out_axes)(a, b, c)
        for k in ("s", "t"):
            np.testing.assert_allclose(got[k], want[k], rtol=1e-12)


def test_vmap_of_vmap_and_axis_size():
    x = R.standard_normal((2, 3, 4))
    got = mg.vmap(mg.vmap(lambda v: mnp.sum(v * v)))(x)
    np.testing.assert_allclose(got, np.sum(x * x, axis=-1), rtol=1e-12)
    rep = mg.vmap(lambda: mnp.ones(3) * 2.0, axis_size=4)()
    assert np.asarray(rep).shape == (4, 3)


def test_per_example_gradients_of_the_lecture_net():
    def loss(p, x, y):
        h = mnp.maximum(p["W1"] @ x, 0.0)
        return mnp.sum((p["W2"] @ h - y) ** 2)

    def loss_j(p, x, y):
        h = jnp.maximum(p["W1"] @ x, 0.0)
        return jnp.sum((p["W2"] @ h - y) ** 2)

    p = {"W1": R.standard_normal((8, 5)), "W2": R.standard_normal((2, 8))}
    Xb, Yb = R.standard_normal((6, 5)), R.standard_normal((6, 2))
    want = jax.vmap(jax.grad(loss_j), in_axes=(None, 0, 0))(p, Xb, Yb)
    for fn in (mg.vmap(mg.grad(loss), in_axes=(None, 0, 0)),
               mg.jit(mg.vmap(mg.grad(loss), in_axes=(None, 0, 0))),
               mg.jit(mg.vmap(mg.grad(loss), in_axes=(None, 0, 0)), backend="numpy")):
        got = fn(p, Xb, Yb)
        for k in p:
            np.testing.assert_allclose(np.asarray(got[k]), want[k], rtol=1e-10, atol=1e-12)
    loop = [mg.grad(loss)(p, Xb[i], Yb[i]) for i in range(6)]
    for k in p:
        np.testing.assert_allclose(np.stack([g[k] for g in loop]), want[k], rtol=1e-10)


# ---- the composition table ----------------------------------------------------------------------------
def _sq(xp):
    return lambda x: xp.sum(xp.tanh(x) ** 2 * x)


COMPOSITIONS = {
    "vmap(grad)": (lambda: mg.vmap(mg.grad(_sq(mnp))), lambda: jax.vmap(jax.grad(_sq(jnp))), "batch"),
    "grad(vmap)": (lambda: mg.grad(lambda x: mnp.sum(mg.vmap(_sq(mnp))(x))),
                   lambda: jax.grad(lambda x: jnp.sum(jax.vmap(_sq(jnp))(x))), "batch"),
    "jit(vmap(grad))": (lambda: mg.jit(mg.vmap(mg.grad(_sq(mnp)))), lambda: jax.vmap(jax.grad(_sq(jnp))), "batch"),
    "vmap(jit)": (lambda: mg.vmap(mg.jit(_sq(mnp))), lambda: jax.vmap(_sq(jnp)), "batch"),
    "vmap(jit(grad))": (lambda: mg.vmap(mg.jit(mg.grad(_sq(mnp)))), lambda: jax.vmap(jax.grad(_sq(jnp))), "batch"),
    "vmap(vmap)": (lambda: mg.vmap(mg.vmap(lambda x: mnp.tanh(x) * x)),
                   lambda: jax.vmap(jax.vmap(lambda x: jnp.tanh(x) * x)), "batch"),
    "jvp(grad)": (lambda: lambda x: mg.jvp(mg.grad(_sq(mnp)), (x,), (np.ones_like(x),))[1],
                  lambda: lambda x: jax.jvp(jax.grad(_sq(jnp)), (x,), (jnp.ones_like(x),))[1], "one"),
    "grad(jvp)": (lambda: mg.grad(lambda x: mnp.sum(mg.jvp(_sq(mnp), (x,), (x,))[1])),
                  lambda: jax.grad(lambda x: jnp.sum(jax.jvp(_sq(jnp), (x,), (x,))[1])), "one"),
    "jacfwd(jacrev)": (lambda: mg.jacfwd(mg.jacrev(_sq(mnp))), lambda: jax.jacfwd(jax.jacrev(_sq(jnp))), "one"),
    "jacrev(jacfwd)": (lambda: mg.jacrev(mg.jacfwd(_sq(mnp))), lambda: jax.jacrev(jax.jacfwd(_sq(jnp))), "one"),
    "jit(jvp)": (lambda: mg.jit(lambda x: mg.jvp(_sq(mnp), (x,), (x,))),
                 lambda: lambda x: jax.jvp(_sq(jnp), (x,), (x,)), "one"),
    "jvp(jit)": (lambda: lambda x: mg.jvp(mg.jit(_sq(mnp)), (x,), (x,)),
                 lambda: lambda x: jax.jvp(_sq(jnp), (x,), (x,)), "one"),
    "grad(jit(vmap))": (lambda: mg.grad(mg.jit(lambda x: mnp.sum(mg.vmap(_sq(mnp))(x)))),
                        lambda: jax.grad(lambda x: jnp.sum(jax.vmap(_sq(jnp))(x))), "batch"),
    "hessian(jit)": (lambda: mg.hessian(mg.jit(_sq(mnp))), lambda: jax.hessian(_sq(jnp)), "one"),
}


@pytest.mark.parametrize("order", sorted(COMPOSITIONS))
def test_composition_table(order):
    ours, theirs, kind = COMPOSITIONS[order]
    x = R.standard_normal((3, 4)) if kind == "batch" else R.standard_normal(4)
    got, want = ours()(x), theirs()(x)
    for a, b in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-10, atol=1e-12, err_msg=order)


def test_make_jaxpr_of_vmap_prints_the_batched_program():
    closed = mg.make_jaxpr(mg.vmap(lambda x: mnp.sum(mnp.tanh(x))))(np.ones((5, 3)))
    text = str(closed)
    assert "a:f64[5,3]" in text and "reduce_sum[axes=(1,)]" in text
    assert [v.aval.shape for v in closed.jaxpr.outvars] == [(5,)]


# ---- errors ----------------------------------------------------------------------------------------------
def test_vmap_errors_name_the_argument_and_sizes():
    f = lambda x, y: x + y  # noqa: E731
    with pytest.raises(mg.ArgumentError, match=r"in_axes=2 for argument x of shape \(3, 4\)") as e:
        mg.vmap(f, in_axes=(2, 0))(np.ones((3, 4)), np.ones((3, 4)))
    assert "test_forward.py" in str(e.value)
    with pytest.raises(mg.ArgumentError, match="argument x has size 3, argument y has size 5"):
        mg.vmap(f)(np.ones(3), np.ones(5))
    with pytest.raises(mg.ArgumentError, match="in_axes has 3 entries for 2 positional arguments"):
        mg.vmap(f, in_axes=(0, 0, 0))(np.ones(3), np.ones(3))
    with pytest.raises(mg.ArgumentError, match="does not match the structure"):
        mg.vmap(lambda p: p["a"], in_axes=({"b": 0},))({"a": np.ones(3)})
    with pytest.raises(mg.ArgumentError, match="no argument is mapped"):
        mg.vmap(f, in_axes=None)(np.ones(3), np.ones(3))
    with pytest.raises(mg.ArgumentError, match="out_axes=None for an output that varies"):
        mg.vmap(lambda x: x * 2.0, out_axes=None)(np.ones(3))
    with pytest.raises(mg.ConcretizationError, match="under vmap it has one value per example"):
        mg.vmap(lambda x: x if x > 0 else -x)(np.ones(3))


def test_jvp_and_jacobian_errors():
    with pytest.raises(mg.ArgumentError, match=r"the tangent of argument x is f32\[3\] but its primal is f64\[3\]"):
        mg.jvp(lambda x: x * 2.0, (np.ones(3),), (np.ones(3, np.float32),))
    with pytest.raises(mg.ArgumentError, match="primals and tangents must be tuples"):
        mg.jvp(lambda x: x, np.ones(3), np.ones(3))
    with pytest.raises(mg.ArgumentError, match="structure"):
        mg.jvp(lambda x: x, ({"a": np.ones(3)},), ({"b": np.ones(3)},))
    for jac in (mg.jacfwd, mg.jacrev, mg.hessian):
        with pytest.raises(mg.GradTypeError, match=r"argument n .*has dtype int64"):
            jac(lambda n: n * 2.0)(np.arange(3))


# ---- sharded per-example gradients ------------------------------------------------------------------------
SHARDED = textwrap.dedent("""
    import jax, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import minigrad_fn as mg, minigrad_fn.numpy as mnp
    assert len(jax.devices()) == 8
    mesh = Mesh(np.array(jax.devices()), ("data",))
    data, rep = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    r = np.random.default_rng(0)
    p = {"W": r.standard_normal((5, 3)).astype(np.float32)}
    X, Y = r.standard_normal((16, 5)).astype(np.float32), r.standard_normal((16, 3)).astype(np.float32)
    loss = lambda p, x, y: mnp.sum((mnp.tanh(x @ p["W"]) - y) ** 2)
    per_example = mg.vmap(mg.grad(loss), in_axes=(None, 0, 0))
    g8 = mg.jit(per_example, in_shardings=(rep, data, data), out_shardings=data)(p, X, Y)
    g1 = mg.jit(per_example)(p, X, Y)
    assert g8["W"].shape == (16, 5, 3) and len(g8["W"].addressable_shards) == 8
    np.testing.assert_allclose(np.asarray(g8["W"]), np.asarray(g1["W"]), rtol=1e-5, atol=1e-6)
    print("SHARDED OK")
""")


def test_per_example_gradients_sharded_on_eight_simulated_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    run = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "SHARDED OK" in run.stdout, run.stderr[-3000:]


def test_linearize_of_a_call_or_a_loop_returns_primal_values_not_tracers():
    # the call is recorded whole (known primals, unknown tangents): its primal outputs are still values
    from minigrad_fn import lax
    x = np.array([0.3, -1.2])
    for f in (mg.jit(lambda x: mnp.sin(x) * 2.0),
              lambda x: lax.scan(lambda c, u: (mnp.tanh(c * 0.5 + u), c * u), mnp.zeros_like(x[0]), x)[1],
              lambda x: lax.cond(mnp.sum(x) > 0, mnp.sin, mnp.cos, x)):
        out, f_jvp = mg.linearize(f, x)
        assert isinstance(out, np.ndarray), type(out)
        np.testing.assert_allclose(out, f(x), rtol=1e-15)
        np.testing.assert_allclose(f_jvp(x), mg.jvp(f, (x,), (x,))[1], rtol=1e-15)
