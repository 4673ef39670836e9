"""Runs a CUDA target's launch plan on the CPU with numpy, to test the plan
without a GPU.

The plan is what `bertc compile --target=cuda-*` puts in the object: kernel
launches with arguments resolved from the run's shape, and cuBLASLt GEMMs,
over one arena (runtime_stub/cuda/bertc_cuda.h). test/host/cuda_info.c dumps
its tables (info.json) and weights (weights.bin); `--emit cu` gives the
program, from which each entry point's template arguments and baked
constants (epsilon, scale) are read. This module interprets the steps the
way libbertc_rt_cuda launches them, with each kernel family written in
numpy from its definition in codegen_cuda/kernels/*.cuh: fp32 arithmetic,
results stored in the storage type (fp16 rounds as the GPU's cvt.rn does).

What it tests: the plan (step order, buffer offsets and liveness, argument
order and kinds, GEMM layout, transposition and epilogues, grids' row
counts, output layouts) and the weights' conversion. What it cannot: the
CUDA kernels' own code, which only a GPU can run (tools/gpu_check.py).
"""

import json
import math
import re
from pathlib import Path

import numpy as np

# bertc_cuda.h
ARG = dict(NULL=0, I32=1, I64=2, BATCH=3, SEQ=4, SLOTS=5, BUFFER=6, WEIGHT=7, INPUT=8, OUTPUT=9, TOK=10, ROW_OF=11,
           SEQ_START=12, NUM_ROWS=13, BAD_TOKEN=14, BATCH_ROWS=15, BATCH_I64=16, SEQ_I64=17)
GRID_ROWS, GRID_BATCH = 1, 3
STEP_GEMM = 1
EPI_BIAS, EPI_RELU_BIAS, EPI_RELU = 1, 2, 3
OUT_TOKENS, OUT_SEQUENCES, OUT_PADDED = 0, 1, 2
ROW_GRANULE = 16  # runtime.cpp's kRowGranule
NO_BAD_TOKEN = 0x7F7F7F7F

# ONNX dtype codes -> numpy
DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_, 11: np.float64}

_erf = np.vectorize(math.erf, otypes=[np.float64])


def parse_entries(source: str) -> dict:
    """entry -> (family, template args, trailing float constants) from the program."""
    entries = {}
    pattern = re.compile(r'extern "C" __global__ void __launch_bounds__\(\d+\) (\w+)\([^)]*\) \{\n  bertc::(\w+)'
                         r'(?:<([^>]*)>)?\(([^;]*)\);')
    for entry, family, targs, args in pattern.findall(source):
        consts = [float(a.strip().rstrip("f")) for a in args.split(",") if re.fullmatch(r"\s*-?[0-9.e+-]+f\s*", a)]
        entries[entry] = (family, [int(t) for t in targs.split(",")] if targs else [], consts)
    return entries


class Pointer:
    """A device address: a region and a byte offset into it."""

    def __init__(self, region, offset=0):
        self.region, self.offset = region, offset


