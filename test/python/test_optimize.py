"""`bertc optimize` writes ONNX that ONNX Runtime runs, with the same outputs
as ONNX Runtime on the original model (normalised max error <= 1e-4), and
with every encoder layer fused."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from conftest import fixture_dirs, load_meta

TOL = 1e-4  # normalised max error: max|a - b| / max|b|


def ort_run(path, feeds):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return {o.name: v for o, v in zip(sess.get_outputs(), sess.run(None, feeds))}


def normalised_error(got, want):
    assert got.shape == want.shape
    if not np.issubdtype(want.dtype, np.floating):
        return 0.0 if np.array_equal(got, want) else float("inf")
    return float(np.abs(got.astype(np.float64) - want).max()) / (float(np.abs(want).max()) or 1.0)


def feeds_for(d):
    return {p.stem: np.load(p) for p in (d / "inputs").glob("*.npy")}


def onnx_ops(path):
    import onnx
    return {(n.domain or "ai.onnx", n.op_type) for n in onnx.load(str(path), load_external_data=False).graph.node}


@pytest.mark.parametrize("contrib_sln", [False, True], ids=["add-layernorm", "contrib-skiplayernorm"])
@pytest.mark.parametrize("d", fixture_dirs(), ids=lambda d: d.name)
def test_optimized_fixture_runs_in_onnxruntime(bertc, d, tmp_path, contrib_sln):
    out = tmp_path / "opt.onnx"
    flags = ["--ort-contrib-skip-layernorm"] if contrib_sln else []
    report = json.loads(bertc("optimize", d / "model.onnx", "-o", out, "--json", *flags).stdout)
    ops = onnx_ops(out)
    assert ("com.microsoft", "Attention") in ops and ("com.microsoft", "EmbedLayerNormalization") in ops
    assert (("com.microsoft", "SkipLayerNormalization") in ops) == contrib_sln
    layers = report["layers"]
    assert len(layers) == load_meta(d)["layers"]
    gelu = "FastGelu" if load_meta(d)["activation"] == "gelu_tanh" else "BiasGelu"
    for layer in layers:
        assert layer == {"Attention": 1, "SkipLayerNorm": 2, gelu: 1, "MatMul": 2}
    feeds = feeds_for(d)
    want = ort_run(d / "model.onnx", feeds)
    got = ort_run(out, feeds)
    assert set(got) == set(want)
    for name in want:
        assert normalised_error(got[name], want[name]) <= TOL, name


def test_optimized_pretrained_runs_in_onnxruntime(bertc, pretrained_model, tmp_path):
    out = tmp_path / "opt.onnx"
    report = json.loads(bertc("optimize", pretrained_model, "-o", out, "--json").stdout)
    assert report["layers"] == [{"Attention": 1, "SkipLayerNorm": 2, "BiasGelu": 1, "MatMul": 2}] * 3
    # Only ops the CPU code generator lowers: the token types the export left
    # out are folded into the position table, the mean pooling is one MeanPool
    # (written back as standard ops), and the pass-through outputs are Identity.
    assert report["head"] == {"MeanPool": 1}
    assert report["ops_after"] == {"EmbedLayerNorm": 1, "Attention": 3, "SkipLayerNorm": 6, "BiasGelu": 3,
                                   "MatMul": 6, "MeanPool": 1, "Identity": 2}
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30000, (2, 16), dtype=np.int64)
    mask = np.ones((2, 16), dtype=np.int64)
    mask[1, 11:] = 0
    feeds = {"input_ids": ids, "attention_mask": mask}
    want = ort_run(pretrained_model, feeds)
    got = ort_run(out, feeds)
    for name in want:
        assert normalised_error(got[name], want[name]) <= TOL, name


def test_unknown_pass_is_an_error(bertc):
    proc = bertc("optimize", fixture_dirs()[0] / "model.onnx", "--passes=canonicalize,no-such-pass", check=False)
    assert proc.returncode == 1
    assert "unknown pass 'no-such-pass'" in proc.stderr


def test_print_ir_after_and_verify_each(bertc):
    proc = bertc("optimize", fixture_dirs()[0] / "model.onnx", "--verify-each", "--print-ir-after=canonicalize")
    assert "// IR after canonicalize" in proc.stdout
    assert "graph" in proc.stdout


def test_explain_and_report(bertc):
    d = fixture_dirs()[0]
    out = bertc("optimize", d / "model.onnx", "--explain", "--report").stdout
    assert "layer 0: " in out and "Attention 1" in out
    assert "explain: " in out  # either the misses, one per line, or that every tried fusion applied


def test_list_passes(bertc):
    out = bertc("optimize", "--list-passes").stdout
    for name in ("canonicalize", "fuse-attention", "fuse-layernorm", "fuse-skip-layernorm", "fuse-embed-layernorm",
                 "fuse-gelu", "fuse-bias-gelu", "fuse-pooler", "fuse-mean-pool"):
        assert f"  {name} " in out


def test_missing_model_is_an_error(bertc):
    proc = bertc("optimize", check=False)
    assert proc.returncode == 1 and "a model file is required" in proc.stderr


def mean_pool_head(opset):
    """sentence-transformers' mean pooling as torch.onnx writes it at `opset`:
    axes and Clip's min as attributes before opset 13 / 11, as inputs after;
    the newer form also swaps the Mul's operands and clamps with Max."""
    from onnx import TensorProto, helper
    old = opset < 13
    nodes, inits = [], []

    def const(name, value, dtype=TensorProto.INT64, dims=None):
        arr = np.asarray(value)
        inits.append(helper.make_tensor(name, dtype, arr.shape if dims is None else dims, arr.flatten().tolist()))
        return name

    if old:
        nodes.append(helper.make_node("Unsqueeze", ["attention_mask"], ["m3"], axes=[2]))
    else:
        nodes.append(helper.make_node("Unsqueeze", ["attention_mask", const("axis_last", [-1])], ["m3"]))
    nodes += [helper.make_node("Shape", ["hidden"], ["x_shape"]),
              helper.make_node("Expand", ["m3", "x_shape"], ["m_expanded"]),
              helper.make_node("Cast", ["m_expanded"], ["w"], to=TensorProto.FLOAT),
              helper.make_node("Mul", ["hidden", "w"] if old else ["w", "hidden"], ["weighted"])]
    axes = {} if old else {"inputs": [const("axis_seq", [1])]}
    for out, src in (("sum_embeddings", "weighted"), ("sum_mask", "w")):
        if old:
            nodes.append(helper.make_node("ReduceSum", [src], [out], axes=[1], keepdims=0))
        else:
            nodes.append(helper.make_node("ReduceSum", [src, *axes["inputs"]], [out], keepdims=0))
    if opset < 11:
        nodes.append(helper.make_node("Clip", ["sum_mask"], ["clamped"], min=1e-9))
    elif old:
        nodes.append(helper.make_node("Clip", ["sum_mask", const("eps", 1e-9, TensorProto.FLOAT, [])], ["clamped"]))
    else:
        nodes.append(helper.make_node("Max", [const("eps", 1e-9, TensorProto.FLOAT, []), "sum_mask"], ["clamped"]))
    nodes.append(helper.make_node("Div", ["sum_embeddings", "clamped"], ["sentence_embedding"]))
    graph = helper.make_graph(
        nodes, "mean_pool",
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "seq", 8]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", 8])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 7
    onnx.checker.check_model(model)
    return model


@pytest.mark.parametrize("opset", [10, 11, 14])
def test_mean_pool_head_fuses_and_runs_in_onnxruntime(bertc, tmp_path, opset):
    src, out = tmp_path / "head.onnx", tmp_path / "opt.onnx"
    onnx.save(mean_pool_head(opset), str(src))
    report = json.loads(bertc("optimize", src, "-o", out, "--json").stdout)
    assert report["ops_after"] == {"MeanPool": 1}
    rng = np.random.default_rng(opset)
    mask = np.ones((3, 7), dtype=np.int64)
    mask[1, 4:] = 0
    mask[2, :2] = 0
    feeds = {"hidden": rng.standard_normal((3, 7, 8)).astype(np.float32), "attention_mask": mask}
    want, got = ort_run(src, feeds), ort_run(out, feeds)
    assert normalised_error(got["sentence_embedding"], want["sentence_embedding"]) <= TOL
