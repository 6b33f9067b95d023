"""Rendering DOT text to pictures, on any machine the package installs on.

The renderer is the system's Graphviz (`dot` on PATH) when there is one, else `graphviz-pure`, a port
of the `dot` command line that installs from the package index as a wheel with no system library (a
declared dependency, so `pip install minigrad-fn` alone draws pictures). Both take DOT on stdin and
write the picture on stdout. graphviz-pure writes SVG, PNG and JPEG but not PDF: a PDF needs the
system's Graphviz.

`MINIGRAD_FN_DOT` names another program to use (or "none": behave as if no renderer were installed).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig

from tracing import MinigradError


class RenderError(MinigradError, RuntimeError):
    """A picture could not be rendered: no renderer, or the renderer failed."""


_INSTALL = ("reinstall the package (`pip install minigrad-fn` brings graphviz-pure) or install Graphviz "
            "(apt-get install graphviz, brew install graphviz, conda install graphviz)")


def renderer() -> str | None:
    """The program that renders DOT here (a path), or None when there is none."""
    forced = os.environ.get("MINIGRAD_FN_DOT")
    if forced:
        return None if forced == "none" else _find(forced) or forced
    return _find("dot") or _find("graphviz-pure")


def _find(program: str) -> str | None:
    """`program` on PATH, or in this Python's scripts folder, which need not be on PATH (a notebook
    kernel or a virtual environment's python started by its path)."""
    found = shutil.which(program)
    if found:
        return found
    for folder in (sysconfig.get_path("scripts"), os.path.dirname(sys.executable)):
        path = os.path.join(folder, program)
        if os.access(path, os.X_OK):
            return path
    return None


def missing_reason() -> str | None:
    """One line saying why nothing can be rendered here, or None when a renderer is found."""
    if renderer() is not None:
        return None
    return f"no Graphviz renderer found (neither `dot` nor `graphviz-pure`): {_INSTALL}"


def render(source: str, fmt: str) -> bytes:
    """The picture of DOT text `source` in format `fmt` (svg, png, jpeg, pdf...)."""
    program = renderer()
    if program is None:
        raise RenderError(f"cannot render the picture as {fmt}: {missing_reason()}; the DOT text is in "
                          ".source meanwhile")
    if fmt == "pdf" and os.path.basename(program).startswith("graphviz-pure"):
        raise RenderError("cannot render a PDF with graphviz-pure (it writes svg, png and jpeg): save as .svg "
                          "or .png, or install Graphviz for PDF")
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True,
                              timeout=120)
    except OSError as e:
        raise RenderError(f"cannot run the renderer {program!r}: {e.strerror or e}; {_INSTALL}") from None
    except subprocess.TimeoutExpired:
        raise RenderError(f"the renderer {program!r} took over 120 s on this picture: draw less of the "
                          "program (collapse=..., or a smaller input)") from None
    if done.returncode != 0 or not done.stdout:
        errors = [line for line in done.stderr.decode("utf-8", "replace").splitlines()
                  if line.strip() and "Warning" not in line]
        why = errors[0] if errors else f"exit status {done.returncode}"
        raise RenderError(f"the renderer {os.path.basename(program)} failed to draw {fmt}: {why}")
    return done.stdout
