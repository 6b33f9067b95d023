"""minigrad_fn.numpy's dtype promotion (`minigrad_fn/numpy/_core.py`): numpy 2's rules, weak Python scalars,
and float32, integer and bool values staying what numpy makes them under trace. The helpers are in
`numpy_cases.py`."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from numpy_cases import DTYPES, check_numpy, sample, traced_value

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def test_unary_promotions_named_in_the_contract():
    # exp of int8 is float16, of int32/bool float64; sqrt of int64 float64; negative of int32 stays int32
    assert mnp.exp(np.ones(2, np.int8)).dtype == np.float16
    assert mnp.exp(np.ones(2, np.int32)).dtype == np.float64
    assert mnp.exp(np.ones(2, bool)).dtype == np.float16
    assert mnp.sqrt(np.ones(2, np.int64)).dtype == np.float64
    assert traced_value(lambda xp, x: xp.exp(x), np.ones(2, np.int8)).dtype == np.float16
    assert traced_value(lambda xp, x: -x, np.ones(2, np.int32)).dtype == np.int32


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
