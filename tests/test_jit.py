"""jit: lowering to JAX/XLA, the signature cache, composition with grad, dtypes, devices, errors, sharding."""
import os
import subprocess
import sys
import textwrap
import warnings

import jax
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import lax
from minigrad_fn.compiler import JitCacheInfo
from tracing import Primitive

R = np.random.default_rng(0)


def mlp_loss(p, X, y):
    h = mnp.maximum(X @ p["W1"] + p["b1"], 0)
    logits = h @ p["W2"]
    m = mnp.max(logits, axis=1, keepdims=True)
    lse = mnp.log(mnp.sum(mnp.exp(logits - m), axis=1)) + m[:, 0]
    return mnp.mean(lse - logits[mnp.arange(X.shape[0]), y])


def mlp_data(dtype=np.float64, n=8):
    p = {"W1": R.standard_normal((5, 7)).astype(dtype), "b1": R.standard_normal(7).astype(dtype),
         "W2": R.standard_normal((7, 3)).astype(dtype)}
    return p, R.standard_normal((n, 5)).astype(dtype), R.integers(0, 3, n)


def assert_tree_close(a, b, **kw):
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        assert np.shape(x) == np.shape(y) and np.asarray(x).dtype == np.asarray(y).dtype
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **kw)


# ---- values, outputs, backends ---------------------------------------------------------------------
def test_jit_values_match_eager_and_stay_jax_arrays():
    p, X, y = mlp_data()
    out = mg.jit(mlp_loss)(p, X, y)
    assert isinstance(out, jax.Array)
    np.testing.assert_allclose(np.asarray(out), mlp_loss(p, X, y), rtol=1e-12)
    vg = mg.jit(mg.value_and_grad(mlp_loss))(p, X, y)
    assert isinstance(vg[1]["W1"], jax.Array)
    assert_tree_close(vg, mg.value_and_grad(mlp_loss)(p, X, y), rtol=1e-10)


def test_numpy_backend_runs_the_same_ir_without_jax_arrays():
    p, X, y = mlp_data()
    step = mg.jit(mg.grad(mlp_loss), backend="numpy")
    g = step(p, X, y)
    assert all(isinstance(v, np.ndarray) for v in g.values())
    assert_tree_close(g, mg.grad(mlp_loss)(p, X, y), rtol=1e-12)
    assert_tree_close(g, jax.tree_util.tree_map(np.asarray, mg.jit(mg.grad(mlp_loss))(p, X, y)), rtol=1e-10)


def test_jax_array_inputs_and_a_training_loop_on_device():
    p, X, y = mlp_data(np.float32)
    step = mg.jit(lambda p, X, y: jax.tree_util.tree_map(
        lambda w, g: w - 0.1 * g, p, mg.grad(mlp_loss)(p, X, y)))
    ref = {k: v.copy() for k, v in p.items()}
    for _ in range(3):
        p = step(p, X, y)  # jax.Arrays go back in: no copy to the host between steps
        ref = {k: v - np.float32(0.1) * g for (k, v), g in zip(ref.items(), mg.grad(mlp_loss)(ref, X, y).values())}
    assert all(isinstance(v, jax.Array) and v.dtype == np.float32 for v in p.values())
    assert_tree_close(jax.tree_util.tree_map(np.asarray, p), ref, rtol=1e-5, atol=1e-6)
    assert step.cache_info() == JitCacheInfo(hits=2, misses=1, size=1)  # numpy, then jax.Arrays: one signature


def test_lower_gives_stablehlo_and_compiles():
    p, X, y = mlp_data(np.float32)
    lowered = mg.jit(mlp_loss).lower(p, X, y)
    text = lowered.as_text()
    assert "stablehlo" in text and "jit_mlp_loss" in text and "f32" in text
    assert "dot_general" in str(lowered.jaxpr)
    compiled = lowered.compile()
    np.testing.assert_allclose(np.asarray(compiled(p, X, y)), mlp_loss(p, X, y), rtol=1e-5)


# ---- the cache -----------------------------------------------------------------------------------------
def test_cache_keys():
    calls = []

    def f(x, n, scale=1.0):
        calls.append(1)
        return mnp.sum(x ** n) * scale

    jf = mg.jit(f, static_argnums=1)
    x = np.ones(3)
    assert float(jf(x, 2)) == 3.0
    assert float(jf(x + 1, 2)) == 12.0            # same signature: no retrace, no recompile
    assert len(calls) == 1 and jf.cache_info() == JitCacheInfo(hits=1, misses=1, size=1)
    jf(jax.numpy.ones(3), 2)                      # a jax.Array of the same shape and dtype: same entry
    assert len(calls) == 1
    jf(x, 3)                                      # another static value
    jf(np.ones(4), 2)                             # another shape
    jf(np.ones(3, np.float32), 2)                 # another dtype
    jf(x, 2, scale=np.float64(2))                 # another pytree structure (a keyword argument)
    assert len(calls) == 5 and jf.cache_info().size == 5
    jf.clear_cache()
    jf(x, 2)
    assert len(calls) == 6


