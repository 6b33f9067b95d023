"""Backprop step by step: one row per equation, last first, with the lecture's "downstream = local x
upstream" written out, each local gradient as a formula in the operands' names next to its number
("exp(e) = 0.37", "-1/g^2 = -0.53", "W^T upstream"), and the gate patterns named (add distributes, mul
switches, max routes, gradients add at branches).

`explain(f)(*args)` reads the same `Recording` as the pictures (see graph.py): every variable's value,
and what every gate sent back to each of its operands. `explain(f, quiz=True)(*args)` is the same table
with the gradients left blank to fill in; `.answers()` fills them in.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from tracing import Eqn, Literal, Var, has_subjaxprs

from .graph import GREEN, RED, Recording, display_of, fmt_number, fmt_value, gate_vjp, param_text, record

BLANK = "____"  # a quiz's cell to fill in

# The local gradient in words where the primitive's display has none.
_KIND_TEXT = {"elementwise": "its derivative, entry by entry", "moves": "moves values: the gradient moves back",
              "other": "the gate's own backward rule"}
_CALL_TEXT = "backprop through the body, gate by gate"  # jit, scan, cond, custom_vjp... (they hold programs)
_BROADCAST = "summed over the broadcast axes"

# x, y, z in a display's formula: the operands, in order (not inside a longer name such as `exp`)
_OPERAND = re.compile(r"(?<![A-Za-z0-9_])[xyz](?![A-Za-z0-9_])")


@dataclass
class Operand:
    """One operand of an equation: its name, local gradient (values where the Jacobian is diagonal, else
    words), the formula of those values in the operands' names ('' where none), the gradient the equation
    sends back to it (None: nothing flows) and its position among the equation's operands."""
    name: str
    local: Any
    downstream: Any
    formula: str = ""
    position: int = 0


@dataclass
class Row:
    """One equation: its step number (forward order, from 1), text, value, upstream gradient, operands;
    `upstream_given`: its upstream gradient is only the seed of f's output (a quiz shows it)."""
    step: int
    equation: str
    value: Any
    upstream: Any
    operands: list = field(default_factory=list)
    pattern: str = ""
    upstream_given: bool = False


@dataclass
class InputRow:
    """The gradient an input ends up with."""
    name: str
    value: Any
    grad: Any
    pattern: str = ""


class Explanation:
    """The backward pass as a table: `.rows` (last equation first), `.inputs`, `.recording`; prints as text
    and shows as HTML in Jupyter. A quiz (`quiz=True`) leaves the gradients blank; `.answers()` is the same
    table filled in."""

    def __init__(self, name: str, rows: list, inputs: list, digits: int, max_values: int, quiz: bool = False,
                 recording: Recording | None = None):
        self.name = name
        self.rows = rows
        self.inputs = inputs
        self.digits = digits
        self.max_values = max_values
        self.quiz = quiz
        self.recording = recording

    def answers(self) -> "Explanation":
        """The same table with every gradient filled in."""
        return Explanation(self.name, self.rows, self.inputs, self.digits, self.max_values, False,
                           self.recording)

    def fmt(self, x) -> str:
        """A value or gradient as the table writes it."""
        if x is None:
            return "-"
        if isinstance(x, str):
            return x
        if isinstance(x, list):  # an equation with several outputs (a loop's carry and stacked values)
            return "(" + ", ".join(self.fmt(v) for v in x) + ")"
        return fmt_value(x, self.digits, self.max_values)

    def fmt_local(self, op: Operand) -> str:
        """An operand's local gradient: `exp(e) = 0.37`, `-1` (sub's second operand), `W^T upstream`."""
        if op.local is None:
            return "-"
        if isinstance(op.local, str):
            return f"{op.formula}, {op.local}" if op.formula else op.local
        if not op.formula:
            return self.fmt(op.local)
        if _is_number(op.formula) and np.all(np.asarray(op.local) == float(op.formula)):
            return op.formula  # add's 1, sub's -1: the number says it all, whatever the shape
        return f"{op.formula} = {self.fmt(op.local)}"

    def _gradient(self, x, given: bool = False) -> str:
        return BLANK if self.quiz and x is not None and not given else self.fmt(x)

    def _cells(self) -> list:
        head = ["step", "equation", "value", "upstream", "operand", "local", "downstream", "gate"]
        lines = [head]
        for r in self.rows:
            first = [str(r.step), r.equation, self.fmt(r.value), self._gradient(r.upstream, r.upstream_given)]
            ops = r.operands or [Operand("", None, None)]
            for k, op in enumerate(ops):
                left = first if k == 0 else [""] * 4
                lines.append(left + [op.name, self.fmt_local(op) if op.name else "",
                                     self._gradient(op.downstream) if op.name else "",
                                     r.pattern if k == 0 else ""])
        return lines

    def _title(self) -> str:
        if self.quiz:
            return (f"backprop through {self.name}, last equation first: fill in the blanks "
                    "(downstream = local x upstream; .answers() shows them)")
        return f"backprop through {self.name}, last equation first: downstream = local x upstream"

    def _input_text(self, i: InputRow) -> str:
        return f"{i.name}: {self._gradient(i.grad)}" + (f" ({i.pattern})" if i.pattern else "")

    def __str__(self):
        cells = self._cells()
        widths = [max(len(row[c]) for row in cells) for c in range(len(cells[0]) - 1)]
        out = [self._title()]
        for n, row in enumerate(cells):
            text = "  ".join(c.ljust(w) for c, w in zip(row, widths)) + "  " + row[-1]
            out.append(text.rstrip())
            if n == 0:
                out.append("-" * len(out[-1]))
        out.append("inputs: " + "   ".join(self._input_text(i) for i in self.inputs))
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
                    cells += td(self.fmt(r.value), GREEN, n) + td(self._gradient(r.upstream, r.upstream_given),
                                                                  RED, n)
                cells += td(op.name) + td(self.fmt_local(op) if op.name else "")
                cells += td(self._gradient(op.downstream) if op.name else "", RED)
                if k == 0:
                    cells += td(r.pattern, rowspan=n)
                body.append(f"<tr>{cells}</tr>")
        inputs = "; ".join(f"{html.escape(i.name)}: "
                           f"<span style='color:{RED}'>{html.escape(self._gradient(i.grad))}</span>"
                           + (f" ({html.escape(i.pattern)})" if i.pattern else "") for i in self.inputs)
        return (f"<table><caption>{html.escape(self._title())}</caption><thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table><p>inputs: {inputs}</p>")


