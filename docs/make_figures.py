"""Make the README's pictures from the code: `python docs/make_figures.py` writes, beside this file, the
DOT text (`.dot`, compared with the code's output by tests/test_graph.py), an SVG and a PNG of each.

Rendering needs Graphviz's `dot` program (apt-get install graphviz, brew install graphviz).
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # run from a checkout without installing

import numpy as np  # noqa: E402

import minigrad_fn as mg  # noqa: E402
import minigrad_fn.numpy as mnp  # noqa: E402
from minigrad_fn import nn  # noqa: E402


def f(x, y, z):
    """The lecture's first graph."""
    return (x + y) * z


def neuron(w0, x0, w1, x1, w2):
    """The lecture's sigmoid neuron, one gate per operation."""
    return 1 / (1 + mnp.exp(-(w0 * x0 + w1 * x1 + w2)))


def neuron_on_arrays(w, x):
    """The same neuron as the slide writes it, on arrays: each w[i], x[i] is drawn as an input."""
    return 1 / (1 + mnp.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))


def two_layer_net(W1, b1, W2, b2, X, y):
    """The lecture's 2-layer net as `python -m minigrad_fn train` trains it: softmax cross-entropy of
    W2 relu(W1 x + b1) + b2, plus L2 regularisation."""
    h = nn.relu(X @ W1 + b1)
    return nn.softmax_cross_entropy(h @ W2 + b2, y) + 1e-4 * (mnp.sum(W1 ** 2) + mnp.sum(W2 ** 2))


def two_layer_args():
    """A batch of 16 examples with 8 features, 10 hidden units, 3 classes (seeded)."""
    rng = np.random.default_rng(0)
    return (rng.standard_normal((8, 10)) * 0.5, np.zeros(10), rng.standard_normal((10, 3)) * 0.5, np.zeros(3),
            rng.standard_normal((16, 8)), rng.integers(0, 3, 16))


FIGURES = {
    "add_mul": lambda: mg.graph(f)(-2.0, 5.0, -4.0),
    "neuron": lambda: mg.graph(neuron)(2.0, -1.0, -3.0, -2.0, -3.0),
    "add_mul_backward": lambda: mg.graph(f, show_backward=True)(-2.0, 5.0, -4.0),
    # forward mode along x: each wire's tangent (blue) is its derivative with respect to x; f's is df/dx
    "add_mul_forward": lambda: mg.graph(f, tangents=(1.0, 0.0, 0.0))(-2.0, 5.0, -4.0),
    # indexing drawn as the slide draws it: w[0], x[0]... are inputs, the 8 gates are the slide's
    "neuron_arrays": lambda: mg.graph(neuron_on_arrays)(np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0])),
    # nn's functions collapsed, plumbing hidden: the net a screen wide; and by layers
    "two_layer_net": lambda: mg.graph(two_layer_net)(*two_layer_args()),
    "two_layer_net_layers": lambda: mg.graph(two_layer_net, view="layers")(*two_layer_args()),
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
