"""Exercises: a student's hand-derived gradients checked against the library's, and the first gate where
they part explained with that gate's local rule and numbers.

    def f(x, y, z):
        q = x + y
        return q * z

    mg.check_my_grads(f, (-2.0, 5.0, -4.0), {"q": 3.0, "z": 3.0})

says that q is wrong, at the mul gate of line 3 (`return q * z`): local (z = -4.00) x upstream (1.00) =
-4.00, and that mul switches (3.00 is upstream x q's own value).

Names. `mine` names values as `mg.explain`'s table does (the inputs by their parameter names, or paths
such as `params['W']` for the leaves of a pytree argument; then a, b, c... for the equations' outputs),
and also by the user's own variable names: a line `name = expression` (or `name += ...`,
`name: T = ...`) names the output of the last equation made on that line (so `q` is the add of
`q = x + y`; a line that runs several times, in a loop, names its last run's value; a name assigned on
several lines, the last one that ran). A line whose value is a tuple, list or dict display names nothing,
nor does one whose equations are all made inside another function it calls (they are on that function's
lines). A parameter's name always means the input, even where the function rebinds it (`x = relu(x)`).
Where one of your variable names is also a table letter for another value, your variable wins (the
report writes each value's table name beside yours: `h (c in the table)`).
"""
from __future__ import annotations

import ast
import inspect
import linecache
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from tracing import ArgumentError, DTypeError, ShapeError, Var, tree_flatten

from .explain import _is_number, equation_text, gate_row
from .graph import Recording, display_of, fmt_value, record

# Gates that only lay values out anew (`W @ x` of a vector x reshapes x to a column and back): a value and
# its reshaped copy share one gradient, up to its shape, and messages name them alike.
_RESHAPES = ("reshape", "squeeze")


@dataclass
class Answer:
    """One of the student's gradients: the name they gave, the value's name in explain's table, where it
    is made (`line 2: `q = x + y``, or `input`), their value, the library's, and whether they agree."""
    name: str
    table_name: str
    where: str
    mine: Any
    right: Any
    ok: bool


class GradCheck:
    """What `check_my_grads` found: `.answers` (one `Answer` per value checked), `.ok` (all agree; the
    object is truthy then), `.first_wrong` (the first wrong answer in backward order, or None) and
    `.message` (why it is wrong, at the gate where it goes wrong). Prints as a report."""

    def __init__(self, name: str, answers: list, first_wrong: Answer | None, message: str, rtol: float,
                 atol: float, digits: int, max_values: int):
        self.name = name
        self.answers = answers
        self.first_wrong = first_wrong
        self.message = message
        self.rtol, self.atol = rtol, atol
        self.digits, self.max_values = digits, max_values

    @property
    def ok(self) -> bool:
        return all(a.ok for a in self.answers)

    def __bool__(self):
        return self.ok

    def __str__(self):
        good = sum(a.ok for a in self.answers)
        head = (f"check_my_grads({self.name}): {good} of {len(self.answers)} gradients agree with the library's "
                f"(rtol {self.rtol:g}, atol {self.atol:g})")
        cells = [["name", "yours", "right", "", "where"]]
        for a in self.answers:
            name = a.name if a.name == a.table_name else f"{a.name} ({a.table_name} in the table)"
            d = self.digits if a.ok else _telling_digits(a.mine, a.right, self.digits, self.max_values)
            cells.append([name, fmt_value(a.mine, d, self.max_values), fmt_value(a.right, d, self.max_values),
                          "ok" if a.ok else "WRONG", a.where])
        widths = [max(len(row[c]) for row in cells) for c in range(len(cells[0]))]
        lines = [head] + ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
        if self.message:
            lines += ["", self.message]
        return "\n".join(lines)

    __repr__ = __str__


