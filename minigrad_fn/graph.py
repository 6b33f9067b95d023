"""Pictures of a traced computation in the lecture's style: gates, and on every wire its forward value
(green, above) and its gradient (red, below), or, in forward mode, its tangent (blue, below).

`graph(f)(*args)` *records* f: it traces f with value-carrying tracers (as `grad` does), then walks the
equations backwards one gate at a time, keeping what each gate sends to each of its operands. The same
`Recording` feeds `explain`'s tables. `graph(f, tangents=...)` also runs the recorded program once more,
forward, on JVP tracers (dual numbers), keeping every variable's tangent (`record_tangents`).

What is drawn is decided from the recording (`_plan`), never by computing anything again: one gate per
equation, except that one indexing expression (`w[0]`: a slice and a squeeze) is one index gate, layout
plumbing (reshape, squeeze, expand_dims, a broadcast of one value, a float-to-float conversion) is hidden
in the wire, every call of a `minigrad_fn.nn` function is one node, and `view="layers"` draws a net's
dense layers as one node each. Drawing builds DOT text here; rendering it (SVG, PNG) is render.py's.
"""
from __future__ import annotations

import functools
import html
import os
from typing import Callable, Sequence

import numpy as np

import tracing
from tracing import (Eqn, Jaxpr, Literal, MinigradError, Var, aval_of, dce_closed, leaf_names, new_trace,
                     short_dtype, tree_flatten, tree_unflatten)
from tracing.ir import var_names

from .autodiff import active_vars, backward_pass, vjp_forward
from .numpy._indexing import INDEXING_CODE
from .primitives._base import Display
from .render import missing_reason, render

GREEN, RED, BLUE, GREY = "#1a7f37", "#cf222e", "#0969da", "#6e7781"


# ---------------------------------------------------------------------------------------------
# Recording: every variable's value, every gate's backward

def gate_vjp(eqn: Eqn, residuals, upstream: list, wanted: list) -> list:
    """What one gate sends back to each of its operands (None where nothing flows), given `upstream`
    (one cotangent per output) and its VJP forward part's residuals. Each operand position has its own
    slot, so `mul x x` shows both halves."""
    return eqn.prim.rules["vjp"].bwd(eqn, residuals, upstream, wanted)


class Recording:
    """A function traced at some arguments: its program, every variable's value and gradient, what each
    gate sent back to each operand (read from the one backward pass), and the user-level function calls
    each equation was made in (its source info).

    `call_kinds` (call id -> "user", "nn" or "index", from `record`) sorts the recorded calls:
    `.scopes[i]` lists the user-level and `nn` calls equation i was made in, outermost first;
    `.index_calls[i]` is the indexing expression (`x[key]`) that made it, or None; `.nn_calls` holds the
    ids of the calls of `minigrad_fn.nn` functions."""

    def __init__(self, name, jaxpr: Jaxpr, env: dict, residuals: list, names: dict, seed: dict,
                 call_kinds: dict | None = None):
        self.name = name
        self.jaxpr = jaxpr
        self.eqns = jaxpr.eqns
        self.env = env
        self.residuals = residuals
        self.names = names
        kinds = call_kinds or {}
        calls = [e.source.calls or () for e in jaxpr.eqns]
        self.scopes = [tuple(c for c in cs if kinds.get(c[1]) != "index") for cs in calls]
        self.index_calls = [next((c for c in cs if kinds.get(c[1]) == "index"), None) for cs in calls]
        self.nn_calls = frozenset(c for c, kind in kinds.items() if kind == "nn")
        self.seed = seed
        self.active = active_vars(jaxpr.eqns, jaxpr.invars)
        self.grads: dict = dict(seed)
        self.sent: list = [None] * len(self.eqns)
        self.tangents: dict | None = None  # var -> tangent, once `record_tangents` has run
        self.fun, self.args = None, ()     # what was traced (set by `record`; tangents are checked on it)

        def note(i, upstream, sent):
            self.grads.update((v, c) for v, c in zip(self.eqns[i].outvars, upstream) if c is not None)
            self.sent[i] = list(sent)

        totals = backward_pass(self.eqns, list(residuals), seed, self.active, on_gate=note)
        self.grads.update(totals)

    @property
    def value(self):
        """The function's output(s), as numpy values."""
        outs = [self.value_of(v) for v in self.jaxpr.outvars]
        return outs[0] if len(outs) == 1 else outs

    def value_of(self, atom):
        """The value of a variable or literal."""
        return atom.val if type(atom) is Literal else self.env[atom]

    def grad_of(self, var: Var):
        """The gradient of a variable (zeros where none flowed), or None for what has no gradient."""
        if type(var) is not Var or var.aval.dtype.kind != "f":
            return None
        g = self.grads.get(var)
        return np.zeros(var.aval.shape, var.aval.dtype) if g is None else g

    def has_grad(self, var) -> bool:
        """Whether `var` has a gradient worth showing: the backward pass computed one for it (a cotangent
        reached it, zero or not), or it is a float input, whose gradient is asked for (zeros when nothing
        flowed, as `mg.grad` returns). Constants, integers and values no cotangent reached have none:
        `grad_of`'s zeros for them were never computed."""
        if type(var) is not Var or var.aval.dtype.kind != "f":
            return False
        return var in self.grads or var in self.jaxpr.invars

    def tangent_of(self, var):
        """The tangent of a variable or literal in the forward-mode evaluation (`record_tangents`): zeros
        where none flows, None for what has no tangent (integers, booleans)."""
        if self.tangents is None:
            raise ValueError("this recording has no tangents: call record_tangents(rec, tangents) first")
        if var.aval.dtype.kind != "f":
            return None
        t = self.tangents.get(var) if type(var) is Var else None
        return np.zeros(var.aval.shape, var.aval.dtype) if t is None else t

    def consumers(self, var: Var) -> list:
        """`(equation index, operand position)` of every use of `var`."""
        return [(i, k) for i, e in enumerate(self.eqns) for k, v in enumerate(e.invars) if v is var]


_NN_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nn.py")


def _is_call(code) -> bool:
    """Which frames the recording notes in each equation's source: user code and `minigrad_fn.nn` (the
    calls collapsing draws as one node), and the indexing entry points (what one `x[key]` emitted)."""
    return not tracing.is_internal(code) or code.co_filename == _NN_FILE or code in INDEXING_CODE


def _call_kinds(trace) -> dict:
    """Call id -> "index", "nn" or "user" for the calls the trace noted (asked while it records)."""
    return {call_id: "index" if code in INDEXING_CODE else "nn" if code.co_filename == _NN_FILE else "user"
            for call_id, code in trace.call_codes().items()}


