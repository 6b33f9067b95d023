"""mg.graph: the lecture's pictures, checked in the DOT text (values above, gradients below each wire)."""
import os
import re
import sys

import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import nn
from minigrad_fn.graph import GREEN, RED, fmt_number, record
from minigrad_fn.render import renderer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
needs_dot = pytest.mark.skipif(renderer() is None, reason="no Graphviz renderer (dot or graphviz-pure) is installed")

_WIRE = re.compile(r'<FONT COLOR="' + GREEN + r'">([^<]*)</FONT></TD></TR><HR/><TR><TD>(?:<FONT COLOR="' + RED
                   + r'">([^<]*)</FONT>)?')


def wires(source: str) -> list:
    """(value, gradient) written on every wire of a picture, as text."""
    return [(v, g or None) for v, g in _WIRE.findall(source)]


def gates(source: str) -> list:
    return re.findall(r'g\d+ \[label="([^"]*)"', source)


def add_mul(x, y, z):
    return (x + y) * z


def neuron(w0, x0, w1, x1, w2):
    return 1 / (1 + mnp.exp(-(w0 * x0 + w1 * x1 + w2)))


NEURON_ARGS = (2.0, -1.0, -3.0, -2.0, -3.0)


def test_add_mul_slide():
    g = mg.graph(add_mul)(-2.0, 5.0, -4.0)
    # x, y, z, then q = x + y = 3, f = -12 with gradient 1
    assert wires(g.source) == [("-2.00", "-4.00"), ("5.00", "-4.00"), ("-4.00", "3.00"), ("3.00", "-4.00"),
                               ("-12.00", "1.00")]
    assert gates(g.source) == ["add", "mul"]
    assert g.value == -12.0
    assert [float(d) for d in g.grads] == [-4.0, -4.0, 3.0]
    for name in ("x", "y", "z", "add_mul"):
        assert f'label="{name}", shape="plaintext"' in g.source


def test_sigmoid_neuron_slide():
    g = mg.graph(neuron)(*NEURON_ARGS)
    w = wires(g.source)
    # inputs w0, x0, w1, x1, w2 with the slide's gradients
    assert w[:5] == [("2.00", "-0.20"), ("-1.00", "0.39"), ("-3.00", "-0.39"), ("-2.00", "-0.59"),
                     ("-3.00", "0.20")]
    # w0 x0 = -2, w1 x1 = 6, their sum 4, + w2 = 1, *-1, exp, +1, 1/x
    assert w[5:] == [("-2.00", "0.20"), ("6.00", "0.20"), ("4.00", "0.20"), ("1.00", "0.20"),
                     ("-1.00", "-0.20"), ("0.37", "-0.53"), ("1.37", "-0.53"), ("0.73", "1.00")]
    assert gates(g.source) == ["mul", "mul", "add", "add", "neg", "exp", "add(1.00, ·)", "div(1.00, ·)"]


def test_sigmoid_as_one_gate_gives_the_same_gradients():
    def neuron_gate(w0, x0, w1, x1, w2):
        return nn.sigmoid(w0 * x0 + w1 * x1 + w2)

    g = mg.graph(neuron_gate)(*NEURON_ARGS)
    assert gates(g.source)[-1] == "sigmoid"
    assert wires(g.source)[-2:] == [("1.00", "0.20"), ("0.73", "1.00")]
    assert np.allclose(g.grads, mg.graph(neuron)(*NEURON_ARGS).grads)


def test_vector_example_shows_shapes_and_values():
    W, x = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    src = mg.graph(lambda W, x: mnp.sum((W @ x) ** 2), digits=3)(W, x).source
    assert "f64[2,2]" in src and "dot" in gates(src)
    assert ('[0.220, 0.260]', '[0.440, 0.520]') in wires(src)  # q = W x and its gradient 2 q
    assert '[0.088, 0.176]</FONT><BR/><FONT COLOR="#cf222e">[0.104, 0.208]' in src  # grad W, row by row
    assert ("0.116", "1.000") in wires(src)


def test_large_arrays_show_their_norm():
    x = np.arange(12.0).reshape(3, 4)
    src = mg.graph(lambda x: mnp.sum(x * x))(x).source
    assert f"norm {fmt_number(np.linalg.norm(x))}" in src
    assert f"norm {fmt_number(2 * np.linalg.norm(x))}" in src
    assert "f64[3,4]" in src


def test_branches_carry_their_own_parts():
    def branches(x, y):
        a = x * y
        return a + mnp.maximum(a, x)

    src = mg.graph(branches)(2.0, 3.0).source
    # x feeds mul and max: 6 comes back from the mul, nothing from the max; a = x y gets 1 + 1
    assert ("2.00", "6.00") in wires(src) and ("6.00", "2.00") in wires(src)
    # each branch's part is an external label (xlabel) on an edge one rank longer (minlen=2)
    branch_labels = re.findall(r'w(\d+) -> g\d+ \[tailport="e", '
                               r'xlabel=<<FONT COLOR="#cf222e">([^<]*)</FONT>>, minlen="2"\]', src)
    by_wire: dict = {}
    for wire, label in branch_labels:
        by_wire.setdefault(wire, []).append(float(label))
    assert sorted(sorted(v) for v in by_wire.values()) == [[0.0, 6.0], [1.0, 1.0]]