def check_my_grads(f: Callable, args, mine, *, rtol: float = 1e-6, atol: float = 1e-6, digits: int = 2,
                   max_values: int = 4) -> GradCheck:
    """Check hand-derived gradients of f at `args` against the library's (of f's output, of the sum of its
    entries if it is an array: the numbers of `mg.explain(f)(*args)`).

    `args`: f's positional arguments (a tuple; a single non-tuple value is the only argument). `mine`: a
    tuple or list with one gradient per positional argument (None to skip one, a pytree for a pytree
    argument), or a dict from names to gradients: inputs by parameter name, intermediates by the table's
    names (a, b, c...) or your own variable names (see this module's docstring). Each must have its
    value's shape. A gradient agrees when numpy's allclose(yours, right, rtol, atol) holds.

    Returns a `GradCheck` that prints a report and is truthy when all agree. When some do not, it points
    to the first gate, in backward order, where your number is wrong while every gradient upstream of it
    that you gave is right, and explains it with the gate's local rule and numbers: "At the mul gate of
    line 3 (`return q * z`), your downstream gradient for q is 3.00; local (z = -4.00) x upstream (1.00)
    = -4.00", with a hint where the number is a classic mistake's (sub's minus sign forgotten, mul not
    switched, one part of a branch only)."""
    args = tuple(args) if isinstance(args, tuple) else (args,)
    rec = record(f, args)
    names = _Names(rec, f, args)
    checked = names.resolve(mine)
    answers = []
    for name, var, value in checked:
        right = np.asarray(rec.grad_of(var), dtype=np.float64)
        ok = bool(np.allclose(value, right, rtol=rtol, atol=atol))
        answers.append(Answer(name, rec.names[var], names.where(var), value, right, ok))
    wrong = [(a, var) for a, (_, var, _) in zip(answers, checked) if not a.ok]
    first, message = None, ""
    if wrong:
        first, var = min(wrong, key=lambda w: names.backward_rank(w[1]))
        d = _telling_digits(first.mine, first.right, digits, max_values)
        blame = _Blame(rec, names, d, max_values, rtol, atol)
        message = blame.explain(first, var, {var for _, var, _ in checked})
    return GradCheck(rec.name, answers, first, message, rtol, atol, digits, max_values)


def _telling_digits(mine, right, digits: int, max_values: int) -> int:
    """The fewest digits (from `digits`, at most 8) at which two different values print differently."""
    for d in range(digits, 9):
        if fmt_value(mine, d, max_values) != fmt_value(right, d, max_values):
            return d
    return digits


# ---------------------------------------------------------------------------------------------
# Names: the table's, the parameters', the user's variables'

