"""Command line: `python -m minigrad_fn {train, graph, explain, demo}` (also the `minigrad-fn` script).

Bad input gets one line on stderr and exit status 2 (bad arguments) or 1 (the work failed), never a
traceback. numpy's floating-point warnings (divide by zero in log, overflow in exp) are caught: a command
that succeeds despite them ends with one note line saying so, one that fails says only why.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import inspect
import os
import sys
import warnings

_EXPR_HELP = ('a Python lambda, e.g. "lambda x, y, z: (x + y) * z". In scope by their bare names: numpy\'s '
              '(exp, log, maximum, where, tanh, sum, ...) and nn\'s functions (relu, sigmoid, softmax, '
              'log_softmax, logsumexp, leaky_relu, elu, ...); where both have a name, numpy\'s wins and '
              'nn\'s is nn.NAME. max and min are numpy\'s (the largest entry along an axis): the lecture\'s '
              'max gate max(0, x) is maximum(0, x). np, mnp and nn are in scope too.')


class CommandError(Exception):
    """A problem with what the user asked for: reported in one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line (no usage block): `minigrad-fn train: error: ...`."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="minigrad-fn", description="minigrad-fn: functional autodiff from the lecture")
    sub = parser.add_subparsers(dest="command", required=True)

    from .train import ACTIVATIONS, BACKENDS, DATASETS, LOSSES
    train = sub.add_parser("train", help="train the lecture's 2-layer net (digits by default)",
                           description="Train the 2-layer net W2 act(W1 x + b1) + b2 (or a deeper one) with "
                                       "softmax cross-entropy or the multiclass SVM loss by minibatch gradient "
                                       "descent, jit-compiled. A run whose loss becomes NaN or infinite stops "
                                       "and says so.")
    train.add_argument("--data", choices=DATASETS, default="digits",
                       help="digits (8x8 handwritten digits from scikit-learn) or spiral (the lecture's toy data; "
                            "also writes boundary.png, the class regions the net learned)")
    train.add_argument("--hidden", type=_hidden_argument, metavar="SIZES",
                       help="hidden units, or a comma-separated list of sizes for more hidden layers: 64 is the "
                            "2-layer net, 100,100 a 3-layer one (default: 64 for digits, 100 for spiral)")
    train.add_argument("--activation", choices=ACTIVATIONS, default="relu", help="hidden activation (default relu)")
    train.add_argument("--loss", choices=LOSSES, default="softmax",
                       help="softmax (cross-entropy, the default) or svm (the multiclass SVM loss "
                            "sum_{j != y_i} max(0, s_j - s_{y_i} + 1)), averaged over the batch, plus L2")
    train.add_argument("--lr", type=float, help="learning rate (default: 0.1 for digits, 1.0 for spiral)")
    train.add_argument("--epochs", type=int, help="passes over the training set (default: 20 digits, 300 spiral)")
    train.add_argument("--batch-size", type=int, default=32, help="examples per step (default 32)")
    train.add_argument("--reg", type=float, default=1e-4, help="L2 regularisation strength (default 1e-4)")
    train.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and shuffling")
    train.add_argument("--backend", choices=BACKENDS, default="xla", help="xla (jax.jit) or numpy (the interpreter)")
    train.add_argument("--out", default="runs/train",
                       help="folder for loss.png, boundary.png (2-d data) and summary.json (default runs/train)")
    train.add_argument("--check", action="store_true", help="cross-check the first batch's gradients with check_grads")
    train.add_argument("--fused-epoch", action="store_true",
                       help="run each epoch as one jitted program: a lax.scan over its minibatches (same results)")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")

    for name, what in (("graph", "draw a function's computational graph with values and gradients"),
                       ("explain", "print backprop step by step: downstream = local x upstream")):
        p = sub.add_parser(name, help=what, description=what[0].upper() + what[1:] + ".")
        p.add_argument("expression", help=_EXPR_HELP)
        p.add_argument("args", nargs="*", help="the arguments: numbers or lists such as [2,-3,-3]")
        p.add_argument("--digits", type=int, default=2, help="decimals shown (default 2)")
        if name == "graph":
            p.add_argument("--out", help="where to write the picture: .svg, .png, .pdf or .dot "
                                         "(default: DOT on stdout)")
            p.add_argument("--backward", action="store_true", help="also draw the backward pass's equations")
            p.add_argument("--collapse", action="append",
                           help="draw the calls of this function as one node (repeatable; nn's are by default)")
            p.add_argument("--plumbing", action="store_true",
                           help="also draw layout plumbing (reshape, squeeze, broadcast) as gates")
            p.add_argument("--view", choices=("gates", "layers"), default="gates",
                           help="gates (one node per operation) or layers (a net's layers as nodes)")
        else:
            p.add_argument("--quiz", action="store_true", help="leave the gradients blank, to fill in by hand")

    demo = sub.add_parser("demo", help="the lecture's worked examples, their IR, and a 2-layer net training")
    demo.add_argument("--steps", type=int, default=5, help="gradient-descent steps of the 2-layer net (default 5)")
    parser.subcommands = sub.choices
    return parser


