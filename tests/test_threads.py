"""The current trace is per thread: threads transform different functions at once, and every value is right."""
import threading

import numpy as np

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
import tracing


def _hammer(workers, rounds: int = 30):
    errors: list = []
    start = threading.Barrier(len(workers))

    def run(work, k):
        try:
            start.wait()
            for i in range(rounds):
                work(k, i)
        except BaseException as e:  # noqa: BLE001 - reported below, with the worker
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=run, args=(w, k)) for k, w in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_threads_hammering_grad_jit_and_make_jaxpr_get_right_values():
    def grad_work(k, i):
        x = np.linspace(-1, 1, 5) + k + i
        g = mg.grad(lambda x: mnp.sum(mnp.sin(x) * x))(x)
        np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-12)

    jitted = mg.jit(lambda x, y: mnp.tanh(x) @ y)

    def jit_work(k, i):
        x, y = np.full((3, 4), 0.1 * (k + i)), np.ones((4, 2))
        out = jitted(x, y)
        assert not isinstance(out, np.ndarray)  # a jax.Array: the top level was the root trace
        np.testing.assert_allclose(np.asarray(out), np.tanh(x) @ y, rtol=1e-12)

    def make_jaxpr_work(k, i):
        n = 2 + (k + i) % 4
        closed = mg.make_jaxpr(lambda x: mnp.exp(x) * 2.0)(np.zeros(n))
        assert [e.prim.name for e in closed.eqns] == ["exp", "mul"]
        assert closed.in_avals[0].shape == (n,)

    def grad_of_grad_work(k, i):
        x = 0.3 + 0.01 * (k + i)
        h = mg.grad(mg.grad(lambda x: x ** 3))(x)
        np.testing.assert_allclose(h, 6 * x, rtol=1e-12)

    def jit_of_grad_work(k, i):
        x = np.full(3, 0.1 * i)
        g = mg.jit(mg.grad(lambda x: mnp.sum(x ** 2)), backend="numpy")(x)
        np.testing.assert_allclose(g, 2 * x)

    _hammer([grad_work, jit_work, make_jaxpr_work, grad_of_grad_work, jit_of_grad_work, grad_work])
    assert tracing.current_trace() is tracing.ROOT


def test_a_trace_in_one_thread_is_not_current_in_another():
    inside, release = threading.Event(), threading.Event()
    seen = []

    def slow(x):
        inside.set()
        release.wait(10)
        return x * 2.0

    t = threading.Thread(target=lambda: seen.append(mg.grad(lambda x: mnp.sum(slow(x)))(np.ones(2))))
    t.start()
    inside.wait(10)
    try:
        assert tracing.current_trace() is tracing.ROOT  # this thread is not tracing
        assert float(mg.grad(lambda x: x * x)(3.0)) == 6.0
        out = mg.jit(lambda x: x + 1.0)(np.ones(2))
        assert not isinstance(out, np.ndarray)
    finally:
        release.set()
        t.join()
    np.testing.assert_allclose(seen[0], [2.0, 2.0])


def test_gc_is_restored_when_overlapping_traces_end():
    import gc
    assert gc.isenabled()
    _hammer([lambda k, i: mg.grad(lambda x: mnp.sum(x * x))(np.ones(3))] * 4, rounds=20)
    assert gc.isenabled()
