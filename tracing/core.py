"""Primitives, traces and tracers: how a Python function's operations become equations.

Every thread has a *current trace* (a context variable). `Primitive.bind` hands each operation to it,
and a trace's `process` returns the operation's outputs as a list (bind unwraps single results).

- The root `EvalTrace` runs the primitive's numpy implementation.
- A `JaxprTrace` records an equation. Made `with_values` (as `grad` makes it), each of its tracers also
  carries the value it stands for, computed by handing the same operation to the parent trace, so
  Python control flow on values works. Without values (`make_jaxpr`, `jit`) it is a *staging* trace:
  its tracers know only shape and dtype.
- Transformations in other packages (a JVP trace, a batching trace) subclass `Trace` and `Tracer`.

What a trace does with an operand (the protocol every trace follows, written once here):

- its own tracer (`trace.owns(x)`) is used as it is;
- a value from an enclosing level (a constant, or a tracer of a live outer trace) is `lift`ed: a
  JaxprTrace turns it into a Literal or a constvar, a JVP trace would give it a zero tangent;
- a tracer of a trace that has ended is a leak: `LeakedTracerError`.
`full_raise(x)` is "own tracer as it is, anything else lifted".

An operation none of whose operands is the current trace's own tracer is handed to the parent trace,
except by a staging trace, which records every operation bound while it is current, constants only
included (JAX's "omnistaging"): under `make_jaxpr`/`jit`, `mnp.exp(c)` of a constant is an equation of
the program, and the IR passes decide what to fold (never growing data), so a loop or branch body
traced later holds its own computations. A value-carrying trace hands such operations to its parent:
nothing in them depends on what it differentiates.

Nesting transformations is nesting traces; tracing never imports the library that defines primitives.
"""
from __future__ import annotations

import gc
import threading
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable

import numpy as np

from . import debug
from .errors import (ArgumentError, ConcretizationError, GradientLostError, LeakedTracerError, MinigradError,
                     OpError)
from .ir import ClosedJaxpr, Eqn, Jaxpr, Literal, ShapedArray, Var, aval_of
from .source import SourceInfo, _emitting_for, capture

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
        outs = _current.get().process(self, args, params)
        return outs if self.multiple_results else outs[0]

    def __repr__(self):
        return self.name


# ---------------------------------------------------------------------------------------------
# Traces

class Trace:
    """A level of interpretation: what `bind` does to an operation while this trace is current.

    Subclasses define `process(prim, args, params) -> list of outputs` and `lift(x, prim)`; see the
    module docstring for the protocol. `parent` is the enclosing trace (values of this trace's tracers
    live there), `level` its depth, `alive` False once the transformation that made it has returned.
    """

    __slots__ = ("parent", "level", "alive", "refused")
    why_abstract = "inside jit or make_jaxpr only shapes and dtypes are known"  # for ConcretizationError

    def __init__(self, parent: "Trace | None"):
        self.parent = parent
        self.level = 0 if parent is None else parent.level + 1
        self.alive = True
        self.refused: MinigradError | None = None  # an error numpy swallowed (see `entered`)

    def process(self, prim: Primitive, args: tuple, params: dict, out_avals: list | None = None) -> list:
        """The outputs of `prim` on `args` at this level. `out_avals`, when given, are the output types
        the caller's shape rule found for operands of these same types (a transformation that records an
        operation and has its parent compute it): a trace may use them rather than run the rule again."""
        raise NotImplementedError

    def lift(self, x: Any, prim: Primitive | None = None):
        """A value from an enclosing level as this trace's operand (see the module docstring)."""
        raise NotImplementedError

    def owns(self, x: Any) -> bool:
        """True if x is one of this trace's own tracers."""
        return isinstance(x, Tracer) and x._trace is self

    def full_raise(self, x: Any, prim: Primitive | None = None):
        """x as this trace's operand: an own tracer as it is, anything else lifted."""
        return x if isinstance(x, Tracer) and x._trace is self else self.lift(x, prim)

    def inputs_of(self, tracer: "Tracer") -> list[str]:
        """Names of the traced arguments a tracer depends on (for error messages); [] if unknown."""
        return []

    def differentiates(self, tracer: "Tracer") -> bool:
        """True if this trace differentiates through `tracer` (turning it into a Python number would drop
        its derivative without a word)."""
        return False

    def end(self) -> None:
        """The transformation has returned: later use of its tracers is a leak."""
        self.alive = False



