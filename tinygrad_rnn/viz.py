"""Drawing the recorded graph: as Graphviz DOT text, as an image, or as a tree in the terminal.

The graph hanging off a tensor t has two kinds of nodes. Each Function node (`t._ctx`) is one
recorded op; its inputs are `ctx.parents`, and `t._index` says which of its outputs t is (Unbind
has several). The leaves are the tensors no op made: parameters and inputs that require grad,
and constants. Reading the graph from the leaves to the output is the forward pass; `backward`
walks the same edges the other way.

`backward()` frees the graph as it goes (each node forgets its inputs), so draw it before
backward, or after `backward(retain_graph=True)`, which also lets the leaves show their
gradient norms.

Both walks are iterative, with an explicit stack or queue: a graph of a million nodes draws
without hitting Python's recursion limit.
"""
import os
import shutil
import subprocess
import sys
from collections import deque

import numpy as np

from .nn.module import Parameter
from .tensor import Tensor

_FREED_NOTE = "graph freed by backward: draw it before, or after backward(retain_graph=True)"
_INDENT_CAP = 32  # print_graph indents at most this many levels, then writes the depth instead


def to_dot(tensor, params=None):
    """Graphviz DOT text of the graph that produced `tensor`.

    One box per Function (its op name and output shape and dtype), one ellipse per leaf tensor
    (shape, dtype, and |grad| once it has a gradient). Parameters are blue and named when
    `params` (a Module, or a dict name -> Tensor) names them; other leaves that require grad are
    yellow, constants dashed. Edges run from an op's inputs to the op, the direction of the
    forward pass; an edge from a multi-output op says which output it carries, e.g. [2].
    """
    names = _param_names(params)
    nodes = list(_walk(tensor))
    number = {id(node): k for k, (node, _, _) in enumerate(nodes)}
    lines = ["digraph autograd {", '  node [fontname="Helvetica", fontsize=10];',
             '  edge [arrowsize=0.7, fontname="Helvetica", fontsize=9];']
    edges = []
    for k, (node, t, inputs) in enumerate(nodes):
        label, style = _node_label(node, t, names, which_output=False)
        if k == 0:
            style += ", penwidth=2"
        lines.append(f'  n{k} [label="{_escape(label)}", {style}];')
        for p in inputs:
            tag = f' [label="[{p._index}]"]' if _many_outputs(p._ctx) else ""
            edges.append(f"  n{number[id(_node(p))]} -> n{k}{tag};")
    return "\n".join(lines + edges + ["}"]) + "\n"


def render(dot_text, path):
    """Render DOT text to `path`; the format (svg, png, pdf) comes from its extension.

    Runs Graphviz's `dot` program. (The `graphviz` Python package would run that same program,
    so it adds nothing here.) Raises RuntimeError saying how to get it when it is not installed.
    """
    fmt = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"render: cannot tell the format from {path!r}; use .svg, .png or .pdf")
    dot = shutil.which("dot")
    if dot is None:
        raise RuntimeError("render: Graphviz's `dot` program is not installed (apt install "
                           "graphviz, brew install graphviz, or https://graphviz.org/download/). "
                           "The DOT text from to_dot() can also be pasted into any online "
                           "Graphviz viewer.")
    done = subprocess.run([dot, f"-T{fmt}", "-o", os.fspath(path)],
                          input=dot_text.encode("utf-8"), capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"render: dot failed: {done.stderr.decode(errors='replace').strip()}")
    return path


