"""Backprop as motion, and Jacobians as pictures.

`animate(mg.graph(f)(*args))` (also `Graph.animate()`) plays the backward pass gate by gate: frame k
highlights the k-th gate in reverse program order (last equation first, as backprop runs), shows the
gradients known so far (a wire's red number appears once every gate it feeds has sent its part back) and,
under the picture, that gate's `mg.explain` row: downstream = local x upstream. It plays in Jupyter (a
slider), and saves as a self-contained HTML page or a GIF.

`jacobian_heatmap(f, argnums)(*args)` draws the Jacobian of f's output with respect to one argument as a
matrix (output entries down, input entries across), coloured by a diverging map centred at zero.

`side_by_side(f, tangents)(*args)` puts the forward-mode picture (tangents, blue) beside the reverse-mode
one (gradients, red) of the same function, with a caption relating them.

Every frame is the picture's own DOT text with a few lines changed or appended, rendered through
`Graph.svg()`/`Graph.png()`; which DOT node draws which equation comes from the picture
(`Graph.node_of_eqn`, `Graph.wire_of_var`), or, for pictures without them, from `_fallback_maps`.
"""
from __future__ import annotations

import copy
import html
import io
import itertools
import os
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from tracing import ArgumentError, MinigradError, Var, aval_of, tree_flatten
from tracing.api import arg_name

from .graph import BLUE, RED, Graph, _units, fmt_value, graph

HIDDEN = "#ffffff"       # a gradient not known yet: drawn in the background colour, so frames keep one layout
HIGHLIGHT_FILL = "#ffebe9"


# ---------------------------------------------------------------------------------------------
# Which DOT node draws which equation and which variable

def gate_nodes(g: Graph) -> dict:
    """Equation index -> the DOT node id of the gate drawing it (absent for equations not drawn)."""
    mapping = getattr(g, "node_of_eqn", None)
    return dict(mapping) if mapping is not None else _fallback_maps(g)[0]


def wire_nodes(g: Graph) -> dict:
    """Variable -> the DOT node id of the label on its wire (absent for variables with no wire drawn)."""
    mapping = getattr(g, "wire_of_var", None)
    return dict(mapping) if mapping is not None else _fallback_maps(g)[1]


_NODE_LINE = re.compile(r"^\s*([gw]\d+) \[", re.MULTILINE)


def _fallback_maps(g: Graph) -> tuple[dict, dict]:
    """FALLBACK, until `graph.Graph` carries `node_of_eqn` and `wire_of_var`: the same mapping worked out
    again from graph.py's current drawing rules for a plain picture (no collapse, not the backward view):
    gate `g{u}` per unit of `_units`, and wire `w{n}`, n counting the inputs, the constants, then each
    unit's outputs, of the variables drawn with a wire (used by another node, or an output). Checked
    against the node ids in the DOT text; a picture drawn another way is refused."""
    rec = g.recording
    jaxpr = rec.jaxpr
    units, unit_of = _units([None] * len(rec.eqns))
    node_of_eqn = {i: f"g{unit_of[i]}" for i in range(len(rec.eqns))}
    order = list(jaxpr.invars) + list(jaxpr.constvars)
    order += [v for members in units for i in members for v in rec.eqns[i].outvars]
    made_by = {v: node_of_eqn[i] for i, e in enumerate(rec.eqns) for v in e.outvars}
    outs = {v for v in jaxpr.outvars if type(v) is Var}
    uses = _uses(rec)
    wire_of_var = {}
    for n, v in enumerate(dict.fromkeys(order)):
        used_elsewhere = any(node_of_eqn[i] != made_by.get(v) for i in uses.get(v, ()))
        if used_elsewhere or v in outs:
            wire_of_var[v] = f"w{n}"
    drawn = set(_NODE_LINE.findall(g.source))
    if drawn != set(node_of_eqn.values()) | set(wire_of_var.values()):
        raise MinigradError(
            "animate: cannot tell which node of this picture draws which equation (was it drawn with "
            "collapse= or show_backward=True?)",
            "Animate a plain picture, mg.graph(f)(*args).animate(); the other views need a picture that "
            "carries node_of_eqn and wire_of_var.", where="")
    return node_of_eqn, wire_of_var


