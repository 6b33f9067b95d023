"""Reductions and scans: reduce_sum/max/min/prod, argmax/argmin, cumsum.

`axes` is always a sorted tuple of non-negative ints; the reduced axes are dropped (the numpy surface
adds keepdims with a reshape).
"""
from __future__ import annotations

import numpy as np

from tracing import DTypeError, ShapedArray, ShapeError

from ._base import (Display, array_example, check_axes, jnp, lax_fn, later_family, nonzero, primitive, scalar,
                    show_param)
from ._transforms import linear_jvp, reducer_batch, zero_jvp
from .shape import broadcast_in_dim, reshape, transpose

E = later_family("elementwise")  # reduce_max's and reduce_prod's VJP and JVP rules compare and multiply

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


def _chooser_locations(ans, x, axes):
    """Where x equals its extremum `ans` (1 there, 0 elsewhere, in x's dtype) and how many such positions
    each reduced slice has: derivatives go to those positions, split evenly between ties (as JAX)."""
    kept = _kept(x.ndim, axes)
    loc = E.convert_element_type(E.eq(x, broadcast_in_dim(ans, x.shape, kept)), x.dtype)
    return loc, reduce_sum(loc, axes)


def _chooser_vjp(g, ans, x, *, axes):
    loc, counts = _chooser_locations(ans, x, axes)
    share = E.div(g, counts)
    return E.mul(broadcast_in_dim(share, x.shape, _kept(x.ndim, axes)), loc)


def _chooser_jvp(prim):
    def jvp(primals, tangents, *, axes):
        (x,), (t,) = primals, tangents
        ans = prim.bind(x, axes=axes)
        if t is None:
            return [ans], [None]
        loc, counts = _chooser_locations(ans, x, axes)
        return [ans], [E.div(reduce_sum(E.mul(t, loc), axes), counts)]
    return jvp


def _prod_layout(x, axes):
    """The permutation putting the reduced axes last, and the kept axes' shape (x as kshape + (k,))."""
    kept = _kept(x.ndim, axes)
    return kept + tuple(axes), tuple(x.shape[d] for d in kept)


def _prod_others(x, axes):
    """For each reduced entry the product of the other entries of its slice, laid out as kshape + (k,) (see
    _prod_layout); built without dividing by x_i, so zeros are exact."""
    perm, kshape = _prod_layout(x, axes)
    k = int(np.prod([x.shape[d] for d in axes], dtype=np.int64))
    x2 = reshape(transpose(x, perm), kshape + (k,))
    nk = len(kshape)
    mat = broadcast_in_dim(x2, kshape + (k, k), tuple(range(nk)) + (nk + 1,))
    mat = E.select(np.eye(k, dtype=bool), scalar(1, x), mat)
    return reduce_prod(mat, (nk + 1,))


def _prod_vjp(g, ans, x, *, axes):
    # d prod / d x_i = product of the others
    others = _prod_others(x, axes)
    perm, kshape = _prod_layout(x, axes)
    d2 = E.mul(broadcast_in_dim(g, kshape + (others.shape[-1],), tuple(range(len(kshape)))), others)
    return transpose(reshape(d2, tuple(x.shape[d] for d in perm)), tuple(np.argsort(perm)))


def _prod_jvp(primals, tangents, *, axes):
    # the tangent: sum over each slice of t_i times the product of the others
    (x,), (t,) = primals, tangents
    ans = reduce_prod(x, axes)
    if t is None:
        return [ans], [None]
    others = _prod_others(x, axes)
    perm, kshape = _prod_layout(x, axes)
    t2 = reshape(transpose(t, perm), kshape + (others.shape[-1],))
    return [ans], [reduce_sum(E.mul(t2, others), (len(kshape),))]


def _sum_impl(x, *, axes):
    return np.sum(x, axis=axes, dtype=x.dtype)


def _prod_impl(x, *, axes):
    return np.prod(x, axis=axes, dtype=x.dtype)


def _shown(short, local="", pattern=""):
    return Display(short, show_param("axes"), local=local, pattern=pattern)