def test_gradients_of_every_variable_match_grad():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((5, 4)), np.array([0, 1, 2, 1, 0])
    W1, W2 = rng.standard_normal((4, 6)), rng.standard_normal((6, 3))

    def loss(W1, W2, X, y):
        h = nn.relu(X @ W1)
        return nn.softmax_cross_entropy(h @ W2, y) + 0.1 * mnp.sum(W1 * W1)

    rec = record(loss, (W1, W2, X, y))
    expected = mg.grad(loss, argnums=(0, 1, 2))(W1, W2, X, y)
    for v, e in zip(rec.jaxpr.invars, expected):
        assert np.allclose(rec.grad_of(v), e)
    assert rec.grad_of(rec.jaxpr.invars[3]) is None  # integer labels have no gradient
    assert np.isclose(rec.value, loss(W1, W2, X, y))
    # what each gate sends back adds up to every variable's gradient
    for i, eqn in enumerate(rec.eqns):
        for v in eqn.outvars:
            parts = [rec.sent[j][k] for j, k in rec.consumers(v)
                     if rec.sent[j] is not None and rec.sent[j][k] is not None]
            if parts:
                assert np.allclose(sum(parts) + (rec.seed.get(v, 0)), rec.grad_of(v))


def test_same_operand_twice_gets_two_slots():
    rec = record(lambda x: x * x, (3.0,))
    assert [float(c) for c in rec.sent[0]] == [3.0, 3.0]
    assert float(rec.grad_of(rec.jaxpr.invars[0])) == 6.0


def test_array_output_is_seeded_with_ones():
    x = np.array([1.0, 2.0, 3.0])
    g = mg.graph(lambda x: x * x)(x)
    assert np.allclose(g.grads[0], 2 * x)


def test_pytree_arguments_are_named_by_path():
    params = {"W": np.ones((2, 2)), "b": np.zeros(2)}
    src = mg.graph(lambda p, x: mnp.sum(p["W"] @ x + p["b"]))(params, np.ones(2)).source
    assert "p[&#x27;W&#x27;]" in src or "p['W']" in src


def layer(x, W):
    return nn.relu(x @ W)


def classifier(W1, W2, X, y):
    return nn.softmax_cross_entropy(layer(X, W1) @ W2, y)


def test_collapse_by_name_and_all_calls():
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal((6, 4)),
            np.array([0, 1, 2, 0, 1, 2]))
    full = mg.graph(classifier, collapse=False)(*args).source  # the default collapses nn's functions
    assert "exp" in gates(full) and not any(label.startswith("log_softmax") for label in gates(full))

    by_name = mg.graph(classifier, collapse="log_softmax")(*args).source
    assert "exp" not in gates(by_name)
    assert any(label.startswith("log_softmax\n(") for label in gates(by_name))
    assert len(gates(by_name)) < len(gates(full))
    # the collapsed node still has its gradients on the wires in and out of it
    assert mg.graph(classifier, collapse="log_softmax")(*args).grads[0] is not None

    top = gates(mg.graph(classifier, collapse=True)(*args).source)
    assert any(label.startswith("layer\n(") for label in top)
    assert any(label.startswith("softmax_cross_entropy\n(") for label in top)


def test_two_calls_of_one_function_stay_two_nodes():
    def square(a):
        return a * a * 1.5

    src = mg.graph(lambda x, y: square(x) + square(y), collapse="square")(1.0, 2.0).source
    assert sorted(gates(src)) == ["add", "square\n(2 ops)", "square\n(2 ops)"]


def test_show_backward_draws_the_backward_equations():
    src = mg.graph(add_mul, show_backward=True)(-2.0, 5.0, -4.0).source
    labels = re.findall(r'label="([^"]*)", shape="(?:circle|ellipse)", color="([^"]*)"', src)
    forward = [name for name, color in labels if color == "black"]
    backward = [name for name, color in labels if color == RED]
    assert forward == ["add", "mul"] and backward  # the mul gate's backward multiplies
    for out in ("grad x", "grad y", "grad z", "add_mul"):
        assert f'label="{out}"' in src
    values = re.findall(r'<FONT COLOR="' + RED + r'">([^<]*)</FONT>', src)
    assert "-4.00" in values and "3.00" in values  # df/dx, df/dy = -4 and df/dz = 3, as backward values


def test_show_backward_with_collapse_groups_backward_equations():
    rng = np.random.default_rng(1)
    args = (rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal((6, 4)),
            np.array([0, 1, 2, 0, 1, 2]))
    src = mg.graph(classifier, show_backward=True, collapse="log_softmax")(*args).source
    labels = gates(src)
    assert any(label.startswith("log_softmax\n(") for label in labels)
    assert any(label.startswith("log_softmax (backward)\n(") for label in labels)


def test_figures_in_docs_are_what_the_code_draws():
    sys.path.insert(0, os.path.join(ROOT, "docs"))
    try:
        import make_figures
    finally:
        sys.path.pop(0)
    for name, make in make_figures.FIGURES.items():
        with open(os.path.join(ROOT, "docs", f"{name}.dot")) as f:
            assert make().source == f.read(), f"docs/{name}.* are stale: run python docs/make_figures.py"
        for suffix in ("svg", "png"):
            assert os.path.exists(os.path.join(ROOT, "docs", f"{name}.{suffix}"))


