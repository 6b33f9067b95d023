"""minigrad_fn.numpy: numpy's names and signatures, traceable by grad, jit and make_jaxpr.

On concrete numpy inputs every function computes what numpy computes (same values, same dtype); on traced
arrays it records primitives. Plain numpy calls on traced arrays (`np.exp(x)`, `np.dot(W, x)`) land here
through numpy's `__array_ufunc__` / `__array_function__` protocols.
"""
from __future__ import annotations

import numpy as _np

from . import _indexing  # noqa: F401
from ._core import UnsupportedError  # noqa: F401
from ._creation import (arange, array, asarray, empty, empty_like, eye, full, full_like, identity,  # noqa: F401
                        linspace, ones, ones_like, tri, zeros, zeros_like)
from ._indexing import take, take_along_axis  # noqa: F401
from ._linalg import dot, einsum, inner, matmul, outer, tensordot, vdot  # noqa: F401
from ._reductions import (amax, amin, argmax, argmin, cumsum, max, mean, min, prod, std, sum,  # noqa: F401
                          var)
from ._shape import (atleast_1d, atleast_2d, broadcast_arrays, broadcast_to, concatenate,  # noqa: F401
                     expand_dims, flip, fliplr, flipud, hstack, moveaxis, ndim, ravel, reshape, shape,
                     size, split, squeeze, stack, swapaxes, transpose, vstack)
from ._ufuncs import (abs, absolute, add, around, bitwise_and, bitwise_not, bitwise_or,  # noqa: F401
                      bitwise_xor, ceil, clip, cos, divide, equal, exp, expm1, floor, floor_divide, greater,
                      greater_equal, invert, isfinite, isnan, less, less_equal, log, log1p, logaddexp, logaddexp2,
                      logical_and,
                      logical_not, logical_or, logical_xor, maximum, minimum, mod, multiply, negative,
                      not_equal, positive, power, reciprocal, remainder, rint, round, sign, sin, sqrt, square,
                      stop_gradient, subtract, tan, tanh, true_divide, where)

# dtype names, as numpy's
float16, float32, float64 = _np.float16, _np.float32, _np.float64
int8, int16, int32, int64 = _np.int8, _np.int16, _np.int32, _np.int64
uint8, uint16, uint32, uint64 = _np.uint8, _np.uint16, _np.uint32, _np.uint64
bool_ = _np.bool_
dtype, ndarray, newaxis, pi, e, inf, nan = _np.dtype, _np.ndarray, None, _np.pi, _np.e, _np.inf, _np.nan
float_, int_ = _np.float64, _np.int64

# numpy function -> our function, for __array_function__ dispatch on traced arrays
_DISPATCH = {}
for _name, _fn in list(globals().items()):
    _np_fn = getattr(_np, _name, None)
    # (not numpy's own functions re-exported here, such as arange: dispatching to them would recurse)
    if callable(_fn) and not _name.startswith("_") and callable(_np_fn) and not isinstance(_np_fn, type) \
            and not isinstance(_np_fn, _np.ufunc) and _fn is not _np_fn:
        _DISPATCH[_np_fn] = _fn
_DISPATCH[_np.round] = round
del _name, _fn, _np_fn

from . import _methods  # noqa: E402
import sys as _sys  # noqa: E402

_methods.attach(_sys.modules[__name__])