class Machine:
    def __init__(self, info: dict, weights: bytes, source: str):
        self.info = info
        self.store = np.float16 if info["precision"] == 1 else np.float32
        self.entries = parse_entries(source)
        self.max_slots = info["max_batch"] * info["max_seq"]
        # The runtime's arena stride (alignment.h): slots rounded up to 16.
        self.slot_stride = (self.max_slots + 15) // 16 * 16
        self.weights = np.frombuffer(weights, dtype=np.uint8).copy()
        self.arena = np.zeros(info["arena_bytes_per_slot"] * self.slot_stride, dtype=np.uint8)

    # ---- memory -------------------------------------------------------------

    def view(self, p: Pointer, dtype, count):
        """A writable typed view of count elements at p."""
        buf = self.regions[p.region]
        nbytes = np.dtype(dtype).itemsize * count
        assert 0 <= p.offset and p.offset + nbytes <= buf.nbytes, f"{p.region} access out of bounds"
        return buf[p.offset:p.offset + nbytes].view(dtype)

    def rows(self, p: Pointer, ld, n, count):
        """[count, n] rows of leading dimension ld (elements) at p, as a strided view."""
        if count == 0:
            return np.zeros((0, n), self.store)
        flat = self.view(p, self.store, (count - 1) * ld + n)
        return np.lib.stride_tricks.as_strided(flat, shape=(count, n), strides=(ld * flat.itemsize, flat.itemsize))

    def arg(self, kind, value, batch, seq):
        if kind == ARG["NULL"]:
            return None
        if kind in (ARG["I32"], ARG["I64"]):
            return value
        if kind in (ARG["BATCH"], ARG["BATCH_I64"]):
            return batch
        if kind in (ARG["SEQ"], ARG["SEQ_I64"]):
            return seq
        if kind == ARG["SLOTS"]:
            return batch * seq
        return {ARG["BUFFER"]: lambda: Pointer("arena", value * self.slot_stride),
                ARG["WEIGHT"]: lambda: Pointer("weights", value),
                ARG["INPUT"]: lambda: Pointer(("input", value)),
                ARG["OUTPUT"]: lambda: Pointer(("output", value)),
                ARG["TOK"]: lambda: Pointer("tok"),
                ARG["ROW_OF"]: lambda: Pointer("row_of"),
                ARG["SEQ_START"]: lambda: Pointer("seq_start"),
                ARG["NUM_ROWS"]: lambda: Pointer("seq_start", 4 * batch),
                ARG["BATCH_ROWS"]: lambda: Pointer("seq_start", 4 * (batch + 1)),
                ARG["BAD_TOKEN"]: lambda: Pointer("bad")}[kind]()

    def load(self, p, dt, n):
        return self.view(p, DTYPES[dt], n)

    def count(self, p):
        return int(self.view(p, np.int32, 1)[0])

    # ---- a run --------------------------------------------------------------

    def run(self, inputs, batch, seq, on_device=False):
        """inputs: numpy [batch, seq] arrays in model order; returns the outputs as the host gets them.
        on_device: GEMMs cover batch * seq rows, as bertc_cuda_run_device's do."""
        info = self.info
        slots = batch * seq
        self.regions = {"arena": self.arena, "weights": self.weights,
                        "tok": np.zeros(4 * self.max_slots, np.uint8), "row_of": np.zeros(4 * self.max_slots, np.uint8),
                        "seq_start": np.zeros(4 * (info["max_batch"] + 2), np.uint8), "bad": np.zeros(4, np.uint8)}
        tokens = slots
        for i, (d, a) in enumerate(zip(info["inputs"], inputs)):
            staged = np.zeros(8 * self.max_slots, np.uint8)
            raw = np.ascontiguousarray(a.astype(DTYPES[d["dtype"]])).view(np.uint8).ravel()
            staged[:raw.size] = raw
            self.regions[("input", i)] = staged
            if d["is_mask"] and not on_device:
                tokens = int(np.count_nonzero(a))
        rows = min(max((tokens + ROW_GRANULE - 1) // ROW_GRANULE * ROW_GRANULE, 1), slots)
        for o, d in enumerate(info["outputs"]):
            width = d["width"] * 4 if d["layout"] != OUT_PADDED else np.dtype(DTYPES[d["dtype"]]).itemsize
            self.regions[("output", o)] = np.zeros(self.max_slots * width, np.uint8)
        self.view(Pointer("bad"), np.int32, 1)[0] = NO_BAD_TOKEN
        for s in info["steps"]:
            if s["kind"] == STEP_GEMM:
                self.gemm(s, rows if s["grid"] == GRID_ROWS else batch)
                continue
            entry = info["kernels"][s["kernel"]]
            family, targs, consts = self.entries[entry]
            args = [self.arg(k, v, batch, seq) for k, v in info["args"][s["first_arg"]:s["first_arg"] + s["num_args"]]]
            getattr(self, "k_" + family)(targs, consts, batch, seq, *args)
        outs = []
        for o, d in enumerate(info["outputs"]):
            p = Pointer(("output", o))
            if d["layout"] == OUT_TOKENS:
                outs.append(self.view(p, np.float32, slots * d["width"]).reshape(batch, seq, d["width"]).copy())
            elif d["layout"] == OUT_SEQUENCES:
                outs.append(self.view(p, np.float32, batch * d["width"]).reshape(batch, d["width"]).copy())
            else:
                outs.append(self.view(p, DTYPES[d["dtype"]], slots).reshape(batch, seq).copy())
        bad = int(self.view(Pointer("bad"), np.int32, 1)[0])
        return outs, (None if bad == NO_BAD_TOKEN else bad)

    def gemm(self, s, rows):
        """D[rows, n] = A[rows, k] W[k, n] (+ bias) (ReLU); W stored as [n, k]."""
        a = self.rows(Pointer("arena", s["a"] * self.slot_stride), s["lda"], s["k"], rows).astype(np.float32)
        w = self.view(Pointer("weights", s["w"]), self.store, s["n"] * s["k"]).reshape(s["n"], s["k"]).astype(np.float32)
        d = a @ w.T
        if s["bias"] >= 0:
            d += self.view(Pointer("weights", s["bias"]), self.store, s["n"]).astype(np.float32)
        if s["epilogue"] in (EPI_RELU_BIAS, EPI_RELU):
            d = np.maximum(d, 0)
        assert (s["bias"] >= 0) == (s["epilogue"] in (EPI_BIAS, EPI_RELU_BIAS))
        self.rows(Pointer("arena", s["d"] * self.slot_stride), s["ldd"], s["n"], rows)[...] = d.astype(self.store)

    # ---- the kernel families (codegen_cuda/kernels/*.cuh) ----------------------

    def k_pack(self, targs, consts, batch, seq, mask, mask_dt, b_, s_, tok, row_of, seq_start):
        n = batch * seq
        real = np.ones(n, bool) if mask is None else self.load(mask, mask_dt, n).astype(np.float64) != 0
        rows = np.cumsum(real) - real  # exclusive
        tok_v, row_v, start = self.view(tok, np.int32, n), self.view(row_of, np.int32, n), self.view(seq_start, np.int32, batch + 2)
        row_v[:] = np.where(real, rows, -1)
        tok_v[:int(real.sum())] = np.nonzero(real)[0]
        start[:batch] = rows[::seq][:batch] if seq else 0
        start[batch] = int(real.sum())
        start[batch + 1] = batch

    def k_gather_ids(self, targs, consts, batch, seq, src, src_dt, mode, tok, num_rows, seq_, dst):
        t = self.count(num_rows)
        toks = self.view(tok, np.int32, t).astype(np.int64)
        out = self.view(dst, np.int64, t)
        if mode == 2:
            out[:] = toks % seq
        else:
            idx = toks % seq if mode == 1 else toks
            vals = self.load(src, src_dt, int(idx.max()) + 1 if t else 0)
            out[:] = vals[idx].astype(np.float64).astype(np.int64) if t else 0

    def k_elementwise(self, targs, consts, batch, seq, op, dst, dst_dt, n, a, a_dt, a_n, b, b_dt, b_n, c, c_dt, c_n):
        def load(p, dt, cnt):
            v = self.load(p, dt, cnt)
            return np.broadcast_to(v[:1], (n,)) if cnt == 1 else v[:n]
        floats = (1, 11)
        if op == 11:  # WHERE: c = a ? b : c
            real = b_dt in floats or c_dt in floats
            cond = load(a, a_dt, a_n).astype(np.float64) != 0
            cast = np.float64 if real else np.int64
            r = np.where(cond, load(b, b_dt, b_n).astype(cast), load(c, c_dt, c_n).astype(cast))
        else:
            real = a_dt in floats or (b is not None and b_dt in floats)
            cast = np.float64 if real else np.int64
            x = load(a, a_dt, a_n).astype(cast)
            y = load(b, b_dt, b_n).astype(cast) if b is not None else np.zeros(n, cast)
            with np.errstate(divide="ignore", invalid="ignore"):
                if op == 3 and not real:
                    safe = np.where(y == 0, 1, y)
                    q = np.abs(x) // np.abs(safe) * np.sign(x) * np.sign(safe)
                    r = np.where(y == 0, 0, q)
                else:
                    r = {0: lambda: x + y, 1: lambda: x - y, 2: lambda: x * y, 3: lambda: x / y,
                         4: lambda: (x == y).astype(cast), 5: lambda: (x < y).astype(cast),
                         6: lambda: (x > y).astype(cast), 7: lambda: ((x != 0) & (y != 0)).astype(cast),
                         8: lambda: ((x != 0) | (y != 0)).astype(cast), 9: lambda: (x == 0).astype(cast),
                         10: lambda: x}[op]()
        out = self.load(dst, dst_dt, n)
        out[:] = (r != 0) if dst_dt == 9 else r.astype(DTYPES[dst_dt])

    def k_cumsum(self, targs, consts, batch, seq, dst, src, dt, rows, cols, exclusive, reverse):
        x = self.load(src, dt, rows * cols).reshape(rows, cols).astype(np.float64 if dt in (1, 11) else np.int64)
        if reverse:
            x = x[:, ::-1]
        s = np.cumsum(x, axis=1)
        if exclusive:
            s = s - x
        if reverse:
            s = s[:, ::-1]
        self.load(dst, dt, rows * cols)[:] = s.ravel().astype(DTYPES[dt])

    @staticmethod
    def _norm(v, gamma, beta, eps):
        mean = v.mean(axis=1, keepdims=True)
        c = v - mean
        rstd = 1.0 / np.sqrt((c * c).mean(axis=1, keepdims=True) + np.float32(eps))
        return c * rstd * gamma + beta

    def _vec(self, p, n):
        return np.zeros(n, np.float32) if p is None else self.view(p, self.store, n).astype(np.float32)

    def k_embed_layernorm(self, targs, consts, batch, seq, ids, seg, pos, word, vocab, pos_table, positions, seg_table,
                          types, gamma, beta, y, num_rows, bad):
        h = targs[0]
        t = self.count(num_rows)
        ids_v, pos_v = self.view(ids, np.int64, t), self.view(pos, np.int64, t)
        seg_v = self.view(seg, np.int64, t) if seg is not None and seg_table is not None else np.zeros(t, np.int64)
        ok = (ids_v >= 0) & (ids_v < vocab) & (pos_v >= 0) & (pos_v < positions) & (seg_v >= 0)
        if seg_table is not None:
            ok &= seg_v < types
        word_t = self.view(word, self.store, vocab * h).reshape(vocab, h).astype(np.float32)
        pos_t = self.view(pos_table, self.store, positions * h).reshape(positions, h).astype(np.float32)
        v = word_t[np.where(ok, ids_v, 0)] + pos_t[np.where(ok, pos_v, 0)]
        if seg_table is not None and seg is not None:
            v += self.view(seg_table, self.store, types * h).reshape(types, h).astype(np.float32)[np.where(ok, seg_v, 0)]
        out = self._norm(v, self._vec(gamma, h), self._vec(beta, h), consts[0])
        out[~ok] = 0
        self.rows(y, h, h, t)[...] = out.astype(self.store)
        if not ok.all():
            b = self.view(bad, np.int32, 1)
            b[0] = min(int(b[0]), int(np.nonzero(~ok)[0][0]))

    def k_layernorm(self, targs, consts, batch, seq, x, ldx, skip, ldskip, bias, gamma, beta, y, ldy, num_rows):
        h = targs[0]
        t = self.count(num_rows)
        v = self.rows(x, ldx, h, t).astype(np.float32)
        if skip is not None:
            v = v + self.rows(skip, ldskip, h, t).astype(np.float32)
        if bias is not None:
            v = v + self._vec(bias, h)
        self.rows(y, ldy, h, t)[...] = self._norm(v, self._vec(gamma, h), self._vec(beta, h), consts[0]).astype(self.store)

    def k_bias_act(self, targs, consts, batch, seq, x, ldx, bias, y, ldy, num_rows):
        n, act = targs[0], targs[1]
        t = self.count(num_rows)
        v = self.rows(x, ldx, n, t).astype(np.float32) + self._vec(bias, n)
        if act == 1:
            v = (0.5 * v * (1 + _erf(v.astype(np.float64) * 0.70710678118654752))).astype(np.float32)
        elif act == 2:
            v = 0.5 * v * (1 + np.tanh(0.79788456080286536 * (v + 0.044715 * v ** 3)))
        elif act == 3:
            v = np.tanh(v)
        elif act == 4:
            v = np.maximum(v, 0)
        self.rows(y, ldy, n, t)[...] = v.astype(self.store)

    def k_add_rows(self, targs, consts, batch, seq, x, ldx, z, ldz, y, ldy, num_rows):
        n = targs[0]
        t = self.count(num_rows)
        a = self.rows(x, ldx, n, t).astype(np.float32)
        b = self._vec(z, n) if ldz == 0 else self.rows(z, ldz, n, t).astype(np.float32)
        self.rows(y, ldy, n, t)[...] = (a + b).astype(self.store)

    def k_attention(self, targs, consts, batch, seq, qkv, ldqkv, context, ldctx, seq_start):
        d, heads = targs
        hidden = d * heads
        scale = consts[0]
        start = self.view(seq_start, np.int32, batch + 1)
        t = int(start[batch])
        all_rows = self.rows(qkv, ldqkv, 3 * hidden, t).astype(np.float32)
        out = self.rows(context, ldctx, hidden, t)
        for b in range(batch):
            first, last = int(start[b]), int(start[b + 1])
            if last == first:
                continue
            r = all_rows[first:last]
            for h in range(heads):
                q = r[:, h * d:(h + 1) * d] * np.float32(scale)
                k = r[:, hidden + h * d:hidden + (h + 1) * d]
                v = r[:, 2 * hidden + h * d:2 * hidden + (h + 1) * d]
                s = q @ k.T
                p = np.exp(s - s.max(axis=1, keepdims=True))
                out[first:last, h * d:(h + 1) * d] = ((p @ v) / p.sum(axis=1, keepdims=True)).astype(self.store)

    def k_mean_pool(self, targs, consts, batch, seq, packed, seq_start, out):
        n = targs[0]
        start = self.view(seq_start, np.int32, batch + 1)
        rows = self.rows(packed, n, n, int(start[batch])).astype(np.float32)
        o = self.rows(out, n, n, batch)
        for b in range(batch):
            first, last = int(start[b]), int(start[b + 1])
            o[b] = (rows[first:last].sum(axis=0) / max(float(last - first), consts[0])).astype(self.store)

    def k_gather_token(self, targs, consts, batch, seq, packed, row_of, seq_, index, out):
        n = targs[0]
        rows_of = self.view(row_of, np.int32, batch * seq)
        o = self.rows(out, n, n, batch)
        for b in range(batch):
            r = int(rows_of[b * seq + index])
            o[b] = self.rows(packed, n, n, r + 1)[r] if r >= 0 else 0

    def k_scatter_rows(self, targs, consts, batch, seq, packed, row_of, out):
        n = targs[0]
        rows_of = self.view(row_of, np.int32, batch * seq)
        t = int(rows_of.max()) + 1 if rows_of.size else 0
        src = self.rows(packed, n, n, t).astype(np.float32)
        o = self.view(out, np.float32, batch * seq * n).reshape(batch * seq, n)
        o[...] = np.where((rows_of >= 0)[:, None], src[np.maximum(rows_of, 0)] if t else 0, 0)

    def k_to_float(self, targs, consts, batch, seq, x, out):
        n = targs[0]
        self.view(out, np.float32, batch * n)[:] = self.rows(x, n, n, batch).astype(np.float32).ravel()


def load(tmp: Path, source: str) -> Machine:
    info = json.loads((tmp / "info.json").read_text())
    return Machine(info, (tmp / "weights.bin").read_bytes(), source)