def test_unknown_file_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match="cannot tell the format"):
        mg.graph(add_mul)(-2.0, 5.0, -4.0).save(tmp_path / "g.txt")


def test_jitted_calls_and_lambdas():
    def body(x):
        return mnp.sin(x) * x

    inner = mg.jit(body)
    g = mg.graph(lambda x: inner(x) + (lambda y: y * 2.0)(x), collapse=True)(2.0)
    assert gates(g.source) == ["jit body", "<lambda>\n(1 op)", "add"]
    assert np.isclose(g.grads[0], np.sin(2.0) + 2.0 * np.cos(2.0) + 2.0)


# ---------------------------------------------------------------------------------------------
# Forward mode: every wire's value above and its tangent (dual numbers) below

from hypothesis import given, settings  # noqa: E402

from minigrad_fn.graph import BLUE, fmt_lines  # noqa: E402
from programs import programs  # noqa: E402
from tracing import Var, tree_flatten  # noqa: E402

_TANGENT_WIRE = re.compile(r'<FONT COLOR="' + GREEN + r'">([^<]*)</FONT></TD></TR><HR/><TR><TD>(?:<FONT COLOR="'
                           + BLUE + r'">([^<]*)</FONT>)?')


def tangent_wires(source: str) -> list:
    """(value, tangent) written on every wire of a forward-mode picture, as text."""
    return [(v, t or None) for v, t in _TANGENT_WIRE.findall(source)]


def test_forward_mode_add_mul_slide():
    g = mg.graph(add_mul, tangents=(1.0, 0.0, 0.0))(-2.0, 5.0, -4.0)
    # x moves with speed 1, y and z stay: q = x + y moves with 1, f = q z with z * 1 = -4 = df/dx
    assert tangent_wires(g.source) == [("-2.00", "1.00"), ("5.00", "0.00"), ("-4.00", "0.00"),
                                       ("3.00", "1.00"), ("-12.00", "-4.00")]
    assert "tangents (blue) below" in g.source and RED not in g.source
    assert gates(g.source) == ["add", "mul"]
    assert g.value == -12.0 and g.tangent == -4.0
    # one tangent direction per input: the three columns of the 1 x 3 Jacobian, the lecture's gradients
    cols = [mg.graph(add_mul, tangents=t)(-2.0, 5.0, -4.0).tangent for t in ((1, 0, 0), (0, 1, 0), (0, 0, 1))]
    assert [float(c) for c in cols] == [-4.0, -4.0, 3.0]
    # the recording keeps every variable's tangent: q's is 1
    rec = g.recording
    q = rec.eqns[0].outvars[0]
    assert rec.names[q] == "a" and float(rec.tangent_of(q)) == 1.0


def test_forward_mode_defaults_to_ones():
    g = mg.graph(add_mul, mode="forward")(-2.0, 5.0, -4.0)
    assert float(g.tangent) == -4.0 + -4.0 + 3.0  # J @ ones: every input moved at once
    assert tangent_wires(g.source)[:3] == [("-2.00", "1.00"), ("5.00", "1.00"), ("-4.00", "1.00")]
    assert mg.graph(add_mul)(-2.0, 5.0, -4.0).tangent is None  # the backward view has no tangents


def test_forward_mode_sigmoid_neuron_matches_jvp():
    rng = np.random.default_rng(3)
    t = tuple(float(v) for v in rng.standard_normal(5))
    g = mg.graph(neuron, tangents=t)(*NEURON_ARGS)
    _, want = mg.jvp(neuron, NEURON_ARGS, t)
    assert np.isclose(g.tangent, want)
    assert tangent_wires(g.source)[-1] == ("0.73", fmt_number(want))
    assert gates(g.source) == ["mul", "mul", "add", "add", "neg", "exp", "add(1.00, ·)", "div(1.00, ·)"]
    # along w0 only: the output's tangent is df/dw0 = -0.20, the slide's number; the sigmoid as one gate agrees
    g0 = mg.graph(neuron, tangents=(1.0, 0.0, 0.0, 0.0, 0.0))(*NEURON_ARGS)
    assert fmt_number(g0.tangent) == "-0.20"
    one_gate = mg.graph(lambda w0, x0, w1, x1, w2: nn.sigmoid(w0 * x0 + w1 * x1 + w2), tangents=t)(*NEURON_ARGS)
    assert gates(one_gate.source)[-1] == "sigmoid" and np.isclose(one_gate.tangent, want)


def test_forward_mode_arrays_pytrees_and_integers():
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal((6, 4)),
            np.array([0, 1, 2, 0, 1, 2]))
    tangents = tuple(rng.standard_normal(a.shape) if a.dtype.kind == "f" else a for a in args)
    g = mg.graph(classifier, tangents=tangents, collapse="log_softmax")(*args)
    _, want = mg.jvp(classifier, args, tangents)
    assert np.isclose(g.tangent, want)
    assert any(label.startswith("log_softmax\n(") for label in gates(g.source))
    assert ("[0, 1, 2, 0, ...]", None) in tangent_wires(g.source)  # integer labels carry no tangent
    assert "f64[4,5]" in g.source and "norm" in g.source

    params = {"W": rng.standard_normal((2, 2)), "b": rng.standard_normal(2)}
    x = rng.standard_normal(2)
    t = ({"W": np.ones((2, 2)), "b": np.zeros(2)}, np.zeros(2))
    f = lambda p, x: mnp.tanh(p["W"] @ x + p["b"])  # noqa: E731
    gp = mg.graph(f, tangents=t)(params, x)
    assert np.allclose(gp.tangent, mg.jvp(f, (params, x), t)[1])
    assert gp.tangent.shape == (2,)


