"""Exact rewrites of an exported ONNX graph that save the runtimes work.

ONNX Runtime's CPU provider runs convolutions, max pools and channel concats of 16-aligned
pieces in a blocked layout (NCHWc); a concat there is a plain copy of every piece. Where a
concat is read only by a max pool (a CSP stage's [part1, partial transition] before its
pool), pooling each piece and concatenating the results gives the same values, since a max
pool works on each channel alone, and copies a quarter as much. tests/export/test_rewrite.py
holds the rewrite to bit-identical outputs.
"""
from __future__ import annotations

from .graph import attributes, consumers, replace_all


def pool_before_concat(proto) -> int:
    """Rewrite, in place, every channel Concat whose only reader is a MaxPool (with no Indices
    output) into a MaxPool of each piece followed by the Concat. Returns how many."""
    from onnx import helper

    graph = proto.graph
    readers = consumers(graph)
    replace, drop = {}, set()
    for cat in graph.node:
        users = readers[cat.output[0]]
        if cat.op_type != "Concat" or attributes(cat).get("axis") != 1 or len(users) != 1:
            continue
        pool = users[0]
        if pool is None or pool.op_type != "MaxPool" or len([o for o in pool.output if o]) != 1:
            continue
        pooled = []
        for i, piece in enumerate(cat.input):
            pooled.append(helper.make_node("MaxPool", [piece], [f"{pool.output[0]}/{i}"], name=f"{pool.name}/{i}"))
            pooled[-1].attribute.extend(pool.attribute)
        out = helper.make_node("Concat", [p.output[0] for p in pooled], [pool.output[0]], name=cat.name, axis=1)
        replace[id(cat)] = [*pooled, out]  # at the concat's place: its pieces exist there
        drop.add(id(pool))
    if replace:
        nodes = []
        for node in graph.node:
            if id(node) in replace:
                nodes.extend(replace[id(node)])
            elif id(node) not in drop:
                nodes.append(node)
        replace_all(graph.node, nodes)
    return len(replace)


def optimize_graph(proto) -> dict[str, int]:
    """Apply every rewrite here to ``proto`` in place; returns how often each fired."""
    return {"pool_before_concat": pool_before_concat(proto)}
