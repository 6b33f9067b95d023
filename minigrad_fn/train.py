"""`python -m minigrad_fn train`: the lecture's 2-layer net `W2 act(W1 x + b1) + b2` (or a deeper one,
`--hidden 100,100`) with a softmax cross-entropy or multiclass SVM loss plus L2 regularisation, trained by
minibatch gradient descent with `jit(value_and_grad(loss))`.

Data: the 8x8 handwritten digits that ship inside scikit-learn (1797 images, 10 classes, no download),
or the lecture's spiral toy data (3 interleaved spirals in 2-d). Writes a loss/accuracy plot, for 2-d data
the decision-boundary plot, and a JSON summary to `--out`. A run whose loss (or parameters) becomes NaN or
infinite stops after that epoch with a `TrainingDivergedError` naming the step and the learning rate.

With `fused_epoch`, a whole epoch is one jitted program: the minibatch loop is a `lax.scan` over the
epoch's batches (stacked into a `(steps, batch, features)` array in the same shuffled order), carrying
the params and returning the per-step losses, so Python dispatches once per epoch instead of once per
step. Both modes drop the last partial batch of each epoch (`len(X_train) // batch` equal steps), so they
take the same steps on the same examples and agree to float rounding.
"""
from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass

import numpy as np

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import lax, nn
from tracing import MinigradError

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "elu", "maxout")
DATASETS = ("digits", "spiral")
BACKENDS = ("xla", "numpy")
# The data losses of the lecture: softmax cross-entropy, and the multiclass SVM (hinge) loss
# L_i = sum_{j != y_i} max(0, s_j - s_{y_i} + 1); both averaged over the batch.
DATA_LOSSES = {"softmax": nn.softmax_cross_entropy, "svm": nn.multiclass_svm_loss}
LOSSES = tuple(DATA_LOSSES)
# What each dataset trains well with when the command line does not say.
DEFAULTS = {"digits": {"lr": 0.1, "epochs": 20, "hidden": 64}, "spiral": {"lr": 1.0, "epochs": 300, "hidden": 100}}


@dataclass
class Config:
    """What `train` does; None means the dataset's default (see DEFAULTS). `hidden` is the number of
    hidden units, or a sequence of them for more hidden layers (`(100, 100)`: a 3-layer net)."""
    data: str = "digits"
    hidden: int | tuple[int, ...] | None = None
    activation: str = "relu"
    loss: str = "softmax"
    lr: float | None = None
    epochs: int | None = None
    batch_size: int = 32
    reg: float = 1e-4
    seed: int = 0
    backend: str = "xla"
    test_fraction: float = 0.2
    out: str = "runs/train"
    check: bool = False
    fused_epoch: bool = False

    def resolved(self) -> "Config":
        """A copy with the dataset's defaults filled in, `hidden` as a tuple of sizes; a ValueError for an
        unknown dataset, loss or activation, or a hidden size below 1."""
        for what, value, choices in (("dataset", self.data, DATASETS), ("loss", self.loss, LOSSES),
                                     ("activation", self.activation, ACTIVATIONS)):
            if value not in choices:
                raise ValueError(f"unknown {what} {value!r}: choose one of {', '.join(choices)}")
        values = asdict(self)
        for k, v in DEFAULTS[self.data].items():
            if values[k] is None:
                values[k] = v
        values["hidden"] = hidden_sizes(values["hidden"])
        return Config(**values)


def hidden_sizes(hidden) -> tuple[int, ...]:
    """The hidden layers' sizes as a tuple: from an int (64), a sequence ((100, 100)) or the command line's
    comma-separated text ("100,100"); a ValueError unless every size is a whole number of at least 1."""
    text = hidden
    if isinstance(hidden, str):
        parts = [p.strip() for p in hidden.split(",")]
        if not all(re.fullmatch(r"[+-]?\d+", p) for p in parts):
            raise ValueError(f"hidden sizes are whole numbers separated by commas, such as 64 or 100,100; "
                             f"got {text!r}")
        sizes = tuple(int(p) for p in parts)
    elif isinstance(hidden, (int, np.integer)):
        sizes = (hidden,)
    else:
        sizes = tuple(hidden) if isinstance(hidden, (tuple, list, np.ndarray)) else ()
    if not sizes or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) for n in sizes):
        raise ValueError(f"hidden sizes are whole numbers, such as 64 or (100, 100); got {text!r}")
    if min(sizes) < 1:
        raise ValueError(f"every hidden size must be at least 1; got {text!r}")
    return tuple(int(n) for n in sizes)


