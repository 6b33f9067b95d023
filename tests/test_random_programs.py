"""Random programs (tests/programs.py), cross-checked end to end.

Each example is a random DAG of 5-30 numpy-style operations (see `programs.programs`), written once against
an array module and run with minigrad_fn.numpy, jax.numpy and numpy:

1. `mg.grad` against `jax.grad` (compiled by `jax.jit`) of the same program written with `jax.numpy`, in the
   inputs' dtypes (float64: rtol 1e-7), forward values against JAX and numpy;
2. `mg.check_grads`, the project's own checker (JAX differentiating our lowered IR, finite differences);
3. `mg.jit` (XLA) == `mg.jit(backend="numpy")` == eager, for programs returning several outputs, and
   `mg.jit(mg.grad(f))` == `mg.grad(f)`;
4. forward mode: `mg.jvp` of all outputs along a random tangent per input against `jax.jvp` (primals and
   tangents), `mg.linearize` against `mg.jvp`, and `mg.check_grads(..., modes=("fwd",))`;
5. batching (`programs.batched_programs`: 2-3 examples, in_axes among None, 0, -1 and a middle axis, at
   least one input mapped, out_axes 0, -1 or a prefix): `mg.vmap` of all outputs against a Python loop over
   the examples (and, for a third of them, against `jax.vmap`), `mg.jit(mg.vmap(f))` on XLA against the
   eager vmap; per-example gradients `mg.vmap(mg.grad(loss))` against a loop of `mg.grad` (a third also
   against `jax.vmap(jax.grad)`, a third under `mg.jit`).

`test_checker_catches_*` show the checks can fail: a VJP rule, a JVP rule or a batching rule made wrong by
1%, or a lowering to XLA made wrong by 1%, is caught (on a program the strategy generates that uses the
primitive).

Examples: `RANDOM_PROGRAM_EXAMPLES` (300 under the default "ci" hypothesis profile, 12x that under
`--slow` / HYPOTHESIS_PROFILE=slow, or the environment variable of that name: 6100 gives ~10,000 programs
over all checks, fresh ones each run) times each check's share in `_SHARE`. Under "ci" the examples are
derandomized (the same every run) and no example database is used, so CI is reproducible; a failure prints
the program as Python code (`repr(program)`, with the batching code for vmap checks), to paste into a
`test_regression_*` test below.
"""
from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

import minigrad_fn as mg
import minigrad_fn.lax as lax
import minigrad_fn.numpy as mnp
import minigrad_fn.primitives as P
from tracing import aval_of
from programs import BatchedProgram, FunctionProgram, Program, batched_programs, programs

