"""Backprop step by step: one row per equation, last first, with the lecture's "downstream = local x
upstream" written out, and the gate patterns named (add distributes, mul switches, max routes,
gradients add at branches).

`explain(f)(*args)` reads the same `Recording` as the pictures (see graph.py): every variable's value,
and what every gate sent back to each of its operands.
"""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from tracing import Eqn, Literal, Var

from .graph import GREEN, RED, Recording, display_of, fmt_number, fmt_value, gate_vjp, param_text, record

# The local gradient in words where it is not shown as numbers, when the primitive's display has none.
_KIND_TEXT = {"moves": "moves values: the gradient moves back", "other": "J^T upstream"}


@dataclass
class Operand:
    """One operand of an equation: its name, local gradient (values or a description) and the gradient
    the equation sends back to it (None: nothing flows)."""
    name: str
    local: Any
    downstream: Any


@dataclass
class Row:
    """One equation: its step number (forward order, from 1), text, value, upstream gradient, operands."""
    step: int
    equation: str
    value: Any
    upstream: Any
    operands: list = field(default_factory=list)
    pattern: str = ""


@dataclass
class InputRow:
    """The gradient an input ends up with."""
    name: str
    value: Any
    grad: Any
    pattern: str = ""


class Explanation:
    """The backward pass as a table: `.rows` (last equation first), `.inputs`; prints as text and shows
    as HTML in Jupyter."""

    def __init__(self, name: str, rows: list, inputs: list, digits: int, max_values: int):
        self.name = name
        self.rows = rows
        self.inputs = inputs
        self.digits = digits
        self.max_values = max_values

    def fmt(self, x) -> str:
        """A value or gradient as the table writes it."""
        if x is None:
            return "-"
        if isinstance(x, str):
            return x
        if isinstance(x, list):  # an equation with several outputs (a loop's carry and stacked values)
            return "(" + ", ".join(self.fmt(v) for v in x) + ")"
        return fmt_value(x, self.digits, self.max_values)

    def _cells(self) -> list:
        head = ["step", "equation", "value", "upstream", "operand", "local", "downstream", "gate"]
        lines = [head]
        for r in self.rows:
            first = [str(r.step), r.equation, self.fmt(r.value), self.fmt(r.upstream)]
            ops = r.operands or [Operand("", None, None)]
            for k, op in enumerate(ops):
                left = first if k == 0 else [""] * 4
                lines.append(left + [op.name, self.fmt(op.local) if op.name else "",
                                     self.fmt(op.downstream) if op.name else "", r.pattern if k == 0 else ""])
        return lines

    def __str__(self):
        cells = self._cells()
        widths = [max(len(row[c]) for row in cells) for c in range(len(cells[0]) - 1)]
        out = [f"backprop through {self.name}, last equation first: downstream = local x upstream"]
        for n, row in enumerate(cells):
            text = "  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1]
            out.append(text.rstrip())
            if n == 0:
                out.append("-" * len(out[-1]))
        out.append("inputs: " + "   ".join(f"{i.name}: {self.fmt(i.grad)}"
                                           + (f" ({i.pattern})" if i.pattern else "") for i in self.inputs))
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self):
        def td(text, color=None, rowspan=1):
            style = f' style="color:{color};text-align:left"' if color else ' style="text-align:left"'
            span = f' rowspan="{rowspan}"' if rowspan > 1 else ""
            return f"<td{span}{style}>{html.escape(text)}</td>"

        head = "".join(f"<th>{h}</th>" for h in
                       ["step", "equation", "value", "upstream", "operand", "local", "downstream", "gate"])
        body = []
        for r in self.rows:
            ops = r.operands or [Operand("", None, None)]
            n = len(ops)
            for k, op in enumerate(ops):
                cells = ""
                if k == 0:
                    cells += td(str(r.step), rowspan=n) + td(r.equation, rowspan=n)
                    cells += td(self.fmt(r.value), GREEN, n) + td(self.fmt(r.upstream), RED, n)
                cells += td(op.name) + td(self.fmt(op.local) if op.name else "")
                cells += td(self.fmt(op.downstream) if op.name else "", RED)
                if k == 0:
                    cells += td(r.pattern, rowspan=n)
                body.append(f"<tr>{cells}</tr>")
        inputs = "; ".join(f"{html.escape(i.name)}: "
                           f"<span style='color:{RED}'>{html.escape(self.fmt(i.grad))}</span>"
                           + (f" ({html.escape(i.pattern)})" if i.pattern else "") for i in self.inputs)
        caption = (f"backprop through {html.escape(self.name)}, last equation first: "
                   "downstream = local x upstream")
        return (f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
                f"</tbody></table><p>inputs: {inputs}</p>")


