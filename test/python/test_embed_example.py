"""examples/embed against Python: ONNX Runtime + `tokenizers` + mean pooling.

The reference tokenises with the `tokenizers` package (BertWordPieceTokenizer
on the same vocab.txt), runs the original ONNX model in ONNX Runtime,
mean-pools the token states over the attention mask and L2-normalises. The
example's embeddings must have cosine >= 0.9999 with the reference's, one by
one, and its similarity ranking must be the same.

Two models: the pretrained paraphrase-MiniLM-L3-v2 with its real vocabulary,
built in-tree by examples/embed/CMakeLists.txt (bertc_add_model); and a
fixture (random BERT, 3 inputs, 200 tokens) with a vocabulary made up here,
compiled by `bertc compile` and linked with the C compiler by hand, which
also lets the error paths be driven (a token id past the table).
"""

import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import MODELS, REPO, build_dir

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
def embed(bertc, pretrained_model):
    """The example as the build made it (examples/embed/CMakeLists.txt)."""
    exe = build_dir() / "examples" / "embed" / "embed"
    if not exe.exists():
        pytest.fail(f"{exe} was not built; with the pretrained model installed the build makes it "
                    f"(unless configured with BERTC_BUILD_EXAMPLES=OFF)")
    return exe


def reference_embeddings(model_path, vocab, sentences):
    import onnxruntime as ort
    from tokenizers import BertWordPieceTokenizer

    tok = BertWordPieceTokenizer(str(vocab), lowercase=True)
    tok.enable_truncation(128)
    tok.enable_padding(pad_id=tok.token_to_id("[PAD]"))
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


def parse(stdout):
    """The --embeddings lines and the ranking [(index, score)] of embed's output."""
    emb = {}
    ranking = []
    for line in stdout.splitlines():
        if m := re.match(r"embedding (\d+): (.*)", line):
            emb[int(m.group(1))] = np.array(m.group(2).split(), dtype=np.float64)
        elif m := re.match(r"\s*\d+\.\s+(-?[0-9.]+)  \[(\d+)\] ", line):
            ranking.append((int(m.group(2)), float(m.group(1))))
    assert sorted(emb) == list(range(len(emb)))
    return np.stack([emb[i] for i in range(len(emb))]), ranking


def check_against_reference(exe, vocab, model_path, sentences):
    proc = subprocess.run([str(exe), "--threads", "2", "--embeddings", str(vocab), *sentences],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got, ranking = parse(proc.stdout)
    want = reference_embeddings(model_path, vocab, sentences)
    assert got.shape == want.shape
    cosine = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    print(f"\nworst cosine with the reference: {cosine.min():.7f}")
    assert (cosine >= MIN_COSINE).all(), cosine

    scores = want[1:] @ want[0]
    assert [i for i, _ in ranking] == [int(i) + 1 for i in np.argsort(-scores, kind="stable")]
    assert np.allclose([s for _, s in ranking], np.sort(scores)[::-1], atol=1e-3)
    return ranking


def test_embeddings_and_ranking_match_onnxruntime(embed, vocab, pretrained_model):
    ranking = check_against_reference(embed, vocab, pretrained_model, SENTENCES)
    assert ranking[0][0] == 1  # "eating a piece of bread" is closest to "eating food"


@pytest.fixture(scope="module")
def fixture_embed(bertc, tmp_path_factory):
    """embed.c linked with a fixture model compiled as `minilm`, and a made-up vocabulary."""
    import shutil
    tmp = tmp_path_factory.mktemp("embed_fixture")
    model = MODELS / "bert_ts17_eager" / "model.onnx"  # 3 inputs, hidden 64, 200 tokens
    bertc("compile", model, "--target=cpu", "-o", tmp / "minilm.o", "--name", "minilm",
          "--max-batch", 8, "--max-seq", 32)
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    embed_dir = REPO / "examples" / "embed"
    proc = subprocess.run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I", str(tmp),
                           "-I", str(REPO / "runtime_stub"), "-I", str(embed_dir), str(embed_dir / "embed.c"),
                           str(embed_dir / "tokenizer.c"), str(tmp / "minilm.o"),
                           str(build_dir() / "runtime_stub" / "libbertc_rt.a"), "-lpthread", "-lm",
                           "-o", str(tmp / "embed")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    words = sorted({w for s in SENTENCES[:9] for w in re.findall(r"[a-z]+", s.lower())})
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "'", "##s", "##ing", "##ed"]
    tokens += [w for w in words if w not in tokens][:150]
    tokens += [f"extra{i}" for i in range(200 - len(tokens))]
    (tmp / "vocab.txt").write_text("".join(t + "\n" for t in tokens))
    return tmp / "embed", tmp / "vocab.txt", model


def test_fixture_model_matches_onnxruntime(fixture_embed):
    exe, vocab, model = fixture_embed
    check_against_reference(exe, vocab, model, SENTENCES)


def test_token_out_of_range_is_reported(fixture_embed, vocab):
    """The real vocabulary's ids are past the fixture's 200-row table: minilm_run_v fails, embed says why."""
    exe, _, _ = fixture_embed
    proc = subprocess.run([str(exe), str(vocab), "a man is eating food", "a horse"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("embed: minilm_run_v: BERTC_ERR_"), proc.stderr


def test_stdin_gives_the_same_ranking(fixture_embed):
    exe, vocab, _ = fixture_embed
    args = [str(exe), str(vocab)]
    from_args = subprocess.run(args + SENTENCES, capture_output=True, text=True, timeout=300)
    from_stdin = subprocess.run(args, input="\n".join(SENTENCES) + "\n", capture_output=True, text=True,
                                timeout=300)
    assert from_args.returncode == 0 and from_stdin.returncode == 0, from_args.stderr + from_stdin.stderr
    assert from_args.stdout == from_stdin.stdout
    assert from_args.stdout.startswith(f"query: {SENTENCES[0]}\n")
    assert len(from_args.stdout.splitlines()) == len(SENTENCES)


def test_model_errors_are_reported(fixture_embed):
    """A failing call prints the model's one-line message and exits 1."""
    exe, vocab, _ = fixture_embed
    proc = subprocess.run([str(exe), "--threads", "100000", str(vocab), "a", "b"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("embed: minilm_create: BERTC_ERR_"), proc.stderr


def test_bad_vocabulary_is_reported(fixture_embed, tmp_path):
    exe, _, _ = fixture_embed
    proc = subprocess.run([str(exe), str(tmp_path / "missing.txt"), "a"], capture_output=True, text=True)
    assert proc.returncode == 1 and "cannot open the vocabulary" in proc.stderr
