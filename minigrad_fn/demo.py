"""`python -m minigrad_fn demo`: the lecture's worked examples, their IR, and a 2-layer net learning."""
from __future__ import annotations

import numpy as np

import minigrad_fn as mg
import minigrad_fn.numpy as mnp


def add_mul(x, y, z):
    """The lecture's first graph: f = (x + y) * z."""
    return (x + y) * z


def neuron(w, x):
    """The lecture's sigmoid neuron: 1 / (1 + exp(-(w0 x0 + w1 x1 + w2)))."""
    return 1 / (1 + mnp.exp(-(w[0] * x[0] + w[1] * x[1] + w[2])))


def sq_norm(W, x):
    """The lecture's vectorized example: ||W x||^2."""
    return mnp.sum((W @ x) ** 2)


def two_layer_loss(w1, w2, x, y):
    """The lecture's 2-layer net written in plain numpy: sigmoid hidden layer, squared error."""
    h = 1 / (1 + np.exp(-np.dot(x, w1)))
    y_pred = h.dot(w2)
    return np.square(y_pred - y).sum()


def _fmt(a) -> str:
    return np.array2string(np.asarray(a), precision=3, suppress_small=True)


def run(steps: int = 5, print_fn=print) -> list:
    """Print the examples and train the 2-layer net for a few steps; return the losses."""
    print_fn("== 1. f(x, y, z) = (x + y) * z at x=-2, y=5, z=-4")
    args = (-2.0, 5.0, -4.0)
    value, (dx, dy, dz) = mg.value_and_grad(add_mul, argnums=(0, 1, 2))(*args)
    print_fn(f"f = {float(value):g}   df/dx = {float(dx):g}   df/dy = {float(dy):g}   df/dz = {float(dz):g}")
    print_fn(mg.make_jaxpr(mg.grad(add_mul, argnums=(0, 1, 2)))(*args))

    print_fn("\n== 2. The sigmoid neuron at w=[2, -3, -3], x=[-1, -2]")
    w, x = np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0])
    value, (gw, gx) = mg.value_and_grad(neuron, argnums=(0, 1))(w, x)
    print_fn(f"f = {float(value):.2f}   grad w = {_fmt(gw)}   grad x = {_fmt(gx)}")

    print_fn("\n== 3. f(x, W) = ||W x||^2 with W=[[0.1, 0.5], [-0.3, 0.8]], x=[0.2, 0.4]")
    W, x = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    value, (gW, gx) = mg.value_and_grad(sq_norm, argnums=(0, 1))(W, x)
    print_fn(f"f = {float(value):.3f}   grad W = {_fmt(gW).replace(chr(10), '')}   grad x = {_fmt(gx)}")
    print_fn(mg.make_jaxpr(mg.grad(sq_norm, argnums=(0, 1)))(W, x))

    print_fn("\n== 4. The 2-layer net (N=64, D_in=1000, H=100, D_out=10), gradient descent, step 1e-4")
    rng = np.random.default_rng(0)
    N, D_in, H, D_out = 64, 1000, 100, 10
    x, y = rng.standard_normal((N, D_in)), rng.standard_normal((N, D_out))
    w1, w2 = rng.standard_normal((D_in, H)), rng.standard_normal((H, D_out))
    step = mg.value_and_grad(two_layer_loss, argnums=(0, 1))
    losses = []
    for t in range(steps):
        loss, (g1, g2) = step(w1, w2, x, y)
        losses.append(float(loss))
        print_fn(f"step {t}: loss {float(loss):.1f}")
        w1 -= 1e-4 * g1
        w2 -= 1e-4 * g2
    return losses
