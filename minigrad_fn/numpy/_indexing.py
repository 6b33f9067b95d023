"""numpy indexing on traced arrays: basic (ints, slices, None, Ellipsis) and integer-array indexing.

Slices become the `slice` primitive (with `rev` for negative steps); integer arrays become one `gather`
on the indexed axes moved to the front, then a transpose to numpy's placement of the result axes.
"""
from __future__ import annotations

import numpy as np

from tracing import NOVAL, ShapeError, Tracer

from .. import primitives as P
from ._core import IndexShapeError, UnsupportedError, as_array, no_out, normalize_axis
from ._shape import reshape
from ._ufuncs import clip, remainder


def _is_int(k) -> bool:
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))


def _is_mask(k) -> bool:
    return (isinstance(k, np.ndarray) and k.dtype == np.dtype(bool) and k.ndim > 0) or (
        isinstance(k, list) and bool(k) and all(isinstance(e, (bool, np.bool_)) for e in k))


def _expand_key(key, shape):
    """The key as one entry per axis (Ellipsis expanded, concrete masks turned into index arrays) plus Nones."""
    ndim = len(shape)
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    for k in key:
        if _is_mask(k):
            k = np.asarray(k)
        elif isinstance(k, (bool, np.bool_)) or (isinstance(k, np.ndarray) and k.dtype == np.dtype(bool)):
            raise UnsupportedError("indexing with a scalar boolean (x[True]) is not supported",
                                   "Use x[None] (or an empty slice) instead.")
        elif isinstance(k, Tracer) and k.dtype == np.dtype(bool):
            raise UnsupportedError(f"indexing with a traced boolean mask {k.aval} gives a data-dependent shape",
                                   "Use minigrad_fn.numpy.where(mask, x, 0) instead of x[mask].")
        out.append(k)
    n_ell = sum(1 for k in out if k is Ellipsis)
    if n_ell > 1:
        raise IndexShapeError("indexing: an index can only have a single ellipsis ('...')",
                              "Remove the extra '...'.")
    used = sum(k.ndim if _is_mask(k) else 1 for k in out if k is not None and k is not Ellipsis)
    if used > ndim:
        raise IndexShapeError(f"indexing: too many indices for an array of shape {tuple(shape)}: it is "
                              f"{ndim}-dimensional, but {used} were indexed", "Give at most one index per axis.")
    if n_ell:
        i = next(j for j, k in enumerate(out) if k is Ellipsis)  # not .index: arrays compare elementwise
        out[i:i + 1] = [slice(None)] * (ndim - used)
    else:
        out.extend([slice(None)] * (ndim - used))
    # a concrete mask over axes d..d+k-1 is the k index arrays of its nonzero entries
    expanded, dim = [], 0
    for k in out:
        if _is_mask(k):
            if k.shape != tuple(shape[dim:dim + k.ndim]):
                raise IndexShapeError(f"indexing: boolean index of shape {k.shape} does not match the indexed "
                                      f"axes {tuple(shape[dim:dim + k.ndim])} of an array of shape {tuple(shape)}",
                                      "A mask must have the shape of the axes it selects from.")
            expanded.extend(np.nonzero(k))
            dim += k.ndim
        else:
            expanded.append(k)
            dim += k is not None
    return expanded


def getitem(x, key):
    """x[key] with numpy's semantics, traceable."""
    x = as_array(x)
    shape = tuple(x.shape)
    key = _expand_key(key, shape)
    advanced = any(not isinstance(k, slice) and k is not None and not _is_int(k) for k in key)
    if advanced and any(k is None for k in key):
        # a new axis is a full slice over an inserted length-1 axis; numpy also counts it as a slice when it
        # decides where the advanced-index axes go
        x = P.expand_dims(x, [i for i, k in enumerate(key) if k is None])
        key = [slice(None) if k is None else k for k in key]
    # 1. slices (and plain ints when there is no advanced index) on each axis
    start, limit, stride, flip = [], [], [], []
    dim = 0
    squeeze_axes = []
    for k in key:
        if k is None:
            continue
        n = x.shape[dim]
        if isinstance(k, slice):
            s, e, st = k.indices(n)
            if st > 0:
                start.append(s); limit.append(max(s, e)); stride.append(st)
            else:
                # reverse, then slice forwards: element i of the result is x[s + i * st]
                count = len(range(s, e, st))
                lo = n - 1 - s if count else 0
                start.append(lo); limit.append(lo + (count - 1) * -st + 1 if count else 0)
                stride.append(-st); flip.append(dim)
        elif _is_int(k) and not advanced:
            i = int(k)
            if not -n <= i < n:
                raise IndexShapeError(f"index {i} is out of bounds for axis {dim} with size {n} (indexing an "
                                      f"array of shape {shape})",
                                      f"Valid indices on that axis are {-n} to {n - 1}.")
            i %= n
            start.append(i); limit.append(i + 1); stride.append(1); squeeze_axes.append(dim)
        else:
            start.append(0); limit.append(n); stride.append(1)
        dim += 1
    if flip:
        x = P.rev(x, flip)
    x = P.slice(x, start, limit, stride)
    if advanced:
        return _advanced(x, key, shape)
    x = P.squeeze(x, squeeze_axes)
    new_axes = []
    pos = 0
    for k in key:
        if k is None:
            new_axes.append(pos)
            pos += 1
        elif not _is_int(k):
            pos += 1
    return P.expand_dims(x, new_axes) if new_axes else x