class _Names:
    """Every name `mine` may use, for one recording; the names messages use (`display`); and which values
    share one gradient through reshapes (`follow`, `same`)."""

    def __init__(self, rec: Recording, fun: Callable, args: tuple):
        self.rec = rec
        self.args = args
        values = list(rec.jaxpr.invars) + [v for e in rec.eqns for v in e.outvars]
        self.table = {rec.names[v]: v for v in values}
        self.order = {v: k for k, v in enumerate(values)}  # program order: inputs first
        self.inputs = set(rec.jaxpr.invars)
        try:
            params = [p for p in inspect.signature(fun).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        except (TypeError, ValueError):
            params = []
        self.params = {p.name: i for i, p in enumerate(params[:len(args)])}
        starts = np.cumsum([0] + [len(tree_flatten(a)[0]) for a in args])
        self.leaves = [rec.jaxpr.invars[starts[i]:starts[i + 1]] for i in range(len(args))]
        self.user, self.lines = _user_variables(rec)
        self.reshaped = self._reshape_links()
        self.unreshaped = {o: v for v, o in self.reshaped.items()}
        self.display = self._display_names()

    def _reshape_links(self) -> dict:
        """value -> its reshaped copy, where the reshape is the value's only use (so their gradients are
        one, up to shape)."""
        links = {}
        for eqn in self.rec.eqns:
            v = eqn.invars[0] if eqn.invars else None
            if (eqn.prim.name in _RESHAPES and type(v) is Var and len(self.rec.consumers(v)) == 1
                    and v not in self.rec.jaxpr.outvars):
                links[v] = eqn.outvars[0]
        return links

    def same(self, var: Var) -> list:
        """The values that share var's gradient through reshapes (var included), first made first."""
        while var in self.unreshaped:
            var = self.unreshaped[var]
        group = [var]
        while group[-1] in self.reshaped:
            group.append(self.reshaped[group[-1]])
        return group

    def follow(self, var: Var) -> Var:
        """The last reshaped copy of var (whose uses are the gates that send var its gradient)."""
        while var in self.reshaped:
            var = self.reshaped[var]
        return var

    def _display_names(self) -> dict:
        """Names for messages: the user's variable names where they have one, shared along reshapes (so
        `W @ x` reads `W^T upstream`, not the reshaped column's letter); the table's elsewhere."""
        own = {v: n for v, n in self.rec.names.items() if v in self.inputs}
        own.update((v, n) for n, v in self.user.items())
        display = dict(self.rec.names)
        for var in list(display):
            group = self.same(var) if type(var) is Var else [var]
            named = [own[v] for v in group if v in own]
            if named:
                display[var] = named[-1]
        return display

    def known(self) -> list:
        """Every name that can be checked: the table's, then parameters and the user's variables."""
        out = [n for n, v in self.table.items() if v.aval.dtype.kind == "f" and n not in self.user]
        out += [p for p in self.params if p not in self.table]
        return out + [f"{u} (= {self.rec.names[v]})" for u, v in self.user.items()]

    def where(self, var: Var) -> str:
        """`input`, or the user's line that made the value."""
        return "input" if var in self.inputs else self.lines.get(var, "")

    def backward_rank(self, var: Var) -> tuple:
        """Sorts values in backward order: the last made first, the inputs last (in argument order)."""
        k = self.order[var]
        return (1, k) if var in self.inputs else (0, -k)

    def resolve(self, mine) -> list:
        """`mine` as (name, variable, float64 value) triples, one per checked array."""
        if isinstance(mine, dict):
            items = list(mine.items())
        elif isinstance(mine, (tuple, list)):
            if len(mine) != len(self.args):
                raise ArgumentError(
                    f"check_my_grads: `mine` has {len(mine)} entries for {len(self.args)} arguments",
                    "Give one gradient per positional argument (None to skip one), or a dict by name.")
            items = list(enumerate(mine))
        else:
            raise ArgumentError(f"check_my_grads: `mine` must be a dict or a tuple, got {type(mine).__name__}",
                                "Pass {'x': dx, 'q': dq, ...} or one gradient per positional argument.")
        out = []
        for key, value in items:
            if value is None:
                continue
            if isinstance(key, int):
                out += self._argument(key, self._arg_label(key), value)
            elif not isinstance(key, str):
                raise ArgumentError(f"check_my_grads: names must be strings, got {key!r}",
                                    f"Use one of the names: {', '.join(self.known())}.")
            elif key in self.user:
                out.append(self._one(key, self.user[key], value))
            elif key in self.table:
                out.append(self._one(key, self.table[key], value))
            elif key in self.params:
                out += self._argument(self.params[key], key, value)
            else:
                unread = sorted({e.source.file for e in self.rec.eqns if e.source.code is not None
                                 and not linecache.getlines(e.source.file)})
                note = (f" Your own variable names are read from the source, and that of {', '.join(unread)} "
                        "cannot be read here." if unread else "")
                raise ArgumentError(f"check_my_grads: {self.rec.name} has no value called {key!r}",
                                    f"The names are: {', '.join(self.known())}. mg.explain({self.rec.name})"
                                    "(*args) shows what each table name is." + note)
        return out

    def _arg_label(self, i: int) -> str:
        return next((p for p, k in self.params.items() if k == i), f"argument {i}")

    def _argument(self, i: int, label: str, value) -> list:
        """One gradient per leaf of argument i, from a pytree of the argument's structure."""
        leaves = self.leaves[i]
        _, tree = tree_flatten(self.args[i])
        if tree.num_leaves == 1 and tree.num_nodes == 1:  # an array or a number
            return [self._one(label, leaves[0], value)]
        try:
            mine = tree.flatten_up_to(value)
        except (ValueError, TypeError) as e:
            raise ArgumentError(f"check_my_grads: your gradient for {label} is not structured as {label} "
                                f"({tree}): {e}",
                                "A gradient has its variable's structure: the same keys and lengths.") from None
        return [self._one(self.rec.names[v], v, g) for v, g in zip(leaves, mine)]

    def _one(self, name: str, var: Var, value) -> tuple:
        if var.aval.dtype.kind != "f":
            raise ArgumentError(f"check_my_grads: {name} is {var.aval.dtype.name}: it has no gradient",
                                "Only floating-point values have gradients; leave it out.")
        try:
            a = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise DTypeError(f"check_my_grads: your gradient for {name} is not a number or an array of "
                             f"numbers: {value!r}", "Give a float, or a numpy array of floats.") from None
        if var not in self.rec.active:
            raise ArgumentError(f"check_my_grads: the library computes no gradient for {name}: no input of "
                                f"{self.rec.name} reaches it through a differentiable gate (a step function, a "
                                "comparison or stop_gradient is in the way), so backprop never visits it",
                                "Leave it out; check the inputs' gradients and the values on their paths.")
        if a.shape != var.aval.shape:
            raise ShapeError(f"check_my_grads: your gradient for {name} has shape {a.shape}, but {name} has "
                             f"shape {var.aval.shape}",
                             "The gradient with respect to a variable always has that variable's shape.")
        return (name, var, a)


def _user_variables(rec: Recording) -> tuple[dict, dict]:
    """The user's variable names found on the traced lines: (name -> variable, variable -> `line 2:
    `q = x + y`` for every value made on a line of the user's)."""
    statements: dict = {}  # file name -> its simple assignments, parsed once
    found: dict = {}       # name -> variable: the last equation made on its last line wins
    lines: dict = {}
    for eqn in rec.eqns:
        src = eqn.source
        if src.code is None or src.forward is not None:
            continue
        text = linecache.getline(src.file, src.line).strip()
        for v in eqn.outvars:
            lines[v] = f"line {src.line}" + (f": `{text}`" if text else "")
        if src.file not in statements:
            statements[src.file] = _assignments(src.file)
        name = _assigned_at(statements[src.file], src.line)
        if name is not None and len(eqn.outvars) == 1:
            found[name] = eqn.outvars[0]
    inputs = {rec.names[v] for v in rec.jaxpr.invars}
    # a parameter rebound (`x = relu(x)`) keeps meaning the input
    return {name: var for name, var in found.items() if name not in inputs}, lines


_COLLECTIONS = (ast.Tuple, ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp, ast.GeneratorExp)


def _assignments(filename: str) -> list:
    """(first line, last line, name) of every simple assignment `name = value` in a source file (none
    when its source cannot be read or parsed)."""
    try:
        tree = ast.parse("".join(linecache.getlines(filename)))
    except (SyntaxError, ValueError):
        return []
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
            target = node.target
        else:
            continue
        if isinstance(target, ast.Name) and not isinstance(node.value, _COLLECTIONS):
            out.append((node.lineno, node.end_lineno, target.id))
    return out


def _assigned_at(statements: list, line: int) -> str | None:
    """The name that the innermost simple assignment spanning `line` assigns, or None."""
    spans = [(first, name) for first, last, name in statements if first <= line <= last]
    return max(spans)[1] if spans else None


# ---------------------------------------------------------------------------------------------
# Blame: the gate where a wrong gradient goes wrong

class _Blame:
    """Explains one wrong gradient at the gate(s) that send it back, in the user's names."""

    def __init__(self, rec: Recording, names: _Names, digits: int, max_values: int, rtol: float, atol: float):
        self.rec, self.names, self.digits, self.max_values = rec, names, digits, max_values
        self.rtol, self.atol = rtol, atol

    def fmt(self, x) -> str:
        if isinstance(x, list):
            return "(" + ", ".join(self.fmt(v) for v in x) + ")"
        return "-" if x is None else fmt_value(x, self.digits, self.max_values)

    def close(self, a, b) -> bool:
        return bool(np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64),
                                rtol=self.rtol, atol=self.atol))

    def gate(self, i: int) -> str:
        """`the mul gate of line 3 (`return q * z`)`."""
        eqn = self.rec.eqns[i]
        label = display_of(eqn.prim).short or eqn.prim.name
        src = eqn.source
        if src.code is None:
            return f"the {label} gate (`{equation_text(self.rec, eqn, self.names.display)}`)"
        text = linecache.getline(src.file, src.line).strip()
        return f"the {label} gate of line {src.line}" + (f" (`{text}`)" if text else "")

    def explain(self, answer: Answer, var: Var, given: set) -> str:
        """Why `answer` (the first wrong one in backward order) is wrong, with hints."""
        rec = self.rec
        name, mine, right = answer.name, answer.mine, answer.right
        end = self.names.follow(var)  # where var's gradient comes from
        parts = [(i, pos) for i, pos in rec.consumers(end)
                 if rec.sent[i] is not None and rec.sent[i][pos] is not None]
        returned = end in rec.jaxpr.outvars
        lines = [f"The first gradient that goes wrong, in backward order: {name}."]
        hints: list = []
        if not parts and not returned:
            users = [i for i, _ in rec.consumers(end)]
            why = ("the gates that use it send nothing back: " + "; ".join(
                f"{self.gate(i)} ({self._words(i)})" for i in dict.fromkeys(users))) if users else \
                f"the output of {rec.name} does not depend on it"
            lines.append(f"No gradient reaches {name}: {why}. So its gradient is {self.fmt(right)}; yours is "
                         f"{self.fmt(mine)}.")
            return "\n".join(lines)
        if len(parts) == 1 and not returned:
            i, pos = parts[0]
            lines.append(f"At {self.gate(i)}, your downstream gradient for {name} is {self.fmt(mine)}; "
                         + self.part(i, pos, right.shape, mine, hints) + ".")
        else:
            lines += self.branch(end, name, parts, mine, right, hints)
        if not hints and self.close(mine, -right) and not self.close(right, 0):
            hints.append("Your number has the wrong sign.")
        missing = sorted({self.names.display[v] for i, _ in parts for v in rec.eqns[i].outvars
                          if self._unknown_upstream(v, given)})
        if missing:
            hints.append(f"(The upstream gradients above are the library's: you gave none for "
                         f"{', '.join(missing)}. Give yours too, to see whether the mistake starts earlier.)")
        return "\n".join(lines + hints)

    def _words(self, i: int) -> str:
        """Why gate i sends nothing back: its display's words, or that its output has no gradient."""
        eqn = self.rec.eqns[i]
        display = display_of(eqn.prim)
        if eqn.outvars[0].aval.dtype.kind != "f":
            return "its output is not a float: no gradient"
        words = [f for f in display.formulas(eqn) if f]
        return words[0] if words and not display.kind == "elementwise" else display.local or "no gradient flows"

    def _unknown_upstream(self, v: Var, given: set) -> bool:
        """A gate's output whose gradient the student did not give (a returned value that nothing uses
        has the output's own gradient, which they need not give)."""
        rec = self.rec
        if v.aval.dtype.kind != "f" or any(u in given for u in self.names.same(v)):
            return False
        end = self.names.follow(v)
        used = any(rec.sent[i] is not None and rec.sent[i][pos] is not None for i, pos in rec.consumers(end))
        return used or end not in rec.jaxpr.outvars

    def part(self, i: int, pos: int, shape: tuple, mine, hints: list) -> str:
        """What gate i sends back to its operand `pos`: `local (z = -4.00) x upstream (1.00) = -4.00`
        (reshaped to `shape`, the checked value's, where that differs)."""
        row = gate_row(self.rec, i, self.digits, self.names.display)
        op = next(o for o in row.operands if o.position == pos)
        sent = np.asarray(self.rec.sent[i][pos])
        sent = sent.reshape(shape) if sent.size == int(np.prod(shape)) else sent
        if mine is not None:
            self.hints(i, pos, op, row.upstream, mine, sent, hints)
        up = self.fmt(self._as_named(self.rec.eqns[i], row.upstream))
        if isinstance(op.local, str):
            words = f"{op.formula}, {op.local}" if op.formula else op.local
            return f"the gate sends back {words}: with upstream {up} that is {self.fmt(sent)}"
        if not op.formula:
            local = self.fmt(op.local)
        elif _is_number(op.formula):
            local = op.formula
        else:
            local = f"{op.formula} = {self.fmt(op.local)}"
        return f"local ({local}) x upstream ({up}) = {self.fmt(sent)}"

    def _as_named(self, eqn, upstream):
        """A gate's upstream gradient in the shape of the value the user named (`q` of `q = W @ x`, not
        the column the product makes before reshaping it)."""
        if len(eqn.outvars) != 1 or upstream is None:
            return upstream
        shape = self.names.follow(eqn.outvars[0]).aval.shape
        return np.reshape(upstream, shape) if np.size(upstream) == int(np.prod(shape)) else upstream

    def hints(self, i: int, pos: int, op, upstream, mine, sent, hints: list) -> None:
        """The classic mistakes, where the student's number is what one of them gives."""
        eqn = self.rec.eqns[i]
        prim = eqn.prim.name
        if np.ndim(mine) == 2 and mine.shape[0] == mine.shape[1] and self.close(mine.T, sent):
            hints.append("Yours is the transpose of the right gradient: entry [i, j] of a matrix's gradient "
                         "is the derivative by its entry [i, j], so the gradient has the matrix's own layout.")
            return
        if upstream is None or isinstance(upstream, list) or np.shape(upstream) != np.shape(mine):
            return
        if prim in ("sub", "neg") and (prim == "neg" or pos == 1) and self.close(mine, -sent):
            hints.append(f"{prim} sends back MINUS the upstream gradient to "
                         + ("its input." if prim == "neg" else "the input it subtracts."))
        elif prim == "mul" and self.close(mine, np.multiply(upstream, self.rec.value_of(eqn.invars[pos]))):
            other = eqn.invars[1 - pos]
            who = self.names.display[other] if type(other) is Var else "the other input"
            hints.append(f"mul switches: each input gets upstream x the OTHER input (here {who}), not x its "
                         "own value.")
        elif isinstance(op.local, str):
            return
        elif self.close(mine, upstream) and not self.close(op.local, 1):
            hints.append("That is the upstream gradient passed on unchanged: multiply it by the local gradient.")
        elif self.close(mine, op.local) and not self.close(upstream, 1):
            hints.append("That is the local gradient alone: multiply it by the upstream gradient.")

    def branch(self, var: Var, name: str, parts: list, mine, right, hints: list) -> list:
        """A value used more than once (or also returned): its gradient is the sum of the parts."""
        lines, values, labels = [], [], []
        for i, pos in parts:
            sent = np.asarray(self.rec.sent[i][pos], dtype=np.float64)
            values.append(sent.reshape(right.shape) if sent.size == right.size else sent)
            labels.append(f"the part from {self.gate(i)}")
            lines.append(f"  part {len(values)}, from {self.gate(i)}: {self.part(i, pos, right.shape, None, [])}")
        if var in self.rec.jaxpr.outvars:  # returned by f: the output's own gradient is a part too
            seed = right - sum(values) if values else right
            values.append(seed)
            labels.append(f"the output's own gradient ({self.fmt(seed)})")
            lines.append(f"  part {len(values)}: {name} is an output of {self.rec.name}, whose own gradient is "
                         f"{self.fmt(seed)}")
        head = (f"{name} branches: it is used {len(values)} times, and gradients add at a branch: "
                + " + ".join(self.fmt(v) for v in values) + f" = {self.fmt(right)}; yours is {self.fmt(mine)}.")
        for v, label in zip(values, labels):
            if self.close(mine, v):
                hints.append(f"Yours is only {label}: add up the gradients of all {len(values)} uses.")
                break
        return [head] + lines
