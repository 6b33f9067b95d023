"""make_jaxpr and pytree helpers shared by transformations."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import optree

from .core import Tracer, is_array_like, new_trace
from .errors import ArgumentError
from .ir import ClosedJaxpr, aval_of
from .passes import dce_closed


def tree_flatten(tree: Any):
    """Leaves and structure of a pytree (tuple, list, dict, namedtuple, None) via optree."""
    return optree.tree_flatten(tree, none_is_leaf=False)


def tree_unflatten(treedef, leaves):
    """Rebuild a pytree from its structure and leaves."""
    return optree.tree_unflatten(treedef, leaves)


def check_leaves(leaves: Sequence, what: str, names: Sequence[str] | None = None) -> None:
    """Raise an ArgumentError naming the first leaf that is not an array or a scalar."""
    for i, x in enumerate(leaves):
        if not is_array_like(x):
            who = names[i] if names else f"leaf {i}"
            raise ArgumentError(
                f"{what}: {who} is a {type(x).__name__}, not an array or a scalar",
                "Pass numpy arrays, Python or numpy scalars, or tuples/lists/dicts of them; "
                "mark other arguments static or close over them.")


def make_jaxpr(fun: Callable) -> Callable[..., ClosedJaxpr]:
    """`make_jaxpr(f)(*args)` traces f on the shapes and dtypes of args and returns its ClosedJaxpr."""

    def traced(*args) -> ClosedJaxpr:
        leaves, tree = tree_flatten(args)
        check_leaves(leaves, f"make_jaxpr({getattr(fun, '__name__', 'fun')})")
        with new_trace(with_values=False) as trace:
            tracers = [trace.new_arg(aval_of(x)) for x in leaves]
            out = fun(*tree_unflatten(tree, tracers))
            out_leaves, _ = tree_flatten(out)
            check_leaves(out_leaves, f"output of {getattr(fun, '__name__', 'fun')}")
            closed = trace.to_jaxpr(out_leaves)
        return dce_closed(closed)

    traced.__name__ = f"make_jaxpr({getattr(fun, '__name__', 'fun')})"
    return traced
