"""Shape primitives: broadcast_in_dim, reshape, transpose, squeeze, concatenate, slice, pad, rev, iota.

Their values only move, and so do their gradients (the displays' kind "moves"). The wrapper JAX calls
`slice` is `slice_` here, so that in this module `slice` keeps meaning Python's; the package exports it as
`slice`.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np

from tracing import ShapedArray, ShapeError, aval_of

from ._base import (Display, array_example, check_axes, fmt_shapes, jnp, lax, lax_fn, later_family, primitive,
                    same_dtype, show_out_shape, show_param)
from ._transforms import batch_size, broadcast_batch, linear_jvp, moveaxis, reducer_batch, zero_jvp

R = later_family("reductions")  # broadcast_in_dim's VJP rule sums (reductions imports this module)

__all__ = [
    "broadcast_in_dim", "reshape", "transpose", "squeeze", "expand_dims", "concatenate", "slice_", "pad",
    "rev", "iota",
    "broadcast_in_dim_p", "reshape_p", "transpose_p", "squeeze_p", "concatenate_p", "slice_p", "pad_p",
    "rev_p", "iota_p",
]


# ---- broadcast_in_dim: operand axis i becomes output axis broadcast_dimensions[i] ----------------------
def _bid_rule(x, *, shape, broadcast_dimensions):
    bd = broadcast_dimensions
    ok = len(bd) == len(x.shape) and all(0 <= d < len(shape) for d in bd) and list(bd) == sorted(set(bd))
    if ok:
        ok = all(x.shape[i] in (1, shape[d]) for i, d in enumerate(bd))
    if not ok:
        raise ShapeError(f"broadcast_in_dim: cannot broadcast shape {x.shape} to {shape} along axes {bd}",
                         "Each operand axis must be 1 or equal the target axis it maps to.")
    return ShapedArray(tuple(shape), x.dtype)


def _bid_impl(x, *, shape, broadcast_dimensions):
    expanded = [1] * len(shape)
    for i, d in enumerate(broadcast_dimensions):
        expanded[d] = x.shape[i]
    return np.broadcast_to(np.reshape(x, expanded), shape)


def _bid_vjp(g, ans, x, *, shape, broadcast_dimensions):
    bd = broadcast_dimensions
    summed = [d for d in range(len(shape)) if d not in bd]
    summed += [d for i, d in enumerate(bd) if x.shape[i] == 1 and shape[d] != 1]
    if summed:
        g = R.reduce_sum(g, tuple(sorted(summed)))
    return reshape(g, x.shape)


broadcast_in_dim_p = primitive("broadcast_in_dim", _bid_rule, _bid_impl, [_bid_vjp],
                               lax_fn("broadcast_in_dim"), reads=(),
                               display=Display("broadcast", show_out_shape, kind="moves",
                                               local="1 for each copy: upstream summed back"))


def _bid_batch(args, dims, *, shape, broadcast_dimensions):
    # No axis moves: the batch axis d goes to output axis p, just after the output axis of the operand axis
    # before it (p == d when the operand's leading axes map to the output's), so broadcast_dimensions stay
    # increasing with the batch axis among them.
    (x,), (d,), bd = args, dims, broadcast_dimensions
    p = bd[d - 1] + 1 if d > 0 else 0
    out_shape = tuple(shape[:p]) + (aval_of(x).shape[d],) + tuple(shape[p:])
    new_bd = tuple(b + (b >= p) for b in bd[:d]) + (p,) + tuple(b + (b >= p) for b in bd[d:])
    return [broadcast_in_dim(x, out_shape, new_bd)], [p]


broadcast_in_dim_p.rules["jvp"] = linear_jvp(broadcast_in_dim_p)
broadcast_in_dim_p.rules["batch"] = _bid_batch


def _bid_example(s):
    shape = s.shape()
    dims = s.axes(len(shape))
    x = s.floats(tuple(1 if s.boolean() else shape[d] for d in dims))
    return [x], {"shape": shape, "broadcast_dimensions": dims}


broadcast_in_dim_p.rules["example"] = _bid_example


def broadcast_in_dim(x, shape, broadcast_dimensions):
    shape, bd = tuple(shape), tuple(broadcast_dimensions)
    if x.shape == shape and bd == tuple(range(len(shape))):
        return x
    return broadcast_in_dim_p.bind(x, shape=shape, broadcast_dimensions=bd)


# ---- reshape --------------------------------------------------------------------------------------
def _reshape_rule(x, *, new_sizes):
    if int(np.prod(new_sizes, dtype=np.int64)) != x.size or any(d < 0 for d in new_sizes):
        raise ShapeError(f"reshape: cannot reshape an array of shape {x.shape} ({x.size} elements) "
                         f"into shape {new_sizes}", "The new shape must have the same number of elements.")
    return ShapedArray(tuple(new_sizes), x.dtype)


def _reshape_simplify(eqn, ctx):
    x, shape = eqn.invars[0], eqn.params["new_sizes"]
    if x.aval.shape == tuple(shape):
        return x
    p = ctx.producer(x)  # reshape of a reshape: one reshape
    if p is not None and p.prim is reshape_p:
        return eqn.replace(invars=[p.invars[0]])
    return None


reshape_p = primitive("reshape", _reshape_rule, lambda x, *, new_sizes: np.reshape(x, new_sizes),
                      [lambda g, ans, x, *, new_sizes: reshape(g, x.shape)], lax_fn("reshape"), reads=(),
                      display=Display(params=show_out_shape, kind="moves", local="upstream reshaped back"))
reshape_p.rules["simplify"] = _reshape_simplify


def _reshape_batch(args, dims, *, new_sizes):
    # Row-major order: when the per-example axes before the batch axis hold as many elements as
    # new_sizes[:k], reshaping to new_sizes[:k] + (B,) + new_sizes[k:] keeps the batch axis where it is
    # (always so for a batch axis in front, k = 0); otherwise the batch axis goes to the front first.
    (x,), (d,) = args, dims
    shape = aval_of(x).shape
    before = math.prod(shape[:d])
    ks = [k for k in range(len(new_sizes) + 1) if math.prod(new_sizes[:k]) == before]
    k = d if d in ks else (ks[0] if ks else None)
    if k is None:
        x, k = moveaxis(x, d, 0), 0
    return [reshape(x, tuple(new_sizes[:k]) + (shape[d],) + tuple(new_sizes[k:]))], [k]


reshape_p.rules["jvp"] = linear_jvp(reshape_p)
reshape_p.rules["batch"] = _reshape_batch


def _reshape_params(s, x):
    # the sides in a drawn order, some neighbours merged, maybe a 1 inserted
    new = []
    for i in s.permutation(x.ndim):
        if new and s.boolean():
            new[-1] *= x.shape[i]
        else:
            new.append(x.shape[i])
    if s.boolean():
        new.insert(s.integers(0, len(new) + 1), 1)
    return {"new_sizes": tuple(new)}


reshape_p.rules["example"] = array_example(_reshape_params)


def reshape(x, new_sizes):
    new_sizes = tuple(int(d) for d in new_sizes)
    if x.shape == new_sizes:
        return x
    return reshape_p.bind(x, new_sizes=new_sizes)


# ---- transpose -------------------------------------------------------------------------------------
def _transpose_rule(x, *, permutation):
    if sorted(permutation) != list(range(len(x.shape))):
        raise ShapeError(f"transpose: {permutation} is not a permutation of the axes of shape {x.shape}",
                         f"Give each of the {len(x.shape)} axes exactly once.")
    return ShapedArray(tuple(x.shape[p] for p in permutation), x.dtype)


def _transpose_simplify(eqn, ctx):
    x, perm = eqn.invars[0], tuple(eqn.params["permutation"])
    p = ctx.producer(x)
    if p is not None and p.prim is transpose_p:  # transpose of a transpose: one (or none)
        x, perm = p.invars[0], tuple(p.params["permutation"][i] for i in perm)
    if perm == tuple(range(len(perm))):
        return x
    if x is not eqn.invars[0]:
        return eqn.replace(invars=[x], params={"permutation": perm})
    return None


transpose_p = primitive("transpose", _transpose_rule, lambda x, *, permutation: np.transpose(x, permutation),
                        [lambda g, ans, x, *, permutation: transpose(g, tuple(np.argsort(permutation)))],
                        lax_fn("transpose"), reads=(),
                        display=Display(params=show_param("permutation", "perm"), kind="moves",
                                        local="upstream transposed back"))
transpose_p.rules["simplify"] = _transpose_simplify


def _transpose_batch(args, dims, *, permutation):
    # one transpose that also keeps the batch axis at its position d (no separate move)
    (x,), (d,) = args, dims
    perm = [p + (p >= d) for p in permutation]
    perm.insert(d, d)
    return [transpose(x, perm)], [d]


transpose_p.rules["jvp"] = linear_jvp(transpose_p)
transpose_p.rules["batch"] = _transpose_batch
transpose_p.rules["example"] = array_example(lambda s, x: {"permutation": s.permutation(x.ndim)})


def transpose(x, permutation):
    permutation = tuple(int(p) for p in permutation)
    if permutation == tuple(range(len(permutation))):
        return x
    return transpose_p.bind(x, permutation=permutation)


# ---- squeeze ----------------------------------------------------------------------------------------
def _squeeze_rule(x, *, dimensions):
    check_axes("squeeze", x, dimensions)
    for d in dimensions:
        if x.shape[d] != 1:
            raise ShapeError(f"squeeze: axis {d} of shape {x.shape} has length {x.shape[d]}, not 1",
                             "Only length-1 axes can be squeezed.")
    return ShapedArray(tuple(s for i, s in enumerate(x.shape) if i not in dimensions), x.dtype)


squeeze_p = primitive("squeeze", _squeeze_rule, lambda x, *, dimensions: np.squeeze(x, dimensions),
                      [lambda g, ans, x, *, dimensions: reshape(g, x.shape)], lax_fn("squeeze"), reads=(),
                      display=Display(kind="moves", local="upstream reshaped back"))
squeeze_p.rules["jvp"] = linear_jvp(squeeze_p)
# the squeezed axes renumbered around the batch axis, which stays (less the squeezed axes before it)
squeeze_p.rules["batch"] = reducer_batch(squeeze_p, "dimensions")


def _squeeze_example(s):
    shape = list(s.shape(1))
    dims = s.axes(len(shape), 1)
    return [s.floats(tuple(1 if i in dims else d for i, d in enumerate(shape)))], {"dimensions": dims}


squeeze_p.rules["example"] = _squeeze_example


def squeeze(x, dimensions):
    dimensions = tuple(sorted(dimensions))
    if not dimensions:
        return x
    return squeeze_p.bind(x, dimensions=dimensions)


def expand_dims(x, dimensions):
    """Insert length-1 axes at the given (output) positions: a reshape."""
    shape = list(x.shape)
    for d in sorted(dimensions):
        shape.insert(d, 1)
    return reshape(x, shape)


# ---- concatenate --------------------------------------------------------------------------------------
def _concat_rule(*xs, dimension):
    if not xs:
        raise ShapeError("concatenate: needs at least one operand")
    same_dtype("concatenate", *xs)
    nd = len(xs[0].shape)
    check_axes("concatenate", xs[0], (dimension,))
    for x in xs:
        if len(x.shape) != nd or any(a != b for i, (a, b) in enumerate(zip(x.shape, xs[0].shape))
                                     if i != dimension):
            raise ShapeError(f"concatenate: operand shapes {fmt_shapes(xs)} differ outside axis {dimension}",
                             "All operands must have the same shape except along the joined axis.")
    shape = list(xs[0].shape)
    shape[dimension] = sum(x.shape[dimension] for x in xs)
    return ShapedArray(tuple(shape), xs[0].dtype)


def _concat_vjp(eqn, res, cts, wanted):
    xs, g, dim = [v.aval for v in eqn.invars], cts[0], eqn.params["dimension"]
    out, start = [], 0
    for x, want in zip(xs, wanted):
        stop = start + x.shape[dim]
        if want:
            lo, hi = [0] * g.ndim, list(g.shape)
            lo[dim], hi[dim] = start, stop
            out.append(slice_(g, lo, hi))
        else:
            out.append(None)
        start = stop
    return out


concatenate_p = primitive("concatenate", _concat_rule,
                          lambda *xs, dimension: np.concatenate(xs, axis=dimension), _concat_vjp,
                          lambda *xs, dimension: lax.concatenate(xs, dimension), reads=(),
                          display=Display(kind="moves", local="its own part of upstream"))


def _concat_batch(args, dims, *, dimension):
    # The batch axis goes where most batched operands have it (nothing moves when they all agree); the
    # others' batch axes move there and unbatched operands are broadcast to the batch along it.
    size = batch_size(args, dims)
    target = Counter(d for d in dims if d is not None).most_common(1)[0][0]
    xs = [broadcast_batch(x, size, target) if d is None else moveaxis(x, d, target) for x, d in zip(args, dims)]
    return [concatenate(xs, dimension + (dimension >= target))], [target]


concatenate_p.rules["jvp"] = linear_jvp(concatenate_p)
concatenate_p.rules["batch"] = _concat_batch


def _concat_example(s):
    shape = list(s.shape(1))
    dim, xs = s.integers(0, len(shape)), []
    for _ in range(s.integers(1, 4)):
        shape[dim] = s.integers(1, 4)
        xs.append(s.floats(tuple(shape)))
    return xs, {"dimension": dim}


concatenate_p.rules["example"] = _concat_example


def concatenate(xs, dimension: int):
    xs = list(xs)
    return xs[0] if len(xs) == 1 else concatenate_p.bind(*xs, dimension=int(dimension))


# ---- slice (positive strides) and pad, each the other's VJP -------------------------------------------
def _slice_rule(x, *, start_indices, limit_indices, strides):
    n = len(x.shape)
    if not (len(start_indices) == len(limit_indices) == len(strides) == n) or any(
            not (0 <= s <= l <= d) or st < 1
            for s, l, st, d in zip(start_indices, limit_indices, strides, x.shape)):
        raise ShapeError(f"slice: start {start_indices}, limit {limit_indices}, strides {strides} "
                         f"do not fit an operand of shape {x.shape}",
                         "Each axis needs 0 <= start <= limit <= size and a stride >= 1.")
    return ShapedArray(tuple(max(0, -(-(l - s) // st))
                             for s, l, st in zip(start_indices, limit_indices, strides)), x.dtype)


def _slice_impl(x, *, start_indices, limit_indices, strides):
    return x[tuple(slice(s, l, st) for s, l, st in zip(start_indices, limit_indices, strides))]


def _slice_vjp(g, ans, x, *, start_indices, limit_indices, strides):
    if 0 in g.shape:
        return None
    config = []
    for s, st, n, d in zip(start_indices, strides, g.shape, x.shape):
        hi = d - (s + (n - 1) * st + 1)
        config.append((s, hi, st - 1))
    return pad(g, tuple(config))


def _slice_text(eqn):
    """`[0:2, 1:3:2]`: the start, limit and (when not 1) stride of each axis."""
    p = eqn.params
    return "[" + ", ".join(f"{s}:{e}" + (f":{st}" if st != 1 else "")
                           for s, e, st in zip(p["start_indices"], p["limit_indices"],
                                               p.get("strides") or [1] * len(p["start_indices"]))) + "]"


slice_p = primitive("slice", _slice_rule, _slice_impl, [_slice_vjp], lax_fn("slice"), reads=(),
                    display=Display(params=_slice_text, kind="moves",
                                    local="upstream put back in place, 0 elsewhere"))


def _slice_batch(args, dims, *, start_indices, limit_indices, strides):
    # the whole batch axis taken, where it is
    (x,), (d,) = args, dims
    strides = strides if strides is not None else (1,) * len(start_indices)
    at = lambda t, v: tuple(t[:d]) + (v,) + tuple(t[d:])  # noqa: E731
    return [slice_(x, at(start_indices, 0), at(limit_indices, aval_of(x).shape[d]), at(strides, 1))], [d]


slice_p.rules["jvp"] = linear_jvp(slice_p)
slice_p.rules["batch"] = _slice_batch


def _slice_params(s, x):
    start = tuple(s.integers(0, d + 1) for d in x.shape)
    limit = tuple(s.integers(b, d + 1) for b, d in zip(start, x.shape))  # empty slices too
    return {"start_indices": start, "limit_indices": limit, "strides": tuple(s.integers(1, 4) for _ in start)}


slice_p.rules["example"] = array_example(_slice_params, max_side=5)


def slice_(x, start_indices, limit_indices, strides=None):
    start_indices = tuple(int(i) for i in start_indices)
    limit_indices = tuple(int(i) for i in limit_indices)
    strides = tuple(int(i) for i in strides) if strides is not None else (1,) * len(start_indices)
    if start_indices == (0,) * x.ndim and limit_indices == tuple(x.shape) and strides == (1,) * x.ndim:
        return x
    return slice_p.bind(x, start_indices=start_indices, limit_indices=limit_indices, strides=strides)


def _pad_rule(x, *, padding_config):
    if len(padding_config) != len(x.shape) or any(min(c) < 0 for c in padding_config):
        raise ShapeError(f"pad: padding {padding_config} does not fit shape {x.shape}",
                         "Give one non-negative (low, high, interior) triple per axis.")
    return ShapedArray(tuple(lo + hi + d + max(0, d - 1) * it
                             for (lo, hi, it), d in zip(padding_config, x.shape)), x.dtype)


def _pad_impl(x, *, padding_config):
    shape = _pad_rule(ShapedArray(np.shape(x), x.dtype), padding_config=padding_config).shape
    out = np.zeros(shape, dtype=x.dtype)
    out[tuple(slice(lo, lo + (d - 1) * (it + 1) + 1, it + 1)
              for (lo, hi, it), d in zip(padding_config, x.shape))] = x
    return out


def _pad_vjp(g, ans, x, *, padding_config):
    start = [lo for lo, _, _ in padding_config]
    limit = [lo + max(0, (d - 1) * (it + 1) + 1)  # d may be 0
             for (lo, _, it), d in zip(padding_config, x.shape)]
    return slice_(g, start, limit, [it + 1 for _, _, it in padding_config])


pad_p = primitive("pad", _pad_rule, _pad_impl, [_pad_vjp],
                  lambda x, *, padding_config: lax.pad(x, jnp.zeros((), x.dtype), padding_config), reads=(),
                  display=Display(kind="moves", local="upstream with the padding cut off"))


def _pad_batch(args, dims, *, padding_config):
    (x,), (d,) = args, dims  # the batch axis not padded, where it is
    return [pad(x, tuple(padding_config[:d]) + ((0, 0, 0),) + tuple(padding_config[d:]))], [d]


pad_p.rules["jvp"] = linear_jvp(pad_p)
pad_p.rules["batch"] = _pad_batch
pad_p.rules["example"] = array_example(lambda s, x: {"padding_config": tuple(
    (s.integers(0, 3), s.integers(0, 3), s.integers(0, 3)) for _ in x.shape)})


def pad(x, padding_config):
    """Pad with zeros: per axis (low, high, interior) counts, all non-negative."""
    return pad_p.bind(x, padding_config=tuple(tuple(int(v) for v in c) for c in padding_config))


# ---- rev ---------------------------------------------------------------------------------------------
def _rev_rule(x, *, dimensions):
    check_axes("rev", x, dimensions)
    return x


rev_p = primitive("rev", _rev_rule, lambda x, *, dimensions: np.flip(x, dimensions),
                  [lambda g, ans, x, *, dimensions: rev(g, dimensions)], lax_fn("rev"), reads=(),
                  display=Display(kind="moves", local="upstream reversed back"))
rev_p.rules["jvp"] = linear_jvp(rev_p)
# the reversed axes renumbered around the batch axis, which stays where it is
rev_p.rules["batch"] = reducer_batch(rev_p, "dimensions")
rev_p.rules["example"] = array_example(lambda s, x: {"dimensions": s.axes(x.ndim)})


def rev(x, dimensions):
    dimensions = tuple(sorted(dimensions))
    return x if not dimensions else rev_p.bind(x, dimensions=dimensions)


# ---- iota --------------------------------------------------------------------------------------------
def _iota_impl(*, dtype, shape, dimension):
    r = np.arange(shape[dimension], dtype=dtype)
    return np.broadcast_to(r.reshape([-1 if i == dimension else 1 for i in range(len(shape))]), shape)


iota_p = primitive("iota", lambda *, dtype, shape, dimension: ShapedArray(tuple(shape), np.dtype(dtype)),
                   _iota_impl, [], lax_fn("broadcasted_iota"), display=Display())
# iota has no operands, so the traces never hand it a tangent or a batched operand: they pass it to their
# parent untouched and neither rule below is reached. They are here for completeness: no tangent, and
# (were it reached) the same value for every example.
iota_p.rules["jvp"] = zero_jvp(iota_p)
iota_p.rules["batch"] = lambda args, dims, **params: ([iota_p.bind(**params)], [None])


def _iota_example(s):
    shape = s.shape(1)
    return [], {"dtype": np.dtype(s.choice([np.int32, np.int64, np.float64])), "shape": shape,
                "dimension": s.integers(0, len(shape))}


iota_p.rules["example"] = _iota_example


def iota(dtype, shape, dimension: int = 0):
    return iota_p.bind(dtype=np.dtype(dtype), shape=tuple(shape), dimension=int(dimension))
