"""docs/errors.md, the catalogue of misuse, kept true mechanically.

Two checks per entry of the catalogue:

* `test_entry`: the mistake, written out here, raises the entry's class with a message that names the
  operation, the shapes/dtypes involved, the user's line (file:line and its source text, found by a
  `# @E01` marker comment) and a hint; and its first line and hint are the ones the catalogue shows.
* `test_doc_example`: the catalogue's own example, run as a file `example.py`, prints exactly the
  message the catalogue shows.

Plus: every id of the catalogue has a case here and the other way round.

After a deliberate change of wording: `python tests/test_error_catalogue.py --update` rewrites the
messages in docs/errors.md from what the library prints now.
"""
from __future__ import annotations

import linecache
import pathlib
import re
import sys
from typing import Callable, NamedTuple

import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import (ArgumentError, ConcretizationError, DTypeError, GradientLostError, GradTypeError,
                         JaxprTypeError, LeakedTracerError, LoweringError, MinigradError, MissingRuleError, OpError,
                         NonFiniteError, ShapeError, TracerError, UnsupportedError, lax, nn)
from minigrad_fn.numpy._core import IndexShapeError, OutOfRangeError
from minigrad_fn.primitives.indexing import IndexOutOfBoundsError

THIS_FILE = __file__
DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "errors.md"
EXAMPLE = "example.py"  # the file name the catalogue's examples run under
with open(THIS_FILE) as _f:
    _LINES = _f.read().splitlines()


# ---------------------------------------------------------------------------------------------
# Helpers: the marked line, and what a message must say

def where(marker: str) -> tuple:
    """(line number, source text without the comment) of the one line whose comment holds `@marker`."""
    hits = [i for i, text in enumerate(_LINES, 1)
            if "#" in text and f"@{marker}" in text[text.rindex("#"):].split()]
    assert len(hits) == 1, f"marker @{marker} found {len(hits)} times"
    text = _LINES[hits[0] - 1]
    return hits[0], text[:text.rindex("#")].strip()


def _names(op: str, raw: str) -> bool:
    """`raw` names the operation `op` (as a word if it is one, else as written)."""
    return re.search(rf"\b{re.escape(op)}\b", raw) is not None if op.isidentifier() else op in raw


def problems(e: MinigradError, marker: str, parts, ops) -> dict:
    """What the message of `e` lacks, keyed by what it is about ('part:...', 'op', 'line', 'hint')."""
    msg, raw = str(e), e.raw_message
    found = {}
    for p in parts:
        alternatives = p if isinstance(p, tuple) else (p,)
        if not any(a in raw for a in alternatives):
            found[f"part:{p}"] = f"{p!r} is missing"
    if not any(_names(op, raw) for op in ops):
        found["op"] = f"names none of the operations {ops}"
    line, code = where(marker)
    if f"{THIS_FILE}:{line}" not in msg or f"`{code}" not in msg:
        found["line"] = f"does not point at {THIS_FILE}:{line} `{code}`"
    if not (e.hint and e.hint in msg):
        found["hint"] = "says nothing about what to do"
    return found


class Case(NamedTuple):
    fn: Callable
    cls: type
    ops: tuple
    parts: tuple


CASES: dict[str, Case] = {}


def case(eid: str, cls: type, ops, *parts):
    """Register the function below as the test of catalogue entry `eid`."""
    def register(fn):
        assert eid not in CASES, eid
        CASES[eid] = Case(fn, cls, ops if isinstance(ops, tuple) else (ops,), parts)
        return fn
    return register


# ---------------------------------------------------------------------------------------------
# The functions of the examples (the same names as in the catalogue: messages name them)

def scale(n):
    return n * 2.0


def double(x):
    return x * 2.0


def best(x):
    return mnp.argmax(x)


def loss(x, label):
    return mnp.sum(x)


def product(x, y):
    return mnp.sum(x * y)


def shout(x):
    return x + "!"  # @E08


def add(x, y):
    return x + y


def relu(x):
    if x > 0:  # @E27 @E30
        return x
    return 0.0 * x


clip01 = lax.primitive("clip01", shape_rule=lambda x: x, impl=lambda x: np.clip(x, 0.0, 1.0), vjp=None)