def record(fun: Callable, args: Sequence) -> Recording:
    """Trace `fun(*args)` with values and run its backward pass (outputs seeded with ones)."""
    name = _fun_name(fun)
    tracing.check_args(fun, args, f"graph({name})")
    leaves, tree = tree_flatten(tuple(args))
    leaves = [np.asarray(x) for x in leaves]
    top = getattr(fun, "__code__", None) or record.__code__
    with new_trace(with_values=True, forward=vjp_forward, keep_values=True, record_calls=_is_call,
                   top_code=top) as trace:
        tracers = [trace.new_arg(aval_of(x), x) for x in leaves]
        out_leaves, _ = tree_flatten(fun(*tree_unflatten(tree, tracers)))
        tracing.check_leaves(out_leaves, f"output of {name}")
        closed = dce_closed(trace.to_jaxpr(out_leaves), use_rules=False)
        call_kinds = _call_kinds(trace)
    jaxpr = closed.jaxpr
    kept = {id(e): r for e, r in zip(trace.eqns, trace.kept)}
    env = dict(trace.env)
    inputs = [n.removeprefix("argument ") for n in leaf_names(fun, args)]
    seed: dict = {}  # one cotangent of ones per output; an output that repeats gets one per occurrence
    for v in jaxpr.outvars:
        if type(v) is Var and v.aval.dtype.kind == "f":
            seed[v] = seed[v] + 1 if v in seed else np.ones(v.aval.shape, v.aval.dtype)
    rec = Recording(name, jaxpr, env, [kept[id(e)] for e in jaxpr.eqns], _names(jaxpr, inputs), seed,
                    call_kinds)
    rec.fun, rec.args = fun, tuple(args)
    return rec


def record_tangents(rec: Recording, tangents: Sequence) -> dict:
    """Every variable's tangent, for input tangents `tangents` (the arguments' structure, as `mg.jvp`
    takes them), from ONE forward-mode evaluation of the recorded program: each equation is bound on JVP
    tracers (dual numbers: a value and its tangent), in program order, as `eval_jaxpr` does, and the
    tangents of its outputs are kept. Stores them in `rec.tangents` (var -> numpy array; variables no
    tangent reaches are left out) and returns that dict."""
    from .forward import JVPTrace, JVPTracer, _check_tangents
    jaxpr = rec.jaxpr
    _, _, t_leaves = _check_tangents(f"graph({rec.name}, tangents=...)", rec.fun, rec.args, tangents)
    with tracing.entered(JVPTrace(tracing.current_trace())) as trace:
        env: dict = {v: rec.env[v] for v in jaxpr.constvars}
        for v, t in zip(jaxpr.invars, t_leaves):
            env[v] = rec.env[v] if t is None else JVPTracer(trace, rec.env[v], t)
        for eqn in jaxpr.eqns:
            ins = [env[v] if type(v) is Var else v.val for v in eqn.invars]
            out = eqn.prim.bind(*ins, **eqn.params)
            env.update(zip(eqn.outvars, out if eqn.prim.multiple_results else [out]))
    rec.tangents = {v: np.asarray(x.tangent) for v, x in env.items()
                    if isinstance(x, JVPTracer) and x._trace is trace and x.tangent is not None}
    return rec.tangents


def _fun_name(fun) -> str:
    name = getattr(fun, "__name__", "f")
    return "f" if name == "<lambda>" else name


def _names(jaxpr: Jaxpr, inputs: list) -> dict:
    """Display names: the user's for inputs, then a, b, c... (skipping those) in program order."""
    names = dict(zip(jaxpr.invars, inputs))
    taken = set(inputs)
    letters = (s for s in var_names() if s not in taken)
    for v in jaxpr.constvars:
        names[v] = next(letters)
    for eqn in jaxpr.eqns:
        for v in eqn.outvars:
            names[v] = next(letters)
    return names


# ---------------------------------------------------------------------------------------------
# Numbers as the slides write them

def fmt_number(v, digits: int = 2) -> str:
    """A scalar with `digits` decimals (scientific notation when that would hide it)."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if v == 0 or 10.0 ** -digits <= abs(v) < 1e6 or not np.isfinite(v):
        s = f"{v:.{digits}f}"
        return "0." + "0" * digits if s.startswith("-") and float(s) == 0 else s
    return f"{v:.{digits}e}"


def fmt_lines(x, digits: int = 2, max_values: int = 4) -> list[str]:
    """A value in one line or a few: the number for scalars, the values of small arrays (one line per
    row), else the norm (the shape is written separately, see `fmt_shape`)."""
    a = np.asarray(x)
    if a.ndim == 0:
        return [fmt_number(a.item(), digits)]
    if a.size == 0:
        return ["[]"]
    if a.size <= max_values:
        rows = a.reshape(-1, a.shape[-1])
        return ["[" + ", ".join(fmt_number(v, digits) for v in r.tolist()) + "]" for r in rows]
    if a.dtype.kind in "biu":
        return ["[" + ", ".join(str(v) for v in a.ravel()[:max_values].tolist()) + ", ...]"]
    return [f"norm {fmt_number(float(np.linalg.norm(a.astype(np.float64))), digits)}"]


def fmt_value(x, digits: int = 2, max_values: int = 4) -> str:
    """`fmt_lines` on one line, with the shape in front for arrays."""
    a = np.asarray(x)
    lines = fmt_lines(a, digits, max_values)
    body = lines[0] if len(lines) == 1 else "[" + ", ".join(lines) + "]"
    return body if a.ndim == 0 else f"{fmt_shape(a)} {body}"


def fmt_shape(x) -> str:
    """`f64[2,3]`: dtype and shape as jaxprs write them."""
    a = aval_of(x)
    return f"{short_dtype(a.dtype)}[{','.join(map(str, a.shape))}]"


# ---------------------------------------------------------------------------------------------
# Gate labels

_NO_DISPLAY = Display()  # a primitive defined without one (a notebook's, the jit call): its name and params


def display_of(prim) -> Display:
    """How pictures and tables show a primitive's equations: the Display in its block (see
    `minigrad_fn.primitives._base.Display`), or the plain one."""
    return prim.rules.get("display", _NO_DISPLAY)


def param_text(eqn: Eqn) -> str:
    """The parameters worth showing, short: `axes=(0,)`, `[0:1]`, `to f64[2]` (as the primitive's display
    says); for a call, its function's name; else every parameter, cut at 24 characters."""
    show = display_of(eqn.prim).params
    if show is not None:
        return show(eqn)
    p = eqn.params
    if any(isinstance(v, (Jaxpr, tracing.ClosedJaxpr)) for v in p.values()):  # a call: its function's name
        return str(p.get("name", ""))
    text = " ".join(f"{k}={v}" for k, v in sorted(p.items())
                    if not isinstance(v, (Jaxpr, tracing.ClosedJaxpr)))
    return text if len(text) <= 24 else text[:22] + ".."


def gate_label(eqn: Eqn, digits: int = 2) -> str:
    """`add`, `div(1.00, ·)`, `pow y=2`: the operation, its literal operands, its key parameters."""
    label = display_of(eqn.prim).short or eqn.prim.name
    if any(type(v) is Literal for v in eqn.invars):
        label += "(" + ", ".join(fmt_number(np.asarray(v.val).item(), digits) if type(v) is Literal else "·"
                                 for v in eqn.invars) + ")"
    params = param_text(eqn)
    return f"{label} {params}" if params else label