def test_forward_mode_jitted_call():
    inner = mg.jit(lambda x: mnp.sin(x) * x)
    g = mg.graph(lambda x: inner(x) + x * 2.0, tangents=(1.0,))(2.0)
    assert np.isclose(g.tangent, np.sin(2.0) + 2.0 * np.cos(2.0) + 2.0)


def test_forward_mode_bad_arguments():
    with pytest.raises(ValueError, match="show_backward"):
        mg.graph(add_mul, mode="forward", show_backward=True)
    with pytest.raises(ValueError, match="mode must be"):
        mg.graph(add_mul, mode="sideways")
    with pytest.raises(ValueError, match="mode='forward'"):
        mg.graph(add_mul, mode="reverse", tangents=(1.0, 0.0, 0.0))
    with pytest.raises(mg.ArgumentError, match="tangent"):
        mg.graph(lambda x: x * x, tangents=(np.ones(3),))(np.ones(2))
    with pytest.raises(mg.ArgumentError, match="3 primals but 2 tangents"):
        mg.graph(add_mul, tangents=(1.0, 0.0))(-2.0, 5.0, -4.0)


@settings(derandomize=True, database=None)  # the profile's example count (40 under "ci")
@given(programs())
def test_forward_mode_random_programs_match_jvp(program):
    """The tangent drawn on each output (the loss and several inner nodes) is `mg.jvp`'s."""
    xs = program.make_inputs()
    rng = np.random.default_rng(program.seed)
    ts = tuple(rng.standard_normal(x.shape).astype(x.dtype) for x in xs)

    def f(*a):
        return program.run_all(mnp, *a)

    g = mg.graph(f, tangents=ts)(*xs)
    _, want = mg.jvp(f, xs, ts)
    want = tree_flatten(want)[0]
    got = g.tangent if len(want) > 1 else [g.tangent]
    assert len(got) == len(want)
    for a, b in zip(got, want):
        b = np.asarray(b)
        tol = 1e-4 if b.dtype == np.float32 else 1e-9
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    rec = g.recording
    for v in rec.jaxpr.outvars:  # and it is what the picture writes on the output wires
        if type(v) is Var:
            assert "<BR/>".join(f'<FONT COLOR="{BLUE}">{s}</FONT>' for s in fmt_lines(rec.tangent_of(v))) in g.source


def test_forward_mode_figure_in_docs():
    with open(os.path.join(ROOT, "docs", "add_mul_forward.dot")) as f:
        assert "tangents (blue) below" in f.read()


@needs_dot
def test_forward_mode_renders_png(tmp_path):
    g = mg.graph(add_mul, tangents=(1.0, 0.0, 0.0))(-2.0, 5.0, -4.0)
    assert g.png().startswith(b"\x89PNG")
    svg = g.svg().replace("&#45;", "-")
    assert BLUE in svg and "-12.00" in svg and "-4.00" in svg
    assert os.path.getsize(g.save(tmp_path / "forward.png")) > 100


# ---------------------------------------------------------------------------------------------
# Readable pictures of real functions: index gates, plumbing in the wire, nn calls collapsed, no
# gradient drawn where none was computed, the layers view, tooltips, and the node/wire maps

import struct  # noqa: E402

from minigrad_fn.graph import GREY, NO_GRAD  # noqa: E402

_NODE = re.compile(r'^  ((?:g|w|in|out|const)\d+) \[label=', re.MULTILINE)


def gate_nodes(source: str) -> list:
    """(node id, label) of every gate drawn (circles, ellipses and boxes: not the plaintext inputs)."""
    return re.findall(r'^  (g\d+) \[label="([^"]*)", (?:shape="(?:circle|ellipse|box)"|color=)', source, re.MULTILINE)


def element_inputs(source: str) -> list:
    """The labels of the input-like nodes drawn for elements of an input (`w[0]`)."""
    return re.findall(r'^  g\d+ \[label="([^"]*)", shape="plaintext"', source, re.MULTILINE)


def statement(source: str, head: str) -> str:
    lines = [ln for ln in source.splitlines() if ln.strip().startswith(head + " [")]
    assert len(lines) == 1, (head, lines)
    return lines[0]


def wire_of(g, var) -> tuple:
    """(value, gradient) written on the wire of `var`, or None for no wire."""
    w = g.wire_of_var.get(var)
    if w is None:
        return None
    found = wires(statement(g.source, w))
    assert len(found) == 1
    return found[0]


def shows(g, var, x, color) -> bool:
    """Whether the wire of `var` writes `x` (all its lines) in `color`."""
    return "<BR/>".join(f'<FONT COLOR="{color}">{s}</FONT>' for s in fmt_lines(x)) in statement(
        g.source, g.wire_of_var[var])


