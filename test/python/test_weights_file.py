"""`bertc compile --weights-file=PATH`: the weights go to a side file, the
object keeps the plan and the code and records the file's path, size and
checksum.

CPU target, end to end: the side-file build links into the same host
program (test/host/run_model.c), maps the file at create and gives outputs
bit-identical to the embedded build's; a missing, truncated, corrupt or
other model's file is an error code with a one-line message naming the file.

CUDA targets, without a GPU: the object's tables are the embedded build's
with the weights pointer NULL and the file's path and checksum recorded, the
file's payload is the bytes the embedded object holds, and create checks the
file before it looks for a GPU (so its errors are seen here).
"""

import json
import os
import shutil
import struct
import subprocess

import numpy as np
import pytest

from conftest import REPO, build_dir
from test_compile import compile_and_link, run_host

MODEL = REPO / "test" / "models" / "bert_ts17_eager" / "model.onnx"
OTHER = REPO / "test" / "models" / "roberta_ts17_eager" / "model.onnx"
HEADER = 4096
BERTC_ERR_SYSTEM, BERTC_ERR_INVALID, BERTC_ERR_DEVICE = 7, 4, 8


def header_fields(path):
    """(magic, header bytes, payload bytes, checksum, model name) of a weights file."""
    raw = path.read_bytes()[:160]
    magic, header, payload, checksum = struct.unpack_from("<8sQQQ", raw)
    return magic, header, payload, checksum, raw[32:160].rstrip(b"\0").decode()


