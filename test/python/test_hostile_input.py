"""Hostile input: every bad flag, .npy file, model file and output path is a
one-line error with exit code 1 (or works), never an abort, a hang, an
out-of-bounds write or a destroyed file (issue 16's reproductions, each a
regression test). tools/test.sh runs this file a second time against the
ASan/UBSan build (build-asan/cmd/bertc), where an invalid access would fail it.
"""

import os
import re
import signal
import struct
import subprocess
import time
from pathlib import Path

import numpy as np
import onnx
import pytest

from conftest import MODELS, bertc_path
from test_compile import Reference, compile_and_link, compare, random_inputs, run_host

MODEL = MODELS / "bert_ts17_eager" / "model.onnx"  # 64 positions


def sanitized_build() -> bool:
    cache = Path(bertc_path()).resolve().parents[1] / "CMakeCache.txt"
    return cache.exists() and "BERTC_SANITIZE:BOOL=ON" in cache.read_text()


# Linking a host needs the plain build's runtime stub; the ASan run is for the CLI.
links_a_host = pytest.mark.skipif(sanitized_build(), reason="links a C host against the plain build's runtime stub "
                                  "(the ASan/UBSan run of this file covers the CLI)")
DYNAMO = MODELS / "bert_dynamo_eager" / "model.onnx"


def one_line_error(proc, *needles):
    """Exit code 1, one line on stderr starting 'bertc: error:', naming each needle."""
    assert proc.returncode == 1, f"exit {proc.returncode}: {proc.stderr}"
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bertc: error: "), proc.stderr
    for n in needles:
        assert str(n) in lines[0], (n, lines[0])
    return lines[0]


def no_temporaries(folder: Path):
    left = [p.name for p in folder.iterdir() if ".bertc-" in p.name]
    assert not left, f"temporary files left behind: {left}"


# ---------------------------------------------------------------- shapes

def with_dims(src: Path, dst: Path, dims):
    """A copy of src whose graph inputs have their dims replaced ({axis: value})."""
    m = onnx.load(src)
    for i in m.graph.input:
        for axis, value in dims(i.name).items():
            d = i.type.tensor_type.shape.dim[axis]
            d.ClearField("dim_param")
            d.dim_value = value
    onnx.save(m, dst)
    return dst


def test_fixed_seq_on_one_input_unifies_instead_of_aborting(bertc, tmp_path):
    """A dynamo export whose input_ids has its sequence fixed at 7 while the
    other inputs stay symbolic aborted in fuse-skip-layernorm. The importer
    now takes the mask's and segments' 'sequence' to be 7 too."""
    model = with_dims(DYNAMO, tmp_path / "fixed7.onnx", lambda n: {1: 7} if n == "input_ids" else {})
    inspect = bertc("inspect", model).stdout
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        assert f"{name}: i64[batch, 7]" in inspect
    bertc("optimize", model, "-o", tmp_path / "o.onnx")
    # The interpreter on it matches ONNX Runtime on the original.
    rng = np.random.default_rng(0)
    ids = rng.integers(1, 200, size=(2, 7)).astype(np.int64)
    mask = np.ones((2, 7), np.int64)
    mask[1, 5:] = 0
    types = np.zeros((2, 7), np.int64)
    for name, a in (("input_ids", ids), ("attention_mask", mask), ("token_type_ids", types)):
        np.save(tmp_path / f"{name}.npy", a)
    out = tmp_path / "out"
    bertc("run", model, "--inputs-dir", tmp_path, "--save-outputs", out)
    ref = Reference(model).run([ids, mask, types])
    got = np.load(out / "last_hidden_state.npy")
    assert np.max(np.abs(got - ref[0])) / np.max(np.abs(ref[0])) <= 1e-4