def well_formed(source: str) -> None:
    """Every edge's ends are declared nodes (DOT would otherwise draw stray ellipses)."""
    declared = set(_NODE.findall(source))
    for a, b in re.findall(r'^  (\w+) -> (\w+)(?: \[|;)', source, re.MULTILINE):
        assert a in declared and b in declared, (a, b)


def png_size(g) -> tuple:
    data = g.png(dpi=96)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def slide_neuron(w, x):
    """The sigmoid neuron as the slide writes it, on arrays w (3,) and x (2,)."""
    return 1 / (1 + mnp.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))


W_SLIDE, X_SLIDE = np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0])
SLIDE_GATES = ["mul", "mul", "add", "add", "neg", "exp", "add(1.00, ·)", "div(1.00, ·)"]


def test_slide_neuron_on_arrays_is_the_slides_eight_gates():
    g = mg.graph(slide_neuron)(W_SLIDE, X_SLIDE)
    # each element is drawn as an input named as the code writes it; the gates are the slide's
    assert [label for _, label in gate_nodes(g.source)] == SLIDE_GATES
    assert sorted(element_inputs(g.source)) == ["w[0]", "w[1]", "w[2]", "x[0]", "x[1]"]
    rank = re.search(r"rank=source; ([^}]*?) g\d+ ->", g.source).group(1)
    labels = dict(re.findall(r'^  (g\d+) \[label="([^"]*)"', g.source, re.MULTILINE))
    assert [labels[n] for n in rank.rstrip(";").split("; ")] == ["w[0]", "x[0]", "w[1]", "x[1]", "w[2]"]
    assert 'label="w", shape' not in g.source and "in0" not in g.source  # w itself is drawn as its elements
    # on each element's wire, the slide's value and gradient (w: [-0.20, -0.39, 0.20], x: [0.39, -0.59])
    rec = g.recording
    by_label = {labels[g.node_of_eqn[i]]: e.outvars[0] for i, e in enumerate(rec.eqns)
                if labels[g.node_of_eqn[i]].startswith(("w[", "x["))}
    gw, gx = mg.grad(slide_neuron, argnums=(0, 1))(W_SLIDE, X_SLIDE)
    for name, value, grad in [("w[0]", 2.0, gw[0]), ("x[0]", -1.0, gx[0]), ("w[1]", -3.0, gw[1]),
                              ("x[1]", -2.0, gx[1]), ("w[2]", -3.0, gw[2])]:
        assert wire_of(g, by_label[name]) == (fmt_number(value), fmt_number(grad))
    assert [fmt_number(v) for v in gw] == ["-0.20", "-0.39", "0.20"]
    assert wires(g.source)[-1] == ("0.73", "1.00")
    # every equation is drawn by some node: the slice and squeeze of w[0] by the element w[0]
    assert sorted(g.node_of_eqn) == list(range(len(rec.eqns))) == list(range(18))
    # plumbing=True draws every equation: 18 gates, a slice and a squeeze per element, and w and x themselves
    raw = mg.graph(slide_neuron, plumbing=True)(W_SLIDE, X_SLIDE)
    raw_labels = [label for _, label in gate_nodes(raw.source)]
    assert len(raw_labels) == 18 and raw_labels.count("squeeze\ndimensions=(0,)") == 5
    assert sum(label.startswith("slice") for label in raw_labels) == 5
    assert 'label="w", shape="plaintext"' in raw.source and not element_inputs(raw.source)
    well_formed(g.source)
    well_formed(raw.source)


def index_gates(src):
    return [label for _, label in gate_nodes(src) if label.startswith("[")]


@pytest.mark.parametrize("fun,label", [
    (lambda x: (x * 2.0)[0], "[0]"),
    (lambda x: (x * 2.0)[:, 1], "[:, 1]"),
    (lambda x: (x * 2.0)[1:, ::-2], "[1:, ::-2]"),
    (lambda x: (x * 2.0)[-1, 3:0:-1], "[2, :0:-1]"),  # the same: indices as non-negative ones
    (lambda x: (x * 2.0)[None, 0], "[0, None]"),        # the same array as x[None, 0]
    (lambda x: (x * 2.0)[:, np.array([0, 2])], "[:, [0, 2]]"),
    (lambda x: (x * 2.0)[1:, [3, 0]], "[1:, [3, 0]]"),
])
def test_one_indexing_expression_is_one_index_gate(fun, label):
    x = np.arange(12.0).reshape(3, 4) / 7
    g = mg.graph(lambda x: mnp.sum(fun(x) * fun(x)))(x)
    assert index_gates(g.source) == [label, label]  # one gate per x[...] written, not per primitive
    plain = [label for _, label in gate_nodes(mg.graph(lambda x: mnp.sum(fun(x) * fun(x)), plumbing=True)(x).source)]
    assert len(plain) > len(gate_nodes(g.source))
    # the index gate's output wire carries what numpy's indexing gives, and its gradient
    rec = g.recording
    idx = [i for i, n in g.node_of_eqn.items() if n == next(n for n, lab in gate_nodes(g.source) if lab == label)]
    out = rec.eqns[max(idx)].outvars[0]
    expected = fun(x)
    assert np.array_equal(rec.env[out], expected)
    assert shows(g, out, expected, GREEN) and shows(g, out, rec.grad_of(out), RED)
    np.testing.assert_allclose(mg.grad(lambda x: mnp.sum(fun(x) * fun(x)))(x), g.grads[0])


