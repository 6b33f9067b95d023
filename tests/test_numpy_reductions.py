"""minigrad_fn.numpy's reductions and scans (`minigrad_fn/numpy/_reductions.py`) against numpy (values, dtypes,
axis/keepdims/ddof/initial/where) and against jax.numpy (gradients). The helpers are in `numpy_cases.py`."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad_fn.numpy as mnp
from helpers import check_grad
from numpy_cases import DTYPES, RNG, arrays, check_numpy, sample

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


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
