"""Weights are not duplicated in memory: importing a model whose weights take
W bytes peaks at about W plus the process's own baseline, not 2 W."""

import re

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def peak_mib(bertc, *args):
    """bertc's own peak resident memory (VmHWM of its image), from --stats."""
    err = bertc("--stats", *args).stderr
    return float(re.search(r"peak memory ([0-9.]+) MiB", err).group(1))


def test_inline_weights_are_resident_once(bertc, tmp_path):
    # 16 weights of 4 MiB chained by MatMuls, like a small encoder's layers.
    # (One huge tensor would peak higher: protobuf grows a string it cannot
    # trust the length of by doubling; that is transient, not a second copy.)
    n, layers = 1024, 16
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((n, n), dtype=np.float32), f"w{i}") for i in range(layers)]
    nodes = [helper.make_node("MatMul", ["x" if i == 0 else f"h{i}", f"w{i}"], [f"h{i + 1}" if i + 1 < layers else "y"],
                              name=f"mm{i}") for i in range(layers)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", n])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", n])
    path = tmp_path / "big.onnx"
    onnx.save(helper.make_model(helper.make_graph(nodes, "big", [x], [y], inits),
                                opset_imports=[helper.make_opsetid("", 17)]), path)
    empty = tmp_path / "empty.onnx"
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="r")], "small", [x], [y]),
                                opset_imports=[helper.make_opsetid("", 17)]), empty)
    weights_mib = layers * n * n * 4 / 2**20
    baseline = peak_mib(bertc, "inspect", empty)
    peak = peak_mib(bertc, "inspect", path)
    print(f"weights {weights_mib:.0f} MiB: bertc inspect peak {peak:.0f} MiB, baseline {baseline:.0f} MiB")
    assert peak < baseline + 1.3 * weights_mib
