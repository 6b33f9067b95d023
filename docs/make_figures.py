"""Make the README's pictures from the code: `python docs/make_figures.py` writes, beside this file, the
DOT text (`.dot`, compared with the code's output by tests/test_graph.py), an SVG and a PNG of each.

Rendering needs Graphviz's `dot` program (apt-get install graphviz, brew install graphviz).
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing

import minigrad_fn as mg  # noqa: E402
import minigrad_fn.numpy as mnp  # noqa: E402


def f(x, y, z):
    """The lecture's first graph."""
    return (x + y) * z


def neuron(w0, x0, w1, x1, w2):
    """The lecture's sigmoid neuron, one gate per operation."""
    return 1 / (1 + mnp.exp(-(w0 * x0 + w1 * x1 + w2)))


FIGURES = {
    "add_mul": lambda: mg.graph(f)(-2.0, 5.0, -4.0),
    "neuron": lambda: mg.graph(neuron)(2.0, -1.0, -3.0, -2.0, -3.0),
    "add_mul_backward": lambda: mg.graph(f, show_backward=True)(-2.0, 5.0, -4.0),
    # forward mode along x: each wire's tangent (blue) is its derivative with respect to x; f's is df/dx
    "add_mul_forward": lambda: mg.graph(f, tangents=(1.0, 0.0, 0.0))(-2.0, 5.0, -4.0),
}


def main() -> None:
    """Write every figure's .dot, .svg and .png."""
    for name, make in FIGURES.items():
        picture = make()
        for suffix in ("dot", "svg", "png"):
            path = picture.save(os.path.join(HERE, f"{name}.{suffix}"), dpi=110)
            print("wrote", os.path.relpath(path))


if __name__ == "__main__":
    main()