@links_a_host
def test_fixed_batch_model_compiles_and_matches_ort(bertc, tmp_path):
    """[1, sequence] inputs: the README says --max-batch defaults to the fixed
    batch; compile failed on 'Shape' because attention did not fuse."""
    for src in (MODEL, DYNAMO):
        work = tmp_path / src.parent.name
        work.mkdir()
        model = with_dims(src, work / "b1.onnx", lambda n: {0: 1})
        exe = compile_and_link(bertc, model, work, max_batch=1, max_seq=16)
        ref = Reference(model)
        meta = {"vocab": 200, "type_vocab": 2, "pad_id": 0}
        for seq in (5, 16):
            arrays, mask = random_inputs(ref, meta, 1, seq, np.random.default_rng(seq), left=False)
            ours = run_host(exe, work, arrays, len(ref.outputs))
            compare(ours, ref.run(arrays), mask, ref.outputs, f"{src.parent.name} seq {seq}")


def test_fixed_batch_refuses_a_larger_max_batch(bertc, tmp_path):
    model = with_dims(MODEL, tmp_path / "b1.onnx", lambda n: {0: 1})
    one_line_error(bertc("compile", model, "--max-batch", 2, "-o", tmp_path / "m.o", check=False),
                   "--max-batch 2", "fixed batch size 1")


@pytest.mark.parametrize("flags,needles", [
    (["--seq", 4611686018427387904], ["--seq 4611686018427387904", "64 positions"]),
    (["--seq", 3000000000], ["--seq 3000000000", "64 positions"]),
    (["--seq", 65], ["--seq 65", "64 positions"]),
    (["--batch", 1099511627776, "--seq", 8], ["input 'input_ids'", "too large"]),
])
def test_run_sizes(bertc, flags, needles):
    one_line_error(bertc("run", MODEL, *flags, check=False), *needles)


@pytest.mark.parametrize("args", [
    ["inspect", MODEL, "--batch", 0],
    ["inspect", MODEL, "--seq", 99999999999999999999],
    ["run", MODEL, "--seed", "x"],
    ["bench", MODEL, "--seq", 1, "--seq", 2],
    ["compile", MODEL, "--no-such-flag"],
    ["frobnicate"],
])
def test_bad_flags_are_one_line(bertc, args):
    one_line_error(bertc(*args, check=False), "--help lists the flags")


def test_run_defaults_to_the_position_table(bertc):
    """Plain `run` of a 64-position model: seq 128 would not fit, so 64."""
    proc = bertc("run", MODEL)
    assert "input  input_ids: i64 [1, 64]" in proc.stdout


@pytest.mark.parametrize("flags,needles", [
    (["--batch", 2147483648, "--seq", 2147483648], ["--batch 2147483648", "largest supported"]),
    (["--batch", 2, "--seq", 2147483648], ["--seq 2147483648", "64 positions"]),
    (["--batch", 2147483648, "--seq", 8], ["--batch 2147483648", "largest supported"]),
    (["--threads", -1], ["--threads -1"]),
    (["--threads", 5000], ["--threads 5000"]),
    (["--min-time", "nan"], ["--min-time nan"]),
    (["--min-time", "inf"], ["--min-time inf"]),
    (["--runs", -3], ["--runs"]),
])
def test_bench_flags(bertc, flags, needles):
    seq = [] if "--seq" in flags else ["--seq", 8]
    one_line_error(bertc("bench", MODEL, *seq, *flags, check=False), *needles)


@pytest.mark.parametrize("flags,needles", [
    (["--max-seq", 65], ["--max-seq 65", "64 positions"]),
    (["--max-seq", 4611686018427387904], ["--max-seq 4611686018427387904"]),
    (["--max-batch", 99999999999999999999], ["--max-batch", "does not fit in 64 bits"]),  # was clamped
    (["--max-batch", 2097152], ["--max-batch 2097152", "largest supported"]),
])
def test_compile_bounds(bertc, tmp_path, flags, needles):
    one_line_error(bertc("compile", MODEL, "-o", tmp_path / "m.o", *flags, check=False), *needles)
    assert not (tmp_path / "m.o").exists() and not (tmp_path / "m.h").exists()
    no_temporaries(tmp_path)


