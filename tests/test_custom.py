"""custom_jvp, custom_vjp and checkpoint: against JAX's (same functions, same rules), under grad, jvp,
vmap, jit and their compositions; what the backward pass keeps (saved_residuals), and checkpoint's
memory saving measured."""
import gc
import tracemalloc

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import MissingRuleError

R = np.random.default_rng(0)
X = np.array([-1.0, 0.5, 30.0])


def close(a, b, tol=1e-12):
    np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64), rtol=tol, atol=tol)


def both(make):
    """The same definition written with (mg, mnp) and with (jax, jnp)."""
    return make(mg, mnp), make(jax, jnp)


# ---------------------------------------------------------------------------------------------
# custom_jvp

def make_softplus(lib, np_):
    @lib.custom_jvp
    def softplus(x):
        return np_.log1p(np_.exp(x))

    @softplus.defjvp
    def rule(primals, tangents):
        (x,), (t,) = primals, tangents
        return softplus(x), t * (1 / (1 + np_.exp(-x)))  # the stable derivative (sigmoid)
    return lambda x: np_.sum(softplus(x) * x)


def make_scaled(lib, np_):
    """A rule that is not the function's derivative (3x): only the rule can give these numbers."""
    @lib.custom_jvp
    def f(x, y):
        return np_.sin(x) * y

    @f.defjvp
    def rule(primals, tangents):
        (x, y), (tx, ty) = primals, tangents
        return f(x, y), 3.0 * (np_.cos(x) * y * tx + np_.sin(x) * ty)
    return lambda x, y: np_.sum(f(x, y) ** 2)


@pytest.mark.parametrize("make", [make_softplus, make_scaled], ids=["softplus", "not-the-derivative"])
def test_custom_jvp_against_jax_in_every_composition(make):
    ours, theirs = both(make)
    args = (X,) if make is make_softplus else (X, X[::-1].copy())
    n = len(args)
    argnums = tuple(range(n))
    close(ours(*args), theirs(*args))
    close(mg.grad(ours, argnums)(*args), jax.grad(theirs, argnums)(*args))
    close(mg.jit(mg.grad(ours, argnums))(*args), jax.grad(theirs, argnums)(*args))
    close(mg.grad(mg.jit(ours), argnums)(*args), jax.grad(theirs, argnums)(*args))
    close(mg.jvp(ours, args, args)[1], jax.jvp(theirs, args, args)[1])
    batch = tuple(np.stack([a, 2 * a]) for a in args)
    close(mg.vmap(mg.grad(ours, argnums))(*batch), jax.vmap(jax.grad(theirs, argnums))(*batch))
    close(mg.grad(lambda *b: mnp.sum(mg.vmap(ours)(*b)), argnums)(*batch),
          jax.grad(lambda *b: jnp.sum(jax.vmap(theirs)(*b)), argnums)(*batch))
    close(mg.hessian(ours)(*args), jax.hessian(theirs)(*args), 1e-10)


def test_custom_jvp_is_one_equation_holding_the_function():
    ours, _ = both(make_softplus)
    j = mg.make_jaxpr(ours)(X)
    assert [e.prim.name for e in j.eqns][0] == "custom_jvp_call"
    assert "log1p" in str(j) and "custom_jvp_call" in str(j)
    mg.typecheck(j.jaxpr)
    mg.typecheck(mg.make_jaxpr(mg.grad(ours))(X).jaxpr)


def test_custom_jvp_nondiff_argnums_and_defjvps():
    def make(lib, np_):
        power = lib.custom_jvp(lambda n, x: x ** n, nondiff_argnums=(0,))

        @power.defjvp
        def rule(n, primals, tangents):
            (x,), (t,) = primals, tangents
            return x ** n, n * x ** (n - 1) * t
        return lambda x: np_.sum(power(3, x))
    ours, theirs = both(make)
    close(mg.grad(ours)(X[:2]), jax.grad(theirs)(X[:2]))

    def make2(lib, np_):
        f = lib.custom_jvp(lambda x, y: x * y)
        f.defjvps(lambda t, ans, x, y: t * y, lambda t, ans, x, y: 2.0 * t * x)  # the second is off by 2x
        return lambda x, y: np_.sum(f(x, y))
    ours, theirs = both(make2)
    close(mg.grad(ours, (0, 1))(X, X + 1), jax.grad(theirs, (0, 1))(X, X + 1))


def test_nn_functions_stay_finite_at_infinities():
    # logsumexp's gradient at -inf entries is the softmax: exactly 0 there, finite elsewhere
    x = np.array([-np.inf, 0.0, 1.0])
    g = mg.grad(lambda x: mg.nn.logsumexp(x))(x)
    close(g, jax.grad(lambda x: jax.nn.logsumexp(x))(x))
    assert np.all(np.isfinite(g))


# ---------------------------------------------------------------------------------------------
# custom_vjp

def make_clip(lib, np_):
    @lib.custom_vjp
    def clip_gradient(x):
        return x

    clip_gradient.defvjp(lambda x: (x, None), lambda _, g: (np_.clip(g, -1.0, 1.0),))
    return lambda x: np_.sum(clip_gradient(x) * 5.0)


def make_pair(lib, np_):
    @lib.custom_vjp
    def f(x, params):
        return np_.sin(x) * params["w"] + params["b"]

    def fwd(x, params):
        return f(x, params), {"c": np_.cos(x), "s": np_.sin(x), "w": params["w"]}

    def bwd(res, g):
        return res["c"] * g * res["w"] * 0.5, {"w": res["s"] * g, "b": None}  # x's rule halved on purpose
    f.defvjp(fwd, bwd)
    return lambda x, w, b: np_.sum(f(x, {"w": w, "b": b}) ** 2)