class EvalTrace(Trace):
    """The root trace: evaluates primitives with their numpy implementations."""

    __slots__ = ()

    def lift(self, x, prim=None):
        return x

    def process(self, prim: Primitive, args: tuple, params: dict, out_avals: list | None = None) -> list:
        for a in args:
            if isinstance(a, Tracer):
                raise _leaked(a, prim)
        try:
            out = prim.impl(*args, **params)
            outs = out if prim.multiple_results else [out]
            if debug.active:
                debug.check(prim, args, outs)
            return outs
        except MinigradError:
            raise
        except Exception as e:
            failure = e
        # Outside the handler, so the user sees our error alone: the shape rule's clear message if the
        # operands are wrong, otherwise the operation and its operands named beside numpy's complaint.
        avals = [aval_of(a) for a in args]
        prim.shape_rule(*avals, **params)
        ops = ", ".join(str(a) for a in avals)
        raise OpError(f"{prim.name} failed on operands ({ops}): {type(failure).__name__}: {failure}",
                      "Its shape rule accepted these operands but its implementation failed on their values: "
                      "check the values (a singular matrix, an index out of range), or make the implementation "
                      "handle them.")


ROOT = EvalTrace(None)  # stateless: every thread's root
_current: ContextVar[Trace] = ContextVar("minigrad_trace", default=ROOT)


def current_trace() -> Trace:
    """The trace that `bind` hands operations to right now (in this thread)."""
    return _current.get()


def is_staging() -> bool:
    """True while a staging trace (make_jaxpr, jit) is current or encloses the current one: operations
    on constants are recorded then, not computed."""
    t = _current.get()
    while t is not None:
        if type(t) is JaxprTrace and t.record_all:
            return True
        t = t.parent
    return False


def enter_parent(trace: Trace):
    """Make trace's parent current (returns the token for `leave`): a transformation's rules compute on
    parent-level values, so what they bind goes straight to the parent, not through this trace again."""
    return _current.set(trace.parent)


def enter(trace: Trace):
    """Make `trace` current (returns the token for `leave`) without ending it afterwards: a rule that
    runs user code at a given level (a custom rule's forward part, in the trace's parent)."""
    return _current.set(trace)


leave = _current.reset  # leave(token): undo enter_parent / enter


Forward = Callable[["Trace", Primitive, list, dict, list, list], tuple]


