"""Shared helpers of the minigrad_fn.numpy tests (`test_numpy_*.py`, one per module of `minigrad_fn/numpy/`).

Every forward check (`check_numpy`) runs a function three ways: on concrete numpy arrays, on value-carrying
tracers (the path `grad` takes) and on abstract tracers (`make_jaxpr`, then `eval_jaxpr`), and asks each for
numpy's type, dtype, shape and values. Gradients are checked against jax.grad and finite differences with
`helpers.check_grad`, or, for functions that only move elements, against an exact oracle (`check_movement_grad`).
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad_fn as mg
import minigrad_fn.numpy as mnp

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
RNG = np.random.default_rng(0)


# ---------------------------------------------------------------------------------------------------
# helpers

def sample(dtype, shape, positive=False):
    """A small deterministic array of `dtype` (floats in [-2, 2], ints in [-3, 3], or > 0 with positive)."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return RNG.random(shape) > 0.5
    if dt.kind == "f":
        a = RNG.uniform(-2, 2, shape)
        return (np.abs(a) + 0.5 if positive else a).astype(dt)
    a = RNG.integers(-3, 4, shape)
    return (np.abs(a) + 1 if positive else a).astype(dt)


def elements(dtype):
    """Hypothesis elements for an array of `dtype`, kept small so gradients stay tame."""
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return st.booleans()
    if dt.kind == "f":
        return st.floats(-3, 3, width=8 * dt.itemsize, allow_subnormal=False)
    return st.integers(-4, 4)


def arrays(dtype, shape, **kw):
    return hnp.arrays(dtype, shape, elements=elements(dtype), **kw)


def assert_like_numpy(ours, expected, what=""):
    """Same kind of object as numpy returns (ndarray, or a scalar/0-d array), dtype, shape and values."""
    if isinstance(expected, (list, tuple)):
        assert isinstance(ours, (list, tuple)) and len(ours) == len(expected), f"{what}: {ours!r}"
        for o, e in zip(ours, expected):
            assert_like_numpy(o, e, what)
        return
    if isinstance(expected, np.ndarray) and expected.ndim:
        assert isinstance(ours, np.ndarray), f"{what}: got a {type(ours).__name__}, numpy gives an ndarray"
    else:
        assert isinstance(ours, (np.ndarray, np.generic)), f"{what}: got a {type(ours).__name__}"
    expected = np.asarray(expected)
    assert ours.dtype == expected.dtype, f"{what}: dtype {ours.dtype}, numpy gives {expected.dtype}"
    assert ours.shape == expected.shape, f"{what}: shape {ours.shape}, numpy gives {expected.shape}"
    if expected.dtype.kind == "f":
        rtol = {2: 2e-3, 4: 2e-6}.get(expected.dtype.itemsize, 1e-12)
        np.testing.assert_allclose(ours, expected, rtol=rtol, atol=rtol, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(ours, expected, err_msg=what)


def _split_args(args):
    arrays_at = [i for i, a in enumerate(args) if isinstance(a, np.ndarray)]

    def bind(fn, traced):
        full = list(args)
        for i, t in zip(arrays_at, traced):
            full[i] = t
        return fn(mnp, *full)
    return arrays_at, bind


def traced_value(fn, *args):
    """fn(mnp, *args) computed with its array arguments as value-carrying tracers (grad's path)."""
    arrays_at, bind = _split_args(args)
    return mg.vjp(lambda *t: bind(fn, t), *[args[i] for i in arrays_at])[0]


def abstract_value(fn, *args):
    """fn(mnp, *args) traced on shapes and dtypes only (make_jaxpr), then evaluated on args.

    Also checks that the shape rules' output avals agree with the evaluated values."""
    arrays_at, bind = _split_args(args)
    closed = mg.make_jaxpr(lambda *t: bind(fn, t))(*[args[i] for i in arrays_at])
    outs = mg.eval_jaxpr(closed.jaxpr, closed.consts, [args[i] for i in arrays_at])
    for aval, o in zip(closed.out_avals, outs):
        assert (aval.shape, aval.dtype) == (np.shape(o), np.asarray(o).dtype), f"aval {aval} but value {o!r}"
    return outs


def check_numpy(fn, *args, abstract=True):
    """fn(mnp, ...) gives what fn(np, ...) gives: concretely, traced with values and abstractly traced.

    When numpy raises, minigrad_fn.numpy must raise too (an Exception) on concrete and value-carrying input."""
    try:
        expected = fn(np, *args)
    except Exception:
        with pytest.raises(Exception):
            fn(mnp, *args)
        with pytest.raises(Exception):
            traced_value(fn, *args)
        return None
    assert_like_numpy(fn(mnp, *args), expected, "concrete")
    assert_like_numpy(traced_value(fn, *args), expected, "traced")
    if abstract:
        outs = abstract_value(fn, *args)
        flat = list(expected) if isinstance(expected, (list, tuple)) else [expected]
        assert len(outs) == len(flat)
        for o, e in zip(outs, flat):
            assert_like_numpy(np.asarray(o), np.asarray(e), "abstract")
    return expected


def check_movement_grad(fn, x):
    """Gradient of sum(fn(x) * w), for fn that only moves or copies elements (reshapes, transposes,
    broadcasts, indexing), against an exact oracle: numpy's own fn applied to the element ids of x says
    where each output element comes from, and the gradient adds w up at those sources.

    Exact and JAX-free, so hypothesis can vary shapes without compiling a JAX kernel per shape; the
    fixed-shape tables compare the same functions with jax.grad."""
    ids = np.arange(x.size).reshape(x.shape)
    outs = fn(np, ids)
    outs = outs if isinstance(outs, list) else [outs]
    ws = [np.arange(np.size(o), dtype=np.float64).reshape(np.shape(o)) + 1.0 for o in outs]

    def f(x):
        res = fn(mnp, x)
        res = res if isinstance(res, list) else [res]
        return sum(mnp.sum(r * w) for r, w in zip(res, ws))
    g = mg.grad(f)(x)
    expected = np.zeros(x.size)
    for o, w in zip(outs, ws):
        np.add.at(expected, np.asarray(o).ravel(), w.ravel())
    assert g.dtype == x.dtype and g.shape == x.shape
    np.testing.assert_array_equal(g, expected.reshape(x.shape))

