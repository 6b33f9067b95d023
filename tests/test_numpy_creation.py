"""minigrad_fn.numpy's array creation (`minigrad_fn/numpy/_creation.py`) and dtype names, against numpy."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad_fn.numpy as mnp
from helpers import check_grad
from numpy_cases import assert_like_numpy, check_numpy, traced_value

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


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