# ---------------------------------------------------------------------------------------------
# Arguments to transformations

@case("E01", GradTypeError, "grad", "argument n", "int64", "(3,)")
def e01():
    mg.grad(scale)(np.arange(3))  # @E01


@case("E02", GradTypeError, "grad", "(3, 4)", "float64")
def e02():
    mg.grad(double)(np.ones((3, 4)))  # @E02


@case("E03", GradTypeError, "grad", "shape ()", "int64")
def e03():
    mg.grad(best)(np.array([0.5, 2.0, 1.0]))  # @E03


@case("E04", ArgumentError, "grad", "argument label", "str")
def e04():
    mg.grad(loss, argnums=(0, 1))(np.ones(3), "cat")  # @E04


@case("E05", ArgumentError, "grad", "argnums=(0, 0)", "argument 0")
def e05():
    mg.grad(product, argnums=(0, 0))(np.ones(3), np.ones(3))  # @E05


@case("E06", ArgumentError, "grad", "argnums=2", "2 positional arguments")
def e06():
    mg.grad(product, argnums=2)(np.ones(3), np.ones(3))  # @E06


@case("E07", ArgumentError, "vjp_fn", "(3,)", "(3, 4)")
def e07():
    y, pullback = mg.vjp(double, np.ones((3, 4)))
    pullback(np.ones(3))  # @E07


@case("E08", ArgumentError, "add", "str")
def e08():
    mg.make_jaxpr(shout)(np.ones(3))


# ---------------------------------------------------------------------------------------------
# Shapes

@case("E09", ShapeError, "add", "(3, 4)", "(5, 2)")
def e09():
    a = np.ones((3, 4))
    b = np.ones((5, 2))
    mnp.add(a, b)  # @E09


def layer(W, x):
    return mnp.sum(mnp.tanh(W @ x))  # @E10


@case("E10", ShapeError, "matmul", "(3, 4)", "(3,)")
def e10():
    mg.grad(layer)(np.ones((3, 4)), np.ones(3))


@case("E11", ShapeError, "matmul", "(3, 4)", "()")
def e11():
    mnp.matmul(np.ones((3, 4)), 2.0)  # @E11


@case("E12", ShapeError, "concatenate", "(3, 4)", "(2, 3)")
def e12():
    mnp.concatenate([np.ones((3, 4)), np.ones((2, 3))])  # @E12


def pairs_of(x):
    return mnp.reshape(x, (5, 2))  # @E13


@case("E13", ShapeError, "reshape", "(3, 4)", "(5, 2)")
def e13():
    mg.jit(pairs_of)(np.ones((3, 4)))


@case("E14", ShapeError, "broadcast_to", "(3, 4)", "(5, 2)")
def e14():
    mnp.broadcast_to(np.ones((3, 4)), (5, 2))  # @E14


def contract(a, b):
    return mnp.einsum("ij,jk->ik", a, b)  # @E15


@case("E15", ShapeError, "einsum", "(3, 4)", "(5, 2)")
def e15():
    mg.make_jaxpr(contract)(np.ones((3, 4)), np.ones((5, 2)))


@case("E16", ShapeError, "sum", "axis 2", "dimension 2")
def e16():
    mnp.sum(np.ones((3, 4)), axis=2)  # @E16


@case("E17", ShapeError, "transpose", "(0, 0)", "(3, 4)")
def e17():
    mnp.transpose(np.ones((3, 4)), (0, 0))  # @E17


@case("E18", ShapeError, "squeeze", "axis 0", "(3, 4)")
def e18():
    mnp.squeeze(np.ones((3, 4)), axis=0)  # @E18


def total(a, b):
    return mnp.sum(mnp.stack([a, b]))  # @E19


@case("E19", ShapeError, "stack", "(3,)", "(4,)")
def e19():
    mg.grad(total)(np.ones(3), np.ones(4))


@case("E20", ShapeError, "split", "(3, 4)", "4 into 3")
def e20():
    mnp.split(np.ones((3, 4)), 3, axis=1)  # @E20


# ---------------------------------------------------------------------------------------------
# Dtypes

def power(x):
    return mnp.sum(mnp.abs(x * 1j) ** 2)  # @E21


@case("E21", DTypeError, "multiply", "float64", "complex")
def e21():
    mg.grad(power)(np.ones(3))


