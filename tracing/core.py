"""Primitives, tracers and traces: how a Python function's operations become equations.

There is always a *current trace*. `Primitive.bind` hands the operation to it:

- the root `EvalTrace` runs the primitive's numpy implementation;
- a `JaxprTrace` records an equation. If it was made `with_values` (as `grad` does), each tracer also
  carries the value it stands for, computed by handing the same operation to the parent trace, so
  Python control flow on values works; otherwise (`make_jaxpr`, `jit`) tracers know only shape and dtype.

A trace whose operands include none of its own tracers passes the operation straight to its parent:
values from enclosing levels are constants to it. Nesting transformations is therefore nesting traces.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Any, Callable

import numpy as np

from .errors import (ArgumentError, ConcretizationError, LeakedTracerError, MinigradError,
                     OpError)
from .ir import ClosedJaxpr, Eqn, Jaxpr, Literal, ShapedArray, Var, aval_of

NOVAL = None  # a tracer's `val` when it stands for no concrete value


class Primitive:
    """An operation of the IR: a name, a shape/dtype rule, a numpy implementation, per-transform rules."""

    __slots__ = ("name", "shape_rule", "impl", "rules", "multiple_results", "__weakref__")

    def __init__(self, name: str, shape_rule: Callable = None, impl: Callable = None,
                 multiple_results: bool = False):
        self.name = name
        self.shape_rule = shape_rule
        self.impl = impl
        self.rules: dict[str, Any] = {}
        self.multiple_results = multiple_results

    def bind(self, *args, **params):
        """Apply the primitive in the current trace (evaluate it, or record it)."""
        return _state.trace.process(self, args, params)

    def __repr__(self):
        return self.name


# ---------------------------------------------------------------------------------------------
# Traces

class EvalTrace:
    """The root trace: evaluates primitives with their numpy implementations."""

    __slots__ = ()
    parent = None
    alive = True
    level = 0

    def process(self, prim: Primitive, args: tuple, params: dict):
        for a in args:
            if isinstance(a, Tracer):
                raise _leaked(a, prim)
        try:
            return prim.impl(*args, **params)
        except MinigradError:
            raise
        except Exception as e:
            failure = e
        # Outside the handler, so the user sees our error alone: the shape rule's clear message if the
        # operands are wrong, otherwise the operation and its operands named beside numpy's complaint.
        avals = [aval_of(a) for a in args]
        prim.shape_rule(*avals, **params)
        ops = ", ".join(str(a) for a in avals)
        raise OpError(f"{prim.name} failed on operands ({ops}): {type(failure).__name__}: {failure}")


class JaxprTrace:
    """A trace that records equations; `with_values` tracers also carry their parent-level values."""

    __slots__ = ("parent", "with_values", "alive", "level", "eqns", "invars", "constvars", "consts",
                 "_const_ids", "env", "arg_names", "keep")

    def __init__(self, parent, with_values: bool, keep: Callable | None = None):
        self.parent = parent
        self.with_values = with_values
        self.alive = True
        self.level = parent.level + 1
        self.eqns: list[Eqn] = []
        self.invars: list[Var] = []
        self.constvars: list[Var] = []
        self.consts: list = []
        self._const_ids: dict[int, Var] = {}
        self.env: dict[Var, Any] = {}  # var -> parent-level value (with_values only)
        self.arg_names: Callable[[], list[str]] | None = None  # names of the invars, for error messages
        # With values: keep(prim) names the values of an equation to keep in `env` (operand positions and
        # "ans"), None for all of them. Values not kept live only in their tracers, and are freed with them.
        self.keep = keep

    def new_arg(self, aval: ShapedArray, val: Any = NOVAL) -> "Tracer":
        """A fresh input variable of the traced function."""
        var = Var(aval)
        self.invars.append(var)
        if self.with_values:
            self.env[var] = val
        return Tracer(self, aval, val, var)

    def lift(self, x: Any, prim: Primitive | None = None):
        """The atom for a value from an enclosing level: a Literal for scalars, else a constvar."""
        if isinstance(x, Tracer):
            if not x._trace.alive:
                raise _leaked(x, prim)
            var = self._const_ids.get(id(x))
            if var is None:
                var = self._new_const(x, x.aval)
            return var
        var = self._const_ids.get(id(x))
        if var is not None:
            return var
        try:
            aval = aval_of(x)
        except Exception:
            op = f"{prim.name}: " if prim is not None else ""
            raise ArgumentError(f"{op}a value of type {type(x).__name__} was used as an operand; "
                                "only arrays and scalars can be",
                                "Convert it with minigrad_fn.numpy.asarray, or keep it out of the computation.")
        if aval.shape == () and not isinstance(x, Tracer):
            return Literal(np.asarray(x) if not isinstance(x, np.generic) else x, aval)
        return self._new_const(x, aval)

    def _new_const(self, x, aval):
        var = Var(aval)
        self.constvars.append(var)
        self.consts.append(x)
        self._const_ids[id(x)] = var
        if self.with_values:
            self.env[var] = x
        return var

    def process(self, prim: Primitive, args: tuple, params: dict):
        for a in args:
            if isinstance(a, Tracer) and a._trace is self:
                break
        else:
            return self.parent.process(prim, args, params)
        invars = []
        for a in args:
            invars.append(a._var if isinstance(a, Tracer) and a._trace is self else self.lift(a, prim))
        # The shape rule runs before anything is computed: errors come from it, at trace time, and the
        # recorded types are the rule's (numpy would silently promote mismatched dtypes).
        avals = prim.shape_rule(*[v.aval for v in invars], **params)
        if self.with_values:
            env = self.env
            # parent-level values: a tracer's own, a literal's, or the lifted value itself
            vals = [v.val if type(v) is Literal else a.val if isinstance(a, Tracer) and a._trace is self else a
                    for v, a in zip(invars, args)]
            out = self.parent.process(prim, vals, params)
            keep = None
            if self.keep is not None:  # (without a keep function every value is in env from when it was made)
                keep = self.keep(prim)
                for i in range(len(invars)) if keep is None else keep:
                    if i != "ans" and type(invars[i]) is Var:
                        env[invars[i]] = vals[i]
            if prim.multiple_results:
                outvars = [Var(a) for a in avals]
                if keep is None or "ans" in keep:
                    env.update(zip(outvars, out))
                self.eqns.append(Eqn(prim, invars, outvars, params))
                return [Tracer(self, v.aval, o, v) for v, o in zip(outvars, out)]
            var = Var(avals)
            if keep is None or "ans" in keep:
                env[var] = out
            self.eqns.append(Eqn(prim, invars, [var], params))
            return Tracer(self, avals, out, var)
        if prim.multiple_results:
            outvars = [Var(a) for a in avals]
            self.eqns.append(Eqn(prim, invars, outvars, params))
            return [Tracer(self, v.aval, NOVAL, v) for v in outvars]
        var = Var(avals)
        self.eqns.append(Eqn(prim, invars, [var], params))
        return Tracer(self, avals, NOVAL, var)

    def to_jaxpr(self, outs: list) -> ClosedJaxpr:
        """The recorded program with `outs` (tracers of this trace or constants) as its outputs."""
        outvars = [o._var if isinstance(o, Tracer) and o._trace is self else self.lift(o) for o in outs]
        jaxpr = Jaxpr(list(self.constvars), list(self.invars), outvars, list(self.eqns))
        return ClosedJaxpr(jaxpr, list(self.consts))

    def inputs_of(self, var: Var) -> list[str]:
        """Names of the traced arguments `var` depends on (for errors; walks the equations backwards)."""
        wanted, found = {var}, []
        for eqn in reversed(self.eqns):
            if any(o in wanted for o in eqn.outvars):
                wanted.update(v for v in eqn.invars if type(v) is Var)
        names = self.arg_names() if self.arg_names is not None else None
        for i, v in enumerate(self.invars):
            if v in wanted:
                found.append(names[i] if names and i < len(names) else f"input {i}")
        return found

    def value_of(self, x: Any) -> Any:
        """The parent-level value a tracer of this trace stands for (constants pass through)."""
        if isinstance(x, Tracer) and x._trace is self:
            return x.val
        return x


class _State:
    __slots__ = ("trace",)

    def __init__(self):
        self.trace = EvalTrace()


_state = _State()


def current_trace():
    """The trace that `bind` hands operations to right now."""
    return _state.trace


@contextmanager
def gc_paused():
    """Python's cyclic garbage collector off for the block (back as it was after).

    Tracing makes many small objects that live until the trace ends; each collection scans all of them,
    so with the collector on, tracing k operations costs more than k times one. Reference counting still
    frees everything that is not in a cycle; cycles are collected after the block.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@contextmanager
