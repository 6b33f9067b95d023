"""Control flow (minigrad_fn/control_flow.py): cond/switch, while_loop, fori_loop, scan and map against
jax.lax (float64, tests/conftest.py) and central finite differences.

Every program is written once against a namespace `m` (`m.np`: minigrad_fn.numpy or jax.numpy, `m.lax`:
minigrad_fn.lax or jax.lax), and checked:

1. values: eager (numpy in), `mg.jit` (XLA) and `mg.jit(backend="numpy")` against jax.lax, rtol 1e-12;
2. gradients: `mg.grad`, `mg.jit(mg.grad)`, `mg.grad(mg.jit)` against `jax.grad`, second order, and
   finite differences along a random direction;
3. `mg.jvp` against `jax.jvp`, `mg.vmap` (and `mg.vmap(mg.grad)`) against `jax.vmap`, with in_axes at
   several positions and None: batched predicates (a select), batched while loops finishing at different
   steps, scans with batched xs, carry or constants only;
4. hypothesis over scan programs: lengths 0..5, pytree carries (tuples, dicts, lists, nested, with int
   counters), reverse, xs=None with length=, several xs and ys (None among them);
5. nesting; 6. the IR (one body whatever the length, printing, typecheck, subjaxprs, DCE); 7. errors;
8. eager grad against the same loop unrolled in Python.

Examples per hypothesis test: `_n(k)`, k under the default "ci" profile, 12x under `--slow`.
"""
from __future__ import annotations

from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import lax
from tracing import JaxprTypeError, subjaxprs

assert jax.config.jax_enable_x64, "tests/conftest.py turns on float64 in JAX"

MG = SimpleNamespace(np=mnp, lax=lax)
JX = SimpleNamespace(np=jnp, lax=jax.lax)

