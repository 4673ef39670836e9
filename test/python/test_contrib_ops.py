"""ONNX Runtime's contrib ops (com.microsoft) against bertc's fused IR ops.

Each test builds a small model around one contrib op with onnx.helper, runs it
in ONNX Runtime and through `bertc run` (the importer maps the op onto the
fused IR op, the reference interpreter runs it), and compares the outputs: the
independent check that the fused ops' reference semantics are ORT's. When
`bertc optimize` can write models, the model is also re-exported with no
passes (fused IR op -> contrib op again) and run in ONNX Runtime. Last, the
real thing: ORT's own transformer optimizer fuses the TorchScript fixtures, and
bertc runs what it wrote with the fixtures' expected outputs.
"""

import functools
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from conftest import bertc_path, fixture_dirs, load_meta

TOL = 1e-5  # normalised max error: max|a - b| / max|b|
B, S, H = 3, 7, 16


def normalised_error(got, want):
    assert got.shape == want.shape, (got.shape, want.shape)
    scale = float(np.abs(want).max()) or 1.0
    return float(np.abs(got.astype(np.float64) - want.astype(np.float64)).max()) / scale


@functools.lru_cache(maxsize=None)
def can_optimize() -> bool:
    proc = subprocess.run([bertc_path(), "optimize", "--help"], capture_output=True, text=True)
    return proc.returncode == 0


def ort_run(path, feeds):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    feeds = {i.name: feeds[i.name] for i in sess.get_inputs()}
    return {o.name: v for o, v in zip(sess.get_outputs(), sess.run(None, feeds))}