_PROFILE_EXAMPLES = settings.default.max_examples          # 40 under "ci", 500 under "slow"
_SCALE = max(1, _PROFILE_EXAMPLES // 40)
_ASKED = os.environ.get("RANDOM_PROGRAM_EXAMPLES")         # a long run outside CI sets it (fresh examples)
RANDOM_PROGRAM_EXAMPLES = int(_ASKED) if _ASKED else 300 * _SCALE  # times each check's share below
_SHARE = {"jax": 0.5, "check_grads": 0.25, "jit": 0.25, "passes": 0.25,
          "jvp": 0.15, "vmap": 0.15, "vmap_grad": 0.1}


def _settings(check):
    return settings(max_examples=int(RANDOM_PROGRAM_EXAMPLES * _SHARE[check]), deadline=None,
                    derandomize=_SCALE == 1 and not _ASKED, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# =========================================================================================================
# The checks (plain functions: the regression tests and the sanity tests call them too)
# =========================================================================================================

def _tol(dtype):
    """(rtol, atol relative to the largest reference magnitude) for comparing with JAX."""
    return (1e-7, 1e-7) if np.dtype(dtype) == np.float64 else (2e-4, 2e-4)


def _precision(xs):
    """float32 when any input is float32 (its rounding reaches float64 results too), else float64."""
    return np.float32 if any(np.asarray(x).dtype == np.float32 for x in xs) else np.float64


def assert_close(ours, ref, dtype, what):
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape, f"{what}: shapes {ours.shape} vs {ref.shape}"
    rtol, atol = _tol(dtype)
    scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
    np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol * scale, err_msg=what)


def _mg_fun(program: Program):
    return lambda *a: program.run(mnp, *a)


def check_against_jax(program: Program, inputs=None):
    """mg.grad (and the value) of the program against jax.grad of its jax.numpy spelling, and numpy."""
    xs = program.make_inputs() if inputs is None else inputs
    nums = program.argnums
    value, grads = mg.value_and_grad(_mg_fun(program), argnums=nums)(*xs)
    jfun = jax.jit(jax.value_and_grad(lambda *a: program.run(jnp, *a), argnums=nums))
    jvalue, jgrads = jfun(*[jnp.asarray(x) for x in xs])
    npvalue = program.run(np, *xs)
    vdt = np.asarray(npvalue).dtype
    assert np.asarray(value).dtype == vdt == np.asarray(jvalue).dtype, \
        f"loss dtype: ours {np.asarray(value).dtype}, numpy {vdt}, jax {np.asarray(jvalue).dtype}"
    prec = _precision(xs)
    assert_close(value, npvalue, prec, "forward value differs from numpy")
    assert_close(value, jvalue, prec, "forward value differs from JAX")
    for i, x, g, jg in zip(nums, xs, grads, jgrads):
        assert isinstance(g, np.ndarray), f"gradient {i} is a {type(g).__name__}"
        assert g.shape == x.shape and g.dtype == x.dtype, \
            f"gradient {i}: {g.shape} {g.dtype}, argument {x.shape} {x.dtype}"
        assert np.asarray(jg).dtype == x.dtype
        assert_close(g, jg, prec, f"gradient w.r.t. x{i} differs from jax.grad")


def check_with_check_grads(program: Program, inputs=None):
    xs = program.make_inputs() if inputs is None else inputs
    mg.check_grads(_mg_fun(program), xs)  # default tolerances: they follow the least precise float inside


def _exact_dtype_shape(a, b, what):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype, f"{what}: {a.shape} {a.dtype} vs {b.shape} {b.dtype}"


def _jit_tol(dtype):
    # XLA's exp/log/tanh and its fused reductions differ from numpy's in the last bits
    return (1e-10, 1e-10) if np.dtype(dtype) == np.float64 else (1e-4, 1e-4)


def _assert_jit_close(a, b, prec, what):
    a, b = np.asarray(a), np.asarray(b)
    _exact_dtype_shape(a, b, what)
    rtol, atol = _jit_tol(prec)
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol * scale, err_msg=what)


def check_jit(program: Program, inputs=None):
    """jit(XLA) == jit(numpy) == eager for all outputs; jit(grad(f)) == grad(f)."""
    xs = program.make_inputs() if inputs is None else inputs
    prec = _precision(xs)

    def f(*a):
        return program.run_all(mnp, *a)

    eager_loss, eager_outs = f(*xs)
    for backend in ("numpy", "xla"):
        loss, outs = mg.jit(f, backend=backend)(*xs)
        assert len(outs) == len(eager_outs)
        for k, (o, e) in enumerate(zip((loss,) + tuple(outs), (eager_loss,) + tuple(eager_outs))):
            what = f"jit(backend={backend!r}) output {k} vs eager"
            if backend == "numpy":
                assert isinstance(o, np.ndarray) or np.isscalar(o), f"{what}: a {type(o).__name__}"
            _assert_jit_close(o, e, prec, what)
    g = mg.grad(_mg_fun(program), argnums=program.argnums)
    eager_grads = g(*xs)
    for backend in ("numpy", "xla"):
        jit_grads = mg.jit(g, backend=backend)(*xs)
        for i, (a, b) in enumerate(zip(jit_grads, eager_grads)):
            _assert_jit_close(a, b, prec, f"jit(grad(f), backend={backend!r}) w.r.t. x{i} vs grad(f)")


def _tangents(program, xs):
    """A random tangent per input (standard normal, in the input's dtype), seeded by the program."""
    rng = np.random.default_rng(getattr(program, "seed", 0) + 1)
    return tuple(rng.standard_normal(np.shape(x)).astype(np.asarray(x).dtype) for x in xs)