_SCALE = max(1, settings.default.max_examples // 40)  # 1 under "ci", 12 under "slow" (--slow)


def _n(k):
    return settings(max_examples=k * _SCALE, deadline=None, derandomize=_SCALE == 1, database=None,
                    print_blob=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------------------------------------------------
# Helpers

def close(got, want, rtol=1e-12, atol=1e-12, err=""):
    """Same pytree structure, shapes, dtypes (a float0 tangent of JAX's is a zero of ours) and values."""
    g_leaves, g_tree = jax.tree_util.tree_flatten(got)
    w_leaves, w_tree = jax.tree_util.tree_flatten(want)
    assert g_tree == w_tree, f"{err}: structure {g_tree} != {w_tree}"
    for i, (g, w) in enumerate(zip(g_leaves, w_leaves)):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, f"{err}: leaf {i}: shape {g.shape} != {w.shape}"
        if w.dtype == jax.dtypes.float0:
            assert not np.any(g), f"{err}: leaf {i}: an integer's tangent is zero"
            continue
        assert g.dtype == w.dtype, f"{err}: leaf {i}: dtype {g.dtype} != {w.dtype}"
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol, err_msg=f"{err}: leaf {i}")


def modes(f):
    """The three ways of running a function: eager (numpy impls), mg.jit on XLA, mg.jit on numpy."""
    return {"eager": f, "jit": mg.jit(f), "jit-numpy": mg.jit(f, backend="numpy")}


def check_values(make, args, err=""):
    want = make(JX)(*args)
    for name, run in modes(make(MG)).items():
        close(run(*args), want, err=f"{err} {name}")
    return want


def grad_modes(f, argnums):
    return {"grad": mg.grad(f, argnums), "jit(grad)": mg.jit(mg.grad(f, argnums)),
            "grad(jit)": mg.grad(mg.jit(f), argnums)}


def check_grads_vs_jax(make_loss, args, argnums, err="", rtol=1e-10):
    want = jax.grad(make_loss(JX), argnums)(*args)
    for name, g in grad_modes(make_loss(MG), argnums).items():
        close(g(*args), want, rtol=rtol, atol=1e-10, err=f"{err} {name}")
    return want


def _dtype(x):
    return np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype


def float_leaves(tree):
    return [x for x in jax.tree_util.tree_leaves(tree) if _dtype(x).kind == "f"]


def loss_of(m, f):
    """A scalar of every float output: sum(sin(leaf) * (k + 1))."""
    def loss(*args):
        total = 0.0
        for k, leaf in enumerate(float_leaves(f(*args))):
            total = total + m.np.sum(m.np.sin(leaf)) * (k + 1)
        return total
    return loss


def randn_like(rng, tree):
    return jax.tree_util.tree_map(lambda a: rng.standard_normal(np.shape(a)), tree)


def fd_directional(f, args, direction, eps=1e-6):
    """Central finite difference of a scalar f along `direction` (a pytree like args)."""
    step = lambda s: jax.tree_util.tree_map(lambda a, d: np.asarray(a) + s * eps * d, args, direction)  # noqa: E731
    return (float(f(*step(1.0))) - float(f(*step(-1.0)))) / (2 * eps)


def dot(a, b):
    return sum(float(np.sum(np.asarray(x) * np.asarray(y)))
               for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def count_eqns(jaxpr):
    """Equations of a jaxpr, those of nested bodies included."""
    return sum(1 + sum(count_eqns(b) for _, b in subjaxprs(e)) for e in jaxpr.eqns)


def prims(jaxpr):
    return [e.prim.name for e in jaxpr.eqns]


seeds = st.integers(0, 2 ** 32 - 1)


# ---------------------------------------------------------------------------------------------------------
# Random scan programs: carry `CARRIES[kind](float leaves)`, xs `XS[kind](float leaves, n)`, ys `YS`.
# The program takes (float carry leaves, float xs leaves, w): ints are built inside, so every argument
# is differentiable; w is closed over by the body (a constant of the scan).

CARRIES = {  # kind: (float leaf count, builder)
    "scalar": (1, lambda f: f[0]),
    "tuple": (2, lambda f: (f[0], f[1])),
    "dict+counter": (1, lambda f: {"a": f[0], "n": np.int64(0)}),
    "nested+counter": (2, lambda f: {"a": (f[0], {"n": np.int32(2)}), "b": [f[1]]}),
}
XS = {  # kind: (shapes of the float leaves for length n, builder)
    "none": (lambda n: [], lambda f, n: None),
    "array": (lambda n: [(n,)], lambda f, n: f[0]),
    "tuple": (lambda n: [(n, 2), (n,)], lambda f, n: (f[0], f[1])),
    "dict+int": (lambda n: [(n, 3)], lambda f, n: {"k": np.arange(n, dtype=np.int64), "u": f[0]}),
}
YS = ["none", "one", "tuple", "dict"]


def _is_int(x):
    return np.dtype(x.dtype).kind in "iu"


def scan_program(carry_kind, xs_kind, ys_kind, n, reverse):
    _, build_c = CARRIES[carry_kind]
    _, build_x = XS[xs_kind]

    def make(m):
        def body(carry, x, w):
            leaves, tree = jax.tree_util.tree_flatten(carry)
            ints = [v for v in leaves if _is_int(v)]
            xt = 0.0
            for v in jax.tree_util.tree_leaves(x):
                xt = xt + (m.np.mean(v.astype(np.float64)) * 0.1 if _is_int(v) else m.np.mean(m.np.sin(v)))
            s = 0.0
            for v in leaves:
                s = s + (v.astype(np.float64) * 0.01 if _is_int(v) else m.np.sum(m.np.sin(v)) * 0.1)
            new = [v + 1 if _is_int(v) else m.np.tanh(v * w * (0.5 + 0.25 * i) + s + xt * (i + 1) * 0.5)
                   for i, v in enumerate(leaves)]
            f0 = next(v for v in new if not _is_int(v))
            ys = {"none": None, "one": f0 * (1.0 + xt), "tuple": (f0 * xt, None, m.np.cos(s)),
                  "dict": {"a": m.np.cos(f0), "b": ints[0] if ints else s * w}}[ys_kind]
            return jax.tree_util.tree_unflatten(tree, new), ys

        def f(fl, xl, w):
            xs = build_x(xl, n)
            return m.lax.scan(lambda c, x: body(c, x, w), build_c(fl), xs, length=n if xs is None else None,
                              reverse=reverse)
        return f
    return make


@st.composite
def scan_cases(draw):
    carry_kind = draw(st.sampled_from(sorted(CARRIES)), label="carry")
    xs_kind = draw(st.sampled_from(sorted(XS)), label="xs")
    ys_kind = draw(st.sampled_from(YS), label="ys")
    n = draw(st.sampled_from([0, 1, 2, 3, 5]), label="length")
    reverse = draw(st.booleans(), label="reverse")
    rng = np.random.default_rng(draw(seeds, label="seed"))
    n_c = CARRIES[carry_kind][0]
    c_shapes = [draw(st.sampled_from([(), (2,)]), label=f"carry leaf {i} shape") for i in range(n_c)]
    fl = [rng.standard_normal(s) for s in c_shapes]
    xl = [rng.standard_normal(s) for s in XS[xs_kind][0](n)]
    w = float(rng.uniform(0.5, 1.5))
    return SimpleNamespace(make=scan_program(carry_kind, xs_kind, ys_kind, n, reverse), args=(fl, xl, w),
                           rng=rng, n=n, desc=f"{carry_kind}/{xs_kind}/{ys_kind} n={n} reverse={reverse}")


@_n(10)
@given(scan_cases())
def test_scan_values_against_jax(case):
    want = check_values(case.make, case.args, case.desc)
    carry, ys = want
    assert all(np.shape(y)[:1] == (case.n,) for y in jax.tree_util.tree_leaves(ys)), "ys stacked on axis 0"


@_n(8)
@given(scan_cases())
def test_scan_grads_against_jax_and_finite_differences(case):
    want = check_grads_vs_jax(lambda m: loss_of(m, case.make(m)), case.args, (0, 1, 2), case.desc)
    direction = randn_like(case.rng, case.args)
    fd = fd_directional(loss_of(MG, case.make(MG)), case.args, direction)
    np.testing.assert_allclose(dot(want, direction), fd, rtol=1e-5, atol=1e-6, err_msg=case.desc)


@_n(8)
@given(scan_cases())
def test_scan_jvp_against_jax_and_finite_differences(case):
    tangents = randn_like(case.rng, case.args)
    got = mg.jvp(case.make(MG), case.args, tangents)
    want = jax.jvp(case.make(JX), case.args, tangents)
    close(got, want, rtol=1e-10, atol=1e-12, err=case.desc)
    loss = loss_of(MG, case.make(MG))
    _, t = mg.jvp(loss, case.args, tangents)
    np.testing.assert_allclose(float(t), fd_directional(loss, case.args, tangents), rtol=1e-5, atol=1e-6)


@st.composite
def batched_scan_cases(draw):
    case = draw(scan_cases())
    size = draw(st.integers(1, 3), label="batch size")
    axes = [draw(st.sampled_from([None, 0, -1]), label="carry axis"),
            draw(st.sampled_from([None, 0, 1, -1]) if case.args[1] else st.just(None), label="xs axis"),
            draw(st.sampled_from([None, 0]), label="w axis")]
    if all(a is None for a in axes):
        axes[draw(st.sampled_from([0, 2]), label="forced")] = 0

    def batch(a, axis):
        return a if axis is None else np.stack([np.asarray(a) * (1 + 0.1 * k) for k in range(size)], axis=axis)
    fl, xl, w = case.args
    case.args = ([batch(a, axes[0]) for a in fl], [batch(a, axes[1]) for a in xl], batch(w, axes[2]))
    case.in_axes = tuple(axes)
    case.desc += f" in_axes={case.in_axes} size={size}"
    return case


@_n(8)
@given(batched_scan_cases())
def test_scan_vmap_against_jax(case):
    want = jax.vmap(case.make(JX), case.in_axes)(*case.args)
    close(mg.vmap(case.make(MG), case.in_axes)(*case.args), want, err=case.desc)
    close(mg.jit(mg.vmap(case.make(MG), case.in_axes))(*case.args), want, err=case.desc + " jit")


@_n(6)
@given(batched_scan_cases())
def test_scan_vmap_of_grad_against_jax(case):
    want = jax.vmap(jax.grad(loss_of(JX, case.make(JX)), (0, 1, 2)), case.in_axes)(*case.args)
    got = mg.vmap(mg.grad(loss_of(MG, case.make(MG)), (0, 1, 2)), case.in_axes)(*case.args)
    close(got, want, rtol=1e-10, atol=1e-10, err=case.desc)


def test_scan_second_order():
    for reverse in (False, True):
        for kind in ("nested+counter", "tuple"):
            make = scan_program(kind, "dict+int", "dict", 4, reverse)
            rng = np.random.default_rng(0)
            fl, xl = [rng.standard_normal(()), rng.standard_normal(2)], [rng.standard_normal((4, 3))]
            loss = lambda m: lambda w: loss_of(m, make(m))(fl, xl, w)  # noqa: E731
            close(mg.grad(mg.grad(loss(MG)))(0.8), jax.grad(jax.grad(loss(JX)))(0.8), rtol=1e-9, atol=1e-10)
            close(mg.jit(mg.grad(mg.grad(loss(MG))))(0.8), jax.grad(jax.grad(loss(JX)))(0.8), rtol=1e-9, atol=1e-10)
            if reverse and kind == "tuple":  # (slow: JAX and finite differences of every order and mode)
                mg.check_grads(lambda fl, xl, w: loss_of(MG, make(MG))(fl, xl, w), (fl, xl, 0.8), order=2,
                               modes=("rev", "fwd"))


def test_scan_hessian_and_jacrev():
    f = lambda m: lambda x: m.lax.scan(lambda c, xi: (c * m.np.sin(xi) + xi * c ** 2, c * xi), x[0], x[1:])[1]  # noqa: E731
    x = np.linspace(0.1, 0.9, 5)
    close(mg.hessian(lambda x: mnp.sum(f(MG)(x)))(x), jax.hessian(lambda x: jnp.sum(f(JX)(x)))(x), rtol=1e-10)
    close(mg.jacrev(f(MG))(x), jax.jacrev(f(JX))(x), rtol=1e-10)
    close(mg.jacfwd(f(MG))(x), jax.jacfwd(f(JX))(x), rtol=1e-10)


def test_map_against_jax():
    f = lambda m: lambda x: m.lax.map(lambda r: (m.np.sin(r) * r[0], m.np.sum(r ** 2)), x)  # noqa: E731
    x = np.arange(12.).reshape(4, 3) / 10
    check_values(f, (x,))
    check_grads_vs_jax(lambda m: loss_of(m, f(m)), (x,), 0)
    x3 = np.stack([x, -x], axis=2)
    close(mg.vmap(f(MG), 2)(x3), jax.vmap(f(JX), 2)(x3))


# ---------------------------------------------------------------------------------------------------------
# cond and switch

def switch_program(n_branches):
    def make(m):
        branches = [
            lambda x, d: (m.np.sin(x) * d["y"], 1),
            lambda x, d: (x * d["y"] ** 2, 2),
            lambda x, d: (m.np.exp(x) + d["y"], 3),
            lambda x, d: (x * 0.0 + 1.5, 4),  # no dependence on the operands
        ][:n_branches]

        def f(i, x, y):
            out, tag = m.lax.switch(i, branches, x, {"y": y})
            return {"out": out, "tag": tag}
        return f
    return make


def cond_program(m):
    def f(p, x, y):
        return m.lax.cond(p > 0, lambda a, b: (m.np.sin(a) * b, a[0] * b), lambda a, b: (a * b, m.np.cos(b)),
                          x, y)
    return f


@_n(10)
@given(n_branches=st.integers(1, 4), index=st.integers(-2, 6), seed=seeds)
def test_switch_against_jax(n_branches, index, seed):
    rng = np.random.default_rng(seed)
    make = switch_program(n_branches)
    args = (np.int32(index), rng.standard_normal(3), float(rng.standard_normal()))
    check_values(make, args, f"index {index} of {n_branches}")
    check_grads_vs_jax(lambda m: loss_of(m, make(m)), args, (1, 2), f"index {index} of {n_branches}")
    tangents = (rng.standard_normal(3), 1.0)
    close(mg.jvp(lambda x, y: make(MG)(args[0], x, y), args[1:], tangents),
          jax.jvp(lambda x, y: make(JX)(args[0], x, y), args[1:], tangents), rtol=1e-12)


@_n(8)
@given(n_branches=st.integers(1, 4), size=st.integers(1, 5), x_axis=st.sampled_from([None, 0, 1]),
       seed=seeds)
def test_switch_batched_index_against_jax(n_branches, size, x_axis, seed):
    """A batched index (out of range ones clamped) is a select between every branch's results."""
    rng = np.random.default_rng(seed)
    make = switch_program(n_branches)
    idx = rng.integers(-2, n_branches + 2, size).astype(np.int32)
    x = rng.standard_normal(3) if x_axis is None else rng.standard_normal((size, 3) if x_axis == 0 else (3, size))
    args, axes = (idx, x, 0.7), (0, x_axis, None)
    want = jax.vmap(make(JX), axes)(*args)
    close(mg.vmap(make(MG), axes)(*args), want)
    close(mg.jit(mg.vmap(make(MG), axes))(*args), want)
    close(mg.jit(mg.vmap(make(MG), axes), backend="numpy")(*args), want)
    g_axes = (axes[1], None, 0)
    loss = lambda m: lambda x, y, i: loss_of(m, make(m))(i, x, y)  # noqa: E731
    close(mg.vmap(mg.grad(loss(MG), (0, 1)), g_axes)(x, 0.7, idx),
          jax.vmap(jax.grad(loss(JX), (0, 1)), g_axes)(x, 0.7, idx), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("p", [2.0, -1.0, 0.0])
def test_cond_against_jax(p):
    x, y = np.array([0.3, -0.4, 1.1]), 0.7
    check_values(cond_program, (p, x, y))
    check_grads_vs_jax(lambda m: loss_of(m, cond_program(m)), (p, x, y), (1, 2))
    loss = lambda m: lambda x: loss_of(m, cond_program(m))(p, x, y)  # noqa: E731
    close(mg.grad(mg.grad(lambda y: loss_of(MG, cond_program(MG))(p, x, y)))(y),
          jax.grad(jax.grad(lambda y: loss_of(JX, cond_program(JX))(p, x, y)))(y), rtol=1e-10)
    mg.check_grads(loss(MG), (x,), order=2, modes=("rev", "fwd"))
    close(mg.jvp(lambda x, y: cond_program(MG)(p, x, y), (x, y), (x, 1.0)),
          jax.jvp(lambda x, y: cond_program(JX)(p, x, y), (x, y), (x, 1.0)))


@pytest.mark.parametrize("pred", [True, False, 2, 0, np.int32(-1), 1.5, 0.0])
def test_cond_predicate_kinds(pred):
    """As JAX: any nonzero scalar is true."""
    f = lambda m: lambda x: m.lax.cond(pred, lambda x: x + 1.0, lambda x: x - 1.0, x)  # noqa: E731
    check_values(f, (1.0,))


def test_cond_without_operands_and_with_constant_or_int_outputs():
    close(lax.cond(True, lambda: 1.0, lambda: 2.0), jax.lax.cond(True, lambda: 1.0, lambda: 2.0))
    close(lax.switch(7, [lambda x: x * 2.0], 1.0), jax.lax.switch(7, [lambda x: x * 2.0], 1.0))
    f = lambda m: lambda x: m.lax.cond(x > 0, lambda x: (0.0, 1), lambda x: (x * 2, 2), x)  # noqa: E731
    xs = np.array([1.0, -1.0, 0.5])
    for x in xs:
        check_values(f, (x,))
        check_grads_vs_jax(lambda m: lambda x: f(m)(x)[0], (x,), 0)
        close(mg.jvp(f(MG), (x,), (1.0,)), jax.jvp(f(JX), (x,), (1.0,)))
    close(mg.vmap(f(MG))(xs), jax.vmap(f(JX))(xs))
    close(mg.vmap(mg.grad(lambda x: f(MG)(x)[0]))(xs), jax.vmap(jax.grad(lambda x: f(JX)(x)[0]))(xs))


def test_cond_closing_over_outer_values():
    f = lambda m: lambda w, x: m.lax.cond(x > 0, lambda x: x * w, lambda x: m.np.sin(w), x)  # noqa: E731
    for x in (1.0, -1.0):
        check_grads_vs_jax(f, (2.0, x), (0, 1))
    ws, xs = np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0, 2.0])
    for axes in [(0, 0), (0, None), (None, 0)]:
        args = (ws if axes[0] is not None else 2.0, xs if axes[1] is not None else -1.0)
        close(mg.vmap(f(MG), axes)(*args), jax.vmap(f(JX), axes)(*args))
        close(mg.vmap(mg.grad(f(MG), (0, 1)), axes)(*args), jax.vmap(jax.grad(f(JX), (0, 1)), axes)(*args))


@pytest.mark.parametrize("axes", [(0, None, None), (None, 0, None), (None, None, 0), (0, 1, None), (0, -1, 0)])
def test_cond_vmap_against_jax(axes):
    """A batched predicate turns into a select; unbatched, the branches are batched alike."""
    p = np.array([1.0, -1.0, 2.0, -0.5])
    x = np.arange(12.).reshape(4, 3) / 7
    args = (p if axes[0] is not None else 1.0,
            (x if axes[1] == 0 else x.T) if axes[1] is not None else x[0],
            np.linspace(0.5, 1, 4) if axes[2] is not None else 0.7)
    want = jax.vmap(cond_program(JX), axes)(*args)
    close(mg.vmap(cond_program(MG), axes)(*args), want)
    close(mg.jit(mg.vmap(cond_program(MG), axes))(*args), want)
    loss = lambda m: lambda p, x, y: loss_of(m, cond_program(m))(p, x, y)  # noqa: E731
    close(mg.vmap(mg.grad(loss(MG), (1, 2)), axes)(*args), jax.vmap(jax.grad(loss(JX), (1, 2)), axes)(*args),
          rtol=1e-10)
    close(mg.vmap(lambda p, x, y: mg.jvp(lambda x: cond_program(MG)(p, x, y), (x,), (x * 0 + 1,)), axes)(*args),
          jax.vmap(lambda p, x, y: jax.jvp(lambda x: cond_program(JX)(p, x, y), (x,), (x * 0 + 1,)), axes)(*args))
    if axes[0] is not None:  # a batched predicate runs every branch: the jaxpr holds a select, no cond
        j = mg.make_jaxpr(mg.vmap(cond_program(MG), axes))(*args)
        assert "cond" not in prims(j.jaxpr) and "select" in prims(j.jaxpr), j


# ---------------------------------------------------------------------------------------------------------
# while_loop and fori_loop

def while_program(m):
    """Steps until v >= thr or 12 steps: the number of steps depends on the values."""
    def f(x, thr, w):
        def body(c):
            return {"i": c["i"] + 1, "v": c["v"] * 1.3 + 0.1 * w, "acc": (c["acc"][0] + m.np.sin(c["v"]),)}
        out = m.lax.while_loop(lambda c: (c["v"] < thr) & (c["i"] < 12), body,
                               {"i": 0, "v": x, "acc": (x * 0.0,)})
        return out
    return f


@_n(10)
@given(x=st.floats(0.01, 4.0), thr=st.floats(-1.0, 5.0), w=st.floats(0.5, 2.0))
def test_while_against_jax(x, thr, w):
    args = (x, thr, w)
    check_values(while_program, args)
    close(mg.jvp(while_program(MG), args, (1.0, 0.0, 0.5)), jax.jvp(while_program(JX), args, (1.0, 0.0, 0.5)),
          rtol=1e-11)


@_n(6)
@given(size=st.integers(1, 5), seed=seeds, thr_batched=st.booleans())
def test_while_vmap_examples_finishing_at_different_steps(size, seed, thr_batched):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.01, 4.0, size)
    thr = rng.uniform(-1.0, 5.0, size) if thr_batched else 2.0
    axes = (0, 0 if thr_batched else None, None)
    args = (x, thr, 0.9)
    want = jax.vmap(while_program(JX), axes)(*args)
    for name, run in modes(mg.vmap(while_program(MG), axes)).items():
        close(run(*args), want, err=name)
    close(mg.vmap(lambda x, t, w: mg.jvp(lambda x: while_program(MG)(x, t, w), (x,), (1.0,)), axes)(*args),
          jax.vmap(lambda x, t, w: jax.jvp(lambda x: while_program(JX)(x, t, w), (x,), (1.0,)), axes)(*args))


