"""The primitive set, by family. Each primitive's shape rule, numpy implementation, VJP rule, lowering and
display stand together in its family's module; the wrappers named after the primitives are the
`minigrad_fn.lax` API.

The families import one another one way: elementwise -> reductions -> shape, and linalg, indexing -> shape
(see `_base.later_family` for the VJP rules that need a family above their own). The wrappers that JAX
names like Python builtins are defined as `abs_`, `slice_`... and exported here under JAX's names.
"""
from tracing import Primitive as _Primitive

from . import elementwise, indexing, linalg, reductions, shape
from .elementwise import (  # noqa: F401 (exported: see __all__ below)
    abs_ as abs, abs_p, add, add_p, and_p, ceil, ceil_p, convert_element_type, convert_element_type_p, cos,
    cos_p, div, div_p, eq, eq_p, exp, exp_p, expm1, expm1_p, floor, floor_p, floordiv, floordiv_p, ge, ge_p,
    gt, gt_p, mod, mod_p,
    integer_pow, integer_pow_p, le, le_p, log, log1p, log1p_p, log_p, logical_and, logical_not,
    logical_or, logistic, logistic_p, lt, lt_p, max_ as max, max_p, min_ as min, min_p, mul, mul_p, ne,
    ne_p, neg, neg_p, not_p, or_p, pow_ as pow, pow_p, round_ as round, round_p, select, select_p, sign,
    sign_p, sin, sin_p, sqrt, sqrt_p, stop_gradient, stop_gradient_p, sub, sub_p, tan, tan_p, tanh,
    tanh_p, unbroadcast)
from .indexing import gather, gather_p, scatter_add, scatter_add_p  # noqa: F401
from .linalg import dot_general, dot_general_p  # noqa: F401
from .reductions import (  # noqa: F401 (exported: see __all__ below)
    argmax, argmax_p, argmin, argmin_p, cumsum, cumsum_p, reduce_max, reduce_max_p, reduce_min,
    reduce_min_p, reduce_prod, reduce_prod_p, reduce_sum, reduce_sum_p)
from .shape import (  # noqa: F401 (exported: see __all__ below)
    broadcast_in_dim, broadcast_in_dim_p, concatenate, concatenate_p, expand_dims, iota, iota_p, pad, pad_p,
    reshape, reshape_p, rev, rev_p, slice_ as slice, slice_p, squeeze, squeeze_p, transpose, transpose_p)

_FAMILIES = (elementwise, reductions, shape, linalg, indexing)

# the families' `__all__`, under the names exported here (`slice_` as `slice`...)
__all__ = [name.removesuffix("_") for family in _FAMILIES for name in family.__all__] + [
    "all_primitives", "elementwise", "reductions", "shape", "linalg", "indexing"]


def all_primitives() -> dict:
    """Every primitive defined here, by name."""
    out = {}
    for family in _FAMILIES:
        for v in vars(family).values():
            if isinstance(v, _Primitive):
                out[v.name] = v
    return out
