"""Nested structures holding arrays <-> JSON-ready data and a flat dict of named arrays.

A checkpoint's metadata is JSON; wherever an array sits in one of its nested dicts or lists, the
JSON holds {"$array": NAME} and the array is stored in the .npz file under NAME, its path in the
structure (e.g. "optimizer/state/0/exp_avg"). Dicts whose keys aren't all strings become
{"$items": [[key, value], ...]}, so that integer keys come back as integers.
"""
import numpy as np


def pack(tree, name, arrays):
    """`tree` as JSON-ready data; each array goes into `arrays` under its path, e.g. "params/W".

    Dicts whose keys aren't all strings (an optimizer's state is keyed by parameter number) become
    {"$items": [[key, value], ...]} so that the keys come back with their type.
    """
    if isinstance(tree, np.ndarray):
        if tree.dtype.hasobject:
            raise TypeError(f"{name}: object arrays can't be saved without pickle")
        arrays[name] = tree
        return {"$array": name}
    if isinstance(tree, dict):
        if all(isinstance(k, str) for k in tree):
            return {k: pack(v, f"{name}/{k}", arrays) for k, v in tree.items()}
        return {"$items": [[k, pack(v, f"{name}/{k}", arrays)] for k, v in tree.items()]}
    if isinstance(tree, (list, tuple)):
        return [pack(v, f"{name}/{i}", arrays) for i, v in enumerate(tree)]
    if isinstance(tree, np.generic):
        return tree.item()
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    raise TypeError(f"{name}: can't store a {type(tree).__name__} in a checkpoint")


def unpack(tree, arrays):
    """The inverse of `pack` (tuples come back as lists)."""
    if isinstance(tree, dict):
        if set(tree) == {"$array"}:
            return arrays[tree["$array"]]
        if set(tree) == {"$items"}:
            return {k: unpack(v, arrays) for k, v in tree["$items"]}
        return {k: unpack(v, arrays) for k, v in tree.items()}
    if isinstance(tree, list):
        return [unpack(v, arrays) for v in tree]
    return tree