def inputs(batch=3, seq=11, seed=5):
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, 200, (batch, seq), dtype=np.int64)
    mask = np.ones((batch, seq), np.int64)
    mask[-1, seq // 2:] = 0  # a padded row
    return [ids, mask, np.zeros((batch, seq), np.int64)]


def run_expect_error(exe, tmp, env):
    batch, seq = 1, 4
    args = [str(exe), str(batch), str(seq), "1"]
    for i, a in enumerate(inputs(batch, seq)):
        np.ascontiguousarray(a).tofile(tmp / f"in{i}.bin")
        args.append(str(tmp / f"in{i}.bin"))
    args += [str(tmp / "o0.bin"), str(tmp / "o1.bin")]
    proc = subprocess.run(args, capture_output=True, text=True, env=dict(os.environ, **env), timeout=60)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_cpu_side_file_runs_like_embedded_weights(bertc, tmp_path):
    embedded = compile_and_link(bertc, MODEL, tmp_path, name="m")
    side_dir = tmp_path / "side"
    side_dir.mkdir()
    weights = side_dir / "m.weights"
    obj = side_dir / "m.o"
    bertc("compile", MODEL, "-o", obj, "--name", "m", "--max-batch", 4, "--max-seq", 32, "--weights-file", weights)
    assert "m_create_with_weights" in (side_dir / "m.h").read_text()
    exe = side_dir / "host"
    cmd = ["cc", "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{side_dir}", f"-I{REPO / 'runtime_stub'}",
           str(REPO / "test" / "host" / "run_model.c"), str(obj), str(build_dir() / "runtime_stub" / "libbertc_rt.a"),
           "-lpthread", "-o", str(exe)]
    assert subprocess.run(cmd, capture_output=True, text=True).returncode == 0
    magic, header, payload, _, name = header_fields(weights)
    assert (magic, header, name) == (b"BERTCWT1", HEADER, "m")
    assert weights.stat().st_size == HEADER + payload
    # The weights left the object: it shrank by about their size.
    assert (tmp_path / "m.o").stat().st_size - obj.stat().st_size > 0.8 * payload

    for threads in (1, 2):
        want = run_host(embedded, tmp_path, inputs(), 2, threads=threads)
        got = run_host(exe, tmp_path, inputs(), 2, threads=threads)
        assert got == want, "the side-file build's outputs differ from the embedded build's"
    # The path recorded at compile time is the one given (absolute here), so
    # the host runs from any directory; another path goes to create_with_weights.
    moved = tmp_path / "moved.weights"
    shutil.copy(weights, moved)
    assert run_host(exe, tmp_path, inputs(), 2) == run_host(embedded, tmp_path, inputs(), 2)
    env_ok = dict(os.environ, RUN_WEIGHTS=str(moved))
    proc = subprocess.run([str(exe), "3", "11", "1", *[str(tmp_path / f"in{i}.bin") for i in range(3)],
                           str(tmp_path / "p0"), str(tmp_path / "p1")], env=env_ok, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr

    # Every wrong file: an error code and one line naming the file.
    bad = tmp_path / "bad.weights"
    line = run_expect_error(exe, tmp_path, {"RUN_WEIGHTS": str(tmp_path / "missing.weights")})
    assert "BERTC_ERR_SYSTEM" in line and "missing.weights: cannot open the weights file of model 'm'" in line
    data = bytearray(weights.read_bytes())
    data[HEADER + 1000] ^= 0x10
    bad.write_bytes(bytes(data))
    line = run_expect_error(exe, tmp_path, {"RUN_WEIGHTS": str(bad)})
    assert "BERTC_ERR_INVALID" in line and "bad.weights: corrupt" in line
    bad.write_bytes(weights.read_bytes()[:HEADER + 100])
    line = run_expect_error(exe, tmp_path, {"RUN_WEIGHTS": str(bad)})
    assert "BERTC_ERR_INVALID" in line and "truncated" in line
    bad.write_bytes(b"not weights" * 1000)
    line = run_expect_error(exe, tmp_path, {"RUN_WEIGHTS": str(bad)})
    assert "not a bertc weights file" in line
    bertc("compile", OTHER, "-o", tmp_path / "other.o", "--name", "m", "--weights-file", bad)
    line = run_expect_error(exe, tmp_path, {"RUN_WEIGHTS": str(bad)})
    assert "holds the weights of model 'm'" in line
    # A model with embedded weights takes no file.
    line = run_expect_error(embedded, tmp_path, {"RUN_WEIGHTS": str(weights)})
    assert "BERTC_ERR_INVALID" in line and "embedded" in line
    # The recorded path, gone: create says which file it wanted.
    weights.unlink()
    line = run_expect_error(exe, tmp_path, {})
    assert f"{weights}: cannot open" in line


def test_weights_file_flag_errors(bertc, tmp_path):
    for args, needle in ((["--weights-file", tmp_path / "x.o"], "name the same file"),
                         (["--target=cuda-fp16", "--emit", "cu", "--weights-file", tmp_path / "w"], "--emit=cu")):
        proc = bertc("compile", MODEL, "-o", tmp_path / "x.o", *args, check=False)
        assert proc.returncode != 0 and needle in proc.stderr, (args, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert not (tmp_path / "x.o").exists() and not (tmp_path / "w").exists()


RT_CUDA = build_dir() / "runtime_stub" / "libbertc_rt_cuda.a"


@pytest.mark.skipif(not RT_CUDA.exists(), reason="bertc was built without the CUDA toolkit")
def test_cuda_side_file_tables(bertc, tmp_path):
    from test_compile_cuda import have_gpu, link_cuda_host

    def info_of(d, env=None):
        exe = link_cuda_host(d, [REPO / "test" / "host" / "cuda_info.c"], [d / "m.o"], d / "info")
        proc = subprocess.run([str(exe), str(d)], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, **(env or {})))
        assert proc.returncode == 0, proc.stderr
        return json.loads((d / "info.json").read_text())

    common = ["--target=cuda-fp16", "--name", "m", "--max-batch", 4, "--max-seq", 32, "--arch", "sm_90"]
    emb, side = tmp_path / "emb", tmp_path / "side"
    emb.mkdir()
    side.mkdir()
    weights = side / "m.weights"
    bertc("compile", MODEL, "-o", emb / "m.o", *common)
    bertc("compile", MODEL, "-o", side / "m.o", *common, "--weights-file", weights)
    e, s = info_of(emb), info_of(side)
    assert e["weights_embedded"] == 1 and e["weights_file"] == ""
    assert s["weights_embedded"] == 0 and s["weights_file"] == str(weights)
    for key in ("weights_bytes", "weights_checksum", "arena_bytes_per_slot", "steps", "args", "kernels", "inputs",
                "outputs"):
        assert s[key] == e[key], key
    magic, header, payload, checksum, name = header_fields(weights)
    assert (magic, header, payload, name) == (b"BERTCWT1", HEADER, e["weights_bytes"], "m")
    assert f"{checksum:016x}" == s["weights_checksum"]
    assert weights.read_bytes()[HEADER:] == (emb / "weights.bin").read_bytes()
    assert "m_create_with_weights" in (side / "m.h").read_text()

    no_gpu = not have_gpu()
    assert s["create_status"] == (BERTC_ERR_DEVICE if no_gpu else 0), s["create_error"]
    checks = [({"CUDA_INFO_WEIGHTS": str(tmp_path / "nope")}, BERTC_ERR_SYSTEM, "nope: cannot open")]
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    (tmp_path / "corrupt").write_bytes(bytes(data))
    checks.append(({"CUDA_INFO_WEIGHTS": str(tmp_path / "corrupt")}, BERTC_ERR_INVALID, "corrupt"))
    (tmp_path / "short").write_bytes(bytes(data[:HEADER + 8]))
    checks.append(({"CUDA_INFO_WEIGHTS": str(tmp_path / "short")}, BERTC_ERR_INVALID, "truncated"))
    for env, status, needle in checks:
        got = info_of(side, env)
        assert got["create_status"] == status and needle in got["create_error"], got["create_error"]
    got = info_of(emb, {"CUDA_INFO_WEIGHTS": str(weights)})
    assert got["create_status"] == BERTC_ERR_INVALID and "embedded" in got["create_error"]
