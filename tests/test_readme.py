"""The README's examples run as they are written (a student pastes them first)."""
import os
import re
import textwrap

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python_blocks() -> list:
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    return [textwrap.dedent(b) for _, b in re.findall(r"^( *)```python\n(.*?)^\1```", text, re.S | re.M)]


def test_the_first_example_runs_with_its_own_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(_python_blocks()[0], "README.md (first example)", "exec"), scope)
    grads, params = scope["grads"], scope["params"]
    assert set(grads) == set(params) and all(grads[k].shape == params[k].shape for k in params)
    assert np.isfinite(scope["value"]) and scope["value"] > 0


def test_the_start_here_example_prints_the_slides_numbers(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    block = next(b for b in _python_blocks() if "def f(x, y, z)" in b)
    exec(compile(block, "README.md (start here)", "exec"), {})
    out = capsys.readouterr().out
    assert "-4.0" in out and "3.0" in out and "mul" in out
    assert (tmp_path / "f.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
