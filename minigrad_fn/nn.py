"""Neural-network functions with jax.nn's names and signatures, plus the lecture's maxout and losses.

All are numerically stable for logits of +-1000: no inf or nan in values or gradients.
"""
from __future__ import annotations

import numpy as np

from . import numpy as mnp
from . import primitives as P
from .numpy._core import as_array, normalize_axes


def _float(x):
    x = as_array(x)
    return x if x.dtype.kind == "f" else as_array(x, np.dtype(np.float64))


def sigmoid(x):
    """1 / (1 + exp(-x)), one gate whose local gradient is s * (1 - s)."""
    return P.logistic(_float(x))


def relu(x):
    """max(0, x), with gradient 0 at x = 0 (as jax.nn.relu)."""
    x = as_array(x)
    return mnp.where(x > 0, x, 0)


def leaky_relu(x, negative_slope: float = 1e-2):
    """x where x >= 0, negative_slope * x elsewhere (the lecture's max(0.1x, x) with negative_slope=0.1)."""
    x = _float(x)
    return mnp.where(x >= 0, x, negative_slope * x)


def elu(x, alpha: float = 1.0):
    """x where x > 0, alpha * (exp(x) - 1) elsewhere; exp never sees large positive x."""
    x = _float(x)
    safe = mnp.where(x > 0, 0, x)
    return mnp.where(x > 0, x, alpha * mnp.expm1(safe))


def logsumexp(a, axis=None, b=None, keepdims: bool = False, return_sign: bool = False):
    """log(sum(b * exp(a))) computed stably by shifting with the (gradient-free) maximum."""
    if return_sign:
        raise NotImplementedError("logsumexp(return_sign=True) is not supported")
    a = _float(a)
    axes = normalize_axes(axis, a.ndim, "logsumexp")
    amax = P.stop_gradient(mnp.max(a, axis=axes, keepdims=True))
    amax = mnp.where(mnp.isfinite(amax), amax, 0)
    e = mnp.exp(a - amax)
    if b is not None:
        e = e * b
    out = mnp.log(mnp.sum(e, axis=axes, keepdims=True)) + amax
    return out if keepdims else mnp.squeeze(out, axes)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along axis, stable for any logits."""
    x = _float(x)
    shifted = x - P.stop_gradient(mnp.max(x, axis=axis, keepdims=True))
    return shifted - mnp.log(mnp.sum(mnp.exp(shifted), axis=axis, keepdims=True))


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along axis, stable for any logits."""
    x = _float(x)
    unnormalized = mnp.exp(x - P.stop_gradient(mnp.max(x, axis=axis, keepdims=True)))
    return unnormalized / mnp.sum(unnormalized, axis=axis, keepdims=True)


def one_hot(x, num_classes: int, *, dtype=np.float64, axis=-1):
    """1.0 at each integer label's position along a new axis of length num_classes."""
    x = as_array(x)
    out = mnp.equal(mnp.expand_dims(x, axis), mnp.expand_dims(np.arange(num_classes), _other_axes(x.ndim + 1, axis)))
    return mnp.asarray(out, dtype=dtype)


def _other_axes(ndim, axis):
    axis = axis % ndim
    return tuple(i for i in range(ndim) if i != axis)


def maxout(x, w, b):
    """The lecture's maxout unit: max over k pieces of x @ w[k] + b[k]; w is (k, D, H), b is (k, H)."""
    return mnp.max(mnp.matmul(x, w) + mnp.expand_dims(b, 1), axis=0)


def softmax_cross_entropy(logits, labels):
    """Mean over the batch of -log softmax(logits)[i, labels[i]] for integer labels."""
    logits = _float(logits)
    n = logits.shape[0]
    return -mnp.mean(log_softmax(logits)[np.arange(n), labels])


def multiclass_svm_loss(scores, labels, margin: float = 1.0):
    """Mean over the batch of sum_{j != y_i} max(0, s_j - s_{y_i} + margin) for integer labels."""
    scores = _float(scores)
    n, c = scores.shape
    correct = scores[np.arange(n), labels]
    margins = mnp.maximum(0, scores - correct[:, None] + margin)
    not_label = mnp.not_equal(np.arange(c)[None, :], mnp.reshape(labels, (n, 1)))
    return mnp.sum(mnp.where(not_label, margins, 0)) / n