def _uses(rec) -> dict:
    """Variable -> the indices of the equations that use it (once per equation)."""
    uses: dict = {}
    for i, e in enumerate(rec.eqns):
        for v in dict.fromkeys(v for v in e.invars if type(v) is Var):
            uses.setdefault(v, []).append(i)
    return uses


# ---------------------------------------------------------------------------------------------
# The backward pass as frames

@dataclass
class Frame:
    """One step of the backward pass: the gate `node` (drawing equations `eqns`) runs; `known` holds the
    variables whose whole gradient is known once it has, `source` the frame's DOT text and `text` its
    explain rows."""
    index: int
    node: str
    eqns: list
    source: str
    text: list = field(default_factory=list)
    known: set = field(default_factory=set)


def _schedule(rec, node_of_eqn: dict) -> tuple[list, list]:
    """The drawn gates in the order backprop runs them (by their last equation, last first), and for
    every equation the frame at which its backward runs: its gate's frame, or, for an equation not drawn,
    right after the last of its outputs' consumers (-1: before the first frame)."""
    last = {}
    for i, node in node_of_eqn.items():
        last[node] = max(last.get(node, -1), i)
    order = sorted(last, key=lambda node: -last[node])
    frame_of = {node: k for k, node in enumerate(order)}
    uses = _uses(rec)
    time = [-1] * len(rec.eqns)
    for i in reversed(range(len(rec.eqns))):
        if i in node_of_eqn:
            time[i] = frame_of[node_of_eqn[i]]
        else:
            time[i] = max((time[j] for v in rec.eqns[i].outvars for j in uses.get(v, ())), default=-1)
    return order, time


def _text_nodes(source: str) -> set:
    """The nodes the DOT text draws as plain text (no outline to highlight)."""
    return {m.group(1) for m in re.finditer(r"^\s*(\w+) \[(.*)$", source, re.MULTILINE)
            if 'shape="plaintext"' in m.group(2)}


def _page(title: str, body: str) -> str:
    """A self-contained HTML page (`title` already escaped)."""
    return (f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n<body>\n'
            f"{body}\n</body></html>\n")


def _frame_source(source: str, hidden: set, highlight: str) -> str:
    """The picture's DOT text with the red numbers of the statements in `hidden` (node ids, and
    `a -> b` for edges) drawn in the background colour, and the gate `highlight` drawn in red."""
    lines = source.rstrip().split("\n")
    if not lines or lines[-1].strip() != "}":
        raise ValueError("animate: the picture's DOT text does not end with '}'")
    body = []
    for line in lines[:-1]:
        head = " ".join(line.split(" [", 1)[0].split())
        if head in hidden:  # not reached yet: no red number, and no gradient in the hover text either
            line = line.replace(f'COLOR="{RED}"', f'COLOR="{HIDDEN}"')
            line = re.sub(r'&#10;gradient [^"]*', "", line)
        body.append(line)
    body.append(f'  {highlight} [color="{RED}", penwidth=3, fillcolor="{HIGHLIGHT_FILL}"];')
    return "\n".join(body + ["}"]) + "\n"


def _row_text(table, row) -> list:
    """One `mg.explain` row as lines: the equation, its value and upstream gradient, then per operand
    downstream = local x upstream (the local gradient as the table writes it: a number, a formula and its
    number, or words)."""
    fmt = table.fmt
    lines = [f"step {row.step}: {row.equation}   value {fmt(row.value)}   upstream {fmt(row.upstream)}"]
    for op in row.operands:
        local = table.fmt_local(op) if hasattr(table, "fmt_local") else fmt(op.local)
        if op.downstream is None:
            lines.append(f"  {op.name}: no gradient flows back")
        elif isinstance(op.local, str):
            lines.append(f"  {op.name}: downstream {fmt(op.downstream)}  (local: {local})")
        else:
            local = f"({local})" if " " in local else local
            lines.append(f"  {op.name}: downstream {fmt(op.downstream)} = local {local} x upstream {fmt(row.upstream)}")
    if row.pattern:
        lines.append(f"  {row.pattern}")
    return lines