# ---------------------------------------------------------------------------------------------
# What a picture leaves out or draws as one: layout plumbing, indexing expressions

def is_plumbing(eqn: Eqn) -> bool:
    """Pure layout, hidden in the wire by default: a reshape, squeeze or expand_dims, a broadcast of a
    single value, a conversion from one float dtype to another. Each moves or copies the values of one
    operand without computing anything (a conversion from or to integers stays a gate: it changes what
    the values mean, and cuts the gradient)."""
    if not eqn.invars or type(eqn.invars[0]) is not Var or len(eqn.outvars) != 1:
        return False
    name, x, out = eqn.prim.name, eqn.invars[0].aval, eqn.outvars[0].aval
    if name in ("reshape", "squeeze", "expand_dims"):
        return True
    if name == "broadcast_in_dim":
        return x.size == 1
    if name == "convert_element_type":
        return x.dtype.kind == "f" and out.dtype.kind == "f"
    return False


def _slice_text(n: int, start: int, limit: int, stride: int, flipped: bool) -> str:
    """One axis of a key, from the slice that took it (after a `rev` of that axis when `flipped`)."""
    if not flipped:
        if (start, limit, stride) == (0, n, 1):
            return ":"
        text = f"{start or ''}:{'' if limit == n else limit}"
        return text + (f":{stride}" if stride != 1 else "")
    first = n - 1 - start  # the reversed axis's element `start` is the original's n - 1 - start
    stop = first - len(range(start, limit, stride)) * stride
    return f"{'' if first == n - 1 else first}:{'' if stop < 0 else stop}:{-stride}"


def _new_axes(before: tuple, after: tuple) -> list:
    """The positions of the length-1 axes a reshape inserted."""
    new, j = [], 0
    for p, d in enumerate(after):
        if j < len(before) and before[j] == d:
            j += 1
        else:
            new.append(p)
    return new


def index_text(eqns: list, atom_text: Callable) -> tuple[str, object, bool]:
    """The key of one indexing expression rebuilt from the equations it emitted (`[0]`, `[:, 1:3]`,
    `[::-1]`, `[None, 0]`, and `[b, y]` with index arrays, written by `atom_text`), the indexed atom, and
    whether the indexing is basic (integers and slices: no index arrays)."""
    made = {v: e for e in eqns for v in e.outvars}
    first = {e.prim.name: e for e in reversed(eqns)}  # each primitive's first equation in the chain

    def origin(atom):  # back through the chain's equations to what came from outside it
        while type(atom) is Var and atom in made:
            atom = made[atom].invars[0]
        return atom

    gather = first.get("gather")
    if gather is None:
        x = origin(eqns[-1].outvars[0])
        shape = tuple(x.aval.shape)
        index_axes: dict = {}
    else:
        x = origin(gather.invars[0])
        idx = gather.invars[1]
        stack = made.get(idx)
        arrays = [origin(a) for a in stack.invars] if stack is not None and stack.prim.name == "concatenate" \
            else [origin(idx)]
        texts = [atom_text(a) for a in arrays]
        if len(texts) < idx.aval.shape[-1]:  # several index arrays stacked into one constant
            texts = [f"{texts[0]}[..., {j}]" for j in range(idx.aval.shape[-1])]
        moved = made.get(gather.invars[0])
        if moved is not None and moved.prim.name != "transpose":
            moved = None
        perm = moved.params["permutation"] if moved is not None else tuple(range(len(texts)))
        index_axes = dict(zip(perm, texts))
        shape = tuple((moved.invars[0] if moved is not None else gather.invars[0]).aval.shape)
    cut = first.get("slice")
    if cut is not None:
        shape = tuple(cut.invars[0].aval.shape)
    n = len(shape)
    start, limit, stride = ((tuple(cut.params["start_indices"]), tuple(cut.params["limit_indices"]),
                            tuple(cut.params["strides"])) if cut is not None else ((0,) * n, shape, (1,) * n))
    flipped = set(first["rev"].params["dimensions"]) if "rev" in first else set()
    squeezed = set(first["squeeze"].params["dimensions"]) if "squeeze" in first and gather is None else set()
    grow = first.get("reshape") if gather is None else None
    new = _new_axes(tuple(grow.invars[0].aval.shape), tuple(grow.outvars[0].aval.shape)) if grow else []
    key, pos = [], 0
    for d in range(n):
        if d in index_axes:
            key.append(index_axes[d])
        elif d in squeezed:
            key.append(str(start[d]))
            continue
        else:
            while pos in new:  # a new axis (None) comes before this output axis
                key.append("None")
                pos += 1
            key.append(_slice_text(shape[d], start[d], limit[d], stride[d], d in flipped))
        pos += 1
    key.extend("None" for p in new if p >= pos)
    while len(key) > 1 and key[-1] == ":":
        key.pop()
    return "[" + ", ".join(key) + "]", x, gather is None


# ---------------------------------------------------------------------------------------------
# The plan of a picture: which nodes it draws, and which wire carries each variable