def test_while_vmap_unbatched_predicate_and_nested_vmap():
    # only a body constant is batched: the predicate is the same for every example, no select needed
    f = lambda m: lambda w, x: m.lax.while_loop(  # noqa: E731
        lambda c: c[0] < 4, lambda c: (c[0] + 1, c[1] * w + m.np.sin(c[1])), (0, x))[1]
    close(mg.vmap(f(MG), (0, None))(np.array([1.1, 0.9]), 0.3), jax.vmap(f(JX), (0, None))(np.array([1.1, 0.9]), 0.3))
    j = mg.make_jaxpr(mg.vmap(f(MG), (0, None)))(np.array([1.1, 0.9]), 0.3)
    assert "select" not in str(j), j
    # a batched bound in the predicate, then vmap of vmap at different axes
    g = lambda m: lambda n, x: m.lax.fori_loop(0, n, lambda i, c: c * x + i, 1.0)  # noqa: E731
    n, x = np.array([[1, 3, 0], [2, 5, 4]]), np.array([[1.0, 2, 3], [0.5, -1, 1.5]])
    close(mg.vmap(mg.vmap(g(MG)))(n, x), jax.vmap(jax.vmap(g(JX)))(n, x))
    close(mg.vmap(mg.vmap(g(MG), in_axes=-1), in_axes=1)(n, x), jax.vmap(jax.vmap(g(JX), in_axes=-1), in_axes=1)(n, x))
    close(mg.jit(mg.vmap(mg.vmap(g(MG))))(n, x), jax.vmap(jax.vmap(g(JX)))(n, x))


