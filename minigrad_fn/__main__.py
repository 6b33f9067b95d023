"""Command line: `python -m minigrad_fn {train, graph, explain, demo}` (also the `minigrad-fn` script).

Bad input gets one line on stderr and exit status 2 (bad arguments) or 1 (the work failed), never a
traceback.
"""
from __future__ import annotations

import argparse
import ast
import os
import sys

_EXPR_HELP = 'a Python lambda, e.g. "lambda x, y, z: (x + y) * z" (numpy\'s names such as exp, maximum, ' \
             'tanh, sum, and nn, np, mnp are in scope)'


class CommandError(Exception):
    """A problem with what the user asked for: reported in one line, exit status 1."""


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line (no usage block): `minigrad-fn train: error: ...`."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="minigrad-fn", description="minigrad-fn: functional autodiff from the lecture")
    sub = parser.add_subparsers(dest="command", required=True)

    from .train import ACTIVATIONS, BACKENDS, DATASETS
    train = sub.add_parser("train", help="train the lecture's 2-layer net (digits by default)",
                           description="Train the 2-layer net W2 act(W1 x + b1) + b2 with softmax cross-entropy "
                                       "by minibatch gradient descent, jit-compiled.")
    train.add_argument("--data", choices=DATASETS, default="digits",
                       help="digits (8x8 handwritten digits from scikit-learn) or spiral (the lecture's toy data)")
    train.add_argument("--hidden", type=int, help="hidden units (default: 64 for digits, 100 for spiral)")
    train.add_argument("--activation", choices=ACTIVATIONS, default="relu", help="hidden activation (default relu)")
    train.add_argument("--lr", type=float, help="learning rate (default: 0.1 for digits, 1.0 for spiral)")
    train.add_argument("--epochs", type=int, help="passes over the training set (default: 20 digits, 300 spiral)")
    train.add_argument("--batch-size", type=int, default=32, help="examples per step (default 32)")
    train.add_argument("--reg", type=float, default=1e-4, help="L2 regularisation strength (default 1e-4)")
    train.add_argument("--seed", type=int, default=0, help="seed of the split, initialisation and shuffling")
    train.add_argument("--backend", choices=BACKENDS, default="xla", help="xla (jax.jit) or numpy (the interpreter)")
    train.add_argument("--out", default="runs/train", help="folder for loss.png and summary.json (default runs/train)")
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
                           help="draw the calls of this function as one node (repeatable)")

    demo = sub.add_parser("demo", help="the lecture's worked examples, their IR, and a 2-layer net training")
    demo.add_argument("--steps", type=int, default=5, help="gradient-descent steps of the 2-layer net (default 5)")
    parser.subcommands = sub.choices
    return parser


def main(argv=None) -> int:
    """Entry point of `python -m minigrad_fn` and the `minigrad-fn` script."""
    parser = _parser()
    args = parser.parse_args(argv)
    _validate(parser.subcommands[args.command], args)
    try:
        if args.command == "train":
            return _train(args)
        if args.command in ("graph", "explain"):
            return _picture(args)
        from . import demo as _demo
        _demo.run(args.steps)
        return 0
    except CommandError as e:
        print(f"minigrad-fn {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"minigrad-fn {args.command}: interrupted", file=sys.stderr)
        return 130


def _validate(parser, args) -> None:
    if args.command == "demo" and args.steps < 1:
        parser.error("--steps must be at least 1")
    if args.command == "train":
        for name in ("hidden", "epochs", "batch_size"):
            value = getattr(args, name)
            if value is not None and value < 1:
                parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
        if args.lr is not None and not args.lr > 0:
            parser.error(f"--lr must be positive, got {args.lr:g}")
        if args.reg < 0:
            parser.error(f"--reg must be zero or positive, got {args.reg:g}")
    if args.command in ("graph", "explain") and not 0 <= args.digits <= 12:
        parser.error(f"--digits must be between 0 and 12, got {args.digits}")


def _train(args) -> int:
    from .train import Config, train
    _check_writable_dir(args.out)
    config = Config(data=args.data, hidden=args.hidden, activation=args.activation, lr=args.lr, epochs=args.epochs,
                    batch_size=args.batch_size, reg=args.reg, seed=args.seed, backend=args.backend, out=args.out,
                    check=args.check, fused_epoch=args.fused_epoch)
    try:
        train(config, progress=not args.no_progress)
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


def parse_function(expression: str):
    """The function a command-line expression stands for, or a CommandError saying why not."""
    import numpy as np

    from . import nn
    from . import numpy as mnp
    scope = {k: getattr(mnp, k) for k in dir(mnp) if not k.startswith("_")}
    scope.update(np=np, mnp=mnp, nn=nn, sigmoid=nn.sigmoid, relu=nn.relu)
    try:
        code = compile(expression, "<expression>", "eval")
    except SyntaxError as e:
        raise CommandError(f"the expression does not parse ({e.msg}): {expression!r}") from None
    try:
        fun = eval(code, scope)  # noqa: S307  (the user's own command line)
    except Exception as e:
        raise CommandError(f"the expression fails: {type(e).__name__}: {e}") from None
    if not callable(fun):
        raise CommandError("the expression is not a function: write it as a lambda, e.g. \"lambda x, y: x * y\"")
    return fun


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
            print(explain(fun, digits=args.digits)(*values))
            return 0
        from .graph import graph
        picture = graph(fun, show_backward=args.backward, collapse=args.collapse, digits=args.digits)(*values)
    except Exception as e:  # the user's expression may fail in any way: one line, no traceback
        message = getattr(e, "raw_message", None) or (str(e).splitlines() or [""])[0]
        raise CommandError(f"evaluating the expression failed: {type(e).__name__}: {message}") from None
    if args.out is None:
        print(picture.source, end="")
        return 0
    try:
        picture.save(args.out)
    except OSError as e:
        raise CommandError(f"cannot write {args.out!r}: {e.strerror or e}") from None
    except Exception as e:  # an unknown suffix, or Graphviz missing or failing
        raise CommandError((str(e).splitlines() or [type(e).__name__])[0]) from None
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
