"""minigrad_fn.numpy's shape manipulation (`minigrad_fn/numpy/_shape.py`) against numpy (values, dtypes, errors),
with exact gradients and jax.grad. The helpers are in `numpy_cases.py`."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad_fn.numpy as mnp
from helpers import check_grad
from numpy_cases import RNG, check_movement_grad, check_numpy, sample

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


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
