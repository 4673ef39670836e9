"""A BERT whose weights are made from a seed, so that they need not travel.

The CUDA benchmark (bench/cuda_vs_torch.py) compiles BERT-base here and runs
it on a GPU machine with no bertc, against PyTorch built there. Both sides
make the same weights from (config, seed) with NumPy alone:

  state_dict(config, seed)   every parameter of transformers' BertModel, by its
                             state_dict name. Tensor i is a window of one table
                             of PERIOD normal values, read with its own stride
                             and offset: value j is table[(offset_i + j *
                             stride_i) % PERIOD], scaled as BertModel's init
                             (0.02 for weights and biases, 1 +- 0.1 for
                             LayerNorm scales). No two tensors are equal (nothing
                             is deduplicated), and a tensor repeats after PERIOD
                             values, in any layout bertc stores it (a transposed
                             row is a window of another periodic sequence), so
                             bertc's weights file compresses to a few MB.
  to_onnx(config, state)     the ONNX graph transformers' BertModel exports with
                             the TorchScript exporter at opset 17, made without
                             torch: the committed fixture test/models/
                             bert_ts17_eager (2 layers, hidden 64) with its
                             layer repeated and its size constants (head size,
                             the 1/sqrt(head size) scale, the position ids)
                             set for `config`, and these weights.
  reference(config, state, feeds)
                             BertModel's forward in NumPy (float32 or float64):
                             last_hidden_state and pooler_output, with padded
                             keys masked as transformers does. The reference
                             where torch is missing, and the check of to_onnx
                             (test/python/test_gpu_session.py runs it against
                             ONNX Runtime).
"""
import math
import zlib

import numpy as np

PERIOD = 4099  # a prime, so every stride in 1..PERIOD-1 visits the whole table
INIT_RANGE = 0.02  # BertConfig.initializer_range

BERT_BASE = {"vocab_size": 30522, "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
             "intermediate_size": 3072, "hidden_act": "gelu", "max_position_embeddings": 512, "type_vocab_size": 2,
             "layer_norm_eps": 1e-12, "pad_token_id": 0}

TEMPLATE = "test/models/bert_ts17_eager/model.onnx"  # relative to the repository


def param_shapes(c: dict):
    """(name, shape) of every BertModel parameter, in state_dict order."""
    h, i = c["hidden_size"], c["intermediate_size"]
    out = [("embeddings.word_embeddings.weight", (c["vocab_size"], h)),
           ("embeddings.position_embeddings.weight", (c["max_position_embeddings"], h)),
           ("embeddings.token_type_embeddings.weight", (c["type_vocab_size"], h)),
           ("embeddings.LayerNorm.weight", (h,)), ("embeddings.LayerNorm.bias", (h,))]
    for layer in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."
        for part in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            out += [(p + part + ".weight", (h, h)), (p + part + ".bias", (h,))]
        out += [(p + "attention.output.LayerNorm.weight", (h,)), (p + "attention.output.LayerNorm.bias", (h,)),
                (p + "intermediate.dense.weight", (i, h)), (p + "intermediate.dense.bias", (i,)),
                (p + "output.dense.weight", (h, i)), (p + "output.dense.bias", (h,)),
                (p + "output.LayerNorm.weight", (h,)), (p + "output.LayerNorm.bias", (h,))]
    return out + [("pooler.dense.weight", (h, h)), ("pooler.dense.bias", (h,))]


def state_dict(c: dict, seed: int) -> dict:
    """Every parameter as float32, made from `seed` alone (see the module's doc)."""
    table = np.random.default_rng(seed).standard_normal(PERIOD).astype(np.float32)
    state = {}
    for name, shape in param_shapes(c):
        key = zlib.crc32(name.encode())
        stride = 1 + key % (PERIOD - 1)
        offset = (key >> 12) % PERIOD
        n = math.prod(shape)
        v = table[(offset + stride * np.arange(n, dtype=np.int64)) % PERIOD].reshape(shape)
        state[name] = (1 + 0.1 * v) if name.endswith("LayerNorm.weight") else INIT_RANGE * v
    return state


# ------------------------------------------------------------------------------------------ reference

