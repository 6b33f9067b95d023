"""minigrad_fn.motion: the backward pass played gate by gate (frames, HTML, GIF), the Jacobian heatmap and
forward beside reverse mode, checked in their content: which gate is highlighted, which gradients show,
the pixels of the GIF and of the heatmap, and the numbers against mg.vjp / mg.jvp / mg.jacfwd."""
import copy
import re
import shutil

import numpy as np
import pytest

from minigrad_fn.render import renderer

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import motion
from minigrad_fn.graph import BLUE, RED, Graph, fmt_number

needs_dot = pytest.mark.skipif(renderer() is None, reason="no Graphviz renderer (dot or graphviz-pure) is installed")


def add_mul(x, y, z):
    q = x + y
    return q * z


def neuron(w0, x0, w1, x1, w2):
    return 1 / (1 + mnp.exp(-(w0 * x0 + w1 * x1 + w2)))


NEURON_ARGS = (2.0, -1.0, -3.0, -2.0, -3.0)


def branchy(x, y):
    """x feeds two gates: its gradient adds up from two parts, drawn on the two branch wires."""
    return mnp.exp(x * y) + x


def red_texts(line: str) -> list:
    return re.findall(r'<FONT COLOR="' + RED + r'">([^<]*)</FONT>', line)


def statement(source: str, head: str) -> str:
    """The DOT line of a node (`w3`) or an edge (`w3 -> g1`)."""
    lines = [ln for ln in source.splitlines() if ln.strip().startswith(head + " [")]
    assert len(lines) == 1, (head, lines)
    return lines[0]


def expected_known(rec, k: int) -> set:
    """For a plain picture (one gate per equation), backprop has run equations n-1 ... n-1-k after frame k:
    a variable's gradient is whole once every equation that uses it has run."""
    n = len(rec.eqns)
    outs = set(rec.jaxpr.outvars)
    return {v for v in list(rec.jaxpr.invars) + [o for e in rec.eqns for o in e.outvars]
            if (v in outs or rec.consumers(v)) and all(i >= n - 1 - k for i, _ in rec.consumers(v))}


# ---------------------------------------------------------------------------------------------
# Frames

def test_one_frame_per_gate_last_equation_first():
    g = mg.graph(neuron)(*NEURON_ARGS)
    anim = motion.animate(g)
    gates = re.findall(r"^\s*(g\d+) \[label=", g.source, re.MULTILINE)
    assert len(anim) == len(gates) == len(g.recording.eqns) == 8
    nodes = motion.gate_nodes(g)
    for k, frame in enumerate(anim.frames):
        i = len(g.recording.eqns) - 1 - k
        assert frame.eqns == [i] and frame.node == nodes[i]
        # the highlight is the one statement added after the picture's own, and names that gate
        extra = frame.source.splitlines()[-2]
        assert extra.strip().startswith(f"{frame.node} [") and f'color="{RED}"' in extra
        assert frame.source.count(f'fillcolor="{motion.HIGHLIGHT_FILL}"') == 1
    # the div gate runs first, the first mul last (the labels of the gates the frames highlight)
    labels = [re.search(rf'^\s*{f.node} \[label="([^"]*)"', g.source, re.MULTILINE).group(1) for f in anim.frames]
    assert labels == ["div(1.00, ·)", "add(1.00, ·)", "exp", "neg", "add", "add", "mul", "mul"]


def test_the_fallback_maps_name_the_nodes_that_draw_each_value():
    g = mg.graph(neuron)(*NEURON_ARGS)
    rec = g.recording
    wires = motion.wire_nodes(g)
    assert len(wires) == 13  # 5 inputs and 8 gate outputs, each drawn on one wire
    for v, w in wires.items():
        assert f'<FONT COLOR="#1a7f37">{fmt_number(rec.env[v])}</FONT>' in statement(g.source, w)
    for i, node in motion.gate_nodes(g).items():  # each wire leaves the gate of the equation making it
        for v in rec.eqns[i].outvars:
            assert f"  {node} -> {wires[v]} [" in g.source
    if hasattr(g, "node_of_eqn"):  # where graph.py makes the maps itself, they agree on a plain picture
        assert (g.node_of_eqn, g.wire_of_var) == motion._fallback_maps(without_maps(g))