class _Plan:
    """What one picture draws, decided from the program alone (nothing is computed here).

    `units[u]`: the equations node `g{u}` draws (program order), with `kinds[u]` ("gate", "group": a
    collapsed call, "index": one indexing expression, "element": an input's element drawn as an input,
    "layer", "ops": a run of operations in the layers view) and `labels[u]`. `hidden`: the equations
    drawn as nothing (plumbing). `carrier[v]`: the variable whose wire a use of v attaches to (v itself,
    or, past hidden plumbing, the input or constant it came from); `source[c]`: the node a carrier's wire
    leaves. `absorbed`: the inputs drawn only through their elements."""

    def __init__(self, jaxpr: Jaxpr, names: dict, keys: list, digits: int, *, index_keys: list | None = None,
                 hide_plumbing: bool = False, single_groups_as_gates: bool = False, layers: bool = False,
                 atom_text: Callable | None = None):
        self.jaxpr = jaxpr
        eqns = jaxpr.eqns
        index_keys = index_keys or [None] * len(eqns)
        unit_keys, self.hidden = [], set()
        for i, eqn in enumerate(eqns):
            if keys[i] is not None:
                unit_keys.append(keys[i])
            elif index_keys[i] is not None:
                unit_keys.append(("[index]",) + tuple(index_keys[i]))
            elif hide_plumbing and is_plumbing(eqn):
                unit_keys.append(None)
                self.hidden.add(i)
            else:
                unit_keys.append(None)
        units, _ = _units(unit_keys, skip=self.hidden)
        self.made_by = {v: i for i, e in enumerate(eqns) for v in e.outvars}
        self.absorbed: set = set()
        kinds, labels = [], []
        atom_text = atom_text or (lambda a: names.get(a, "·") if type(a) is Var
                                  else fmt_number(np.asarray(a.val).item(), digits))
        element_of: dict = {}  # index unit -> the input it takes elements of
        for members in units:
            key = unit_keys[members[0]]
            if key is not None and key[0] == "[index]":
                text, x, basic = index_text([eqns[i] for i in members], atom_text)
                kinds.append("index")
                labels.append(text)
                if basic and type(x) is Var and x in jaxpr.invars:
                    element_of[len(kinds) - 1] = (x, names[x] + text)
            elif key is not None and not (single_groups_as_gates and len(members) == 1):
                kinds.append("group")
                gate = LECTURE_GATES.get(key[0])
                labels.append(f"{key[0]}" + (f" = {gate}" if gate else "")
                              + f"\n({len(members)} op{'s' if len(members) > 1 else ''})")
            else:
                kinds.append("gate")
                labels.append(_gate_text(eqns[members[0]], digits))
        # an input whose every use is an element (w[0], w[1]...) is drawn as those elements, as on the slides
        unit_of = {i: u for u, members in enumerate(units) for i in members}
        uses = _uses(jaxpr)
        outs = {v for v in jaxpr.outvars if type(v) is Var}
        for x in {x for x, _ in element_of.values()}:
            mine = [u for u, (y, _) in element_of.items() if y is x]
            if x not in outs and all(i in unit_of and unit_of[i] in mine and eqns[i].invars[0] is x
                                     for i, _ in uses.get(x, ())):
                self.absorbed.add(x)
                for u in mine:
                    kinds[u], labels[u] = "element", element_of[u][1]
        self.units, self.kinds, self.labels = units, kinds, labels
        self._wire_up()
        if layers:
            self._merge_layers()
            self._wire_up()

    def _wire_up(self) -> None:
        """Carriers and wire sources for the current units."""
        jaxpr = self.jaxpr
        self.unit_of = {i: u for u, members in enumerate(self.units) for i in members}
        self.carrier: dict = {}
        self.source: dict = {}
        for k, v in enumerate(jaxpr.invars):
            self.carrier[v], self.source[v] = v, f"in{k}"
        for k, v in enumerate(jaxpr.constvars):
            self.carrier[v], self.source[v] = v, f"const{k}"
        inputs = set(jaxpr.invars) | set(jaxpr.constvars)
        for i, eqn in enumerate(jaxpr.eqns):
            for v in eqn.outvars:
                if i not in self.hidden:
                    self.carrier[v], self.source[v] = v, f"g{self.unit_of[i]}"
                    continue
                c = self.carrier[eqn.invars[0]]
                # past plumbing, an input keeps its own wire (its value as given, its gradient as returned);
                # what a gate made is shown as its consumers see it (`W @ x`'s vector, not the column the
                # matmul made)
                self.carrier[v] = c if c in inputs else v
                self.source.setdefault(self.carrier[v], self.source[c])

    def node(self, u: int) -> str:
        return f"g{u}"

    def _op_name(self, u: int) -> str:
        """A unit's operation in a word: `add`, `sum`, `index`, `relu`."""
        if self.kinds[u] == "gate":
            prim = self.jaxpr.eqns[self.units[u][0]].prim
            return display_of(prim).short or prim.name
        return "index" if self.kinds[u] == "index" else self.labels[u].split("\n")[0].split(" = ")[0]

    def _unit_io(self) -> tuple[list, list, dict]:
        """Per unit: the carriers it reads from outside, the carriers it makes; and carrier -> its consumer
        units (None for an output of the program)."""
        eqns = self.jaxpr.eqns
        ins: list = [[] for _ in self.units]
        outs: list = [[] for _ in self.units]
        consumers: dict = {}
        for u, members in enumerate(self.units):
            for i in members:
                for v in eqns[i].invars:
                    if type(v) is Var:
                        c = self.carrier[v]
                        if self.source[c] != self.node(u):
                            ins[u].append(c)
                            consumers.setdefault(c, set()).add(u)
                for v in eqns[i].outvars:
                    if self.carrier.get(v) is v:
                        outs[u].append(v)
        for i in self.hidden:  # consumer-side plumbing outputs are made by the unit their wire leaves
            v = eqns[i].outvars[0]
            if self.carrier[v] is v and self.source[v].startswith("g"):
                outs[int(self.source[v][1:])].append(v)
        for v in self.jaxpr.outvars:
            if type(v) is Var:
                consumers.setdefault(self.carrier[v], set()).add(None)
        return ins, outs, consumers

    def _merge_layers(self) -> None:
        """The layers view: a matmul (dot_general) with the bias add and the activation after it is one
        node; what is left outside layers and collapsed calls is one node per connected run."""
        eqns = self.jaxpr.eqns
        ins, outs, consumers = self._unit_io()

        def is_bias(u, cur) -> bool:
            if self.kinds[u] != "gate" or eqns[self.units[u][0]].prim.name != "add":
                return False
            others = [c for c in ins[u] if c is not cur]
            return len(others) == 1 and not self.source[others[0]].startswith("g")

        def is_activation(u, cur) -> bool:
            made = [o for o in outs[u] if consumers.get(o)]
            if len(made) != 1 or made[0].aval.shape != cur.aval.shape or any(c is not cur for c in ins[u]):
                return False
            if self.kinds[u] == "group":
                return True
            eqn = eqns[self.units[u][0]]
            return self.kinds[u] == "gate" and display_of(eqn.prim).kind == "elementwise" and \
                all(type(v) is Literal or self.carrier[v] is cur for v in eqn.invars)

        layers, taken = [], set()
        for u in range(len(self.units)):
            if u in taken or self.kinds[u] != "gate" or eqns[self.units[u][0]].prim.name != "dot_general":
                continue
            chain, parts, stage = [u], ["dot"], "bias"
            while True:
                made = [o for o in outs[chain[-1]] if consumers.get(o)]  # what leaves the layer so far
                if len(made) != 1:
                    break
                cur = made[0]
                users = consumers[cur]
                if len(users) != 1 or None in users:
                    break
                (w,) = users
                if w in taken:
                    break
                if stage == "bias" and is_bias(w, cur):
                    parts.append("add")
                elif is_activation(w, cur):
                    parts.append(self._op_name(w))
                else:
                    break
                chain.append(w)
                stage = "activation"
            layers.append((chain, parts))
            taken.update(chain)
        # the rest: connected runs of plain gates (the loss, the regularisation...) become one node each
        rest = [u for u in range(len(self.units)) if u not in taken and self.kinds[u] in ("gate", "index")]
        parent = {u: u for u in rest}

        def root(u):
            while parent[u] != u:
                parent[u] = parent[parent[u]]
                u = parent[u]
            return u

        for u in rest:
            for c in ins[u]:
                s = self.source[c]
                if s.startswith("g") and int(s[1:]) in parent:
                    parent[root(int(s[1:]))] = root(u)
        runs: dict = {}
        for u in rest:
            runs.setdefault(root(u), []).append(u)
        merged = [(chain, "layer", parts) for chain, parts in layers]
        merged += [(run, "ops", None) for run in runs.values()]
        merged += [([u], self.kinds[u], None) for u in range(len(self.units))
                   if u not in taken and u not in parent]
        merged.sort(key=lambda m: min(self.units[u][0] for u in m[0]))
        units, kinds, labels, n_layer = [], [], [], 0
        for group, kind, parts in merged:
            members = sorted(i for u in group for i in self.units[u])
            units.append(members)
            if len(group) == 1 and kind != "layer":
                kinds.append(self.kinds[group[0]])
                labels.append(self.labels[group[0]])
            elif kind == "layer":
                n_layer += 1
                kinds.append("layer")
                labels.append(f"layer {n_layer}\n" + " + ".join(parts))
            else:
                ops = list(dict.fromkeys(self._op_name(u) for u in group))
                kinds.append("ops")
                labels.append(", ".join(ops) + f"\n({len(members)} ops)")
        self.units, self.kinds, self.labels = units, kinds, labels


