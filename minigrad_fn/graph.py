"""Pictures of a traced computation in the lecture's style: one gate per equation, and on every wire its
forward value (green, above) and its gradient (red, below), or, in forward mode, its tangent (blue, below).

`graph(f)(*args)` *records* f: it traces f with value-carrying tracers (as `grad` does), then walks the
equations backwards one gate at a time, keeping what each gate sends to each of its operands. The same
`Recording` feeds `explain`'s tables. `graph(f, tangents=...)` also runs the recorded program once more,
forward, on JVP tracers (dual numbers), keeping every variable's tangent (`record_tangents`). Drawing
builds DOT text here; only rendering it (SVG, PNG) needs the graphviz package and Graphviz's `dot` program.
"""
from __future__ import annotations

import functools
import html
import os
from typing import Callable, Sequence

import numpy as np

import tracing
from tracing import (Eqn, Jaxpr, Literal, Var, aval_of, dce_closed, leaf_names, new_trace, short_dtype,
                     tree_flatten, tree_unflatten)
from tracing.ir import var_names

from .autodiff import active_vars, backward_pass, vjp_forward
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
    each equation was made in (its source info)."""

    def __init__(self, name, jaxpr: Jaxpr, env: dict, residuals: list, names: dict, seed: dict):
        self.name = name
        self.jaxpr = jaxpr
        self.eqns = jaxpr.eqns
        self.env = env
        self.residuals = residuals
        self.names = names
        self.scopes = [e.source.calls or () for e in jaxpr.eqns]
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
    """Which frames count as user-level calls when collapsing: user code, and `minigrad_fn.nn`."""
    return not tracing.is_internal(code) or code.co_filename == _NN_FILE


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
    jaxpr = closed.jaxpr
    kept = {id(e): r for e, r in zip(trace.eqns, trace.kept)}
    env = dict(trace.env)
    inputs = [n.removeprefix("argument ") for n in leaf_names(fun, args)]
    seed: dict = {}  # one cotangent of ones per output; an output that repeats gets one per occurrence
    for v in jaxpr.outvars:
        if type(v) is Var and v.aval.dtype.kind == "f":
            seed[v] = seed[v] + 1 if v in seed else np.ones(v.aval.shape, v.aval.dtype)
    rec = Recording(name, jaxpr, env, [kept[id(e)] for e in jaxpr.eqns], _names(jaxpr, inputs), seed)
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
# Drawing

class Graph:
    """A computational graph ready to render: `.source` (DOT text), `.svg()`, `.png()`, `.save(path)`;
    shows itself inline in Jupyter."""

    def __init__(self, source: str, recording: Recording):
        self.source = source
        self.recording = recording

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
        """The picture as SVG text."""
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

    def _repr_mimebundle_(self, include=None, exclude=None):
        why = missing_reason()
        if why is not None:  # one line, not a wall of DOT text
            return {"text/plain": f"<Graph of {self.recording.name}: not drawn, {why}>"}
        return {"image/svg+xml": self.svg(), "text/plain": f"<Graph of {self.recording.name}>"}

    def __str__(self):
        return self.source

    def __repr__(self):
        return f"<Graph of {self.recording.name}: {len(self.recording.eqns)} equations>"


def graph(fun: Callable, *, show_backward: bool = False, collapse=None, digits: int = 2,
          max_values: int = 4, mode: str | None = None, tangents=None) -> Callable[..., Graph]:
    """`graph(f)(*args)`: the computational graph of f at args, every wire labelled with its value (green)
    and gradient (red); the gradients are of f's output (of the sum of its entries if it is an array).

    Forward mode: `graph(f, tangents=(1.0, 0.0, 0.0))(x, y, z)` labels every wire with its value (green,
    above) and its tangent (blue, below), the dual numbers of one forward-mode pass: the derivative of
    that wire along the input direction `tangents` (the arguments' structure, as `mg.jvp` takes them;
    a Python number stands for a scalar argument's tangent). The output wire carries J @ tangents,
    here df/dx. `graph(f, mode="forward")` without tangents pushes all-ones tangents (every float input
    moved at once). The picture's `.tangent` is the output's tangent.

    `show_backward=True` also draws the backward pass's own equations (in red). `collapse` draws the
    equations made inside some user-level function calls as one node: a function name or a list of
    names (`collapse="log_softmax"`), or True for every function that f calls.
    """
    if mode is None:
        mode = "reverse" if tangents is None else "forward"
    if mode not in ("reverse", "forward"):
        raise ValueError(f"graph: mode must be 'reverse' or 'forward', got {mode!r}")
    if mode == "reverse" and tangents is not None:
        raise ValueError("graph: tangents are pushed forward: use mode='forward' (or leave mode out)")
    if mode == "forward" and show_backward:
        raise ValueError("graph: show_backward draws the backward pass; a forward-mode picture has none")

    def draw(*args) -> Graph:
        rec = record(fun, args)
        if mode == "forward":
            record_tangents(rec, _ones_like(args) if tangents is None else tangents)
            return Graph(_tangent_dot(rec, collapse, digits, max_values), rec)
        dot = _backward_dot if show_backward else _forward_dot
        return Graph(dot(rec, collapse, digits, max_values), rec)

    draw.__name__ = f"graph({_fun_name(fun)})"
    return draw


def _ones_like(args: tuple) -> tuple:
    """All-ones tangents in the arguments' structure (integer leaves get ones too; they are ignored)."""
    leaves, tree = tree_flatten(tuple(args))
    return tree_unflatten(tree, [np.ones(aval_of(x).shape, aval_of(x).dtype) for x in leaves])


def _group_key(scope: tuple, collapse) -> tuple | None:
    """The call an equation is drawn inside when collapsing (None: drawn as its own gate)."""
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
            "  rankdir=LR; nodesep=0.25; ranksep=0.3;",
            f'  label=<{html.escape(title)}>; labelloc=t; fontname="Helvetica"; fontsize=12;',
            '  node [fontname="Helvetica", fontsize=11];',
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


def _wire_label(shape: str | None, value_lines: list, grad_lines: list | None, value_color=GREEN,
                grad_color=RED) -> str:
    """A wire's label: its value above a rule that continues the wire, its gradient (or tangent) below."""
    rows = []
    if shape:
        rows.append(f"<TR><TD>{_font(shape, GREY, 8)}</TD></TR>")
    rows.append("<TR><TD>" + "<BR/>".join(_font(s, value_color) for s in value_lines) + "</TD></TR>")
    rows.append("<HR/>")
    if grad_lines is not None:
        rows.append("<TR><TD>" + "<BR/>".join(_font(s, grad_color) for s in grad_lines) + "</TD></TR>")
    else:
        rows.append("<TR><TD> </TD></TR>")
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows)
            + "</TABLE>>")


