"""minigrad_fn.numpy's elementwise functions (`minigrad_fn/numpy/_ufuncs.py`) against numpy (values and dtypes,
broadcasting, weak scalars) and against jax.numpy (gradients, subgradients at kinks). The helpers are in
`numpy_cases.py`."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from helpers import check_grad
from numpy_cases import DTYPES, arrays, assert_like_numpy, check_numpy, sample, traced_value

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


UNARY = ["negative", "square", "sqrt", "exp", "log", "log1p", "expm1", "sin", "cos", "tan", "tanh", "abs",
         "absolute", "sign", "floor", "ceil", "round", "rint", "logical_not", "positive", "reciprocal",
         "isfinite", "isnan"]


@pytest.mark.parametrize("dtype", DTYPES + [np.int8, np.float16])
@pytest.mark.parametrize("name", UNARY)
def test_unary_values_and_dtypes(name, dtype):
    x = sample(dtype, (2, 3), positive=name in ("log", "sqrt", "reciprocal"))
    check_numpy(lambda xp, x: getattr(xp, name)(x), x)


BINARY = ["add", "subtract", "multiply", "divide", "true_divide", "power", "maximum", "minimum", "equal",
          "not_equal", "less", "less_equal", "greater", "greater_equal", "logical_and", "logical_or",
          "logical_xor", "logaddexp", "logaddexp2"]


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
    "logaddexp": lambda xp, a, b: xp.sum(xp.logaddexp(a, b) * a),
    "logaddexp2": lambda xp, a, b: xp.sum(xp.logaddexp2(a * 3.0, b) ** 2),
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


def test_logaddexp_at_ties_and_infinities_as_numpy_and_jax():
    x = np.array([-3.0, 0.5, 1000.0, -np.inf, np.inf, 1.0, -np.inf])
    y = np.array([1.0, 0.5, 999.0, -np.inf, 3.0, np.nan, np.inf])
    for name in ("logaddexp", "logaddexp2"):
        np.testing.assert_allclose(getattr(mnp, name)(x, y), getattr(np, name)(x, y), rtol=1e-15)
        # at a tie each operand gets half the gradient (as JAX's custom rule; a naive |x - y| gives 0 and 1)
        g = mg.grad(lambda a, b: getattr(mnp, name)(a, b), argnums=(0, 1))(0.5, 0.5)
        np.testing.assert_allclose(g, (0.5, 0.5), rtol=1e-15)
