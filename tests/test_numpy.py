"""minigrad_fn.numpy against numpy (values and dtypes) and against jax.numpy (gradients).

Every forward check runs a function three ways: on concrete numpy arrays, on value-carrying tracers (the
path `grad` takes) and on abstract tracers (`make_jaxpr`, then `eval_jaxpr`), and asks each for numpy's
type, dtype, shape and values. Gradients are checked against jax.grad and finite differences with
`helpers.check_grad`.
"""
from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from helpers import check_grad

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

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


def check_plain_numpy_grad(fn, *args, argnums=0, rtol=1e-7, atol=1e-9):
    """fn is written with plain `np.` calls; mg.grad through numpy's dispatch equals jax.grad of the same
    code with np replaced by jax.numpy, and the forward value equals numpy's."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    value, ours = mg.value_and_grad(fn, argnums=nums)(*args)
    jfn = types.FunctionType(fn.__code__, {**fn.__globals__, "np": jnp}, fn.__name__, fn.__defaults__,
                             fn.__closure__)
    theirs = jax.grad(jfn, argnums=nums)(*[jnp.asarray(a) for a in args])
    np.testing.assert_allclose(value, fn(*args), rtol=1e-12)
    for i, a, b in zip(nums, ours, theirs):
        assert isinstance(a, np.ndarray) and a.dtype == args[i].dtype and a.shape == args[i].shape
        np.testing.assert_allclose(a, np.asarray(b), rtol=rtol, atol=atol)


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


# ---------------------------------------------------------------------------------------------------
# dtype names and creation

def test_dtype_names_are_numpys():
    for name in ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "bool_"]:
        assert getattr(mnp, name) is getattr(np, name)
    assert mnp.dtype is np.dtype and mnp.newaxis is None and mnp.pi == np.pi and mnp.e == np.e
    assert mnp.inf == np.inf and np.isnan(mnp.nan)
    assert mnp.zeros(3, mnp.float32).dtype == np.float32


@pytest.mark.parametrize("fn", [
    lambda xp: xp.zeros((2, 3)), lambda xp: xp.zeros(4, dtype=xp.int32), lambda xp: xp.ones((2,), xp.float32),
    lambda xp: xp.ones(3, dtype=bool), lambda xp: xp.full((2, 2), 7), lambda xp: xp.full(3, 1.5, xp.float32),
    lambda xp: xp.full((2,), True), lambda xp: xp.arange(5), lambda xp: xp.arange(1.0, 3.0, 0.5),
    lambda xp: xp.arange(2, 11, 3, dtype=xp.float32), lambda xp: xp.linspace(0, 1, 5),
    lambda xp: xp.linspace(-1, 1, 4, dtype=xp.float32, endpoint=False), lambda xp: xp.eye(3),
    lambda xp: xp.eye(2, 3, k=1, dtype=xp.int64), lambda xp: xp.array([1, 2, 3]), lambda xp: xp.array([1.0, 2]),
    lambda xp: xp.array([[True], [False]]), lambda xp: xp.array(3.0, dtype=xp.float32),
    lambda xp: xp.array([1, 2], ndmin=3), lambda xp: xp.asarray([1, 2], dtype=xp.float32),
    lambda xp: xp.asarray(2), lambda xp: xp.zeros_like(np.ones((2, 3), np.int32)),
    lambda xp: xp.ones_like(np.ones(3), dtype=xp.float32), lambda xp: xp.full_like(np.ones(3, np.int64), 2.7),
    lambda xp: xp.full_like(np.ones((2, 1), bool), 0, dtype=xp.float64),
])
def test_creation_matches_numpy(fn):
    check_numpy(fn)


def test_creation_on_traced_values_stays_traced_and_differentiable():
    x = np.array([0.5, -1.0, 2.0])

    def f(xp, x):
        rows = xp.array([x, x * 2.0, xp.zeros(3)])              # a list holding tracers stays traced
        stacked = xp.asarray([[x[0], 1.0], [x[1], x[2]]])
        filled = xp.full((2, 3), x[1]) + xp.full_like(x, x[0])
        nd = xp.array(x, ndmin=3)
        shapes = xp.zeros_like(x) + xp.ones_like(x, dtype=x.dtype) + xp.sum(nd)
        return xp.sum(rows * rows) + xp.sum(stacked ** 3) + xp.sum(filled * xp.arange(3.0)) + xp.sum(shapes * x)

    check_grad(f, x)
    assert_like_numpy(traced_value(lambda xp, x: xp.array([x, x], dtype=xp.float32), x),
                      np.array([x, x], np.float32))
    assert_like_numpy(traced_value(lambda xp, x: xp.asarray(x, dtype=xp.int64), x), x.astype(np.int64))
    assert_like_numpy(traced_value(lambda xp, x: xp.zeros_like(x, dtype=xp.int32), x), np.zeros(3, np.int32))


# ---------------------------------------------------------------------------------------------------
# elementwise: dtypes of every (function, dtype) pair, then broadcasting and weak scalars by hypothesis

UNARY = ["negative", "square", "sqrt", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "abs",
         "absolute", "sign", "floor", "ceil", "round", "rint", "logical_not", "positive", "reciprocal",
         "isfinite", "isnan"]


@pytest.mark.parametrize("dtype", DTYPES + [np.int8, np.float16])
@pytest.mark.parametrize("name", UNARY)
def test_unary_values_and_dtypes(name, dtype):
    x = sample(dtype, (2, 3), positive=name in ("log", "sqrt", "reciprocal"))
    check_numpy(lambda xp, x: getattr(xp, name)(x), x)


def test_unary_promotions_named_in_the_contract():
    # exp of int8 is float16, of int32/bool float64; sqrt of int64 float64; negative of int32 stays int32
    assert mnp.exp(np.ones(2, np.int8)).dtype == np.float16
    assert mnp.exp(np.ones(2, np.int32)).dtype == np.float64
    assert mnp.exp(np.ones(2, bool)).dtype == np.float16
    assert mnp.sqrt(np.ones(2, np.int64)).dtype == np.float64
    assert traced_value(lambda xp, x: xp.exp(x), np.ones(2, np.int8)).dtype == np.float16
    assert traced_value(lambda xp, x: -x, np.ones(2, np.int32)).dtype == np.int32


BINARY = ["add", "subtract", "multiply", "divide", "true_divide", "power", "maximum", "minimum", "equal",
          "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
          "logical_xor"]


@pytest.mark.parametrize("name", BINARY)
def test_binary_dtype_table(name):
    for d1 in DTYPES:
        for d2 in DTYPES:
            a, b = sample(d1, (2, 3), positive=True), sample(d2, (3,), positive=True)
            check_numpy(lambda xp, a, b: getattr(xp, name)(a, b), a, b)


@given(name=st.sampled_from(BINARY), d1=st.sampled_from(DTYPES), d2=st.sampled_from(DTYPES),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3),
       scalar=st.one_of(st.none(), st.integers(-3, 3), st.floats(-3, 3), st.booleans()),
       scalar_first=st.booleans(), data=st.data())
def test_binary_broadcasting_and_weak_scalars(name, d1, d2, shapes, scalar, scalar_first, data):
    a = data.draw(arrays(d1, shapes.input_shapes[0]))
    b = scalar if scalar is not None else data.draw(arrays(d2, shapes.input_shapes[1]))
    args = (b, a) if scalar_first and scalar is not None else (a, b)
    check_numpy(lambda xp, a, b: getattr(xp, name)(a, b), *args, abstract=scalar is None)


@pytest.mark.parametrize("dtype", DTYPES)
def test_weak_python_scalars_keep_the_array_dtype(dtype):
    x = sample(dtype, (3,), positive=True)
    for fn in [lambda xp, x: x * 2.0, lambda xp, x: 2.0 * x, lambda xp, x: x + 1, lambda xp, x: 1 - x,
               lambda xp, x: x / 2, lambda xp, x: 2 / x, lambda xp, x: x ** 2, lambda xp, x: x ** 0.5,
               lambda xp, x: 2 ** x, lambda xp, x: 2.0 ** x, lambda xp, x: xp.maximum(0, x),
               lambda xp, x: xp.maximum(x, 0.5), lambda xp, x: x > 1, lambda xp, x: x == 1.5,
               lambda xp, x: xp.power(x, 3), lambda xp, x: xp.square(x) + True,
               # numpy scalars and 0-d arrays are not weak under numpy 2
               lambda xp, x: np.float64(2) * x, lambda xp, x: x * np.float32(2), lambda xp, x: x + np.int64(1),
               lambda xp, x: x ** np.int32(2), lambda xp, x: xp.power(x, np.int64(2)),
               lambda xp, x: x * np.array(2.0), lambda xp, x: np.array(2, np.int32) - x]:
        check_numpy(fn, x)


def test_numpy2_promotion_examples_from_the_contract():
    f32, i64 = np.ones(3, np.float32), np.arange(3)
    assert mnp.multiply(f32, 2.0).dtype == np.float32
    assert mnp.divide(i64, 2).dtype == np.float64
    assert mnp.sum(np.ones(3, np.int32)).dtype == np.int64
    assert mnp.mean(i64).dtype == np.float64
    assert traced_value(lambda xp, x: x * 2.0, f32).dtype == np.float32
    assert traced_value(lambda xp, x: x / 2, i64).dtype == np.float64
    assert traced_value(lambda xp, x: xp.sum(x), np.ones(3, np.int32)).dtype == np.int64


def test_integer_to_negative_integer_power_raises_like_numpy():
    with pytest.raises(ValueError):
        mnp.power(np.arange(3), -1)
    with pytest.raises(ValueError):
        traced_value(lambda xp, x: x ** -2, np.arange(3))
    assert_like_numpy(mnp.power(np.arange(1.0, 3.0), -1), np.power(np.arange(1.0, 3.0), -1))


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_where_round(dtype):
    x = sample(dtype, (3, 4))
    for fn in [lambda xp, x: xp.clip(x, -1, 1), lambda xp, x: xp.clip(x, -0.5, 0.5), lambda xp, x: xp.clip(x, 0, None),
               lambda xp, x: xp.clip(x, None, 1), lambda xp, x: xp.clip(x, min=0), lambda xp, x: xp.clip(x, max=0.5),
               lambda xp, x: xp.clip(x, np.zeros(4, np.float32), 2), lambda xp, x: xp.where(x > 0, x, 0),
               lambda xp, x: xp.where(x > 0, x, 0.5), lambda xp, x: xp.where(x, 1, 2),
               lambda xp, x: xp.where(x > 0, x, np.ones(4, np.float32)),
               lambda xp, x: xp.where([True, False, True, False], x, -x),
               lambda xp, x: xp.round(x), lambda xp, x: xp.around(x), lambda xp, x: xp.round(x * 1.0, 1),
               lambda xp, x: xp.round(x * 10, -1), lambda xp, x: xp.floor(x), lambda xp, x: xp.ceil(x)]:
        check_numpy(fn, x)


def test_round_is_half_to_even_like_numpy_for_any_decimals():
    floats = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.25, 0.35, 15.0, 25.0, -150.0, 2.675])
    ints = np.array([15, 25, -15, 7, 149, -250])
    for x in [floats, floats.astype(np.float32), ints, ints.astype(np.int32)]:
        for d in [0, 1, 2, -1, -2]:
            check_numpy(lambda xp, x: xp.round(x, d), x)
            check_numpy(lambda xp, x: xp.around(x, decimals=d), x)
    check_numpy(lambda xp, x: xp.rint(x), ints)
    with pytest.raises(TypeError):
        mnp.round(np.array([True, False]), 1)


def test_one_argument_where_is_numpys_on_concrete_and_refused_on_traced():
    x = np.array([0.0, 1.0, 0.0, 2.0])
    for o, e in zip(mnp.where(x), np.where(x)):
        np.testing.assert_array_equal(o, e)
    with pytest.raises(mg.UnsupportedError):
        traced_value(lambda xp, x: xp.where(x), x)


UNARY_GRADS = {
    "negative": lambda xp, x: xp.sum(xp.negative(x) * x), "square": lambda xp, x: xp.sum(xp.square(x)),
    "sqrt": lambda xp, x: xp.sum(xp.sqrt(xp.abs(x) + 0.5)), "exp": lambda xp, x: xp.sum(xp.exp(x)),
    "log": lambda xp, x: xp.sum(xp.log(xp.abs(x) + 0.5)), "log1p": lambda xp, x: xp.sum(xp.log1p(x * x)),
    "expm1": lambda xp, x: xp.sum(xp.expm1(x)), "sin": lambda xp, x: xp.sum(xp.sin(x)),
    "cos": lambda xp, x: xp.sum(xp.cos(x)), "tan": lambda xp, x: xp.sum(xp.tan(x * 0.5)),
    "tanh": lambda xp, x: xp.sum(xp.tanh(x)), "abs": lambda xp, x: xp.sum(xp.abs(x) * xp.abs(x - 0.25)),
    "sign": lambda xp, x: xp.sum(xp.sign(x) * x), "floor": lambda xp, x: xp.sum(xp.floor(x) * x),
    "ceil": lambda xp, x: xp.sum(xp.ceil(x) * x), "round": lambda xp, x: xp.sum(xp.round(x, 1) * x),
    "power_int": lambda xp, x: xp.sum(xp.power(x, 3)),
    "power_float": lambda xp, x: xp.sum(xp.power(xp.abs(x) + 1, 1.5)),
    "rpow": lambda xp, x: xp.sum(2.0 ** x), "reciprocal": lambda xp, x: xp.sum(1.0 / (x * x + 1)),
    "clip": lambda xp, x: xp.sum(xp.clip(x, -0.5, 0.5) * x), "where": lambda xp, x: xp.sum(xp.where(x > 0, x, x * x)),
    "max0": lambda xp, x: xp.sum(xp.maximum(0, x) ** 2), "min": lambda xp, x: xp.sum(xp.minimum(x, 0.3) * x),
}


@given(name=st.sampled_from(sorted(UNARY_GRADS)),
       x=arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=3)))
def test_unary_gradients_match_jax(name, x):
    # keep away from kinks (0 for abs/sign/maximum, integers for floor/ceil, the clip bounds): there the
    # subgradient conventions are checked separately and finite differences have no meaning
    assume(np.all(np.abs(x) > 1e-3) and np.all(np.abs(x - np.round(x * 2) / 2) > 1e-3)
           and np.all(np.abs(np.abs(x) - 0.3) > 1e-3) and np.all(np.abs(x - 0.25) > 1e-3)
           and np.all(np.abs(x * 10 - np.round(x * 10)) > 1e-3))
    check_grad(UNARY_GRADS[name], x)


def test_subgradient_conventions_at_kinks_match_jax():
    x = np.array([-1.0, 0.0, 0.0, 1.0, 0.5, -0.5])
    for fn in [lambda xp, x: xp.sum(xp.maximum(x, 0.0)),
               lambda xp, x: xp.sum(xp.maximum(0.0, x)), lambda xp, x: xp.sum(xp.minimum(x, 0.0)),
               lambda xp, x: xp.sum(xp.clip(x, -0.5, 0.5)), lambda xp, x: xp.sum(xp.sign(x)),
               lambda xp, x: xp.sum(xp.maximum(x, x[::-1]))]:
        check_grad(fn, x, fd=False)


def test_abs_gradient_at_zero_matches_jax():
    # jax.grad(jnp.abs)(0.0) is 1.0: lax.abs's rule is select(x >= 0, g, -g)
    check_grad(lambda xp, x: xp.sum(xp.abs(x)), np.array([-1.0, 0.0, 2.0]), fd=False)


BINARY_GRADS = {
    "add": lambda xp, a, b: xp.sum(xp.sin(xp.add(a, b))), "subtract": lambda xp, a, b: xp.sum(xp.subtract(a, b) ** 2),
    "multiply": lambda xp, a, b: xp.sum(xp.multiply(a, b) * a),
    "divide": lambda xp, a, b: xp.sum(xp.divide(a, b * b + 1)),
    "power": lambda xp, a, b: xp.sum(xp.power(a * a + 0.5, b)),
    "maximum": lambda xp, a, b: xp.sum(xp.maximum(a, b) * a),
    "minimum": lambda xp, a, b: xp.sum(xp.minimum(a, b) ** 2),
    "where": lambda xp, a, b: xp.sum(xp.where(a > b, a * b, b)),
    "operators": lambda xp, a, b: xp.sum((a - b) * (b + 1.0) / (a * a + 1.0) - a ** 2 + (-b) * 0.5),
}


@given(name=st.sampled_from(sorted(BINARY_GRADS)),
       shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3), data=st.data())
def test_binary_gradients_under_broadcasting_match_jax(name, shapes, data):
    a = data.draw(arrays(np.float64, shapes.input_shapes[0]))
    b = data.draw(arrays(np.float64, shapes.input_shapes[1]))
    # no ties for maximum/minimum/where (there finite differences have no meaning)
    assume(np.all(np.abs(np.subtract(a, b)) > 1e-3))
    check_grad(BINARY_GRADS[name], a, b, argnums=(0, 1))


# ---------------------------------------------------------------------------------------------------
# reductions

REDUCTIONS = ["sum", "mean", "max", "min", "prod", "var", "std", "amax", "amin"]


@st.composite
def array_and_axis(draw, dtypes=DTYPES, min_dims=0, allow_tuple=True, min_side=0):
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(hnp.array_shapes(min_dims=min_dims, max_dims=3, min_side=min_side, max_side=3))
    x = draw(arrays(dtype, shape))
    nd = len(shape)
    choices = [st.none()]
    if nd:
        choices.append(st.integers(-nd, nd - 1))
    if allow_tuple:
        choices.append(hnp.valid_tuple_axes(nd))
    return x, draw(st.one_of(*choices))


@given(name=st.sampled_from(REDUCTIONS), xa=array_and_axis(min_side=1), keepdims=st.booleans())
def test_reductions_match_numpy(name, xa, keepdims):
    x, axis = xa
    check_numpy(lambda xp, x: getattr(xp, name)(x, axis=axis, keepdims=keepdims), x)


@given(name=st.sampled_from(["sum", "mean", "prod", "cumsum"]), xa=array_and_axis(allow_tuple=False),
       dtype=st.sampled_from([np.float32, np.float64, np.int32, np.int64]))
def test_reduction_dtype_argument(name, xa, dtype):
    x, axis = xa
    check_numpy(lambda xp, x: getattr(xp, name)(x, axis=axis, dtype=dtype), x)


@given(name=st.sampled_from(["var", "std"]), xa=array_and_axis(min_side=1), ddof=st.integers(0, 1),
       keepdims=st.booleans(), dtype=st.sampled_from([None, np.float32, np.float64]))
def test_var_std_ddof_dtype(name, xa, ddof, keepdims, dtype):
    x, axis = xa
    check_numpy(lambda xp, x: getattr(xp, name)(x, axis=axis, ddof=ddof, keepdims=keepdims, dtype=dtype), x)


@given(name=st.sampled_from(["argmax", "argmin", "cumsum"]),
       xa=array_and_axis(allow_tuple=False, min_side=1), keepdims=st.booleans())
def test_argmax_argmin_cumsum(name, xa, keepdims):
    x, axis = xa
    kw = {} if name == "cumsum" else {"keepdims": keepdims}
    check_numpy(lambda xp, x: getattr(xp, name)(x, axis=axis, **kw), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_initial_and_where(dtype):
    x = sample(dtype, (3, 4))
    mask = np.arange(12).reshape(3, 4) % 3 != 0
    for fn in [lambda xp, x: xp.sum(x, initial=2), lambda xp, x: xp.sum(x, axis=0, initial=2.5),
               lambda xp, x: xp.sum(x, where=mask),
               lambda xp, x: xp.sum(x, axis=1, where=mask, keepdims=True, initial=1),
               lambda xp, x: xp.sum(x, axis=()), lambda xp, x: xp.max(x, axis=()), lambda xp, x: xp.mean(x, axis=())]:
        check_numpy(fn, x)


def test_reduction_axis_errors_and_empty_extrema():
    x = np.ones((2, 3))
    for fn in [lambda: mnp.sum(x, axis=2), lambda: mnp.mean(x, axis=-3), lambda: mnp.max(x, axis=(0, 0)),
               lambda: mnp.max(np.ones((0, 2)), axis=0), lambda: mnp.argmax(np.ones((2, 0)), axis=1)]:
        with pytest.raises(ValueError):
            fn()


REDUCTION_GRADS = {
    "sum": lambda xp, x, ax, kd: xp.sum(xp.sin(xp.sum(x, axis=ax, keepdims=kd))),
    "mean": lambda xp, x, ax, kd: xp.sum(xp.mean(x, axis=ax, keepdims=kd) ** 2),
    "max": lambda xp, x, ax, kd: xp.sum(xp.max(x, axis=ax, keepdims=kd) ** 2),
    "min": lambda xp, x, ax, kd: xp.sum(xp.sin(xp.min(x, axis=ax, keepdims=kd))),
    "prod": lambda xp, x, ax, kd: xp.sum(xp.prod(x, axis=ax, keepdims=kd)),
    "var": lambda xp, x, ax, kd: xp.sum(xp.var(x, axis=ax, keepdims=kd)),
    "var_ddof": lambda xp, x, ax, kd: xp.sum(xp.var(x, axis=ax, ddof=1, keepdims=kd)),
    "std": lambda xp, x, ax, kd: xp.sum(xp.std(x, axis=ax, keepdims=kd)),
}


@given(name=st.sampled_from(sorted(REDUCTION_GRADS)), xa=array_and_axis(dtypes=[np.float64], min_side=1),
       keepdims=st.booleans())
def test_reduction_gradients_match_jax(name, xa, keepdims):
    x, axis = xa
    axes = tuple(range(x.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis
    n = int(np.prod([x.shape[a] for a in axes]))
    if name in ("max", "min"):
        assume(x.size == 1 or np.min(np.diff(np.sort(x.ravel()))) > 1e-3)   # no (near-)ties: smooth points
    if name == "std":
        assume(n > 1 and np.all(np.std(x, axis=axis) > 1e-2))
    if name == "var_ddof":
        assume(n > 1)
    check_grad(lambda xp, x: REDUCTION_GRADS[name](xp, x, axis, keepdims), x)


def test_reduction_gradient_special_cases_match_jax():
    check_grad(lambda xp, x: xp.prod(x), np.array([1.5, 0.0, 2.0, -3.0]))        # one zero: exact
    check_grad(lambda xp, x: xp.prod(x), np.array([1.5, 0.0, 2.0, 0.0]), fd=False)
    check_grad(lambda xp, x: xp.max(x), np.array([1.0, 3.0, 3.0, -1.0]), fd=False)   # ties split evenly
    check_grad(lambda xp, x: xp.sum(xp.min(x, axis=0)), np.array([[1.0, 2.0], [1.0, 0.0]]), fd=False)
    x = RNG.standard_normal((3, 4))
    check_grad(lambda xp, x: xp.sum(xp.cumsum(x, axis=1) ** 2), x)
    check_grad(lambda xp, x: xp.sum(xp.cumsum(x, axis=-2) * x), x)
    check_grad(lambda xp, x: xp.sum(xp.cumsum(x) ** 2), x)
    check_grad(lambda xp, x: xp.sum(x[xp.argmax(x, axis=0), xp.arange(4)] ** 2), x)
    check_grad(lambda xp, x: xp.sum(x, where=x > 0, initial=1.0), x, fd=False)
    check_grad(lambda xp, x: xp.mean(x, axis=(0, 1), keepdims=True)[0, 0] * xp.std(x, ddof=1), x)


# ---------------------------------------------------------------------------------------------------
# linear algebra

PRODUCT_SHAPES = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((2, 2, 3), (3, 4)),
                  ((2, 3), (2, 3, 4)), ((5, 2, 3), (1, 3, 4)), ((), (3,)), ((2, 3), ()), ((2, 3), (4, 3)),
                  ((2, 1, 3), (4, 3, 2))]


@pytest.mark.parametrize("name", ["dot", "matmul", "inner", "outer", "vdot"])
@pytest.mark.parametrize("shapes", PRODUCT_SHAPES, ids=str)
def test_products_match_numpy(name, shapes):
    for d1, d2 in [(np.float32, np.float32), (np.float32, np.float64), (np.int32, np.int64),
                   (np.bool_, np.bool_), (np.int64, np.float32), (np.bool_, np.float32)]:
        check_numpy(lambda xp, a, b: getattr(xp, name)(a, b), sample(d1, shapes[0]), sample(d2, shapes[1]))


@pytest.mark.parametrize("axes,shapes", [(0, [(2, 3), (4,)]), (1, [(2, 3, 4), (4, 3)]), (2, [(2, 3, 4), (3, 4, 2)]),
                                         (([1, 2], [1, 0]), [(2, 3, 4), (4, 3, 2)]), (([-1], [0]), [(2, 3, 4), (4, 5)]),
                                         ((2, 0), [(2, 3, 4), (4, 3)]), (((0, 2), (2, 0)), [(2, 3, 4), (4, 5, 2)]),
                                         (0, [(2, 3), (4, 2)])], ids=str)
def test_tensordot_matches_numpy(axes, shapes):
    for d1, d2 in [(np.float32, np.float64), (np.float32, np.float32), (np.int32, np.int64), (np.bool_, np.int32)]:
        check_numpy(lambda xp, a, b: xp.tensordot(a, b, axes), sample(d1, shapes[0]), sample(d2, shapes[1]))


PRODUCTS = {"dot": lambda xp, a, b: xp.dot(a, b), "matmul": lambda xp, a, b: xp.matmul(a, b),
            "inner": lambda xp, a, b: xp.inner(a, b), "outer": lambda xp, a, b: xp.outer(a, b),
            "vdot": lambda xp, a, b: xp.vdot(a, b), "tensordot1": lambda xp, a, b: xp.tensordot(a, b, 1),
            "tensordot0": lambda xp, a, b: xp.tensordot(a, b, 0)}


def _numpy_accepts(fn, shapes):
    try:
        fn(np, np.ones(shapes[0]), np.ones(shapes[1]))
        return True
    except ValueError:
        return False


PRODUCT_GRAD_CASES = [(name, shapes) for name in PRODUCTS
                      for shapes in [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                                     ((2, 2, 3), (3, 4)), ((2, 3), (2, 3, 4)), ((5, 1, 2, 3), (4, 3, 2)),
                                     ((2, 3), (4, 3))]
                      if _numpy_accepts(PRODUCTS[name], shapes)]


@pytest.mark.parametrize("name,shapes", PRODUCT_GRAD_CASES, ids=[f"{n}-{s}" for n, s in PRODUCT_GRAD_CASES])
def test_product_gradients_match_jax(name, shapes):
    a, b = RNG.standard_normal(shapes[0]), RNG.standard_normal(shapes[1])
    check_grad(lambda xp, a, b: xp.sum(xp.sin(PRODUCTS[name](xp, a, b))), a, b, argnums=(0, 1))


@given(shapes=hnp.mutually_broadcastable_shapes(signature="(m?,n),(n,p?)->(m?,p?)", max_dims=3, max_side=3))
def test_matmul_broadcasting_batches_match_numpy_and_jax(shapes):
    a, b = RNG.standard_normal(shapes.input_shapes[0]), RNG.standard_normal(shapes.input_shapes[1])
    check_numpy(lambda xp, a, b: xp.matmul(a, b), a, b)
    check_grad(lambda xp, a, b: xp.sum(xp.cos(a @ b)), a, b, argnums=(0, 1), fd=False)


def test_product_shape_errors():
    for fn in [lambda: mnp.dot(np.ones((2, 3)), np.ones((2, 3))), lambda: mnp.matmul(np.ones(3), np.ones(4)),
               lambda: mnp.matmul(np.ones((2, 2, 3)), np.ones((3, 3, 2))), lambda: mnp.inner(np.ones(2), np.ones(3)),
               lambda: mnp.vdot(np.ones(2), np.ones(3)), lambda: mnp.tensordot(np.ones((2, 3)), np.ones((2, 3)), 1),
               lambda: mnp.matmul(np.ones(3), 2.0)]:
        with pytest.raises(ValueError):
            fn()


# ---- einsum -------------------------------------------------------------------------------------------
EINSUMS = [("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(5, 2, 3), (5, 3, 4)]), ("i,j->ij", [(3,), (4,)]),
           ("ij->", [(3, 4)]), ("ij->ji", [(3, 4)]), ("ij,jk,kl->il", [(2, 3), (3, 4), (4, 5)]),
           ("ij,jk", [(2, 3), (3, 4)]), ("ij", [(3, 4)]), ("ji", [(3, 4)]), ("i,i", [(3,), (3,)]),
           ("ij->i", [(3, 4)]), ("ij,ij->ij", [(3, 4), (3, 4)]), ("ijk,ikl->jl", [(2, 3, 4), (2, 4, 5)]),
           ("i,j,k->ijk", [(2,), (3,), (4,)]), ("ab,cd->", [(2, 3), (4, 5)]), ("ij,kj->ikj", [(2, 3), (4, 3)]),
           ("ij,jk->ki", [(2, 3), (3, 4)]), ("abc,cd,de->abe", [(2, 3, 4), (4, 5), (5, 6)]),
           ("ij,kl->ijkl", [(2, 3), (4, 2)]), ("ij,kl->kjil", [(2, 3), (4, 2)]),
           ("ij,jk,ki->", [(2, 3), (3, 4), (4, 2)]),
           ("ij,kl,jl->ik", [(2, 3), (4, 5), (3, 5)]), ("i,i->", [(4,), (4,)]), (" ij , jk -> ik ", [(2, 3), (3, 4)])]


@pytest.mark.parametrize("spec,shapes", EINSUMS, ids=[s for s, _ in EINSUMS])
def test_einsum_matches_numpy_and_jax(spec, shapes):
    for dtypes in [[np.float64] * 3, [np.float32] * 3, [np.int32, np.int64, np.int32],
                   [np.float32, np.float64, np.float32]]:
        ops = [sample(d, s) for d, s in zip(dtypes, shapes)]
        check_numpy(lambda xp, *ops: xp.einsum(spec, *ops), *ops)
    ops = [RNG.standard_normal(s) for s in shapes]
    np.testing.assert_allclose(mnp.einsum(spec, *ops), jnp.einsum(spec, *ops), rtol=1e-12)
    check_grad(lambda xp, *ops: xp.sum(xp.sin(xp.einsum(spec, *ops))), *ops, argnums=tuple(range(len(ops))))


@pytest.mark.parametrize("spec,shapes", [("ii", [(3, 3)]), ("ii->i", [(3, 3)]), ("ij,jj->i", [(2, 3), (3, 3)]),
                                         ("...ij,...jk", [(2, 3), (3, 4)]), ("ij...", [(3, 4)]),
                                         ("bij,bjk->b...", [(2, 2, 3), (2, 3, 4)])])
def test_einsum_diagonals_and_ellipses_are_unsupported(spec, shapes):
    ops = [np.ones(s) for s in shapes]
    with pytest.raises(mg.UnsupportedError):
        mnp.einsum(spec, *ops)
    with pytest.raises(mg.UnsupportedError):
        mg.grad(lambda *o: mnp.sum(mnp.einsum(spec, *o)))(*ops)


def test_einsum_shape_errors():
    for spec in ["ij->k", "ij->ii", "ij,jk->ik,"]:
        with pytest.raises(ValueError):
            mnp.einsum(spec, np.ones((2, 3)), np.ones((3, 4)))
    with pytest.raises(ValueError):
        mnp.einsum("ij,jk->ik", np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(ValueError):
        mnp.einsum("ij,jk->ik", np.ones((2, 3)))
    with pytest.raises(ValueError):
        mnp.einsum("ijk->i", np.ones((2, 3)))


# ---------------------------------------------------------------------------------------------------
# shape manipulation

SHAPE_FNS = {
    "reshape": lambda xp, a: xp.reshape(a, (4, -1)), "reshape_int": lambda xp, a: xp.reshape(a, -1),
    "reshape_kw": lambda xp, a: xp.reshape(a, shape=(6, 4)), "ravel": lambda xp, a: xp.ravel(a),
    "expand0": lambda xp, a: xp.expand_dims(a, 0), "expand-1": lambda xp, a: xp.expand_dims(a, -1),
    "expand_tuple": lambda xp, a: xp.expand_dims(a, (0, -1)), "expand_tuple2": lambda xp, a: xp.expand_dims(a, (1, 3)),
    "squeeze": lambda xp, a: xp.squeeze(a[:, :1, None]), "squeeze_ax": lambda xp, a: xp.squeeze(a[:, :1], axis=1),
    "squeeze_neg": lambda xp, a: xp.squeeze(a[:, :1, :1], axis=(-1, 1)),
    "broadcast_to": lambda xp, a: xp.broadcast_to(a, (5, 2, 3, 4)),
    "broadcast_to1": lambda xp, a: xp.broadcast_to(a[:, :1], (2, 7, 4)),
    "transpose": lambda xp, a: xp.transpose(a), "transpose_ax": lambda xp, a: xp.transpose(a, (1, 0, 2)),
    "transpose_neg": lambda xp, a: xp.transpose(a, (-1, 0, 1)), "swapaxes": lambda xp, a: xp.swapaxes(a, 0, -1),
    "moveaxis": lambda xp, a: xp.moveaxis(a, 0, -1), "moveaxis_lists": lambda xp, a: xp.moveaxis(a, [0, 1], [-1, 0]),
    "moveaxis_back": lambda xp, a: xp.moveaxis(a, -1, 0),
    "concat": lambda xp, a: xp.concatenate([a, a], axis=1),
    "concat_neg": lambda xp, a: xp.concatenate([a, a[:, ::-1]], axis=-1),
    "concat_none": lambda xp, a: xp.concatenate([a, a[0]], axis=None),
    "concat_f64": lambda xp, a: xp.concatenate([a, np.ones((2, 3, 4))]),
    "concat_i64": lambda xp, a: xp.concatenate((a, np.ones((1, 3, 4), np.int64))),
    "stack": lambda xp, a: xp.stack([a, a]), "stack-1": lambda xp, a: xp.stack([a, a, a], axis=-1),
    "stack2": lambda xp, a: xp.stack((a, a), axis=2),
    "stack_mixed": lambda xp, a: xp.stack([a, np.zeros((2, 3, 4), np.int64)], 1),
    "hstack": lambda xp, a: xp.hstack([a, a]), "hstack1d": lambda xp, a: xp.hstack([a[0, 0], a[1, 1]]),
    "hstack0d": lambda xp, a: xp.hstack([a[0, 0, 0], a[0, 0, 1]]), "vstack": lambda xp, a: xp.vstack([a, a]),
    "vstack1d": lambda xp, a: xp.vstack([a[0, 0], a[1, 1]]), "vstack2d": lambda xp, a: xp.vstack([a[0], a[1]]),
    "split": lambda xp, a: xp.split(a, 2), "split3": lambda xp, a: xp.split(a, 3, axis=1),
    "split_idx": lambda xp, a: xp.split(a, [1, 3], axis=-1), "split_neg": lambda xp, a: xp.split(a, [-1], axis=2),
    "split_big": lambda xp, a: xp.split(a, [1, 10], axis=2), "split_uneven": lambda xp, a: xp.split(a, 3, axis=2),
    "flip": lambda xp, a: xp.flip(a), "flip0": lambda xp, a: xp.flip(a, 0),
    "flip_tuple": lambda xp, a: xp.flip(a, (0, -1)),
    "take": lambda xp, a: xp.take(a, np.array([0, 2, -1])), "take_list": lambda xp, a: xp.take(a, [0, 2, -1]),
    "take_ax": lambda xp, a: xp.take(a, np.array([[0, 2], [1, 1]]), axis=1),
    "take_scalar": lambda xp, a: xp.take(a, 1, axis=-1),
    "take_neg": lambda xp, a: xp.take(a, np.array([-1, 0]), axis=-1),
    "tala": lambda xp, a: xp.take_along_axis(a, np.argsort(np.arange(24).reshape(2, 3, 4) % 5, axis=1), axis=1),
    "tala0": lambda xp, a: xp.take_along_axis(a, np.zeros((1, 3, 4), int), axis=0),
    "tala_none": lambda xp, a: xp.take_along_axis(a, np.array([3, 0, 1, 23]), axis=None),
    "tala_bc": lambda xp, a: xp.take_along_axis(a, np.array([[[2, 0]], [[1, 1]]]), axis=-1),
    "shape_ndim_size": lambda xp, a: np.array(xp.shape(a) + (xp.ndim(a), xp.size(a), xp.size(a, 1))),
}


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_])
@pytest.mark.parametrize("name", sorted(SHAPE_FNS))
def test_shape_functions_match_numpy(name, dtype):
    check_numpy(SHAPE_FNS[name], sample(dtype, (2, 3, 4)))


# integer results; split points beyond the axis or unequal sections (jnp.split refuses them)
@pytest.mark.parametrize("name", sorted(set(SHAPE_FNS) - {"shape_ndim_size", "split_uneven", "concat_f64",
                                                           "concat_i64", "stack_mixed"}))
def test_shape_function_gradients_are_exact(name):
    check_movement_grad(SHAPE_FNS[name], RNG.standard_normal((2, 3, 4)))


def test_shape_function_gradients_match_jax():
    """One chain through every shape function, against jax.grad (finite differences too)."""
    def f(xp, a, b):
        parts = xp.split(xp.reshape(a, (4, -1)), [1], axis=-1)                             # (4, 1), (4, 2)
        t = xp.concatenate([parts[1], xp.flip(parts[0], 0)], axis=1)                       # (4, 3)
        t = xp.stack([t, xp.moveaxis(xp.reshape(b, (3, 4)), 0, -1)], axis=-1)              # (4, 3, 2)
        t = xp.swapaxes(xp.transpose(t, (2, 0, 1)), 0, -1)                                 # (3, 4, 2)
        t2 = xp.hstack([t, xp.expand_dims(xp.squeeze(t[:, :1]), 1)])                      # (3, 5, 2)
        t3 = xp.vstack([t, t])[::2][:, ::-1]                                               # (3, 4, 2)
        u = xp.take(xp.ravel(t2), np.array([0, 5, 5, -1])) * xp.take(t3, np.array([1, -1]), axis=1)[0, 0, 0]
        v = xp.take_along_axis(t3, np.array([[[1], [0]], [[2], [2]], [[3], [0]]]), axis=1)  # (3, 2, 2)
        w = xp.broadcast_to(a[:1, None, :2], (3, 2, 2)) * parts[0][0, 0]
        return xp.sum(xp.sin(t2) * xp.arange(t2.size).reshape(t2.shape)) + xp.sum(u ** 2) + xp.sum(v * w)
    check_grad(f, RNG.standard_normal((3, 4)), RNG.standard_normal(12), argnums=(0, 1))


@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
def test_reshape_transpose_moveaxis_by_hypothesis(data, shape):
    x = RNG.standard_normal(shape)
    perm = tuple(data.draw(st.permutations(range(len(shape)))))
    new = data.draw(st.sampled_from([(-1,), (x.size,), (1, -1), (-1, 1)] + ([shape[::-1]] if len(shape) > 1 else [])))
    src = data.draw(st.integers(-len(shape), len(shape) - 1))
    dst = data.draw(st.integers(-len(shape), len(shape) - 1))
    ax = data.draw(st.integers(-len(shape) - 1, len(shape)))
    fn = lambda xp, x: [xp.transpose(x, perm), xp.reshape(x, new), xp.moveaxis(x, src, dst),  # noqa: E731
                        xp.expand_dims(x, ax), xp.flip(x, src), xp.swapaxes(x, src, dst)]
    check_numpy(fn, x)
    check_movement_grad(fn, x)


@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=1, max_dims=3, max_side=3),
       extra=st.lists(st.integers(1, 3), max_size=2))
def test_broadcast_to_by_hypothesis(shapes, extra):
    x = RNG.standard_normal(shapes.input_shapes[0])
    target = tuple(extra) + shapes.result_shape
    check_numpy(lambda xp, x: xp.broadcast_to(x, target), x)
    check_movement_grad(lambda xp, x: xp.broadcast_to(x, target), x)


def test_shape_errors():
    x = np.ones((2, 3))
    for fn in [lambda: mnp.reshape(x, (4, -1)), lambda: mnp.reshape(x, (-1, -1)), lambda: mnp.squeeze(x, 0),
               lambda: mnp.broadcast_to(x, (3, 3)), lambda: mnp.concatenate([x, np.ones((3, 2))]),
               lambda: mnp.stack([x, x.T]), lambda: mnp.split(x, 4, axis=1), lambda: mnp.transpose(x, (0, 0)),
               lambda: mnp.swapaxes(x, 0, 2)]:
        with pytest.raises(ValueError):
            fn()


# ---------------------------------------------------------------------------------------------------
# indexing: forward equal to numpy on the same key, gradient equal to JAX's

def _index_component(n, idx_shape):
    """One axis's key entry: int, slice (any step sign), an integer array of a broadcastable shape, or a
    boolean mask of the axis."""
    ints = st.integers(-n, n - 1) if n else st.nothing()
    bounds = st.one_of(st.none(), st.integers(-n - 2, n + 2))
    slices = st.builds(slice, bounds, bounds, st.one_of(st.none(), st.integers(-3, 3).filter(bool)))
    arr = hnp.arrays(np.int64, idx_shape, elements=st.integers(-n, n - 1)) if n else st.nothing()
    mask = hnp.arrays(np.bool_, (n,))
    return st.one_of(ints, slices, arr, mask)


@st.composite
def numpy_keys(draw, shape):
    """A numpy key mixing ints, slices, integer arrays (broadcast together), masks, None and Ellipsis."""
    idx_shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    used = draw(st.integers(0, len(shape)))
    parts = [draw(_index_component(n, draw(st.sampled_from([idx_shape, idx_shape[-1:], ()]))))
             for n in shape[:used]]
    for _ in range(draw(st.integers(0, 2))):
        parts.insert(draw(st.integers(0, len(parts))), None)
    if used < len(shape) and draw(st.booleans()):
        parts.insert(draw(st.integers(0, len(parts))), Ellipsis)
    return tuple(parts) if len(parts) != 1 or draw(st.booleans()) else parts[0]


SHAPES_3D = hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)


@given(x=arrays(np.float64, SHAPES_3D), data=st.data())
def test_indexing_by_hypothesis_matches_numpy(x, data):
    key = data.draw(numpy_keys(x.shape))
    try:
        x[key]
    except IndexError:
        with pytest.raises(IndexError):
            mnp._indexing.getitem(x, key)
        with pytest.raises(IndexError):
            traced_value(lambda xp, x: x[key], x)
        return
    check_numpy(lambda xp, x: x[key] if xp is np else mnp._indexing.getitem(x, key), x)
    check_movement_grad(lambda xp, x: x[key], x)


@given(x=arrays(np.float64, SHAPES_3D), data=st.data())
def test_basic_indexing_by_hypothesis(x, data):
    key = data.draw(hnp.basic_indices(x.shape, allow_newaxis=True, allow_ellipsis=True))
    check_numpy(lambda xp, x: x[key] if xp is np else mnp._indexing.getitem(x, key), x)
    check_movement_grad(lambda xp, x: x[key], x)


@given(x=arrays(np.float64, SHAPES_3D), data=st.data())
def test_integer_array_indexing_by_hypothesis(x, data):
    result_shapes = hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)
    key = data.draw(hnp.integer_array_indices(x.shape, result_shape=result_shapes))
    check_numpy(lambda xp, x: x[key] if xp is np else mnp._indexing.getitem(x, key), x)
    check_movement_grad(lambda xp, x: x[key], x)


X345 = np.arange(60.0).reshape(3, 4, 5) / 7.0
KEYS = [0, -1, (1, 2), (-1, -2, -3), slice(None, None, -1), (slice(1, None, 2), None, Ellipsis, -2),
        (Ellipsis, None), (None, 0, None), (slice(3, 0, -1), slice(None, None, -2), slice(-1, -5, -3)),
        (slice(10, -10, -1),), (slice(0, 0),), (slice(5, 1),), (Ellipsis, slice(None, None, 3)),
        (np.int64(1), np.int32(-1)), np.array([0, 2, 2, -1]), [1, 0],
        (np.array([0, 1]), np.array([2, 0])),                               # several arrays, broadcast
        (np.array([[0], [2]]), np.array([1, 3, -1])),
        (np.array([[0], [1]]), slice(None), np.array([1, 3])),              # separated by a slice
        (slice(None), np.array([0, 2]), np.array([1, 3])),                  # adjacent, after a slice
        (0, slice(None), np.array([1, 3])), (np.array([0, 1]), slice(1, 3), 0),
        (Ellipsis, np.array([-1, 0])), (1, np.array([0, 2]), 2), (np.array(1),), (np.array([1]),),
        (np.array([], dtype=int),), (None, np.array([0, 1])), (np.array([0, 1]), None),
        (1, None, np.array([0, 2])), (np.array([[0, 1]]), None, slice(None), np.array([[2], [3]])),
        X345 > 4, X345[:, :, 0] > 2, (slice(None), X345[0, :, 0] > 0.3), (np.array([True, False, True]), 1),
        (Ellipsis, np.array([True, False, False, True, True])), [True, False, True]]


@pytest.mark.parametrize("key", KEYS, ids=[f"k{i}" for i in range(len(KEYS))])
def test_indexing_keys_match_numpy_and_jax(key):
    expected = X345[key]
    assert_like_numpy(mnp._indexing.getitem(X345, key), expected)
    assert_like_numpy(traced_value(lambda xp, x: x[key], X345), expected)
    assert_like_numpy(abstract_value(lambda xp, x: x[key], X345)[0], expected)
    jkey = tuple(np.asarray(k) if isinstance(k, list) else k for k in key) if isinstance(key, tuple) else (
        np.asarray(key) if isinstance(key, list) else key)
    w = np.arange(np.size(expected), dtype=np.float64).reshape(np.shape(expected)) + 1.0
    check_grad(lambda xp, x: xp.sum(xp.sin(x[key if xp is mnp else jkey]) * w), X345, fd=False)


def test_indexing_gradient_with_repeated_indices_adds_and_matches_finite_differences():
    x = RNG.standard_normal((3, 4))
    check_grad(lambda xp, x: xp.sum(x[np.array([0, 0, 2, -1])] ** 2) + xp.sum(x[:, np.array([1, 1, 1])]), x)
    check_grad(lambda xp, x: xp.sum(x[np.array([[0], [2]]), np.array([3, -1, 0])] * x[::-1, 1::2][0, 0]), x)


def test_indexing_errors():
    x = np.ones((2, 3))
    with pytest.raises(IndexError):
        traced_value(lambda xp, x: x[2], x)
    with pytest.raises(IndexError):
        traced_value(lambda xp, x: x[0, 0, 0], x)
    with pytest.raises(IndexError):
        traced_value(lambda xp, x: x[np.array([0, 3])], x)
    with pytest.raises(IndexError):
        traced_value(lambda xp, x: x[..., ...], x)
    with pytest.raises(IndexError):
        traced_value(lambda xp, x: x[np.array([0.5])], x)
    with pytest.raises(mg.UnsupportedError):                               # data-dependent shape
        traced_value(lambda xp, x: x[x > 0], x)
    with pytest.raises(IndexError):                                       # as numpy
        traced_value(lambda xp, x: x[np.array([0, 1]), np.array([0, 1, 2])], x)
    with pytest.raises(IndexError):
        traced_value(lambda xp, x: x[..., np.array([True, False])], x)
    with pytest.raises(mg.UnsupportedError):
        traced_value(lambda xp, x: x[True], x)


def test_traced_integer_indices():
    x, idx = RNG.standard_normal((4, 3)), np.array([3, 0, 0])
    value, g = mg.value_and_grad(lambda x, i: mnp.sum(x[i] ** 2), argnums=0)(x, idx)
    np.testing.assert_allclose(value, np.sum(x[idx] ** 2))
    np.testing.assert_allclose(g, jax.grad(lambda x: jnp.sum(x[idx] ** 2))(x))
    assert_like_numpy(traced_value(lambda xp, x, i: x[i, 1:], x, idx), x[idx, 1:])
    assert_like_numpy(traced_value(lambda xp, x, i: xp.take(x, i, axis=0), x, idx), x[idx])


@pytest.mark.parametrize("mode", ["raise", "wrap", "clip"])
def test_take_modes(mode):
    x = RNG.standard_normal((3, 4))
    idx = np.array([[0, -1], [2, 1]]) if mode == "raise" else np.array([[0, 7], [-6, 2]])
    for axis in [None, 0, 1, -1]:
        check_numpy(lambda xp, x: xp.take(x, idx, axis=axis, mode=mode), x)
        w = np.arange(np.take(x, idx, axis=axis, mode=mode).size) + 1.0
        # jnp.take has no 'raise' mode; its default does the same on in-range indices
        check_grad(lambda xp, x: xp.sum(xp.sin(xp.take(x, idx, axis=axis, mode=None if xp is jnp and mode == "raise"
                                                       else mode)).ravel() * w), x, fd=False)
    with pytest.raises(IndexError):
        mnp.take(x, np.array([12]))
    with pytest.raises(ValueError):
        mnp.take(x, np.array([1]), mode="fill")


# ---------------------------------------------------------------------------------------------------
# the traced array: operators, attributes, methods, numpy's dispatch

def test_tracer_attributes():
    x = np.ones((2, 3), np.float32)

    def f(x):
        assert x.shape == (2, 3) and x.ndim == 2 and x.dtype == np.float32 and x.size == 6 and len(x) == 2
        assert x.T.shape == (3, 2) and x.T.dtype == np.float32
        return mnp.sum(x)
    mg.grad(f)(x)


def test_tracer_operators_and_reflected_forms_match_numpy():
    a, b, w = sample(np.float64, (2, 3)), sample(np.float64, (3,)), sample(np.float64, (3, 4))
    ops = [lambda xp, a, b: a + b, lambda xp, a, b: b - a, lambda xp, a, b: a * b, lambda xp, a, b: a / (b * b + 1),
           lambda xp, a, b: (a * a + 1) ** b, lambda xp, a, b: a @ w, lambda xp, a, b: w.T @ a.T, lambda xp, a, b: -a,
           lambda xp, a, b: abs(a), lambda xp, a, b: 2.0 + a, lambda xp, a, b: 2.0 - a, lambda xp, a, b: 2.0 * a,
           lambda xp, a, b: 2.0 / (a * a + 1), lambda xp, a, b: 2.0 ** a, lambda xp, a, b: +a,
           lambda xp, a, b: a < b, lambda xp, a, b: a <= 0.5, lambda xp, a, b: a > b, lambda xp, a, b: 0 >= a,
           lambda xp, a, b: a == b, lambda xp, a, b: a != 1.0, lambda xp, a, b: w.T @ b, lambda xp, a, b: b @ w,
           lambda xp, a, b: (a > 0) & (b < 1), lambda xp, a, b: (a > 0) | (b < 1), lambda xp, a, b: ~(a > 0)]
    for op in ops:
        check_numpy(op, a, b)
        if op(np, a, b).dtype.kind == "f":
            check_grad(lambda xp, a, b: xp.sum(xp.sin(op(xp, a, b))), a, b, argnums=(0, 1), fd=False)


def test_mask_operators_on_traced_comparisons():
    x, m = RNG.standard_normal(5), np.array([True, False, True, True, False])
    for fn in [lambda xp, x: m & (x > 0), lambda xp, x: (x > 0) & m, lambda xp, x: m | (x < 0),
               lambda xp, x: (x > 0) ^ m, lambda xp, x: ~(x > 0), lambda xp, x: np.invert(x > 0) & True,
               lambda xp, x: xp.logical_and(m, x > 0), lambda xp, x: xp.logical_xor(x > 0, x > 1),
               lambda xp, x: xp.logical_or(x, 0), lambda xp, x: xp.logical_not(x - x)]:
        check_numpy(fn, x)
    check_grad(lambda xp, x: xp.sum(xp.where(m & (x > 0) | ~(x < -1), x ** 2, -x)), x)
    with pytest.raises(mg.UnsupportedError):                               # integer bit twiddling
        traced_value(lambda xp, x: x.astype(np.int64) & 3, x)


def test_numpy_operands_on_the_left_dispatch_to_the_tracer():
    W, x = RNG.standard_normal((3, 4)), RNG.standard_normal(4)
    for f in [lambda x: W @ x, lambda x: W * x, lambda x: np.float64(2) * x, lambda x: np.float32(2) * x,
              lambda x: np.array(2.0) - x, lambda x: W / (x * x + 1), lambda x: np.ones(4) ** x,
              lambda x: W > x, lambda x: np.int64(3) + x]:
        out = mg.vjp(f, x)[0]
        assert_like_numpy(out, f(x))
    g = mg.grad(lambda x: mnp.sum(np.sin(W @ x) * (np.float64(2) * x[0])))(x)
    np.testing.assert_allclose(g, jax.grad(lambda x: jnp.sum(jnp.sin(W @ x) * (2.0 * x[0])))(x), rtol=1e-12)


def test_tracer_methods_match_numpy():
    x = sample(np.float64, (2, 3, 4))
    for fn in [lambda xp, x: x.sum(), lambda xp, x: x.sum(0), lambda xp, x: x.sum(axis=(0, 2), keepdims=True),
               lambda xp, x: x.mean(), lambda xp, x: x.mean(axis=-1), lambda xp, x: x.max(), lambda xp, x: x.max(1),
               lambda xp, x: x.min(axis=0, keepdims=True), lambda xp, x: x.reshape(6, 4),
               lambda xp, x: x.reshape((4, -1)),
               lambda xp, x: x.reshape(-1), lambda xp, x: x.astype(np.float32), lambda xp, x: x.astype("int32"),
               lambda xp, x: x.astype(bool), lambda xp, x: x.transpose(), lambda xp, x: x.transpose(1, 0, 2),
               lambda xp, x: x.transpose((2, 0, 1)), lambda xp, x: x[0].dot(x[1].T), lambda xp, x: x[0, 0].dot(x[1, 1]),
               lambda xp, x: x.T, lambda xp, x: x.prod(axis=1), lambda xp, x: x.var(ddof=1),
               lambda xp, x: x.std(axis=0),
               lambda xp, x: x.argmax(axis=1), lambda xp, x: x.argmin(), lambda xp, x: x.cumsum(axis=2),
               lambda xp, x: x.clip(-0.5, 0.5), lambda xp, x: x.ravel(), lambda xp, x: x[:, :1].squeeze(),
               lambda xp, x: x.swapaxes(0, 2), lambda xp, x: x.round(1), lambda xp, x: x.take([0, -1], axis=1),
               lambda xp, x: x.flatten()]:
        check_numpy(fn, x)
    check_grad(lambda xp, x: x.sum() + x.mean(0).max() + x.reshape(6, 4).min() + x.transpose(1, 0, 2)[0].dot(x[0, 0])[1]
               + x.astype(np.float32).astype(np.float64).sum(axis=(0, 1)).dot(x[1, 1]), x, fd=False)


def test_plain_numpy_functions_dispatch_on_traced_values():
    W, x = sample(np.float64, (3, 4)), sample(np.float64, (4,))
    fns = [lambda x: np.exp(x), lambda x: np.dot(W, x), lambda x: np.sum(W * x, axis=0), lambda x: np.maximum(0, x),
           lambda x: np.mean(x), lambda x: np.tanh(x), lambda x: np.sum(x, axis=0, keepdims=True),
           lambda x: np.mean(W * x, axis=1), lambda x: np.max(x), lambda x: np.amax(W * x, axis=-1),
           lambda x: np.where(x > 0, x, 0.01 * x), lambda x: np.clip(x, -1, 1), lambda x: np.sqrt(x * x + 1),
           lambda x: np.square(x), lambda x: np.power(x, 3), lambda x: np.log(np.abs(x) + 1), lambda x: np.abs(x),
           lambda x: np.matmul(W, x), lambda x: np.outer(x, x), lambda x: np.einsum("ij,j->i", W, x),
           lambda x: np.reshape(x, (2, 2)), lambda x: np.transpose(W * x), lambda x: np.concatenate([x, x]),
           lambda x: np.stack([x, x], axis=1), lambda x: np.hstack([x, x]), lambda x: np.vstack([x, x]),
           lambda x: np.split(x, 2), lambda x: np.flip(x), lambda x: np.take(x, [0, 1]), lambda x: np.var(x),
           lambda x: np.std(x), lambda x: np.prod(x), lambda x: np.cumsum(x), lambda x: np.argmax(x),
           lambda x: np.broadcast_to(x, (2, 4)), lambda x: np.expand_dims(x, 0), lambda x: np.squeeze(x[None]),
           lambda x: np.ravel(W * x), lambda x: np.swapaxes(W * x, 0, 1), lambda x: np.moveaxis(W * x, 0, 1),
           lambda x: np.tensordot(x, x, 1), lambda x: np.inner(x, x), lambda x: np.vdot(x, x),
           lambda x: np.minimum(x, 0.5), lambda x: np.logical_and(x > 0, x < 1), lambda x: np.round(x, 1),
           lambda x: np.around(x), lambda x: np.min(W * x, axis=0), lambda x: np.argmin(x),
           lambda x: np.take_along_axis(x, np.array([1, 0]), axis=0), lambda x: np.zeros_like(x),
           lambda x: np.ones_like(x), lambda x: np.full_like(x, 3), lambda x: np.true_divide(x, 3),
           lambda x: np.subtract(1, x), lambda x: np.negative(x), lambda x: np.sign(x), lambda x: np.floor(x),
           lambda x: np.expm1(x), lambda x: np.log1p(x * x), lambda x: np.sin(x) + np.cos(x) + np.tan(x)]
    for f in fns:
        expected = f(x)
        assert_like_numpy(mg.vjp(f, x)[0], expected, "traced")
    assert mg.vjp(lambda x: (np.shape(x), np.ndim(x), np.size(x)), x)[0] == ((4,), 1, 4)


def test_lecture_style_numpy_code_has_jaxs_gradients():
    """Code as in the lecture notes, with plain `np.` calls, differentiated through numpy's dispatch."""
    N, D, H, C = 5, 4, 6, 3
    X, W1, b1, W2, b2 = (RNG.standard_normal(s) for s in [(N, D), (D, H), (H,), (H, C), (C,)])
    y = np.array([0, 2, 1, 1, 0])

    def softmax_loss(W1, b1, W2, b2):
        h = np.maximum(0, np.dot(X, W1) + b1)
        scores = h.dot(W2) + b2
        scores = scores - np.max(scores, axis=1, keepdims=True)
        probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
        loss = -np.mean(np.log(probs[np.arange(N), y]))
        return loss + 0.5 * 1e-2 * (np.sum(W1 * W1) + np.sum(W2 ** 2))

    def svm_loss(W2):
        scores = np.dot(X, W2[:D])
        correct = scores[np.arange(N), y][:, None]
        margins = np.maximum(0, scores - correct + 1.0)
        margins = margins * (np.arange(C)[None, :] != y[:, None])
        return np.sum(margins) / N

    def sigmoid_net(W1, b1):
        h = 1.0 / (1.0 + np.exp(-(X @ W1 + b1)))
        return np.sum(np.tanh(h) ** 2)

    def batchnorm(W1):
        a = X @ W1
        mu = np.mean(a, axis=0)
        var = np.var(a, axis=0)
        return np.sum(((a - mu) / np.sqrt(var + 1e-5)) * np.arange(H))

    check_plain_numpy_grad(softmax_loss, W1, b1, W2, b2, argnums=(0, 1, 2, 3))
    check_plain_numpy_grad(svm_loss, W2)
    check_plain_numpy_grad(sigmoid_net, W1, b1, argnums=(0, 1))
    check_plain_numpy_grad(batchnorm, W1)