def test_while_forward_mode_second_order():
    f = lambda m: lambda x: m.lax.while_loop(  # noqa: E731
        lambda c: c[1] < 3.0, lambda c: (c[0] + 1, c[1] * 1.7 + m.np.sin(c[1]) * 0.2), (0, x))[1]
    close(mg.jvp(lambda x: mg.jvp(f(MG), (x,), (1.0,))[1], (0.3,), (1.0,)),
          jax.jvp(lambda x: jax.jvp(f(JX), (x,), (1.0,))[1], (0.3,), (1.0,)))
    x = np.array([0.3, 1.0, 2.5])
    close(mg.jacfwd(mg.jacfwd(lambda x: f(MG)(x[0]) * x))(x), jax.jacfwd(jax.jacfwd(lambda x: f(JX)(x[0]) * x))(x))
    mg.check_grads(lambda x: lax.while_loop(lambda c: c[0] < 4, lambda c: (c[0] + 1, mnp.sin(c[1]) * x), (0, x))[1],
                   (x,), modes=("fwd",))


def fori_program(lo, hi):
    return lambda m: lambda x, w: m.lax.fori_loop(lo, hi, lambda i, c: (m.np.sin(c[0]) * w + i * 0.1, c[1] + c[0]),
                                                  (x, x * 0.0))


@pytest.mark.parametrize("lo,hi", [(0, 0), (0, 1), (2, 7), (5, 2), (np.int32(1), np.int32(4)), (-3, 1)])
def test_fori_loop_static_bounds_against_jax(lo, hi):
    x = np.array([0.2, -0.7])
    check_values(fori_program(lo, hi), (x, 1.1))
    check_grads_vs_jax(lambda m: loss_of(m, fori_program(lo, hi)(m)), (x, 1.1), (0, 1))
    j = mg.make_jaxpr(fori_program(lo, hi)(MG))(x, 1.1)
    assert "scan" in prims(j.jaxpr) and "while" not in prims(j.jaxpr), j


