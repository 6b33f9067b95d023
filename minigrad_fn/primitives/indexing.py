"""Integer-array indexing: gather and its transpose scatter_add.

`gather(x, idx)`: idx is an integer array of shape batch + (k,); the result is
`x[idx[..., 0], ..., idx[..., k-1]]` of shape batch + x.shape[k:]. The numpy surface moves the indexed
axes to the front first, so every numpy advanced index becomes this one primitive.
"""
from __future__ import annotations

import numpy as np

from tracing import DTypeError, ShapedArray, ShapeError

from ._base import Display, jnp, primitive, scalar
from .shape import broadcast_in_dim

__all__ = ["gather", "scatter_add", "gather_p", "scatter_add_p"]


def _check_idx(name, x, idx):
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"{name}: indices must be integers, got {idx.dtype.name} {idx.shape}",
                         "Cast them with .astype(int).")
    if len(idx.shape) == 0 or not 1 <= idx.shape[-1] <= len(x.shape):
        raise ShapeError(f"{name}: index array of shape {idx.shape} does not fit an operand of shape "
                         f"{x.shape}",
                         "The last axis of the index array counts the indexed leading axes.")


def _gather_rule(x, idx):
    _check_idx("gather", x, idx)
    k = idx.shape[-1]
    return ShapedArray(tuple(idx.shape[:-1]) + tuple(x.shape[k:]), x.dtype)


def _gather_impl(x, idx):
    return x[tuple(np.moveaxis(idx, -1, 0))]


def _gather_vjp(g, ans, x, idx):
    return scatter_add(broadcast_in_dim(scalar(0, g), x.shape, ()), idx, g)


def _jax_index(idx):
    # jnp indexing: negative indices count from the end, as in numpy
    return tuple(idx[..., i] for i in range(idx.shape[-1]))


gather_p = primitive("gather", _gather_rule, _gather_impl, [_gather_vjp, None],
                     lambda x, idx: jnp.asarray(x)[_jax_index(idx)], reads=(1,),
                     display=Display(kind="moves"))
def gather(x, idx): return gather_p.bind(x, idx)


def _scatter_rule(operand, idx, updates):
    _check_idx("scatter_add", operand, idx)
    k = idx.shape[-1]
    want = tuple(idx.shape[:-1]) + tuple(operand.shape[k:])
    if updates.dtype != operand.dtype:
        raise DTypeError(f"scatter_add: updates {updates} and operand {operand} have different dtypes",
                         "Cast the updates with .astype(...) to the operand's dtype.")
    if updates.shape != want:
        raise ShapeError(f"scatter_add: updates {updates} do not fit operand {operand} at indices {idx}",
                         f"Updates must have shape {want}.")
    return operand


def _scatter_impl(operand, idx, updates):
    out = np.array(operand, copy=True)
    np.add.at(out, tuple(np.moveaxis(idx, -1, 0)), updates)
    return out


scatter_add_p = primitive("scatter_add", _scatter_rule, _scatter_impl, [
    lambda g, ans, operand, idx, updates: g,
    None,
    lambda g, ans, operand, idx, updates: gather(g, idx),
], lambda operand, idx, updates: jnp.asarray(operand).at[_jax_index(idx)].add(updates), reads=(1,),
   display=Display(kind="moves"))
def scatter_add(operand, idx, updates): return scatter_add_p.bind(operand, idx, updates)