def test_numpy_array_dot_method_on_a_tracer_is_a_known_limitation():
    """`ndarray.dot(tracer)` is numpy's method: it converts its argument with __array__ and never
    dispatches, so it raises our TracerError. `np.dot(W, x)` and `W @ x` are the ways to write it."""
    W, x = RNG.standard_normal((3, 4)), RNG.standard_normal(4)
    with pytest.raises(mg.TracerError, match="cannot become a numpy array"):
        mg.grad(lambda x: mnp.sum(W.dot(x)))(x)
    g1 = mg.grad(lambda x: mnp.sum(np.dot(W, x) ** 2))(x)
    g2 = mg.grad(lambda x: mnp.sum((W @ x) ** 2))(x)
    np.testing.assert_allclose(g1, 2 * W.T @ (W @ x), rtol=1e-12)
    np.testing.assert_allclose(g2, g1, rtol=1e-12)
    with pytest.raises(mg.TracerError):
        mg.grad(lambda x: mnp.sum(np.asarray(x)))(x)


def test_unsupported_numpy_functions_and_arguments_raise_clearly():
    x = np.ones(3)
    for f in [lambda x: np.sort(x), lambda x: np.exp(x, out=np.empty(3)), lambda x: np.add(x, 1, dtype=np.float32),
              lambda x: np.add.reduce(x), lambda x: mnp.sum(x, out=np.empty(())), lambda x: np.square(x, where=x > 0),
              lambda x: mnp.reshape(x, 3, order="F")]:
        with pytest.raises(mg.UnsupportedError):
            mg.vjp(f, x)