def test_fori_loop_traced_bounds_against_jax():
    f = lambda m: lambda n, x: m.lax.fori_loop(0, n, lambda i, c: m.np.sin(c) * 1.1 + i, x)  # noqa: E731
    x = np.array([0.2, -0.7])
    for n in (0, 1, 4):
        want = jax.jit(f(JX))(n, x)
        close(mg.jit(f(MG))(n, x), want)
        close(mg.jit(f(MG), backend="numpy")(n, x), want)
        close(mg.jit(lambda n, x: mg.jvp(lambda x: f(MG)(n, x), (x,), (x,)))(n, x),
              jax.jit(lambda n, x: jax.jvp(lambda x: f(JX)(n, x), (x,), (x,)))(n, x))
    assert "while" in prims(mg.make_jaxpr(f(MG))(4, x).jaxpr)


# ---------------------------------------------------------------------------------------------------------
# Batching a scan: batched xs, carry or constants only

@pytest.mark.parametrize("axes", [(0, None, None), (None, 0, None), (None, 1, None), (None, None, 0),
                                  (-1, 2, None), (None, -1, 0)])
@pytest.mark.parametrize("reverse", [False, True])
def test_scan_vmap_batched_parts(axes, reverse):
    def f(m):
        def g(c, xs, w):
            return m.lax.scan(lambda c, x: (c * m.np.tanh(x) + w, (c * w, x[0])), c, xs, reverse=reverse)
        return g
    c, xs, w = np.array([0.5, -0.2]), np.arange(6.).reshape(3, 2) / 5, 0.9
    B = 3
    args = (np.stack([c * k for k in (1, 2, 3)], axes[0]) if axes[0] is not None else c,
            np.stack([xs + k for k in range(B)], axes[1]) if axes[1] is not None else xs,
            np.array([0.9, 1.1, 0.3]) if axes[2] is not None else w)
    want = jax.vmap(f(JX), axes)(*args)
    close(mg.vmap(f(MG), axes)(*args), want)
    close(mg.jit(mg.vmap(f(MG), axes))(*args), want)
    close(mg.vmap(mg.grad(loss_of(MG, f(MG)), (0, 1, 2)), axes)(*args),
          jax.vmap(jax.grad(loss_of(JX, f(JX)), (0, 1, 2)), axes)(*args), rtol=1e-10)
    close(mg.grad(lambda *a: mnp.sum(mg.vmap(loss_of(MG, f(MG)), axes)(*a)), (0, 1, 2))(*args),
          jax.grad(lambda *a: jnp.sum(jax.vmap(loss_of(JX, f(JX)), axes)(*a)), (0, 1, 2))(*args), rtol=1e-10)


def test_scan_vmap_constants_only_batched_reach_the_carry():
    f = lambda m: lambda w: m.lax.scan(lambda c, x: (c * w + x, c), 1.0, np.arange(4.))  # noqa: E731
    w = np.array([1.0, 2.0, 0.5])
    close(mg.vmap(f(MG))(w), jax.vmap(f(JX))(w))
    close(mg.vmap(mg.grad(lambda w: mnp.sum(f(MG)(w)[1])))(w), jax.vmap(jax.grad(lambda w: jnp.sum(f(JX)(w)[1])))(w))
    # a constant-only batch that does not reach the carry leaves the carry unbatched inside
    g = lambda m: lambda w: m.lax.scan(lambda c, x: (c * 0.5 + x, c * w), 1.0, np.arange(4.))  # noqa: E731
    close(mg.vmap(g(MG))(w), jax.vmap(g(JX))(w))


# ---------------------------------------------------------------------------------------------------------
# Nesting

def scan_in_scan(m):
    def f(w, xs):
        def outer(c, row):
            c2, ys = m.lax.scan(lambda c2, x: (c2 * w + m.np.sin(x * c), x * c2), c, row)
            return c2 + m.np.sum(ys) * 0.1, ys
        return m.lax.scan(outer, 0.3, xs)
    return f


def cond_in_scan(m):
    def f(w, xs):
        def body(c, x):
            c = m.lax.cond(x > 0.5, lambda c: c * w + x, lambda c: m.np.sin(c) * x, c)
            return c, c * 2
        return m.lax.scan(body, 0.2, xs)
    return f


def scan_in_cond(m):
    def f(w, xs):
        return m.lax.cond(w > 0.85, lambda w, xs: m.lax.scan(lambda c, x: (c * w + x, m.np.sin(c)), 0.1, xs),
                          lambda w, xs: (w, xs * w), w, xs)
    return f


def fori_in_scan(m):
    def f(w, xs):
        def body(c, x):
            c = m.lax.fori_loop(0, 3, lambda i, c: c * w + x * i, c)
            return c, m.np.cos(c)
        return m.lax.scan(body, 0.1, xs, reverse=True)
    return f


def switch_in_scan_in_fori(m):
    def f(w, xs):
        def step(i, c):
            return m.lax.scan(lambda c, x: (m.lax.switch(i, [lambda c: c * w, lambda c: m.np.sin(c) + x,
                                                             lambda c: c + w * x], c), None), c, xs)[0]
        return m.lax.fori_loop(0, 4, step, 0.3)
    return f


NESTED = {"scan in scan": (scan_in_scan, np.linspace(0, 1, 12).reshape(3, 4)),
          "cond in scan": (cond_in_scan, np.linspace(0, 1, 7)),
          "scan in cond": (scan_in_cond, np.linspace(0, 1, 7)),
          "fori in scan": (fori_in_scan, np.linspace(0, 1, 5)),
          "switch in scan in fori": (switch_in_scan_in_fori, np.linspace(0, 1, 4))}


@pytest.mark.parametrize("name", sorted(NESTED))
def test_nested_against_jax(name):
    make, xs = NESTED[name]
    for w in (0.9, 0.8):
        check_values(make, (w, xs), name)
        check_grads_vs_jax(lambda m: loss_of(m, make(m)), (w, xs), (0, 1), name)
        close(mg.grad(mg.grad(lambda w: loss_of(MG, make(MG))(w, xs)))(w),
              jax.grad(jax.grad(lambda w: loss_of(JX, make(JX))(w, xs)))(w), rtol=1e-9, atol=1e-10, err=name)
        close(mg.jvp(make(MG), (w, xs), (1.0, xs)), jax.jvp(make(JX), (w, xs), (1.0, xs)), rtol=1e-11, err=name)
    ws = np.array([0.9, 0.8, 0.5])
    close(mg.vmap(make(MG), (0, None))(ws, xs), jax.vmap(make(JX), (0, None))(ws, xs), err=name)
    close(mg.jit(mg.vmap(make(MG), (None, 0)))(0.9, np.stack([xs, xs[::-1]])),
          jax.vmap(make(JX), (None, 0))(0.9, np.stack([xs, xs[::-1]])), err=name)
    close(mg.vmap(mg.grad(loss_of(MG, make(MG)), (0, 1)), (0, None))(ws, xs),
          jax.vmap(jax.grad(loss_of(JX, make(JX)), (0, 1)), (0, None))(ws, xs), rtol=1e-10, atol=1e-10, err=name)