def _units(keys: list) -> tuple[list, dict]:
    """The nodes to draw: one per equation, or one per collapse key. Returns (units, unit of equation)."""
    units, unit_of, by_key = [], {}, {}
    for i, key in enumerate(keys):
        if key is not None and key in by_key:
            unit_of[i] = by_key[key]
            units[by_key[key]].append(i)
            continue
        unit_of[i] = len(units)
        if key is not None:
            by_key[key] = len(units)
        units.append([i])
    return units, unit_of


def _draw(title: str, jaxpr: Jaxpr, names: dict, keys: list, wire_label: Callable, branch_label: Callable,
          out_names: list, digits: int, backward: set = frozenset()) -> str:
    """DOT text for a program: inputs on the left, one node per equation (or per collapse key), and one
    labelled wire for every variable that goes from one node to another."""
    dot = _Dot(title)
    source: dict = {}  # var -> the DOT node that produces it
    for k, v in enumerate(jaxpr.invars):
        source[v] = f"in{k}"
        dot.node(f"in{k}", label=names[v], shape="plaintext", fontsize=13)
    for k, v in enumerate(jaxpr.constvars):
        source[v] = f"const{k}"
        dot.node(f"const{k}", label=f"const {names[v]}", shape="plaintext", fontcolor=GREY)
    if len(jaxpr.invars) > 1:  # all inputs on the left, in argument order
        ins = "; ".join(f"in{k}" for k in range(len(jaxpr.invars)))
        chain = " -> ".join(f"in{k}" for k in range(len(jaxpr.invars)))
        dot.lines.append(f"  {{ rank=source; {ins}; {chain} [style=invis]; }}")
    units, unit_of = _units(keys)
    for u, members in enumerate(units):
        color = RED if members[0] in backward else "black"
        if keys[members[0]] is None:
            label = gate_label(jaxpr.eqns[members[0]], digits)
            dot.node(f"g{u}", label=label, shape="circle" if len(label) <= 4 else "ellipse", color=color,
                     style="filled", fillcolor="#f6f8fa")
        else:
            ops = f"{len(members)} op{'s' if len(members) > 1 else ''}"
            dot.node(f"g{u}", label=f"{keys[members[0]][0]}\n({ops})", shape="box",
                     style="rounded,filled", fillcolor="#ddf4ff", color=color, peripheries=2)
        for i in members:
            for v in jaxpr.eqns[i].outvars:
                source[v] = f"g{u}"
    uses: dict = {}
    for i, eqn in enumerate(jaxpr.eqns):
        for pos, v in enumerate(eqn.invars):
            if type(v) is Var:
                uses.setdefault(v, []).append((i, pos))
    out_nodes: dict = {}
    for k, v in enumerate(jaxpr.outvars):
        dot.node(f"out{k}", label=out_names[k], shape="plaintext", fontsize=13)
        if type(v) is Var:
            out_nodes.setdefault(v, []).append(f"out{k}")
    for n, (v, src) in enumerate(source.items()):
        targets: dict = {}  # consumer node -> the (equation, operand position) uses inside it
        for i, pos in uses.get(v, ()):
            node = f"g{unit_of[i]}"
            if node != src:  # uses inside a collapsed node are not drawn
                targets.setdefault(node, []).append((i, pos))
        outs = out_nodes.get(v, [])
        if not targets and not outs:
            continue
        wire = f"w{n}"
        dot.node(wire, label=wire_label(v), shape="plaintext", margin=0)
        dot.edge(src, wire, dir="none", headport="w")
        branch = len(targets) + len(outs) > 1
        for node, node_uses in targets.items():
            label = branch_label(v, node_uses) if branch else None
            dot.edge(wire, node, tailport="e", **({"label": label} if label else {}))
        for node in outs:  # an output's own part: its seed (the output nodes are named out{k})
            label = branch_label(v, [(None, int(node[3:]))]) if branch else None
            dot.edge(wire, node, tailport="e", **({"label": label} if label else {}))
    return dot.text()


