"""grad, value_and_grad and vjp: API, pytrees, dtypes, higher order, control flow, against JAX."""
from collections import namedtuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from helpers import check_grad

rng = np.random.default_rng(0)


def test_argnums_int_tuple_negative_and_kwargs():
    f = lambda x, y, scale=1.0: mnp.sum(x * y) * scale  # noqa: E731
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    np.testing.assert_allclose(mg.grad(f)(x, y), y)
    gx, gy = mg.grad(f, argnums=(0, 1))(x, y, scale=2.0)
    np.testing.assert_allclose(gx, 2 * y)
    np.testing.assert_allclose(gy, 2 * x)
    np.testing.assert_allclose(mg.grad(f, argnums=-1)(x, y), x)
    assert isinstance(mg.grad(f, argnums=(1,))(x, y), tuple)


def test_value_and_grad_and_has_aux():
    f = lambda x: (mnp.sum(x ** 2), {"mean": mnp.mean(x), "n": 3})  # noqa: E731
    x = np.array([1.0, 2.0, 3.0])
    (value, aux), g = mg.value_and_grad(f, has_aux=True)(x)
    assert value == 14.0 and aux["n"] == 3 and float(aux["mean"]) == 2.0
    assert isinstance(aux["mean"], (np.ndarray, np.generic))
    g2, aux2 = mg.grad(f, has_aux=True)(x)
    np.testing.assert_allclose(g, 2 * x)
    np.testing.assert_allclose(g2, 2 * x)


Params = namedtuple("Params", ["w", "b"])


