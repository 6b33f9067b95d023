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
    branch_labels = re.findall(r'w(\d+) -> g\d+ \[tailport="e", '
                               r'label=<<FONT COLOR="#cf222e">([^<]*)</FONT>>\]', src)
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
    full = mg.graph(classifier)(*args).source
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
