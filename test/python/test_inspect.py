"""`bertc inspect` reports the right architecture for every fixture and the pretrained model."""

import json

import pytest

from conftest import fixture_dirs, load_meta

# XLM-RoBERTa is RoBERTa's architecture with another vocabulary; nothing in the
# graph tells them apart, so inspect reports both as "roberta".
FAMILY = {"xlm_roberta": "roberta"}


@pytest.mark.parametrize("d", fixture_dirs(), ids=lambda d: d.name)
def test_fixture_architecture(bertc, d):
    meta = load_meta(d)
    info = json.loads(bertc("inspect", d / "model.onnx", "--json").stdout)
    arch = info["architecture"]
    assert arch["family"] == FAMILY.get(meta["arch"], meta["arch"]), arch["family_evidence"]
    for key in ("layers", "hidden", "heads", "intermediate", "vocab", "max_positions", "type_vocab",
                "embedding_size", "activation"):
        assert arch[key] == meta[key], key
    assert arch["pooler"] == ("pooler_output" in meta["outputs"])
    assert arch["shared_layers"] == (meta["arch"] == "albert")
    assert [i["name"] for i in info["inputs"]] == meta["inputs"]
    assert [o["name"] for o in info["outputs"]] == meta["outputs"]
    assert info["inputs"][0]["shape"] == ["batch", "sequence"]
    assert info["opsets"]["ai.onnx"] == meta["opset"]
    # FLOPs at batch 1, seq 128: 2 layers of QKV/out/FFN projections plus attention products.
    h, i, s = meta["hidden"], meta["intermediate"], 128
    per_layer = 2 * s * (4 * h * h + 2 * h * i) + 2 * 2 * s * s * h
    assert info["flops"]["matmul_flops"] >= meta["layers"] * per_layer


def test_inspect_text_output(bertc):
    out = bertc("inspect", fixture_dirs()[0] / "model.onnx", "--batch", "2", "--seq", "16").stdout
    for needle in ("producer", "inputs", "outputs", "parameters", "architecture", "FLOPs", "ops"):
        assert needle in out
    assert "batch 2, seq 16" in out


def test_pretrained_architecture(bertc, pretrained_model):
    info = json.loads(bertc("inspect", pretrained_model, "--json").stdout)
    arch = info["architecture"]
    # paraphrase-MiniLM-L3-v2: a BERT with 3 layers, hidden 384, 12 heads, FFN 1536, vocab 30522.
    assert (arch["family"], arch["layers"], arch["hidden"], arch["heads"], arch["intermediate"]) == ("bert", 3, 384, 12, 1536)
    assert (arch["vocab"], arch["max_positions"], arch["type_vocab"], arch["activation"]) == (30522, 512, 2, "gelu")
    assert info["parameters"] > 17_000_000
