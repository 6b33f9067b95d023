"""mg.debug_nans / mg.debug_infs: the first operation that makes a NaN (inf) out of operands without one
raises NonFiniteError naming it, its operands and the user's line, eagerly, under grad (forward and
backward), jvp and vmap, and under jit on both backends (run again op by op, as JAX does)."""
import threading
import warnings

import numpy as np
import pytest

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from helpers import marked_line
from minigrad_fn import NonFiniteError

THIS_FILE = __file__


def line_of(marker: str) -> int:
    return marked_line(THIS_FILE, marker)


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # numpy's own "invalid value" warnings
        yield


def log_loss(x):
    y = mnp.log(x)  # @log
    return mnp.sum(y * 2.0)


def sqrt_loss(x):
    return mnp.sum(mnp.sqrt(x))  # @sqrt


def softmax_loss(x):
    z = mnp.exp(x)  # @exp
    return mnp.sum(z / mnp.sum(z))  # @div-by-sum


def check(e: NonFiniteError, prim: str, marker: str, what: str = "NaN", backward_of: str | None = None):
    msg = str(e.value if hasattr(e, "value") else e)
    err = e.value if hasattr(e, "value") else e
    assert isinstance(err, FloatingPointError) and isinstance(err, mg.MinigradError)
    assert f"`{prim}`" in err.raw_message, msg
    assert f"made {what}" in err.raw_message, msg
    assert f"{THIS_FILE}:{line_of(marker)}" in msg, msg
    assert err.hint and err.hint in msg
    assert "operands:" in err.raw_message and "float64[" in err.raw_message, msg
    if backward_of is None:
        assert "backward pass" not in err.raw_message, msg
    else:
        at = f"in the backward pass of `{backward_of}` at test_debug_nans.py:{line_of(marker)}"
        assert at in err.raw_message, msg


BAD = np.array([1.0, -1.0, 2.0])
ZERO = np.array([1.0, 0.0, 4.0])


def test_off_by_default_and_nothing_changes():
    assert not mg.config.debug_nans and not mg.config.debug_infs
    assert np.isnan(log_loss(BAD))
    assert np.isinf(mg.grad(sqrt_loss)(ZERO)).any()


@pytest.mark.parametrize("run", [
    pytest.param(lambda f, x: f(x), id="eager"),
    pytest.param(lambda f, x: mg.grad(f)(x), id="grad-forward"),
    pytest.param(lambda f, x: mg.value_and_grad(f)(x), id="value_and_grad"),
    pytest.param(lambda f, x: mg.jvp(f, (x,), (np.ones_like(x),)), id="jvp"),
    pytest.param(lambda f, x: mg.vmap(f)(np.stack([x, x])), id="vmap"),
    pytest.param(lambda f, x: mg.jit(f)(x), id="jit-xla"),
    pytest.param(lambda f, x: mg.jit(f, backend="numpy")(x), id="jit-numpy"),
    pytest.param(lambda f, x: mg.jit(mg.value_and_grad(f))(x), id="jit-of-value_and_grad-xla"),
    pytest.param(lambda f, x: mg.grad(mg.jit(f, backend="numpy"))(x), id="grad-of-jit-numpy"),
    pytest.param(lambda f, x: mg.jit(lambda y: mg.jit(f)(y) + 1.0)(x), id="nested-jit"),
])
def test_forward_nan_names_log_and_its_line(run):
    with mg.debug_nans():
        with pytest.raises(NonFiniteError) as e:
            run(log_loss, BAD)
    check(e, "log", "log")
    assert "x0=-1.0" in e.value.raw_message  # the offending operand value


@pytest.mark.parametrize("run", [
    pytest.param(lambda f, x: mg.grad(f)(x), id="grad"),
    pytest.param(lambda f, x: mg.jit(mg.grad(f))(x), id="jit-of-grad-xla"),
    pytest.param(lambda f, x: mg.jit(mg.grad(f), backend="numpy")(x), id="jit-of-grad-numpy"),
    pytest.param(lambda f, x: mg.grad(mg.jit(f))(x), id="grad-of-jit-xla"),
    pytest.param(lambda f, x: mg.grad(mg.jit(f, backend="numpy"))(x), id="grad-of-jit-numpy"),
    pytest.param(lambda f, x: mg.vmap(mg.grad(f))(np.stack([x, x])), id="vmap-of-grad"),
])
def test_backward_inf_names_the_forward_operation_whose_rule_made_it(run):
    with mg.debug_infs():
        with pytest.raises(NonFiniteError) as e:
            run(sqrt_loss, ZERO)
    check(e, "div", "sqrt", "inf", backward_of="sqrt")


