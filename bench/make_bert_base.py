#!/usr/bin/env python3
"""Writes a random-weight BERT-base (12 layers, hidden 768, 12 heads, FFN 3072)
as ONNX for the benchmarks, with the TorchScript exporter at opset 17 and
dynamic batch and sequence axes. Needs torch and transformers
(tools/requirements-fixtures.txt); no model hub access.

    .venv-fixtures/bin/python bench/make_bert_base.py -o build/bench/bert-base.onnx [--layers 12]
"""
import argparse
from pathlib import Path

import torch
import transformers


class Wrapper(torch.nn.Module):
    """Positional inputs and plain tuple outputs for the exporter."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask, token_type_ids):
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        return out.last_hidden_state, out.pooler_output


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--layers", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    cfg = transformers.BertConfig(num_hidden_layers=args.layers)
    model = Wrapper(transformers.BertModel(cfg).eval())
    ids = torch.randint(1, cfg.vocab_size, (1, 128))
    mask = torch.ones(1, 128, dtype=torch.long)
    types = torch.zeros(1, 128, dtype=torch.long)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    torch.onnx.export(model, (ids, mask, types), args.output, input_names=names,
                      output_names=["last_hidden_state", "pooler_output"], opset_version=17, dynamo=False,
                      dynamic_axes={n: {0: "batch", 1: "sequence"} for n in names}, do_constant_folding=True)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