def test_python_numbers_share_an_entry_by_type():
    """Python numbers are traced as 0-d arrays (float64, int64, bool): calls with other numbers of the same
    type reuse the compiled program, as calls with other arrays of one shape do."""
    calls = []

    def f(x, s):
        calls.append(1)
        return x * s

    jf = mg.jit(f)
    x = np.ones(2)
    assert float(jf(x, 2.0)[0]) == 2.0 and float(jf(x, 3.0)[0]) == 3.0
    assert float(jf(2.0, 3.0)) == 6.0 and float(jf(4.0, 0.5)) == 2.0
    assert len(calls) == 2 and jf.cache_info() == JitCacheInfo(hits=2, misses=2, size=2)
    jf(x, 3)  # an int is another type: another entry
    assert len(calls) == 3


def test_static_argnames_and_decorator_form():
    @mg.jit(static_argnames="axis")
    def norm(x, axis):
        return mnp.sqrt(mnp.sum(x * x, axis=axis))

    x = R.standard_normal((3, 4))
    np.testing.assert_allclose(np.asarray(norm(x, axis=1)), np.linalg.norm(x, axis=1))
    np.testing.assert_allclose(np.asarray(norm(x, axis=0)), np.linalg.norm(x, axis=0))
    assert norm.cache_info().misses == 2


def test_static_argnums_hold_by_keyword_from_either_end_and_partials_are_named():
    """static_argnums=0 (or its negative twin) keeps the first parameter static when it is passed by
    keyword too, as jax.jit does; a callable without __name__ (functools.partial) is named by its type."""
    import functools

    def power_sum(n, x):
        acc = x
        for _ in range(n - 1):  # Python control flow on n: n must be static
            acc = acc * x
        return mnp.sum(acc)
    x = np.array([1.0, 2.0])
    for argnums in (0, -2):
        jf = mg.jit(power_sum, static_argnums=argnums)
        assert float(jf(3, x)) == 9.0
        assert float(jf(n=3, x=x)) == 9.0
        assert float(jf(2, x=x)) == 5.0
    scaled = mg.jit(functools.partial(lambda s, x: s * x, 2.0))
    np.testing.assert_array_equal(np.asarray(scaled(x)), 2 * x)
    assert scaled.__name__ == "jit(partial)"
    assert "partial" in str(mg.make_jaxpr(scaled)(x))


def test_unhashable_static_argument_is_refused():
    jf = mg.jit(lambda x, shape: mnp.reshape(x, shape), static_argnums=1)
    with pytest.raises(mg.ArgumentError, match=r"static argument #1 .* list, which is unhashable") as e:
        jf(np.ones(4), [2, 2])
    assert "tuple" in str(e.value)
    np.testing.assert_array_equal(np.asarray(jf(np.ones(4), (2, 2))), np.ones((2, 2)))


# ---- composition ----------------------------------------------------------------------------------------
def f3(x):
    return mnp.sum(mnp.sin(x) ** 3 * mnp.exp(-x))


def test_compositions_in_every_order():
    x = R.standard_normal(4)
    g = mg.grad(f3)(x)
    for h in (mg.jit(mg.grad(f3)), mg.grad(mg.jit(f3)), mg.jit(mg.grad(mg.jit(f3))),
              mg.jit(mg.jit(mg.grad(f3)))):
        np.testing.assert_allclose(np.asarray(h(x)), g, rtol=1e-12)
    s = lambda x: mnp.sin(x) ** 3 * mnp.exp(-x)  # noqa: E731
    gg = mg.grad(mg.grad(s))(0.7)
    for h in (mg.jit(mg.grad(mg.grad(s))), mg.grad(mg.grad(mg.jit(s))), mg.grad(mg.jit(mg.grad(s))),
              mg.jit(mg.grad(mg.jit(mg.grad(mg.jit(s)))))):
        np.testing.assert_allclose(np.asarray(h(0.7)), gg, rtol=1e-12)
    with jax.enable_x64(True):
        ref = jax.grad(jax.grad(lambda x: jax.numpy.sin(x) ** 3 * jax.numpy.exp(-x)))(0.7)
    np.testing.assert_allclose(gg, ref, rtol=1e-12)


