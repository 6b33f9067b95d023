"""Integer-array indexing: gather and its transpose scatter_add.

`gather(x, idx)`: idx is an integer array of shape batch + (k,); the result is
`x[idx[..., 0], ..., idx[..., k-1]]` of shape batch + x.shape[k:]. The numpy surface moves the indexed
axes to the front first, so every numpy advanced index becomes this one primitive.

Indices run from -n to n - 1 on an axis of size n, as in numpy. Out of that range: indices known when the
program is optimised (constants) are an IndexError then, at trace time; the numpy implementation raises
an IndexError when it runs; XLA cannot raise, so the lowering clamps each (normalised) index into range,
in gather and in scatter_add alike: a clamped read x[n - 1] sends its gradient to x[n - 1], the element
it read (JAX's default drops scatter updates instead, which would lose the gradient of what was read).
"""
from __future__ import annotations

import numpy as np

from tracing import DTypeError, OpError, ShapedArray, ShapeError

from ._base import Display, jnp, later_family, primitive, scalar
from ._transforms import batch_size, bdim_at_front, broadcast_batch, linear_jvp, moveaxis
from .shape import broadcast_in_dim, concatenate, iota

__all__ = ["gather", "scatter_add", "gather_p", "scatter_add_p"]

E = later_family("elementwise")  # batching widens indices too narrow to count the examples


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


class IndexOutOfBoundsError(OpError, IndexError):
    """An index out of range when gather or scatter_add runs (an IndexError, as numpy's)."""


def _out_of_bounds(name, shape, idx, where="", runtime=True):
    """The IndexError for the first index of idx out of the range -n..n-1 of its axis (at run time an
    IndexOutOfBoundsError, at trace time the IndexShapeError eager indexing raises); None when all are
    in range."""
    for d in range(idx.shape[-1]):
        col, n = idx[..., d], shape[d]
        if col.size and (col.max() >= n or col.min() < -n):
            bad = int(col.max()) if col.max() >= n else int(col.min())
            what = (f"index {bad} is out of bounds for axis {d} with size {n} (an operand of shape {tuple(shape)} "
                    f"indexed on its leading {idx.shape[-1]} axes){where}")
            hint = f"Valid indices on that axis are {-n} to {n - 1}."
            if runtime:
                return IndexOutOfBoundsError(f"{name} failed on operands: {what}", hint)
            from ..numpy._core import IndexShapeError  # the numpy surface's class (it imports this module)
            return IndexShapeError(f"{name}: {what}", hint)
    return None


def _gather_impl(x, idx):
    try:
        return x[tuple(np.moveaxis(idx, -1, 0))]
    except IndexError:
        err = _out_of_bounds("gather", x.shape, idx)
        if err is None:
            raise
        raise err from None


def _gather_vjp(g, ans, x, idx):
    return scatter_add(broadcast_in_dim(scalar(0, g), x.shape, ()), idx, g)


def _jax_index(idx):
    # jnp indexing: negative indices count from the end, as in numpy (then mode="clip" clamps)
    return tuple(idx[..., i] for i in range(idx.shape[-1]))


def _check_known_indices(eqn, ctx):
    """A "simplify" rule that rewrites nothing: indices known at trace time are checked then, so jit
    raises the IndexError eager indexing raises instead of clamping at run time."""
    idx = ctx.value(eqn.invars[1])
    if idx is not None:
        where = f" (at {eqn.source.location()})" if eqn.source.code is not None else ""
        err = _out_of_bounds(eqn.prim.name, eqn.invars[0].aval.shape, np.asarray(idx), where, runtime=False)
        if err is not None:
            raise err
    return None


gather_p = primitive("gather", _gather_rule, _gather_impl, [_gather_vjp, None],
                     lambda x, idx: jnp.asarray(x).at[_jax_index(idx)].get(mode="clip"), reads=(1,),
                     display=Display(kind="moves", local="upstream added back at the indices, 0 elsewhere"))
def gather(x, idx): return gather_p.bind(x, idx)