def test_scan_under_vmap_jvp_and_grad_of_grad():
    f = lambda m: lambda w, xs: m.lax.scan(  # noqa: E731
        lambda c, x: (m.np.tanh(c * w + x), c * x), 0.2, xs)
    xs, ws = np.linspace(-1, 1, 6), np.array([0.5, 1.0, 1.5])
    loss = lambda m: lambda w, xs: loss_of(m, f(m))(w, xs)  # noqa: E731
    # vmap of jvp, jvp of vmap
    close(mg.vmap(lambda w: mg.jvp(lambda w: f(MG)(w, xs), (w,), (1.0,)))(ws),
          jax.vmap(lambda w: jax.jvp(lambda w: f(JX)(w, xs), (w,), (1.0,)))(ws))
    close(mg.jvp(lambda ws: mg.vmap(f(MG), (0, None))(ws, xs), (ws,), (np.ones(3),)),
          jax.jvp(lambda ws: jax.vmap(f(JX), (0, None))(ws, xs), (ws,), (np.ones(3),)))
    # vmap of grad of grad, grad of grad of vmap
    close(mg.vmap(mg.grad(mg.grad(loss(MG))), (0, None))(ws, xs),
          jax.vmap(jax.grad(jax.grad(loss(JX))), (0, None))(ws, xs), rtol=1e-9)
    close(mg.grad(mg.grad(lambda w: mnp.sum(mg.vmap(loss(MG), (None, 0))(w, np.stack([xs, -xs])))))(0.7),
          jax.grad(jax.grad(lambda w: jnp.sum(jax.vmap(loss(JX), (None, 0))(w, np.stack([xs, -xs])))))(0.7),
          rtol=1e-9)


def test_while_in_scan_under_vmap():
    def f(m):
        def g(xs):
            def body(c, x):
                n, v = m.lax.while_loop(lambda s: s[1] < x, lambda s: (s[0] + 1, s[1] * 2.0 + 0.1), (0, c))
                return v * 0.1, n
            return m.lax.scan(body, 0.01, xs)
        return g
    xs1 = np.linspace(0, 1, 7)
    X = np.stack([xs1 * 3, xs1[::-1] * 5, xs1 * 0 + 1])
    want = jax.vmap(f(JX))(X)
    for name, run in modes(mg.vmap(f(MG))).items():
        close(run(X), want, err=name)
    close(mg.vmap(lambda x: mg.jvp(f(MG), (x,), (x,)))(X), jax.vmap(lambda x: jax.jvp(f(JX), (x,), (x,)))(X))


def test_jit_of_vmap_of_cond():
    f = lambda m: lambda p, x: m.lax.cond(p, lambda x: (m.np.sum(x), 1), lambda x: (m.np.prod(x), 2), x)  # noqa: E731
    P, X = np.array([True, False, True]), np.arange(6.).reshape(2, 3) + 1
    for axes, args in [((0, -1), (P, X)), ((0, None), (P, X[:, 0])), ((None, 1), (True, X))]:
        want = jax.vmap(f(JX), axes)(*args)
        for name, run in modes(mg.vmap(f(MG), axes)).items():
            close(run(*args), want, err=f"{axes} {name}")


# ---------------------------------------------------------------------------------------------------------
# Eager grad (value-carrying tracers, no jit) against the same loop written in Python

def _scan_body(c, x):
    a, b = c
    return (a * mnp.sin(x) + b * 0.3, mnp.tanh(b + a * x)), a * b + x


@pytest.mark.parametrize("reverse", [False, True])
def test_eager_grad_of_scan_equals_python_loop(reverse):
    def with_scan(a, b, xs):
        (a, b), ys = lax.scan(_scan_body, (a, b), xs, reverse=reverse)
        return a + 2 * b + mnp.sum(ys * mnp.arange(1.0, 1.0 + len(xs)))

    def unrolled(a, b, xs):
        ys = [None] * len(xs)
        for i in (range(len(xs) - 1, -1, -1) if reverse else range(len(xs))):
            (a, b), ys[i] = _scan_body((a, b), xs[i])
        return a + 2 * b + sum(y * (i + 1.0) for i, y in enumerate(ys))
    args = (0.4, -0.3, np.linspace(-1, 1, 6))
    close(with_scan(*args), unrolled(*args))
    close(mg.grad(with_scan, (0, 1, 2))(*args), mg.grad(unrolled, (0, 1, 2))(*args))
    close(mg.grad(mg.grad(with_scan))(*args), mg.grad(mg.grad(unrolled))(*args))


def test_eager_grad_of_fori_loop_equals_python_loop():
    body = lambda i, c: (c[0] * mnp.cos(c[1]) + i * 0.1, c[1] * c[0])  # noqa: E731

    def with_fori(x, y):
        return mnp.sum(lax.fori_loop(2, 6, body, (x, y))[0])

    def unrolled(x, y):
        c = (x, y)
        for i in range(2, 6):
            c = body(np.int64(i), c)
        return mnp.sum(c[0])
    args = (np.array([0.3, 0.5]), np.array([-0.2, 0.1]))
    close(with_fori(*args), unrolled(*args))
    close(mg.grad(with_fori, (0, 1))(*args), mg.grad(unrolled, (0, 1))(*args))
    close(mg.value_and_grad(with_fori)(*args), mg.value_and_grad(unrolled)(*args))


def test_eager_results_own_their_memory():
    a = np.ones(3)
    for f in [lambda a: lax.scan(lambda c, x: (c, x), a, np.zeros((0,)))[0],
              lambda a: lax.scan(lambda c, x: (c, x), 0.0, a)[1],
              lambda a: lax.cond(True, lambda x: x, lambda x: x * 2, a),
              lambda a: lax.while_loop(lambda c: False, lambda c: c, a),
              lambda a: lax.fori_loop(0, 0, lambda i, c: c, a)]:
        for run in (f, mg.jit(f, backend="numpy"), lambda a, f=f: mg.vjp(f, a)[0]):
            assert not np.shares_memory(np.asarray(run(a)), a)


# ---------------------------------------------------------------------------------------------------------
# The IR

def _long_scan(n):
    return lambda c, w: lax.scan(lambda c, x: (c * w + mnp.sin(x), c * x), c, mnp.arange(float(n)))


