#!/usr/bin/env python3
"""Generate the tiny BERT-family ONNX test fixtures under test/models/.

Run from the repository root:

    python3 tools/make_fixtures.py              # (re)generate everything
    python3 tools/make_fixtures.py --only bert  # only fixtures whose name contains "bert"

Needs torch, transformers (5.x), onnx, onnxscript, onnxruntime and numpy.
No model hub access: every model is built from a small config with seeded
random weights, so the output is reproducible.

Matrix: 6 architectures x 3 exporters (TorchScript opset 14, TorchScript
opset 17, dynamo at its default opset) x 2 attention implementations
(eager, sdpa). For each combination the script writes

    test/models/<arch>_<exporter>_<attn>/model.onnx
    test/models/<arch>_<exporter>_<attn>/inputs/<input>.npy
    test/models/<arch>_<exporter>_<attn>/expected/<output>.npy
    test/models/<arch>_<exporter>_<attn>/meta.json

and test/models/manifest.json (fixtures with opset and op histogram, plus
any combination that could not be exported, with the reason).

Expected outputs come from ONNX Runtime (CPU EP, ORT_DISABLE_ALL, i.e. the
plain graph semantics). meta.json records the max abs difference between
PyTorch and ORT on the fixture inputs, and on two other shapes
(batch 1 x seq 5, batch 2 x seq 13) to check that nothing was baked in.

Weights: the Hugging Face initializer (std 0.02, zero biases, unit LayerNorm)
makes attention almost uniform and hides bias bugs, so after construction
every parameter is re-drawn from a seeded generator: Linear weights
N(0, 1/fan_in), embeddings N(0, 1/hidden), biases and LayerNorm beta
N(0, 0.1^2), LayerNorm gamma 1 + N(0, 0.1^2). All six variants of one
architecture share the same weights and inputs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shutil
import sys
import traceback
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import torch
import transformers

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "test" / "models"

BATCH, SEQ = 3, 9
RIGHT_PAD = 3  # row 1: last 3 tokens are padding
LEFT_PAD = 4   # row 2: first 4 tokens are padding
OTHER_SHAPES = [(1, 5), (2, 13)]  # extra torch-vs-ORT checks, not stored


# --------------------------------------------------------------------------
# Architecture table
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Arch:
    name: str            # fixture prefix and meta "arch"
    config_cls: str      # transformers config class
    hidden: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int      # 0 = no token_type_ids input
    embedding_size: int  # == hidden unless the arch factorizes embeddings
    activation: str      # HF activation name
    pad_id: int
    has_pooler: bool
    seed: int


ARCHS = [
    #    name           config class          H   nh  I    V    P   T  E   act         pad pool  seed
    Arch("bert",        "BertConfig",         64, 4,  96,  200, 64, 2, 64, "gelu",     0, True,  1001),
    Arch("roberta",     "RobertaConfig",      48, 3,  80,  250, 48, 2, 48, "gelu",     1, True,  1002),
    Arch("distilbert",  "DistilBertConfig",   32, 2,  72,  120, 40, 0, 32, "gelu",     0, False, 1003),
    Arch("albert",      "AlbertConfig",       64, 4,  88,  150, 56, 2, 32, "gelu_new", 0, True,  1004),
    Arch("electra",     "ElectraConfig",      48, 4,  100, 180, 52, 2, 32, "gelu",     0, False, 1005),
    Arch("xlm_roberta", "XLMRobertaConfig",   40, 4,  76,  300, 44, 2, 40, "gelu",     1, True,  1006),
]

NUM_LAYERS = 2

# (fixture tag, meta "exporter", opset or None for the exporter's default)
EXPORTERS = [
    ("ts14", "torchscript", 14),
    ("ts17", "torchscript", 17),
    ("dynamo", "dynamo", None),
]

ATTNS = ["eager", "sdpa"]

ACTIVATION_META = {"gelu": "gelu", "gelu_new": "gelu_tanh"}


def max_sequence(arch: Arch) -> int:
    """Longest sequence the position table allows (RoBERTa-style ids start at pad+1)."""
    if arch.name in ("roberta", "xlm_roberta"):
        return arch.max_positions - arch.pad_id - 1
    return arch.max_positions


def input_names(arch: Arch) -> list[str]:
    names = ["input_ids", "attention_mask"]
    if arch.type_vocab:
        names.append("token_type_ids")
    return names


def output_names(arch: Arch) -> list[str]:
    return ["last_hidden_state"] + (["pooler_output"] if arch.has_pooler else [])


# --------------------------------------------------------------------------
# Model construction
# --------------------------------------------------------------------------

def build_config(arch: Arch):
    cls = getattr(transformers, arch.config_cls)
    if arch.name == "distilbert":
        return cls(
            vocab_size=arch.vocab, max_position_embeddings=arch.max_positions,
            n_layers=NUM_LAYERS, n_heads=arch.heads, dim=arch.hidden,
            hidden_dim=arch.intermediate, activation=arch.activation,
            dropout=0.0, attention_dropout=0.0, qa_dropout=0.0,
            seq_classif_dropout=0.0, pad_token_id=arch.pad_id,
            sinusoidal_pos_embds=False,
        )
    kwargs = dict(
        vocab_size=arch.vocab, hidden_size=arch.hidden,
        num_hidden_layers=NUM_LAYERS, num_attention_heads=arch.heads,
        intermediate_size=arch.intermediate, hidden_act=arch.activation,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        max_position_embeddings=arch.max_positions,
        type_vocab_size=arch.type_vocab, pad_token_id=arch.pad_id,
    )
    if arch.embedding_size != arch.hidden or arch.name in ("albert", "electra"):
        kwargs["embedding_size"] = arch.embedding_size
    if arch.name == "albert":
        kwargs["classifier_dropout_prob"] = 0.0
    return cls(**kwargs)


def randomize_parameters(model: torch.nn.Module, seed: int) -> None:
    """Re-draw every parameter so that biases, LayerNorm and attention matter."""
    gen = torch.Generator().manual_seed(seed)

    def normal(t: torch.Tensor, std: float, mean: float = 0.0) -> None:
        t.copy_(torch.randn(t.shape, generator=gen) * std + mean)

    with torch.no_grad():
        for _, mod in sorted(model.named_modules(), key=lambda kv: kv[0]):
            if isinstance(mod, torch.nn.Linear):
                normal(mod.weight, mod.in_features ** -0.5)
                if mod.bias is not None:
                    normal(mod.bias, 0.1)
            elif isinstance(mod, torch.nn.Embedding):
                normal(mod.weight, mod.embedding_dim ** -0.5)
            elif isinstance(mod, torch.nn.LayerNorm):
                normal(mod.weight, 0.1, mean=1.0)
                normal(mod.bias, 0.1)
    covered = set()
    for mod in model.modules():
        if isinstance(mod, (torch.nn.Linear, torch.nn.Embedding, torch.nn.LayerNorm)):
            covered.update(id(p) for p in mod.parameters(recurse=False))
    missed = [n for n, p in model.named_parameters() if id(p) not in covered]
    if missed:
        raise RuntimeError(f"parameters not re-initialized: {missed}")


def build_model(arch: Arch, attn: str) -> torch.nn.Module:
    torch.manual_seed(arch.seed)
    config = build_config(arch)
    model = transformers.AutoModel.from_config(config, attn_implementation=attn)
    assert model.config._attn_implementation == attn, model.config._attn_implementation
    randomize_parameters(model, arch.seed)
    model.eval()
    return model


class ExportWrapper(torch.nn.Module):
    """Positional inputs in, a tuple of plain tensors out."""

    def __init__(self, model: torch.nn.Module, arch: Arch):
        super().__init__()
        self.model = model
        self.has_token_types = bool(arch.type_vocab)
        self.has_pooler = arch.has_pooler

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        kwargs = dict(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
        if self.has_token_types:
            kwargs["token_type_ids"] = token_type_ids
        out = self.model(**kwargs)
        if self.has_pooler:
            return out.last_hidden_state, out.pooler_output
        return (out.last_hidden_state,)


# --------------------------------------------------------------------------
# Inputs
# --------------------------------------------------------------------------

def make_inputs(arch: Arch, batch: int = BATCH, seq: int = SEQ,
                seed_offset: int = 0) -> dict[str, np.ndarray]:
    """Row 0 unpadded, row 1 right-padded, row 2 left-padded (when present)."""
    rng = np.random.RandomState(arch.seed + seed_offset)
    ids = rng.randint(1, arch.vocab, size=(batch, seq)).astype(np.int64)
    # Real tokens never use the pad id (RoBERTa/XLM-R derive positions from it).
    while (ids == arch.pad_id).any():
        hit = ids == arch.pad_id
        ids[hit] = rng.randint(1, arch.vocab, size=int(hit.sum()))
    mask = np.ones((batch, seq), dtype=np.int64)
    if batch > 1:
        right = min(RIGHT_PAD, seq - 1)
        mask[1, seq - right:] = 0
    if batch > 2:
        left = min(LEFT_PAD, seq - 1)
        mask[2, :left] = 0
    ids[mask == 0] = arch.pad_id
    inputs = {"input_ids": ids, "attention_mask": mask}
    if arch.type_vocab:
        tt = np.zeros((batch, seq), dtype=np.int64)
        tt[0, seq // 2:] = 1  # second segment in row 0
        inputs["token_type_ids"] = tt
    return {k: np.ascontiguousarray(v) for k, v in inputs.items()}


def to_torch(inputs: dict[str, np.ndarray]) -> tuple[torch.Tensor, ...]:
    return tuple(torch.from_numpy(v.copy()) for v in inputs.values())


# --------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------

def export_torchscript(wrapper, arch: Arch, inputs, path: Path, opset: int) -> None:
    dyn = {n: {0: "batch", 1: "sequence"} for n in input_names(arch)}
    dyn["last_hidden_state"] = {0: "batch", 1: "sequence"}
    if arch.has_pooler:
        dyn["pooler_output"] = {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            wrapper, to_torch(inputs), str(path), dynamo=False,
            opset_version=opset, input_names=input_names(arch),
            output_names=output_names(arch), dynamic_axes=dyn,
            do_constant_folding=True, export_params=True,
        )


def export_dynamo(wrapper, arch: Arch, inputs, path: Path) -> list[str]:
    """Try a few exporter settings; return notes about attempts that failed."""
    batch = torch.export.Dim("batch")
    seq = torch.export.Dim("sequence", max=max_sequence(arch))
    named = {n: {0: batch, 1: seq} for n in input_names(arch)}
    auto = {n: {0: torch.export.Dim.AUTO, 1: torch.export.Dim.AUTO} for n in input_names(arch)}
    attempts = [
        ("named dims, optimize=True", dict(dynamic_shapes=named, optimize=True)),
        ("named dims, optimize=False", dict(dynamic_shapes=named, optimize=False)),
        ("Dim.AUTO, optimize=True", dict(dynamic_shapes=auto, optimize=True)),
        ("dynamic_axes, optimize=True", dict(
            dynamic_axes={n: {0: "batch", 1: "sequence"} for n in input_names(arch)},
            optimize=True)),
    ]
    notes = []
    for label, kw in attempts:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                program = torch.onnx.export(
                    wrapper, to_torch(inputs), dynamo=True,
                    input_names=input_names(arch), output_names=output_names(arch),
                    external_data=False, verbose=False, **kw,
                )
            proto = program.model_proto
            strip_debug_metadata(proto)
            onnx.save_model(proto, str(path), save_as_external_data=False)
            if notes:
                notes.append(f"succeeded with: {label}")
            return notes
        except Exception as exc:  # noqa: BLE001 - exporter bugs come in all types
            notes.append(f"{label}: {type(exc).__name__}: {first_line(exc)}")
    raise ExportFailed("; ".join(notes))


class ExportFailed(RuntimeError):
    pass


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""


def strip_debug_metadata(proto: onnx.ModelProto) -> None:
    """Drop per-node stack traces / FX names (absolute paths, not deterministic)."""
    def strip_graph(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            del node.metadata_props[:]
            node.doc_string = ""
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    strip_graph(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    for g in attr.graphs:
                        strip_graph(g)
        for vi in list(graph.input) + list(graph.output) + list(graph.value_info):
            del vi.metadata_props[:]
        for init in graph.initializer:
            del init.metadata_props[:]
        del graph.metadata_props[:]
        graph.doc_string = ""

    strip_graph(proto.graph)
    for fn in proto.functions:
        for node in fn.node:
            del node.metadata_props[:]
    del proto.metadata_props[:]
    proto.doc_string = ""


def rename_output_dims(path: Path, arch: Arch) -> None:
    """Make the graph outputs carry the batch/sequence dim names."""
    proto = onnx.load(str(path))
    wanted = {"last_hidden_state": ["batch", "sequence"], "pooler_output": ["batch"]}
    changed = False
    for out in proto.graph.output:
        dims = out.type.tensor_type.shape.dim
        for i, name in enumerate(wanted.get(out.name, [])):
            if i < len(dims) and not dims[i].HasField("dim_value") and dims[i].dim_param != name:
                dims[i].dim_param = name
                changed = True
    if changed:
        onnx.save_model(proto, str(path), save_as_external_data=False)


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------

def ort_session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts,
                                providers=["CPUExecutionProvider"])


def run_ort(sess: ort.InferenceSession, inputs, names) -> dict[str, np.ndarray]:
    outs = sess.run(names, dict(inputs))
    return {n: np.ascontiguousarray(o, dtype=np.float32) for n, o in zip(names, outs)}


def run_torch(wrapper, inputs, names) -> dict[str, np.ndarray]:
    with torch.no_grad():
        outs = wrapper(*to_torch(inputs))
    return {n: o.detach().numpy().astype(np.float32) for n, o in zip(names, outs)}


def max_abs_err(a: dict, b: dict) -> float:
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


def check_model_file(path: Path) -> onnx.ModelProto:
    proto = onnx.load(str(path), load_external_data=False)
    for init in proto.graph.initializer:
        if init.data_location == onnx.TensorProto.EXTERNAL:
            raise RuntimeError(f"{path}: initializer {init.name} uses external data")
    onnx.checker.check_model(proto)
    return proto


def default_opset(proto: onnx.ModelProto) -> int:
    for imp in proto.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    raise RuntimeError("model has no default-domain opset import")


def op_histogram(proto: onnx.ModelProto) -> dict[str, int]:
    counts: Counter = Counter()

    def walk(graph):
        for node in graph.node:
            key = node.op_type if node.domain in ("", "ai.onnx") else f"{node.domain}::{node.op_type}"
            counts[key] += 1
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    for g in attr.graphs:
                        walk(g)

    walk(proto.graph)
    return dict(sorted(counts.items()))


# --------------------------------------------------------------------------
# One fixture
# --------------------------------------------------------------------------

def save_npys(directory: Path, arrays: dict[str, np.ndarray]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for name, arr in arrays.items():
        np.save(directory / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)


def make_fixture(arch: Arch, tag: str, exporter: str, opset, attn: str, out_root: Path) -> dict:
    name = f"{arch.name}_{tag}_{attn}"
    fdir = out_root / name
    if fdir.exists():
        shutil.rmtree(fdir)
    fdir.mkdir(parents=True)
    model_path = fdir / "model.onnx"

    wrapper = ExportWrapper(build_model(arch, attn), arch).eval()
    inputs = make_inputs(arch)
    notes: list[str] = []
    try:
        if exporter == "torchscript":
            export_torchscript(wrapper, arch, inputs, model_path, opset)
        else:
            notes = export_dynamo(wrapper, arch, inputs, model_path)
        rename_output_dims(model_path, arch)
        proto = check_model_file(model_path)
        sess = ort_session(model_path)
    except Exception as exc:
        shutil.rmtree(fdir)
        reason = str(exc) if isinstance(exc, ExportFailed) else \
            f"{type(exc).__name__}: {first_line(exc)}"
        traceback.print_exc()
        return {"name": name, "ok": False, "arch": arch.name, "exporter": exporter,
                "tag": tag, "attn": attn, "reason": reason}

    outs = output_names(arch)
    expected = run_ort(sess, inputs, outs)
    torch_out = run_torch(wrapper, inputs, outs)
    err = max_abs_err(torch_out, expected)
    other_err = 0.0
    for i, (b, s) in enumerate(OTHER_SHAPES):
        other = make_inputs(arch, b, s, seed_offset=100 + i)
        other_err = max(other_err, max_abs_err(run_torch(wrapper, other, outs),
                                               run_ort(sess, other, outs)))

    save_npys(fdir / "inputs", inputs)
    save_npys(fdir / "expected", expected)
    size = model_path.stat().st_size
    meta = {
        "arch": arch.name,
        "family": arch.name,
        "exporter": exporter,
        "opset": default_opset(proto),
        "attn": attn,
        "layers": NUM_LAYERS,
        "hidden": arch.hidden,
        "heads": arch.heads,
        "intermediate": arch.intermediate,
        "vocab": arch.vocab,
        "max_positions": arch.max_positions,
        "type_vocab": arch.type_vocab,
        "embedding_size": arch.embedding_size,
        "activation": ACTIVATION_META[arch.activation],
        "pad_id": arch.pad_id,
        "inputs": input_names(arch),
        "outputs": outs,
        "torch_max_abs_err_vs_ort": err,
        "torch_max_abs_err_vs_ort_other_shapes": other_err,
    }
    if notes:
        meta["export_notes"] = notes
    (fdir / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"  {name:32s} opset {meta['opset']:2d}  {size / 1024:6.1f} KiB  "
          f"torch-vs-ort {err:.2e} (other shapes {other_err:.2e})", flush=True)
    if size >= 1 << 20:
        print(f"  WARNING: {name}/model.onnx is {size} bytes (>= 1 MiB)", flush=True)
    return {"name": name, "ok": True, "arch": arch.name, "exporter": exporter,
            "tag": tag, "attn": attn, "opset": meta["opset"], "model_bytes": size,
            "torch_max_abs_err_vs_ort": err,
            "torch_max_abs_err_vs_ort_other_shapes": other_err,
            "ops": op_histogram(proto)}


# --------------------------------------------------------------------------
# Manifest
# --------------------------------------------------------------------------

def remove_stale(out_root: Path, keep: set[str]) -> None:
    """Delete fixture directories from a previous run that are no longer produced."""
    manifest = out_root / "manifest.json"
    if not manifest.exists():
        return
    old = json.loads(manifest.read_text())
    for entry in old.get("fixtures", []):
        d = out_root / entry["dir"]
        if entry["dir"] not in keep and d.is_dir() and (d / "meta.json").exists():
            shutil.rmtree(d)


def write_manifest(out_root: Path, results: list[dict]) -> None:
    manifest = {
        "generator": "tools/make_fixtures.py",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "onnx": onnx.__version__, "onnxruntime": ort.__version__},
        "fixtures": [
            {"dir": r["name"], "arch": r["arch"], "exporter": r["exporter"], "attn": r["attn"],
             "opset": r["opset"], "model_bytes": r["model_bytes"],
             "torch_max_abs_err_vs_ort": r["torch_max_abs_err_vs_ort"], "ops": r["ops"]}
            for r in results if r["ok"]
        ],
        "failed": [
            {"name": r["name"], "arch": r["arch"], "exporter": r["exporter"],
             "variant": r["tag"], "attn": r["attn"], "reason": r["reason"]}
            for r in results if not r["ok"]
        ],
    }
    (out_root / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


def summarize(results: list[dict]) -> None:
    ok = [r for r in results if r["ok"]]
    by_exporter: dict[str, set] = {}
    for r in ok:
        by_exporter.setdefault(r["exporter"], set()).update(r["ops"])
    all_ops = set().union(*by_exporter.values()) if by_exporter else set()
    print(f"\n{len(ok)} fixtures, {len(results) - len(ok)} failed")
    print("ops used:", " ".join(sorted(all_ops)))
    for exp, ops in sorted(by_exporter.items()):
        only = ops - set().union(*(v for k, v in by_exporter.items() if k != exp))
        print(f"ops only in {exp}:", " ".join(sorted(only)) or "-")
    if ok:
        worst = max(ok, key=lambda r: r["torch_max_abs_err_vs_ort"])
        print(f"max torch-vs-ORT error: {worst['torch_max_abs_err_vs_ort']:.3e} ({worst['name']})")
    for r in results:
        if not r["ok"]:
            print(f"FAILED {r['name']}: {r['reason']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default test/models)")
    parser.add_argument("--only", default="", help="only fixtures whose name contains this")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    out_root: Path = args.out
    out_root.mkdir(parents=True, exist_ok=True)
    combos = [(a, tag, exp, opset, attn)
              for a in ARCHS for tag, exp, opset in EXPORTERS for attn in ATTNS]
    if args.only:
        combos = [c for c in combos if args.only in f"{c[0].name}_{c[1]}_{c[4]}"]
        # a partial run keeps the other entries of the existing manifest
        previous = {}
        manifest = out_root / "manifest.json"
        if manifest.exists():
            old = json.loads(manifest.read_text())
            for f in old.get("fixtures", []):
                previous[f["dir"]] = dict(f, name=f["dir"], ok=True, tag=f["dir"].split("_")[-2],
                                          torch_max_abs_err_vs_ort_other_shapes=0.0)
            for f in old.get("failed", []):
                previous[f["name"]] = dict(f, ok=False, tag=f["variant"])

    results = []
    for arch, tag, exporter, opset, attn in combos:
        results.append(make_fixture(arch, tag, exporter, opset, attn, out_root))

    if args.only:
        merged = dict(previous)
        merged.update({r["name"]: r for r in results})
        results = list(merged.values())
    else:
        remove_stale(out_root, {r["name"] for r in results if r["ok"]})
    order = {f"{a.name}_{t}_{at}": i for i, (a, t, _, _, at) in enumerate(
        (a, t, e, o, at) for a in ARCHS for t, e, o in EXPORTERS for at in ATTNS)}
    results.sort(key=lambda r: order.get(r["name"], 1 << 30))
    write_manifest(out_root, results)
    summarize(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