def explain(fun: Callable, *, digits: int = 2, max_values: int = 4) -> Callable[..., Explanation]:
    """`explain(f)(*args)`: the backward pass of f at args as a table, one row per equation, last first."""
    def table(*args) -> Explanation:
        rec = record(fun, args)
        rows = [_row(rec, i) for i in reversed(range(len(rec.eqns)))]
        inputs = [InputRow(rec.names[v], rec.env[v], rec.grad_of(v), _branch_note(rec, v))
                  for v in rec.jaxpr.invars]
        return Explanation(rec.name, rows, inputs, digits, max_values)

    table.__name__ = f"explain({getattr(fun, '__name__', 'f')})"
    return table


def _atom_name(rec: Recording, v, digits: int = 2) -> str:
    return fmt_number(np.asarray(v.val).item(), digits) if type(v) is Literal else rec.names[v]


def equation_text(rec: Recording, eqn: Eqn) -> str:
    """`c = mul a b`, `e = integer_pow[y=2] d`: an equation as jaxprs print it, with the recording's names."""
    params = param_text(eqn)
    params = f"[{params}]" if params else ""
    outs = " ".join(rec.names[v] for v in eqn.outvars)
    return f"{outs} = {eqn.prim.name}{params} " + " ".join(_atom_name(rec, v) for v in eqn.invars)


def _row(rec: Recording, i: int) -> Row:
    eqn = rec.eqns[i]
    many = len(eqn.outvars) > 1
    value = [rec.env[v] for v in eqn.outvars] if many else rec.env[eqn.outvars[0]]
    upstream = [rec.grads.get(v) for v in eqn.outvars] if many else rec.grads.get(eqn.outvars[0])
    locals_ = _local_gradients(rec, eqn)
    sent = rec.sent[i] or [None] * len(eqn.invars)
    operands = [Operand(rec.names[v], local, down)
                for v, local, down in zip(eqn.invars, locals_, sent) if type(v) is Var]
    notes = [display_of(eqn.prim).pattern] if upstream is not None else []
    notes += [_branch_note(rec, v) for v in eqn.outvars]
    return Row(i + 1, equation_text(rec, eqn), value, upstream, operands, "; ".join(n for n in notes if n))


def _local_gradients(rec: Recording, eqn: Eqn) -> list:
    """Per operand: d(output)/d(operand) elementwise where the Jacobian is diagonal (always so for
    scalars, whatever the primitive), else a description of it."""
    out = eqn.outvars[0]
    floats = {v for v in eqn.invars if type(v) is Var and v.aval.dtype.kind == "f"}
    scalars = len(eqn.outvars) == 1 and all(v.aval.shape == () for v in eqn.invars + eqn.outvars)
    display = display_of(eqn.prim)
    if (display.kind == "elementwise" or scalars) and out.aval.dtype.kind == "f":
        ones = {out: np.ones(out.aval.shape, out.aval.dtype)}
        local = gate_vjp(eqn, rec.residuals[rec.eqns.index(eqn)], [ones[out]],
                         [type(v) is Var and v in floats for v in eqn.invars])
        return [c if type(v) is Var and v.aval.shape == out.aval.shape else
                ("summed over the broadcast axes" if c is not None else None)
                for v, c in zip(eqn.invars, local)]
    if out.aval.dtype.kind != "f":  # a comparison, an index: no gradient flows through it
        return [None] * len(eqn.invars)
    text = display.local or _KIND_TEXT[display.kind]
    return [text if v in floats else None for v in eqn.invars]


def _branch_note(rec: Recording, v: Var) -> str:
    """`gradients add at a branch` where a value is used more than once and gradient flows back on each
    use."""
    parts = sum(1 for i, pos in rec.consumers(v) if rec.sent[i] is not None and rec.sent[i][pos] is not None)
    parts += sum(1 for o in rec.jaxpr.outvars if o is v and v in rec.seed)
    if parts < 2:
        return ""
    return f"{rec.names[v]} branches: gradients add ({parts} parts)"
