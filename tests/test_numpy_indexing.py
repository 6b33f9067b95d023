"""numpy indexing and take on traced arrays (`minigrad_fn/numpy/_indexing.py`): forward equal to numpy on the
same key, gradient equal to JAX's. The helpers are in `numpy_cases.py`."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from helpers import check_grad
from numpy_cases import RNG, abstract_value, arrays, assert_like_numpy, check_movement_grad, check_numpy, traced_value

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


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