def test_a_long_scan_is_one_equation_with_a_small_body():
    short = mg.make_jaxpr(_long_scan(10))(1.0, 0.5)
    long = mg.make_jaxpr(_long_scan(10_000))(1.0, 0.5)
    scans = [e for e in long.jaxpr.eqns if e.prim.name == "scan"]
    assert len(scans) == 1 and scans[0].params["length"] == 10_000, long
    assert len(scans[0].params["jaxpr"].eqns) <= 5, long
    assert count_eqns(short.jaxpr) == count_eqns(long.jaxpr)
    mg.typecheck(long.jaxpr)
    text = str(long)
    assert "scan[" in text and "jaxpr={ lambda" in text and "length=10000" in text, text
    body_line = next(ln for ln in text.splitlines() if "= sin" in ln)
    scan_line = next(ln for ln in text.splitlines() if "= scan[" in ln)
    assert len(body_line) - len(body_line.lstrip()) > len(scan_line) - len(scan_line.lstrip()), text
    # the same for the gradient: a forward and a backward scan, whatever the length
    g_short = mg.make_jaxpr(mg.grad(lambda c, w: mnp.sum(_long_scan(10)(c, w)[1]), (0, 1)))(1.0, 0.5)
    g_long = mg.make_jaxpr(mg.grad(lambda c, w: mnp.sum(_long_scan(10_000)(c, w)[1]), (0, 1)))(1.0, 0.5)
    assert count_eqns(g_short.jaxpr) == count_eqns(g_long.jaxpr) < 40
    assert prims(g_long.jaxpr).count("scan") == 2
    mg.typecheck(g_long.jaxpr)


def test_typecheck_passes_on_control_flow_after_every_transform():
    x = np.linspace(0.1, 1, 4)
    programs = [lambda x: loss_of(MG, scan_in_scan(MG))(x[0], x.reshape(2, 2)),
                lambda x: loss_of(MG, cond_in_scan(MG))(x[0], x),
                lambda x: loss_of(MG, scan_in_cond(MG))(x[0], x),
                lambda x: loss_of(MG, fori_program(0, 3)(MG))(x, 1.1),
                lambda x: loss_of(MG, switch_in_scan_in_fori(MG))(x[0], x)]
    for f in programs:
        for t in [f, mg.grad(f), mg.hessian(f), lambda x, f=f: mg.jvp(f, (x,), (x,)), mg.jit(mg.grad(f))]:
            mg.typecheck(mg.make_jaxpr(t)(x).jaxpr)
        for t in [mg.vmap(f), mg.vmap(mg.grad(f))]:
            mg.typecheck(mg.make_jaxpr(t)(np.stack([x, x * 2])).jaxpr)
    w = while_program(MG)
    mg.typecheck(mg.make_jaxpr(w)(0.5, 2.0, 0.9).jaxpr)
    mg.typecheck(mg.make_jaxpr(mg.vmap(w, (0, 0, None)))(np.array([0.5, 1.0]), np.array([2.0, 3.0]), 0.9).jaxpr)
    mg.typecheck(mg.make_jaxpr(lambda x: mg.jvp(lambda x: w(x, 2.0, 0.9), (x,), (x,)))(0.5).jaxpr)


def test_typecheck_catches_a_body_that_changes_the_carry_type():
    good = mg.make_jaxpr(lambda c: lax.scan(lambda c, x: (c * x, None), c, np.ones(3))[0])(1.0)
    other = mg.make_jaxpr(lambda c: lax.scan(lambda c, x: (c * x, None), c, np.ones((3, 2), np.float32))[0])(
        np.ones(2, np.float32))
    eqn = next(e for e in good.jaxpr.eqns if e.prim.name == "scan")
    body = next(e for e in other.jaxpr.eqns if e.prim.name == "scan").params["jaxpr"]
    bad = mg.Jaxpr(good.jaxpr.constvars, good.jaxpr.invars, good.jaxpr.outvars,
                   [eqn.replace(params=dict(eqn.params, jaxpr=body)) if e is eqn else e for e in good.jaxpr.eqns])
    with pytest.raises(JaxprTypeError, match="carry|constant"):
        mg.typecheck(bad)


def test_subjaxprs_finds_every_body():
    j = mg.make_jaxpr(lambda x: (lax.scan(lambda c, x: (c + x, None), 0.0, x)[0],
                                 lax.switch(1, [lambda x: x, lambda x: -x, lambda x: x * 2], x),
                                 lax.while_loop(lambda c: c < 3.0, lambda c: c + 1.0, x[0])))(np.ones(2))
    found = {e.prim.name: sorted(k for k, _ in subjaxprs(e)) for e in j.jaxpr.eqns
             if e.prim.name in ("scan", "cond", "while")}
    assert found == {"scan": ["jaxpr"], "cond": ["branches"] * 3, "while": ["body_jaxpr", "cond_jaxpr"]}, found


def _body_prims(j, name="scan"):
    eqn = next(e for e in j.jaxpr.eqns if e.prim.name == name)
    return eqn, prims(eqn.params["jaxpr"])


def test_dce_drops_unused_ys_and_carries():
    def body(c, x):
        a, b = c
        return (a * mnp.sin(x) + 1.0, b * 1.1), (mnp.cos(x) * a, mnp.exp(b))
    j = mg.make_jaxpr(lambda xs: lax.scan(body, (1.0, 2.0), xs)[0][0])(np.ones(5))
    eqn, ps = _body_prims(j)
    assert eqn.params["num_carry"] == 1 and len(eqn.outvars) == 1, j  # b: unused, and a does not read it
    assert "cos" not in ps and "exp" not in ps, j
    # a carry nothing returns is kept while a kept value reads it
    j = mg.make_jaxpr(lambda xs: lax.scan(lambda c, x: ((c[0] + c[1], c[1] * x), None), (1.0, 2.0), xs)[0][0])(
        np.ones(5))
    eqn, _ = _body_prims(j)
    assert eqn.params["num_carry"] == 2, j
    # only the ys used
    j = mg.make_jaxpr(lambda xs: lax.scan(body, (1.0, 2.0), xs)[1][0])(np.ones(5))
    eqn, ps = _body_prims(j)
    assert "exp" not in ps and "cos" in ps and eqn.params["num_carry"] == 1, j
    # an unused xs and an unused constant are dropped from the operands
    w = np.arange(3.0)
    j = mg.make_jaxpr(lambda xs, zs, v: lax.scan(lambda c, x: (c + x[0], (c * v, x[1])), 0.0, (xs, zs))[0])(
        np.ones(4), np.ones(4), w)
    eqn, _ = _body_prims(j)
    assert len(eqn.invars) == 2 and eqn.params["num_consts"] == 0, j
    # cond: an output nothing reads is computed by no branch
    j = mg.make_jaxpr(lambda p, x: lax.cond(p, lambda x: (x * 2, mnp.sin(x)), lambda x: (x, mnp.exp(x)), x)[0])(
        True, 1.0)
    eqn = next(e for e in j.jaxpr.eqns if e.prim.name == "cond")
    assert len(eqn.outvars) == 1 and not {"sin", "exp"} & {p for b in eqn.params["branches"] for p in prims(b)}, j
    mg.typecheck(j.jaxpr)


# ---------------------------------------------------------------------------------------------------------
# Errors