def test_pytree_arguments_keep_their_structure():
    params = {"layer": [Params(rng.standard_normal((3, 2)), rng.standard_normal(2)), None],
              "scale": (np.float64(2.0),)}
    x = rng.standard_normal((4, 3))

    def loss(p, x):
        layer = p["layer"][0]
        return mnp.sum(mnp.tanh(x @ layer.w + layer.b)) * p["scale"][0]

    g = mg.grad(loss)(params, x)
    assert isinstance(g, dict) and isinstance(g["layer"], list) and isinstance(g["layer"][0], Params)
    assert g["layer"][1] is None and isinstance(g["scale"], tuple)
    jparams = jax.tree_util.tree_map(jnp.asarray, params)
    jg = jax.grad(lambda p, x: jnp.sum(jnp.tanh(x @ p["layer"][0].w + p["layer"][0].b)) * p["scale"][0])(jparams, x)
    np.testing.assert_allclose(g["layer"][0].w, jg["layer"][0].w, rtol=1e-12)
    np.testing.assert_allclose(g["layer"][0].b, jg["layer"][0].b, rtol=1e-12)
    np.testing.assert_allclose(g["scale"][0], jg["scale"][0], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_keep_the_argument_dtype(dtype):
    x = np.linspace(-1, 1, 5).astype(dtype)
    g = mg.grad(lambda x: mnp.sum(mnp.exp(x) * 2.0 + x ** 2))(x)
    assert isinstance(g, np.ndarray) and g.dtype == dtype
    np.testing.assert_allclose(g, np.exp(x) * 2 + 2 * x, rtol=1e-6)
    g.fill(0)  # gradients are writable arrays


def test_python_scalar_arguments():
    g = mg.grad(lambda x: x ** 3)(2.0)
    assert isinstance(g, np.ndarray) and g.dtype == np.float64 and float(g) == 12.0


def test_vjp_matches_jax_on_vector_outputs():
    x = rng.standard_normal((3, 4))
    f = lambda xp, x: (xp.tanh(x) @ x.T, xp.sum(x, axis=0))  # noqa: E731
    out, vjp_fn = mg.vjp(lambda x: f(mnp, x), x)
    jout, jvjp = jax.vjp(lambda x: f(jnp, x), x)
    cts = (rng.standard_normal((3, 3)), rng.standard_normal(4))
    np.testing.assert_allclose(out[0], jout[0], rtol=1e-12)
    (g,) = vjp_fn(cts)
    (jg,) = jvjp(cts)
    np.testing.assert_allclose(g, jg, rtol=1e-12)
    (g2,) = vjp_fn(cts)  # a vjp function can be called again
    np.testing.assert_allclose(g2, g)


def test_vjp_has_aux_and_output_used_twice():
    out, vjp_fn, aux = mg.vjp(lambda x: ((x * 2, x * 2), "aux"), np.ones(2), has_aux=True)
    assert aux == "aux"
    (g,) = vjp_fn((np.ones(2), np.full(2, 3.0)))
    np.testing.assert_allclose(g, [8.0, 8.0])


def test_gradients_add_at_branches_and_constants_give_zero():
    x = np.array([1.0, -2.0])
    check_grad(lambda xp, x: xp.sum(x * x + xp.sin(x) * x), x)
    g = mg.grad(lambda x, y: mnp.sum(y ** 2), argnums=0)(x, x)
    assert isinstance(g, np.ndarray) and np.all(g == 0) and g.shape == x.shape


def test_stop_gradient():
    g = mg.grad(lambda x: mnp.sum(x * mnp.stop_gradient(x)))(np.array([3.0]))
    np.testing.assert_allclose(g, [3.0])


def test_python_control_flow_on_values():
    def f(x):
        y = x
        while mnp.sum(y ** 2) < 100.0:
            y = y * 2.0 if mnp.max(y) > 0 else y * -3.0
        if y[0] > 0:
            return mnp.sum(mnp.sin(y))
        return mnp.sum(mnp.cos(y))

    x = np.array([0.5, 1.5])
    g = mg.grad(f)(x)
    # the path taken: doubled 3 times (0.5,1.5 -> 4,12), y[0] > 0 -> sum(sin(8 x))
    np.testing.assert_allclose(g, 8 * np.cos(8 * x), rtol=1e-12)


def test_second_and_third_derivatives_match_jax():
    f = lambda xp, x: xp.sin(x) * xp.exp(x) / (1.0 + x ** 2)  # noqa: E731
    x = 0.7
    g1 = mg.grad(lambda x: f(mnp, x))
    g2 = mg.grad(g1)
    g3 = mg.grad(g2)
    j1 = jax.grad(lambda x: f(jnp, x))
    j2 = jax.grad(j1)
    j3 = jax.grad(j2)
    for ours, theirs in ((g1, j1), (g2, j2), (g3, j3)):
        np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-10)


def test_hessian_vector_product_matches_jax():
    A = rng.standard_normal((4, 4))

    def f(xp, x):
        return xp.sum(xp.tanh(A @ x) ** 2) + xp.sum(x ** 4)

    x, v = rng.standard_normal(4), rng.standard_normal(4)
    hvp = mg.grad(lambda x: mnp.vdot(mg.grad(lambda x: f(mnp, x))(x), v))(x)
    jhvp = jax.grad(lambda x: jnp.vdot(jax.grad(lambda x: f(jnp, x))(x), v))(x)
    np.testing.assert_allclose(hvp, jhvp, rtol=1e-10)


def test_grad_of_grad_of_a_network_loss_matches_jax():
    W = rng.standard_normal((3, 5))
    X = rng.standard_normal((6, 3))

    def loss(xp, W, X):
        h = xp.maximum(X @ W, 0.0) + 0.1 * xp.tanh(X @ W)
        return xp.mean(xp.log(1.0 + xp.exp(-h)))

    ours = mg.grad(lambda W: mnp.sum(mg.grad(lambda W: loss(mnp, W, X))(W) ** 2))(W)
    theirs = jax.grad(lambda W: jnp.sum(jax.grad(lambda W: loss(jnp, W, X))(W) ** 2))(W)
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12)


