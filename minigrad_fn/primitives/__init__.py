"""The primitive set, by family. Each primitive's shape rule, numpy implementation and VJP rule stand
together in its family's module; the wrappers named after the primitives are the `minigrad_fn.lax` API."""
from . import elementwise, indexing, linalg, reductions, shape  # noqa: F401
from .elementwise import *  # noqa: F401,F403
from .indexing import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .reductions import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
from tracing import Primitive as _Primitive


def all_primitives() -> dict:
    """Every primitive defined here, by name."""
    out = {}
    for mod in (elementwise, reductions, shape, linalg, indexing):
        for v in vars(mod).values():
            if isinstance(v, _Primitive):
                out[v.name] = v
    return out