def test_index_gates_follow_the_indexing_calls_not_the_primitives():
    x = np.arange(12.0).reshape(3, 4)
    # x[0][1] is two indexing expressions, x[0, 1] one: the same primitives (slices, squeezes), told apart
    # by the calls the equations were recorded in
    two = mg.graph(lambda x: (x * 2.0)[0][1] * 3.0)(x)
    one = mg.graph(lambda x: (x * 2.0)[0, 1] * 3.0)(x)
    assert index_gates(two.source) == ["[0]", "[1]"] and index_gates(one.source) == ["[0, 1]"]
    assert [c is not None for c in two.recording.index_calls].count(True) == 4
    # an indexing expression with a traced index array: the array is an operand of the gate
    i = np.array([2, 0])
    g = mg.graph(lambda x, i: mnp.sum(x[:, i] * 3.0))(x, i)
    assert index_gates(g.source) == ["[:, i]"]
    gate = next(n for n, lab in gate_nodes(g.source) if lab == "[:, i]")
    assert re.search(rf"w\d+ -> {gate} ", g.source)  # i's wire goes into the gate (as x's does)
    # an input used whole elsewhere keeps its node; its element is then an index gate
    mixed = mg.graph(lambda w: w[0] * mnp.sum(w))(W_SLIDE)
    assert index_gates(mixed.source) == ["[0]"] and 'label="w", shape="plaintext"' in mixed.source


def sq_norm(W, x):
    return mnp.sum((W @ x) ** 2)


def test_plumbing_is_hidden_in_the_wire():
    W, x = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    g = mg.graph(sq_norm, digits=3)(W, x)
    rec = g.recording
    prims = [e.prim.name for e in rec.eqns]
    assert prims.count("reshape") == 2  # x as a column for the matmul, and the result back to a vector
    assert [label for _, label in gate_nodes(g.source)] == ["dot", "pow y=2", "sum"]
    # the reshapes map to no node; the dot's own column output has no wire of its own
    assert {prims[i] for i in g.node_of_eqn} == {"dot_general", "integer_pow", "reduce_sum"}
    dot_out = rec.eqns[prims.index("dot_general")].outvars[0]
    q = rec.eqns[prims.index("reshape", prims.index("dot_general"))].outvars[0]
    assert dot_out not in g.wire_of_var and q in g.wire_of_var
    # the wire from the dot to the square carries q = W x as its consumer sees it, with grad 2q: the
    # lecture's numbers; x's wire carries x as given and its gradient as returned
    assert wire_of(g, q) == ("[0.220, 0.260]", "[0.440, 0.520]")
    assert re.search(rf"g0 -> {g.wire_of_var[q]} ", g.source)  # from the dot gate, past the hidden reshape
    assert wire_of(g, rec.jaxpr.invars[1]) == ("[0.200, 0.400]", "[-0.112, 0.636]")
    # and these gradients are the recording's, from its one backward pass
    for v in g.wire_of_var:
        if rec.has_grad(v):
            assert f'<FONT COLOR="{RED}">{fmt_lines(rec.grad_of(v), 3)[0]}</FONT>' in statement(g.source,
                                                                                          g.wire_of_var[v])
    shown = mg.graph(sq_norm, plumbing=True)(W, x)
    assert [label for _, label in gate_nodes(shown.source)].count("reshape\nto f64[2,1]") == 1
    assert len(shown.node_of_eqn) == len(rec.eqns) == 5


def test_broadcasts_of_one_value_and_float_conversions_are_plumbing():
    x = np.array([1.0, 2.0, 3.0])
    labels = np.array([0, 1, 1])

    def f(x, labels):
        s = mnp.broadcast_to(mnp.sum(x), (3,))              # a broadcast of one value
        return mnp.sum(s * x.astype(np.float32) * labels.astype(np.float64))

    g = mg.graph(f)(x, labels)
    prims = {e.prim.name for e in g.recording.eqns}
    assert {"broadcast_in_dim", "convert_element_type"} <= prims
    drawn = [label for _, label in gate_nodes(g.source)]
    assert not any(label.startswith("broadcast") for label in drawn)
    # float64 -> float32 is plumbing; integer -> float changes what the values are: a gate
    assert [label for label in drawn if label.startswith("convert")] == ["convert\nnew_dtype=float64"]
    np.testing.assert_allclose(g.grads[0], mg.grad(f)(x, labels))


def test_nn_functions_are_collapsed_by_default():
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((4, 5)), rng.standard_normal((5, 3)), rng.standard_normal((6, 4)),
            np.array([0, 1, 2, 0, 1, 2]))
    default = [label for _, label in gate_nodes(mg.graph(classifier)(*args).source)]
    assert default[:2] == ["dot", "relu = max(0, ·)\n(2 ops)"]
    assert default[2] == "dot" and default[3].startswith("softmax_cross_entropy\n(") and len(default) == 4
    everything = [label for _, label in gate_nodes(mg.graph(classifier, collapse=False)(*args).source)]
    assert "exp" in everything and "log" in everything and len(everything) > 10
    # a user-level function is not collapsed by default (only nn's), but is with collapse=True
    assert "layer\n(" not in " ".join(default)
    top = mg.graph(classifier, collapse=True)(*args).source
    assert any(label.startswith("layer\n(") for _, label in gate_nodes(top))
    with pytest.raises(ValueError, match="collapse must be"):
        mg.graph(classifier, collapse=3)


