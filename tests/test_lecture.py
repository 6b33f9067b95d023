"""The lecture's worked examples to their printed digits, and its 2-layer net against hand-written backprop."""
import subprocess
import sys

import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import demo


def test_add_mul_graph():
    value, grads = mg.value_and_grad(demo.add_mul, argnums=(0, 1, 2))(-2.0, 5.0, -4.0)
    assert value == -12.0
    assert [float(g) for g in grads] == [-4.0, -4.0, 3.0]


def test_sigmoid_neuron_as_gates_and_as_one_gate():
    w, x = np.array([2.0, -3.0, -3.0]), np.array([-1.0, -2.0])
    value, (gw, gx) = mg.value_and_grad(demo.neuron, argnums=(0, 1))(w, x)
    assert round(float(value), 2) == 0.73
    np.testing.assert_array_equal(np.round(gw, 2), [-0.20, -0.39, 0.20])
    np.testing.assert_array_equal(np.round(gx, 2), [0.39, -0.59])

    def neuron_one_gate(w, x):
        return mg.nn.sigmoid(w[0] * x[0] + w[1] * x[1] + w[2])

    gw1, gx1 = mg.grad(neuron_one_gate, argnums=(0, 1))(w, x)
    np.testing.assert_allclose(gw1, gw, rtol=1e-12)
    np.testing.assert_allclose(gx1, gx, rtol=1e-12)
    # the sigmoid gate's local gradient (1 - s) s is 0.2 at the dot product 1
    s = float(value)
    assert round(float(mg.grad(mg.nn.sigmoid)(1.0)), 2) == round((1 - s) * s, 2) == 0.20


def test_vectorized_norm_example():
    W, x = np.array([[0.1, 0.5], [-0.3, 0.8]]), np.array([0.2, 0.4])
    q = W @ x
    np.testing.assert_allclose(q, [0.22, 0.26])
    value, (gW, gx) = mg.value_and_grad(demo.sq_norm, argnums=(0, 1))(W, x)
    assert round(float(value), 3) == 0.116
    np.testing.assert_allclose(gW, [[0.088, 0.176], [0.104, 0.208]], atol=1e-12)
    np.testing.assert_allclose(gx, [-0.112, 0.636], atol=1e-12)
    assert gW.shape == W.shape and gx.shape == x.shape  # a gradient has its variable's shape


def test_gate_patterns():
    # add distributes, mul switches, max routes, gradients add at branches
    assert [float(g) for g in mg.grad(lambda x, y: x + y, (0, 1))(3.0, -1.0)] == [1.0, 1.0]
    assert [float(g) for g in mg.grad(lambda x, y: x * y, (0, 1))(3.0, -1.0)] == [-1.0, 3.0]
    assert [float(g) for g in mg.grad(lambda x, y: mnp.maximum(x, y), (0, 1))(3.0, -1.0)] == [1.0, 0.0]
    assert float(mg.grad(lambda x: x * 3.0 + x * 4.0)(2.0)) == 7.0


def _hand_backprop(w1, w2, x, y):
    h = 1 / (1 + np.exp(-x.dot(w1)))
    y_pred = h.dot(w2)
    loss = np.square(y_pred - y).sum()
    grad_y_pred = 2.0 * (y_pred - y)
    grad_w2 = h.T.dot(grad_y_pred)
    grad_h = grad_y_pred.dot(w2.T)
    grad_w1 = x.T.dot(grad_h * h * (1 - h))
    return loss, grad_w1, grad_w2


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_two_layer_net_equals_hand_written_backprop(dtype):
    rng = np.random.default_rng(0)
    N, D_in, H, D_out = 64, 1000, 100, 10
    x, y = rng.standard_normal((N, D_in)), rng.standard_normal((N, D_out))
    if dtype == np.float32:
        # exp(-x w1) overflows float32 for pre-activations below -88; 1/(1+exp) then has a 0 * inf in its
        # backward pass (in jax.grad too), while the hand-derived h (1 - h) does not. Keep them in range.
        x = 0.05 * x
    x, y = x.astype(dtype), y.astype(dtype)
    w1, w2 = rng.standard_normal((D_in, H)).astype(dtype), rng.standard_normal((H, D_out)).astype(dtype)
    loss, (g1, g2) = mg.value_and_grad(demo.two_layer_loss, argnums=(0, 1))(w1, w2, x, y)
    ref_loss, r1, r2 = _hand_backprop(w1, w2, x, y)
    assert g1.dtype == dtype and g2.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(loss, ref_loss, rtol=tol)
    np.testing.assert_allclose(g1, r1, rtol=tol, atol=tol * np.abs(r1).max())
    np.testing.assert_allclose(g2, r2, rtol=tol, atol=tol * np.abs(r2).max())


def test_two_layer_net_trains_like_the_lecture():
    losses = demo.run(steps=20, print_fn=lambda *a: None)
    assert losses[-1] < 0.5 * losses[0]
    assert all(b < a for a, b in zip(losses, losses[1:]))


def test_demo_command_runs():
    out = subprocess.run([sys.executable, "-m", "minigrad_fn", "demo", "--steps", "3"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "df/dx = -4" in out.stdout and "f = 0.73" in out.stdout and "dot_general" in out.stdout
    assert "step 2: loss" in out.stdout