class TrainingDivergedError(MinigradError, FloatingPointError):
    """The training loss (or the parameters) became NaN or infinite: gradient descent diverged, almost
    always because the learning rate is too large. `what`, `value`, `epoch`, `step` (both from 1) and `lr`
    say where; `suggested_lr` is a tenth of `lr`."""

    def __init__(self, what: str, value: float, epoch: int, step: int, lr: float):
        self.what, self.value, self.epoch, self.step, self.lr = what, value, epoch, step, lr
        self.suggested_lr = lr / 10
        super().__init__(f"{what} became {value} at epoch {epoch} step {step} with learning rate {lr:g}",
                         f"Lower the learning rate, e.g. lr={self.suggested_lr:g}.", where="")


# ---------------------------------------------------------------------------------------------
# Data

def spiral(points_per_class: int = 100, classes: int = 3, rng=None):
    """The lecture's toy data: `classes` spiral arms in the plane, with a little noise."""
    rng = np.random.default_rng(0) if rng is None else rng
    X, y = [], []
    for k in range(classes):
        r = np.linspace(0.0, 1.0, points_per_class)
        t = np.linspace(k * 4.0, (k + 1) * 4.0, points_per_class) + rng.standard_normal(points_per_class) * 0.2
        X.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        y.append(np.full(points_per_class, k))
    return np.concatenate(X), np.concatenate(y)