# ---------------------------------------------------------------------------------------------------
# weak typing and float32 under trace

def test_float32_stays_float32_under_trace_and_gradients_come_back_float32():
    x, W = sample(np.float32, (3, 4)), sample(np.float32, (4, 2))

    def f(x):
        y = x * 2.0 + 1
        assert y.dtype == np.float32
        assert (y / 3).dtype == np.float32 and (y ** 2).dtype == np.float32 and (2 ** y).dtype == np.float32
        assert mnp.mean(y).dtype == np.float32 and mnp.var(y, axis=0).dtype == np.float32
        assert mnp.maximum(0, y).dtype == np.float32 and mnp.where(y > 0, y, 0.0).dtype == np.float32
        assert (y @ W).dtype == np.float32 and mnp.exp(y).dtype == np.float32
        assert (y * np.float64(1)).dtype == np.float64                    # numpy scalars are strong
        return mnp.sum(mnp.tanh(y @ W)) + mnp.mean(y ** 2) + mnp.sum((y * np.float64(0.5)) ** 2)

    value, g = mg.value_and_grad(f)(x)
    assert g.dtype == np.float32 and g.shape == x.shape
    assert mg.grad(lambda x: mnp.sum(x.astype(np.float64) ** 2))(x).dtype == np.float32
    jg = jax.grad(lambda x: jnp.sum(jnp.tanh((x * 2.0 + 1) @ W)) + jnp.mean((x * 2.0 + 1) ** 2)
                  + jnp.sum(((x * 2.0 + 1) * 0.5) ** 2))(x.astype(np.float64))
    np.testing.assert_allclose(g, jg, rtol=1e-4, atol=1e-5)


def test_integer_and_bool_traced_values_follow_numpy():
    for x in [np.arange(4, dtype=np.int32), np.arange(4) > 1]:
        for fn in [lambda xp, x: x + 1, lambda xp, x: x * 2.5, lambda xp, x: x / 2, lambda xp, x: xp.sum(x),
                   lambda xp, x: xp.mean(x), lambda xp, x: xp.exp(x), lambda xp, x: xp.cumsum(x),
                   lambda xp, x: xp.prod(x), lambda xp, x: x.astype(np.float32) * 2.0, lambda xp, x: xp.var(x)]:
            check_numpy(fn, x)