def test_graph_animate_delegates_to_motion():
    g = mg.graph(neuron)(*NEURON_ARGS)
    assert [f.source for f in g.animate().frames] == [f.source for f in motion.animate(g).frames]
    for name in ("animate", "jacobian_heatmap", "side_by_side"):
        assert getattr(mg, name) is getattr(motion, name)


@pytest.mark.parametrize("fun,args", [(add_mul, (-2.0, 5.0, -4.0)), (neuron, NEURON_ARGS), (branchy, (0.5, -1.5))])
def test_gradients_appear_when_backprop_reaches_them(fun, args):
    g = mg.graph(fun)(*args)
    rec = g.recording
    wires = motion.wire_nodes(g)
    nodes = motion.gate_nodes(g)
    _, pullback = mg.vjp(fun, *args)
    true_grads = pullback(1.0)
    for k, frame in enumerate(motion.animate(g).frames):
        known = expected_known(rec, k)
        assert frame.known == known
        for v, w in wires.items():
            shown = red_texts(statement(frame.source, w))
            assert shown == ([fmt_number(rec.grad_of(v))] if v in known else []), (k, rec.names[v])
        # each branch wire's own part appears once the gate it feeds has sent it back
        for i, e in enumerate(rec.eqns):
            for v in (v for v in e.invars if v in wires):
                head = f"{wires[v]} -> {nodes[i]} ["
                line = [ln for ln in frame.source.splitlines() if ln.strip().startswith(head)]
                if line and "label=" in line[0]:
                    assert bool(red_texts(line[0])) == (i >= len(rec.eqns) - 1 - k)
    # after the last frame every input shows its gradient, which is mg.vjp's
    last = motion.animate(g).frames[-1].source
    for v, d in zip(rec.jaxpr.invars, true_grads):
        assert red_texts(statement(last, wires[v])) == [fmt_number(d)]


def test_branch_parts_show_separately_then_add():
    g = mg.graph(branchy)(0.5, -1.5)
    frames = motion.animate(g).frames
    wire_x = motion.wire_nodes(g)[g.recording.jaxpr.invars[0]]
    # frame 0: the add gate ran: x's direct part (1.00) is on its branch wire, its total not yet known
    assert red_texts(statement(frames[0].source, wire_x)) == []
    parts = [red_texts(ln) for ln in frames[0].source.splitlines() if ln.strip().startswith(f"{wire_x} -> ")]
    assert sorted(parts) == [[], ["1.00"]]
    total = 1.0 + -1.5 * np.exp(0.5 * -1.5)
    assert red_texts(statement(frames[-1].source, wire_x)) == [fmt_number(total)]


def test_frame_text_is_the_gates_explain_row():
    frames = motion.animate(mg.graph(neuron)(*NEURON_ARGS)).frames
    assert frames[0].text[0].startswith("step 8: ") and "upstream 1.00" in frames[0].text[0]
    # the lecture's numbers: the second mul gate sends w1 -0.39 and x1 -0.59 (local = the other input)
    mul = "\n".join(frames[6].text)
    assert re.search(r"w1: downstream -0\.39 = local \(?[^\n]*-2\.00\)? x upstream 0\.20", mul)
    assert re.search(r"x1: downstream -0\.59 = local \(?[^\n]*-3\.00\)? x upstream 0\.20", mul)
    assert "mul switches" in mul


