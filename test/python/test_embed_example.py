"""examples/embed on the pretrained paraphrase-MiniLM-L3-v2, against Python.

The reference tokenises with the `tokenizers` package (BertWordPieceTokenizer
on the same vocab.txt), runs the original ONNX model in ONNX Runtime,
mean-pools the token states over the attention mask and L2-normalises. The
example's embeddings must have cosine >= 0.9999 with the reference's, one by
one, and its similarity ranking must be the same.
"""

import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, build_dir

# The first is the query; more sentences than MAX_BATCH (8), so the example
# runs two batches, of different sequence lengths.
SENTENCES = [
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The girl is carrying a baby.",
    "A man is riding a horse.",
    "A woman is playing violin.",
    "Two men pushed carts through the woods.",
    "A man is riding a white horse on an enclosed ground.",
    "A monkey is playing drums.",
    "Someone in a gorilla costume is playing a set of drums.",
    "Le café coûte 3,50 € — c'est très cher!",
    "Somebody ate a sandwich for lunch, quickly.",
]
MIN_COSINE = 0.9999


@pytest.fixture(scope="module")
def vocab(tmp_path_factory):
    out = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    proc = subprocess.run([sys.executable, str(REPO / "tools" / "bert_vocab.py"), "--out", str(out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail("the vocabulary package is not installed; run tools/setup.sh\n" + proc.stderr)
    return out


@pytest.fixture(scope="module")
def embed(bertc_compile, pretrained_model):
    exe = build_dir() / "examples" / "embed" / "embed"
    if not exe.exists():
        pytest.fail(f"{exe} was not built; the pretrained model is installed, so the build should have made it")
    return exe


def reference_embeddings(model_path, vocab, sentences):
    import onnxruntime as ort
    from tokenizers import BertWordPieceTokenizer

    tok = BertWordPieceTokenizer(str(vocab), lowercase=True)
    tok.enable_truncation(128)
    tok.enable_padding(pad_id=0)
    enc = tok.encode_batch(sentences)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    feeds = {i.name: feeds[i.name] for i in sess.get_inputs()}
    states_name = next(o.name for o in sess.get_outputs() if len(o.shape) == 3 and o.type == "tensor(float)")
    states = sess.run([states_name], feeds)[0].astype(np.float64)
    pooled = (states * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def parse(stdout, hidden=384):
    emb = {}
    ranking = []
    for line in stdout.splitlines():
        if m := re.match(r"embedding (\d+): (.*)", line):
            emb[int(m.group(1))] = np.array(m.group(2).split(), dtype=np.float64)
        elif m := re.match(r"\s*\d+\. (-?[0-9.]+)  \[(\d+)\] ", line):
            ranking.append((int(m.group(2)), float(m.group(1))))
    assert sorted(emb) == list(range(len(emb))) and all(e.shape == (hidden,) for e in emb.values())
    return np.stack([emb[i] for i in range(len(emb))]), ranking


def test_embeddings_and_ranking_match_onnxruntime(embed, vocab, pretrained_model):
    proc = subprocess.run([str(embed), "--threads", "2", "--embeddings", str(vocab), *SENTENCES],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got, ranking = parse(proc.stdout)
    want = reference_embeddings(pretrained_model, vocab, SENTENCES)
    assert got.shape == want.shape
    cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    print(f"\nworst cosine with the reference: {cosine.min():.7f}")
    assert (cosine >= MIN_COSINE).all(), cosine

    scores = want[1:] @ want[0]
    want_order = [int(i) + 1 for i in np.argsort(-scores, kind="stable")]
    assert [i for i, _ in ranking] == want_order
    assert np.allclose([s for _, s in ranking], np.sort(scores)[::-1], atol=1e-3)
    assert ranking[0][0] == 1  # "eating a piece of bread" is closest to "eating food"


def test_stdin_gives_the_same_ranking(embed, vocab):
    args = [str(embed), str(vocab)]
    from_args = subprocess.run(args + SENTENCES[:4], capture_output=True, text=True, timeout=300)
    from_stdin = subprocess.run(args, input="\n".join(SENTENCES[:4]) + "\n", capture_output=True, text=True,
                                timeout=300)
    assert from_args.returncode == 0 and from_stdin.returncode == 0, from_args.stderr + from_stdin.stderr
    assert from_args.stdout == from_stdin.stdout
    assert from_args.stdout.startswith(f"query: {SENTENCES[0]}\n")


def test_model_errors_are_reported(embed, vocab):
    """A failing call prints the model's one-line message and exits 1."""
    proc = subprocess.run([str(embed), "--threads", "100000", str(vocab), "a", "b"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("embed: minilm_create: BERTC_ERR_"), proc.stderr


def test_bad_vocabulary_is_reported(embed, tmp_path):
    proc = subprocess.run([str(embed), str(tmp_path / "missing.txt"), "a"], capture_output=True, text=True)
    assert proc.returncode == 1 and "cannot open the vocabulary" in proc.stderr
