// Tests of the CPU row kernels (codegen_cpu/kernels/layernorm.h,
// attention.h, embed_layernorm.h) against the reference interpreter's fused
// ops (ir/interp_fused.cpp: double arithmetic, rounded once), on seeded
// random data, on each ISA this CPU has.
//
// Tolerance: normalised max error (max |got - want| / max |want|) <= 2e-6.
// The kernels are fp32 throughout (two-pass row statistics; fp32 dot
// products over d <= 384 and softmax sums over <= 128 keys), so their error
// is a few ulp times sqrt(length); the measured maxima, 2e-7 to 7e-7, are
// printed as warnings. The QKV projection fed to the attention kernel is
// exact (see eighths), so all of that error is the kernel's.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "attention.h"
#include "embed_layernorm.h"
#include "layernorm.h"
#include "test/graph_builder.h"
#include "test/model_fixtures.h"

using namespace bertc;
using namespace bertc::cpu;
using ir::OpKind;
using test::GraphBuilder;

namespace {

constexpr double kTol = 2e-6;

std::vector<Isa> isasHere() {
  std::vector<Isa> isas;
  if (isaSupported(Isa::Avx2)) isas.push_back(Isa::Avx2);
  if (isaSupported(Isa::Avx512)) isas.push_back(Isa::Avx512);
  return isas;
}

std::vector<float> floats(const ir::Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(t.getDouble(i));
  return v;
}

std::vector<int64_t> int64s(const ir::Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = t.getInt(i);
  return v;
}

/// Normalised max error of got against the reference's rows [r0, r1) of
/// `cols` (the whole tensor by default).
double maxError(const std::vector<float>& got, const ir::Tensor& want, int64_t r0 = 0, int64_t r1 = -1,
                int64_t cols = 1) {
  if (r1 < 0) r1 = want.numel(), cols = 1;
  double maxErr = 0, maxRef = 0;
  for (int64_t i = r0 * cols; i < r1 * cols; ++i) {
    double w = want.getDouble(static_cast<size_t>(i));
    maxErr = std::max(maxErr, std::fabs(got[static_cast<size_t>(i)] - w));
    maxRef = std::max(maxRef, std::fabs(w));
  }
  return maxRef == 0 ? maxErr : maxErr / maxRef;
}

/// A float tensor of multiples of 1/8 in [-1/2, 1/2]: sums of a few products
/// of them are exact in float, so a QKV projection built from them is the
/// same in the kernel's input and in the interpreter's double computation.
ir::Tensor eighths(GraphBuilder& b, std::vector<int64_t> shape) {
  ir::Tensor t = b.ints(std::move(shape), 9);
  ir::Tensor f = ir::Tensor::allocate(ir::DType::F32, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) f.setDouble(static_cast<size_t>(i), (t.getInt(static_cast<size_t>(i)) - 4) / 8.0);
  return f;
}

}  // namespace

TEST_CASE("kernels: LayerNorm and SkipLayerNorm rows match the reference", "[kernels]") {
  double worst = 0;
  for (Isa isa : isasHere()) {
    for (int H : {64, 384, 768, 37}) {
      for (int variant = 0; variant < 5; ++variant) {
        // 0: LayerNorm; 1: SkipLayerNorm; 2: + bias + beta; 3: + bias, in place over X;
        // 4: one skip row broadcast to every row (ldskip 0).
        const bool skipOn = variant >= 1, biasOn = variant >= 2, betaOn = variant != 1, inPlace = variant == 3;
        const bool broadcast = variant == 4;
        const int rows = 7;
        GraphBuilder b;
        b.rng.seed(static_cast<unsigned>(H * 10 + variant));
        ir::Tensor xT = b.uniform({rows, H}, -3, 5), skipT = b.uniform({broadcast ? 1 : rows, H}, -3, 3);
        ir::Tensor gammaT = b.uniform({H}, 0.5, 1.5), betaT = b.uniform({H}), biasT = b.uniform({H});
        std::vector<float> x = floats(xT), skip = floats(skipT), gamma = floats(gammaT), beta = floats(betaT),
                           bias = floats(biasT);
        auto* xv = b.input("x", xT);
        auto* gv = b.constant(gammaT);
        auto* bv = betaOn ? b.constant(betaT) : nullptr;
        ir::Value* out;
        if (skipOn)
          out = b.op(OpKind::SkipLayerNorm, {xv, b.input("skip", skipT), gv, bv, biasOn ? b.constant(biasT) : nullptr},
                     {{"epsilon", 1e-5}});
        else
          out = b.op(OpKind::LayerNorm, {xv, gv, bv}, {{"epsilon", 1e-5}});
        b.g.addOutput(out);
        ir::Tensor want = b.run()[0];

        std::vector<float> y(x.size());
        LayerNormArgs a;
        a.X = x.data(), a.ldx = H;
        if (skipOn) a.skip = skip.data(), a.ldskip = broadcast ? 0 : H;
        if (biasOn) a.bias = bias.data();
        a.gamma = gamma.data();
        if (betaOn) a.beta = beta.data();
        a.Y = inPlace ? x.data() : y.data(), a.ldy = H;
        a.H = H, a.rows = rows, a.epsilon = 1e-5f;
        layerNormRows(a, 0, 3, isa);  // two row ranges make the whole
        layerNormRows(a, 3, rows, isa);
        double err = maxError(inPlace ? x : y, want);
        INFO(isaName(isa) << " H " << H << " variant " << variant);
        CHECK(err <= kTol);
        worst = std::max(worst, err);
      }
    }
  }
  WARN("LayerNorm/SkipLayerNorm: max normalised error " << worst);
}

