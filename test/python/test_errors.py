"""Bad input gets a one-line error naming the file (and node and op), and a non-zero exit, never a crash."""

import onnx
import pytest
from onnx import TensorProto, helper

from conftest import fixture_dirs


def assert_one_line_error(proc, *needles):
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("bertc: error: ")
    for n in needles:
        assert n in lines[0], lines[0]


def test_not_onnx(bertc, tmp_path):
    bad = tmp_path / "notes.onnx"
    bad.write_text("this is not a model\n")
    assert_one_line_error(bertc("inspect", bad, check=False), str(bad))


def test_missing_file(bertc, tmp_path):
    assert_one_line_error(bertc("inspect", tmp_path / "nope.onnx", check=False), "nope.onnx")


def test_truncated(bertc, tmp_path):
    data = (fixture_dirs()[0] / "model.onnx").read_bytes()
    bad = tmp_path / "truncated.onnx"
    bad.write_bytes(data[: len(data) // 2])
    assert_one_line_error(bertc("run", bad, check=False), "truncated.onnx")


def test_unsupported_ops_listed_at_once(bertc, tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    nodes = [helper.make_node("Hardmax", ["x"], ["a"], name="hm"),
             helper.make_node("Selu", ["a"], ["b"], name="selu1"),
             helper.make_node("Selu", ["b"], ["y"], name="selu2")]
    path = tmp_path / "unsupported.onnx"
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)]), path)
    assert_one_line_error(bertc("inspect", path, check=False), "unsupported.onnx", "Hardmax", "'hm'", "Selu", "'selu1'", "'selu2'")


def test_type_mismatch_names_node(bertc, tmp_path):
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [2])
    b = helper.make_tensor_value_info("b", TensorProto.INT64, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    node = helper.make_node("Add", ["a", "b"], ["y"], name="the_add")
    path = tmp_path / "mismatch.onnx"
    onnx.save(helper.make_model(helper.make_graph([node], "g", [a, b], [y]), opset_imports=[helper.make_opsetid("", 17)]), path)
    assert_one_line_error(bertc("inspect", path, check=False), "mismatch.onnx", "'the_add'", "Add")


def test_token_id_out_of_range(bertc, tmp_path):
    import numpy as np
    d = fixture_dirs()[0]
    ids = np.load(d / "inputs" / "input_ids.npy")
    ids[0, 0] = 10**6
    np.save(tmp_path / "ids.npy", ids)
    proc = bertc("run", d / "model.onnx", "--inputs-dir", d / "inputs", "--input", f"input_ids={tmp_path / 'ids.npy'}", check=False)
    assert_one_line_error(proc, "Gather", "out of range")


def test_bad_flag_value(bertc):
    proc = bertc("inspect", fixture_dirs()[0] / "model.onnx", "--batch", "0", check=False)
    assert proc.returncode != 0