def _axes(s, x):
    return {"axes": s.axes(x.ndim)}  # none to all


reduce_sum_p = primitive("reduce_sum", _reduce_rule("reduce_sum"), _sum_impl, [_sum_vjp],
                         lambda x, *, axes: jnp.sum(x, axis=axes, dtype=x.dtype), reads=(),
                         display=_shown("sum", "1 for each summed entry: upstream copied back to each"))
reduce_sum_p.rules["simplify"] = lambda eqn, ctx: eqn.invars[0] if not eqn.params["axes"] else None
reduce_sum_p.rules["jvp"] = linear_jvp(reduce_sum_p)
reduce_sum_p.rules["batch"] = reducer_batch(reduce_sum_p, "axes")
reduce_max_p = primitive("reduce_max", _reduce_rule("reduce_max"), lambda x, *, axes: np.max(x, axis=axes),
                         [_chooser_vjp], lambda x, *, axes: jnp.max(x, axis=axes), reads=(0,), reads_ans=True,
                         display=_shown("max", "1 at the largest entry, 0 elsewhere",
                                        "max routes: the gradient goes to the largest entry"))
reduce_max_p.rules["jvp"] = _chooser_jvp(reduce_max_p)
reduce_max_p.rules["batch"] = reducer_batch(reduce_max_p, "axes")
reduce_min_p = primitive("reduce_min", _reduce_rule("reduce_min"), lambda x, *, axes: np.min(x, axis=axes),
                         [_chooser_vjp], lambda x, *, axes: jnp.min(x, axis=axes), reads=(0,), reads_ans=True,
                         display=_shown("min", "1 at the smallest entry, 0 elsewhere"))
reduce_min_p.rules["jvp"] = _chooser_jvp(reduce_min_p)
reduce_min_p.rules["batch"] = reducer_batch(reduce_min_p, "axes")
reduce_prod_p = primitive("reduce_prod", _reduce_rule("reduce_prod"), _prod_impl, [_prod_vjp],
                          lambda x, *, axes: jnp.prod(x, axis=axes, dtype=x.dtype), reads=(0,),
                          display=_shown("prod", "the product of the other entries"))
reduce_prod_p.rules["jvp"] = _prod_jvp
reduce_prod_p.rules["batch"] = reducer_batch(reduce_prod_p, "axes")
# uniform values: ties (where max and min are not differentiable) have probability 0
reduce_sum_p.rules["example"] = reduce_max_p.rules["example"] = reduce_min_p.rules["example"] = array_example(_axes)
reduce_prod_p.rules["example"] = array_example(_axes, nonzero(0.5, 1.5))  # no zeros


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
argmax_p.rules["jvp"] = zero_jvp(argmax_p)
argmax_p.rules["batch"] = reducer_batch(argmax_p, "axis")
argmin_p = primitive("argmin", _arg_rule("argmin"),
                     lambda x, *, axis, index_dtype: np.argmin(x, axis=axis).astype(index_dtype), [None],
                     lambda x, *, axis, index_dtype: jnp.argmin(x, axis=axis).astype(index_dtype),
                     display=Display(params=show_param("axis")))
argmin_p.rules["jvp"] = zero_jvp(argmin_p)
argmin_p.rules["batch"] = reducer_batch(argmin_p, "axis")


argmax_p.rules["example"] = argmin_p.rules["example"] = array_example(lambda s, x: {
    "axis": s.integers(0, x.ndim), "index_dtype": np.dtype(s.choice([np.int32, np.int64]))}, min_dims=1)


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
                                               local="1 for every later entry: upstream summed from the end"))
cumsum_p.rules["jvp"] = linear_jvp(cumsum_p)
cumsum_p.rules["batch"] = reducer_batch(cumsum_p, "axis")
cumsum_p.rules["example"] = array_example(lambda s, x: {"axis": s.integers(0, x.ndim), "reverse": s.boolean()},
                                          min_dims=1)
def cumsum(x, axis: int, reverse: bool = False): return cumsum_p.bind(x, axis=axis, reverse=bool(reverse))