@pytest.mark.parametrize("make, nargs", [(make_clip, 1), (make_pair, 3)], ids=["clip_gradient", "pytrees"])
def test_custom_vjp_against_jax(make, nargs):
    ours, theirs = both(make)
    args = (X, X + 1.0, X - 2.0)[:nargs]
    argnums = tuple(range(nargs))
    close(ours(*args), theirs(*args))
    close(mg.grad(ours, argnums)(*args), jax.grad(theirs, argnums)(*args))
    close(mg.jit(mg.grad(ours, argnums))(*args), jax.grad(theirs, argnums)(*args))
    close(mg.grad(mg.jit(ours), argnums)(*args), jax.grad(theirs, argnums)(*args))
    batch = tuple(np.stack([a, -a, 2 * a]) for a in args)
    close(mg.vmap(mg.grad(ours, argnums))(*batch), jax.vmap(jax.grad(theirs, argnums))(*batch))
    close(mg.grad(lambda *b: mnp.sum(mg.vmap(ours)(*b)), argnums)(*batch),
          jax.grad(lambda *b: jnp.sum(jax.vmap(theirs)(*b)), argnums)(*batch))
    j = mg.make_jaxpr(ours)(*args)
    assert "custom_vjp_call" in str(j)


def test_custom_vjp_refuses_forward_mode_and_checks_bwd():
    ours, _ = both(make_clip)
    with pytest.raises(MissingRuleError, match="custom_jvp"):
        mg.jvp(ours, (X,), (X,))

    f = mg.custom_vjp(lambda x: x * 2.0)
    f.defvjp(lambda x: (x * 2.0, None), lambda _, g: g * 2.0)  # not a tuple
    with pytest.raises(mg.ArgumentError, match="one cotangent per"):
        mg.grad(lambda x: mnp.sum(f(x)))(X)


def test_rules_must_be_given_first():
    with pytest.raises(mg.ArgumentError, match="defjvp"):
        mg.custom_jvp(lambda x: x)(X)
    with pytest.raises(mg.ArgumentError, match="defvjp"):
        mg.custom_vjp(lambda x: x)(X)


# ---------------------------------------------------------------------------------------------
# checkpoint

def block(W, h):
    z = h @ W
    return mnp.tanh(z) * mnp.exp(-z * z) + mnp.sin(z) * 0.5


def mlp(Ws, h, ck, policy=None):
    step = mg.checkpoint(block, policy=policy) if ck else block
    for W in Ws:
        h = step(W, h)
    return mnp.sum(h ** 2)


def layers(n=16, width=64, batch=256):
    rng = np.random.default_rng(1)
    return [rng.standard_normal((width, width)) / np.sqrt(width) for _ in range(n)], rng.standard_normal((batch, width))


@pytest.mark.parametrize("policy", [None, mg.checkpoint_policies.nothing_saveable,
                                    mg.checkpoint_policies.dots_saveable, mg.checkpoint_policies.everything_saveable],
                         ids=["default", "nothing", "dots", "everything"])
def test_checkpoint_gradients_are_identical(policy):
    Ws, h = layers(4, 8, 3)
    want = mg.grad(mlp)(Ws, h, False)
    for got in (mg.grad(mlp)(Ws, h, True, policy),
                mg.jit(mg.grad(mlp), static_argnums=(2, 3))(Ws, h, True, policy)):
        for a, b in zip(got, want):
            close(a, b, 1e-13)
    mg.check_grads(lambda Ws, h: mlp(Ws, h, True, policy), (Ws, h), order=2, modes=("rev", "fwd"))


def test_checkpoint_under_vmap_and_jvp():
    Ws, h = layers(3, 6, 2)
    hs = np.stack([h, -h])
    close(mg.vmap(lambda h: mlp(Ws, h, True))(hs), mg.vmap(lambda h: mlp(Ws, h, False))(hs))
    close(mg.vmap(mg.grad(lambda h: mlp(Ws, h, True)))(hs), mg.vmap(mg.grad(lambda h: mlp(Ws, h, False)))(hs))
    close(mg.jvp(lambda h: mlp(Ws, h, True), (h,), (h,))[1], mg.jvp(lambda h: mlp(Ws, h, False), (h,), (h,))[1])


def test_saved_residuals_name_their_lines_and_checkpoint_keeps_fewer():
    Ws, h = layers(4, 8, 3)
    plain = mg.saved_residuals(lambda Ws, h: mlp(Ws, h, False), Ws, h)
    ck = mg.saved_residuals(lambda Ws, h: mlp(Ws, h, True), Ws, h)
    extra = lambda rows: sum(b for _, b, w in rows if "an input" not in w)  # noqa: E731
    assert extra(ck) < extra(plain) / 3, (extra(ck), extra(plain))
    assert any("output of tanh at test_custom.py:" in w and "(block)" in w for _, _, w in plain)
    assert all("output of checkpoint" in w or "an input" in w for _, _, w in ck)


def _peak(fn, *args) -> int:
    fn(*args)
    gc.collect()
    tracemalloc.start()
    fn(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_checkpoint_per_layer_lowers_the_peak_memory_of_a_16_layer_mlp():
    Ws, h = layers()
    plain = _peak(mg.grad(lambda Ws, h: mlp(Ws, h, False)), Ws, h)
    ck = _peak(mg.grad(lambda Ws, h: mlp(Ws, h, True)), Ws, h)
    assert ck < 0.5 * plain, f"checkpointed peak {ck} bytes vs {plain} unchecked"