def make_model(nodes, inputs, initializers, outputs=("y",)):
    graph = helper.make_graph(
        nodes, "contrib", inputs, [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        [numpy_helper.from_array(v, k) for k, v in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    return model


def float_input(name, shape=(B, S, H)):
    dims = ["batch", "sequence"] + list(shape[2:]) if len(shape) >= 2 else list(shape)
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, dims)


def int_input(name, shape=("batch", "sequence")):
    return helper.make_tensor_value_info(name, TensorProto.INT32, list(shape))


def check(bertc, tmp_path, model, feeds):
    """ORT vs `bertc run`, and ORT vs ORT on bertc's re-export; returns the errors."""
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    want = ort_run(path, feeds)
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    for name, value in feeds.items():
        np.save(inputs / f"{name}.npy", value)
    out = tmp_path / "out"
    proc = bertc("run", path, "--inputs-dir", inputs, "--save-outputs", out, check=False)
    assert proc.returncode == 0, proc.stderr
    errors = {}
    for name, value in want.items():
        errors[name] = normalised_error(np.load(out / f"{name}.npy"), value)
        assert errors[name] <= TOL, (name, errors[name])
    if can_optimize():
        reexported = tmp_path / "reexported.onnx"
        bertc("optimize", path, "-o", reexported, "--passes", "")
        again = ort_run(reexported, feeds)
        for name, value in want.items():
            err = normalised_error(again[name], value)
            assert err <= TOL, ("re-exported", name, err)
            errors[name + " (re-exported)"] = err
    print(" ".join(f"{k}: {v:.2g}" for k, v in errors.items()), end=" ")
    return errors


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def randn(rng, *shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


@pytest.mark.parametrize("beta", [False, True])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("epsilon", [None, 1e-5])
def test_skip_layer_normalization(bertc, tmp_path, rng, beta, bias, epsilon):
    inits = {"gamma": rng.uniform(0.5, 1.5, H).astype(np.float32)}
    if beta:
        inits["beta"] = randn(rng, H)
    if bias:
        inits["bias"] = randn(rng, H)
    attrs = {} if epsilon is None else {"epsilon": epsilon}
    node = helper.make_node("SkipLayerNormalization",
                            ["x", "skip", "gamma", "beta" if beta else "", "bias" if bias else ""], ["y"],
                            domain="com.microsoft", **attrs)
    model = make_model([node], [float_input("x"), float_input("skip")], inits)
    check(bertc, tmp_path, model, {"x": randn(rng, B, S, H, scale=2), "skip": randn(rng, B, S, H)})


def test_bias_gelu(bertc, tmp_path, rng):
    node = helper.make_node("BiasGelu", ["x", "b"], ["y"], domain="com.microsoft")
    model = make_model([node], [float_input("x")], {"b": randn(rng, H)})
    check(bertc, tmp_path, model, {"x": randn(rng, B, S, H, scale=3)})


@pytest.mark.parametrize("bias", [False, True])
def test_fast_gelu(bertc, tmp_path, rng, bias):
    node = helper.make_node("FastGelu", ["x", "b"] if bias else ["x"], ["y"], domain="com.microsoft")
    model = make_model([node], [float_input("x")], {"b": randn(rng, H)} if bias else {})
    check(bertc, tmp_path, model, {"x": randn(rng, B, S, H, scale=3)})


def test_gelu(bertc, tmp_path, rng):
    node = helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft")
    model = make_model([node], [float_input("x")], {})
    check(bertc, tmp_path, model, {"x": randn(rng, B, S, H, scale=3)})


def padding_mask(side):
    """[B, S] int32: row b keeps S - 2b tokens, padded on `side`."""
    mask = np.ones((B, S), np.int32)
    for b in range(B):
        pad = 2 * b
        if pad:
            if side == "right":
                mask[b, S - pad:] = 0
            else:
                mask[b, :pad] = 0
    return mask


@pytest.mark.parametrize("heads", [2, 4])
@pytest.mark.parametrize("mask", ["right", "left", None])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_attention(bertc, tmp_path, rng, heads, mask, scale):
    attrs = {"num_heads": heads}
    if scale is not None:
        attrs["scale"] = scale
    inputs = ["x", "w", "b"] + (["mask"] if mask else [])
    node = helper.make_node("Attention", inputs, ["y"], domain="com.microsoft", **attrs)
    graph_inputs = [float_input("x")] + ([int_input("mask")] if mask else [])
    model = make_model([node], graph_inputs, {"w": randn(rng, H, 3 * H, scale=0.5), "b": randn(rng, 3 * H)})
    feeds = {"x": randn(rng, B, S, H)}
    if mask:
        feeds["mask"] = padding_mask(mask)
    check(bertc, tmp_path, model, feeds)


def test_attention_mask_filter_value(bertc, tmp_path, rng):
    # A finite filter value small enough that masked keys still get weight.
    node = helper.make_node("Attention", ["x", "w", "b", "mask"], ["y"], domain="com.microsoft", num_heads=2,
                            mask_filter_value=-2.0)
    model = make_model([node], [float_input("x"), int_input("mask")],
                       {"w": randn(rng, H, 3 * H, scale=0.5), "b": randn(rng, 3 * H)})
    check(bertc, tmp_path, model, {"x": randn(rng, B, S, H), "mask": padding_mask("left")})


@pytest.mark.parametrize("segments", [True, False])
@pytest.mark.parametrize("positions", [None, "batch", "broadcast"])
def test_embed_layer_normalization(bertc, tmp_path, rng, segments, positions):
    vocab, max_pos, types = 40, 12, 2
    inits = {"word": randn(rng, vocab, H), "pos": randn(rng, max_pos, H), "gamma": rng.uniform(0.5, 1.5, H).astype(np.float32),
             "beta": randn(rng, H)}
    feeds = {"input_ids": rng.integers(0, vocab, (B, S)).astype(np.int32),
             "mask": padding_mask("right")}
    graph_inputs = [int_input("input_ids"), int_input("mask")]
    if segments:
        inits["seg"] = randn(rng, types, H)
        feeds["segment_ids"] = rng.integers(0, types, (B, S)).astype(np.int32)
        graph_inputs.append(int_input("segment_ids"))
    if positions:
        rows = B if positions == "batch" else 1
        feeds["position_ids"] = rng.integers(0, max_pos, (rows, S)).astype(np.int32)
        graph_inputs.append(int_input("position_ids", ("batch" if rows == B else 1, "sequence")))
    inputs = ["input_ids", "segment_ids" if segments else "", "word", "pos", "seg" if segments else "", "gamma", "beta",
              "mask", "position_ids" if positions else ""]
    # ORT wants the mask_index output named (see the writer); it is not a graph output.
    node = helper.make_node("EmbedLayerNormalization", inputs, ["y", "mask_index"], domain="com.microsoft",
                            epsilon=1e-12)
    model = make_model([node], graph_inputs, inits)
    check(bertc, tmp_path, model, feeds)


def test_bert_layer_of_contrib_ops(bertc, tmp_path, rng):
    """The ops together, as ORT's transformer optimizer writes a BERT layer."""
    F = 32
    inits = {
        "word": randn(rng, 40, H), "pos": randn(rng, 12, H), "seg": randn(rng, 2, H),
        "g0": rng.uniform(0.5, 1.5, H).astype(np.float32), "b0": randn(rng, H),
        "wqkv": randn(rng, H, 3 * H, scale=0.3), "bqkv": randn(rng, 3 * H), "wo": randn(rng, H, H, scale=0.3),
        "bo": randn(rng, H), "g1": rng.uniform(0.5, 1.5, H).astype(np.float32), "b1": randn(rng, H),
        "w1": randn(rng, H, F, scale=0.3), "bf1": randn(rng, F), "w2": randn(rng, F, H, scale=0.3), "bf2": randn(rng, H),
        "g2": rng.uniform(0.5, 1.5, H).astype(np.float32), "b2": randn(rng, H),
    }
    nodes = [
        helper.make_node("EmbedLayerNormalization", ["input_ids", "segment_ids", "word", "pos", "seg", "g0", "b0", "mask"],
                         ["emb", "mask_index"], domain="com.microsoft", epsilon=1e-12, name="embed"),
        helper.make_node("Attention", ["emb", "wqkv", "bqkv", "mask"], ["att"], domain="com.microsoft", num_heads=4,
                         name="attention"),
        helper.make_node("MatMul", ["att", "wo"], ["proj"], name="proj"),
        helper.make_node("SkipLayerNormalization", ["proj", "emb", "g1", "b1", "bo"], ["ln1"], domain="com.microsoft",
                         epsilon=1e-12, name="ln1"),
        helper.make_node("MatMul", ["ln1", "w1"], ["ffn1"], name="ffn1"),
        helper.make_node("BiasGelu", ["ffn1", "bf1"], ["act"], domain="com.microsoft", name="gelu"),
        helper.make_node("MatMul", ["act", "w2"], ["ffn2"], name="ffn2"),
        helper.make_node("SkipLayerNormalization", ["ffn2", "ln1", "g2", "b2", "bf2"], ["y"], domain="com.microsoft",
                         epsilon=1e-12, name="ln2"),
    ]
    model = make_model(nodes, [int_input("input_ids"), int_input("segment_ids"), int_input("mask")], inits)
    feeds = {"input_ids": rng.integers(0, 40, (B, S)).astype(np.int32),
             "segment_ids": rng.integers(0, 2, (B, S)).astype(np.int32), "mask": padding_mask("left")}
    errors = check(bertc, tmp_path, model, feeds)
    print(f"BERT layer of contrib ops: normalised max error vs ONNX Runtime {errors['y']:.3g}")


def test_contrib_errors_name_the_node(bertc, tmp_path, rng):
    node = helper.make_node("Attention", ["x", "w", "b", "lengths"], ["y"], domain="com.microsoft", num_heads=2,
                            name="att")
    model = make_model([node], [float_input("x"), helper.make_tensor_value_info("lengths", TensorProto.INT32, ["batch"])],
                       {"w": randn(rng, H, 3 * H), "b": randn(rng, 3 * H)})
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    proc = bertc("inspect", path, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"bertc: error: {path}: node 'att' (Attention): mask_index 'lengths' is in the 1-D form (lengths or start/end "
        "positions), which is unsupported; bertc supports only the raw 2-D [batch, seq] mask"]


def ort_optimizer_fixtures():
    """The TorchScript exports (ORT's transformer optimizer does not fuse dynamo exports)."""
    return [d for d in fixture_dirs() if "_ts1" in d.name]


@pytest.mark.parametrize("d", ort_optimizer_fixtures(), ids=lambda d: d.name)
def test_ort_transformer_optimizer_output(bertc, d, tmp_path):
    """Real fused models: ORT's own transformer optimizer fuses the fixture
    (raw 2-D attention mask, as bertc imports it); bertc runs the result with
    the fixture's expected outputs, and so does ORT on bertc's re-export."""
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    meta = load_meta(d)
    options = FusionOptions("bert")
    options.use_raw_attention_mask(True)
    fused = optimizer.optimize_model(str(d / "model.onnx"), model_type="bert", num_heads=meta["heads"],
                                     hidden_size=meta["hidden"], optimization_options=options,
                                     # ORT's Python fusions alone: opt_level 1 and up first runs an ORT session
                                     # whose wrapper imports torch, which the test environment does not have.
                                     opt_level=0)
    path = tmp_path / "fused.onnx"
    fused.save_model_to_file(str(path))
    contrib = {n.op_type for n in onnx.load(path).graph.node if n.domain == "com.microsoft"}
    assert {"SkipLayerNormalization"} <= contrib, contrib
    out = tmp_path / "out"
    proc = bertc("run", path, "--inputs-dir", d / "inputs", "--save-outputs", out, check=False)
    assert proc.returncode == 0, proc.stderr
    expected = sorted((d / "expected").glob("*.npy"))
    for e in expected:
        assert normalised_error(np.load(out / e.name), np.load(e)) <= TOL, e.name
    if can_optimize():
        reexported = tmp_path / "reexported.onnx"
        bertc("optimize", path, "-o", reexported, "--passes", "")
        feeds = {n: np.load(d / "inputs" / f"{n}.npy") for n in meta["inputs"]}
        again = ort_run(reexported, feeds)
        for e in expected:
            assert normalised_error(again[e.stem], np.load(e)) <= TOL, ("re-exported", e.name)
