"""`python -m minigrad_fn train`: the lecture's 2-layer net `W2 act(W1 x + b1) + b2` with a softmax
cross-entropy loss, trained by minibatch gradient descent with `jit(value_and_grad(loss))`.

Data: the 8x8 handwritten digits that ship inside scikit-learn (1797 images, 10 classes, no download),
or the lecture's spiral toy data (3 interleaved spirals in 2-d). Writes a loss/accuracy plot and a JSON
summary to `--out`.

With `fused_epoch`, a whole epoch is one jitted program: the minibatch loop is a `lax.scan` over the
epoch's batches (stacked into a `(steps, batch, features)` array in the same shuffled order), carrying
the params and returning the per-step losses, so Python dispatches once per epoch instead of once per
step. Both modes drop the last partial batch of each epoch (`len(X_train) // batch` equal steps), so they
take the same steps on the same examples and agree to float rounding.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass

import numpy as np

import minigrad_fn as mg
import minigrad_fn.numpy as mnp
from minigrad_fn import lax, nn

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "elu", "maxout")
DATASETS = ("digits", "spiral")
BACKENDS = ("xla", "numpy")
# What each dataset trains well with when the command line does not say.
DEFAULTS = {"digits": {"lr": 0.1, "epochs": 20, "hidden": 64}, "spiral": {"lr": 1.0, "epochs": 300, "hidden": 100}}


@dataclass
class Config:
    """What `train` does; None means the dataset's default (see DEFAULTS)."""
    data: str = "digits"
    hidden: int | None = None
    activation: str = "relu"
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
        """A copy with the dataset's defaults filled in."""
        values = asdict(self)
        for k, v in DEFAULTS[self.data].items():
            if values[k] is None:
                values[k] = v
        return Config(**values)


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

def init_params(d_in: int, hidden: int, classes: int, activation: str = "relu", seed: int = 0) -> dict:
    """He-style random weights (maxout has two pieces per hidden unit), zero biases, float32."""
    rng = np.random.default_rng(seed)
    pieces = (2,) if activation == "maxout" else ()
    params = {
        "W1": rng.standard_normal(pieces + (d_in, hidden)) * np.sqrt(2.0 / d_in),
        "b1": np.zeros(pieces + (hidden,)),
        "W2": rng.standard_normal((hidden, classes)) * np.sqrt(1.0 / hidden),
        "b2": np.zeros(classes),
    }
    return {k: v.astype(np.float32) for k, v in params.items()}


def hidden_layer(params: dict, X, activation: str):
    """act(X W1 + b1), for every activation function of the lecture."""
    if activation == "maxout":
        return nn.maxout(X, params["W1"], params["b1"])
    pre = X @ params["W1"] + params["b1"]
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


def scores(params: dict, X, activation: str = "relu"):
    """The class scores W2 h + b2."""
    return hidden_layer(params, X, activation) @ params["W2"] + params["b2"]


def loss(params: dict, X, y, activation: str = "relu", reg: float = 1e-4):
    """Softmax cross-entropy plus L2 regularisation of the weights, reg * (sum W1^2 + sum W2^2)."""
    data = nn.softmax_cross_entropy(scores(params, X, activation), y)
    return data + reg * (mnp.sum(params["W1"] ** 2) + mnp.sum(params["W2"] ** 2))


def sgd_step(params: dict, X, y, activation: str, lr: float, reg: float):
    """One step of gradient descent on one batch: `(new params, loss)` (traced, not compiled)."""
    value, grads = mg.value_and_grad(loss)(params, X, y, activation, reg)
    return {k: params[k] - lr * grads[k] for k in params}, value


def make_step(activation: str, lr: float, reg: float, backend: str = "xla"):
    """One jitted step of gradient descent: `(params, X, y) -> (new params, loss)`."""
    def step(params, X, y):
        return sgd_step(params, X, y, activation, lr, reg)
    return mg.jit(step, backend=backend)


def epoch_fn(activation: str, lr: float, reg: float):
    """A whole epoch, `(params, Xb, yb) -> (new params, per-step losses)`: a `lax.scan` of `sgd_step` over
    the leading axis of the stacked batches `Xb` `(steps, batch, features)` and `yb` `(steps, batch)`."""
    def epoch(params, Xb, yb):
        return lax.scan(lambda p, batch: sgd_step(p, *batch, activation, lr, reg), params, (Xb, yb))
    return epoch


def make_epoch(activation: str, lr: float, reg: float, backend: str = "xla"):
    """`epoch_fn` jitted: one compiled program per epoch (one scan equation whose length is the number of
    batches)."""
    return mg.jit(epoch_fn(activation, lr, reg), backend=backend)


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
    """Train as `config` says; write loss.png and summary.json to config.out; return the summary."""
    cfg = config.resolved()
    start = time.perf_counter()
    X_train, y_train, X_test, y_test = load_data(cfg.data, cfg.test_fraction, cfg.seed)
    classes = int(max(y_train.max(), y_test.max())) + 1
    params = init_params(X_train.shape[1], cfg.hidden, classes, cfg.activation, cfg.seed)
    batch = min(cfg.batch_size, len(X_train))
    print_fn(f"{cfg.data}: {len(X_train)} train / {len(X_test)} test examples, {X_train.shape[1]} features, "
             f"{classes} classes; net {X_train.shape[1]}-{cfg.hidden}-{classes} ({cfg.activation}), "
             f"lr {cfg.lr:g}, batch {batch}, {cfg.epochs} epochs, backend {cfg.backend}"
             + (", one compiled program per epoch" if cfg.fused_epoch else ""))

    if cfg.check:
        check_first_batch(params, X_train[:batch], y_train[:batch], cfg)
        print_fn("gradient check on the first batch: ours = JAX's = finite differences")

    step = (make_epoch if cfg.fused_epoch else make_step)(cfg.activation, cfg.lr, cfg.reg, cfg.backend)
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
        history["step_loss"] += losses
        history["epoch_loss"].append(float(np.mean(losses)))
        history["train_accuracy"].append(accuracy(predict, params, X_train, y_train))
        history["test_accuracy"].append(accuracy(predict, params, X_test, y_test))
        if cfg.fused_epoch:
            bar.set_postfix(loss=f"{history['epoch_loss'][-1]:.4f}", refresh=False)
            bar.update(1)
    bar.close()
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
        "history": history,
    }
    os.makedirs(cfg.out, exist_ok=True)
    plot_path = os.path.join(cfg.out, "loss.png")
    plot_history(history, steps_per_epoch, plot_path, title=f"{cfg.data}, {cfg.activation}, lr {cfg.lr:g}")
    summary_path = os.path.join(cfg.out, "summary.json")
    with open(summary_path, "w") as f:
        json.dump(summary, f, indent=2)
    print_fn(f"epoch {cfg.epochs}: loss {summary['final_loss']:.4f}, train accuracy "
             f"{summary['train_accuracy']:.1%}, test accuracy {summary['test_accuracy']:.1%} ({seconds:.1f} s)")
    print_fn(f"wrote {plot_path} and {summary_path}")
    return summary


def check_first_batch(params: dict, X, y, cfg: Config) -> None:
    """`check_grads` of the loss on one batch, in float64 (ours vs JAX vs finite differences)."""
    as64 = {k: v.astype(np.float64) for k, v in params.items()}
    mg.check_grads(lambda p, X, y: loss(p, X, y, cfg.activation, cfg.reg), (as64, X.astype(np.float64), y))


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