def test_grad_of_jit_is_one_call_equation_whose_vjp_is_its_body():
    jaxpr = mg.make_jaxpr(mg.jit(f3))(np.ones(3))
    assert [e.prim.name for e in jaxpr.eqns] == ["jit"]
    text = str(mg.make_jaxpr(mg.grad(mg.jit(f3)))(np.ones(3)))
    assert "jit[" in text and "name=vjp_f3" in text and "sin" in text  # the backward call's body, printed


def test_jit_closing_over_an_outer_tracer():
    def outer(x):
        inner = mg.jit(lambda y: mnp.sin(x * y))  # x is grad's tracer: a constant of the inner trace
        return inner(2.0) + inner(3.0)

    np.testing.assert_allclose(mg.grad(outer)(0.5), 2 * np.cos(1.0) + 3 * np.cos(1.5), rtol=1e-12)
    np.testing.assert_allclose(np.asarray(mg.jit(mg.grad(outer))(0.5)), 2 * np.cos(1.0) + 3 * np.cos(1.5))


def test_vjp_of_jit_with_pytree_outputs_and_integer_outputs():
    def f(p):
        return {"a": mnp.tanh(p["x"]) * p["y"], "i": mnp.argmax(p["x"])}

    p = {"x": R.standard_normal(5), "y": R.standard_normal(5)}
    ct = {"a": R.standard_normal(5), "i": np.zeros((), np.int64)}
    out, f_vjp = mg.vjp(mg.jit(f), p)
    out_ref, ref_vjp = mg.vjp(f, p)
    assert_tree_close(jax.tree_util.tree_map(np.asarray, out), out_ref)
    assert_tree_close(f_vjp(ct), ref_vjp(ct), rtol=1e-12)


# ---- dtypes and devices ------------------------------------------------------------------------------------
def test_float32_and_float64_survive_lowering_without_touching_jax_config():
    with jax.enable_x64(False):
        before = jax.config.jax_enable_x64
        for dt in (np.float32, np.float64):
            p, X, y = mlp_data(dt)
            value, g = mg.jit(mg.value_and_grad(mlp_loss))(p, X, y)
            assert value.dtype == dt and all(v.dtype == dt for v in g.values())
            ref_value, ref_g = mg.value_and_grad(mlp_loss)(p, X, y)
            tol = 1e-12 if dt == np.float64 else 1e-5
            np.testing.assert_allclose(np.asarray(value), ref_value, rtol=tol)
            assert_tree_close(jax.tree_util.tree_map(np.asarray, g), ref_g, rtol=tol, atol=tol)
        assert jax.config.jax_enable_x64 == before
        ints = mg.jit(lambda i: i * 3 + mnp.arange(3))(np.int64(2 ** 40))
        assert ints.dtype == np.int64 and int(ints[0]) == 3 * 2 ** 40


def test_device_argument_places_the_program():
    dev = jax.devices()[-1]
    out = mg.jit(f3, device=dev)(np.ones(3))
    assert out.devices() == {dev}
    np.testing.assert_allclose(np.asarray(out), f3(np.ones(3)))


