#!/usr/bin/env python3
"""Cold start: from process start to the first output, side by side.

  bertc   the example host program (examples/embed/embed, the pretrained
          MiniLM compiled in by bertc_add_model) embedding one sentence:
          wall time of the whole process, exec to exit, which includes
          loading the vocabulary, creating the context and the first run
  ORT     a Python process that creates an ONNX Runtime session on the same
          ONNX file (ORT_ENABLE_ALL, 1 thread) and runs it once on the same
          token ids; reported two ways: the whole process (Python and the
          onnxruntime import included) and session creation + first run alone

The processes are interleaved (A B A B ...) over --reps rounds. The page
cache is warm for both (each file is read once before timing): this measures
start-up work, not the disk.

    .venv/bin/python bench/cold_start.py --reps 10     # writes bench/results/cold_start.json
"""
import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SENTENCE = "A man is eating a piece of bread."

ORT_CHILD = r"""
import sys, time
t0 = time.perf_counter()
import numpy as np, onnxruntime as ort
so = ort.SessionOptions()
so.intra_op_num_threads = 1
t1 = time.perf_counter()
sess = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
ids = np.array([[int(x) for x in sys.argv[2].split(",")]], dtype=np.int64)
feeds = {i.name: (ids if "ids" in i.name else np.ones_like(ids)) for i in sess.get_inputs()}
sess.run(None, feeds)
t2 = time.perf_counter()
print(t2 - t1)
"""


def token_ids(vocab: Path, build: Path) -> str:
    """The sentence's ids, from the example's own tokenizer (bert_tokenize)."""
    tok = build / "examples" / "embed" / "bert_tokenize"
    out = subprocess.run([str(tok), str(vocab)], input=SENTENCE + "\n", capture_output=True, text=True,
                         check=True).stdout
    return ",".join(out.split())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(REPO / "build"))
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--out", default=str(HERE / "results" / "cold_start.json"))
    args = ap.parse_args()
    build = Path(args.build)
    model = subprocess.run([sys.executable, str(REPO / "tools" / "make_pretrained_reference.py"), "--print-path"],
                           capture_output=True, text=True, check=True).stdout.strip()
    vocab = build / "vocab.txt"
    subprocess.run([sys.executable, str(REPO / "tools" / "bert_vocab.py"), "--out", str(vocab)], check=True)
    embed = build / "examples" / "embed" / "embed"
    ids = token_ids(vocab, build)
    Path(model).read_bytes(), embed.read_bytes()  # warm the page cache for both

    bertc, ort_process, ort_session = [], [], []
    for _ in range(args.reps):
        t = time.perf_counter()
        subprocess.run([str(embed), str(vocab), SENTENCE], capture_output=True, check=True)
        bertc.append(time.perf_counter() - t)
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", ORT_CHILD, model, ids], capture_output=True, text=True, check=True)
        ort_process.append(time.perf_counter() - t)
        ort_session.append(float(out.stdout.strip()))

    def row(name, xs):
        return {"name": name, "median_ms": statistics.median(xs) * 1e3, "min_ms": min(xs) * 1e3,
                "all_ms": [x * 1e3 for x in xs]}

    rows = [row("bertc example process (start to first output)", bertc),
            row("ORT Python process (start to first output)", ort_process),
            row("ORT session creation + first run", ort_session)]
    print(f"cold start, paraphrase-MiniLM-L3-v2, one sentence, {args.reps} interleaved rounds")
    print("| what | median ms | min ms |\n|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['median_ms']:.1f} | {r['min_ms']:.1f} |")
    b, s = rows[0]["median_ms"], rows[2]["median_ms"]
    print(f"bertc process / ORT session + first run: {b / s:.3f}")
    Path(args.out).write_text(json.dumps({"command": " ".join(sys.argv), "model": model, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