def new_trace(with_values: bool, keep: Callable | None = None):
    """Make a JaxprTrace current for the block, child of the current one; end it when the block exits.
    The outermost trace runs with the cyclic garbage collector paused (see gc_paused)."""
    parent = _state.trace
    trace = JaxprTrace(parent, with_values, keep)
    _state.trace = trace
    try:
        if type(parent) is EvalTrace:
            with gc_paused():
                yield trace
        else:
            yield trace
    finally:
        _state.trace = parent
        trace.alive = False


def _leaked(t: "Tracer", prim, what: str = "") -> LeakedTracerError:
    use = f" by {prim.name}" if prim is not None else f" for {what}" if what else ""
    return LeakedTracerError(
        f"a tracer {t.aval} was used{use} after the transformation that created it had returned",
        "Return values out of grad/vjp/jit/make_jaxpr instead of keeping them in globals or closures; "
        "pass them in as arguments where they are needed.")


# ---------------------------------------------------------------------------------------------
# Tracers

class Tracer:
    """A stand-in for an array while a function is traced: it has an aval and maybe a value.

    Operators and numpy protocols (`+`, `@`, indexing, `np.exp(t)`) are attached by the library that
    defines the primitives (`minigrad_fn.numpy`), since this package knows none.
    """

    __slots__ = ("_trace", "aval", "val", "_var")
    __array_priority__ = 1000

    def __init__(self, trace, aval: ShapedArray, val, var: Var):
        self._trace = trace
        self.aval = aval
        self.val = val
        self._var = var

    @property
    def shape(self) -> tuple:
        return self.aval.shape

    @property
    def dtype(self) -> np.dtype:
        return self.aval.dtype

    @property
    def ndim(self) -> int:
        return len(self.aval.shape)

    @property
    def size(self) -> int:
        return self.aval.size

    def __len__(self):
        if not self.aval.shape:
            raise TypeError("len() of a 0-d array")
        return self.aval.shape[0]

    def concrete(self, what: str):
        """The concrete numpy value this tracer stands for, or a ConcretizationError naming `what`."""
        if not self._trace.alive:
            raise _leaked(self, None, what)
        v = self.val
        if v is NOVAL:
            deps = self._trace.inputs_of(self._var)
            on = f" that depends on {', '.join(deps)}" if deps else ""
            who = deps[0] if len(deps) == 1 else "the arguments that decide this"
            raise ConcretizationError(
                f"{what} needs a concrete value, but this is an abstract tracer {self.aval}{on} "
                "(inside jit or make_jaxpr only shapes and dtypes are known)",
                f"Mark {who} as static (jit(f, static_argnums=...)), or compute both branches and choose "
                "with minigrad_fn.numpy.where(condition, x, y).")
        if isinstance(v, Tracer):
            return v.concrete(what)
        return v

    def __bool__(self):
        return bool(self.concrete("bool() (an `if`, `while`, `and`/`or` on an array)"))

    def __float__(self):
        return float(self.concrete("float()"))

    def __int__(self):
        return int(self.concrete("int()"))

    def __complex__(self):
        return complex(self.concrete("complex()"))

    def __index__(self):
        if self.aval.dtype.kind not in "iub":
            raise TypeError(f"only integer arrays can be used as an index, not {self.aval}")
        return int(self.concrete("an index (__index__)"))

    def item(self):
        """The Python scalar this 0-d tracer stands for (only when its value is known)."""
        return self.concrete(".item()").item()

    def __hash__(self):
        raise TypeError(f"a traced array {self.aval} is unhashable; use it as a value, not a key")

    def __repr__(self):
        v = self.val
        while isinstance(v, Tracer):
            v = v.val
        if v is NOVAL:
            return f"Traced<{self.aval}>"
        return f"Traced<{self.aval}>with value {np.array2string(np.asarray(v), threshold=10)}"


def is_array_like(x: Any) -> bool:
    """True for what may be an argument leaf: arrays, numpy and Python scalars, tracers."""
    return isinstance(x, (np.ndarray, np.generic, float, int, bool, complex, Tracer)) or (
        hasattr(x, "__array__") and hasattr(x, "shape") and hasattr(x, "dtype"))