namespace {

struct AttnCase {
  int H, heads, S;
};

/// How the kernel sees padding. Batch 0 is right-padded to length L, batch 1
/// left-padded by S - L; the reference always gets the [2, S] mask.
enum class Padding {
  None,        ///< no mask anywhere, length S
  Mask,        ///< the mask row, length S: every row compared
  Length,      ///< batch 0 only, no mask, length L: rows < L compared
  LengthMask,  ///< batch 0 only, mask and length L
};

}  // namespace

TEST_CASE("kernels: Attention heads match the reference Attention op", "[kernels]") {
  double worst = 0;
  for (Isa isa : isasHere()) {
    for (AttnCase c : {AttnCase{64, 1, 1}, AttnCase{64, 4, 7}, AttnCase{384, 12, 7}, AttnCase{384, 1, 7},
                       AttnCase{768, 12, 128}, AttnCase{40, 4, 5}}) {
      for (Padding pad : {Padding::None, Padding::Mask, Padding::Length, Padding::LengthMask}) {
        const int B = 2, S = c.S, H = c.H, Hin = 8;
        const int L = std::max(1, S - S / 3);
        GraphBuilder b;
        b.rng.seed(static_cast<unsigned>(H + S + c.heads));
        ir::Tensor xT = eighths(b, {B, S, Hin}), wT = eighths(b, {Hin, 3 * H}), bT = eighths(b, {3 * H});
        ir::Tensor maskT = ir::Tensor::allocate(ir::DType::I64, {B, S});
        std::vector<std::int32_t> mask(static_cast<size_t>(B * S));
        for (int s = 0; s < S; ++s) {
          mask[s] = s < L;            // right padding
          mask[S + s] = s >= S - L;   // left padding
          maskT.setInt(static_cast<size_t>(s), mask[s]);
          maskT.setInt(static_cast<size_t>(S + s), mask[S + s]);
        }
        const bool refMask = pad != Padding::None;
        auto* out = b.op(OpKind::Attention,
                         {b.input("x", xT), b.constant(wT), b.constant(bT), refMask ? b.input("mask", maskT) : nullptr},
                         {{"num_heads", int64_t(c.heads)}});
        b.g.addOutput(out);
        ir::Tensor want = b.run()[0];

        // QKV = X W + b, exact in float (see eighths).
        std::vector<float> x = floats(xT), w = floats(wT), bias = floats(bT), qkv(static_cast<size_t>(B * S * 3 * H));
        for (int t = 0; t < B * S; ++t)
          for (int n = 0; n < 3 * H; ++n) {
            float acc = bias[n];
            for (int k = 0; k < Hin; ++k) acc += x[t * Hin + k] * w[k * 3 * H + n];
            qkv[static_cast<size_t>(t) * 3 * H + n] = acc;
          }
        std::vector<float> ctx(static_cast<size_t>(B * S * H), 0.0f), scratch;
        const bool byLength = pad == Padding::Length || pad == Padding::LengthMask;
        for (int bi = 0; bi < (byLength ? 1 : B); ++bi) {
          AttentionArgs a;
          a.qkv = qkv.data() + static_cast<size_t>(bi) * S * 3 * H, a.ldqkv = 3 * H;
          a.context = ctx.data() + static_cast<size_t>(bi) * S * H, a.ldctx = H;
          a.H = H, a.heads = c.heads, a.length = byLength ? L : S;
          if (pad == Padding::Mask || pad == Padding::LengthMask) a.mask = mask.data() + bi * S;
          scratch.assign(static_cast<size_t>(attentionScratchFloats(a)), 0.0f);
          for (int h = 0; h < c.heads; ++h) {  // two query ranges per head
            attentionRows(a, h, 0, a.length / 2, scratch.data(), isa);
            attentionRows(a, h, a.length / 2, a.length, scratch.data(), isa);
          }
        }
        double err = byLength ? maxError(ctx, want, 0, L, H) : maxError(ctx, want);
        INFO(isaName(isa) << " H " << H << " heads " << c.heads << " S " << S << " padding " << int(pad));
        CHECK(err <= kTol);
        worst = std::max(worst, err);
      }
    }
  }
  WARN("Attention: max normalised error " << worst);
}