def test_equations_a_picture_hides_get_no_frame():
    """With a picture that maps some equations to no node (as graph.py's `node_of_eqn` may, for reshape
    plumbing), those get no frame, and the gradients past them appear with the gate that uses them."""
    W, x = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    g = mg.graph(lambda W, x: mnp.sum((W @ x) ** 2))(W, x)
    rec = g.recording
    prims = [e.prim.name for e in rec.eqns]
    assert "reshape" in prims
    view = copy.copy(g)
    view.node_of_eqn = {i: n for i, n in motion.gate_nodes(g).items() if prims[i] != "reshape"}
    view.wire_of_var = motion.wire_nodes(g)
    frames = motion.animate(view).frames
    assert len(frames) == len(prims) - prims.count("reshape")
    assert [prims[f.eqns[0]] for f in frames] == [p for p in reversed(prims) if p != "reshape"]
    assert not any("reshape" in line for f in frames for line in f.text)
    dot = next(f for f in frames if prims[f.eqns[0]] == "dot_general")
    x_var = rec.jaxpr.invars[1]
    assert x_var in dot.known  # x reaches its gradient through the hidden reshape, with the dot gate
    assert np.allclose(rec.grad_of(x_var), 2 * W.T @ (W @ x))


# ---------------------------------------------------------------------------------------------
# Rendering: SVG, HTML page, GIF

@needs_dot
def test_svg_frames_highlight_the_right_gate():
    g = mg.graph(add_mul)(-2.0, 5.0, -4.0)
    anim = motion.animate(g)
    for frame, svg in zip(anim.frames, anim.svgs()):
        groups = re.findall(r'<g id="node\d+" class="node">\s*<title>([^<]*)</title>(.*?)</g>', svg, re.S)
        lit = [title for title, body in groups if f'fill="{motion.HIGHLIGHT_FILL}"' in body]
        assert lit == [frame.node]
        assert 'stroke-width="3"' in dict(groups)[frame.node]


@needs_dot
def test_every_frame_highlights_a_node_with_an_outline():
    """Whatever the picture draws as plain text (an input's element `w[0]`, where graph.py draws one) gets no
    frame of its own: each frame's highlight is visible."""
    g = mg.graph(lambda w, x: 1 / (1 + mnp.exp(-(w[0] * x[0] + w[1] * x[1] + w[2]))))(
        np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0]))
    anim = motion.animate(g)
    for frame, svg in zip(anim.frames, anim.svgs()):
        groups = re.findall(r'<g id="node\d+" class="node">\s*<title>([^<]*)</title>(.*?)</g>', svg, re.S)
        assert [title for title, body in groups if f'fill="{motion.HIGHLIGHT_FILL}"' in body] == [frame.node]
    text = "\n".join(line for f in anim.frames for line in f.text)
    assert re.search(r"downstream 0\.39 = local [^\n]*2\.00", text)  # what the mul gate sends x0: the slide's 0.39
    assert np.allclose(g.grads[0], [-0.20, -0.39, 0.20], atol=0.005)


@needs_dot
def test_html_page_has_every_frame_and_a_slider(tmp_path):
    anim = motion.animate(mg.graph(neuron)(*NEURON_ARGS))
    page = anim.html()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == len(anim) == 8
    slider = re.findall(r'<input type="range" min="0" max="(\d+)"', page)
    assert slider == [str(len(anim) - 1)]
    assert page.count('data-step="-1"') == 1 and page.count('data-step="1"') == 1 and "<script>" in page
    assert re.search(r"w1: downstream -0\.39 = local [^\n]*-2\.00\)? x upstream 0\.20", page)
    assert "<?xml" not in page and anim._repr_html_().count("<svg") == 8
    path = anim.save(tmp_path / "neuron.html")
    assert open(path, encoding="utf-8").read() == page


