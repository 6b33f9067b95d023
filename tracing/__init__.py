"""tracing: the IR and how Python functions become IR. Knows nothing of derivatives or JAX."""
from .core import (NOVAL, ROOT, EvalTrace, JaxprTrace, JaxprTracer, Primitive, Trace, Tracer, current_trace,
                   entered, gc_paused, is_array_like, is_staging, new_trace)
from .debug import NonFiniteError, debug_infs, debug_nans
from .errors import (ArgumentError, ConcretizationError, DTypeError, GradientLostError, JaxprTypeError,
                     LeakedTracerError,
                     MinigradError, OpError, ShapeError, TracerError, register_internal_dir, source_line,
                     user_line)
from .interpreter import eval_jaxpr, straight_line
from .api import arg_name, check_args, check_leaves, leaf_names, make_jaxpr, tree_flatten, tree_unflatten
from .ir import (ClosedJaxpr, Eqn, Jaxpr, Literal, ShapedArray, Var, aval_of, has_subjaxprs, pp_jaxpr,
                 short_dtype, subjaxprs)
from .passes import dce, dce_closed, optimize, simplify, typecheck
from .source import (SourceInfo, current_name_stack, emitting_on_behalf_of, is_internal, name_scope,
                     user_frame)

__all__ = [
    "NOVAL", "ROOT", "EvalTrace", "JaxprTrace", "JaxprTracer", "Primitive", "Trace", "Tracer", "current_trace",
    "entered", "gc_paused", "is_array_like", "is_staging", "new_trace",
    "ArgumentError", "ConcretizationError", "DTypeError", "GradientLostError", "JaxprTypeError", "LeakedTracerError",
    "NonFiniteError", "debug_infs", "debug_nans",
    "MinigradError", "OpError", "ShapeError", "TracerError", "register_internal_dir", "source_line", "user_line",
    "eval_jaxpr", "straight_line",
    "arg_name", "check_args", "check_leaves", "leaf_names", "make_jaxpr", "tree_flatten", "tree_unflatten",
    "ClosedJaxpr", "Eqn", "Jaxpr", "Literal", "ShapedArray", "Var", "aval_of", "has_subjaxprs", "pp_jaxpr",
    "short_dtype", "subjaxprs",
    "dce", "dce_closed", "optimize", "simplify", "typecheck",
    "SourceInfo", "current_name_stack", "emitting_on_behalf_of", "is_internal", "name_scope", "user_frame",
]
