"""`bertc optimize` writes ONNX that ONNX Runtime runs, with the same outputs
as ONNX Runtime on the original model (normalised max error <= 1e-4), and
with every encoder layer fused."""

import json

import numpy as np
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
    assert [l.get("Attention") for l in report["layers"]] == [1, 1, 1]
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
                 "fuse-gelu", "fuse-bias-gelu", "fuse-pooler"):
        assert f"  {name} " in out


def test_missing_model_is_an_error(bertc):
    proc = bertc("optimize", check=False)
    assert proc.returncode == 1 and "a model file is required" in proc.stderr