def test_no_perturbation_confusion():
    # d/dx [ x * d/dy (x + y) ] = 1: the inner grad must not differentiate the outer x
    f = lambda x: x * mg.grad(lambda y: x + y)(1.0)  # noqa: E731
    assert float(mg.grad(f)(3.0)) == 1.0
    g = lambda x: mg.grad(lambda y: x * y)(2.0)  # noqa: E731  d/dy (x y) = x; d/dx of that = 1
    assert float(mg.grad(g)(5.0)) == 1.0


def test_make_jaxpr_of_grad_contains_forward_and_backward():
    closed = mg.make_jaxpr(mg.grad(lambda x: mnp.sum(mnp.sin(x))))(np.zeros(3))
    assert [e.prim.name for e in closed.eqns] == ["cos"]  # the dead forward sin is gone, and the mul by ones
    raw = mg.make_jaxpr(mg.grad(lambda x: mnp.sum(mnp.sin(x))), optimize=False)(np.zeros(3))
    # omnistaging: the ones that seed the backward pass are recorded (a broadcast of 1.0), not a constant
    assert [e.prim.name for e in raw.eqns] == ["broadcast_in_dim", "cos", "mul"]
    mg.typecheck(closed.jaxpr)
    out = mg.eval_jaxpr(closed.jaxpr, closed.consts, [np.array([0.0, 1.0, 2.0])])
    np.testing.assert_allclose(out[0], np.cos([0.0, 1.0, 2.0]))


def test_integer_data_arguments_are_fine_when_not_differentiated():
    labels = np.array([0, 2, 1])
    logits = rng.standard_normal((3, 4))
    g = mg.grad(lambda z, y: mg.nn.softmax_cross_entropy(z, y))(logits, labels)
    jg = jax.grad(lambda z: -jnp.mean(jax.nn.log_softmax(z)[jnp.arange(3), labels]))(logits)
    np.testing.assert_allclose(g, jg, rtol=1e-10)


# ---- what grad keeps for the backward pass ------------------------------------------------------------
def test_grad_keeps_only_the_values_its_rules_read():
    import gc
    import importlib.util
    import os
    import tracemalloc
    spec = importlib.util.spec_from_file_location(
        "bench_run", os.path.join(os.path.dirname(__file__), "..", "bench", "run.py"))
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = np.random.default_rng(0)
    p = {"W1": r.standard_normal((200, 256)).astype(np.float32), "b1": np.zeros(256, np.float32),
         "W2": r.standard_normal((256, 256)).astype(np.float32), "b2": np.zeros(256, np.float32),
         "W3": r.standard_normal((256, 10)).astype(np.float32), "b3": np.zeros(10, np.float32)}
    x, labels = r.standard_normal((128, 200)).astype(np.float32), r.integers(0, 10, 128)
    ours = mg.grad(lambda p: bench.mlp_loss(mnp, p, x, labels))
    peaks = []
    for fn in (lambda: bench.mlp_by_hand(p, x, labels), lambda: ours(p)):
        fn()
        gc.collect()
        tracemalloc.start()
        fn()
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] <= 1.2 * peaks[0], f"peak memory of one gradient: ours {peaks[1]}, by hand {peaks[0]}"


def test_a_rule_reading_a_value_it_did_not_declare_fails_loudly():
    from minigrad_fn.primitives import _base, elementwise as E
    bad = _base.primitive("bad_square", lambda x: x, np.square,
                          [lambda g, ans, x: E.mul(g, E.mul(np.array(2.0, x.dtype), x))], reads=())
    # the rule's residuals hold what it declared (nothing): it gets the operand's aval, never a stale or
    # silently substituted value, and fails loudly, naming the operation and the forward line
    for f in (lambda x: mnp.sum(bad.bind(x)), lambda x: mnp.sum(bad.bind(mnp.sin(x)))):
        with pytest.raises(mg.OpError, match="mul failed") as e:
            mg.grad(f)(np.ones(3))
        assert "in the backward pass of bad_square" in str(e.value)