@case("E22", DTypeError, "subtract", "bool", "(3,)")
def e22():
    mask = np.array([True, False, True])
    mnp.subtract(mask, mask)  # @E22


def mixed(x):
    return lax.add(x, np.ones(3))  # @E23


@case("E23", DTypeError, "add", "float32", "float64", "(3,)")
def e23():
    mg.make_jaxpr(mixed)(np.ones(3, np.float32))


def bump(a):
    return a + 1000  # @E24


@case("E24", OutOfRangeError, "add", "1000", "int8")
def e24():
    mg.jit(bump)(np.array([1, 2], np.int8))


def low_bit(n):
    return n & 1  # @E25


@case("E25", UnsupportedError, "bitwise_and", "int64", "(4,)")
def e25():
    mg.jit(low_bit)(np.arange(4))


@case("E26", DTypeError, "softmax_cross_entropy", "float64", "(4,)")
def e26():
    scores = np.zeros((4, 3))
    labels = np.array([0.0, 2.0, 1.0, 1.0])
    nn.softmax_cross_entropy(scores, labels)  # @E26


# ---------------------------------------------------------------------------------------------
# Tracers and concretization

@case("E27", ConcretizationError, "if", "bool[]", "argument x")
def e27():
    mg.jit(relu)(1.5)


def scaled(x):
    return x * float(x)  # @E28


@case("E28", ConcretizationError, "float", "f64[]", "argument x")
def e28():
    mg.jit(scaled)(2.0)


def ramp(n):
    return mnp.arange(n)  # @E29


@case("E29", ConcretizationError, "arange", "i64[]", "argument n")
def e29():
    mg.jit(ramp)(3)


@case("E30", ConcretizationError, "if", "bool[]", "vmap")
def e30():
    mg.vmap(relu)(np.array([-1.0, 2.0]))


def via_numpy(x):
    return np.asarray(x) * 2.0  # @E31


@case("E31", TracerError, "np.asarray", "f64[3,4]")
def e31():
    mg.make_jaxpr(via_numpy)(np.ones((3, 4)))


@case("E32", LeakedTracerError, "mul", "f64[3,4]")
def e32():
    seen = []

    def remember(x):
        seen.append(x)
        return mnp.sum(x)

    mg.grad(remember)(np.ones((3, 4)))
    seen[0] * 2.0  # @E32


def zero_first(x):
    x[0] = 0.0  # @E33
    return mnp.sum(x)


@case("E33", UnsupportedError, "x[...] = value", "f64[3]")
def e33():
    mg.grad(zero_first)(np.ones(3))


def top_two(x):
    return mnp.sum(np.sort(x)[-2:])  # @E34


@case("E34", UnsupportedError, "sort", "f64[5]")
def e34():
    mg.grad(top_two)(np.ones(5))


def exp_into(x):
    buf = np.empty(3)
    return mnp.sum(mnp.exp(x, out=buf))  # @E35


@case("E35", UnsupportedError, "exp", "out=")
def e35():
    mg.grad(exp_into)(np.ones(3))


def positives(x):
    return mnp.where(x > 0)  # @E36


@case("E36", UnsupportedError, "where", "bool[3]")
def e36():
    mg.jit(positives)(np.ones(3))


# ---------------------------------------------------------------------------------------------
# Gradients silently lost

def times_float(x):
    return x * float(x)  # @E37


@case("E37", GradientLostError, "float", "f64[]")
def e37():
    mg.grad(times_float)(2.0)


def times_item(x):
    return mnp.sum(x) * x[0].item()  # @E38


@case("E38", GradientLostError, ".item()", "f64[]")
def e38():
    mg.grad(times_item)(np.ones(3))


def squares_in_numpy(x):
    return mnp.sum(np.asarray(x) ** 2)  # @E39


@case("E39", GradientLostError, "np.asarray", "f64[3,4]")
def e39():
    mg.grad(squares_in_numpy)(np.ones((3, 4)))


def into_buffer(x):
    out = np.zeros(3)
    out[0] = x[0]  # @E40
    return mnp.sum(x) + mnp.sum(out)


@case("E40", GradientLostError, "float", "f64[]")
def e40():
    mg.grad(into_buffer)(np.ones(3))