def _leaves(tree):
    return jax.tree_util.tree_leaves(tree)


def check_jvp(program: Program, inputs=None, tangents=None):
    """mg.jvp of all the program's outputs against jax.jvp (compiled) of its jax.numpy spelling, along a
    random tangent per input: primals and tangents, dtypes included; the primals also against eager, and
    mg.linearize's tangents against mg.jvp's."""
    xs = program.make_inputs() if inputs is None else inputs
    ts = _tangents(program, xs) if tangents is None else tangents
    prec = _precision(xs)

    def f(*a):
        return program.run_all(mnp, *a)

    out, tout = mg.jvp(f, xs, ts)
    jfun = jax.jit(lambda p, t: jax.jvp(lambda *a: program.run_all(jnp, *a), p, t))
    jout, jtout = jfun(tuple(jnp.asarray(x) for x in xs), tuple(jnp.asarray(t) for t in ts))
    eager = _leaves(f(*xs))
    out, tout, jout, jtout = _leaves(out), _leaves(tout), _leaves(jout), _leaves(jtout)
    assert len(out) == len(tout) == len(jout) == len(jtout) == len(eager)
    for k, (o, t, e, jo, jt) in enumerate(zip(out, tout, eager, jout, jtout)):
        o, t = np.asarray(o), np.asarray(t)
        _exact_dtype_shape(o, e, f"jvp: primal output {k} vs eager")
        _exact_dtype_shape(t, o, f"jvp: tangent of output {k} vs its primal")
        assert np.asarray(jt).dtype == t.dtype, f"jvp: tangent of output {k}: {t.dtype}, jax.jvp {jt.dtype}"
        _assert_jit_close(o, e, prec, f"jvp: primal output {k} vs eager")
        assert_close(o, jo, prec, f"jvp: primal output {k} differs from jax.jvp")
        assert_close(t, jt, prec, f"jvp: tangent of output {k} differs from jax.jvp")
    lin_out, f_jvp = mg.linearize(f, *xs)
    for k, (a, b) in enumerate(zip(_leaves(f_jvp(*ts)), tout)):
        _assert_jit_close(a, b, prec, f"linearize: tangent of output {k} vs jvp")
    for k, (a, b) in enumerate(zip(_leaves(lin_out), out)):
        _assert_jit_close(a, b, prec, f"linearize: primal output {k} vs jvp")


def check_with_check_grads_fwd(program: Program, inputs=None):
    """mg.check_grads in forward mode, on all the program's outputs (jax.jvp of our lowered IR, finite
    differences)."""
    xs = program.make_inputs() if inputs is None else inputs
    mg.check_grads(lambda *a: program.run_all(mnp, *a), xs, modes=("fwd",))


def _stacked(results, axes, what):
    """Per-example results (each a list of leaves) stacked along each leaf's output axis."""
    assert all(len(r) == len(axes) for r in results), f"{what}: output counts differ"
    return [np.stack([np.asarray(r[k]) for r in results], axis=ax) for k, ax in enumerate(axes)]


def check_vmap(case: BatchedProgram, with_jax=True, with_jit=True):
    """mg.vmap of all the program's outputs against a loop over the examples of the unbatched program
    (eager), against jax.vmap (compiled) of its jax.numpy spelling (with_jax), and mg.jit(mg.vmap(f)) on
    XLA against the eager vmap (with_jit)."""
    program = case.program
    xs = case.make_inputs()
    prec = _precision(xs)

    def f(*a):
        return program.run_all(mnp, *a)

    got = _leaves(mg.vmap(f, in_axes=case.in_axes, out_axes=case.out_axes)(*xs))
    loop = [_leaves(f(*ex)) for ex in case.examples(xs)]
    want = _stacked(loop, case.out_axis_per_leaf(len(loop[0]) - 1), "vmap")
    assert len(got) == len(want), f"vmap: {len(got)} outputs, the loop {len(want)}"
    for k, (a, b) in enumerate(zip(got, want)):
        _assert_jit_close(a, b, prec, f"vmap: output {k} vs a loop over the examples")
    if with_jax:
        jfun = jax.jit(jax.vmap(lambda *a: program.run_all(jnp, *a), in_axes=case.in_axes,
                                out_axes=case.out_axes))
        for k, (a, b) in enumerate(zip(got, _leaves(jfun(*[jnp.asarray(x) for x in xs])))):
            _exact_dtype_shape(a, b, f"vmap: output {k} vs jax.vmap")
            assert_close(a, b, prec, f"vmap: output {k} differs from jax.vmap")
    if with_jit:
        jitted = _leaves(mg.jit(mg.vmap(f, in_axes=case.in_axes, out_axes=case.out_axes))(*xs))
        for k, (a, b) in enumerate(zip(jitted, got)):
            _assert_jit_close(a, b, prec, f"jit(vmap(f)) (backend='xla') output {k} vs eager vmap")


