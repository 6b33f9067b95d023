"""The notebooks run green: each is executed from the top in a fresh kernel (their cells assert the
lecture's numbers), and the committed copy carries its outputs."""
import glob
import os

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                          "notebooks", "*.ipynb")))


def test_the_notebooks_are_there():
    names = [os.path.basename(p) for p in NOTEBOOKS]
    assert names == ["01_computational_graphs.ipynb", "02_vectorized.ipynb", "03_two_layer_net.ipynb",
                     "04_under_the_hood.ipynb", "05_jacobians_and_batching.ipynb", "06_control_flow.ipynb",
                     "07_debugging.ipynb", "08_gate_api.ipynb",
                     "09_exercises.ipynb", "10_motion.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs(path, monkeypatch):
    book = nbformat.read(path, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), f"{path} is committed without its outputs: run it and save"
    assert not any(o.output_type == "error" for c in code for o in c.outputs)
    # One BLAS thread: on a busy 2-core machine OpenBLAS's spinning threads make small products 100x slower.
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    client = nbclient.NotebookClient(book, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": os.path.dirname(path)}})
    client.execute()  # raises CellExecutionError, with the cell and its traceback, if any cell fails