def test_a_nan_the_program_never_computes_is_not_reported():
    # grad of log's sum at a negative x: 1/x is finite; the log's NaN value is not part of the gradient
    # program under jit (dead code), as in JAX
    with mg.debug_nans():
        np.testing.assert_allclose(mg.jit(mg.grad(log_loss))(BAD), 2.0 / BAD)


def test_infs_from_a_forward_operation():
    with mg.debug_infs():
        with pytest.raises(NonFiniteError) as e:
            log_loss(ZERO)
    check(e, "log", "log", "inf")
    with mg.debug_infs(), pytest.raises(NonFiniteError) as e:
        mg.jit(softmax_loss)(np.array([1.0, 800.0]))
    check(e, "exp", "exp", "inf")


def test_the_first_nan_is_named_not_where_it_spreads():
    # exp overflows to inf (not a NaN: debug_nans lets it pass), then inf / inf is the first NaN
    # (eagerly, mnp.exp returns a numpy array and `/` is numpy's own: under a transformation it is ours)
    for run in (mg.grad, mg.jit, lambda f: mg.jit(f, backend="numpy")):
        with mg.debug_nans(), pytest.raises(NonFiniteError) as e:
            run(softmax_loss)(np.array([1.0, 800.0]))
        check(e, "div", "div-by-sum")


def test_nans_already_in_the_inputs_are_not_blamed_on_an_operation():
    x = np.array([1.0, np.nan])
    with mg.debug_nans():
        assert not np.isnan(mg.grad(lambda x: mnp.sum(x * 2.0))(x)).any()
        assert np.isnan(mg.jit(lambda x: mnp.sum(x * 2.0))(x))
        assert np.isnan(log_loss(x))


def test_switches_nest_and_turn_off():
    with mg.debug_nans():
        assert mg.config.debug_nans
        with mg.debug_nans(False):
            assert np.isnan(log_loss(BAD))
        with pytest.raises(NonFiniteError):
            log_loss(BAD)
    assert not mg.config.debug_nans


def test_global_switch_with_jax_names():
    mg.config.update("jax_debug_nans", True)
    try:
        assert mg.config.jax_debug_nans and not mg.config.debug_infs
        with pytest.raises(NonFiniteError):
            log_loss(BAD)
        seen = []
        t = threading.Thread(target=lambda: seen.append(_raises(log_loss, BAD)))
        t.start()
        t.join()
        assert seen == [True]  # global: every thread
    finally:
        mg.config.update("debug_nans", False)
    assert np.isnan(log_loss(BAD))
    mg.config.update("jax_enable_x64", True)  # accepted: always on
    with pytest.raises(mg.ArgumentError, match="enable_x64"):
        mg.config.update("jax_enable_x64", False)
    with pytest.raises(mg.ArgumentError, match="debug_nans"):
        mg.config.update("jax_debug_nan", True)


def _raises(f, x) -> bool:
    try:
        f(x)
    except NonFiniteError:
        return True
    return False


def test_a_block_is_per_thread():
    inside = threading.Event()
    done = threading.Event()
    seen = []

    def other():
        inside.wait()
        seen.append(_raises(log_loss, BAD))
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with mg.debug_nans():
        inside.set()
        done.wait()
        assert _raises(log_loss, BAD)
    t.join()
    assert seen == [False]


def test_integer_and_finite_programs_are_untouched():
    with mg.debug_nans(), mg.debug_infs():
        np.testing.assert_allclose(mg.grad(sqrt_loss)(np.array([1.0, 4.0])), [0.5, 0.25])
        assert int(mg.jit(lambda n: n // 2)(np.int64(7))) == 3


def test_another_thread_leaving_its_block_leaves_this_one_on():
    entered, left = threading.Event(), threading.Event()

    def other():
        with mg.debug_infs():
            entered.set()
        left.set()

    with mg.debug_nans():
        t = threading.Thread(target=other)
        t.start()
        entered.wait()
        left.wait()
        t.join()
        assert _raises(log_loss, BAD)  # still on here
    assert np.isnan(log_loss(BAD))