class JaxprTrace(Trace):
    """A trace that records equations; `with_values` tracers also carry their parent-level values.

    A value-carrying trace computes each operation's values in its parent by `forward(parent, prim,
    vals, params, in_avals, out_avals) -> (outs, kept)` when given (a transformation's forward part:
    `kept` is appended to `trace.kept`, one entry per equation), else by `parent.process`. With
    `keep_values`, every variable's value is also kept in `trace.env` (for pictures of the values).
    With `record_calls(code) -> bool` (which frames are user-level calls), each equation's source lists
    the calls it was made in, below the frame running `top_code` (the traced function). A staging trace
    made with `record_constants=False` hands operations on none of its tracers to its parent (as a
    value-carrying trace does): partial evaluation, for linearize.
    """

    __slots__ = ("with_values", "record_all", "eqns", "invars", "constvars", "consts", "_const_ids", "env",
                 "kept", "forward", "arg_names", "_calls", "_is_call", "_frames", "_stop_code", "blocks")

    def __init__(self, parent: Trace, with_values: bool, forward: Forward | None = None,
                 keep_values: bool = False, record_calls: Callable | None = None, top_code=None,
                 record_constants: bool = True):
        super().__init__(parent)
        self.with_values = with_values
        # omnistaging: a staging trace records operations on constants too, unless told not to (linearize
        # stages only what depends on its inputs and computes the rest)
        self.record_all = not with_values and record_constants
        self.eqns: list[Eqn] = []
        self.invars: list[Var] = []
        self.constvars: list[Var] = []
        self.consts: list = []
        self._const_ids: dict[int, Var] = {}
        self.env: dict[Var, Any] | None = {} if keep_values else None
        self.kept: list = []
        self.forward = forward
        self.arg_names: Callable[[], list[str]] | None = None  # names of the invars, for error messages
        self._calls = self._user_calls if record_calls else None
        self._is_call = record_calls
        self._frames: dict = {}
        self._stop_code = top_code
        # with a forward part (a derivative): blocks(eqn) says no derivative flows through eqn
        # (comparisons, stop_gradient...), for `differentiates`
        self.blocks: Callable | None = None

    # -- operands ----------------------------------------------------------------------------------
    def new_arg(self, aval: ShapedArray, val: Any = NOVAL) -> "JaxprTracer":
        """A fresh input variable of the traced function."""
        var = Var(aval)
        self.invars.append(var)
        if self.env is not None:
            self.env[var] = val
        return JaxprTracer(self, var, val)

    def lift(self, x: Any, prim: Primitive | None = None):
        """The atom for a value from an enclosing level: a Literal for scalars, else a constvar."""
        if isinstance(x, Tracer):
            if not x._trace.alive:
                raise _leaked(x, prim)
            var = self._const_ids.get(id(x))
            return var if var is not None else self._new_const(x, x.aval)
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
        if aval.shape == ():
            return Literal(np.asarray(x) if not isinstance(x, np.generic) else x, aval)
        return self._new_const(x, aval)

    def _new_const(self, x, aval):
        var = Var(aval)
        self.constvars.append(var)
        self.consts.append(x)
        self._const_ids[id(x)] = var
        if self.env is not None:
            self.env[var] = x
        return var

    # -- operations --------------------------------------------------------------------------------
    def process(self, prim: Primitive, args: tuple, params: dict, out_avals: list | None = None) -> list:
        if not self.record_all:
            for a in args:
                if isinstance(a, Tracer) and a._trace is self:
                    break
            else:  # nothing here depends on this trace's inputs
                return self.parent.process(prim, args, params, out_avals)
        invars = [a._var if isinstance(a, Tracer) and a._trace is self else self.lift(a, prim) for a in args]
        # The shape rule runs before anything is computed: errors come from it, at trace time, and the
        # recorded types are the rule's (numpy would silently promote mismatched dtypes).
        in_avals = [v.aval for v in invars]
        if out_avals is None:
            out_avals = prim.shape_rule(*in_avals, **params)
            if not prim.multiple_results:
                out_avals = [out_avals]
        if not self.with_values:
            return self.emit(prim, invars, out_avals, params, [NOVAL] * len(out_avals))
        # parent-level values: a tracer's own, a literal's, or the lifted value itself
        vals = [v.val if type(v) is Literal else a.val if isinstance(a, Tracer) and a._trace is self else a
                for v, a in zip(invars, args)]
        parent = self.parent
        if parent is ROOT:
            src = None
            if self.forward is None:
                outs = parent.process(prim, vals, params, out_avals)
            else:
                outs, kept = self.forward(parent, prim, vals, params, in_avals, out_avals)
                self.kept.append(kept)
        else:  # what the parent records for this operation comes from the same user line: found once
            src = capture(3, self._calls)
            token = _emitting_for.set(src)
            try:
                if self.forward is None:
                    outs = parent.process(prim, vals, params, out_avals)
                else:
                    outs, kept = self.forward(parent, prim, vals, params, in_avals, out_avals)
                    self.kept.append(kept)
            finally:
                _emitting_for.reset(token)
        return self.emit(prim, invars, out_avals, params, outs, src)

    def emit(self, prim: Primitive, invars: list, out_avals: list, params: dict, vals: list,
             source: SourceInfo | None = None) -> list:
        """The one place an equation is made: new output variables, the equation with its source info
        (found here unless given), and a tracer per output (carrying `vals`)."""
        if len(out_avals) == 1:
            var = Var(out_avals[0])
            outvars, tracers = [var], [JaxprTracer(self, var, vals[0])]
        else:
            outvars = [Var(a) for a in out_avals]
            tracers = [JaxprTracer(self, v, x) for v, x in zip(outvars, vals)]
        self.eqns.append(Eqn(prim, invars, outvars, params, source or capture(4, self._calls)))
        if self.env is not None:
            self.env.update(zip(outvars, vals))
        return tracers

    def _user_calls(self, frame) -> tuple:
        """The user-level calls (frames `record_calls` accepts) between the traced function and `frame`,
        outermost first, as `(function name, call id)`; frames are kept alive while tracing, so an id
        names one call."""
        calls = []
        f = frame
        while f is not None and f.f_code is not self._stop_code:
            if self._is_call(f.f_code):
                calls.append(f)
            f = f.f_back
        for f in calls:
            self._frames[id(f)] = f
        return tuple((f.f_code.co_name, id(f)) for f in reversed(calls))

    def call_codes(self) -> dict:
        """Call id -> code object of every user-level call noted so far (`record_calls`); valid while the
        trace records, since the ids are those of frames it keeps alive until it ends."""
        return {call_id: f.f_code for call_id, f in self._frames.items()}

    def to_jaxpr(self, outs: list) -> ClosedJaxpr:
        """The recorded program with `outs` (tracers of this trace or constants) as its outputs."""
        outvars = [o._var if isinstance(o, Tracer) and o._trace is self else self.lift(o) for o in outs]
        jaxpr = Jaxpr(list(self.constvars), list(self.invars), outvars, list(self.eqns))
        return ClosedJaxpr(jaxpr, list(self.consts))

    def inputs_of(self, tracer: "Tracer") -> list[str]:
        """Names of the traced arguments the tracer depends on (walks the equations backwards)."""
        wanted, found = {tracer._var}, []
        for eqn in reversed(self.eqns):
            if any(o in wanted for o in eqn.outvars):
                wanted.update(v for v in eqn.invars if type(v) is Var)
        names = self.arg_names() if self.arg_names is not None else None
        for i, v in enumerate(self.invars):
            if v in wanted:
                found.append(names[i] if names and i < len(names) else f"input {i}")
        return found

    def differentiates(self, tracer: "Tracer") -> bool:
        """A value-carrying trace with a forward part differentiates its float values that depend on an
        input through equations that pass derivatives (a backward walk, made only when asked)."""
        if self.forward is None or tracer.aval.dtype.kind != "f":
            return False
        wanted = {tracer._var}
        for eqn in reversed(self.eqns):
            if any(o in wanted for o in eqn.outvars) and not (self.blocks is not None and self.blocks(eqn)):
                wanted.update(v for v in eqn.invars if type(v) is Var)
        return any(v in wanted for v in self.invars)

    def value_of(self, x: Any) -> Any:
        """The parent-level value a tracer of this trace stands for (constants pass through)."""
        if isinstance(x, Tracer) and x._trace is self:
            return x.val
        return x

    def end(self) -> None:
        """The transformation has returned: later use of its tracers is a leak; frames are let go."""
        self.alive = False
        self._frames.clear()