# ---------------------------------------------------------------- .npy files

def write_npy(path: Path, header: str, data: bytes = b""):
    h = header.encode()
    h += b" " * ((64 - (10 + len(h) + 1) % 64) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + data)
    return path


@pytest.mark.parametrize("shape,data,needles", [
    ("(3, 6148914691236517206)", b"", ["too large"]),       # overflows 64 bits when multiplied
    ("(4294967296, 4294967296)", b"", ["too large"]),        # 2^64 elements
    ("(99999999999999999999999, 1)", b"", ["not a tuple"]),  # a dim past 64 bits
    ("(1, 1099511627776)", b"", ["too large"]),              # 8 TiB
    ("(-3, 9)", b"\0" * 216, ["(-3, 9)", "not a tuple"]),
    ("(536870912,)", b"\0" * 64, ["truncated", "64 bytes"]),  # 2 GiB claimed by a tiny file
])
def test_npy_headers(bertc, tmp_path, shape, data, needles):
    f = write_npy(tmp_path / "bad.npy", f"{{'descr': '<i8', 'fortran_order': False, 'shape': {shape}, }}", data)
    start = time.monotonic()
    proc = bertc("run", MODEL, "--input", f"input_ids={f}", check=False)
    one_line_error(proc, "bad.npy", *needles)
    assert time.monotonic() - start < 30  # nothing allocated and zero-filled first


def test_npy_directory_and_fifo(bertc, tmp_path):
    (tmp_path / "dir.npy").mkdir()
    one_line_error(bertc("run", MODEL, "--input", f"input_ids={tmp_path / 'dir.npy'}", check=False),
                   "dir.npy", "not a regular file")
    os.mkfifo(tmp_path / "fifo.npy")
    one_line_error(bertc("run", MODEL, "--input", f"input_ids={tmp_path / 'fifo.npy'}", check=False),
                   "fifo.npy", "not a regular file")


# ---------------------------------------------------------------- model files

def test_fifo_model_does_not_hang(bertc, tmp_path):
    os.mkfifo(tmp_path / "m.onnx")
    for cmd in ("inspect", "optimize", "compile"):
        one_line_error(bertc(cmd, tmp_path / "m.onnx", check=False), "m.onnx", "not a regular file")


def external_model(folder: Path, location: str) -> Path:
    """A copy of MODEL whose word embedding table lives in external data at `location`."""
    m = onnx.load(MODEL)
    init = max(m.graph.initializer, key=lambda t: len(t.raw_data))
    data = init.raw_data
    init.ClearField("raw_data")
    init.data_location = onnx.TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(len(data)))):
        e = init.external_data.add()
        e.key, e.value = k, v
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(m, folder / "model.onnx")
    return folder / "model.onnx", data


def test_fifo_external_data_does_not_hang(bertc, tmp_path):
    model, _ = external_model(tmp_path / "m", "w.bin")
    os.mkfifo(tmp_path / "m" / "w.bin")
    for cmd in ("inspect", "optimize", "compile"):
        one_line_error(bertc(cmd, model, check=False), "w.bin", "not a regular file")


