"""Command line: `python -m minigrad_fn demo`."""
from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    """Entry point of `python -m minigrad_fn` and the `minigrad-fn` script."""
    parser = argparse.ArgumentParser(prog="minigrad-fn", description="minigrad-fn: functional autodiff from the lecture")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the lecture's worked examples, their IR, and a 2-layer net training")
    demo.add_argument("--steps", type=int, default=5, help="gradient-descent steps of the 2-layer net (default 5)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.steps < 1:
            parser.error("--steps must be at least 1")
        from . import demo as _demo
        _demo.run(args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
