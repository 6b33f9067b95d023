"""The primitive wrappers, lax-style: same dtypes in, explicit axes, no numpy conveniences.

Use these to write VJP rules or new composite operations; users normally want minigrad_fn.numpy. The
helpers to define a new primitive (`primitive`, `Display`, the shape-rule checks) are here too.
"""
import numpy as np  # noqa: F401

from tracing import DTypeError, ShapedArray, ShapeError  # noqa: F401

from . import primitives as _primitives
from .primitives._base import (VJP, Display, broadcast_shapes, check_axes, fmt_shapes, jnp, lax,  # noqa: F401
                               lax_fn, lax_op, primitive, require_float, same_dtype, scalar, show_nothing,
                               show_out_shape, show_param, unit_rule)

# every wrapper and primitive of `minigrad_fn.primitives` (its `__all__`), under the same names
globals().update((name, getattr(_primitives, name)) for name in _primitives.__all__)

# control flow (higher-order primitives, minigrad_fn/control_flow.py)
from .control_flow import cond, cond_p, fori_loop, scan, scan_p, switch, while_loop, while_p  # noqa: E402,F401
from .control_flow import map_ as map  # noqa: E402,F401,A001