def main(argv=None) -> int:
    """Entry point of `python -m minigrad_fn` and the `minigrad-fn` script."""
    parser = _parser()
    args = parser.parse_args(argv)
    _validate(parser.subcommands[args.command], args)
    numpy_warnings: list[str] = []
    try:
        with _numpy_warnings_caught(numpy_warnings):
            status = _run(args)
    except CommandError as e:
        print(f"minigrad-fn {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"minigrad-fn {args.command}: interrupted", file=sys.stderr)
        return 130
    if numpy_warnings:
        kinds = list(dict.fromkeys(numpy_warnings))  # distinct, in order
        more = f" (and {len(kinds) - 2} more kinds)" if len(kinds) > 2 else ""
        print(f"minigrad-fn {args.command}: note: numpy reported {'; '.join(kinds[:2])}{more}: some values are "
              "inf or nan", file=sys.stderr)
    return status


def _run(args) -> int:
    if args.command == "train":
        return _train(args)
    if args.command in ("graph", "explain"):
        return _picture(args)
    from . import demo as _demo
    _demo.run(args.steps)
    return 0


@contextlib.contextmanager
def _numpy_warnings_caught(messages: list):
    """Collect numpy's floating-point warnings ("divide by zero encountered in log") into `messages`
    instead of printing them with a library file's path, whatever -W or PYTHONWARNINGS say; every other
    warning is shown as usual."""
    with warnings.catch_warnings():
        warnings.filterwarnings("always", message=".* encountered in ", category=RuntimeWarning)
        show = warnings.showwarning

        def collect(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, RuntimeWarning) and " encountered in " in str(message):
                messages.append(str(message))
            else:
                show(message, category, filename, lineno, file, line)
        warnings.showwarning = collect
        yield


def _validate(parser, args) -> None:
    if args.command == "demo" and args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.command == "train":
        for name in ("epochs", "batch_size"):
            value = getattr(args, name)
            if value is not None and value < 1:
                parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if args.lr is not None and not args.lr > 0:
            parser.error(f"--lr must be positive, got {args.lr:g}")
        if args.reg < 0:
            parser.error(f"--reg must be zero or positive, got {args.reg:g}")
    if args.command in ("graph", "explain") and not 0 <= args.digits <= 12:
        parser.error(f"--digits must be between 0 and 12, got {args.digits}")


def _hidden_argument(text: str) -> tuple:
    """--hidden's value: "64" or "100,100" as a tuple of sizes, or argparse's one-line error."""
    from .train import hidden_sizes
    try:
        return hidden_sizes(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _train(args) -> int:
    from .train import Config, TrainingDivergedError, train
    _check_writable_dir(args.out)
    config = Config(data=args.data, hidden=args.hidden, activation=args.activation, loss=args.loss, lr=args.lr,
                    epochs=args.epochs, batch_size=args.batch_size, reg=args.reg, seed=args.seed,
                    backend=args.backend, out=args.out, check=args.check, fused_epoch=args.fused_epoch)
    try:
        train(config, progress=not args.no_progress)
    except TrainingDivergedError as e:
        raise CommandError(f"{e.what} became {e.value} at epoch {e.epoch} step {e.step} with --lr {e.lr:g}: "
                           f"lower the learning rate, e.g. --lr {e.suggested_lr:g}") from None
    except ImportError as e:
        raise CommandError(f"the package {e.name or e} is missing: reinstall with python -m pip install .") from None
    except AssertionError as e:  # check_grads disagreed
        raise CommandError(f"gradient check failed: {str(e).splitlines()[0]}") from None
    except OSError as e:
        raise CommandError(f"cannot write to {args.out!r}: {e.strerror or e}") from None
    return 0


def _check_writable_dir(path: str) -> None:
    """Fail before training, not after, if the output folder cannot be made or written."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise CommandError(f"cannot create the output folder {path!r}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK):
        raise CommandError(f"the output folder {path!r} is not writable")


def expression_scope() -> dict:
    """The names a command-line expression may use: numpy's (minigrad_fn.numpy's public names), nn's
    functions by their bare names where numpy has no such name (nn.NAME always works), and np, mnp, nn."""
    import numpy as np

    from . import nn
    from . import numpy as mnp
    scope = {k: getattr(mnp, k) for k in dir(mnp) if not k.startswith("_")}
    for name, value in vars(nn).items():  # nn's own functions, not what it imports
        if not name.startswith("_") and inspect.isfunction(value) and value.__module__ == nn.__name__:
            scope.setdefault(name, value)
    scope.update(np=np, mnp=mnp, nn=nn)
    return scope


def parse_function(expression: str):
    """The function a command-line expression stands for, or a CommandError saying why not."""
    try:
        code = compile(expression, "<expression>", "eval")
    except SyntaxError as e:
        raise CommandError(f"the expression does not parse ({e.msg}): {expression!r}") from None
    try:
        fun = eval(code, expression_scope())  # noqa: S307  (the user's own command line)
    except Exception as e:
        raise CommandError(f"the expression fails: {type(e).__name__}: {e}") from None
    if not callable(fun):
        raise CommandError("the expression is not a function: write it as a lambda, e.g. \"lambda x, y: x * y\"")
    return fun


_ELEMENTWISE = {"max": "maximum", "min": "minimum"}


def _two_value_calls(expression: str) -> list:
    """`(call, name, arguments, second argument)` source text of each call `max(a, b)` / `min(a, b)` in the
    expression: numpy's max with an axis, which a student most likely meant as the elementwise maximum."""
    found = []
    for node in ast.walk(ast.parse(expression, mode="eval")):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _ELEMENTWISE
                and len(node.args) >= 2):
            args = [ast.get_source_segment(expression, a) for a in node.args]
            found.append((ast.get_source_segment(expression, node), node.func.id, ", ".join(args), args[1]))
    return found