# ---------------------------------------------------------------------------------------------
# The cyclic garbage collector, paused while any thread traces

_gc_lock = threading.Lock()
_gc_pauses = 0
_gc_was_enabled = False


@contextmanager
def gc_paused():
    """Python's cyclic garbage collector off for the block (back as it was when the first of any
    overlapping blocks, in any thread, began, once the last has ended).

    Tracing makes many small objects that live until the trace ends; each collection scans all of them,
    so with the collector on, tracing k operations costs more than k times one. Reference counting still
    frees everything that is not in a cycle; cycles are collected after the block.
    """
    global _gc_pauses, _gc_was_enabled
    with _gc_lock:
        if _gc_pauses == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_pauses += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses -= 1
            if _gc_pauses == 0 and _gc_was_enabled:
                gc.enable()


@contextmanager
def new_trace(with_values: bool, forward: Forward | None = None, keep_values: bool = False,
              record_calls: Callable | None = None, top_code=None, record_constants: bool = True):
    """Make a JaxprTrace current for the block (in this thread), child of the current one; end it when
    the block exits (see `JaxprTrace` for the options)."""
    trace = JaxprTrace(_current.get(), with_values, forward, keep_values, record_calls, top_code,
                       record_constants)
    with entered(trace):
        yield trace


@contextmanager
def entered(trace: Trace):
    """Make `trace` (a child of the current trace) current for the block, in this thread; end it when the
    block exits. The outermost trace runs with the cyclic garbage collector paused (see gc_paused)."""
    token = _current.set(trace)
    try:
        if trace.parent is ROOT:
            with gc_paused():
                yield trace
        else:
            yield trace
    except Exception as e:
        # numpy calls __array__/__float__ inside its own code and may replace our error by its own (writing
        # a traced value into a numpy buffer gives "setting an array element with a sequence"): say ours
        if trace.refused is not None and not isinstance(e, MinigradError):
            raise trace.refused from e
        raise
    finally:
        _current.reset(token)
        trace.end()