@needs_dot
def test_gif_has_one_frame_per_gate_and_the_highlight_moves_back(tmp_path):
    from PIL import Image
    anim = motion.animate(mg.graph(neuron)(*NEURON_ARGS))
    path = anim.save(tmp_path / "neuron.gif", dpi=60, duration=500)
    im = Image.open(path)
    assert im.format == "GIF" and im.n_frames == len(anim) == 8
    centres = []
    fill = np.array([0xff, 0xeb, 0xe9])
    for k in range(im.n_frames):
        im.seek(k)
        rgb = np.asarray(im.convert("RGB")).astype(int)
        lit = np.argwhere(np.abs(rgb - fill).sum(axis=2) <= 6)
        assert len(lit) > 100, k  # the highlighted gate's fill
        centres.append(lit[:, 1].mean())
    # backprop runs right to left: the highlighted gate moves left, frame by frame (the two muls share a column)
    assert all(a >= b - 5 for a, b in zip(centres, centres[1:])) and centres[0] > centres[-1] + 200
    with pytest.raises(ValueError, match="gif or .html"):
        anim.save(tmp_path / "neuron.mp4")


# ---------------------------------------------------------------------------------------------
# Bad input

def without_maps(g):
    """The picture as a Graph without node_of_eqn/wire_of_var (as graph.py drew them before it had them)."""
    old = copy.copy(g)
    for name in ("node_of_eqn", "wire_of_var"):
        old.__dict__.pop(name, None)
    return old


def test_animate_refuses_what_it_cannot_play():
    with pytest.raises(mg.ArgumentError, match="mg.graph"):
        motion.animate(add_mul)
    with pytest.raises(mg.MinigradError, match="forward-mode"):
        motion.animate(mg.graph(add_mul, tangents=(1.0, 0.0, 0.0))(-2.0, 5.0, -4.0))
    # without the picture's own maps, only a plain picture can be animated (the fallback says so)
    collapsed = mg.graph(lambda x: mg.nn.log_softmax(x), collapse=True)(np.array([1.0, 2.0, 0.5]))
    with pytest.raises(mg.MinigradError, match="collapse"):
        motion.animate(without_maps(collapsed))
    plain = mg.graph(add_mul)(-2.0, 5.0, -4.0)
    assert [f.source for f in motion.animate(without_maps(plain)).frames] == \
        [f.source for f in motion.animate(plain).frames]


# ---------------------------------------------------------------------------------------------
# Jacobian heatmap