def _known_value(i):
    """The concrete value of an index (a traced one's when its trace knows it), else None. Indices
    known only later (constants made inside jit) are checked when the program is optimised, and the rest
    at run time (see primitives/indexing.py)."""
    while isinstance(i, Tracer):
        i = i.concrete_value()
        if i is NOVAL:
            return None
    return i if isinstance(i, (np.ndarray, np.generic)) else None


def _advanced(x, key, shape=None):
    # every key entry is now a full slice or an index (int, list, array, tracer), one per axis of x
    idx_axes = [d for d, k in enumerate(key) if not isinstance(k, slice)]
    idx = [as_array(key[d]) for d in idx_axes]
    for d, i in zip(idx_axes, idx):
        if i.dtype.kind not in "iu":
            raise IndexError(f"arrays used as indices must be of integer (or boolean) type, got {i.dtype.name}")
        v = _known_value(i)  # traced indices whose value is known (under grad, jvp) are checked too
        if v is not None and v.size and (v.max() >= x.shape[d] or v.min() < -x.shape[d]):
            bad = int(v.max()) if v.max() >= x.shape[d] else int(v.min())
            raise IndexShapeError(f"index {bad} is out of bounds for axis {d} with size {x.shape[d]} (indexing an "
                                  f"array of shape {tuple(shape if shape is not None else x.shape)})",
                                  f"Valid indices on that axis are {-x.shape[d]} to {x.shape[d] - 1}.")
    try:
        bshape = np.broadcast_shapes(*[i.shape for i in idx])
    except ValueError:
        raise IndexShapeError(f"indexing: shape mismatch: index arrays of shapes {[i.shape for i in idx]} "
                              "cannot be broadcast together",
                              "Index arrays combine elementwise, so their shapes must broadcast (x[i[:, None], j] "
                              "picks every pair).") from None
    cols = [P.broadcast_in_dim(as_array(i, np.dtype(np.int64)), bshape, tuple(range(len(bshape) - i.ndim, len(bshape))))
            for i in idx]
    stacked = P.concatenate([P.expand_dims(c, (len(bshape),)) for c in cols], len(bshape))
    rest = [d for d in range(x.ndim) if d not in idx_axes]
    moved = P.transpose(x, idx_axes + rest)
    out = P.gather(moved, stacked)
    contiguous = idx_axes == list(range(idx_axes[0], idx_axes[0] + len(idx_axes)))
    if contiguous and idx_axes[0] > 0:
        nb, p = len(bshape), idx_axes[0]
        perm = list(range(nb, nb + p)) + list(range(nb)) + list(range(nb + p, out.ndim))
        out = P.transpose(out, perm)
    return out


def take(a, indices, axis=None, out=None, mode=None):
    """numpy.take: elements along an axis (the flattened array when axis is None); mode 'raise' (the
    default), 'wrap' or 'clip' as numpy."""
    no_out("take", out)
    a = as_array(a)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    ax = normalize_axis(axis, a.ndim, "take")
    indices = as_array(indices)
    if mode in ("wrap", "clip"):
        n = a.shape[ax]
        indices = remainder(indices, n) if mode == "wrap" else clip(indices, 0, n - 1)
    elif mode not in (None, "raise"):
        raise ValueError(f"take: mode must be 'raise', 'wrap' or 'clip', got {mode!r}")
    return getitem(a, (slice(None),) * ax + (indices,))


def take_along_axis(arr, indices, axis):
    """numpy.take_along_axis: pick along `axis` with an index array shaped like arr."""
    a = as_array(arr)
    indices = as_array(indices)
    if axis is None:
        a, axis = reshape(a, (-1,)), 0
    ax = normalize_axis(axis, a.ndim, "take_along_axis")
    if indices.ndim != a.ndim:
        raise ShapeError(f"take_along_axis: indices {indices.shape} and array {a.shape} need the same number of axes")
    key = []
    for d in range(a.ndim):
        if d == ax:
            key.append(indices)
        else:
            r = np.arange(a.shape[d]).reshape([-1 if e == d else 1 for e in range(a.ndim)])
            key.append(r)
    return _advanced(a, key)


# The entry points of one indexing expression (`x[key]` is `getitem`; take_along_axis goes straight to
# `_advanced`). Nothing here reads it: mg.graph asks its trace to record calls of these functions in the
# equations' source info, and draws what one call emitted (a slice and a squeeze, a gather...) as one
# index gate.
INDEXING_CODE = frozenset({getitem.__code__, _advanced.__code__})