def check_vmap_grad(case: BatchedProgram, with_jax=True, with_jit=True):
    """Per-example gradients: mg.vmap(mg.grad(loss)) against a loop of mg.grad over the examples, against
    jax.vmap(jax.grad) (with_jax), and mg.jit of it on XLA against the eager one (with_jit)."""
    program = case.program
    xs = case.make_inputs()
    prec = _precision(xs)
    nums = program.argnums
    g = mg.grad(_mg_fun(program), argnums=nums)
    got = list(mg.vmap(g, in_axes=case.in_axes)(*xs))
    want = _stacked([list(g(*ex)) for ex in case.examples(xs)], [0] * len(nums), "vmap(grad)")
    assert len(got) == len(want)
    for i, (a, b) in enumerate(zip(got, want)):
        _assert_jit_close(a, b, prec, f"vmap(grad): gradient w.r.t. x{i} vs a loop of grad over the examples")
    if with_jax:
        jfun = jax.jit(jax.vmap(jax.grad(lambda *a: program.run(jnp, *a), argnums=nums), in_axes=case.in_axes))
        for i, (a, b) in enumerate(zip(got, jfun(*[jnp.asarray(x) for x in xs]))):
            _exact_dtype_shape(a, b, f"vmap(grad): gradient w.r.t. x{i} vs jax.vmap(jax.grad)")
            assert_close(a, b, prec, f"vmap(grad): gradient w.r.t. x{i} differs from jax.vmap(jax.grad)")
    if with_jit:
        jitted = mg.jit(mg.vmap(g, in_axes=case.in_axes))(*xs)
        for i, (a, b) in enumerate(zip(jitted, got)):
            _assert_jit_close(a, b, prec, f"jit(vmap(grad)) (backend='xla') w.r.t. x{i} vs eager vmap(grad)")


# =========================================================================================================
# The property tests
# =========================================================================================================

@_settings("jax")
@given(programs())
def test_grad_matches_jax(program):
    check_against_jax(program)


@_settings("check_grads")
@given(programs())
def test_check_grads(program):
    check_with_check_grads(program)


@_settings("jit")
@given(programs())
def test_jit_matches_eager(program):
    check_jit(program)


@given(programs())
@_settings("passes")
def test_passes_keep_results_equal(program):
    """The IR passes (folding, simplification rules, CSE, DCE) change no value: the program and its
    gradient as recorded and as optimised, both run by the interpreter, agree exactly or to rounding."""
    xs = program.make_inputs()
    for fn in (lambda *a: program.run_all(mnp, *a), mg.grad(_mg_fun(program), argnums=program.argnums)):
        raw = mg.make_jaxpr(fn, optimize=False)(*xs)
        opt = mg.make_jaxpr(fn)(*xs)
        mg.typecheck(opt.jaxpr)
        assert len(opt.eqns) <= len(raw.eqns)
        want = mg.eval_jaxpr(raw.jaxpr, raw.consts, jax.tree_util.tree_leaves(xs))
        got = mg.eval_jaxpr(opt.jaxpr, opt.consts, jax.tree_util.tree_leaves(xs))
        for a, b in zip(want, got):
            _exact_dtype_shape(a, b, "optimised vs recorded")
            np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-6 if a.dtype == np.float32 else 1e-12,
                                       atol=1e-12, err_msg="the passes changed a value")


