"""Neural-network functions with jax.nn's names and signatures, plus the lecture's maxout and losses.

All are numerically stable for logits of +-1000: no inf or nan in values or gradients.
"""
from __future__ import annotations

import numpy as np

from tracing import DTypeError, ShapeError

from . import numpy as mnp
from . import primitives as P
from .numpy._core import UnsupportedError, as_array, normalize_axes


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
        raise UnsupportedError("logsumexp: return_sign=True is not supported",
                               "Keep b non-negative, or split the positive and negative terms yourself.")
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
    """The lecture's maxout unit: max over k pieces of x @ w[k] + b[k]; w is (k, D, H), b is (k, H).

    x is (..., D): a single vector or any batch of them; the result is (..., H).
    """
    x, w, b = as_array(x), as_array(w), as_array(b)
    if w.ndim != 3 or b.shape != (w.shape[0], w.shape[2]) or x.ndim < 1 or x.shape[-1] != w.shape[1]:
        raise ShapeError(f"maxout: shapes x {x.shape}, w {w.shape} and b {b.shape} do not fit",
                         "maxout needs x of shape (..., D), w of shape (k, D, H) and b of shape (k, H).")
    pieces = mnp.tensordot(x, w, axes=([x.ndim - 1], [1])) + b  # (..., k, H)
    return mnp.max(pieces, axis=-2)


def _check_labels(op: str, scores, labels):
    labels = as_array(labels)
    if labels.dtype.kind not in "iu":
        raise DTypeError(f"{op}: labels must be integer class indices, got dtype {labels.dtype.name} "
                         f"{labels.shape}", "Pass integer labels, e.g. labels.astype(np.int64) or argmax of one-hot.")
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        raise ShapeError(f"{op}: scores of shape {scores.shape} and labels of shape {labels.shape} do not fit",
                         "Pass scores of shape (N, C) and one integer label per row, of shape (N,).")
    return labels


def softmax_cross_entropy(logits, labels):
    """Mean over the batch of -log softmax(logits)[i, labels[i]] for integer labels; logits is (N, C)."""
    logits = _float(logits)
    labels = _check_labels("softmax_cross_entropy", logits, labels)
    n = logits.shape[0]
    return -mnp.mean(log_softmax(logits)[np.arange(n), labels])


def multiclass_svm_loss(scores, labels, margin: float = 1.0):
    """Mean over the batch of sum_{j != y_i} max(0, s_j - s_{y_i} + margin) for integer labels; scores is (N, C)."""
    scores = _float(scores)
    labels = _check_labels("multiclass_svm_loss", scores, labels)
    n, c = scores.shape
    correct = scores[np.arange(n), labels]
    margins = mnp.maximum(0, scores - correct[:, None] + margin)
    not_label = mnp.not_equal(np.arange(c)[None, :], mnp.reshape(labels, (n, 1)))
    return mnp.sum(mnp.where(not_label, margins, 0)) / n
