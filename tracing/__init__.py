"""tracing: the IR and how Python functions become IR. Knows nothing of derivatives or JAX."""
from .core import (NOVAL, EvalTrace, JaxprTrace, Primitive, Tracer, current_trace,
                   is_array_like, new_trace)
from .errors import (ArgumentError, ConcretizationError, DTypeError, JaxprTypeError,
                     LeakedTracerError, MinigradError, OpError, ShapeError, TracerError,
                     register_internal_dir, user_line)
from .interpreter import eval_jaxpr, straight_line
from .api import (arg_name, check_args, check_leaves, leaf_names, make_jaxpr, tree_flatten,  # noqa: F401
                  tree_unflatten)
from .ir import ClosedJaxpr, Eqn, Jaxpr, Literal, ShapedArray, Var, aval_of, pp_jaxpr, short_dtype
from .passes import dce, dce_closed, optimize, simplify, typecheck