def test_values_without_a_computed_gradient_show_none():
    data = np.array([1.0, -2.0, 3.0])  # closed over: a constant of the program

    def f(w, k):
        z = w * data
        shift = mg.lax.stop_gradient(mnp.max(z)) * 0.5
        return mnp.sum(nn.relu(z - shift) * k)

    w, k = np.array([0.5, 0.5, -1.0]), np.array([1, 2, 3])
    g = mg.graph(f, collapse=False)(w, k)
    rec = g.recording
    const = rec.jaxpr.constvars[0]
    assert np.array_equal(rec.env[const], data)
    line = statement(g.source, g.wire_of_var[const])
    assert f'<FONT COLOR="{GREY}" POINT-SIZE="8">{NO_GRAD}</FONT>' in line and RED not in line
    # the integer input: no gradient, no note; the stopped maximum: no gradient was computed for it
    assert wire_of(g, rec.jaxpr.invars[1]) == ("[1, 2, 3]", None) and NO_GRAD not in statement(
        g.source, g.wire_of_var[rec.jaxpr.invars[1]])
    stopped = [e.outvars[0] for e in rec.eqns if e.prim.name in ("reduce_max", "stop_gradient")]
    for v in stopped:
        assert not rec.has_grad(v) and NO_GRAD in statement(g.source, g.wire_of_var[v])
    # relu's dead side: a zero that was computed is written (the select sent zeros back)
    z = rec.eqns[0].outvars[0]
    assert rec.has_grad(z) and wire_of(g, z) == ("[0.50, -1.00, -3.00]", "[1.00, 0.00, 0.00]")
    assert "0.00" in wire_of(g, rec.eqns[[e.prim.name for e in rec.eqns].index("select")].outvars[0])[0]
    assert wire_of(g, rec.jaxpr.invars[0]) == ("[0.50, 0.50, -1.00]", "[1.00, 0.00, 0.00]")
    # only float wires with a gradient carry red numbers
    for v, wire in g.wire_of_var.items():
        assert (RED in statement(g.source, wire)) == rec.has_grad(v)


def two_layer_loss(W1, b1, W2, b2, X, y, reg=1e-4):
    """The lecture's 2-layer net as the training command has it: softmax cross-entropy (a log-softmax)
    of W2 relu(W1 x + b1) + b2, plus L2 regularisation."""
    h = nn.relu(X @ W1 + b1)
    scores = h @ W2 + b2
    return nn.softmax_cross_entropy(scores, y) + reg * (mnp.sum(W1 ** 2) + mnp.sum(W2 ** 2))


def two_layer_args(n=32, d=64, hidden=64, classes=10):
    rng = np.random.default_rng(0)
    return (rng.standard_normal((d, hidden)) * 0.1, np.zeros(hidden), rng.standard_normal((hidden, classes)) * 0.1,
            np.zeros(classes), rng.standard_normal((n, d)), rng.integers(0, classes, n))


def test_layers_view_of_the_two_layer_net():
    args = two_layer_args()
    g = mg.graph(two_layer_loss, view="layers")(*args)
    labels = [label for _, label in gate_nodes(g.source)]
    assert labels[:3] == ["layer 1\ndot + add + relu", "layer 2\ndot + add", labels[2]]
    assert labels[2].startswith("softmax_cross_entropy\n(")
    assert labels[3] == "pow, sum, add, mul\n(7 ops)" and len(labels) == 4  # the L2 term and the final add
    assert set(g.node_of_eqn) == set(range(len(g.recording.eqns)))
    # the wire from layer 1 to layer 2 carries h: its shape, its norm and its gradient's norm
    W1, b1, W2, b2, X, y = args
    h = np.maximum(X @ W1 + b1, 0)
    grad_h = mg.grad(lambda h: nn.softmax_cross_entropy(h @ W2 + b2, y))(h)
    layer1, layer2 = (n for n, _ in gate_nodes(g.source)[:2])
    wire = re.search(rf"^  {layer1} -> (w\d+) ", g.source, re.MULTILINE).group(1)
    assert re.search(rf"^  {wire} -> {layer2} ", g.source, re.MULTILINE)
    line = statement(g.source, wire)
    assert "f64[32,64]" in line
    assert wires(line) == [(f"norm {fmt_number(np.linalg.norm(h))}", f"norm {fmt_number(np.linalg.norm(grad_h))}")]
    well_formed(g.source)
    with pytest.raises(ValueError, match="view must be"):
        mg.graph(two_layer_loss, view="blocks")


def test_layers_view_finds_a_hand_written_sigmoid_layer():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 5)), rng.standard_normal((8, 3))

    def loss(w1, w2):  # the lecture's numpy net: x and y closed over
        h = 1 / (1 + mnp.exp(-(x @ w1)))
        return mnp.sum((h @ w2 - y) ** 2)

    g = mg.graph(loss, view="layers")(rng.standard_normal((5, 4)), rng.standard_normal((4, 3)))
    assert [label for _, label in gate_nodes(g.source)] == [
        "layer 1\ndot + neg + exp + add + div", "layer 2\ndot", "sub, pow, sum\n(3 ops)"]


