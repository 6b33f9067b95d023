"""Pictures render for real, with the system's Graphviz and with graphviz-pure (the wheel the package
depends on), and say in one line why not when no renderer is there."""
import io
import os
import shutil
import struct
import sys

import numpy as np
import pytest

import minigrad_fn as mg
from minigrad_fn.graph import GREEN, RED
from minigrad_fn.render import RenderError, renderer

RENDERERS = [pytest.param(name, marks=pytest.mark.skipif(shutil.which(name) is None and name == "dot",
                                                        reason="the system has no Graphviz"))
             for name in ("dot", "graphviz-pure")]


def add_mul(x, y, z):
    return (x + y) * z


def _rgb(hex_color):
    return np.array([int(hex_color[k:k + 2], 16) for k in (1, 3, 5)]) / 255


def _png_pixels(data: bytes) -> np.ndarray:
    import matplotlib.image
    return matplotlib.image.imread(io.BytesIO(data), format="png")[..., :3]


def _has_colour(pixels, hex_color, tol=0.12) -> int:
    """How many pixels are close to a colour (text is anti-aliased: its cores keep the colour)."""
    return int((np.abs(pixels - _rgb(hex_color)).max(axis=-1) < tol).sum())


@pytest.fixture
def use(monkeypatch):
    def choose(name):
        monkeypatch.setenv("MINIGRAD_FN_DOT", name)
        assert renderer() is not None
    return choose


@pytest.mark.parametrize("name", RENDERERS)
def test_png_is_a_real_picture_of_the_graph(name, use):
    use(name)
    g = mg.graph(add_mul)(-2.0, 5.0, -4.0)
    data = g.png()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert 300 < width < 2000 and 80 < height < 800, (width, height)  # the lecture's picture, a screen wide
    pixels = _png_pixels(data)
    assert pixels.shape[:2] == (height, width)
    assert _has_colour(pixels, GREEN) > 50 and _has_colour(pixels, RED) > 50  # values and gradients drawn
    assert (pixels.mean(axis=-1) > 0.9).mean() > 0.7  # mostly white background
    # a bigger dpi, a bigger picture
    w2, h2 = struct.unpack(">II", g.png(dpi=192)[16:24])
    assert w2 > 1.8 * width and h2 > 1.8 * height


@pytest.mark.parametrize("name", RENDERERS)
def test_svg_has_every_number_and_gate(name, use):
    use(name)
    svg = mg.graph(add_mul)(-2.0, 5.0, -4.0).svg().replace("&#45;", "-").replace("&#8722;", "-")
    assert svg.lstrip().startswith("<?xml") or svg.lstrip().startswith("<svg")
    for text in ("-12.00", "3.00", "-4.00", "1.00", "add", "mul", "-2.00", "5.00"):
        assert f">{text}<" in svg, text


@pytest.mark.parametrize("name", RENDERERS)
def test_save_writes_each_format(name, use, tmp_path):
    use(name)
    g = mg.graph(add_mul)(-2.0, 5.0, -4.0)
    for suffix, magic in (("svg", b"<"), ("png", b"\x89PNG"), ("jpg", b"\xff\xd8"), ("dot", b"digraph")):
        path = g.save(tmp_path / f"g.{suffix}")
        with open(path, "rb") as f:
            assert f.read().lstrip().startswith(magic), suffix
    if name == "graphviz-pure":
        with pytest.raises(RenderError, match="PDF"):
            g.save(tmp_path / "g.pdf")
    else:
        with open(g.save(tmp_path / "g.pdf"), "rb") as f:
            assert f.read(5) == b"%PDF-"
    assert "<svg" in g._repr_mimebundle_()["image/svg+xml"]


def test_graphviz_pure_is_installed_with_the_package():
    """The declared dependency: a fresh `pip install` can draw without any system package."""
    assert shutil.which("graphviz-pure") or os.path.exists(os.path.join(os.path.dirname(sys.executable),
                                                                          "graphviz-pure"))


def test_without_a_renderer_jupyter_gets_one_line_and_the_error_is_ours(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGRAD_FN_DOT", "none")
    g = mg.graph(add_mul)(-2.0, 5.0, -4.0)
    bundle = g._repr_mimebundle_()
    assert list(bundle) == ["text/plain"]
    text = bundle["text/plain"]
    assert "\n" not in text and "graphviz-pure" in text and "digraph" not in text
    with pytest.raises(RenderError, match="no Graphviz renderer") as e:
        g.svg()
    assert isinstance(e.value, mg.MinigradError)
    g.save(tmp_path / "g.dot")  # the DOT text needs no renderer
    assert "-12.00" in g.source


def test_a_failing_renderer_is_reported(monkeypatch):
    monkeypatch.setenv("MINIGRAD_FN_DOT", "false")  # exits 1, writes nothing
    with pytest.raises(RenderError, match="failed to draw svg"):
        mg.graph(add_mul)(-2.0, 5.0, -4.0).svg()


def test_the_command_line_writes_a_picture(monkeypatch, tmp_path, capsys):
    from minigrad_fn.__main__ import main
    monkeypatch.setenv("MINIGRAD_FN_DOT", "graphviz-pure")
    out = tmp_path / "g.svg"
    assert main(["graph", "lambda x, y, z: (x + y) * z", "-2", "5", "-4", "--out", str(out)]) == 0
    assert ">-12.00<" in out.read_text().replace("&#45;", "-")