# ---------------------------------------------------------------------------------------------
# Indexing

def pick(x):
    return mnp.sum(x[:, 4])  # @E41


@case("E41", IndexShapeError, ("index", "indexing"), "(3, 4)", "index 4", "axis 1")
def e41():
    mg.grad(pick)(np.ones((3, 4)))


def corner(x):
    return x[0, 0, 0]  # @E42


@case("E42", IndexShapeError, "indexing", "(3, 4)", "3 were indexed")
def e42():
    mg.grad(corner)(np.ones((3, 4)))


def masked(x):
    return mnp.sum(x[np.array([True, False, True, True])])  # @E43


@case("E43", IndexShapeError, "indexing", "(4,)", "(3,)", "(3, 4)")
def e43():
    mg.grad(masked)(np.ones((3, 4)))


def pick_pairs(x):
    return mnp.sum(x[np.array([0, 1]), np.array([0, 1, 2])])  # @E44


@case("E44", IndexShapeError, "indexing", "(2,)", "(3,)")
def e44():
    mg.grad(pick_pairs)(np.ones((3, 4)))


def positive_sum(x):
    return mnp.sum(x[x > 0])  # @E45


@case("E45", UnsupportedError, "indexing", "bool[3,4]")
def e45():
    mg.jit(positive_sum)(np.ones((3, 4)))


def gather(x, i):
    return mnp.take(x, i)


@case("E46", IndexOutOfBoundsError, "gather", "(3,)", "index 5")
def e46():
    mg.jit(gather, backend="numpy")(np.ones(3), np.array([5]))  # @E46


# ---------------------------------------------------------------------------------------------
# The transformations' own arguments

@case("E47", ArgumentError, "vmap", "size 3", "size 5")
def e47():
    mg.vmap(add)(np.ones(3), np.ones(5))  # @E47


@case("E48", ArgumentError, "vmap", "in_axes=2", "(3, 4)")
def e48():
    mg.vmap(add, in_axes=(2, 0))(np.ones((3, 4)), np.ones((3, 4)))  # @E48


@case("E49", ArgumentError, "vmap", "3 entries", "2 positional arguments")
def e49():
    mg.vmap(add, in_axes=(0, 0, 0))(np.ones(3), np.ones(3))  # @E49


@case("E50", ArgumentError, "vmap", "in_axes are None")
def e50():
    mg.vmap(add, in_axes=None)(np.ones(3), np.ones(3))  # @E50


@case("E51", ArgumentError, "vmap", "out_axes=None", "(4,)", "3 examples")
def e51():
    mg.vmap(double, out_axes=None)(np.ones((3, 4)))  # @E51


@case("E52", ArgumentError, "jvp", "f32[4]", "f64[3,4]")
def e52():
    mg.jvp(double, (np.ones((3, 4)),), (np.ones(4, np.float32),))  # @E52


@case("E53", ArgumentError, "jvp", "ndarray")
def e53():
    mg.jvp(double, np.ones(3), np.ones(3))  # @E53


def reshaped(x, shape):
    return mnp.reshape(x, shape)


@case("E54", ArgumentError, "jit", "#1", "list")
def e54():
    mg.jit(reshaped, static_argnums=1)(np.ones(4), [2, 2])  # @E54


@case("E55", GradTypeError, "jacrev", "i64[]", "int64")
def e55():
    mg.jacrev(best)(np.ones(3))  # @E55


# ---------------------------------------------------------------------------------------------
# Rules and lowering

def clipped_sum(x):
    return mnp.sum(clip01.bind(x))  # @E56


@case("E56", MissingRuleError, "grad", "clip01", "f64[3]")
def e56():
    mg.grad(clipped_sum)(np.ones(3))


@case("E57", MissingRuleError, "vmap", "clip01", "f64[2,3]")
def e57():
    mg.vmap(clip01.bind)(np.ones((2, 3)))  # @E57


@case("E58", MissingRuleError, "jvp", "clip01", "f64[3]")
def e58():
    mg.jvp(clip01.bind, (np.ones(3),), (np.ones(3),))  # @E58


@case("E59", LoweringError, "jit", "clip01")
def e59():
    mg.jit(clip01.bind)(np.ones(3))  # @E59


