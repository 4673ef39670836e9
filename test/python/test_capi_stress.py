"""The compiled C API under stress (test/host/capi_stress.c): seeded random bad
calls interleaved with valid ones on one context, the same on four contexts at
once, one context from three threads at once (OK or BERTC_ERR_BUSY, never
anything else), and the busy guard met from inside a run. Plain, and under
ASan and UBSan with the runtime stub built from its sources.

BERTC_STRESS_SEED and BERTC_STRESS_CALLS replay or lengthen a run; the seed is
in every failure message.
"""

import os
import subprocess
import time

import pytest

from conftest import REPO, load_meta
from test_compile import link_host

FIXTURE = REPO / "test" / "models" / "bert_ts17_eager"
SEED = int(os.environ.get("BERTC_STRESS_SEED", "16"))
CALLS = int(os.environ.get("BERTC_STRESS_CALLS", "20000"))


@pytest.fixture(scope="module")
def model_object(bertc, tmp_path_factory):
    """The fixture compiled once as "m", small bounds so the corners are cheap."""
    out = tmp_path_factory.mktemp("stress")
    bertc("compile", FIXTURE / "model.onnx", "-o", out / "m.o", "--name", "m", "--max-batch", 4, "--max-seq", 16)
    return out


@pytest.mark.parametrize("sanitize", [False, True], ids=["plain", "asan-ubsan"])
def test_capi_stress(model_object, tmp_path, sanitize):
    meta = load_meta(FIXTURE)
    extra = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all") if sanitize else ()
    exe = link_host(model_object, [REPO / "test" / "host" / "capi_stress.c"], [model_object / "m.o"],
                    tmp_path / "capi_stress", extra)
    start = time.monotonic()
    proc = subprocess.run([str(exe), str(meta["vocab"]), str(meta["type_vocab"]), str(SEED), str(CALLS)],
                          capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, f"seed {SEED}:\n{proc.stdout}{proc.stderr}"
    assert "all checks passed" in proc.stdout
    print(f"{proc.stdout.strip()}\n{elapsed:.1f} s")