def print_graph(tensor, params=None, file=None):
    """Print the graph that produced `tensor` as an indented tree: each node's inputs below it.

    Nodes are numbered as they are first printed; a node reached again (a tensor used twice, a
    weight shared by every time step) is printed as a back-reference, "W (see #3)", and not
    expanded again, so the tree has one full entry per node. Beyond 32 levels the indentation
    stops growing and each line shows its depth instead, "[40] ...".
    """
    file = sys.stdout if file is None else file
    names = _param_names(params)
    number = {}  # id(node) -> its number
    stack = [(tensor, 0)]
    while stack:
        t, depth = stack.pop()
        node = _node(t)
        indent = "  " * min(depth, _INDENT_CAP) + (f"[{depth}] " if depth > _INDENT_CAP else "")
        if id(node) in number:
            print(f"{indent}{_short_name(node, t, names)} (see #{number[id(node)]})", file=file)
            continue
        number[id(node)] = len(number) + 1
        label, _ = _node_label(node, t, names)
        title, *details = label.split("\n")
        print(f"{indent}#{number[id(node)]} {title}  " + "  ".join(details), file=file)
        if node is not t:
            stack.extend((p, depth + 1) for p in reversed(_inputs(node)))


# --- the walk and the labels ------------------------------------------------------------------

def _node(t):
    """The graph node a tensor stands for: the op that made it, or the tensor itself (a leaf)."""
    return t if t._ctx is None else t._ctx


def _inputs(ctx):
    """An op's tensor inputs (other arguments, such as an exponent, are not nodes)."""
    return [p for p in ctx.parents if isinstance(p, Tensor)]


def _many_outputs(ctx):
    return ctx is not None and ctx.out_specs is not None


def _walk(tensor):
    """Yield (node, a tensor it produced, its input tensors) once per node, breadth first."""
    seen = {id(_node(tensor))}
    queue = deque([tensor])
    while queue:
        t = queue.popleft()
        node = _node(t)
        inputs = [] if node is t else _inputs(node)
        yield node, t, inputs
        for p in inputs:
            if id(_node(p)) not in seen:
                seen.add(id(_node(p)))
                queue.append(p)


def _param_names(params):
    """id(tensor) -> name, from a Module (its named_parameters) or a dict name -> Tensor."""
    if params is None:
        return {}
    items = params.named_parameters() if hasattr(params, "named_parameters") else params.items()
    return {id(t): name for name, t in items}


def _describe(shape, dtype):
    return f"{tuple(shape)} {np.dtype(dtype).name}"


def _node_label(node, t, names, which_output=True):
    """(label, lines separated by newlines; Graphviz style attributes) of one node.

    `which_output` adds to a multi-output op's name the index of the output `t` is, "Unbind[2]".
    """
    if node is not t:
        if _many_outputs(node):
            specs = {_describe(*spec) for spec in node.out_specs}
            out = (f"{len(node.out_specs)} x {specs.pop()}" if len(specs) == 1
                   else ", ".join(_describe(*spec) for spec in node.out_specs))
            title = type(node).__name__ + (f"[{t._index}]" if which_output else "")
        else:
            out, title = _describe(t.shape, t.dtype), type(node).__name__
        lines = [title, out] + ([_FREED_NOTE] if node.released else [])
        return "\n".join(lines), 'shape=box, style="rounded,filled", fillcolor="#e8e8e8"'
    kind, style = _leaf_kind(t, names)
    lines = [names.get(id(t), kind), _describe(t.shape, t.dtype)]
    if id(t) in names:
        lines.append(kind)
    if t.grad is not None:
        lines.append(f"|grad| = {np.linalg.norm(t.grad):.3g}")
    return "\n".join(lines), style


def _leaf_kind(t, names):
    if id(t) in names or isinstance(t, Parameter):
        return "parameter", 'shape=ellipse, style=filled, fillcolor="#cfe3f7"'
    if t.requires_grad:
        return "leaf (requires grad)", 'shape=ellipse, style=filled, fillcolor="#fbf0c4"'
    return "constant", "shape=ellipse, style=dashed"


def _short_name(node, t, names):
    if node is t:
        return names.get(id(t), _leaf_kind(t, names)[0])
    return f"{type(node).__name__}[{t._index}]" if _many_outputs(node) else type(node).__name__


def _escape(text):
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