def _leaked(t: "Tracer", prim, what: str = "") -> LeakedTracerError:
    use = f" by {prim.name}" if prim is not None else f" for {what}" if what else ""
    return LeakedTracerError(
        f"a tracer {t.aval} was used{use} after the transformation that created it had returned",
        "Return values out of grad/vjp/jit/make_jaxpr instead of keeping them in globals or closures; "
        "pass them in as arguments where they are needed.")


# ---------------------------------------------------------------------------------------------
# Tracers

class Tracer:
    """A stand-in for an array while a function is traced: its trace and abstract value (`aval`).

    Subclasses add what their transformation tracks (a JaxprTracer its variable and maybe a value).
    Operators and numpy protocols (`+`, `@`, indexing, `np.exp(t)`) are attached by the library that
    defines the primitives (`minigrad_fn.numpy`), since this package knows none.
    """

    __slots__ = ("_trace", "aval")
    __array_priority__ = 1000

    def __init__(self, trace: Trace, aval: ShapedArray):
        self._trace = trace
        self.aval = aval

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

    def concrete_value(self) -> Any:
        """The value this tracer stands for, or NOVAL when its trace knows none (override per trace)."""
        return NOVAL

    def concrete(self, what: str, to_constant: bool = True, hint: str = ""):
        """The concrete numpy value this tracer stands for, or a ConcretizationError naming `what`.

        With `to_constant` (float(), int(), .item(), an index: the value becomes a Python number that
        feeds the computation) a value being differentiated is refused: its derivative would be silently
        dropped. Inspecting it (bool(): an `if`) is fine."""
        if not self._trace.alive:
            raise _leaked(self, None, what)
        if to_constant and self._trace.differentiates(self):
            raise self._refuse(GradientLostError(
                f"{what} would turn a value that is being differentiated ({self.aval}) into a Python "
                "constant, and its derivative would be lost",
                hint or "Keep it an array (write x * y, not float(x) * y; mnp.asarray instead of np.float64), "
                "and use mnp.where or x.at[...] instead of writing into a numpy buffer. Branching on it "
                "(`if x > 0:`) is fine."))
        v = self.concrete_value()
        if v is NOVAL:
            deps = self._trace.inputs_of(self)
            on = f" that depends on {', '.join(deps)}" if deps else ""
            who = deps[0] if len(deps) == 1 else "the arguments that decide this"
            raise ConcretizationError(
                f"{what} needs a concrete value, but this is an abstract tracer {self.aval}{on} "
                f"({self._trace.why_abstract})",
                f"Mark {who} as static (jit(f, static_argnums=...)), or compute both branches and choose "
                "with minigrad_fn.numpy.where(condition, x, y).")
        if isinstance(v, Tracer):
            return v.concrete(what, to_constant, hint)
        return v

    def _refuse(self, error: MinigradError) -> MinigradError:
        """Note the error on the trace (numpy may swallow it; `entered` then raises it) and return it."""
        self._trace.refused = error
        return error

    def __bool__(self):
        return bool(self.concrete("bool() (an `if`, `while`, `and`/`or` on an array)", to_constant=False))

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

    def __copy__(self):
        return self  # an immutable value

    def __deepcopy__(self, memo):
        return self

    def __repr__(self):
        v = self.concrete_value()
        while isinstance(v, Tracer):
            v = v.concrete_value()
        if v is NOVAL:
            return f"Traced<{self.aval}>"
        return f"Traced<{self.aval}>with value {np.array2string(np.asarray(v), threshold=10)}"


class JaxprTracer(Tracer):
    """A JaxprTrace's tracer: the variable it stands for in the program, and (with values) its value."""

    __slots__ = ("_var", "val")

    def __init__(self, trace: JaxprTrace, var: Var, val: Any = NOVAL):
        self._trace = trace
        self.aval = var.aval
        self._var = var
        self.val = val

    def concrete_value(self):
        return self.val


def is_array_like(x: Any) -> bool:
    """True for what may be an argument leaf: arrays, numpy and Python scalars, tracers."""
    return isinstance(x, (np.ndarray, np.generic, float, int, bool, complex, Tracer)) or (
        hasattr(x, "__array__") and hasattr(x, "shape") and hasattr(x, "dtype"))
