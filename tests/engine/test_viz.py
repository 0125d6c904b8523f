"""viz: the DOT text's nodes, edges, names and gradient norms; rendering with Graphviz; the
terminal tree and its back-references; and graphs too deep for recursion."""
import io
import re
import shutil

import numpy as np
import pytest

from tinygrad_rnn import Tensor, viz
from tinygrad_rnn.nn import Linear


def parse(dot):
    """{node id: label} and [(source, target, edge label or None)] of to_dot's output."""
    nodes = dict(re.findall(r'^  (n\d+) \[label="((?:[^"\\]|\\.)*)"', dot, re.MULTILINE))
    edges = re.findall(r'^  (n\d+) -> (n\d+)(?: \[label="([^"]*)"\])?;$', dot, re.MULTILINE)
    return nodes, edges


def small_graph():
    """loss = sum(tanh(x @ W + c) ** 2): 5 ops (one used twice by Mul) and 3 leaves."""
    x = Tensor(np.arange(6.0).reshape(2, 3) / 10, requires_grad=True)
    W = Tensor(np.ones((3, 4)), requires_grad=True)
    c = Tensor(np.full(4, 0.5))
    y = (x @ W + c).tanh()
    return x, W, c, (y * y).sum()


def test_to_dot_has_one_node_per_op_and_leaf_and_one_edge_per_input():
    _, W, _, loss = small_graph()
    nodes, edges = parse(viz.to_dot(loss, {"W": W}))
    titles = sorted(label.split("\\n")[0] for label in nodes.values())
    assert titles == sorted(["Sum", "Mul", "Tanh", "Add", "MatMul", "W", "leaf (requires grad)",
                             "constant"])
    assert len(edges) == 8  # x, W -> MatMul -> Add <- c; Add -> Tanh =2=> Mul -> Sum
    by_title = {label.split("\\n")[0]: n for n, label in nodes.items()}
    assert [(s, t) for s, t, _ in edges].count((by_title["Tanh"], by_title["Mul"])) == 2
    assert "(4,) float64" in nodes[by_title["constant"]]
    assert "(2, 4) float64" in nodes[by_title["Tanh"]]
    assert viz.to_dot(loss).startswith("digraph") and viz.to_dot(loss).endswith("}\n")


def test_to_dot_names_parameters_of_a_module():
    layer = Linear(3, 2, dtype=np.float64, rng=np.random.default_rng(0))
    out = layer(Tensor(np.ones((4, 3)))).sum()
    nodes, _ = parse(viz.to_dot(out, layer))
    labels = list(nodes.values())
    assert any(label.startswith("weight\\n(3, 2) float64\\nparameter") for label in labels)
    assert any(label.startswith("bias\\n(2,) float64\\nparameter") for label in labels)
    # unnamed, a Parameter is still marked as one
    assert sum("parameter" in label for label in parse(viz.to_dot(out))[0].values()) == 2


def test_grad_norms_appear_after_backward_with_retain_graph():
    x, W, _, loss = small_graph()
    assert "|grad|" not in viz.to_dot(loss)
    loss.backward(retain_graph=True)
    nodes, _ = parse(viz.to_dot(loss, {"W": W, "x": x}))
    labels = {label.split("\\n")[0]: label for label in nodes.values()}
    assert f"|grad| = {np.linalg.norm(W.grad):.3g}" in labels["W"]
    assert f"|grad| = {np.linalg.norm(x.grad):.3g}" in labels["x"]
    assert "|grad|" not in labels["constant"]


def test_a_freed_graph_says_so():
    *_, loss = small_graph()
    loss.backward()
    nodes, edges = parse(viz.to_dot(loss))
    assert len(nodes) == 1 and not edges
    assert "freed by backward" in next(iter(nodes.values()))


def test_multi_output_edges_name_the_output_and_leaves_alone_are_one_node():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    first, second = a.unbind(axis=0)
    nodes, edges = parse(viz.to_dot(first * second))
    assert sorted(label for _, _, label in edges if label) == ["[0]", "[1]"]
    assert any(label.startswith("Unbind\\n2 x (3,) float64") for label in nodes.values())
    assert len(parse(viz.to_dot(a))[0]) == 1


def test_labels_are_escaped():
    W = Tensor(np.ones(2), requires_grad=True)
    assert 'label="say \\"hi\\"\\n' in viz.to_dot((W * 2).sum(), {'say "hi"': W})


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<svg"), (".png", b"\x89PNG")])
def test_render_writes_an_image(tmp_path, suffix, magic):
    *_, loss = small_graph()
    path = tmp_path / f"graph{suffix}"
    assert viz.render(viz.to_dot(loss), path) == path
    assert magic in path.read_bytes()[:400]


def test_render_explains_what_is_missing(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=".svg, .png or .pdf"):
        viz.render("digraph {}", tmp_path / "graph.txt")
    monkeypatch.setattr(viz.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match="dot.* is not installed"):
        viz.render("digraph {}", tmp_path / "graph.svg")


def test_print_graph_prints_shared_nodes_once():
    x, y = Tensor(3.0, requires_grad=True), Tensor(4.0, requires_grad=True)
    out = io.StringIO()
    viz.print_graph(x * y + x ** 2, {"x": x, "y": y}, file=out)
    assert out.getvalue().splitlines() == [
        "#1 Add  () float64",
        "  #2 Mul  () float64",
        "    #3 x  () float64  parameter",
        "    #4 y  () float64  parameter",
        "  #5 Pow  () float64",
        "    x (see #3)",
    ]


def test_print_graph_refers_back_to_a_multi_output_op_by_output():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    first, second = a.unbind(axis=0)
    out = io.StringIO()
    viz.print_graph(first * second, file=out)
    lines = out.getvalue().splitlines()
    assert lines[1] == "  #2 Unbind[0]  2 x (3,) float64"
    assert lines[-1] == "  Unbind[1] (see #2)"


def test_a_chain_of_ten_thousand_ops_is_walked_without_recursion():
    x = Tensor(np.ones(2), requires_grad=True)
    t = x
    for _ in range(10_000):
        t = -t
    nodes, edges = parse(viz.to_dot(t))
    assert len(nodes) == 10_001 and len(edges) == 10_000
    out = io.StringIO()
    viz.print_graph(t, file=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 10_001
    assert lines[-1].startswith(" " * 64 + "[10000] #10001 leaf (requires grad)")
    assert max(len(line) for line in lines) < 140  # the indentation stops growing