def _cell_colour(picture, i, j):
    """The RGB colour inside cell (i, j) of the heatmap as drawn."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    fig = picture.figure
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    ax = fig.axes[0]
    px, py = ax.transData.transform((j, i + 0.35))  # below the centre, clear of the number written there
    return rgba[int(round(rgba.shape[0] - py)), int(round(px)), :3].astype(int)


def test_elementwise_jacobian_is_diagonal():
    x = np.array([-1.5, -0.5, 0.0, 0.4, 1.2])
    pic = motion.jacobian_heatmap(mnp.tanh)(x)
    shown = np.asarray(pic.figure.axes[0].images[0].get_array())
    assert shown.shape == (5, 5)
    assert np.array_equal(shown, np.diag(np.diag(shown)))
    assert np.allclose(shown, mg.jacfwd(mnp.tanh)(x)) and np.allclose(np.diag(shown), 1 - np.tanh(x) ** 2)
    norm = pic.figure.axes[0].images[0].norm
    assert norm.vmin == -norm.vmax  # diverging map centred at zero
    white, red = _cell_colour(pic, 0, 1), _cell_colour(pic, 2, 2)
    assert (white > 235).all()  # off the diagonal: zero, the map's white centre
    assert red[0] > red[1] + 50 and red[0] > red[2] + 50  # the largest positive entry: red
    labels = [t.get_text() for t in pic.figure.axes[0].get_xticklabels()]
    assert "x[0]" in labels and "x[4]" in labels
    assert pic.png()[:8] == b"\x89PNG\r\n\x1a\n"


def test_linear_map_jacobians_w_and_x():
    W = np.array([[0.1, 0.5, -0.2], [-0.3, 0.8, 0.4]])
    x = np.array([0.2, 0.4, -1.0])

    def linear(W, x):
        return W @ x

    by_W = motion.jacobian_heatmap(linear, argnums=0)(W, x)
    m, n = W.shape
    assert by_W.jacobian.shape == (m, m, n) and by_W.matrix.shape == (m, m * n)
    assert np.allclose(by_W.jacobian, mg.jacfwd(linear, argnums=0)(W, x))
    for i in range(m):  # output i depends on row i of W only, through x
        block = by_W.matrix[i].reshape(m, n)
        assert np.allclose(block[i], x) and np.allclose(np.delete(block, i, axis=0), 0)
    ax = by_W.figure.axes[0]
    assert "flattened row-major" in ax.get_xlabel() and "(2, 3)" in ax.get_xlabel()
    assert "W[1,0]" in [t.get_text() for t in ax.get_xticklabels()]
    by_x = motion.jacobian_heatmap(linear, argnums=1)(W, x)
    assert np.allclose(by_x.matrix, W)
    positive, negative = _cell_colour(by_x, 1, 1), _cell_colour(by_x, 1, 0)  # W[1,1] = 0.8, W[1,0] = -0.3
    assert positive[0] > positive[2] + 50 and negative[2] > negative[0] + 30


def test_jacobian_heatmap_bad_input(tmp_path):
    with pytest.raises(mg.ArgumentError, match="argnums"):
        motion.jacobian_heatmap(mnp.tanh, argnums=(0, 1))
    with pytest.raises(mg.ArgumentError, match="argnums=2"):
        motion.jacobian_heatmap(lambda a, b: a * b, argnums=2)(1.0, 2.0)
    with pytest.raises(mg.ArgumentError, match="one array argument"):
        motion.jacobian_heatmap(lambda p: p["w"] * 2)({"w": np.ones(2)})
    with pytest.raises(mg.ArgumentError, match="one array output"):
        motion.jacobian_heatmap(lambda x: (x, 2 * x))(np.ones(2))
    with pytest.raises(ValueError, match=r"\.png"):
        motion.jacobian_heatmap(mnp.tanh)(np.ones(2)).save(tmp_path / "j.bmp")


# ---------------------------------------------------------------------------------------------
# Forward beside reverse

@needs_dot
def test_side_by_side_shows_both_modes_with_the_right_numbers(tmp_path):
    both = motion.side_by_side(add_mul, (1.0, 0.0, 0.0))(-2.0, 5.0, -4.0)
    page = both.html()
    assert page.count("<svg") == 2
    forward_svg, reverse_svg = page.split("<svg")[1:]
    assert f'fill="{BLUE}"' in forward_svg and f'fill="{RED}"' not in forward_svg
    assert f'fill="{RED}"' in reverse_svg and f'fill="{BLUE}"' not in reverse_svg.split("</svg>")[0]
    _, tangent = mg.jvp(add_mul, (-2.0, 5.0, -4.0), (1.0, 0.0, 0.0))
    assert both.tangent == tangent == -4.0
    assert [float(d) for d in both.grads] == [float(d) for d in mg.grad(add_mul, argnums=(0, 1, 2))(-2.0, 5.0, -4.0)]
    assert "J v = -4.00" in both.caption and "column" in both.caption and "row" in both.caption
    assert "x: -4.00, y: -4.00, z: 3.00" in both.caption
    assert open(both.save(tmp_path / "both.html"), encoding="utf-8").read() == page


def test_side_by_side_with_arrays_matches_jvp(tmp_path):
    W, x = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    tangents = (np.zeros((2, 2)), np.array([0.0, 1.0]))
    both = motion.side_by_side(lambda W, x: mnp.tanh(W @ x), tangents)(W, x)
    _, expected = mg.jvp(lambda W, x: mnp.tanh(W @ x), (W, x), tangents)
    assert np.allclose(both.tangent, expected)
    assert "the sum of J's rows" in both.caption and "2 x 6" in both.caption
    with pytest.raises(ValueError, match="html"):
        both.save(tmp_path / "both.svg")
