"""Every primitive's JVP rule against jax.jvp and finite differences, and its batching rule against a
Python loop over examples, on the same hypothesis cases as the VJP tests (tests/primitive_cases.py),
with in_axes at every position (None and negative included) and out_axes too."""
import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad_fn as mg
from minigrad_fn import lax
from minigrad_fn.compiler import jit_p
from primitive_cases import CASES, _with, jax_ref, seeds

ALL = sorted(lax.all_primitives())
WITH_CASES = sorted(n for n in ALL if n in CASES)


@pytest.mark.parametrize("rule", ["jvp", "batch"])
def test_every_primitive_has_jvp_and_batching_rules(rule):
    missing = [n for n, p in lax.all_primitives().items() if rule not in p.rules]
    missing += [] if rule in jit_p.rules else ["jit"]
    assert not missing, f"primitives without a {rule} rule: {missing}"


def _tangents(rng, dyn):
    return [rng.standard_normal(np.shape(a)).astype(np.asarray(a).dtype) for a in dyn]


@pytest.mark.parametrize("name", WITH_CASES)
@settings(max_examples=15)
@given(data=st.data())
def test_jvp_against_jax_and_finite_differences(name, data):
    case = data.draw(CASES[name], label="case")
    args, nums = case.args, case.argnums
    dyn = [args[i] for i in nums]
    rng = np.random.default_rng(data.draw(seeds, label="tangent seed"))
    ts = _tangents(rng, dyn)
    f = lambda *d: case.mg(*_with(args, nums, d))  # noqa: E731
    out, tout = mg.jvp(f, tuple(dyn), tuple(ts))
    ref_out, ref_t = jax_ref(lambda *d: jax.jvp(lambda *e: case.jx(*_with(args, nums, e)), d, tuple(ts)), *dyn)
    np.testing.assert_allclose(np.asarray(out), np.asarray(ref_out), rtol=1e-12, atol=1e-12)
    tout = np.asarray(tout)
    assert tout.shape == np.shape(ref_out) and tout.dtype == np.asarray(out).dtype, (tout.shape, tout.dtype)
    if np.asarray(out).dtype.kind == "f":
        np.testing.assert_allclose(tout, np.asarray(ref_t), rtol=1e-9, atol=1e-12, err_msg="tangent vs jax.jvp")
        if case.fd:
            eps = 1e-6
            hi = np.asarray(f(*[d + eps * t for d, t in zip(dyn, ts)]))
            lo = np.asarray(f(*[d - eps * t for d, t in zip(dyn, ts)]))
            np.testing.assert_allclose(tout, (hi - lo) / (2 * eps), rtol=1e-5, atol=1e-6,
                                       err_msg="tangent vs central finite differences")
    else:
        assert not np.any(tout), "a non-float output has a zero tangent"


def _perturbed(rng, a, k):
    """The k-th example: float arrays moved a little (within every case's domain), others as they are."""
    a = np.asarray(a)
    if a.dtype.kind != "f" or k == 0:
        return a
    return (a * (1 + 1e-3 * rng.standard_normal(a.shape))).astype(a.dtype)


@pytest.mark.parametrize("name", WITH_CASES)
@settings(max_examples=15)
@given(data=st.data())
def test_batching_against_a_loop(name, data):
    case = data.draw(CASES[name], label="case")
    args = [np.asarray(a) for a in case.args]
    if not args:
        pytest.skip("no operands: nothing to batch")
    rng = np.random.default_rng(data.draw(seeds, label="seed"))
    size = data.draw(st.integers(1, 3), label="batch size")
    axes = [data.draw(st.one_of(st.none(), st.integers(-a.ndim - 1, a.ndim)), label=f"in_axes[{i}]")
            for i, a in enumerate(args)]
    if all(ax is None for ax in axes):
        axes[data.draw(st.integers(0, len(args) - 1), label="forced")] = 0
    examples = [[_perturbed(rng, a, k) if ax is not None else a for a, ax in zip(args, axes)] for k in range(size)]
    stacked = [a if ax is None else np.stack([ex[i] for ex in examples], axis=ax)
               for i, (a, ax) in enumerate(zip(args, axes))]
    want = np.stack([np.asarray(case.mg(*ex)) for ex in examples])
    out_axis = data.draw(st.integers(-want.ndim, want.ndim - 1), label="out_axes")
    got = np.asarray(mg.vmap(case.mg, in_axes=tuple(axes), out_axes=out_axis)(*stacked))
    want = np.moveaxis(want, 0, out_axis)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