def load_data(name: str, test_fraction: float = 0.2, seed: int = 0):
    """`(X_train, y_train, X_test, y_test)`: float32 features standardised with the training set's
    statistics, int64 labels, a shuffled split."""
    rng = np.random.default_rng(seed)
    if name == "digits":
        from sklearn.datasets import load_digits  # ships the data: nothing is downloaded
        X, y = load_digits(return_X_y=True)
    elif name == "spiral":
        X, y = spiral(rng=rng)
    else:
        raise ValueError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    order = rng.permutation(len(X))
    n_test = int(round(len(X) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    mean, std = X[train].mean(axis=0), X[train].std(axis=0) + 1e-8
    X = ((X - mean) / std).astype(np.float32)
    return X[train], y[train].astype(np.int64), X[test], y[test].astype(np.int64)


# ---------------------------------------------------------------------------------------------
# The model

def init_params(d_in: int, hidden, classes: int, activation: str = "relu", seed: int = 0) -> dict:
    """He-style random weights (maxout has two pieces per hidden unit), zero biases, float32.

    `hidden` is one size or a sequence of them; the layers are W1, b1 (input to the first hidden layer)
    up to Wk, bk (the last hidden layer to the class scores)."""
    rng = np.random.default_rng(seed)
    pieces = (2,) if activation == "maxout" else ()
    sizes = (d_in,) + hidden_sizes(hidden) + (classes,)
    params = {}
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        last = i == len(sizes) - 1
        shape = () if last else pieces
        params[f"W{i}"] = rng.standard_normal(shape + (n_in, n_out)) * np.sqrt((1.0 if last else 2.0) / n_in)
        params[f"b{i}"] = np.zeros(shape + (n_out,))
    return {k: v.astype(np.float32) for k, v in params.items()}


def num_layers(params: dict) -> int:
    """How many weight matrices the net has (one more than its hidden layers)."""
    return sum(k.startswith("W") for k in params)


def activate(X, W, b, activation: str):
    """act(X W + b), for every activation function of the lecture (maxout: W and b hold two pieces)."""
    if activation == "maxout":
        return nn.maxout(X, W, b)
    pre = X @ W + b
    if activation == "relu":
        return nn.relu(pre)
    if activation == "leaky_relu":
        return nn.leaky_relu(pre, 0.1)  # the lecture's max(0.1 x, x)
    if activation == "sigmoid":
        return nn.sigmoid(pre)
    if activation == "tanh":
        return mnp.tanh(pre)
    if activation == "elu":
        return nn.elu(pre)
    raise ValueError(f"unknown activation {activation!r}: choose one of {', '.join(ACTIVATIONS)}")


def hidden_layer(params: dict, X, activation: str):
    """The last hidden layer's output: act(... act(X W1 + b1) ... W(k-1) + b(k-1))."""
    h = X
    for i in range(1, num_layers(params)):
        h = activate(h, params[f"W{i}"], params[f"b{i}"], activation)
    return h


def scores(params: dict, X, activation: str = "relu"):
    """The class scores Wk h + bk of the last hidden layer's output h."""
    k = num_layers(params)
    return hidden_layer(params, X, activation) @ params[f"W{k}"] + params[f"b{k}"]


def loss(params: dict, X, y, activation: str = "relu", reg: float = 1e-4, data_loss: str = "softmax"):
    """The data loss (`data_loss`: "softmax" cross-entropy or the multiclass "svm" loss, averaged over the
    batch) plus L2 regularisation of the weights, reg * (sum W1^2 + ... + sum Wk^2)."""
    if data_loss not in DATA_LOSSES:
        raise ValueError(f"unknown loss {data_loss!r}: choose one of {', '.join(LOSSES)}")
    data = DATA_LOSSES[data_loss](scores(params, X, activation), y)
    l2 = mnp.sum(params["W1"] ** 2)
    for i in range(2, num_layers(params) + 1):
        l2 = l2 + mnp.sum(params[f"W{i}"] ** 2)
    return data + reg * l2


def sgd_step(params: dict, X, y, activation: str, lr: float, reg: float, data_loss: str = "softmax"):
    """One step of gradient descent on one batch: `(new params, loss)` (traced, not compiled)."""
    value, grads = mg.value_and_grad(loss)(params, X, y, activation, reg, data_loss)
    return {k: params[k] - lr * grads[k] for k in params}, value


def make_step(activation: str, lr: float, reg: float, backend: str = "xla", data_loss: str = "softmax"):
    """One jitted step of gradient descent: `(params, X, y) -> (new params, loss)`."""
    def step(params, X, y):
        return sgd_step(params, X, y, activation, lr, reg, data_loss)
    return mg.jit(step, backend=backend)


def epoch_fn(activation: str, lr: float, reg: float, data_loss: str = "softmax"):
    """A whole epoch, `(params, Xb, yb) -> (new params, per-step losses)`: a `lax.scan` of `sgd_step` over
    the leading axis of the stacked batches `Xb` `(steps, batch, features)` and `yb` `(steps, batch)`."""
    def epoch(params, Xb, yb):
        return lax.scan(lambda p, batch: sgd_step(p, *batch, activation, lr, reg, data_loss), params, (Xb, yb))
    return epoch


def make_epoch(activation: str, lr: float, reg: float, backend: str = "xla", data_loss: str = "softmax"):
    """`epoch_fn` jitted: one compiled program per epoch (one scan equation whose length is the number of
    batches)."""
    return mg.jit(epoch_fn(activation, lr, reg, data_loss), backend=backend)


def epoch_batches(X, y, order, batch: int):
    """The epoch's equal batches in the order `order` visits the rows, stacked: `(steps, batch, ...)`;
    the last `len(order) % batch` rows are dropped, as the per-step loop drops them."""
    steps = len(order) // batch
    idx = order[:steps * batch].reshape(steps, batch)
    return X[idx], y[idx]


def accuracy(predict, params: dict, X, y) -> float:
    """The fraction of rows whose highest score is the label."""
    return float(np.mean(np.argmax(np.asarray(predict(params, X)), axis=1) == y))


# ---------------------------------------------------------------------------------------------
# Training

def train(config: Config, progress: bool = True, print_fn=print) -> dict:
    """Train as `config` says; write loss.png (and, for 2-d data, boundary.png) and summary.json to
    config.out; return the summary.

    The losses (and parameters) are checked once per epoch: a NaN or infinity stops the run with a
    `TrainingDivergedError`. numpy's floating-point warnings are silenced while training, since that
    check reports what they would."""
    cfg = config.resolved()
    start = time.perf_counter()
    X_train, y_train, X_test, y_test = load_data(cfg.data, cfg.test_fraction, cfg.seed)
    classes = int(max(y_train.max(), y_test.max())) + 1
    params = init_params(X_train.shape[1], cfg.hidden, classes, cfg.activation, cfg.seed)
    batch = min(cfg.batch_size, len(X_train))
    net = "-".join(str(n) for n in (X_train.shape[1], *cfg.hidden, classes))
    print_fn(f"{cfg.data}: {len(X_train)} train / {len(X_test)} test examples, {X_train.shape[1]} features, "
             f"{classes} classes; net {net} ({cfg.activation}), {cfg.loss} loss, "
             f"lr {cfg.lr:g}, batch {batch}, {cfg.epochs} epochs, backend {cfg.backend}"
             + (", one compiled program per epoch" if cfg.fused_epoch else ""))

    if cfg.check:
        check_first_batch(params, X_train[:batch], y_train[:batch], cfg)
        print_fn("gradient check on the first batch: ours = JAX's = finite differences")

    make = make_epoch if cfg.fused_epoch else make_step
    step = make(cfg.activation, cfg.lr, cfg.reg, cfg.backend, data_loss=cfg.loss)
    predict = mg.jit(lambda p, X: scores(p, X, cfg.activation), backend=cfg.backend)
    rng = np.random.default_rng(cfg.seed)
    steps_per_epoch = len(X_train) // batch  # equal batches: one compiled step (the partial one is dropped)
    history = {"step_loss": [], "epoch_loss": [], "train_accuracy": [], "test_accuracy": []}
    epoch_seconds = []  # the training part of each epoch (not the accuracy evaluation)
    from tqdm import tqdm
    if cfg.fused_epoch:  # the bar moves once per epoch: the steps run inside one compiled call
        bar = tqdm(total=cfg.epochs, desc="train", unit="epoch", disable=not progress, dynamic_ncols=True)
    else:
        bar = tqdm(total=cfg.epochs * steps_per_epoch, desc="train", unit="step", disable=not progress,
                   dynamic_ncols=True)
    with bar, np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        for epoch in range(cfg.epochs):
            order = rng.permutation(len(X_train))
            tick = time.perf_counter()
            if cfg.fused_epoch:
                params, values = step(params, *epoch_batches(X_train, y_train, order, batch))
                losses = [float(v) for v in np.asarray(values)]
            else:
                losses = []
                for b in range(steps_per_epoch):
                    idx = order[b * batch:(b + 1) * batch]
                    params, value = step(params, X_train[idx], y_train[idx])
                    losses.append(float(value))
                    bar.update(1)
                    if b % 10 == 0:
                        bar.set_postfix(epoch=epoch + 1, loss=f"{np.mean(losses[-10:]):.4f}", refresh=False)
            epoch_seconds.append(time.perf_counter() - tick)
            check_finite(losses, params, epoch + 1, cfg.lr)
            history["step_loss"] += losses
            history["epoch_loss"].append(float(np.mean(losses)))
            history["train_accuracy"].append(accuracy(predict, params, X_train, y_train))
            history["test_accuracy"].append(accuracy(predict, params, X_test, y_test))
            if cfg.fused_epoch:
                bar.set_postfix(loss=f"{history['epoch_loss'][-1]:.4f}", refresh=False)
                bar.update(1)
    seconds = time.perf_counter() - start

    summary = {
        "config": asdict(cfg),
        "train_accuracy": history["train_accuracy"][-1],
        "test_accuracy": history["test_accuracy"][-1],
        "final_loss": history["epoch_loss"][-1],
        "seconds": round(seconds, 2),
        "fused_epoch": cfg.fused_epoch,
        # the first epoch includes tracing and compiling; the later ones are the steady state
        "epoch_seconds": [round(t, 4) for t in epoch_seconds],
        "steps": len(history["step_loss"]),
        "plots": {},
        "history": history,
    }
    os.makedirs(cfg.out, exist_ok=True)
    title = f"{cfg.data}, {cfg.activation}, {cfg.loss} loss, lr {cfg.lr:g}"
    summary["plots"]["loss"] = os.path.join(cfg.out, "loss.png")
    plot_history(history, steps_per_epoch, summary["plots"]["loss"], title=title)
    if X_train.shape[1] == 2:  # data in the plane: draw the regions the net gives each class
        summary["plots"]["boundary"] = os.path.join(cfg.out, "boundary.png")
        plot_boundary(predict, params, (X_train, y_train), (X_test, y_test), summary["plots"]["boundary"],
                      title=f"{title}, test accuracy {summary['test_accuracy']:.1%}")
    summary_path = os.path.join(cfg.out, "summary.json")
    with open(summary_path, "w") as f:
        json.dump(summary, f, indent=2)
    print_fn(f"epoch {cfg.epochs}: loss {summary['final_loss']:.4f}, train accuracy "
             f"{summary['train_accuracy']:.1%}, test accuracy {summary['test_accuracy']:.1%} ({seconds:.1f} s)")
    print_fn(f"wrote {', '.join(summary['plots'].values())} and {summary_path}")
    return summary


def check_finite(losses: list, params: dict, epoch: int, lr: float) -> None:
    """Raise `TrainingDivergedError` at the first NaN or infinite loss of the epoch, or if the epoch's last
    update made a parameter NaN or infinite (its loss would only show in the next step)."""
    bad = ~np.isfinite(losses)
    if bad.any():
        step = int(np.argmax(bad))
        raise TrainingDivergedError("the loss", losses[step], epoch, step + 1, lr)
    for value in params.values():
        value = np.asarray(value)
        if not np.isfinite(value).all():
            first = value[~np.isfinite(value)].flat[0]
            raise TrainingDivergedError("the parameters", float(first), epoch, len(losses), lr)


def check_first_batch(params: dict, X, y, cfg: Config) -> None:
    """`check_grads` of the loss on one batch, in float64 (ours vs JAX vs finite differences).

    The biases are nudged off zero (by about 1e-3) for the check: with zero biases, an example that turns
    off every unit of a hidden layer puts the next layer's ReLUs exactly on their kink, where finite
    differences measure neither one-sided slope."""
    rng = np.random.default_rng(cfg.seed)
    as64 = {k: v.astype(np.float64) + (1e-3 * rng.standard_normal(v.shape) if k.startswith("b") else 0.0)
            for k, v in params.items()}
    mg.check_grads(lambda p, X, y: loss(p, X, y, cfg.activation, cfg.reg, cfg.loss),
                   (as64, X.astype(np.float64), y))


def plot_history(history: dict, steps_per_epoch: int, path: str, title: str = "") -> None:
    """Loss per step (and per epoch) beside train/test accuracy per epoch, saved as a PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4))
    steps = np.arange(1, len(history["step_loss"]) + 1)
    epochs = np.arange(1, len(history["epoch_loss"]) + 1)
    ax_loss.plot(steps / steps_per_epoch, history["step_loss"], color="#bbbbbb", lw=0.8, label="per step")
    ax_loss.plot(epochs, history["epoch_loss"], color="#cf222e", lw=1.8, label="epoch mean")
    ax_loss.set(xlabel="epoch", ylabel="loss", yscale="log", title="training loss")
    ax_loss.legend()
    ax_acc.plot(epochs, history["train_accuracy"], label="train", color="#0969da")
    ax_acc.plot(epochs, history["test_accuracy"], label="test", color="#1a7f37")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.01))
    ax_acc.legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# Class colours: a light shade for each class's region, a dark one for its points.
REGION_COLOURS = ("#a8c8f0", "#f5b7a8", "#b5dfb0", "#f3dd9a", "#d5bdf0", "#a8e3e0", "#f0bcd9", "#cfcfcf")
POINT_COLOURS = ("#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#1b7c83", "#bf3989", "#57606a")


def plot_boundary(predict, params: dict, train_data, test_data, path: str, title: str = "",
                  resolution: int = 200) -> None:
    """The decision boundary of a net on 2-d data, saved as a PNG: each point of a grid over the data's
    range (with a margin) coloured by the class the net predicts there, the training points (dots) and the
    test points (triangles) drawn on top in their label's colour, as in the lecture's spiral pictures."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    (X, y), (X_test, y_test) = train_data, test_data
    X_all = np.concatenate([X, X_test])
    lo, hi = X_all.min(axis=0), X_all.max(axis=0)
    lo, hi = lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo)
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution))
    grid = np.stack([gx.ravel(), gy.ravel()], axis=1).astype(X.dtype)
    regions = np.argmax(np.asarray(predict(params, grid)), axis=1).reshape(gx.shape)
    classes = int(max(y.max(), y_test.max(), regions.max())) + 1
    region_colours = [REGION_COLOURS[k % len(REGION_COLOURS)] for k in range(classes)]
    point_colours = np.array([POINT_COLOURS[k % len(POINT_COLOURS)] for k in range(classes)])
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.imshow(regions, origin="lower", extent=(lo[0], hi[0], lo[1], hi[1]), cmap=ListedColormap(region_colours),
              vmin=-0.5, vmax=classes - 0.5, interpolation="nearest", aspect="auto")
    ax.scatter(X[:, 0], X[:, 1], c=point_colours[y], s=14, edgecolors="white", linewidths=0.4, label="train")
    ax.scatter(X_test[:, 0], X_test[:, 1], c=point_colours[y_test], s=22, marker="^", edgecolors="black",
               linewidths=0.5, label="test")
    ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), xticks=[], yticks=[], title=title)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