def _with_batch_position(idx, di):
    """A batched idx (batch axis di, shape batch + (k,) per example) as (N,) + batch + (k + 1,): each index
    led by its example's position, to index an operand whose batch axis is first."""
    idx = moveaxis(idx, di, 0)
    shape = tuple(idx.shape)
    if np.iinfo(idx.dtype).max < shape[0] - 1:
        idx = E.convert_element_type(idx, np.dtype(np.int64))
    pos = iota(idx.dtype, shape[:-1] + (1,), 0)
    return concatenate([pos, idx], len(shape) - 1)


def _gather_batch(args, dims):
    (x, idx), (dx, di) = args, dims
    if dx is None:  # the same operand for every example: gather with all the indices at once
        return [gather_p.bind(x, moveaxis(idx, di, 0))], [0]
    if di is None:  # the batch axis, after the indexed axes, is one more trailing axis of the result
        return [gather_p.bind(moveaxis(x, dx, idx.shape[-1]), idx)], [idx.ndim - 1]
    return [gather_p.bind(moveaxis(x, dx, 0), _with_batch_position(idx, di))], [0]


gather_p.rules["jvp"] = linear_jvp(gather_p, linear=(0,))
gather_p.rules["batch"] = _gather_batch
gather_p.rules["simplify"] = _check_known_indices


def _index_example(s):
    """An operand and indices of shape batch + (k,), int32 or int64, in -m..m-1 for m the shortest indexed
    axis: check_rules' batching check permutes their values, which keeps them in range."""
    x = s.floats(s.shape(1))
    k = s.integers(1, x.ndim + 1)
    m = min(x.shape[:k])
    return x, s.integers(-m, m, s.shape(0, 2) + (k,)).astype(s.choice([np.int32, np.int64]))


gather_p.rules["example"] = lambda s: (list(_index_example(s)), {})


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
    try:
        np.add.at(out, tuple(np.moveaxis(idx, -1, 0)), updates)
    except IndexError:
        err = _out_of_bounds("scatter_add", operand.shape, idx)
        if err is None:
            raise
        raise err from None
    return out


scatter_add_p = primitive("scatter_add", _scatter_rule, _scatter_impl, [
    lambda g, ans, operand, idx, updates: g,
    None,
    lambda g, ans, operand, idx, updates: gather(g, idx),
], lambda operand, idx, updates: jnp.asarray(operand).at[_jax_index(idx)].add(updates, mode="clip"), reads=(1,),
   display=Display(kind="moves", formula=("1: upstream as it is", "", "upstream read at the indices")))
def scatter_add(operand, idx, updates): return scatter_add_p.bind(operand, idx, updates)


def _scatter_batch(args, dims):
    (operand, idx, updates), (do, di, du) = args, dims
    n = batch_size(args, dims)
    if di is None:
        # the batch axis just after the indexed axes of the operand, and where gather would put it in the
        # updates (after idx's batch axes): every example scatters into its own slice
        k, nb = idx.shape[-1], idx.ndim - 1
        operand = broadcast_batch(operand, n, k) if do is None else moveaxis(operand, do, k)
        updates = broadcast_batch(updates, n, nb) if du is None else moveaxis(updates, du, nb)
        return [scatter_add_p.bind(operand, idx, updates)], [k]
    # batched indices: each index led by its example's position, into an operand batched first
    out = scatter_add_p.bind(bdim_at_front(operand, do, n), _with_batch_position(idx, di),
                             bdim_at_front(updates, du, n))
    return [out], [0]


scatter_add_p.rules["jvp"] = linear_jvp(scatter_add_p, linear=(0, 2))
scatter_add_p.rules["batch"] = _scatter_batch
scatter_add_p.rules["simplify"] = _check_known_indices


def _scatter_example(s):
    x, idx = _index_example(s)
    return [x, idx, s.floats(idx.shape[:-1] + x.shape[idx.shape[-1]:])], {}


scatter_add_p.rules["example"] = _scatter_example