def _gate_text(eqn: Eqn, digits: int, width: int = 12) -> str:
    """A gate's label in a picture: `gate_label`, without the axes of a reduction over all of them (a sum
    of everything is `sum`), and, when longer than `width` characters, with its literals or parameters
    on a second line (`mul` over `(1.00e-04, ·)`): gates stay narrow, and the width of a picture is what
    makes it fit a screen."""
    label = gate_label(eqn, digits)
    axes = eqn.params.get("axes")
    if isinstance(axes, tuple) and eqn.invars and sorted(axes) == list(range(eqn.invars[0].aval.ndim)):
        label = label.replace(f" axes={axes}", "")
    if len(label) <= width:
        return label
    cut = min((k for k in (label.find(" "), label.find("(")) if k > 0), default=-1)
    return label if cut < 0 else label[:cut] + "\n" + label[cut:].strip()


def _uses(jaxpr: Jaxpr) -> dict:
    """var -> the `(equation index, operand position)` of its uses."""
    uses: dict = {}
    for i, eqn in enumerate(jaxpr.eqns):
        for pos, v in enumerate(eqn.invars):
            if type(v) is Var:
                uses.setdefault(v, []).append((i, pos))
    return uses


# ---------------------------------------------------------------------------------------------
# Drawing

class Graph:
    """A computational graph ready to render: `.source` (DOT text), `.svg()`, `.png()`, `.save(path)`;
    shows itself inline in Jupyter.

    `.node_of_eqn` maps an equation's index in `.recording.eqns` to the DOT node id (`g3`) of the gate
    drawing it (equations hidden as plumbing map to nothing); `.wire_of_var` maps a variable to the DOT
    node id (`w7`) of the label on the wire that shows its value."""

    def __init__(self, source: str, recording: Recording, node_of_eqn: dict | None = None,
                 wire_of_var: dict | None = None):
        self.source = source
        self.recording = recording
        self.node_of_eqn: dict = dict(node_of_eqn or {})
        self.wire_of_var: dict = dict(wire_of_var or {})

    @property
    def value(self):
        """The traced function's output."""
        return self.recording.value

    @property
    def grads(self) -> list:
        """The gradients of the inputs, one per argument leaf (None for non-float leaves)."""
        return [self.recording.grad_of(v) for v in self.recording.jaxpr.invars]

    @property
    def tangent(self):
        """In forward mode (`graph(f, tangents=...)`): the output's tangent, J @ tangents, shaped as
        `.value` (what `mg.jvp` returns second); None otherwise."""
        rec = self.recording
        if rec.tangents is None:
            return None
        outs = [rec.tangent_of(v) for v in rec.jaxpr.outvars]
        return outs[0] if len(outs) == 1 else outs

    def pipe(self, fmt: str, dpi: int | None = None) -> bytes:
        """The picture rendered in format `fmt` (svg, png, jpeg, pdf), at `dpi` for images: by the
        system's Graphviz, else by graphviz-pure (see render.py); a RenderError says why not."""
        source = self.source if dpi is None else self.source.replace("{", f"{{\n  dpi={dpi};", 1)
        return render(source, fmt)

    def svg(self) -> str:
        """The picture as SVG text (hovering over a wire's label shows its whole value and gradient)."""
        return self.pipe("svg").decode("utf-8")

    def png(self, dpi: int = 96) -> bytes:
        """The picture as PNG bytes."""
        return self.pipe("png", dpi)

    def save(self, path: str | os.PathLike, dpi: int = 96) -> str:
        """Write the picture to `path`; the suffix picks the format (.svg, .png, .pdf, or .dot/.gv for
        text)."""
        path = os.fspath(path)
        fmt = os.path.splitext(path)[1].lstrip(".").lower()
        if fmt in ("dot", "gv"):
            data = self.source.encode("utf-8")
        elif fmt in ("png", "jpg", "jpeg"):
            data = self.pipe("jpeg" if fmt == "jpg" else fmt, dpi)
        elif fmt in ("svg", "pdf"):
            data = self.pipe(fmt)
        else:
            raise ValueError(f"cannot tell the format from {path!r}: "
                             "use a .svg, .png, .pdf or .dot file name")
        with open(path, "wb") as out:
            out.write(data)
        return path

    def animate(self):
        """The backward pass played gate by gate, last gate first (an `Animation`: a slider in Jupyter,
        `.save("backprop.gif" | "backprop.html")`; see minigrad_fn/motion.py)."""
        from .motion import animate
        return animate(self)

    def _repr_mimebundle_(self, include=None, exclude=None):
        why = missing_reason()
        if why is not None:  # one line, not a wall of DOT text
            return {"text/plain": f"<Graph of {self.recording.name}: not drawn, {why}>"}
        return {"image/svg+xml": self.svg(), "text/plain": f"<Graph of {self.recording.name}>"}

    def __str__(self):
        return self.source

    def __repr__(self):
        return f"<Graph of {self.recording.name}: {len(self.recording.eqns)} equations>"


class GraphOptionError(MinigradError, ValueError):
    """An option of `graph` that it cannot draw with."""


VIEWS = ("gates", "layers")


