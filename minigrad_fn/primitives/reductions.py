"""Reductions and scans: reduce_sum/max/min/prod, argmax/argmin, cumsum.

`axes` is always a sorted tuple of non-negative ints; the reduced axes are dropped (the numpy surface
adds keepdims with a reshape).
"""
from __future__ import annotations

import numpy as np

from tracing import DTypeError, ShapedArray, ShapeError

from ._base import Display, check_axes, jnp, lax_fn, later_family, primitive, scalar, show_param
from .shape import broadcast_in_dim, reshape, transpose

E = later_family("elementwise")  # reduce_max's and reduce_prod's VJP rules compare and multiply

__all__ = [
    "reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin", "cumsum",
    "reduce_sum_p", "reduce_max_p", "reduce_min_p", "reduce_prod_p", "argmax_p", "argmin_p", "cumsum_p",
]


def _reduce_rule(name):
    def rule(x, *, axes):
        check_axes(name, x, axes)
        return ShapedArray(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)
    return rule


def _kept(ndim, axes):
    return tuple(i for i in range(ndim) if i not in axes)


def _sum_vjp(g, ans, x, *, axes):
    return broadcast_in_dim(g, x.shape, _kept(x.ndim, axes))


def _chooser_vjp(g, ans, x, *, axes):
    # the gradient goes to the positions equal to the extremum, split evenly between ties (as JAX)
    kept = _kept(x.ndim, axes)
    loc = E.convert_element_type(E.eq(x, broadcast_in_dim(ans, x.shape, kept)), x.dtype)
    counts = reduce_sum(loc, axes)
    share = E.div(g, counts)
    return E.mul(broadcast_in_dim(share, x.shape, kept), loc)


def _prod_vjp(g, ans, x, *, axes):
    # d prod / d x_i = product of the others; built without dividing by x_i, so zeros are exact.
    kept = _kept(x.ndim, axes)
    perm = kept + tuple(axes)
    kshape = tuple(x.shape[d] for d in kept)
    k = int(np.prod([x.shape[d] for d in axes], dtype=np.int64))
    x2 = reshape(transpose(x, perm), kshape + (k,))
    nk = len(kshape)
    mat = broadcast_in_dim(x2, kshape + (k, k), tuple(range(nk)) + (nk + 1,))
    mat = E.select(np.eye(k, dtype=bool), scalar(1, x), mat)
    others = reduce_prod(mat, (nk + 1,))
    d2 = E.mul(broadcast_in_dim(g, kshape + (k,), tuple(range(nk))), others)
    return transpose(reshape(d2, tuple(x.shape[d] for d in perm)), tuple(np.argsort(perm)))


def _sum_impl(x, *, axes):
    return np.sum(x, axis=axes, dtype=x.dtype)


def _prod_impl(x, *, axes):
    return np.prod(x, axis=axes, dtype=x.dtype)


def _shown(short, local="", pattern=""):
    return Display(short, show_param("axes"), local=local, pattern=pattern)


reduce_sum_p = primitive("reduce_sum", _reduce_rule("reduce_sum"), _sum_impl, [_sum_vjp],
                         lambda x, *, axes: jnp.sum(x, axis=axes, dtype=x.dtype), reads=(),
                         display=_shown("sum", "1 for every entry: g broadcast back"))
reduce_sum_p.rules["simplify"] = lambda eqn, ctx: eqn.invars[0] if not eqn.params["axes"] else None
reduce_max_p = primitive("reduce_max", _reduce_rule("reduce_max"), lambda x, *, axes: np.max(x, axis=axes),
                         [_chooser_vjp], lambda x, *, axes: jnp.max(x, axis=axes), reads=(0,), reads_ans=True,
                         display=_shown("max", "1 at the largest entry, 0 elsewhere",
                                        "max routes: the gradient goes to the largest entry"))
reduce_min_p = primitive("reduce_min", _reduce_rule("reduce_min"), lambda x, *, axes: np.min(x, axis=axes),
                         [_chooser_vjp], lambda x, *, axes: jnp.min(x, axis=axes), reads=(0,), reads_ans=True,
                         display=_shown("min", "1 at the smallest entry, 0 elsewhere"))
reduce_prod_p = primitive("reduce_prod", _reduce_rule("reduce_prod"), _prod_impl, [_prod_vjp],
                          lambda x, *, axes: jnp.prod(x, axis=axes, dtype=x.dtype), reads=(0,),
                          display=_shown("prod"))


def reduce_sum(x, axes): return reduce_sum_p.bind(x, axes=tuple(axes))
def reduce_max(x, axes): return reduce_max_p.bind(x, axes=tuple(axes))
def reduce_min(x, axes): return reduce_min_p.bind(x, axes=tuple(axes))
def reduce_prod(x, axes): return reduce_prod_p.bind(x, axes=tuple(axes))


# ---- argmax / argmin: integer outputs, no gradient ------------------------------------------------
def _arg_rule(name):
    def rule(x, *, axis, index_dtype):
        check_axes(name, x, (axis,))
        if x.shape[axis] == 0:
            raise ShapeError(f"{name}: cannot reduce an empty axis {axis} of shape {x.shape}")
        return ShapedArray(tuple(d for i, d in enumerate(x.shape) if i != axis), np.dtype(index_dtype))
    return rule


argmax_p = primitive("argmax", _arg_rule("argmax"),
                     lambda x, *, axis, index_dtype: np.argmax(x, axis=axis).astype(index_dtype), [None],
                     lambda x, *, axis, index_dtype: jnp.argmax(x, axis=axis).astype(index_dtype),
                     display=Display(params=show_param("axis")))
argmin_p = primitive("argmin", _arg_rule("argmin"),
                     lambda x, *, axis, index_dtype: np.argmin(x, axis=axis).astype(index_dtype), [None],
                     lambda x, *, axis, index_dtype: jnp.argmin(x, axis=axis).astype(index_dtype),
                     display=Display(params=show_param("axis")))


def argmax(x, axis: int, index_dtype=np.int64):
    return argmax_p.bind(x, axis=axis, index_dtype=np.dtype(index_dtype))


def argmin(x, axis: int, index_dtype=np.int64):
    return argmin_p.bind(x, axis=axis, index_dtype=np.dtype(index_dtype))


# ---- cumsum -----------------------------------------------------------------------------------------
def _cumsum_rule(x, *, axis, reverse):
    check_axes("cumsum", x, (axis,))
    if x.dtype == np.dtype(bool):
        raise DTypeError(f"cumsum: operand is bool {x.shape}", "Cast it to an integer or float dtype first.")
    return x


def _cumsum_impl(x, *, axis, reverse):
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)
    return np.cumsum(x, axis=axis, dtype=x.dtype)


cumsum_p = primitive("cumsum", _cumsum_rule, _cumsum_impl,
                     [lambda g, ans, x, *, axis, reverse: cumsum(g, axis, not reverse)], lax_fn("cumsum"),
                     reads=(), display=Display(params=show_param("axis"),
                                               local="1 for every later entry: g summed from the end"))
def cumsum(x, axis: int, reverse: bool = False): return cumsum_p.bind(x, axis=axis, reverse=bool(reverse))