def test_node_and_wire_maps_name_what_the_picture_draws():
    for g in (mg.graph(slide_neuron)(W_SLIDE, X_SLIDE), mg.graph(sq_norm)(np.eye(2), np.ones(2)),
              mg.graph(two_layer_loss)(*two_layer_args()), mg.graph(two_layer_loss, view="layers")(*two_layer_args()),
              mg.graph(add_mul, show_backward=True)(-2.0, 5.0, -4.0),
              mg.graph(slide_neuron, tangents=(np.ones(3), np.zeros(2)))(W_SLIDE, X_SLIDE)):
        rec = g.recording
        declared = set(_NODE.findall(g.source))
        assert set(g.node_of_eqn.values()) <= declared and set(g.wire_of_var.values()) <= declared
        for i, node in g.node_of_eqn.items():  # each variable a gate makes leaves that gate on its wire
            for v in rec.eqns[i].outvars:
                if v in g.wire_of_var:
                    assert f"  {node} -> {g.wire_of_var[v]} [" in g.source
        for v, wire in g.wire_of_var.items():  # and the wire shows that variable's value
            shown = fmt_lines(rec.env[v], 2, 1 if "layer 1" in g.source else 4)
            assert f'">{shown[0]}</FONT>' in statement(g.source, wire)
    # plumbing maps to no node; every other equation to one
    g = mg.graph(sq_norm)(np.eye(2), np.ones(2))
    assert [e.prim.name for i, e in enumerate(g.recording.eqns) if i not in g.node_of_eqn] == ["reshape", "reshape"]


@pytest.mark.parametrize("name", ["dot", "graphviz-pure"])
def test_svg_tooltips_carry_whole_arrays(name, monkeypatch):
    import shutil
    if name == "dot" and shutil.which("dot") is None:
        pytest.skip("the system has no Graphviz")
    monkeypatch.setenv("MINIGRAD_FN_DOT", name)
    W = np.arange(6.0).reshape(2, 3) / 4
    big = np.arange(4000.0).reshape(40, 100)
    g = mg.graph(lambda W, big: mnp.sum(mnp.tanh(W) * 2.0) + mnp.sum(big * 1e-3))(W, big)
    assert "norm" in g.source  # the label shows W's norm, the tooltip its entries
    svg = g.svg()
    titles = [html.unescape(t) for t in re.findall(r'xlink:title="([^"]*)"', svg)]
    w_tip = next(t for t in titles if t.startswith("W: f64[2,3]"))
    grad = 2 / np.cosh(W) ** 2  # d/dW of 2 tanh(W), entry by entry
    rows = [", ".join(f"{v:.4g}" for v in row) for row in grad]
    assert w_tip.splitlines()[1:] == ["value [[0, 0.25, 0.5],", " [0.75, 1, 1.25]]",
                                      f"gradient [[{rows[0]}],", f" [{rows[1]}]]"]
    big_tip = next(t for t in titles if t.startswith("big: f64[40,100]"))
    assert "..." in big_tip and len(big_tip) < 2 * 330 + 40  # bounded: a few hundred characters per array


import html  # noqa: E402


@needs_dot
def test_two_layer_net_fits_a_screen():
    g = mg.graph(two_layer_loss)(*two_layer_args())
    labels = [label for _, label in gate_nodes(g.source)]
    assert labels[:5] == ["dot", "add", "relu = max(0, ·)\n(2 ops)", "dot", "add"] and len(labels) == 13
    width, height = png_size(g)
    assert width <= 1900 and height <= 1000, (width, height)  # it was 6,000 px wide, one gate per equation
    assert png_size(mg.graph(two_layer_loss, view="layers")(*two_layer_args()))[0] <= 1500
    neuron_width, _ = png_size(mg.graph(slide_neuron)(W_SLIDE, X_SLIDE))
    assert neuron_width <= 1600


@settings(derandomize=True, database=None, max_examples=15)
@given(programs())
def test_random_programs_draw_the_recordings_numbers(program):
    """With index gates, hidden plumbing and nn calls collapsed, every drawn wire shows its variable's
    value and the gradient of the one backward pass, every equation is drawn or hidden as plumbing, and
    the DOT text is well formed."""
    xs = program.make_inputs()
    g = mg.graph(lambda *a: program.run(mnp, *a))(*xs)
    rec = g.recording
    well_formed(g.source)
    drawn = set(g.node_of_eqn)
    from minigrad_fn.graph import is_plumbing
    assert all(i in drawn or is_plumbing(e) for i, e in enumerate(rec.eqns))
    for v, wire in g.wire_of_var.items():
        line = statement(g.source, wire)
        assert "".join(f'<FONT COLOR="{GREEN}">{s}</FONT>' for s in fmt_lines(rec.env[v])[:1]) in line
        if rec.has_grad(v):
            assert f'<FONT COLOR="{RED}">{fmt_lines(rec.grad_of(v))[0]}</FONT>' in line
        else:
            assert f'COLOR="{RED}"' not in line
    want = mg.grad(lambda *a: program.run(mnp, *a), argnums=tuple(range(len(xs))))(*xs)
    for a, b in zip(g.grads, want):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