def graph(fun: Callable, *, show_backward: bool = False, collapse=None, digits: int = 2,
          max_values: int = 4, mode: str | None = None, tangents=None, plumbing: bool = False,
          view: str = "gates") -> Callable[..., Graph]:
    """`graph(f)(*args)`: the computational graph of f at args, every wire labelled with its value (green)
    and gradient (red); the gradients are of f's output (of the sum of its entries if it is an array).
    Values no gradient was computed for (constants, integers, what no cotangent reached) show none.

    What is drawn as one node: one indexing expression (`w[0]` is one index gate; an input used only
    through elements is drawn as those elements, inputs `w[0]`, `w[1]`...), and every call of a
    `minigrad_fn.nn` function (`collapse=None`). Layout plumbing (reshape, squeeze, expand_dims, a
    broadcast of one value, a float-to-float conversion) is hidden in the wire, which carries the value
    and gradient its consumer sees (an input's wire keeps the input's own). `plumbing=True` draws every
    equation, the indexing ones included. `collapse` draws the equations made inside some calls as one
    node: None (the default) for `nn`'s functions, False for none, a function name or a list of names
    (`collapse="log_softmax"`), or True for every function that f calls.

    `view="layers"` draws a net by layers: a matmul (dot_general) with the bias add (of an input or
    constant) and the elementwise activation after it (an `nn` function, tanh, a hand-written sigmoid)
    is one node, `layer 1`, `layer 2`...; what is left (the loss, the regularisation) is one node per
    connected run of operations, `nn` calls stay one node each, and wires show shapes and norms.

    Forward mode: `graph(f, tangents=(1.0, 0.0, 0.0))(x, y, z)` labels every wire with its value (green,
    above) and its tangent (blue, below), the dual numbers of one forward-mode pass: the derivative of
    that wire along the input direction `tangents` (the arguments' structure, as `mg.jvp` takes them;
    a Python number stands for a scalar argument's tangent). The output wire carries J @ tangents,
    here df/dx. `graph(f, mode="forward")` without tangents pushes all-ones tangents (every float input
    moved at once). The picture's `.tangent` is the output's tangent.

    `show_backward=True` also draws the backward pass's own equations (in red), every equation one gate.
    In SVG, hovering over a wire's label shows its value and gradient in full (bounded to a few hundred
    characters each).
    """
    if mode is None:
        mode = "reverse" if tangents is None else "forward"
    if mode not in ("reverse", "forward"):
        raise GraphOptionError(f"graph: mode must be 'reverse' or 'forward', got {mode!r}", where="")
    if mode == "reverse" and tangents is not None:
        raise GraphOptionError("graph: tangents are pushed forward: use mode='forward' (or leave mode out)",
                               where="")
    if mode == "forward" and show_backward:
        raise GraphOptionError("graph: show_backward draws the backward pass; a forward-mode picture has none",
                               where="")
    if view not in VIEWS:
        raise GraphOptionError(f"graph: view must be one of {VIEWS}, got {view!r}",
                               "Use view='layers' for a net drawn layer by layer, or leave view out.", where="")
    if view == "layers" and show_backward:
        raise GraphOptionError("graph: view='layers' draws the forward program by layers; the backward view "
                               "draws every equation", "Leave out show_backward or view.", where="")
    if not (collapse is None or isinstance(collapse, (bool, str))
            or (isinstance(collapse, (list, tuple, set, frozenset)) and all(isinstance(c, str) for c in collapse))):
        raise GraphOptionError(f"graph: collapse must be None, True, False, a function name or a list of "
                               f"names, got {type(collapse).__name__}", "For example collapse='log_softmax'.",
                               where="")
    options = dict(collapse=collapse, digits=digits, max_values=1 if view == "layers" else max_values,
                   plumbing=plumbing, layers=view == "layers")

    def draw(*args) -> Graph:
        rec = record(fun, args)
        if mode == "forward":
            record_tangents(rec, _ones_like(args) if tangents is None else tangents)
            source, nodes, wires = _tangent_dot(rec, **options)
        elif show_backward:
            source, nodes, wires = _backward_dot(rec, collapse, digits, max_values)
        else:
            source, nodes, wires = _forward_dot(rec, **options)
        return Graph(source, rec, nodes, wires)

    draw.__name__ = f"graph({_fun_name(fun)})"
    return draw


def _ones_like(args: tuple) -> tuple:
    """All-ones tangents in the arguments' structure (integer leaves get ones too; they are ignored)."""
    leaves, tree = tree_flatten(tuple(args))
    return tree_unflatten(tree, [np.ones(aval_of(x).shape, aval_of(x).dtype) for x in leaves])


def _group_key(scope: tuple, collapse, nn_calls=frozenset()) -> tuple | None:
    """The call an equation is drawn inside when collapsing (None: drawn as its own gate). collapse=None
    means the outermost call of an `nn` function."""
    if collapse is None:
        return next((call for call in scope if call[1] in nn_calls), None)
    if not collapse or not scope:
        return None
    if collapse is True:
        return scope[0]
    names = {collapse} if isinstance(collapse, str) else set(collapse)
    for call in scope:
        if call[0] in names:
            return call
    return None


class _Dot:
    """DOT text, built line by line."""

    def __init__(self, title: str):
        self.lines = [
            "digraph G {",
            "  rankdir=LR; nodesep=0.25; ranksep=0.12;",
            f'  label=<{html.escape(title)}>; labelloc=t; fontname="Helvetica"; fontsize=12;',
            '  node [fontname="Helvetica", fontsize=10];',
            '  edge [fontname="Helvetica", fontsize=9, arrowsize=0.6];',
        ]

    def node(self, nid: str, **attrs):
        self.lines.append(f"  {nid} [{_attrs(attrs)}];")

    def edge(self, a: str, b: str, **attrs):
        self.lines.append(f"  {a} -> {b}" + (f" [{_attrs(attrs)}]" if attrs else "") + ";")

    def text(self) -> str:
        return "\n".join(self.lines + ["}"]) + "\n"


def _attrs(attrs: dict) -> str:
    out = []
    for k, v in attrs.items():
        v = str(v)
        if not (v.startswith("<<") and v.endswith(">>")):  # HTML-like labels (ours) go as they are
            v = '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out.append(f"{k}={v}")
    return ", ".join(out)


def _font(text: str, color: str, size: int | None = None) -> str:
    size_attr = f' POINT-SIZE="{size}"' if size else ""
    return f'<FONT COLOR="{color}"{size_attr}>{html.escape(text)}</FONT>'


NO_GRAD = "no grad"  # written (grey) under a float wire no gradient was computed for


def _wire_label(shape: str | None, value_lines: list, grad_lines: list | None, value_color=GREEN,
                grad_color=RED, note: str | None = None) -> str:
    """A wire's label: its value above a rule that continues the wire, its gradient (or tangent) below,
    or a grey `note` where it has none."""
    rows = []
    if shape:
        rows.append(f"<TR><TD>{_font(shape, GREY, 8)}</TD></TR>")
    rows.append("<TR><TD>" + "<BR/>".join(_font(s, value_color) for s in value_lines) + "</TD></TR>")
    rows.append("<HR/>")
    if grad_lines is not None:
        rows.append("<TR><TD>" + "<BR/>".join(_font(s, grad_color) for s in grad_lines) + "</TD></TR>")
    elif note:
        rows.append(f"<TR><TD>{_font(note, GREY, 8)}</TD></TR>")
    else:
        rows.append("<TR><TD> </TD></TR>")
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows)
            + "</TABLE>>")


TOOLTIP_CHARS = 300  # the most characters a tooltip shows of one array


def _array_text(x, digits: int) -> str:
    """An array in full as numpy prints it (summarised past a few dozen entries), cut at TOOLTIP_CHARS;
    a scalar as Python writes it; text as it is."""
    if isinstance(x, str):
        return x
    if np.ndim(x) == 0:
        x = np.asarray(x).item()
        return f"{x:.{digits + 2}g}" if isinstance(x, float) else str(x)
    # no padding: Graphviz would fold the runs of spaces numpy aligns columns with
    text = np.array2string(np.asarray(x), threshold=48, edgeitems=3, max_line_width=72, separator=", ",
                           formatter={"float_kind": lambda v: f"{v:.{digits + 2}g}"})
    if len(text) > TOOLTIP_CHARS:
        text = text[:TOOLTIP_CHARS].rsplit("\n", 1)[0] + "\n..."
    return text


