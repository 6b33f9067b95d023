"""The training command and the other command-line tools: results, files written, and one-line errors."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import minigrad_fn as mg
from tracing import subjaxprs
from minigrad_fn import train as T
from minigrad_fn.__main__ import main

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


@pytest.mark.parametrize("backend", T.BACKENDS)
def test_fused_epoch_trains_like_the_step_loop(tmp_path, backend):
    """One compiled scan per epoch takes the same steps on the same batches as one jitted call per step
    (240 spiral points in batches of 32: 7 steps, the last 16 points dropped in both)."""
    kw = dict(data="spiral", epochs=6, hidden=16, seed=1, backend=backend)
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


def test_spiral_run(tmp_path):
    summary = T.train(T.Config(data="spiral", epochs=150, out=str(tmp_path)), progress=False,
                      print_fn=lambda *a: None)
    assert summary["test_accuracy"] >= 0.9


def test_cli_train_with_check(tmp_path):
    out = tmp_path / "run"
    r = run_cli("train", "--epochs", "2", "--hidden", "16", "--check", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "gradient check on the first batch" in r.stdout and "test accuracy" in r.stdout
    assert "train:" in r.stderr  # the progress bar
    assert json.loads((out / "summary.json").read_text())["config"]["check"] is True


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "mnist"], "invalid choice: 'mnist'"),
    (["train", "--lr", "-0.1"], "--lr must be positive"),
    (["train", "--epochs", "0"], "--epochs must be at least 1"),
    (["train", "--activation", "swish"], "invalid choice: 'swish'"),
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


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
def test_graph_command_renders_svg(tmp_path):
    r = run_cli("graph", "lambda x, y, z: (x + y) * z", "-2", "5", "-4", "--out", str(tmp_path / "g.svg"))
    assert r.returncode == 0, r.stderr
    assert "<svg" in (tmp_path / "g.svg").read_text()