def test_external_data_symlinks(bertc, tmp_path):
    # A link out of the model folder is refused (it would copy that file into an optimized model).
    model, data = external_model(tmp_path / "evil", "w.bin")
    secret = tmp_path / "secret.bin"
    secret.write_bytes(data)
    (tmp_path / "evil" / "w.bin").symlink_to(secret)
    one_line_error(bertc("inspect", model, check=False), "w.bin", "outside the model directory")
    # A link inside the folder is fine.
    model, data = external_model(tmp_path / "inside", "w.bin")
    (tmp_path / "inside" / "real.bin").write_bytes(data)
    (tmp_path / "inside" / "w.bin").symlink_to("real.bin")
    bertc("inspect", model)
    # The Hugging Face cache layout: snapshot/model.onnx and snapshot/w.bin
    # both link into ../../blobs, where the model file itself lives.
    model, data = external_model(tmp_path / "hf" / "blobs" / "m", "w.bin")
    blobs = tmp_path / "hf" / "blobs"
    (blobs / "m" / "model.onnx").rename(blobs / "aaaa")
    (blobs / "bbbb").write_bytes(data)
    snap = tmp_path / "hf" / "snapshots" / "rev"
    snap.mkdir(parents=True)
    (snap / "model.onnx").symlink_to("../../blobs/aaaa")
    (snap / "w.bin").symlink_to("../../blobs/bbbb")
    bertc("inspect", snap / "model.onnx")


# ---------------------------------------------------------------- output files

def test_failed_compile_keeps_an_existing_output(bertc, tmp_path):
    existing = tmp_path / "existing.o"
    existing.write_text("hello")
    one_line_error(bertc("compile", MODEL, "--max-seq", 65, "-o", existing, check=False))
    assert existing.read_text() == "hello"
    assert not (tmp_path / "existing.h").exists()
    no_temporaries(tmp_path)


def test_outputs_that_are_not_regular_files_are_refused(bertc, tmp_path):
    (tmp_path / "emptydir").mkdir()
    one_line_error(bertc("compile", MODEL, "-o", tmp_path / "emptydir", check=False), "emptydir", "a directory")
    assert (tmp_path / "emptydir").is_dir()
    os.mkfifo(tmp_path / "fifo.o")
    one_line_error(bertc("compile", MODEL, "-o", tmp_path / "fifo.o", check=False), "fifo.o", "a FIFO")
    one_line_error(bertc("optimize", MODEL, "-o", tmp_path / "fifo.o", check=False), "fifo.o", "a FIFO")
    assert (tmp_path / "fifo.o").is_fifo()
    one_line_error(bertc("compile", MODEL, "-o", "/dev/null", check=False), "/dev/null", "a device")
    one_line_error(bertc("optimize", MODEL, "-o", "/dev/null", check=False), "/dev/null", "a device")
    assert Path("/dev/null").is_char_device()
    (tmp_path / "dangling.o").symlink_to(tmp_path / "nowhere.o")
    one_line_error(bertc("compile", MODEL, "-o", tmp_path / "dangling.o", check=False), "does not exist")
    assert not (tmp_path / "nowhere.o").exists()
    no_temporaries(tmp_path)


def test_header_and_object_must_differ(bertc, tmp_path):
    one_line_error(bertc("compile", MODEL, "-o", tmp_path / "same.o", "--header", tmp_path / "same.o", check=False),
                   "-o and --header name the same file")
    assert not (tmp_path / "same.o").exists()
    (tmp_path / "m.h").write_text("header")
    (tmp_path / "m.o").symlink_to("m.h")  # the same file through a link
    one_line_error(bertc("compile", MODEL, "-o", tmp_path / "m.o", "--header", tmp_path / "m.h", check=False),
                   "name the same file")
    assert (tmp_path / "m.h").read_text() == "header"


def test_symlinked_outputs_are_written_through(bertc, tmp_path):
    (tmp_path / "real.o").write_text("old")
    (tmp_path / "link.o").symlink_to("real.o")
    bertc("compile", MODEL, "-o", tmp_path / "link.o", "--header", tmp_path / "m.h")
    assert (tmp_path / "link.o").is_symlink()
    assert (tmp_path / "real.o").read_bytes()[:4] == b"\x7fELF"
    (tmp_path / "real.onnx").write_text("old")
    (tmp_path / "link.onnx").symlink_to("real.onnx")
    bertc("optimize", MODEL, "-o", tmp_path / "link.onnx")
    assert (tmp_path / "link.onnx").is_symlink()
    onnx.checker.check_model(str(tmp_path / "real.onnx"))
    no_temporaries(tmp_path)


