"""examples/embed/tokenizer.c against the reference BERT tokenizer.

The reference is Hugging Face's `tokenizers` package (BertWordPieceTokenizer,
uncased, built from the same vocab.txt), on the bert-base-uncased vocabulary
that tools/bert_vocab.py takes from an installed package. The C tokenizer is
compiled here with the C compiler (with ASan and UBSan where they link), so
the test needs no CMake build. Token ids must match exactly.
"""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

EMBED = REPO / "examples" / "embed"

SENTENCES = [
    "Hello, world!",
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar.",
    "",
    "   ",
    "\t tabs\tand\x0bvertical\x0cfeed\rreturn \x85next \u2028line",
    "UPPER lower MiXeD",
    "don't stop-believing (really) [x] {y} <z> \"quoted\" 'single' a/b\\c",
    "e-mail: someone@example.com, url: https://example.org/a?b=c&d=e#f",
    "Prices: $3.50, €12, £7.99, ¥100; 50% off!!!",
    "numbers 0 1 12 123 1234 12345 3.14159 1,000,000 2nd 21st 1990s",
    "Café naïve résumé façade jalapeño Zürich São Paulo Ångström",
    "ÀÉÎÕÜ àéîõü ÇÑ çñ Œuvre œuvre Æsir æther ß Straße Ø ø Đ đ Ł ł",
    "Dvořák Kraków Łódź Székesfehérvár Ørsted İstanbul ĳssel",
    "combining: e\u0301 a\u0308 n\u0303",
    "soft\u00adhyphen zero\u200bwidth non\u00a0breaking\u2009thin",
    "«guillemets» ¿qué? ¡sí! § ¶ · — – … “smart” ‘quotes’ † ‡ •",
    "東京は日本の首都。北京 上海",
    "lower-case other scripts: мир ελληνικα العربية",
    "emoji 😀🚀 and symbols © ® ™ ° ± × ÷",
    "xyzzyplughfrobnicate qwertyuiopasdfgh supercalifragilisticexpialidocious",
    "antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis",
    "a" * 100,
    "b" * 101 + " after",
    "ab" * 60 + ", then more",
    "control\x01chars\x7fhere\x1b[0m",
    "unbelievable tokenization preprocessing embeddings transformer",
]


def _compile(tmp_dir):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler")
    exe = tmp_dir / "bert_tokenize"
    base = [cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O1", "-g",
            str(EMBED / "tokenizer.c"), str(EMBED / "tokenize_main.c"), "-o", str(exe)]
    sanitized = subprocess.run(base + ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
                               capture_output=True, text=True)
    if sanitized.returncode != 0:  # no sanitizer runtime: build it plain
        proc = subprocess.run(base, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    return exe


@pytest.fixture(scope="module")
def c_tokenize(tmp_path_factory, vocab):
    exe = _compile(tmp_path_factory.mktemp("tok"))

    def run(lines, max_len=512):
        assert not any("\n" in line for line in lines)
        proc = subprocess.run([str(exe), str(vocab), str(max_len)], input="\n".join(lines) + "\n",
                              capture_output=True, text=True, encoding="utf-8", timeout=120)
        assert proc.returncode == 0, proc.stderr
        rows = proc.stdout.split("\n")[:-1]
        assert len(rows) == len(lines)
        return [[int(x) for x in row.split()] for row in rows]

    return run


@pytest.fixture(scope="module")
def reference(vocab):
    import tokenizers  # pinned in tools/requirements-test.txt: missing is a failure, not a skip
    tok = tokenizers.BertWordPieceTokenizer(str(vocab), lowercase=True, strip_accents=None,
                                            clean_text=True, handle_chinese_chars=True)

    def run(lines, max_len=512):
        tok.enable_truncation(max_len)
        return [e.ids for e in tok.encode_batch(lines)]

    return run


def test_vocabulary_matches_the_model(vocab, pretrained_model):
    """The vocabulary has exactly one row of the model's word-embedding table per token."""
    import onnx
    model = onnx.load(pretrained_model, load_external_data=False)
    graph_input_ids = {n.name for n in model.graph.input}
    # The word-embedding table is the Gather whose indices are the input ids.
    tables = [n.input[0] for n in model.graph.node if n.op_type == "Gather" and n.input[1] in graph_input_ids]
    dims = {i.name: list(i.dims) for i in model.graph.initializer}
    assert len(tables) == 1 and tables[0] in dims
    tokens = vocab.read_text(encoding="utf-8").split("\n")[:-1]
    assert len(tokens) == dims[tables[0]][0] == 30522
    assert [tokens[i] for i in (0, 100, 101, 102, 103)] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def test_sentences_match_reference(c_tokenize, reference):
    for got, want, text in zip(c_tokenize(SENTENCES), reference(SENTENCES), SENTENCES):
        assert got == want, f"{text!r}"


@pytest.mark.parametrize("max_len", [2, 3, 5, 8, 16])
def test_truncation_matches_reference(c_tokenize, reference, max_len):
    for got, want, text in zip(c_tokenize(SENTENCES, max_len), reference(SENTENCES, max_len), SENTENCES):
        assert got == want, f"{text!r} at max_len {max_len}"
        assert len(got) <= max_len


def _covered_code_points():
    """Every character the C tables claim to handle as the reference does."""
    ranges = [(0x01, 0x17F), (0x300, 0x36F), (0x2000, 0x206F), (0x3000, 0x303F), (0x4E00, 0x4E40),
              (0xFE10, 0xFE6B), (0xFF01, 0xFF20), (0xFF3B, 0xFF40), (0xFF5B, 0xFF65), (0xE000, 0xE010)]
    skip = {0x0A, 0x0D}  # line separators of the driver's input
    return [cp for lo, hi in ranges for cp in range(lo, hi + 1)
            if cp not in skip]


def test_each_character_matches_reference(c_tokenize, reference):
    """Each code point inside a word, alone, and around punctuation."""
    lines = [f"x{chr(cp)}y {chr(cp)} ({chr(cp)}a{chr(cp)})" for cp in _covered_code_points()]
    for got, want, text in zip(c_tokenize(lines), reference(lines), lines):
        assert got == want, f"U+{ord(text[1]):04X} in {text!r}"


def test_outside_the_tables_still_tokenizes(c_tokenize):
    """Scripts the tables do not cover (tokenizer.h, "Limits") give valid ids, [CLS] first and [SEP] last."""
    for ids in c_tokenize(["한국어 Русский ΕΛΛΗΝΙΚΆ です ＡＢＣ ǅ"], 32):
        assert ids[0] == 101 and ids[-1] == 102 and all(0 <= i < 30522 for i in ids)


def test_invalid_utf8_is_dropped(vocab, tmp_path_factory):
    exe = _compile(tmp_path_factory.mktemp("tok_utf8"))
    proc = subprocess.run([str(exe), str(vocab), "16"], input=b"ab\xffc \xc3(\xe2\x82 hello\n",
                          capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    ids = [int(x) for x in proc.stdout.split()]
    assert ids[0] == 101 and ids[-1] == 102 and 7592 in ids  # "hello" survives
