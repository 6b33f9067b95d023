"""minigrad-fn: trace pure Python functions to a jaxpr-like IR and differentiate them by VJP rules.

    import minigrad_fn as mg, minigrad_fn.numpy as mnp
    mg.grad(lambda x: mnp.sum(mnp.tanh(x) ** 2))(np.ones(3))
"""
from __future__ import annotations

import os as _os

import tracing as _tracing
from tracing import (ArgumentError, ClosedJaxpr, ConcretizationError, DTypeError, GradientLostError,  # noqa: F401
                     Jaxpr,
                     JaxprTypeError, LeakedTracerError, MinigradError, NonFiniteError, OpError, ShapeError,
                     TracerError, debug_infs, debug_nans, eval_jaxpr, make_jaxpr, typecheck)

_tracing.register_internal_dir(_os.path.dirname(_os.path.abspath(__file__)))

from . import numpy  # noqa: E402,F401  (attaches the array methods to tracers)
from . import nn  # noqa: E402,F401
from .autodiff import GradTypeError, MissingRuleError, grad, value_and_grad, vjp  # noqa: E402,F401
from .forward import hessian, jacfwd, jacrev, jvp, linearize  # noqa: E402,F401
from .batching import vmap  # noqa: E402,F401
from .numpy import UnsupportedError  # noqa: E402,F401
from .compiler import Jitted, LoweringError, jit  # noqa: E402,F401
from .checks import check_grads, check_rules  # noqa: E402,F401
from .config import config  # noqa: E402,F401
from . import lax  # noqa: E402,F401  (mg.lax.scan, as jax.lax.scan)
from .custom import (checkpoint, checkpoint_policies, custom_jvp, custom_vjp, print_saved_residuals,  # noqa: E402,F401
                     remat, saved_residuals)
from .graph import graph  # noqa: E402,F401
from .explain import explain  # noqa: E402,F401
from .exercise import check_my_grads  # noqa: E402,F401
from .train import TrainingDivergedError  # noqa: E402,F401
from .motion import animate, jacobian_heatmap, side_by_side  # noqa: E402,F401
from .render import RenderError  # noqa: E402,F401

__all__ = ["grad", "value_and_grad", "vjp", "jvp", "linearize", "jacfwd", "jacrev", "hessian", "vmap", "jit",
           "check_grads", "check_rules", "make_jaxpr", "eval_jaxpr", "typecheck", "debug_nans", "debug_infs", "config",
           "custom_jvp", "custom_vjp", "checkpoint", "remat", "checkpoint_policies", "saved_residuals",
           "print_saved_residuals",
           "graph", "explain", "check_my_grads", "animate", "jacobian_heatmap", "side_by_side", "RenderError",
           "numpy", "nn", "lax",
           "MinigradError", "ShapeError", "DTypeError", "TracerError", "ConcretizationError",
           "LeakedTracerError", "GradientLostError", "ArgumentError", "GradTypeError", "MissingRuleError",
           "TrainingDivergedError", "UnsupportedError", "OpError", "NonFiniteError",
           "JaxprTypeError", "LoweringError", "Jitted"]