def test_sigterm_mid_compile_leaves_the_old_outputs(bertc, tmp_path, pretrained_model):
    """Killed while compiling, the object and header are untouched and the
    temporary files are gone (the pretrained model takes seconds to compile)."""
    obj, hdr = tmp_path / "m.o", tmp_path / "m.h"
    obj.write_text("old object")
    hdr.write_text("old header")
    proc = subprocess.Popen([bertc_path(), "compile", pretrained_model, "-o", obj], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not any(".bertc-" in p.name for p in tmp_path.iterdir()):  # the outputs are open
        assert proc.poll() is None and time.monotonic() < deadline, "compile ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == -signal.SIGTERM
    assert obj.read_text() == "old object" and hdr.read_text() == "old header"
    no_temporaries(tmp_path)


# ---------------------------------------------------------------- the attention mask

@links_a_host
def test_mask_values_mean_real_token_or_padding(bertc, tmp_path, pretrained_model):
    """A mask value is 0 (padding) or anything else (a real token, as 1), in the
    fused graph on the reference interpreter and in compiled code alike. The
    pretrained MiniLM has attention and MeanPool, both reading the mask."""
    optimized = tmp_path / "opt.onnx"
    bertc("optimize", pretrained_model, "-o", optimized)
    rng = np.random.default_rng(1)
    ids = rng.integers(1000, 30000, size=(2, 12)).astype(np.int64)
    outputs = {}
    for label, real in (("ones", 1), ("twos", 2), ("minus", -1)):
        mask = np.zeros((2, 12), np.int64)
        mask[0, :] = real
        mask[1, :7] = real
        d = tmp_path / label
        d.mkdir()
        np.save(d / "input_ids.npy", ids)
        np.save(d / "attention_mask.npy", mask)
        np.save(d / "token_type_ids.npy", np.zeros_like(ids))
        bertc("run", optimized, "--inputs-dir", d, "--save-outputs", d / "out")
        outputs[label] = {p.name: np.load(p) for p in sorted((d / "out").glob("*.npy"))}
    # The float outputs (the model also passes integer values derived from
    # the mask through, which of course differ).
    floats = [name for name, a in outputs["ones"].items() if np.issubdtype(a.dtype, np.floating)]
    assert len(floats) >= 2  # the token states and the pooled embedding
    for label in ("twos", "minus"):
        for name in floats:
            np.testing.assert_array_equal(outputs[label][name], outputs["ones"][name], err_msg=f"{label}: {name}")
    # Compiled: the same meaning, bit for bit across the three masks, and the
    # interpreter's outputs at the real tokens.
    exe = compile_and_link(bertc, pretrained_model, tmp_path, max_batch=2, max_seq=12)
    ref = Reference(pretrained_model)
    compiled = {}
    for label, real in (("ones", 1), ("twos", 2), ("minus", -1)):
        mask = np.zeros((2, 12), np.int64)
        mask[0, :] = real
        mask[1, :7] = real
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        compiled[label] = run_host(exe, tmp_path, [feeds[i.name] for i in ref.inputs], len(ref.outputs))
    float_outputs = [i for i, o in enumerate(ref.outputs) if o.type == "tensor(float)"]
    assert len(float_outputs) >= 2
    for label in ("twos", "minus"):
        for i in float_outputs:
            assert compiled[label][i] == compiled["ones"][i], (label, ref.outputs[i].name)
    ones_mask = (np.arange(12)[None, :] < np.array([[12], [7]])).astype(np.int64)
    interp = [outputs["ones"][re.sub(r"[^A-Za-z0-9_.-]", "_", ref.outputs[i].name) + ".npy"] for i in float_outputs]
    compare([compiled["ones"][i] for i in float_outputs], interp, ones_mask, [ref.outputs[i] for i in float_outputs],
            "compiled vs interpreter")