def _tooltip(name: str, value, extra: list, digits: int) -> str:
    """A wire's tooltip (shown when hovering over it in SVG): its name, shape, whole value, and `extra`
    `(what, array)` pairs (its gradient or tangent). Lines are joined with `&#10;`, a newline in SVG."""
    lines = [f"{name}: {fmt_shape(value)}", "value " + _array_text(value, digits)]
    lines += [f"{what} " + _array_text(x, digits) for what, x in extra]
    return "&#10;".join(line.replace("\n", "&#10;") for line in lines)


def _units(keys: list, skip=frozenset()) -> tuple[list, dict]:
    """The nodes to draw: one per equation, or one per collapse key, leaving out the equations in `skip`.
    Returns (units, unit of equation)."""
    units, unit_of, by_key = [], {}, {}
    for i, key in enumerate(keys):
        if i in skip:
            continue
        if key is not None and key in by_key:
            unit_of[i] = by_key[key]
            units[by_key[key]].append(i)
            continue
        unit_of[i] = len(units)
        if key is not None:
            by_key[key] = len(units)
        units.append([i])
    return units, unit_of


# nn functions that are one of the lecture's gates, however they are written inside: their boxes say so
LECTURE_GATES = {"relu": "max(0, ·)"}

_NODE_STYLE = {
    "group": dict(shape="box", style="rounded,filled", fillcolor="#ddf4ff", peripheries=2, margin="0.06,0.03"),
    "layer": dict(shape="box", style="rounded,filled", fillcolor="#fff8c5", peripheries=2, margin="0.06,0.03"),
    "ops": dict(shape="box", style="rounded,filled", fillcolor="#f6f8fa", margin="0.06,0.03"),
}


def _draw(title: str, plan: _Plan, names: dict, wire_label: Callable, branch_label: Callable,
          tooltip: Callable, out_names: list, backward: set = frozenset()) -> tuple[str, dict, dict]:
    """DOT text for a plan: inputs on the left, one node per unit, and one labelled wire for every carrier
    that goes from one node to another; `tooltip(var, name)` is its wire's tooltip. Returns (DOT text,
    node of equation, wire of variable)."""
    jaxpr = plan.jaxpr
    made_by = plan.made_by

    def root_use(v, use):
        """The use of v's carrier that `use` is: past hidden plumbing, the plumbing equation that took
        it, so that each branch shows the part sent back to the carrier."""
        carrier = plan.carrier[v]
        while v is not carrier:
            h = made_by[v]
            v, use = jaxpr.eqns[h].invars[0], (h, 0)
        return use

    targets: dict = {}  # carrier -> consumer node -> its uses (as uses of the carrier)
    first_use: dict = {}  # carrier -> its first drawn use, (equation, operand position)
    for i, eqn in enumerate(jaxpr.eqns):
        if i in plan.hidden:
            continue
        node = plan.node(plan.unit_of[i])
        for pos, v in enumerate(eqn.invars):
            if type(v) is not Var or plan.carrier[v] in plan.absorbed:  # an input drawn as its elements
                continue
            c = plan.carrier[v]
            if plan.source[c] != node:  # uses inside a node are not drawn
                targets.setdefault(c, {}).setdefault(node, []).append(root_use(v, (i, pos)))
                first_use.setdefault(c, (i, pos))
    for k, v in enumerate(jaxpr.outvars):
        if type(v) is Var:
            c = plan.carrier[v]
            targets.setdefault(c, {}).setdefault(f"out{k}", []).append(root_use(v, (None, k)))
            first_use.setdefault(c, (len(jaxpr.eqns), k))
    starts: dict = {}  # node -> the first drawn use of what leaves it
    for c, use in first_use.items():
        starts[plan.source[c]] = min(use, starts.get(plan.source[c], use))

    dot = _Dot(title)
    wire_names = dict(names)
    lefts = []  # (first use, node id): what stands on the left, in the order the program first uses it
    for k, v in enumerate(jaxpr.invars):
        if v not in plan.absorbed:
            dot.node(f"in{k}", label=names[v], shape="plaintext", fontsize=12)
            lefts.append((starts.get(f"in{k}", (len(jaxpr.eqns) + 1, k)), f"in{k}"))
    for k, v in enumerate(jaxpr.constvars):
        dot.node(f"const{k}", label=f"const {names[v]}", shape="plaintext", fontcolor=GREY)
    node_of_eqn = {}
    for u, members in enumerate(plan.units):
        kind, label, nid = plan.kinds[u], plan.labels[u], plan.node(u)
        color = RED if members[0] in backward else "black"
        if kind == "element":
            dot.node(nid, label=label, shape="plaintext", fontsize=12)
            lefts.append((starts.get(nid, (members[0], -1)), nid))
            wire_names.update((v, label) for i in members for v in jaxpr.eqns[i].outvars)
        elif kind in _NODE_STYLE:
            dot.node(nid, label=label, color=color, **_NODE_STYLE[kind])
        else:
            dot.node(nid, label=label, shape="circle" if len(label) <= 4 else "ellipse", color=color,
                     style="filled", fillcolor="#f6f8fa", margin="0.04,0.02")
        node_of_eqn.update((i, nid) for i in members)
    if len(lefts) > 1:  # everything on the left in one column, in order
        ids = [nid for _, nid in sorted(lefts)]
        dot.lines.append(f"  {{ rank=source; {'; '.join(ids)}; {' -> '.join(ids)} [style=invis]; }}")
    for k in range(len(jaxpr.outvars)):
        dot.node(f"out{k}", label=out_names[k], shape="plaintext", fontsize=12)
    order = list(jaxpr.invars) + list(jaxpr.constvars) + [v for e in jaxpr.eqns for v in e.outvars]
    wire_of_var = {}
    for n, v in enumerate(order):
        if v not in targets:
            continue
        wire = f"w{n}"
        wire_of_var[v] = wire
        dot.node(wire, label=wire_label(v), shape="plaintext", margin=0, tooltip=tooltip(v, wire_names[v]))
        dot.edge(plan.source[v], wire, dir="none", headport="w")
        node_uses = targets[v]
        seen = [use for us in node_uses.values() for use in set(us)]
        shared = {use for use in seen if seen.count(use) > 1}  # one plumbing path to two nodes: parts unknown
        for node, us in node_uses.items():
            label = branch_label(v, us) if len(node_uses) > 1 and not shared.intersection(us) else None
            # an external label, on an edge one rank longer: room for it without doubling every rank
            dot.edge(wire, node, tailport="e", **({"xlabel": label, "minlen": 2} if label else {}))
    return dot.text(), node_of_eqn, wire_of_var


def _shape_of(x) -> str | None:
    return fmt_shape(x) if np.ndim(x) else None