# ---- the residual protocol and missing rules -----------------------------------------------------------
def test_every_primitive_has_a_vjp_rule_in_the_one_shape():
    from minigrad_fn.compiler import jit_p
    from minigrad_fn.primitives import all_primitives
    from minigrad_fn.primitives._base import VJP
    prims = list(all_primitives().values()) + [jit_p]
    missing = [p.name for p in prims if not isinstance(p.rules.get("vjp"), VJP)]
    assert not missing, f"primitives without a VJP rule: {missing}"


def test_a_primitive_without_a_vjp_rule_is_an_error_naming_it_never_a_zero():
    from minigrad_fn.primitives import _base
    from minigrad_fn.autodiff import MissingRuleError
    cube = _base.primitive("cube", lambda x: x, lambda x: x ** 3, None)
    assert float(cube.bind(np.float64(2.0))) == 8.0  # evaluating it is fine
    with pytest.raises(MissingRuleError, match="cube has no VJP rule") as e:
        mg.grad(lambda x: cube.bind(x) * 2.0)(2.0)
    assert "test_autodiff.py" in str(e.value)  # the user's line
    # declared non-differentiable: no gradient flows, explicitly
    step = _base.primitive("step", lambda x: x, lambda x: (x > 0).astype(x.dtype), [None])
    assert float(mg.grad(lambda x: step.bind(x) * x)(2.0)) == 1.0


def test_the_default_forward_part_keeps_exactly_what_the_rule_reads():
    from minigrad_fn.autodiff import vjp_forward
    from minigrad_fn.primitives import elementwise as E
    x = np.arange(3.0)
    for prim, kept in ((E.exp_p, ["ans"]), (E.sin_p, ["x"]), (E.add_p, []), (E.mul_p, ["x", "y"])):
        args = [x] if prim is not E.add_p and prim is not E.mul_p else [x, x + 1]
        outs, res = vjp_forward(tracing_root(), prim, args, {}, None, None)
        expect = {"ans": outs[0], "x": args[0], "y": args[-1]}
        assert len(res) == len(kept) and all(r is expect[k] for r, k in zip(res, kept)), prim


def test_residuals_are_unpacked_as_values_where_kept_and_avals_elsewhere(monkeypatch):
    from minigrad_fn.primitives import elementwise as E
    seen = []
    bwd = E.div_p.rules["vjp"].bwd
    rules = list(bwd.rules)
    monkeypatch.setattr(bwd, "rules", [lambda g, ans, x, y: seen.append((x, y, ans)) or rules[0](g, ans, x, y),
                                       rules[1]])
    x, y = np.ones(2), np.full(2, 2.0)
    mg.grad(lambda x, y: mnp.sum(E.div(x, y)), argnums=(0, 1))(x, y)
    (gx, gy, ans), = seen  # div reads y and its result: x comes as its aval (shape and dtype only)
    assert gx == mg.make_jaxpr(lambda x: x)(x).in_avals[0] and np.array_equal(gy, y) and np.allclose(ans, 0.5)


def tracing_root():
    import tracing
    return tracing.ROOT


def test_grad_of_jit_runs_the_forward_once_with_residuals():
    seen = mg.jit(lambda x: mnp.sum(mnp.tanh(x) ** 2))
    g = mg.grad(seen)
    x = np.linspace(-1, 1, 4)
    np.testing.assert_allclose(g(x), 2 * np.tanh(x) * (1 - np.tanh(x) ** 2), rtol=1e-12)
    closed = mg.make_jaxpr(g)(x)
    names = [e.params["name"] for e in closed.eqns if e.prim.name == "jit"]
    assert names == ["<lambda>_fwd", "vjp_<lambda>"], names  # one forward call, one backward call
    fwd_body = closed.eqns[0].params["jaxpr"]
    bwd_body = closed.eqns[1].params["jaxpr"]
    assert "tanh" in [e.prim.name for e in fwd_body.eqns]
    assert "tanh" not in [e.prim.name for e in bwd_body.eqns]  # the backward call recomputes nothing