def _frames(g: Graph) -> list:
    from .explain import explain
    rec = g.recording
    if rec.tangents is not None:
        raise MinigradError("animate: this is a forward-mode picture (tangents); animate plays the backward pass",
                            "Animate the reverse-mode picture: mg.graph(f)(*args).animate().", where="")
    wire_of_var = wire_nodes(g)
    # a node drawn as plain text is an input's element (`w[0]`), not a gate: its backward (the gradient
    # put back into the input) runs with the gate that uses it
    text_nodes = _text_nodes(g.source)
    node_of_eqn = {i: n for i, n in gate_nodes(g).items() if n not in text_nodes}
    if not node_of_eqn:
        raise MinigradError(f"animate: the picture of {rec.name} has no gates to play",
                            "Animate a function that computes something from its inputs.", where="")
    order, time = _schedule(rec, node_of_eqn)
    table = explain(rec.fun)(*rec.args) if rec.fun is not None else None
    rows = {r.step: r for r in table.rows} if table is not None else {}
    outs = {v for v in rec.jaxpr.outvars if type(v) is Var}
    # the frame after which a wire's gradient is whole: when the last gate using it has run
    uses = _uses(rec)
    whole = {v: max((time[i] for i in uses.get(v, ())), default=-1) for v in wire_of_var
             if v in outs or v in uses}
    frames = []
    for k, node in enumerate(order):
        known = {v for v, t in whole.items() if t <= k}
        hidden = {w for v, w in wire_of_var.items() if v not in known}
        # a branch's wires each carry the part their consumer sent back: hidden until it has run
        hidden |= {f"{wire_of_var[v]} -> {node_of_eqn[i]}" for i, e in enumerate(rec.eqns)
                   if i in node_of_eqn and time[i] > k for v in e.invars if type(v) is Var and v in wire_of_var}
        members = sorted((i for i, n in node_of_eqn.items() if n == node), reverse=True)
        text = [line for i in members if i + 1 in rows for line in _row_text(table, rows[i + 1])]
        frames.append(Frame(k, node, members, _frame_source(g.source, hidden, node), text, known))
    return frames