def explain(fun: Callable, *, digits: int = 2, max_values: int = 4,
            quiz: bool = False) -> Callable[..., Explanation]:
    """`explain(f)(*args)`: the backward pass of f at args as a table, one row per equation, last first.

    `quiz=True` leaves the gradients blank (`____`) for a student to fill in: every downstream gradient,
    every upstream gradient but the output's seed (each is the sum of earlier downstream ones), and the
    inputs' gradients; the values and local gradients stay. `.answers()` (or `quiz=False`) shows them."""
    def table(*args) -> Explanation:
        rec = record(fun, args)
        rows = [gate_row(rec, i, digits) for i in reversed(range(len(rec.eqns)))]
        inputs = [InputRow(rec.names[v], rec.env[v], rec.grad_of(v), _branch_note(rec, v))
                  for v in rec.jaxpr.invars]
        return Explanation(rec.name, rows, inputs, digits, max_values, quiz, rec)

    table.__name__ = f"explain({getattr(fun, '__name__', 'f')})"
    return table


def _atom_name(rec: Recording, v, digits: int = 2, names: dict | None = None) -> str:
    if type(v) is Literal:
        return fmt_number(np.asarray(v.val).item(), digits)
    return (names or rec.names)[v]


def equation_text(rec: Recording, eqn: Eqn, names: dict | None = None) -> str:
    """`c = mul a b`, `e = integer_pow[y=2] d`: an equation as jaxprs print it, with the recording's names
    (or `names`)."""
    names = names or rec.names
    params = param_text(eqn)
    params = f"[{params}]" if params else ""
    outs = " ".join(names[v] for v in eqn.outvars)
    return f"{outs} = {eqn.prim.name}{params} " + " ".join(_atom_name(rec, v, names=names) for v in eqn.invars)


def gate_row(rec: Recording, i: int, digits: int = 2, names: dict | None = None) -> Row:
    """Equation i of the recording as a table row (`names`: the variables' names, the recording's by
    default)."""
    names = names or rec.names
    eqn = rec.eqns[i]
    many = len(eqn.outvars) > 1
    value = [rec.env[v] for v in eqn.outvars] if many else rec.env[eqn.outvars[0]]
    upstream = [rec.grads.get(v) for v in eqn.outvars] if many else rec.grads.get(eqn.outvars[0])
    locals_ = _local_gradients(rec, eqn, digits, names)
    sent = rec.sent[i] or [None] * len(eqn.invars)
    operands = [Operand(names[v], local, down, formula, k)
                for k, (v, (local, formula), down) in enumerate(zip(eqn.invars, locals_, sent)) if type(v) is Var]
    notes = [display_of(eqn.prim).pattern] if upstream is not None else []
    notes += [_branch_note(rec, v) for v in eqn.outvars]
    return Row(i + 1, equation_text(rec, eqn, names), value, upstream, operands,
               "; ".join(n for n in notes if n), _seed_only(rec, eqn))