def _erf(x):
    """erf within 1.2e-7 (Numerical Recipes' erfc Chebyshev fit): NumPy has none."""
    z = np.abs(x)
    t = 1.0 / (1.0 + 0.5 * z)
    poly = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (
        -0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
    r = 1.0 - t * np.exp(poly)
    return np.where(x >= 0, r, -r).astype(x.dtype)


def _layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def reference(c: dict, state: dict, feeds: dict, dtype=np.float32):
    """(last_hidden_state, pooler_output) of BertModel on int64 [batch, seq] feeds."""
    s = {k: v.astype(dtype) for k, v in state.items()}
    ids, mask = feeds["input_ids"], feeds["attention_mask"]
    types = feeds.get("token_type_ids", np.zeros_like(ids))
    batch, seq = ids.shape
    heads = c["num_attention_heads"]
    hd = c["hidden_size"] // heads
    eps = c["layer_norm_eps"]
    x = s["embeddings.word_embeddings.weight"][ids] + s["embeddings.token_type_embeddings.weight"][types] + \
        s["embeddings.position_embeddings.weight"][np.arange(seq)][None]
    x = _layer_norm(x, s["embeddings.LayerNorm.weight"], s["embeddings.LayerNorm.bias"], eps)
    # transformers adds the dtype's lowest value at padded keys.
    bias = np.where(mask.astype(bool), 0, np.finfo(dtype).min).astype(dtype)[:, None, None, :]

    def linear(v, name):
        return v @ s[name + ".weight"].T + s[name + ".bias"]

    def split(v):
        return v.reshape(batch, seq, heads, hd).transpose(0, 2, 1, 3)

    for layer in range(c["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."
        q, k, v = (split(linear(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
        scores = q @ k.transpose(0, 1, 3, 2) / dtype(math.sqrt(hd)) + bias
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        probs = scores / scores.sum(-1, keepdims=True)
        ctx = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, seq, heads * hd)
        x = _layer_norm(linear(ctx, p + "attention.output.dense") + x, s[p + "attention.output.LayerNorm.weight"],
                        s[p + "attention.output.LayerNorm.bias"], eps)
        inner = linear(x, p + "intermediate.dense")
        inner = inner * dtype(0.5) * (dtype(1) + _erf(inner / dtype(math.sqrt(2))))
        x = _layer_norm(linear(inner, p + "output.dense") + x, s[p + "output.LayerNorm.weight"],
                        s[p + "output.LayerNorm.bias"], eps)
    pooled = np.tanh(linear(x[:, 0], "pooler.dense"))
    return x, pooled


# ------------------------------------------------------------------------------------------------ ONNX

def to_onnx(c: dict, state: dict, template_path):
    """The TorchScript opset-17 export of BertModel(c) with `state`, from the 2-layer fixture."""
    import onnx
    from onnx import helper, numpy_helper

    t = onnx.load(str(template_path))
    g = t.graph
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def layer_of(n):
        for k in range(64):
            if f"/encoder/layer.{k}/" in n.name:
                return k
        if n.op_type == "Constant":  # an unnamed constant belongs to the layer of its readers
            readers = {layer_of(r) for r in consumers.get(n.output[0], [])}
            if len(readers) == 1:
                return readers.pop()
        return None

    layers = [layer_of(n) for n in g.node]
    template = [n for n, k in zip(g.node, layers) if k == 0]
    x_in = "/model/embeddings/LayerNorm/LayerNormalization_output_0"
    x_out = "/model/encoder/layer.0/output/LayerNorm/LayerNormalization_output_0"
    top = max(k for k in layers if k is not None)
    last = [n.output[0] for n in g.node if n.name == f"/model/encoder/layer.{top}/output/LayerNorm/LayerNormalization"]
    assert last == ["last_hidden_state"], "the template's last layer does not end in last_hidden_state"
    old = {"hd": None}

    def weight_key(node_name, layer):
        """The state_dict name of a MatMul's weight, from the MatMul node's name."""
        part = node_name.split(f"/encoder/layer.0/")[1].rsplit("/MatMul", 1)[0].replace("/", ".")
        return f"encoder.layer.{layer}.{part}.weight"

    heads = c["num_attention_heads"]
    hd = c["hidden_size"] // heads
    initializers = []
    produced = {o for n in template for o in n.output}

    def rename(name, k):
        if name == x_in:
            return x_in if k == 0 else f"/model/encoder/layer.{k - 1}/output/LayerNorm/LayerNormalization_output_0"
        if name == x_out and k == c["num_hidden_layers"] - 1:
            return "last_hidden_state"
        if name in produced:
            return name.replace("/layer.0/", f"/layer.{k}/") if "/layer.0/" in name else f"{name}.layer{k}"
        if name.startswith("model.encoder.layer.0."):
            return name.replace("layer.0.", f"layer.{k}.", 1)
        return name  # shared values (shapes, the mask bias) and transposed weights (handled below)

    body = []
    for k in range(c["num_hidden_layers"]):
        for n in template:
            m = helper.make_node(n.op_type, [rename(i, k) for i in n.input], [rename(o, k) for o in n.output],
                                 name=n.name.replace("/layer.0/", f"/layer.{k}/") if "/layer.0/" in n.name
                                 else f"{n.name}.layer{k}")
            m.attribute.extend(n.attribute)
            if n.op_type == "MatMul" and n.input[1].startswith("onnx::MatMul"):
                key = weight_key(n.name, k)
                m.input[1] = "model." + key + ".T"
                initializers.append(numpy_helper.from_array(np.ascontiguousarray(state[key].T), m.input[1]))
            if n.op_type == "Constant":
                suffix = n.output[0].rsplit("/", 1)[-1]
                value = numpy_helper.to_array(n.attribute[0].t)
                if "/attention/self/" in n.output[0] and suffix in ("Constant_1_output_0", "Constant_3_output_0",
                                                                    "Constant_5_output_0"):
                    old["hd"] = int(value[0])
                    new = np.array([hd], np.int64)
                elif "/attention/self/" in n.output[0] and suffix == "Constant_6_output_0":
                    assert old["hd"] and abs(float(value) - 1 / math.sqrt(old["hd"])) < 1e-6, "unexpected scale"
                    new = np.array(1 / math.sqrt(hd), np.float32)
                else:
                    new = None
                if new is not None:
                    del m.attribute[:]
                    m.attribute.append(helper.make_attribute("value", numpy_helper.from_array(new)))
            body.append(m)
    assert old["hd"], "the template has no head-size constants where expected"

    prefix, suffix_nodes = [], []
    first_layer = layers.index(0)
    for n, k in zip(g.node, layers):
        if k is not None:
            continue
        m = onnx.NodeProto()
        m.CopyFrom(n)
        if n.op_type == "Constant" and numpy_helper.to_array(n.attribute[0].t).ndim == 2:  # the position ids
            ids = np.arange(c["max_position_embeddings"], dtype=np.int64)[None]
            del m.attribute[:]
            m.attribute.append(helper.make_attribute("value", numpy_helper.from_array(ids)))
        (prefix if list(g.node).index(n) < first_layer else suffix_nodes).append(m)

    for init in g.initializer:
        if init.name.startswith("onnx::MatMul") or init.name.startswith("model.encoder.layer."):
            continue  # the layers' own, made above and below
        key = init.name[len("model."):]
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(state[key]), init.name))
    for k in range(c["num_hidden_layers"]):
        for name, _ in param_shapes(c):
            if name.startswith(f"encoder.layer.{k}.") and not (name.endswith(".weight") and "LayerNorm" not in name):
                initializers.append(numpy_helper.from_array(state[name], "model." + name))

    h = c["hidden_size"]
    outputs = [helper.make_tensor_value_info("last_hidden_state", onnx.TensorProto.FLOAT, ["batch", "sequence", h]),
               helper.make_tensor_value_info("pooler_output", onnx.TensorProto.FLOAT, ["batch", h])]
    graph = helper.make_graph(prefix + body + suffix_nodes, g.name, list(g.input), outputs, initializers)
    model = helper.make_model(graph, opset_imports=list(t.opset_import), producer_name="bench/synthetic_bert.py")
    model.ir_version = t.ir_version
    return model


def main():
    """Writes the benchmark models: `python bench/synthetic_bert.py -o build/bench/bert-base.onnx [--layers 12]`."""
    import argparse
    from pathlib import Path

    import onnx

    ap = argparse.ArgumentParser(description="A BERT-base-shaped ONNX model with seeded weights (no torch).")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--layers", type=int, default=BERT_BASE["num_hidden_layers"])
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    config = {**BERT_BASE, "num_hidden_layers": args.layers}
    repo = Path(__file__).resolve().parents[1]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    onnx.save(to_onnx(config, state_dict(config, args.seed), repo / TEMPLATE), args.output)
    print(f"wrote {args.output} ({args.layers} layers)")


if __name__ == "__main__":
    main()