def _shape_of(x) -> str | None:
    return fmt_shape(x) if np.ndim(x) else None


def _forward_dot(rec: Recording, collapse, digits: int, max_values: int) -> str:
    def lines(x):
        return fmt_lines(x, digits, max_values)

    def wire_label(v):
        grad = rec.grad_of(v)
        return _wire_label(_shape_of(rec.env[v]), lines(rec.env[v]),
                           None if grad is None else lines(grad))

    def branch_label(v, node_uses):
        """At a branch, each wire carries back its own part of the gradient; the parts add up. A use
        `(None, k)` is output k, whose part is its seed (ones)."""
        if v.aval.dtype.kind != "f":
            return None
        parts = [np.ones(v.aval.shape, v.aval.dtype) if i is None else rec.sent[i][pos]
                 for i, pos in node_uses
                 if i is None or rec.sent[i] is not None and rec.sent[i][pos] is not None]
        total = functools.reduce(np.add, parts) if parts else np.zeros(v.aval.shape, v.aval.dtype)
        return "<" + "<BR/>".join(_font(s, RED) for s in lines(total)) + ">"

    keys = [_group_key(s, collapse) for s in rec.scopes]
    return _draw(f"{rec.name}: forward values (green) above each wire, gradients (red) below",
                 rec.jaxpr, rec.names, keys, wire_label, branch_label, _out_names(rec), digits)


def _tangent_dot(rec: Recording, collapse, digits: int, max_values: int) -> str:
    """Forward mode: each wire's value above and its tangent below (at a branch every wire carries the
    same tangent, so branches get no labels of their own)."""
    def lines(x):
        return fmt_lines(x, digits, max_values)

    def wire_label(v):
        t = rec.tangent_of(v)
        return _wire_label(_shape_of(rec.env[v]), lines(rec.env[v]), None if t is None else lines(t),
                           grad_color=BLUE)

    keys = [_group_key(s, collapse) for s in rec.scopes]
    return _draw(f"{rec.name}: forward values (green) above each wire, tangents (blue) below",
                 rec.jaxpr, rec.names, keys, wire_label, lambda v, u: None, _out_names(rec), digits)


def _out_names(rec: Recording) -> list:
    n = len(rec.jaxpr.outvars)
    return [rec.name] if n == 1 else [f"{rec.name}[{k}]" for k in range(n)]


def _backward_dot(rec: Recording, collapse, digits: int, max_values: int) -> str:
    """The forward equations replayed and the backward pass's own equations recorded after them; each
    backward equation's source names the forward gate (and so the collapsed call) it belongs to."""
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
            keys.append(_group_key(rec.scopes[j], collapse))
            continue
        backward.add(j)
        forward = eqn.source.forward
        key = _group_key(rec.scopes[gate[id(forward)]], collapse) if forward is not None else None
        keys.append(None if key is None else (f"{key[0]} (backward)",) + key[1:])
    made_backward = {v for j in backward for v in replay.eqns[j].outvars}

    def wire_label(v):
        color = RED if v in made_backward else GREEN
        return _wire_label(_shape_of(values[v]), fmt_lines(values[v], digits, max_values), None,
                           value_color=color)

    inputs = [rec.names[v] for v in jaxpr.invars]
    out_names = _out_names(rec) + [f"grad {rec.names[v]}" for v in wrt]
    return _draw(f"{rec.name} and its backward pass: forward values (green), backward values (red)",
                 replay, _names(replay, inputs), keys, wire_label, lambda v, u: None, out_names,
                 digits, backward)