def test_donated_arguments():
    p, X, y = mlp_data(np.float32)
    step = mg.jit(lambda p, X, y: jax.tree_util.tree_map(lambda w, g: w - 0.1 * g, p, mg.grad(mlp_loss)(p, X, y)),
                  donate_argnums=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the CPU backend cannot donate and says so
        new = step(jax.tree_util.tree_map(jax.numpy.asarray, p), X, y)
    assert set(new) == set(p)


# ---- errors ---------------------------------------------------------------------------------------------------
def test_branching_on_a_traced_value_names_the_argument_and_line():
    def f(x, y):
        if mnp.sum(y["b"]) > 0:  # the line the error names
            return x
        return -x

    with pytest.raises(mg.ConcretizationError) as e:
        mg.jit(f)(np.ones(2), {"b": np.ones(3)})
    msg = str(e.value)
    assert "depends on argument y['b']" in msg and "if mnp.sum(y[\"b\"]) > 0" in msg
    assert "static_argnums" in msg and "minigrad_fn.numpy.where" in msg
    for bad in (lambda x: float(x), lambda x: x.item(), lambda x: int(x)):
        with pytest.raises(mg.ConcretizationError, match="depends on argument x"):
            mg.jit(bad)(1.0)
    assert float(mg.jit(lambda x, flag: x if flag else -x, static_argnums=1)(2.0, False)) == -2.0


def test_a_primitive_without_lowering_names_itself():
    p = Primitive("my_op", shape_rule=lambda x: x, impl=lambda x: x + 1)
    with pytest.raises(mg.LoweringError, match="primitive my_op has no lowering") as e:
        mg.jit(lambda x: p.bind(x))(np.ones(2))
    assert "backend='numpy'" in str(e.value)
    assert "(traced at test_jit.py:" in str(e.value)  # the user's line of the equation
    np.testing.assert_array_equal(mg.jit(lambda x: p.bind(x), backend="numpy")(np.ones(2)), [2.0, 2.0])


def test_bad_options_and_arguments():
    with pytest.raises(mg.ArgumentError, match="backend"):
        mg.jit(f3, backend="tpu")
    with pytest.raises(mg.ArgumentError, match=r"jit\(f3\): argument x is a str"):
        mg.jit(f3)("hello")


def test_every_primitive_has_a_lowering_rule():
    missing = [n for n, p in lax.all_primitives().items() if "lower" not in p.rules]
    assert missing == []


# ---- past one machine ---------------------------------------------------------------------------------------
SHARDED = textwrap.dedent("""
    import jax, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import minigrad_fn as mg, minigrad_fn.numpy as mnp
    assert len(jax.devices()) == 8, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("data",))
    data, rep = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    r = np.random.default_rng(0)
    params = {"W1": r.standard_normal((6, 16)).astype(np.float32),
              "W2": r.standard_normal((16, 3)).astype(np.float32)}
    X = r.standard_normal((64, 6)).astype(np.float32)
    y = r.integers(0, 3, 64)

    def loss(p, X, y):
        logits = mnp.maximum(X @ p["W1"], 0) @ p["W2"]
        m = mnp.max(logits, axis=1)
        lse = mnp.log(mnp.sum(mnp.exp(logits - m[:, None]), axis=1)) + m
        return mnp.mean(lse - logits[mnp.arange(64), y])

    step = mg.jit(mg.value_and_grad(loss), in_shardings=(rep, data, data), out_shardings=rep)
    l8, g8 = step(params, X, y)
    l1, g1 = mg.jit(mg.value_and_grad(loss))(params, X, y)
    np.testing.assert_allclose(np.asarray(l8), np.asarray(l1), rtol=1e-5)
    for k in params:
        np.testing.assert_allclose(np.asarray(g8[k]), np.asarray(g1[k]), rtol=1e-4, atol=1e-6)
        assert g8[k].sharding.is_fully_replicated and len(g8[k].devices()) == 8
    assert "num_partitions = 8" in step.lower(params, X, y).as_text()

    predict = mg.jit(lambda p, X: mnp.maximum(X @ p["W1"], 0) @ p["W2"], in_shardings=(rep, data),
                     out_shardings=data)
    out = predict(params, X)
    assert out.sharding.spec == P("data") and len(out.addressable_shards) == 8
    assert out.addressable_shards[0].data.shape == (8, 3)
    np.testing.assert_allclose(np.asarray(out), np.maximum(X @ params["W1"], 0) @ params["W2"], rtol=1e-5)
    print("SHARDED OK")
""")


def test_data_parallel_step_on_eight_simulated_devices():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    run = subprocess.run([sys.executable, "-c", SHARDED], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "SHARDED OK" in run.stdout, run.stderr[-3000:]


# ---- the numpy backend's straight-line executor ------------------------------------------------------------
def test_numpy_backend_runs_a_generated_straight_line_function():
    from tracing import straight_line
    p, X, y = mlp_data()
    jitted = mg.jit(mg.grad(mlp_loss), backend="numpy")
    body = jitted.lower(p, X, y).jaxpr
    run = straight_line(body)
    assert run is straight_line(body)  # made once, cached on the program
    assert run.source.startswith("def program(") and "del " in run.source
    assert run.source.count(" = ") == len(body.eqns)  # one line per equation
    assert_tree_close(jitted(p, X, y), mg.grad(mlp_loss)(p, X, y), rtol=1e-12)


def test_numpy_backend_errors_still_name_the_operation():
    f = mg.jit(lambda x, i: mnp.take(x, i), backend="numpy")
    with pytest.raises(mg.OpError, match="gather failed"):
        f(np.ones(3), np.array([5]))


def test_numpy_backend_takes_jax_arrays_and_returns_numpy():
    p, X, y = mlp_data(np.float32)
    g = mg.jit(mg.grad(mlp_loss), backend="numpy")(jax.tree_util.tree_map(jax.numpy.asarray, p), X, y)
    assert all(type(v) is np.ndarray for v in g.values())
    assert_tree_close(g, mg.grad(mlp_loss)(p, X, y), rtol=1e-5, atol=1e-6)