TEST_CASE("kernels: EmbedLayerNorm rows match the reference; bad ids are errors", "[kernels]") {
  double worst = 0;
  for (Isa isa : isasHere()) {
    for (int H : {64, 384, 768}) {
      for (int variant = 0; variant < 3; ++variant) {
        // 0: word + pos; 1: + segment, beta; 2: + segment, beta, position ids [1, S].
        const bool segOn = variant >= 1, posIdsOn = variant == 2;
        const int B = 2, S = 7, vocab = 50, positions = 16, types = 2;
        GraphBuilder b;
        b.rng.seed(static_cast<unsigned>(H + variant));
        ir::Tensor idsT = b.ints({B, S}, vocab), segIdsT = b.ints({B, S}, types), posIdsT = b.ints({1, S}, positions);
        ir::Tensor wordT = b.uniform({vocab, H}), posT = b.uniform({positions, H}), segT = b.uniform({types, H});
        ir::Tensor gammaT = b.uniform({H}, 0.5, 1.5), betaT = b.uniform({H});
        auto* out = b.op(OpKind::EmbedLayerNorm,
                         {b.input("ids", idsT), segOn ? b.input("seg_ids", segIdsT) : nullptr, b.constant(wordT),
                          b.constant(posT), segOn ? b.constant(segT) : nullptr, b.constant(gammaT),
                          segOn ? b.constant(betaT) : nullptr, posIdsOn ? b.input("pos_ids", posIdsT) : nullptr},
                         {{"epsilon", 1e-5}});
        b.g.addOutput(out);
        ir::Tensor want = b.run()[0];

        std::vector<int64_t> ids = int64s(idsT), segIds = int64s(segIdsT), posIds = int64s(posIdsT);
        std::vector<float> word = floats(wordT), pos = floats(posT), seg = floats(segT), gamma = floats(gammaT),
                           beta = floats(betaT), y(static_cast<size_t>(B * S * H));
        EmbedLayerNormArgs a;
        a.ids = ids.data(), a.word = word.data(), a.vocab = vocab, a.pos = pos.data(), a.positions = positions;
        if (segOn) a.segIds = segIds.data(), a.seg = seg.data(), a.types = types, a.beta = beta.data();
        if (posIdsOn) a.posIds = posIds.data(), a.posBroadcast = true;
        a.gamma = gamma.data(), a.Y = y.data(), a.ldy = H, a.H = H, a.seq = S, a.tokens = B * S, a.epsilon = 1e-5f;
        REQUIRE(!embedLayerNormRows(a, 0, 5, isa));
        REQUIRE(!embedLayerNormRows(a, 5, B * S, isa));
        double err = maxError(y, want);
        INFO(isaName(isa) << " H " << H << " variant " << variant);
        CHECK(err <= kTol);
        worst = std::max(worst, err);

        // Each kind of bad index, at token 9: an error naming it, and Y untouched.
        std::vector<float> before = y;
        std::vector<int64_t> badIds = ids, badSeg = segIds, badPos = posIds;
        badIds[9] = vocab;
        a.ids = badIds.data();
        EmbedError e = embedLayerNormRows(a, 0, B * S, isa);
        CHECK((e.kind == EmbedError::InputId && e.token == 9 && e.value == vocab));
        badIds[9] = -1;
        CHECK(embedLayerNormRows(a, 8, 10, isa).kind == EmbedError::InputId);
        CHECK(!embedLayerNormRows(a, 10, B * S, isa));  // the bad token is outside this range
        a.ids = ids.data();
        if (segOn) {
          badSeg[9] = types;
          a.segIds = badSeg.data();
          e = embedLayerNormRows(a, 0, B * S, isa);
          CHECK((e.kind == EmbedError::SegmentId && e.token == 9 && e.value == types));
          a.segIds = segIds.data();
        }
        if (posIdsOn) {
          badPos[2] = -5;  // position 2 of every sequence
          a.posIds = badPos.data();
          e = embedLayerNormRows(a, 3, B * S, isa);
          CHECK((e.kind == EmbedError::PositionId && e.token == S + 2 && e.value == -5));
          a.posIds = posIds.data();
        } else {
          a.positions = S - 1;  // the last position of each sequence is past the table
          e = embedLayerNormRows(a, 0, B * S, isa);
          CHECK((e.kind == EmbedError::PositionId && e.token == S - 1 && e.value == S - 1));
          a.positions = positions;
        }
        CHECK(y == before);
      }
    }
  }
  WARN("EmbedLayerNorm: max normalised error " << worst);
}
