"""The training command and the other command-line tools: results, files written, and one-line errors."""
import json
import os
import re
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pytest

import minigrad_fn as mg
from tracing import ConcretizationError, subjaxprs
from minigrad_fn import nn
from minigrad_fn import numpy as mnp
from minigrad_fn import train as T
from minigrad_fn.render import renderer
from minigrad_fn.__main__ import _expression_advice, expression_scope, main, parse_function

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, cwd=None):
    """`python -m minigrad_fn ARGS` in a fresh interpreter."""
    return subprocess.run([sys.executable, "-m", "minigrad_fn", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=300)


def test_digits_data():
    X_train, y_train, X_test, y_test = T.load_data("digits")
    assert X_train.shape == (1438, 64) and X_test.shape == (359, 64)
    assert X_train.dtype == np.float32 and y_train.dtype == np.int64
    assert np.allclose(X_train.mean(axis=0), 0, atol=1e-5)
    assert set(np.unique(y_train)) == set(range(10))


def test_spiral_data():
    X, y = T.spiral(50, 3)
    assert X.shape == (150, 2) and np.bincount(y).tolist() == [50, 50, 50]
    assert np.all(np.linalg.norm(X, axis=1) <= 1.0 + 1e-12)


def test_unknown_dataset_and_activation():
    with pytest.raises(ValueError, match="unknown dataset"):
        T.load_data("mnist")
    with pytest.raises(ValueError, match="unknown activation"):
        T.hidden_layer(T.init_params(2, 3, 2), np.ones((1, 2), np.float32), "swish")


@pytest.mark.parametrize("activation", T.ACTIVATIONS)
def test_loss_gradients_for_every_activation(activation):
    rng = np.random.default_rng(0)
    params = {k: v.astype(np.float64) for k, v in T.init_params(4, 5, 3, activation).items()}
    X, y = rng.standard_normal((6, 4)), np.array([0, 1, 2, 2, 1, 0])
    mg.check_grads(lambda p, X, y: T.loss(p, X, y, activation, 1e-2), (params, X, y))


def test_default_run_reaches_the_accuracy(tmp_path):
    summary = T.train(T.Config(out=str(tmp_path)), progress=False, print_fn=lambda *a: None)
    assert summary["test_accuracy"] >= 0.95 and summary["train_accuracy"] >= 0.97
    assert summary["config"]["epochs"] == 20 and summary["config"]["lr"] == 0.1
    assert summary["history"]["epoch_loss"][-1] < summary["history"]["epoch_loss"][0] / 5
    with open(tmp_path / "summary.json") as f:
        assert json.load(f)["test_accuracy"] == summary["test_accuracy"]
    with open(tmp_path / "loss.png", "rb") as f:
        assert f.read(4) == b"\x89PNG"


def test_numpy_backend_trains_like_xla(tmp_path):
    kw = dict(epochs=2, hidden=16, seed=3)
    a = T.train(T.Config(out=str(tmp_path / "xla"), **kw), progress=False, print_fn=lambda *a: None)
    b = T.train(T.Config(out=str(tmp_path / "np"), backend="numpy", **kw), progress=False, print_fn=lambda *a: None)
    assert np.allclose(a["history"]["step_loss"], b["history"]["step_loss"], rtol=1e-3)


@pytest.mark.parametrize("backend, loss", [("xla", "softmax"), ("numpy", "softmax"), ("xla", "svm")])
def test_fused_epoch_trains_like_the_step_loop(tmp_path, backend, loss):
    """One compiled scan per epoch takes the same steps on the same batches as one jitted call per step
    (240 spiral points in batches of 32: 7 steps, the last 16 points dropped in both), with either loss."""
    kw = dict(data="spiral", epochs=6, hidden=16, seed=1, backend=backend, loss=loss)
    quiet = dict(progress=False, print_fn=lambda *a: None)
    a = T.train(T.Config(out=str(tmp_path / "steps"), **kw), **quiet)
    b = T.train(T.Config(out=str(tmp_path / "fused"), fused_epoch=True, **kw), **quiet)
    assert a["steps"] == b["steps"] == 6 * (240 // 32)
    assert np.allclose(a["history"]["step_loss"], b["history"]["step_loss"], rtol=1e-5)
    assert np.isclose(a["final_loss"], b["final_loss"], rtol=1e-5)
    assert a["train_accuracy"] == b["train_accuracy"] and a["test_accuracy"] == b["test_accuracy"]
    saved = json.loads((tmp_path / "fused" / "summary.json").read_text())
    assert saved["fused_epoch"] is True and a["fused_epoch"] is False
    assert len(saved["epoch_seconds"]) == 6 and (tmp_path / "fused" / "loss.png").exists()


def test_cli_fused_epoch(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--data", "spiral", "--epochs", "2", "--fused-epoch", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    assert "one compiled program per epoch" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["config"]["fused_epoch"] is True


def test_fused_epoch_is_one_scan_over_the_batches():
    X, y, _, _ = T.load_data("spiral")
    Xb, yb = T.epoch_batches(X, y, np.random.default_rng(0).permutation(len(X)), 32)
    assert Xb.shape == (len(X) // 32, 32, 2) and yb.shape == (len(X) // 32, 32)
    params = T.init_params(2, 8, 3)
    jaxpr = mg.make_jaxpr(T.make_epoch("relu", 1.0, 1e-4))(params, Xb, yb)
    (call,) = jaxpr.eqns  # the jit call, holding the epoch's program
    (_, body), = subjaxprs(call)
    scans = [e for e in body.eqns if e.prim.name == "scan"]
    assert len(scans) == 1 and scans[0].params["length"] == len(X) // 32
    assert not any(e.prim.name == "dot_general" for e in body.eqns)  # the step is inside the scan's body, once
    (_, step), = subjaxprs(scans[0])
    assert sum(e.prim.name == "dot_general" for e in step.eqns) == 5  # 2 forward, 3 backward (dX1 unused)


def _rgb(hex_colour: str) -> np.ndarray:
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])


def test_spiral_run_draws_the_decision_boundary(tmp_path):
    """boundary.png: the three class regions (each a large area of its own colour) with the points on top."""
    summary = T.train(T.Config(data="spiral", epochs=150, out=str(tmp_path)), progress=False,
                      print_fn=lambda *a: None)
    assert summary["test_accuracy"] >= 0.9
    path = tmp_path / "boundary.png"
    assert summary["plots"] == {"loss": str(tmp_path / "loss.png"), "boundary": str(path)}
    assert json.loads((tmp_path / "summary.json").read_text())["plots"]["boundary"] == str(path)
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and 10_000 < len(data) < 2_000_000
    import matplotlib.image
    pixels = np.round(matplotlib.image.imread(str(path))[..., :3] * 255).astype(int)
    assert pixels.shape[0] >= 300 and pixels.shape[1] >= 300
    colours, counts = np.unique(pixels.reshape(-1, 3), axis=0, return_counts=True)
    share = dict(zip(map(tuple, colours), counts / counts.sum()))
    regions = [share.get(tuple(_rgb(c)), 0.0) for c in T.REGION_COLOURS[:3]]
    assert min(regions) > 0.05 and sum(regions) > 0.5, regions  # every class has a region, and they fill the plot
    near = lambda c: np.all(np.abs(pixels - _rgb(c)) <= 12, axis=-1).sum()  # noqa: E731
    assert all(near(c) > 50 for c in T.POINT_COLOURS[:3])  # the points of every class are drawn


def test_no_boundary_for_data_with_more_than_two_features(tmp_path):
    summary = T.train(T.Config(epochs=1, hidden=8, backend="numpy", out=str(tmp_path)), progress=False,
                      print_fn=lambda *a: None)
    assert summary["plots"] == {"loss": str(tmp_path / "loss.png")} and not (tmp_path / "boundary.png").exists()


# ---------------------------------------------------------------------------------------------
# The multiclass SVM loss and deeper nets

def _numpy_loss(params, X, y, reg, data_loss):
    """The net's loss in plain numpy, the hinge loss as a double loop (relu hidden layers)."""
    k = len(params) // 2
    h = X
    for i in range(1, k):
        h = np.maximum(h @ params[f"W{i}"] + params[f"b{i}"], 0)
    s = h @ params[f"W{k}"] + params[f"b{k}"]
    n, c = s.shape
    total = 0.0
    for i in range(n):
        if data_loss == "svm":
            for j in range(c):
                if j != y[i]:
                    total += max(0.0, s[i, j] - s[i, y[i]] + 1.0)
        else:
            total -= s[i, y[i]] - np.log(np.sum(np.exp(s[i])))
    return total / n + reg * sum(np.sum(params[f"W{i}"] ** 2) for i in range(1, k + 1))


def _jax_loss(params, X, y, reg, data_loss):
    """The same loss in jax.numpy."""
    import jax
    import jax.numpy as jnp
    k = len(params) // 2
    h = X
    for i in range(1, k):
        h = jax.nn.relu(h @ params[f"W{i}"] + params[f"b{i}"])
    s = h @ params[f"W{k}"] + params[f"b{k}"]
    rows = jnp.arange(s.shape[0])
    if data_loss == "svm":
        margins = jnp.maximum(0, s - s[rows, y][:, None] + 1).at[rows, y].set(0)
        data = jnp.sum(margins) / s.shape[0]
    else:
        data = -jnp.mean(jax.nn.log_softmax(s)[rows, y])
    return data + reg * sum(jnp.sum(params[f"W{i}"] ** 2) for i in range(1, k + 1))


@pytest.mark.parametrize("hidden, data_loss", [(5, "svm"), ((5, 4), "svm"), ((5, 4), "softmax")])
def test_loss_value_and_gradient(hidden, data_loss):
    """The loss against a numpy loop, its gradient against jax.grad, for one and two hidden layers."""
    import jax
    rng = np.random.default_rng(1)
    params = {k: 3 * v.astype(np.float64) for k, v in T.init_params(4, hidden, 3, seed=2).items()}
    X, y = rng.standard_normal((12, 4)), rng.integers(0, 3, 12)
    if data_loss == "svm":  # some margins are active, some are not: max(0, .) matters
        s = np.asarray(T.scores(params, X))
        active = s - s[np.arange(12), y][:, None] + 1 > 0
        assert 12 < active.sum() < 36
    value = T.loss(params, X, y, "relu", 0.01, data_loss)
    assert np.isclose(float(value), _numpy_loss(params, X, y, 0.01, data_loss), rtol=1e-12)
    ours = mg.grad(T.loss)(params, X, y, "relu", 0.01, data_loss)
    theirs = jax.jit(jax.grad(_jax_loss), static_argnums=4)(params, X, y, 0.01, data_loss)
    assert set(ours) == set(params)
    for k in params:
        assert np.allclose(ours[k], theirs[k], rtol=1e-10, atol=1e-12), k


def test_svm_differs_from_softmax():
    params = T.init_params(4, 5, 3)
    X, y = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32), np.array([0, 1, 2, 2, 1, 0])
    assert not np.isclose(float(T.loss(params, X, y, data_loss="svm")), float(T.loss(params, X, y)))
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        T.loss(params, X, y, data_loss="hinge")


def test_params_of_deeper_nets():
    assert list(T.init_params(64, 64, 10)) == ["W1", "b1", "W2", "b2"]
    params = T.init_params(2, (100, 50), 3)
    assert {k: v.shape for k, v in params.items()} == {
        "W1": (2, 100), "b1": (100,), "W2": (100, 50), "b2": (50,), "W3": (50, 3), "b3": (3,)}
    maxout = T.init_params(2, [6, 5], 3, "maxout")
    assert maxout["W1"].shape == (2, 2, 6) and maxout["W2"].shape == (2, 6, 5) and maxout["W3"].shape == (5, 3)
    X = np.ones((4, 2), np.float32)
    assert T.scores(maxout, X, "maxout").shape == T.scores(params, X, "tanh").shape == (4, 3)
    assert np.array_equal(T.init_params(3, 7, 2)["W1"], T.init_params(3, (7,), 2)["W1"])


@pytest.mark.parametrize("hidden, expected", [(64, (64,)), ((100, 100), (100, 100)), ([3, 2, 1], (3, 2, 1)),
                                              ("100,100", (100, 100)), (" 8 , 4 ", (8, 4))])
def test_hidden_sizes(hidden, expected):
    assert T.hidden_sizes(hidden) == expected
    assert T.Config(hidden=hidden).resolved().hidden == expected


@pytest.mark.parametrize("hidden, message", [("100,,x", "whole numbers separated by commas"), ((), "whole numbers"),
                                             ((64, 0), "at least 1"), (2.5, "whole numbers"), ((True,), "whole")])
def test_bad_hidden_sizes(hidden, message):
    with pytest.raises(ValueError, match=message):
        T.Config(hidden=hidden).resolved()


@pytest.mark.parametrize("loss", T.LOSSES)
def test_config_chooses_the_loss_and_the_layers(tmp_path, loss):
    """The first step's loss is the chosen loss of the initial deeper net on the first shuffled batch."""
    cfg = T.Config(data="spiral", hidden=(16, 8), loss=loss, epochs=2, backend="numpy", out=str(tmp_path))
    summary = T.train(cfg, progress=False, print_fn=lambda *a: None)
    X, y, _, _ = T.load_data("spiral")
    first = np.random.default_rng(0).permutation(len(X))[:32]
    params = T.init_params(2, (16, 8), 3)
    expected = float(T.loss(params, X[first], y[first], "relu", 1e-4, loss))
    assert np.isclose(summary["history"]["step_loss"][0], expected, rtol=1e-5)
    assert summary["config"]["hidden"] == (16, 8) and summary["config"]["loss"] == loss
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["config"]["hidden"] == [16, 8] and saved["config"]["loss"] == loss


def test_cli_loss_and_hidden(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", "spiral", "--loss", "svm", "--hidden", "12,6", "--epochs", "2",
                 "--backend", "numpy", "--no-progress", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "net 2-12-6-3 (relu), svm loss" in printed and str(out / "boundary.png") in printed
    config = json.loads((out / "summary.json").read_text())["config"]
    assert config["loss"] == "svm" and config["hidden"] == [12, 6] and config["backend"] == "numpy"


# ---------------------------------------------------------------------------------------------
# A diverging run

def test_check_finite_names_the_first_bad_step():
    T.check_finite([1.0, 2.0], {"W1": np.ones(2)}, 1, 0.1)
    with pytest.raises(T.TrainingDivergedError) as e:
        T.check_finite([1.0, np.inf, np.nan], {"W1": np.ones(2)}, 4, 50.0)
    assert (e.value.what, e.value.value, e.value.epoch, e.value.step, e.value.suggested_lr) == \
        ("the loss", np.inf, 4, 2, 5.0)
    assert str(e.value).startswith("the loss became inf at epoch 4 step 2 with learning rate 50")
    assert "lr=5" in str(e.value) and isinstance(e.value, mg.MinigradError)
    with pytest.raises(T.TrainingDivergedError, match="the parameters became nan at epoch 2 step 3"):
        T.check_finite([1.0, 2.0, 3.0], {"W1": np.array([1.0, np.nan])}, 2, 1.0)


@pytest.mark.parametrize("fused", [False, True])
def test_a_diverging_run_stops_at_its_epoch(tmp_path, fused):
    kw = dict(data="spiral", lr=100.0, hidden=16, fused_epoch=fused, backend="numpy", out=str(tmp_path))
    quiet = dict(progress=False, print_fn=lambda *a: None)
    with pytest.raises(T.TrainingDivergedError) as e:
        T.train(T.Config(epochs=20, **kw), **quiet)
    assert e.value.lr == 100.0 and 1 <= e.value.step <= 240 // 32 and not np.isfinite(e.value.value)
    assert not (tmp_path / "summary.json").exists()
    if e.value.epoch > 1:  # the epochs before it were finite
        summary = T.train(T.Config(epochs=e.value.epoch - 1, **kw), **quiet)
        assert np.all(np.isfinite(summary["history"]["step_loss"]))


def test_cli_diverging_run_is_one_line_without_warnings(tmp_path):
    """Exit status 1 and one line naming the epoch, step, loss and --lr, even with -W error (numpy's
    overflow warnings of the numpy backend are caught)."""
    r = subprocess.run([sys.executable, "-W", "error", "-m", "minigrad_fn", "train", "--data", "spiral", "--lr",
                        "100", "--epochs", "20", "--backend", "numpy", "--no-progress", "--out", str(tmp_path)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 1 and "Traceback" not in r.stderr and "Warning" not in r.stderr, r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert re.fullmatch(r"minigrad-fn train: error: the loss became (nan|inf) at epoch \d+ step \d+ with --lr 100: "
                        r"lower the learning rate, e.g. --lr 10", line), line


def test_cli_train_with_check(tmp_path):
    """--check with the SVM loss and two hidden layers (ReLUs whose biases start at zero)."""
    out = tmp_path / "run"
    r = run_cli("train", "--data", "spiral", "--epochs", "2", "--hidden", "8,8", "--loss", "svm", "--check",
                "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "net 2-8-8-3 (relu), svm loss" in r.stdout
    assert "gradient check on the first batch" in r.stdout and "test accuracy" in r.stdout
    assert "train:" in r.stderr  # the progress bar
    assert json.loads((out / "summary.json").read_text())["config"]["check"] is True


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "mnist"], "invalid choice: 'mnist'"),
    (["train", "--lr", "-0.1"], "--lr must be positive"),
    (["train", "--epochs", "0"], "--epochs must be at least 1"),
    (["train", "--activation", "swish"], "invalid choice: 'swish'"),
    (["train", "--loss", "hinge"], "invalid choice: 'hinge'"),
    (["train", "--hidden", "100,,x"], "argument --hidden: hidden sizes are whole numbers separated by commas"),
    (["train", "--hidden", "100,0"], "argument --hidden: every hidden size must be at least 1"),
    (["graph", "lambda x: x", "1", "--digits", "-1"], "--digits must be between 0 and 12"),
])
def test_bad_arguments_exit_2_with_one_line(capsys, args, message):
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("args, message", [
    (["graph", "lambda x, y: (x + y", "1", "2"], "does not parse"),
    (["graph", "2 + 3", "1"], "is not a function"),
    (["graph", "lambda x: x", "one"], "is not a number"),
    (["graph", "lambda x, y: x @ y", "[1, 2]", "[1, 2, 3]"], "evaluating the expression failed"),
    (["graph", "lambda x: undefined(x)", "1"], "NameError"),
    (["explain", "lambda x: x", "1", "2"], "takes 1 positional argument"),
    (["graph", "lambda x: x * 2", "1", "--out", "g.unknown"], "cannot tell the format"),
    (["graph", "lambda x: max(x, 0)", "3"], "Python's max compares values, which a traced value cannot do: "
                                            "write maximum(x, 0), the lecture's max gate"),
    (["explain", "lambda x: max(x, 0)", "3"], "write maximum(x, 0)"),
    (["explain", "lambda x: 2 * min(x, 0)", "3"], "write minimum(x, 0)"),
    (["explain", "lambda x, y: max(x, y)", "1", "2"], "write maximum(x, y)"),
    (["explain", "lambda x: max(0, x)", "[1, -2]"], "write maximum(0, x)"),
    (["graph", "lambda x: x if x > 0 else 0", "[1, -2]"], "`x if x > 0 else 0` asks Python for one True or False"),
    (["explain", "lambda x: (x > 0 and x < 1) * x", "[1, -2]"], "write where(condition, a, b)"),
    (["explain", "lambda x: 0 < x < 1", "[1, -2]"], "`0 < x < 1`"),
])
def test_bad_input_exits_1_with_one_line(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_unwritable_out(capsys, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert main(["train", "--out", str(blocker / "run")]) == 1
    assert "cannot create the output folder" in capsys.readouterr().err
    assert main(["graph", "lambda x: x * 2", "1", "--out", str(blocker / "g.dot")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_cli_errors_have_no_traceback(tmp_path):
    r = run_cli("graph", "lambda x, y, z: (x + y", "-2", "5", "-4", "--out", str(tmp_path / "g.svg"))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == ["minigrad-fn graph: error: the expression does not parse "
                                             "('(' was never closed): 'lambda x, y, z: (x + y'"]
    r = run_cli("train", "--data", "nope")
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_graph_command_writes_dot_and_prints_tables(tmp_path, capsys):
    assert main(["graph", "lambda x, y, z: (x + y) * z", "-2", "5", "-4", "--out", str(tmp_path / "g.dot")]) == 0
    dot = (tmp_path / "g.dot").read_text()
    assert ">-12.00<" in dot and ">1.00<" in dot and 'label="add"' in dot
    assert main(["explain", "lambda w, x: sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])", "[2,-3,-3]", "[-1,-2]"]) == 0
    out = capsys.readouterr().out
    assert "logistic" in out and "sigmoid gate" in out and "0.73" in out
    assert main(["graph", "lambda x: exp(x) * x", "1.5", "--backward", "--digits", "3"]) == 0
    assert 'label="grad x"' in capsys.readouterr().out


@pytest.mark.skipif(renderer() is None, reason="no Graphviz renderer (dot or graphviz-pure) is installed")
def test_graph_command_renders_svg(tmp_path):
    r = run_cli("graph", "lambda x, y, z: (x + y) * z", "-2", "5", "-4", "--out", str(tmp_path / "g.svg"))
    assert r.returncode == 0, r.stderr
    assert "<svg" in (tmp_path / "g.svg").read_text()


# ---------------------------------------------------------------------------------------------
# Expressions on the command line

def test_advice_for_a_branch_on_an_abstract_tracer():
    """A ConcretizationError (bool() of a traced value) from an expression with a branch says: where."""
    error = ConcretizationError("bool() needs a concrete value", where="")
    assert "write where(condition, a, b)" in _expression_advice("lambda x: x if x > 0 else -x", error)
    assert _expression_advice("lambda x: float(x)", error) is None  # no branch in it: the error as it is
    assert _expression_advice("lambda x: undefined(x)", NameError("undefined")) is None
    assert "maximum(x, 1)" in _expression_advice("lambda x: max(x, 1)", error)


def test_max_of_an_array_and_a_number_runs_with_a_note(capsys):
    """numpy's max(x, 0) is a reduction along axis 0: it runs, and a note says what to write for the gate."""
    assert main(["explain", "lambda x: max(x, 0)", "[1, -2]"]) == 0
    captured = capsys.readouterr()
    assert "reduce_max" in captured.out
    assert captured.err.strip().splitlines() == [
        "minigrad-fn explain: note: max(x, 0) is numpy's max along axis 0; for the lecture's max gate, the larger "
        "of the two, write maximum(x, 0)"]
    assert main(["explain", "lambda x: maximum(x, 0)", "[1, -2]"]) == 0
    captured = capsys.readouterr()
    assert "max routes" in captured.out and captured.err == ""


def test_nn_functions_by_their_bare_names():
    import jax
    scope = expression_scope()
    for name in ("relu", "sigmoid", "softmax", "log_softmax", "logsumexp", "leaky_relu", "elu", "one_hot",
                 "maxout", "softmax_cross_entropy", "multiclass_svm_loss"):
        assert scope[name] is getattr(nn, name)
    assert scope["exp"] is mnp.exp and scope["nn"] is nn and "as_array" not in scope  # nn's imports are not
    f = parse_function("lambda x: logsumexp(x) + softmax(x)[0] + log_softmax(x)[1] + sum(leaky_relu(x, 0.1))")
    x = np.array([1.0, -2.0, 0.5])
    expected = jax.jit(lambda x: jax.nn.logsumexp(x) + jax.nn.softmax(x)[0] + jax.nn.log_softmax(x)[1]
                       + jax.numpy.sum(jax.nn.leaky_relu(x, 0.1)))(x)
    assert np.isclose(float(f(x)), float(expected), rtol=1e-12)


def test_numpy_names_win_over_nn(monkeypatch):
    """An nn function named like a numpy one does not replace numpy's in expressions (it stays nn.NAME)."""
    def exp(x):
        return x
    exp.__module__ = nn.__name__
    monkeypatch.setattr(nn, "exp", exp, raising=False)
    scope = expression_scope()
    assert scope["exp"] is mnp.exp and scope["nn"].exp is exp


def test_help_says_which_names_are_in_scope(capsys):
    with pytest.raises(SystemExit):
        main(["explain", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "relu, sigmoid, softmax, log_softmax, logsumexp" in text
    assert "numpy's wins and nn's is nn.NAME" in text and "max(0, x) is maximum(0, x)" in text


def test_numpy_warnings_become_one_note(capsys):
    """log(0) is -inf: the table shows it, and numpy's warnings (made errors here, as by -W error) become one
    line of ours, with no file path."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["explain", "lambda x: log(x)", "0"]) == 0
    captured = capsys.readouterr()
    assert "-inf" in captured.out
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("minigrad-fn explain: note: numpy reported divide by zero encountered in log")
    assert ".py" not in line
    assert main(["explain", "lambda x: log(x)", "1"]) == 0
    assert capsys.readouterr().err == ""


def test_cli_numpy_warnings_with_w_error(tmp_path):
    r = run_cli("explain", "lambda x: log(x)", "0")
    r_error = subprocess.run([sys.executable, "-W", "error", "-m", "minigrad_fn", "explain", "lambda x: log(x)", "0"],
                             capture_output=True, text=True, cwd=ROOT, timeout=300)
    for r in (r, r_error):
        assert r.returncode == 0 and "-inf" in r.stdout
        assert len(r.stderr.strip().splitlines()) == 1 and "Warning" not in r.stderr and ".py" not in r.stderr


def test_cli_quiz_plumbing_and_layers(capsys):
    """explain --quiz leaves the gradients blank; graph --plumbing draws the reshape a product makes and
    --view layers draws a net's layer as one node."""
    assert main(["explain", "lambda x, y, z: (x + y) * z", "-2", "5", "-4", "--quiz"]) == 0
    out = capsys.readouterr().out
    assert out.count("____") == 8 and "-4.00  -4.00" not in out  # 4 downstreams, an upstream, 3 inputs
    expr = "lambda W, x, b: sum(tanh(W @ x + b) ** 2)"
    args = ["[[1,2],[3,4]]", "[0.1,0.2]", "[0.5,-0.5]"]
    counts = {}
    for flags in ([], ["--plumbing"], ["--view", "layers"]):
        assert main(["graph", expr, *args, *flags]) == 0
        counts[" ".join(flags)] = len(re.findall(r"^\s*g\d+ \[", capsys.readouterr().out, re.M))
    assert counts["--plumbing"] > counts[""] > counts["--view layers"] >= 1, counts