@pytest.mark.parametrize("jit", [False, True])
def test_carry_changing_type_is_an_error_naming_the_carry(jit):
    wrap = mg.jit if jit else (lambda f: f)
    cases = [
        (lambda xs: lax.scan(lambda c, x: (c + x, None), 0, xs), "carry has type f64.*i64"),
        (lambda xs: lax.scan(lambda c, x: (c * x, None), 1.0, xs.reshape(3, 1) * np.ones(2)), r"f64\[2\].*f64\[\]"),
        (lambda xs: lax.scan(lambda c, x: ({"a": c["a"] * x, "b": c["b"] + 0.5}, None), {"a": 1.0, "b": 1}, xs),
         r"carry\['b'\]"),
        (lambda xs: lax.while_loop(lambda c: c < 3, lambda c: c + 1.5, 0), "init_val has type f64"),
        (lambda xs: lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, mnp.concatenate([c[1], c[1]])),
                                   (0, xs)), r"init_val\[1\].*f64\[6\].*f64\[3\]"),
        (lambda xs: lax.fori_loop(0, 3, lambda i, c: c + 0.5, 0), "carry.*f64.*i64"),
        (lambda xs: lax.scan(lambda c, x: ((c, c), None), 0.0, xs), "structure|PyTreeSpec"),
    ]
    for f, match in cases:
        with pytest.raises(JaxprTypeError, match=match):
            wrap(f)(np.ones(3))


def test_branch_outputs_of_different_types():
    with pytest.raises(JaxprTypeError, match="branch 1.*f32.*f64"):
        lax.cond(True, lambda x: x.astype(np.float32), lambda x: x, 1.0)
    with pytest.raises(JaxprTypeError, match=r"f64\[2\]"):
        lax.cond(True, lambda x: x, lambda x: mnp.stack([x, x]), 1.0)
    with pytest.raises(JaxprTypeError, match="branch 1"):
        mg.jit(lambda p: lax.cond(p, lambda x: (x, x), lambda x: x, 1.0))(True)
    with pytest.raises(JaxprTypeError, match="branch 2"):
        lax.switch(0, [lambda: 1.0, lambda: 2.0, lambda: 3], )


def test_cond_and_switch_need_scalar_predicates():
    for p in (np.array([True, False]), np.zeros((1,))):
        with pytest.raises(mg.DTypeError, match="scalar"):
            lax.cond(p, lambda x: x, lambda x: -x, 1.0)
        with pytest.raises(mg.DTypeError, match="scalar"):
            mg.jit(lambda p: lax.cond(p, lambda x: x, lambda x: -x, 1.0))(p)
    with pytest.raises(mg.DTypeError, match="integer"):
        lax.switch(1.0, [lambda: 1.0, lambda: 2.0])
    with pytest.raises(ValueError):
        lax.switch(0, [])


def test_scan_xs_errors():
    with pytest.raises(JaxprTypeError, match=r"differ: \[3, 4\]"):
        lax.scan(lambda c, x: (c, None), 0.0, (np.ones(3), np.ones(4)))
    with pytest.raises(JaxprTypeError, match=r"differ: \[3, 4\]"):
        lax.scan(lambda c, x: (c, None), 0.0, np.ones(3), length=4)
    with pytest.raises(JaxprTypeError, match="leading axis"):
        lax.scan(lambda c, x: (c, None), 0.0, 1.0)
    with pytest.raises(JaxprTypeError, match="no xs to scan over and no length="):
        lax.scan(lambda c, x: (c, None), 0.0)
    with pytest.raises(JaxprTypeError, match="pair"):
        lax.scan(lambda c, x: c, 0.0, np.ones(3))


def test_while_cond_fun_must_return_a_bool_scalar():
    with pytest.raises(JaxprTypeError, match="bool scalar.*int64"):
        lax.while_loop(lambda c: c, lambda c: c - 1, 3)
    with pytest.raises(JaxprTypeError, match=r"bool scalar.*\(2,\)"):
        lax.while_loop(lambda c: c < 3, lambda c: c + 1, np.zeros(2))
    with pytest.raises(JaxprTypeError, match="bool scalar"):
        mg.jit(lambda x: lax.while_loop(lambda c: c * 1.0, lambda c: c - 1.0, x))(3.0)


def _while_double(x):
    return lax.while_loop(lambda c: c < 3.0, lambda c: c * 2.0, x)


@pytest.mark.parametrize("how", ["grad", "grad(jit)", "jit(grad)", "grad in scan"])
def test_reverse_mode_through_while_loop_is_refused_pointing_to_scan(how):
    f = {"grad": mg.grad(_while_double), "grad(jit)": mg.grad(mg.jit(_while_double)),
         "jit(grad)": mg.jit(mg.grad(_while_double)),
         "grad in scan": mg.grad(lambda x: lax.scan(lambda c, _: (_while_double(c), None), x, None, length=2)[0])}[how]
    with pytest.raises(mg.MissingRuleError, match="while_loop") as e:
        f(1.0)
    assert "lax.scan" in str(e.value) and "fori_loop" in str(e.value)


def test_fori_loop_with_traced_bounds_under_grad_is_refused_and_static_bounds_work():
    body = lambda i, c: c * mnp.sin(c) + 0.1  # noqa: E731
    for g in (mg.grad(mg.jit(lambda x, n: lax.fori_loop(0, n, body, x))),
              mg.jit(mg.grad(lambda x, n: lax.fori_loop(0, n, body, x)))):
        with pytest.raises(mg.MissingRuleError, match="scan"):
            g(1.0, 3)
    want = jax.grad(lambda x: jax.lax.fori_loop(0, 3, lambda i, c: c * jnp.sin(c) + 0.1, x))(1.0)
    close(mg.grad(lambda x: lax.fori_loop(0, 3, body, x))(1.0), want)
    close(mg.grad(mg.jit(lambda x: lax.fori_loop(0, 3, body, x)))(1.0), want)
    close(mg.grad(lambda x, n: lax.fori_loop(0, n, body, x))(1.0, 3), want)  # a concrete n is static


def test_grad_through_a_while_loop_no_cotangent_flows_through():
    """As JAX: reverse mode fails only where a cotangent must flow back through the loop; here only the
    loop's integer count (no cotangent) is used."""
    f = lambda m: lambda x: x * m.lax.while_loop(lambda c: c[1] > 1.0, lambda c: (c[0] + 1, c[1] / 2), (0, x))[0]  # noqa: E731
    for x in (5.0, 0.5, 100.0):
        check_grads_vs_jax(f, (x,), 0)


def test_grad_through_a_while_loop_under_stop_gradient():
    f = lambda m, sg: lambda x: x * m.lax.while_loop(lambda c: c < 3.0, lambda c: c * 2.0, sg(x))  # noqa: E731
    close(mg.grad(f(MG, mnp.stop_gradient))(1.0), jax.grad(f(JX, jax.lax.stop_gradient))(1.0))


def test_fori_loop_python_int_bounds_take_the_other_bounds_dtype():
    # JAX's weak typing: a Python int bound takes the dtype of the other bound
    for lo, hi in ((np.int32(0), 4), (0, np.int32(4))):
        got = lax.fori_loop(lo, hi, lambda i, c: c + i, np.int32(0))
        assert np.asarray(got).dtype == np.int32 and int(got) == 6