def _seed_only(rec: Recording, eqn: Eqn) -> bool:
    """Whether the gradient of the equation's outputs is just the seed of f's output, 1 (each returned
    once, and no gate sends any back to them)."""
    outs = [v for v in eqn.outvars if v in rec.seed]
    return bool(outs) and all(sum(o is v for o in rec.jaxpr.outvars) == 1 for v in outs) and \
        all(rec.sent[i] is None or rec.sent[i][pos] is None for v in eqn.outvars for i, pos in rec.consumers(v))


def formula_text(template: str, eqn: Eqn, names: dict, digits: int = 2) -> str:
    """A display's formula with the operands' names (x, y, z in order) and literal operands' numbers put
    in: "-x/y^2" of `div 1.00 g` is "-1/g^2"."""
    def operand(m):
        v = eqn.invars["xyz".index(m.group())]
        return _literal_text(v.val, digits) if type(v) is Literal else names[v]
    return _OPERAND.sub(operand, template)


def _literal_text(val, digits: int) -> str:
    """A literal in a formula, as short as it goes: `1`, `0.5`, `(-2)` (negative numbers in parentheses)."""
    a = np.asarray(val)
    if a.size != 1:
        return "const"
    v = a.item()
    if isinstance(v, (bool, int)) or float(v).is_integer():
        text = str(int(v))
    elif 10.0 ** -digits <= abs(v) < 1e6:
        text = np.format_float_positional(v, precision=digits, trim="-")
    else:
        text = fmt_number(v, digits)
    return f"({text})" if text.startswith("-") else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _local_gradients(rec: Recording, eqn: Eqn, digits: int, names: dict) -> list:
    """Per operand, (local gradient, formula): d(output)/d(operand) elementwise with its formula where the
    Jacobian is diagonal (always so for scalars, whatever the primitive; the formula is then shown for
    elementwise gates only), else words; (None, "") where no gradient flows."""
    out = eqn.outvars[0]
    floats = {v for v in eqn.invars if type(v) is Var and v.aval.dtype.kind == "f"}
    scalars = len(eqn.outvars) == 1 and all(v.aval.shape == () for v in eqn.invars + eqn.outvars)
    display = display_of(eqn.prim)
    formulas = [formula_text(f, eqn, names, digits) if f else "" for f in display.formulas(eqn)]
    if out.aval.dtype.kind != "f":  # a comparison, an index: no gradient flows through it
        return [(None, "")] * len(eqn.invars)
    words = display.local or (_CALL_TEXT if has_subjaxprs(eqn) else _KIND_TEXT[display.kind])
    if display.kind == "elementwise" or scalars:
        ones = np.ones(out.aval.shape, out.aval.dtype)
        local = gate_vjp(eqn, rec.residuals[rec.eqns.index(eqn)], [ones],
                         [type(v) is Var and v in floats for v in eqn.invars])
        numbers = display.kind == "elementwise"  # else the formula is words, not the numbers' formula
        result = []
        for v, c, f in zip(eqn.invars, local, formulas):
            if type(v) is not Var or v not in floats or (c is None and numbers):
                result.append((None, ""))
            elif c is None:  # nothing flows back (floor): the words say why
                result.append((f or words, ""))
            elif v.aval.shape != out.aval.shape:
                result.append((_BROADCAST, f if numbers else ""))
            else:
                result.append((c, f if numbers else ""))
        return result
    return [((f or words), "") if type(v) is Var and v in floats else (None, "")
            for v, f in zip(eqn.invars, formulas)]


def _branch_note(rec: Recording, v: Var) -> str:
    """`gradients add at a branch` where a value is used more than once and gradient flows back on each
    use."""
    parts = sum(1 for i, pos in rec.consumers(v) if rec.sent[i] is not None and rec.sent[i][pos] is not None)
    parts += sum(1 for o in rec.jaxpr.outvars if o is v and v in rec.seed)
    if parts < 2:
        return ""
    return f"{rec.names[v]} branches: gradients add ({parts} parts)"
