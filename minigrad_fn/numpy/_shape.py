"""Shape manipulation with numpy's names: reshape, transpose, stack, split, flip, broadcast_to..."""
from __future__ import annotations

import numpy as np

from tracing import ShapeError

from .. import primitives as P
from ._core import as_array, common_dtype, normalize_axes, normalize_axis, shape_of


def shape(a) -> tuple:
    """numpy.shape."""
    return tuple(shape_of(a))


def ndim(a) -> int:
    """numpy.ndim."""
    return len(shape_of(a))


def size(a, axis=None) -> int:
    """numpy.size."""
    s = shape_of(a)
    return int(np.prod(s, dtype=np.int64)) if axis is None else s[axis]


def reshape(a, shape=None, order="C", *, newshape=None):
    """numpy.reshape (C order; one -1 is inferred)."""
    if order != "C":
        from ._core import UnsupportedError
        raise UnsupportedError(f"reshape: order={order!r} is not supported", "Use the default order='C'.")
    a = as_array(a)
    shape = newshape if shape is None else shape
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: can only infer one unknown dimension in {shape}")
    if -1 in shape:
        known = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if known == 0 or a.size % known:
            raise ShapeError(f"reshape: cannot reshape an array of shape {a.shape} ({a.size} elements) into {shape}",
                             "The new shape must have the same number of elements.")
        shape = tuple(a.size // known if d == -1 else d for d in shape)
    return P.reshape(a, shape)


def ravel(a, order="C"):
    """numpy.ravel: a flat view, traceable."""
    return reshape(a, (-1,), order)


def transpose(a, axes=None):
    """numpy.transpose (reverse the axes by default)."""
    a = as_array(a)
    if axes is None:
        axes = tuple(reversed(range(a.ndim)))
    axes = tuple(normalize_axis(x, a.ndim, "transpose") for x in axes)
    if sorted(axes) != list(range(a.ndim)):
        raise ShapeError(f"transpose: axes {axes} don't match an array of shape {a.shape}",
                         f"Give each of the {a.ndim} axes exactly once, e.g. {tuple(reversed(range(a.ndim)))}.")
    return P.transpose(a, axes)


def swapaxes(a, axis1, axis2):
    """numpy.swapaxes."""
    a = as_array(a)
    perm = list(range(a.ndim))
    i, j = normalize_axis(axis1, a.ndim, "swapaxes"), normalize_axis(axis2, a.ndim, "swapaxes")
    perm[i], perm[j] = perm[j], perm[i]
    return P.transpose(a, perm)


def moveaxis(a, source, destination):
    """numpy.moveaxis."""
    a = as_array(a)
    src = [source] if isinstance(source, (int, np.integer)) else list(source)
    dst = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    src = [normalize_axis(s, a.ndim, "moveaxis") for s in src]
    dst = [normalize_axis(d, a.ndim, "moveaxis") for d in dst]
    if len(src) != len(dst):
        raise ShapeError("moveaxis: source and destination must have the same number of elements")
    order = [n for n in range(a.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return P.transpose(a, order)


def expand_dims(a, axis):
    """numpy.expand_dims (axis may be a tuple)."""
    a = as_array(a)
    axes = normalize_axes(axis, a.ndim + (len(axis) if isinstance(axis, (tuple, list)) else 1), "expand_dims")
    return P.expand_dims(a, axes)


def squeeze(a, axis=None):
    """numpy.squeeze."""
    a = as_array(a)
    if axis is None:
        axes = tuple(i for i, d in enumerate(a.shape) if d == 1)
    else:
        axes = normalize_axes(axis, a.ndim, "squeeze")
        for i in axes:
            if a.shape[i] != 1:
                raise ShapeError(f"squeeze: cannot select axis {i} of shape {a.shape}: its length is not 1",
                                 "Only length-1 axes can be squeezed; leave axis out to squeeze all of them.")
    return P.squeeze(a, axes)


def broadcast_to(array, shape):
    """numpy.broadcast_to, traceable (its gradient sums over the broadcast axes)."""
    a = as_array(array)
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(int(d) for d in shape)
    lead = len(shape) - a.ndim
    if lead < 0 or any(d not in (1, shape[i + lead]) for i, d in enumerate(a.shape)):
        raise ShapeError(f"broadcast_to: cannot broadcast an array of shape {a.shape} to shape {shape}",
                         "Trailing axes must match or be 1.")
    return P.broadcast_in_dim(a, shape, tuple(range(lead, len(shape))))


def broadcast_arrays(*args):
    """numpy.broadcast_arrays."""
    arrs = [as_array(a) for a in args]
    shape = np.broadcast_shapes(*[a.shape for a in arrs])
    return [broadcast_to(a, shape) for a in arrs]


def atleast_1d(a):
    """numpy.atleast_1d for one array."""
    a = as_array(a)
    return reshape(a, (1,)) if a.ndim == 0 else a


def atleast_2d(a):
    """numpy.atleast_2d for one array."""
    a = as_array(a)
    return reshape(a, (1,) * (2 - a.ndim) + a.shape) if a.ndim < 2 else a


def concatenate(arrays, axis=0, out=None, dtype=None):
    """numpy.concatenate (axis=None flattens first)."""
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    dt = np.dtype(dtype) if dtype is not None else common_dtype(*[as_array(x) for x in arrays])
    arrs = [as_array(x, dt) for x in arrays]
    if axis is None:
        arrs, axis = [ravel(x) for x in arrs], 0
    if any(x.ndim == 0 for x in arrs):
        raise ShapeError("concatenate: zero-dimensional arrays cannot be concatenated")
    ax = normalize_axis(axis, arrs[0].ndim, "concatenate")
    return P.concatenate(arrs, ax)


def stack(arrays, axis=0, out=None, dtype=None):
    """numpy.stack: join along a new axis."""
    arrays = [as_array(x) for x in arrays]
    if not arrays:
        raise ValueError("need at least one array to stack")
    shapes = {x.shape for x in arrays}
    if len(shapes) != 1:
        raise ShapeError(f"stack: all input arrays must have the same shape, got {[x.shape for x in arrays]}",
                         "Stack arrays of one shape; to join along an existing axis, use concatenate.")
    ax = normalize_axis(axis, arrays[0].ndim + 1, "stack")
    return concatenate([P.expand_dims(x, (ax,)) for x in arrays], axis=ax, dtype=dtype)


def hstack(tup, dtype=None):
    """numpy.hstack."""
    arrs = [atleast_1d(x) for x in tup]
    return concatenate(arrs, axis=0 if arrs[0].ndim == 1 else 1, dtype=dtype)


def vstack(tup, dtype=None):
    """numpy.vstack."""
    return concatenate([atleast_2d(x) for x in tup], axis=0, dtype=dtype)


def split(ary, indices_or_sections, axis=0):
    """numpy.split: equal sections or split points along an axis."""
    a = as_array(ary)
    ax = normalize_axis(axis, a.ndim, "split")
    n = a.shape[ax]
    if isinstance(indices_or_sections, (int, np.integer)):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ShapeError(f"split: array split does not result in an equal division ({n} into {k}, along "
                             f"axis {ax} of an array of shape {a.shape})",
                             f"Give a number of sections that divides {n}, or a list of split points.")
        points = [n // k * i for i in range(1, k)]
    else:
        points = [int(p) for p in indices_or_sections]
    bounds = [0] + [min(max(p if p >= 0 else p + n, 0), n) for p in points] + [n]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        start, limit = [0] * a.ndim, list(a.shape)
        start[ax], limit[ax] = lo, max(lo, hi)
        out.append(P.slice(a, start, limit))
    return out


def flip(m, axis=None):
    """numpy.flip."""
    a = as_array(m)
    return P.rev(a, normalize_axes(axis, a.ndim, "flip"))


def fliplr(m):
    """numpy.fliplr."""
    return flip(m, 1)


def flipud(m):
    """numpy.flipud."""
    return flip(m, 0)
