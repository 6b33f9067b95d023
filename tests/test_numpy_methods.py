"""The traced array (`minigrad_fn/numpy/_methods.py`): operators, attributes, methods and numpy's dispatch
protocols, against numpy and jax.numpy. The helpers are in `numpy_cases.py`."""
from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from helpers import check_grad
from numpy_cases import RNG, assert_like_numpy, check_numpy, sample, traced_value

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


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
        mg.make_jaxpr(lambda x: mnp.sum(W.dot(x)))(x)
    with pytest.raises(mg.GradientLostError, match="derivative would be lost") as e:  # under grad: say why
        mg.grad(lambda x: mnp.sum(W.dot(x)))(x)
    assert "np.dot(W, x)" in str(e.value)
    g1 = mg.grad(lambda x: mnp.sum(np.dot(W, x) ** 2))(x)
    g2 = mg.grad(lambda x: mnp.sum((W @ x) ** 2))(x)
    np.testing.assert_allclose(g1, 2 * W.T @ (W @ x), rtol=1e-12)
    np.testing.assert_allclose(g2, g1, rtol=1e-12)
    with pytest.raises(mg.GradientLostError):
        mg.grad(lambda x: mnp.sum(np.asarray(x)))(x)


def test_unsupported_numpy_functions_and_arguments_raise_clearly():
    x = np.ones(3)
    for f in [lambda x: np.sort(x), lambda x: np.exp(x, out=np.empty(3)), lambda x: np.add(x, 1, dtype=np.float32),
              lambda x: np.add.reduce(x), lambda x: mnp.sum(x, out=np.empty(())), lambda x: np.square(x, where=x > 0),
              lambda x: mnp.reshape(x, 3, order="F")]:
        with pytest.raises(mg.UnsupportedError):
            mg.vjp(f, x)