inverse = lax.primitive("inverse", shape_rule=lambda x: x, impl=np.linalg.inv, vjp=None)


@case("E60", OpError, "inverse", "f64[2,2]")
def e60():
    inverse.bind(np.zeros((2, 2)))  # @E60


@case("E61", JaxprTypeError, "mul", "f64[3]")
def e61():
    closed = mg.make_jaxpr(lambda x: mnp.sin(x) * 2.0)(np.ones(3))
    j = closed.jaxpr
    mg.typecheck(mg.Jaxpr(j.constvars, j.invars, j.outvars, j.eqns[::-1]))  # @E61


# ---------------------------------------------------------------------------------------------
# Numerical problems (debug_nans)

def log_loss(x):
    return mnp.sum(mnp.log(x))  # @E62


@case("E62", NonFiniteError, "log", "float64[2]", "x0=-1.0")
def e62():
    with mg.debug_nans():
        mg.grad(log_loss)(np.array([1.0, -1.0]))


def norm(x):
    return mnp.sqrt(mnp.sum(x * x))  # @E63


@case("E63", NonFiniteError, "div", "in the backward pass of `sqrt`", "float64[]")
def e63():
    with mg.debug_infs():
        mg.grad(norm)(np.zeros(3))


def ratio(x):
    return mnp.sum(x / mnp.sum(x))  # @E64


@case("E64", NonFiniteError, "div", "float64[2]")
def e64():
    with mg.debug_nans():
        mg.jit(ratio)(np.zeros(2))


# ---------------------------------------------------------------------------------------------
# The catalogue: its entries, and running its examples

class Entry(NamedTuple):
    eid: str
    title: str
    group: str
    cls: str
    code: str
    message: str
    text_span: tuple  # (first, last) line index of the message block's contents


_HEADING = re.compile(r"^### (E\d\d) (.+)$")


def parse_doc(text: str) -> dict:
    """{id: Entry} of the catalogue, in order."""
    lines = text.splitlines()
    entries, group = {}, None
    starts = [i for i, line in enumerate(lines) if line.startswith("## ") or _HEADING.match(line)]
    for n, i in enumerate(starts):
        if lines[i].startswith("## "):
            group = lines[i][3:].strip()
            continue
        eid, title = _HEADING.match(lines[i]).groups()
        body = range(i + 1, starts[n + 1] if n + 1 < len(starts) else len(lines))
        cls = next((m.group(1) for j in body if (m := re.match(r"^\*\*`(\w+)`\*\*", lines[j]))), None)
        blocks = {}
        j = body.start
        while j < body.stop:
            fence = lines[j].strip()
            if fence in ("```python", "```text") and fence not in blocks:
                end = next(k for k in range(j + 1, body.stop) if lines[k].strip() == "```")
                blocks[fence] = (j + 1, end)
                j = end
            j += 1
        assert eid not in entries, f"{eid} appears twice in {DOC}"
        assert cls and "```python" in blocks and "```text" in blocks, f"{eid} lacks its class, example or message"
        assert any(lines[j].startswith("**What to do:**") for j in body), f"{eid} does not say what to do"
        code = "\n".join(lines[slice(*blocks["```python"])]) + "\n"
        message = "\n".join(lines[slice(*blocks["```text"])])
        entries[eid] = Entry(eid, title, group, cls, code, message, blocks["```text"])
    return entries


def run_example(code: str) -> MinigradError:
    """Run a catalogue example as the file example.py; the error it raises."""
    linecache.cache[EXAMPLE] = (len(code), None, code.splitlines(True), EXAMPLE)  # so messages show its lines
    namespace = {"np": np, "mg": mg, "mnp": mnp, "lax": lax, "nn": nn}
    try:
        exec(compile(code, EXAMPLE, "exec"), namespace)
    except MinigradError as e:
        return e
    finally:
        linecache.cache.pop(EXAMPLE, None)
    raise AssertionError(f"the example raised nothing:\n{code}")


def render(e: MinigradError) -> str:
    """The message as the catalogue shows it (an installation's site-packages path shortened)."""
    return re.sub(r"/\S*/site-packages/", ".../site-packages/", f"{type(e).__name__}: {e}")


