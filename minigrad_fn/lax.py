"""The primitive wrappers, lax-style: same dtypes in, explicit axes, no numpy conveniences.

Use these to write VJP rules or new composite operations; users normally want minigrad_fn.numpy.
"""
from .primitives import *  # noqa: F401,F403
from .primitives import all_primitives  # noqa: F401