class Animation:
    """The backward pass of a picture, one frame per gate (last equation first): `.frames`, `.svgs()`,
    `.html()`, `.save("x.gif" | "x.html")`; plays inline in Jupyter with a slider."""

    _ids = itertools.count()

    def __init__(self, picture: Graph, frames: list):
        self.picture = picture
        self.frames = frames
        self._svgs: list | None = None
        self._uid = f"mg-anim-{os.getpid()}-{next(Animation._ids)}"

    def __len__(self):
        return len(self.frames)

    def _render(self, frame: Frame) -> Graph:
        """The frame as a picture, so it renders through the Graph's own path."""
        view = copy.copy(self.picture)
        view.source = frame.source
        return view

    def svgs(self) -> list:
        """Every frame as SVG text (rendered once)."""
        if self._svgs is None:
            self._svgs = [self._render(f).svg() for f in self.frames]
        return self._svgs

    def pngs(self, dpi: int = 96) -> list:
        """Every frame as PNG bytes (the picture only, without the text)."""
        return [self._render(f).png(dpi) for f in self.frames]

    def _fragment(self) -> str:
        """The frames and their controls as an HTML fragment: with JavaScript one frame shows at a time
        (slider, prev/next); without it (an untrusted notebook) every frame shows, one under the other."""
        n, uid = len(self.frames), self._uid
        parts = [f'<div id="{uid}" class="mg-animation" style="font-family:Helvetica,sans-serif">',
                 f'<div class="mg-controls"><button type="button" data-step="-1">&#9664; prev</button> '
                 f'<input type="range" min="0" max="{n - 1}" value="0" step="1" style="width:16em"> '
                 f'<button type="button" data-step="1">next &#9654;</button> '
                 f'<span class="mg-label">backward pass: gate 1 of {n}</span></div>']
        for frame, svg in zip(self.frames, self.svgs()):
            parts.append(f'<div class="mg-frame" data-frame="{frame.index}">{_inline_svg(svg)}'
                         f'<pre style="margin:0.3em 0 1em 0">{html.escape(chr(10).join(frame.text))}</pre></div>')
        parts.append("</div>")
        parts.append(f"""<script>
(function () {{
  var root = document.getElementById("{uid}");
  var frames = root.querySelectorAll(".mg-frame"), slider = root.querySelector("input");
  var label = root.querySelector(".mg-label");
  function show(k) {{
    k = Math.max(0, Math.min(frames.length - 1, k));
    slider.value = k;
    frames.forEach(function (f, i) {{ f.style.display = i === k ? "" : "none"; }});
    label.textContent = "backward pass: gate " + (k + 1) + " of " + frames.length;
  }}
  slider.addEventListener("input", function () {{ show(+slider.value); }});
  root.querySelectorAll("button").forEach(function (b) {{
    b.addEventListener("click", function () {{ show(+slider.value + (+b.dataset.step)); }});
  }});
  show(0);
}})();
</script>""")
        return "\n".join(parts)

    def html(self) -> str:
        """A self-contained HTML page: every frame's SVG inlined, a slider and prev/next buttons."""
        title = html.escape(f"backprop through {self.picture.recording.name}, gate by gate")
        return _page(title, f"<h3>{title}</h3>\n{self._fragment()}")

    def _repr_html_(self):
        return self._fragment()

    def gif(self, dpi: int = 96, duration: int = 1500) -> bytes:
        """The frames as an animated GIF: each picture rendered to PNG, padded to the largest, with its
        explain rows written under it; `duration` milliseconds per frame, looping."""
        from PIL import Image, ImageDraw, ImageFont
        pictures = [Image.open(io.BytesIO(png)).convert("RGB") for png in self.pngs(dpi)]
        try:
            font = ImageFont.load_default(size=max(10, round(14 * dpi / 96)))
        except TypeError:  # Pillow before 10.1: one small bitmap font
            font = ImageFont.load_default()
        line_height = round((font.getbbox("Ag")[3] - font.getbbox("Ag")[1]) * 1.6)
        widths = [font.getlength(line) for f in self.frames for line in f.text] or [0]
        text_lines = max(len(f.text) for f in self.frames)
        width = max(max(p.width for p in pictures), int(max(widths)) + 20)
        height = max(p.height for p in pictures) + text_lines * line_height + (12 if text_lines else 0)
        images = []
        for frame, picture in zip(self.frames, pictures):
            canvas = Image.new("RGB", (width, height), "white")
            canvas.paste(picture, ((width - picture.width) // 2, 0))
            draw = ImageDraw.Draw(canvas)
            top = max(p.height for p in pictures) + 6
            for n, line in enumerate(frame.text):
                draw.text((10, top + n * line_height), line, fill="black", font=font)
            images.append(canvas)
        out = io.BytesIO()
        images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0,
                       optimize=False)
        return out.getvalue()

    def save(self, path: str | os.PathLike, dpi: int = 96, duration: int = 1500) -> str:
        """Write the animation to `path`: a GIF (.gif) or a self-contained HTML page (.html)."""
        path = os.fspath(path)
        fmt = os.path.splitext(path)[1].lstrip(".").lower()
        if fmt == "gif":
            data = self.gif(dpi, duration)
        elif fmt in ("html", "htm"):
            data = self.html().encode("utf-8")
        else:
            raise ValueError(f"Animation.save: cannot tell the format from {path!r}: use a .gif or .html file name")
        with open(path, "wb") as out:
            out.write(data)
        return path

    def __repr__(self):
        return f"<Animation of backprop through {self.picture.recording.name}: {len(self.frames)} frames>"


def animate(picture: Graph) -> Animation:
    """The backward pass of `picture` (`mg.graph(f)(*args)`) as an animation, one frame per gate, last
    equation first; each frame shows the gradients known so far and the gate's explain row."""
    if not isinstance(picture, Graph):
        raise ArgumentError(f"animate: expected a picture made by mg.graph(f)(*args), got {type(picture).__name__}",
                            "Draw it first: mg.animate(mg.graph(f)(*args)), or mg.graph(f)(*args).animate().",
                            where="")
    return Animation(picture, _frames(picture))


_COMMENT = re.compile(r"<!--.*?-->\n?", re.S)


def _inline_svg(svg: str) -> str:
    """An SVG document without its XML prologue, doctype and comments, to inline in HTML."""
    start = svg.find("<svg")
    return _COMMENT.sub("", svg[start:] if start >= 0 else svg)


# ---------------------------------------------------------------------------------------------
# The Jacobian as a heatmap

class JacobianPicture:
    """The Jacobian of a function's output with respect to one argument as a heatmap: `.matrix` (the
    Jacobian flattened to 2-D: output entries down, input entries across, both row-major), `.jacobian`
    (shape out.shape + in.shape), `.figure` (a matplotlib Figure), `.png()`, `.svg()`, `.save(path)`;
    shows itself in Jupyter."""

    def __init__(self, jacobian: np.ndarray, out_name: str, out_shape: tuple, in_name: str, in_shape: tuple,
                 figure):
        self.jacobian = jacobian
        self.matrix = jacobian.reshape(int(np.prod(out_shape)), int(np.prod(in_shape)))
        self.out_name, self.out_shape = out_name, out_shape
        self.in_name, self.in_shape = in_name, in_shape
        self.figure = figure

    def _print(self, fmt: str, dpi: int = 96) -> bytes:
        out = io.BytesIO()
        self.figure.savefig(out, format=fmt, dpi=dpi, bbox_inches="tight")
        return out.getvalue()

    def png(self, dpi: int = 96) -> bytes:
        """The heatmap as PNG bytes."""
        return self._print("png", dpi)

    def svg(self) -> str:
        """The heatmap as SVG text."""
        return self._print("svg").decode("utf-8")

    def save(self, path: str | os.PathLike, dpi: int = 96) -> str:
        """Write the heatmap to `path`; the suffix picks the format (.png, .svg, .pdf)."""
        path = os.fspath(path)
        fmt = os.path.splitext(path)[1].lstrip(".").lower()
        if fmt not in ("png", "svg", "pdf"):
            raise ValueError(f"JacobianPicture.save: cannot tell the format from {path!r}: "
                             "use a .png, .svg or .pdf file name")
        with open(path, "wb") as out:
            out.write(self._print(fmt, dpi))
        return path

    def _repr_png_(self):
        return self.png()

    def __repr__(self):
        return (f"<Jacobian of {self.out_name} {self.out_shape} w.r.t. {self.in_name} {self.in_shape}: "
                f"{self.matrix.shape[0]} x {self.matrix.shape[1]} matrix>")


def _index_text(name: str, shape: tuple, flat: int) -> str:
    """`W[1,0]` for flat index 2 of a (2, 2) array; the name alone for a scalar."""
    if not shape:
        return name
    return f"{name}[{','.join(map(str, np.unravel_index(flat, shape)))}]"


def jacobian_heatmap(fun: Callable, argnums: int = 0, *, annotate: bool | None = None, digits: int = 2,
                     cmap: str = "RdBu_r") -> Callable[..., JacobianPicture]:
    """`jacobian_heatmap(f, argnums=0)(*args)`: the Jacobian of f's output with respect to argument
    `argnums` (computed by `mg.jacfwd`), flattened to a matrix (row i: output entry i, column j: input
    entry j, both in row-major order) and drawn with a diverging colour map centred at zero (red positive,
    blue negative, white zero); the axes say which entry is which. `annotate` writes each entry's value
    in its cell (by default when the matrix has at most 12 x 12 entries)."""
    from .forward import jacfwd
    if not isinstance(argnums, int) or isinstance(argnums, bool):
        raise ArgumentError(f"jacobian_heatmap: argnums must be one argument's position (an int), got {argnums!r}",
                            "Draw one heatmap per argument.", where="")
    name = getattr(fun, "__name__", "f")
    name = "f" if name == "<lambda>" else name

    def draw(*args) -> JacobianPicture:
        what = f"jacobian_heatmap({name})"
        if not -len(args) <= argnums < len(args):
            raise ArgumentError(f"{what}: argnums={argnums} but {name} was given {len(args)} arguments",
                                "Pass argnums as the position of the argument to differentiate.", where="")
        pos = argnums % len(args)
        in_name = arg_name(fun, pos)
        if len(tree_flatten(args[pos])[0]) != 1 or isinstance(args[pos], (list, tuple, dict)):
            raise ArgumentError(f"{what}: argument {in_name} is a {type(args[pos]).__name__}; the heatmap needs "
                                "one array argument", "Pick an array argument with argnums, or wrap f so that "
                                "the part you want is an argument of its own.", where="")
        jac = jacfwd(fun, argnums=pos)(*args)
        if isinstance(jac, (tuple, list, dict)):
            raise ArgumentError(f"{what}: {name} returns a {type(jac).__name__}; the heatmap needs one array "
                                "output", "Return one array (or draw one output at a time).", where="")
        jac = np.asarray(jac)
        in_shape = tuple(aval_of(args[pos]).shape)
        out_shape = jac.shape[:jac.ndim - len(in_shape)]
        picture = JacobianPicture(jac, name, out_shape, in_name, in_shape, None)
        picture.figure = _heatmap_figure(picture, annotate, digits, cmap)
        return picture

    draw.__name__ = f"jacobian_heatmap({name})"
    return draw


def _heatmap_figure(p: JacobianPicture, annotate: bool | None, digits: int, cmap: str):
    """The matplotlib Figure of a JacobianPicture (made without pyplot: no global state, no backend)."""
    from matplotlib.colors import CenteredNorm
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    m, n = p.matrix.shape
    fig = Figure(figsize=(min(11.0, 2.6 + 0.55 * n), min(8.5, 1.8 + 0.45 * m)), layout="constrained")
    ax = fig.add_subplot()
    biggest = float(np.max(np.abs(p.matrix))) if p.matrix.size else 0.0
    norm = CenteredNorm(vcenter=0.0, halfrange=biggest if biggest > 0 else 1.0)
    image = ax.imshow(p.matrix, cmap=cmap, norm=norm, interpolation="nearest", aspect="auto")
    fig.colorbar(image, ax=ax, shrink=0.9, label="d output / d input")
    for axis, shape, name, count in ((ax.xaxis, p.in_shape, p.in_name, n), (ax.yaxis, p.out_shape, p.out_name, m)):
        axis.set_major_locator(MaxNLocator(nbins=min(count, 16), integer=True))
        axis.set_major_formatter(FuncFormatter(
            lambda x, _, shape=shape, name=name, count=count:
                _index_text(name, shape, int(round(x))) if 0 <= round(x) < count and abs(x - round(x)) < 1e-6
                else ""))
    if len(p.in_shape) > 1 and n > p.in_shape[-1]:  # the input's rows, as blocks of columns
        for edge in range(p.in_shape[-1], n, p.in_shape[-1]):
            ax.axvline(edge - 0.5, color="#6e7781", linewidth=0.8)
    if n > 4:
        for label in ax.get_xticklabels():
            label.set_rotation(60)
            label.set_horizontalalignment("right")
    flat = " (flattened row-major)" if len(p.in_shape) > 1 else ""
    ax.set_xlabel(f"input: entry j of {p.in_name}{flat}, shape {p.in_shape}")
    flat = " (flattened row-major)" if len(p.out_shape) > 1 else ""
    ax.set_ylabel(f"output: entry i of {p.out_name}{flat}, shape {p.out_shape}")
    ax.set_title(f"Jacobian d{p.out_name}/d{p.in_name}: {m} x {n}, entry (i, j) = d out_i / d in_j", fontsize=10)
    if annotate or (annotate is None and m <= 12 and n <= 12):
        for (i, j), v in np.ndenumerate(p.matrix):
            strong = abs(v) > 0.6 * norm.halfrange
            ax.text(j, i, f"{v + 0.0:.{digits}f}", ha="center", va="center", fontsize=8,
                    color="white" if strong else "black")
    return fig


# ---------------------------------------------------------------------------------------------
# Forward mode beside reverse mode

class SideBySide:
    """The forward-mode picture of a function (`.forward`: values and tangents, blue) beside its
    reverse-mode picture (`.reverse`: values and gradients, red), with a caption relating them; `.html()`,
    `.save("x.html")`, shows itself in Jupyter."""

    def __init__(self, forward: Graph, reverse: Graph, caption: str):
        self.forward = forward
        self.reverse = reverse
        self.caption = caption

    @property
    def tangent(self):
        """The output's tangent, J @ tangents (as `mg.jvp` gives it)."""
        return self.forward.tangent

    @property
    def grads(self) -> list:
        """The inputs' gradients (of the sum of the output's entries), one per argument leaf."""
        return self.reverse.grads

    def _fragment(self) -> str:
        cell = 'style="vertical-align:top;padding:0 1em 0 0;text-align:left"'
        return (f'<div class="mg-side-by-side" style="font-family:Helvetica,sans-serif">'
                f'<table style="border:none"><tr>'
                f'<th {cell}><span style="color:{BLUE}">forward mode</span>: tangents pushed forward</th>'
                f'<th {cell}><span style="color:{RED}">reverse mode</span>: gradients pulled back</th></tr>'
                f"<tr><td {cell}>{_inline_svg(self.forward.svg())}</td>"
                f"<td {cell}>{_inline_svg(self.reverse.svg())}</td></tr></table>"
                f'<p style="max-width:60em">{html.escape(self.caption)}</p></div>')

    def html(self) -> str:
        """A self-contained HTML page with both pictures inlined and the caption."""
        return _page(html.escape(f"{self.forward.recording.name}: forward and reverse mode"), self._fragment())

    def _repr_html_(self):
        return self._fragment()

    def save(self, path: str | os.PathLike) -> str:
        """Write the HTML page to `path` (a .html file name)."""
        path = os.fspath(path)
        if os.path.splitext(path)[1].lower() not in (".html", ".htm"):
            raise ValueError(f"SideBySide.save: {path!r}: the two pictures are saved as one .html page")
        with open(path, "w", encoding="utf-8") as out:
            out.write(self.html())
        return path

    def __repr__(self):
        return f"<SideBySide of {self.forward.recording.name}: forward and reverse mode>"


def side_by_side(fun: Callable, tangents, **graph_options) -> Callable[..., SideBySide]:
    """`side_by_side(f, tangents)(*args)`: `mg.graph(f, tangents=tangents)` (values and tangents, blue:
    one forward pass, one column of the Jacobian, J @ tangents) next to `mg.graph(f)` (values and
    gradients, red: one backward pass, one row of the Jacobian, or for an array output the sum of its
    rows). `graph_options` (digits, max_values, collapse) go to both pictures."""
    def draw(*args) -> SideBySide:
        forward = graph(fun, tangents=tangents, **graph_options)(*args)
        reverse = graph(fun, **graph_options)(*args)
        return SideBySide(forward, reverse, _caption(forward, reverse, tangents))

    draw.__name__ = f"side_by_side({getattr(fun, '__name__', 'f')})"
    return draw


def _caption(forward: Graph, reverse: Graph, tangents) -> str:
    """What the two pictures computed, with their numbers, and how they relate to the Jacobian."""
    rec = reverse.recording
    digits = 2

    def text(x) -> str:
        return fmt_value(x, digits)

    outs = [v for v in rec.jaxpr.outvars]
    n_in = sum(int(np.prod(v.aval.shape)) for v in rec.jaxpr.invars if v.aval.dtype.kind == "f")
    n_out = sum(int(np.prod(v.aval.shape)) for v in outs if v.aval.dtype.kind == "f")
    t_leaves = [np.asarray(t) for t in tree_flatten(tangents)[0]]
    direction = "(" + ", ".join(text(t) for t in t_leaves) + ")"
    names = [rec.names[v] for v in rec.jaxpr.invars]
    grads = ", ".join(f"{nm}: {text(g)}" for nm, g in zip(names, reverse.grads) if g is not None)
    tangent = forward.tangent
    tangent_text = text(tangent) if not isinstance(tangent, list) else "(" + ", ".join(map(text, tangent)) + ")"
    row = ("one row of J, the whole gradient" if n_out == 1 else
           "the sum of J's rows, the gradient of the sum of the outputs (one row per output takes "
           f"{n_out} passes)")
    return (f"Forward mode (left, blue) pushed the tangent {direction} from the inputs with the values: every wire "
            f"carries its derivative along that direction, and the output's tangent J v = {tangent_text} is one "
            f"column of the Jacobian J (a combination of columns for a direction that is not a unit vector). "
            f"Reverse mode (right, red) pulled the gradient back from the output in one pass and gave {grads}: "
            f"{row}. J is {n_out} x {n_in}: forward mode needs one pass per input ({n_in}), reverse mode one "
            f"per output ({n_out}).")


__all__ = ["Animation", "Frame", "JacobianPicture", "SideBySide", "animate", "gate_nodes", "jacobian_heatmap",
           "side_by_side", "wire_nodes"]