@_settings("jvp")
@given(programs())
def test_jvp_matches_jax(program):
    check_jvp(program)
    check_with_check_grads_fwd(program)


@_settings("vmap")
@given(batched_programs(), st.integers(0, 2))
def test_vmap_matches_loop(case, k):
    check_vmap(case, with_jax=k == 0, with_jit=k != 2)


@_settings("vmap_grad")
@given(batched_programs(), st.integers(0, 2))
def test_vmap_grad_matches_loop(case, k):
    check_vmap_grad(case, with_jax=k == 0, with_jit=k == 1)


def test_example_budget():
    """CI runs at least 300 random programs across the three checks."""
    assert sum(int(RANDOM_PROGRAM_EXAMPLES * s) for s in _SHARE.values()) >= 300


# =========================================================================================================
# The checks can fail: a VJP rule made wrong by a factor is caught
# =========================================================================================================

def _uses(program: Program, prim_name: str) -> bool:
    jaxpr = mg.make_jaxpr(_mg_fun(program))(*program.make_inputs())
    return any(e.prim.name == prim_name for e in jaxpr.eqns)


def _program_using(prim_name: str) -> Program:
    return find(programs(float32=False), lambda p: _uses(p, prim_name),
                settings=settings(max_examples=500, derandomize=True, database=None, phases=[Phase.generate],
                                  suppress_health_check=list(HealthCheck)))


def _scaled(rule, factor):
    def wrong(g, ans, *operands, **params):
        c = rule(g, ans, *operands, **params)
        return None if c is None else c * factor
    return wrong


@pytest.mark.parametrize("prim_name, operand", [("tanh", 0), ("mul", 1), ("dot_general", 0), ("gather", 0),
                                                 ("reduce_max", 0), ("div", 1)])
def test_checker_catches_a_wrong_vjp_rule(prim_name, operand, monkeypatch):
    program = _program_using(prim_name)
    check_against_jax(program)  # right before the rule is broken
    prim = P.all_primitives()[prim_name]
    bwd = prim.rules["vjp"].bwd
    rules = list(bwd.rules)
    rules[operand] = _scaled(rules[operand], 1.01)
    monkeypatch.setattr(bwd, "rules", rules)
    # a program in which the primitive's cotangent may be zero or not reach an input would not show it: find
    # one where it does, among programs that use the primitive
    with pytest.raises(AssertionError, match="differs from jax.grad"):
        check_against_jax(_failing(program, prim_name, check_against_jax))
    with pytest.raises(AssertionError):
        check_with_check_grads(_failing(program, prim_name, check_with_check_grads))


@pytest.mark.parametrize("prim_name", ["tanh", "dot_general", "gather"])
def test_checker_catches_a_wrong_lowering(prim_name, monkeypatch):
    """The jit check compares XLA with numpy: a lowering off by a factor is caught."""
    program = _program_using(prim_name)
    check_jit(program)
    prim = P.all_primitives()[prim_name]
    lower = prim.rules["lower"]
    monkeypatch.setitem(prim.rules, "lower", lambda *a, **k: lower(*a, **k) * 1.01)
    with pytest.raises(AssertionError, match="backend='xla'"):
        check_jit(_failing(program, prim_name, check_jit))


def _failing(first, prim_name: str, check):
    """`first` if `check` fails on it, else another program (a batched one if `first` is) that uses the
    primitive and fails `check`."""
    def fails(p):
        try:
            check(p)
        except AssertionError:
            return True
        return False
    if fails(first):
        return first
    batched = isinstance(first, BatchedProgram)
    strategy = batched_programs(float32=False) if batched else programs(float32=False)
    return find(strategy, lambda p: _uses(p.program if batched else p, prim_name) and fails(p),
                settings=settings(max_examples=500, derandomize=True, database=None, phases=[Phase.generate],
                                  suppress_health_check=list(HealthCheck)))


# ... and so is a JVP rule or a batching rule made wrong by a factor