def _forward_plan(rec: Recording, collapse, digits: int, plumbing: bool, layers: bool) -> _Plan:
    keys = [_group_key(s, collapse, rec.nn_calls) for s in rec.scopes]
    consts = set(rec.jaxpr.constvars)

    def atom_text(a):  # an index array in a key: its name, or what it is when it is a constant
        if type(a) is Literal:
            return fmt_number(np.asarray(a.val).item(), digits)
        if a in consts:
            values = np.ravel(rec.env[a])
            if values.size > 1 and np.array_equal(values, np.arange(values.size)):
                return f"arange({values.size})"
            if values.size <= 4:
                return "[" + ", ".join(fmt_number(x, digits) for x in values.tolist()) + "]"
        return rec.names.get(a, "·")

    return _Plan(rec.jaxpr, rec.names, keys, digits, index_keys=None if plumbing else rec.index_calls,
                 hide_plumbing=not plumbing, single_groups_as_gates=collapse is None, layers=layers,
                 atom_text=atom_text)


def _forward_dot(rec: Recording, collapse, digits: int, max_values: int, plumbing: bool = False,
                 layers: bool = False) -> tuple[str, dict, dict]:
    def lines(x):
        return fmt_lines(x, digits, max_values)

    def wire_label(v):
        value = rec.env[v]
        if rec.has_grad(v):
            return _wire_label(_shape_of(value), lines(value), lines(rec.grad_of(v)))
        return _wire_label(_shape_of(value), lines(value), None, note=NO_GRAD if v.aval.dtype.kind == "f" else None)

    def branch_label(v, node_uses):
        """At a branch, each wire carries back its own part of the gradient; the parts add up. A use
        `(None, k)` is output k, whose part is its seed (ones). No label where nothing was sent."""
        if not rec.has_grad(v):
            return None
        parts = [np.ones(v.aval.shape, v.aval.dtype) if i is None else rec.sent[i][pos]
                 for i, pos in dict.fromkeys(node_uses)
                 if i is None or rec.sent[i] is not None and rec.sent[i][pos] is not None]
        if not parts:
            return None
        total = functools.reduce(np.add, parts)
        return "<" + "<BR/>".join(_font(s, RED) for s in lines(total)) + ">"

    def tooltip(v, name):
        extra = [("gradient", rec.grad_of(v) if rec.has_grad(v) else NO_GRAD)] if v.aval.dtype.kind == "f" else []
        return _tooltip(name, rec.env[v], extra, digits)

    plan = _forward_plan(rec, collapse, digits, plumbing, layers)
    return _draw(f"{rec.name}: forward values (green) above each wire, gradients (red) below", plan, rec.names,
                 wire_label, branch_label, tooltip, _out_names(rec))


def _tangent_dot(rec: Recording, collapse, digits: int, max_values: int, plumbing: bool = False,
                 layers: bool = False) -> tuple[str, dict, dict]:
    """Forward mode: each wire's value above and its tangent below (at a branch every wire carries the
    same tangent, so branches get no labels of their own)."""
    def lines(x):
        return fmt_lines(x, digits, max_values)

    def wire_label(v):
        t = rec.tangent_of(v)
        return _wire_label(_shape_of(rec.env[v]), lines(rec.env[v]), None if t is None else lines(t),
                           grad_color=BLUE)

    def tooltip(v, name):
        t = rec.tangent_of(v)
        return _tooltip(name, rec.env[v], [] if t is None else [("tangent", t)], digits)

    plan = _forward_plan(rec, collapse, digits, plumbing, layers)
    return _draw(f"{rec.name}: forward values (green) above each wire, tangents (blue) below", plan, rec.names,
                 wire_label, lambda v, u: None, tooltip, _out_names(rec))


def _out_names(rec: Recording) -> list:
    n = len(rec.jaxpr.outvars)
    return [rec.name] if n == 1 else [f"{rec.name}[{k}]" for k in range(n)]


def _backward_dot(rec: Recording, collapse, digits: int, max_values: int) -> tuple[str, dict, dict]:
    """The forward equations replayed and the backward pass's own equations recorded after them; each
    backward equation's source names the forward gate (and so the collapsed call) it belongs to. Every
    equation is drawn (no plumbing hidden, no index gates)."""
    jaxpr = rec.jaxpr
    with new_trace(with_values=True, keep_values=True) as trace:
        env = {v: trace.new_arg(v.aval, rec.env[v]) for v in jaxpr.invars}
        env.update((v, rec.env[v]) for v in jaxpr.constvars)
        residuals = []
        for eqn in jaxpr.eqns:
            ins = [env[v] if type(v) is Var else v.val for v in eqn.invars]
            outs, res = vjp_forward(trace, eqn.prim, ins, eqn.params, [v.aval for v in eqn.invars],
                                    [v.aval for v in eqn.outvars])
            residuals.append(res)
            env.update(zip(eqn.outvars, outs))
        n_forward = len(trace.eqns)
        totals = backward_pass(jaxpr.eqns, residuals, rec.seed, rec.active)
        wrt = [v for v in jaxpr.invars if v.aval.dtype.kind == "f"]
        outs = [env[v] if type(v) is Var else v.val for v in jaxpr.outvars]
        grads = [totals.get(v, np.zeros(v.aval.shape, v.aval.dtype)) for v in wrt]
        closed = trace.to_jaxpr(outs + grads)
    replay = closed.jaxpr
    values = dict(trace.env)
    gate = {id(e): i for i, e in enumerate(jaxpr.eqns)}
    keys, backward = [], set()
    for j, eqn in enumerate(replay.eqns):
        if j < n_forward:
            keys.append(_group_key(rec.scopes[j], collapse, rec.nn_calls))
            continue
        backward.add(j)
        forward = eqn.source.forward
        key = _group_key(rec.scopes[gate[id(forward)]], collapse, rec.nn_calls) if forward is not None else None
        keys.append(None if key is None else (f"{key[0]} (backward)",) + key[1:])
    made_backward = {v for j in backward for v in replay.eqns[j].outvars}

    def wire_label(v):
        color = RED if v in made_backward else GREEN
        return _wire_label(_shape_of(values[v]), fmt_lines(values[v], digits, max_values), None,
                           value_color=color)

    inputs = [rec.names[v] for v in jaxpr.invars]
    names = _names(replay, inputs)
    out_names = _out_names(rec) + [f"grad {rec.names[v]}" for v in wrt]
    plan = _Plan(replay, names, keys, digits, single_groups_as_gates=collapse is None)
    source, node_of_replay, wire_of_replay = _draw(
        f"{rec.name} and its backward pass: forward values (green), backward values (red)", plan, names,
        wire_label, lambda v, u: None, lambda v, name: _tooltip(name, values[v], [], digits), out_names, backward)
    # the replayed forward equations are the recording's, one for one
    node_of_eqn = {i: node_of_replay[i] for i in range(len(jaxpr.eqns)) if i in node_of_replay}
    same = dict(zip(replay.invars, jaxpr.invars))
    same.update((a, b) for i, e in enumerate(jaxpr.eqns) for a, b in zip(replay.eqns[i].outvars, e.outvars))
    wire_of_var = {same[v]: w for v, w in wire_of_replay.items() if v in same}
    return source, node_of_eqn, wire_of_var