def _comparable(message: str) -> str:
    """A message with any `at` line outside the example made one placeholder (it depends on versions)."""
    return re.sub(rf"(?m)^  at (?!{re.escape(EXAMPLE)}:).*$", "  at <library code>", message.strip())


def _first_line(raw: str) -> str:
    """A message's first line with file:line references (the example's, or this file's) made neutral."""
    return re.sub(r"[\w./<>-]+\.py:\d+( \([^()]*\))?", "FILE:LINE", raw.splitlines()[0])


ENTRIES = parse_doc(DOC.read_text())


def update_doc() -> None:
    """Rewrite every message block of docs/errors.md with what the library prints now."""
    lines = DOC.read_text().splitlines()
    for entry in sorted(ENTRIES.values(), key=lambda en: -en.text_span[0]):  # from the end: spans stay valid
        first, last = entry.text_span
        lines[first:last] = render(run_example(entry.code)).splitlines()
    DOC.write_text("\n".join(lines) + "\n")


# ---------------------------------------------------------------------------------------------
# The tests

def test_every_entry_has_a_test_and_every_test_an_entry():
    assert list(ENTRIES) == sorted(ENTRIES), "the ids are not in order"
    assert list(ENTRIES) == [f"E{i:02d}" for i in range(1, len(ENTRIES) + 1)], "the ids are not consecutive"
    assert len(ENTRIES) >= 32
    assert set(ENTRIES) - set(CASES) == set(), "entries without a test case"
    assert set(CASES) - set(ENTRIES) == set(), "test cases without an entry"


def test_the_catalogue_is_grouped_and_ends_with_numerical_problems():
    groups = list(dict.fromkeys(en.group for en in ENTRIES.values()))
    assert groups == ["Arguments to transformations", "Shapes", "Dtypes", "Tracers and concretization",
                      "Gradients silently lost", "Indexing",
                      "The transformations' own arguments: vmap, jvp, jit, Jacobians", "Rules and lowering",
                      "Numerical problems (debug_nans)"]
    headings = [line for line in DOC.read_text().splitlines() if line.startswith("## ")]
    assert headings[-1] == "## Numerical problems (debug_nans)"
    assert len({en.title for en in ENTRIES.values()}) == len(ENTRIES), "two entries have the same title"


@pytest.mark.parametrize("eid", sorted(CASES))
def test_entry(eid):
    c, entry = CASES[eid], ENTRIES[eid]
    with pytest.raises(MinigradError) as info:
        c.fn()
    e = info.value
    assert type(e) is c.cls and type(e).__name__ == entry.cls, f"{type(e).__name__}: {e}"
    found = problems(e, eid, c.parts, c.ops)
    assert not found, f"{eid} {type(e).__name__}: {'; '.join(found.values())}\n--- the message:\n{e}"
    # the catalogue shows this message: the same first line (up to file:line references) and hint
    shown = entry.message.splitlines()
    assert _first_line(shown[0]) == _first_line(f"{type(e).__name__}: {e.raw_message}"), \
        f"{eid}: the catalogue shows\n{shown[0]}\nbut the library says\n{type(e).__name__}: {e.raw_message}"
    assert e.hint == "" or shown[-1].strip() == e.hint.strip(), f"{eid}: the hint is now\n{e.hint}"


@pytest.mark.parametrize("eid", sorted(ENTRIES))
def test_doc_example(eid):
    entry = ENTRIES[eid]
    e = run_example(entry.code)
    assert _comparable(render(e)) == _comparable(entry.message), (
        f"{eid}: the catalogue's message is out of date (python tests/test_error_catalogue.py --update)\n"
        f"--- shown:\n{entry.message}\n--- printed now:\n{render(e)}")


def test_the_classes_are_minigrad_errors_and_builtins():
    for cls, builtin in [(IndexShapeError, IndexError), (OutOfRangeError, OverflowError),
                         (IndexOutOfBoundsError, IndexError), (MissingRuleError, NotImplementedError),
                         (LoweringError, NotImplementedError), (GradientLostError, ValueError)]:
        assert issubclass(cls, MinigradError) and issubclass(cls, builtin)


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python tests/test_error_catalogue.py --update   (rewrites the messages in docs/errors.md)")
    update_doc()
    print(f"updated {len(ENTRIES)} messages in {DOC}")