def _times(x, factor):
    """x * factor in x's dtype (x an array or a tracer; None, a symbolic zero, and non-floats kept)."""
    if x is None or aval_of(x).dtype.kind != "f":
        return x
    return lax.mul(x, np.asarray(factor, aval_of(x).dtype))


def _scaled_jvp(rule, factor):
    def wrong(primals, tangents, **params):
        outs, tangents_out = rule(primals, tangents, **params)
        return outs, [_times(t, factor) for t in tangents_out]
    return wrong


def _scaled_batch(rule, factor):
    def wrong(args, dims, **params):
        outs, out_dims = rule(args, dims, **params)
        return [_times(o, factor) for o in outs], out_dims
    return wrong


def _batched_using(prim_name: str) -> BatchedProgram:
    return find(batched_programs(float32=False), lambda c: _uses(c.program, prim_name),
                settings=settings(max_examples=500, derandomize=True, database=None, phases=[Phase.generate],
                                  suppress_health_check=list(HealthCheck)))


@pytest.mark.parametrize("prim_name", ["tanh", "mul", "dot_general", "reduce_max", "gather"])
def test_checker_catches_a_wrong_jvp_rule(prim_name, monkeypatch):
    """jvp against jax.jvp, and check_grads(modes=("fwd",)), catch a JVP rule whose tangent is 1% off."""
    program = _program_using(prim_name)
    check_jvp(program)  # right before the rule is broken
    prim = P.all_primitives()[prim_name]
    monkeypatch.setitem(prim.rules, "jvp", _scaled_jvp(prim.rules["jvp"], 1.01))
    with pytest.raises(AssertionError, match="differs from jax.jvp"):
        check_jvp(_failing(program, prim_name, check_jvp))
    with pytest.raises(AssertionError, match="jax.jvp of the same program"):
        check_with_check_grads_fwd(_failing(program, prim_name, check_with_check_grads_fwd))


@pytest.mark.parametrize("prim_name", ["tanh", "mul", "dot_general", "reduce_max", "gather"])
def test_checker_catches_a_wrong_batching_rule(prim_name, monkeypatch):
    """vmap against a loop over the examples, and vmap(grad) against a loop of grad, catch a batching rule
    whose result is 1% off."""
    case = _batched_using(prim_name)
    check_vmap(case)  # right before the rule is broken
    check_vmap_grad(case)
    prim = P.all_primitives()[prim_name]
    monkeypatch.setitem(prim.rules, "batch", _scaled_batch(prim.rules["batch"], 1.01))
    with pytest.raises(AssertionError, match="vs a loop over the examples"):
        check_vmap(_failing(case, prim_name, check_vmap))
    with pytest.raises(AssertionError, match="vs a loop of grad"):
        check_vmap_grad(_failing(case, prim_name, check_vmap_grad))


# =========================================================================================================
# Regressions: minimised failing programs (each a named test)
# =========================================================================================================
# A failing random program becomes a named test like this one: paste the function and the inputs from its
# repr, and run the checks on `FunctionProgram(f, inputs)`.


def test_mixed_precision_program():
    """float32 and float64 inputs, float64 loss: the float32 rounding inside is checked at float32 tolerance.

    Found by the random programs: check_grads' default tolerance followed the float64 output (rtol 1e-7)
    and rejected our value against the XLA-lowered one, off by 1.8e-7 absolute after a float32 tanh. Its
    defaults now follow the least precise float in the program."""
    def f(xp, nn, x0, x1):
        v4 = x0.mean(axis=1)
        v18 = xp.tanh(xp.square(v4))
        v33 = xp.absolute(xp.tanh(x0))
        loss = xp.mean(xp.tanh(xp.cos(x1))) + xp.mean(v33) + -1.5 * xp.mean(xp.tanh(v18))
        return loss, (v33, v18)

    rng = np.random.default_rng(225)
    x0 = (rng.uniform(0.2, 2.0, (4, 2, 4))).astype(np.float32)
    x1 = rng.uniform(0.2, 2.0, (4, 2))
    program = FunctionProgram(f, (x0, x1))
    check_against_jax(program)
    check_with_check_grads(program)
    check_jit(program)