def _max_advice(call: str, name: str, args: str, axis: str, failed: bool = True) -> str:
    """What `max(a, b)` (or min) means here and what to write for the gate."""
    gate = "the lecture's max gate" if name == "max" else "the elementwise min gate"
    if failed:
        return (f"{call} here is numpy's {name} along axis {axis}, and Python's {name} compares values, which a "
                f"traced value cannot do: write {_ELEMENTWISE[name]}({args}), {gate}")
    return (f"{call} is numpy's {name} along axis {axis}; for {gate}, the "
            f"{'larger' if name == 'max' else 'smaller'} of the two, write {_ELEMENTWISE[name]}({args})")


def _branches(expression: str) -> list:
    """The parts of the expression that make Python decide True or False: `a if c else b`, `and`/`or`,
    `not`, chained comparisons `a < x < b`."""
    found = []
    for node in ast.walk(ast.parse(expression, mode="eval")):
        if (isinstance(node, (ast.IfExp, ast.BoolOp)) or isinstance(getattr(node, "op", None), ast.Not)
                or (isinstance(node, ast.Compare) and len(node.ops) > 1)):
            found.append(ast.get_source_segment(expression, node))
    return found


def _expression_advice(expression: str, error: Exception) -> str | None:
    """What to write instead, when evaluating `expression` failed with `error` because of a Python construct
    that needs concrete values: max/min of two values, or a branch on a traced array. None otherwise."""
    from tracing import ConcretizationError, MinigradError
    calls = _two_value_calls(expression)
    if calls and isinstance(error, (MinigradError, TypeError, ValueError)):
        return _max_advice(*calls[0])
    branches = _branches(expression)
    truth_value = isinstance(error, ConcretizationError) or (
        type(error) is ValueError and "truth value of an array" in str(error))
    if branches and truth_value:
        return (f"`{branches[0]}` asks Python for one True or False, but the condition is a traced array "
                "(a value for each entry): write where(condition, a, b), which chooses entry by entry "
                "(and logical_and, logical_or, logical_not instead of and, or, not)")
    return None


def parse_argument(text: str):
    """A command-line argument as a float64 array: a number or a (nested) list of numbers."""
    import numpy as np
    try:
        value = np.asarray(ast.literal_eval(text), dtype=np.float64)
    except (ValueError, SyntaxError, TypeError):
        raise CommandError(f"argument {text!r} is not a number or a list of numbers") from None
    return value[()] if value.ndim == 0 else value


def _picture(args) -> int:
    fun = parse_function(args.expression)
    values = [parse_argument(a) for a in args.args]
    try:
        if args.command == "explain":
            from .explain import explain
            result = explain(fun, digits=args.digits, quiz=args.quiz)(*values)
        else:
            from .graph import graph
            result = graph(fun, show_backward=args.backward, collapse=args.collapse, digits=args.digits,
                           plumbing=args.plumbing, view=args.view)(*values)
    except Exception as e:  # the user's expression may fail in any way: one line, no traceback
        advice = _expression_advice(args.expression, e)
        if advice is not None:
            raise CommandError(advice) from None
        message = getattr(e, "raw_message", None) or (str(e).splitlines() or [""])[0]
        raise CommandError(f"evaluating the expression failed: {type(e).__name__}: {message}") from None
    for call in _two_value_calls(args.expression):  # it ran, but probably not as the student meant
        print(f"minigrad-fn {args.command}: note: {_max_advice(*call, failed=False)}", file=sys.stderr)
    if args.command == "explain":
        print(result)
        return 0
    if args.out is None:
        print(result.source, end="")
        return 0
    try:
        result.save(args.out)
    except OSError as e:
        raise CommandError(f"cannot write {args.out!r}: {e.strerror or e}") from None
    except Exception as e:  # an unknown suffix, or Graphviz missing or failing
        raise CommandError((str(e).splitlines() or [type(e).__name__])[0]) from None
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
