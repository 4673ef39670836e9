// Tests of the model library's packing, gathers, scatters and small integer
// ops (libmodel/pack.cpp) against plain loops.
#include <cstring>
#include <string>

#include "libmodel_test.h"

using namespace libmodel_test;

namespace {

/// A [batch, seq] mask given as 0/1 per token, stored in `dtype`.
struct Mask {
  std::vector<int> bits;
  std::vector<unsigned char> bytes;

  Mask(std::vector<int> b, int dtype) : bits(std::move(b)) {
    const size_t size = dtype == 7 ? 8 : dtype == 9 ? 1 : 4;
    bytes.assign(bits.size() * size, 0);
    for (size_t i = 0; i < bits.size(); ++i) {
      unsigned char* p = bytes.data() + i * size;
      // Nonzero values other than 1 count as real tokens too.
      if (dtype == 7) { const int64_t v = bits[i] * 3; std::memcpy(p, &v, 8); }
      if (dtype == 6) { const int32_t v = bits[i] * -2; std::memcpy(p, &v, 4); }
      if (dtype == 1) { const float v = bits[i] * 0.5f; std::memcpy(p, &v, 4); }
      if (dtype == 9) *p = static_cast<unsigned char>(bits[i]);
    }
  }
};

struct Packing {
  int64_t T = 0;
  std::vector<int32_t> tok, rowOf, seqStart;
};

Packing pack(const void* mask, int dtype, int64_t batch, int64_t seq) {
  Packing p;
  p.tok.assign(batch * seq, -7);
  p.rowOf.assign(batch * seq, -7);
  p.seqStart.assign(batch + 1, -7);
  p.T = bertc_k_pack(mask, dtype, batch, seq, p.tok.data(), p.rowOf.data(), p.seqStart.data());
  return p;
}

/// The packing a [batch, seq] 0/1 mask means.
Packing reference(const std::vector<int>& bits, int64_t batch, int64_t seq) {
  Packing p;
  p.rowOf.assign(batch * seq, -1);
  for (int64_t b = 0; b < batch; ++b) {
    p.seqStart.push_back(static_cast<int32_t>(p.T));
    for (int64_t s = 0; s < seq; ++s)
      if (bits[b * seq + s]) {
        p.rowOf[b * seq + s] = static_cast<int32_t>(p.T++);
        p.tok.push_back(static_cast<int32_t>(b * seq + s));
      }
  }
  p.seqStart.push_back(static_cast<int32_t>(p.T));
  return p;
}

}  // namespace

TEST_CASE("libmodel: pack over every mask shape and dtype", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  const int64_t batch = 4, seq = 5;
  const struct {
    const char* name;
    std::vector<int> bits;
  } masks[] = {
      {"right-padded", {1, 1, 1, 0, 0, /**/ 1, 1, 1, 1, 1, /**/ 1, 0, 0, 0, 0, /**/ 1, 1, 0, 0, 0}},
      {"left-padded", {0, 0, 1, 1, 1, /**/ 1, 1, 1, 1, 1, /**/ 0, 0, 0, 0, 1, /**/ 0, 0, 0, 1, 1}},
      {"holes", {1, 0, 1, 0, 1, /**/ 0, 1, 1, 0, 1, /**/ 1, 1, 0, 1, 1, /**/ 0, 0, 1, 0, 0}},
      {"all-zero row", {1, 1, 0, 0, 0, /**/ 0, 0, 0, 0, 0, /**/ 1, 1, 1, 1, 1, /**/ 0, 0, 0, 0, 0}},
  };
  for (const auto& m : masks)
    for (int dtype : {7, 6, 1, 9}) {
      INFO(m.name << ", dtype " << dtype);
      const Mask mask(m.bits, dtype);
      const Packing got = pack(mask.bytes.data(), dtype, batch, seq), want = reference(m.bits, batch, seq);
      REQUIRE(got.T == want.T);
      CHECK(std::vector<int32_t>(got.tok.begin(), got.tok.begin() + got.T) == want.tok);
      CHECK(got.rowOf == want.rowOf);
      CHECK(got.seqStart == want.seqStart);
    }
  SECTION("NULL mask: every token real") {
    const Packing got = pack(nullptr, 7, batch, seq), want = reference(std::vector<int>(batch * seq, 1), batch, seq);
    CHECK(got.T == batch * seq);
    CHECK(got.tok == want.tok);
    CHECK(got.rowOf == want.rowOf);
    CHECK(got.seqStart == want.seqStart);
  }
}

TEST_CASE("libmodel: gathers and scatters between padded and packed layouts", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  const int64_t batch = 3, seq = 4, N = 5;
  const std::vector<int> bits = {1, 1, 0, 0, /**/ 0, 0, 0, 0, /**/ 0, 1, 1, 1};
  const Mask mask(bits, 7);
  const Packing p = pack(mask.bytes.data(), 7, batch, seq);
  REQUIRE(p.T == 5);
  std::vector<int64_t> ids64(batch * seq);
  std::vector<int32_t> ids32(batch * seq);
  for (int i = 0; i < batch * seq; ++i) ids64[i] = ids32[i] = 100 + i;

  std::vector<int64_t> got(p.T), want(p.T);
  for (int64_t t = 0; t < p.T; ++t) want[t] = 100 + p.tok[t];
  bertc_k_gather_ids(ids64.data(), 7, p.tok.data(), p.T, got.data());
  CHECK(got == want);
  bertc_k_gather_ids(ids32.data(), 6, p.tok.data(), p.T, got.data());
  CHECK(got == want);

  // A [1, seq] row broadcast over the batch, and the default positions.
  for (int64_t t = 0; t < p.T; ++t) want[t] = 100 + p.tok[t] % seq;
  bertc_k_gather_ids_row(ids32.data(), 6, p.tok.data(), p.T, seq, got.data());
  CHECK(got == want);
  for (int64_t t = 0; t < p.T; ++t) want[t] = p.tok[t] % seq;
  bertc_k_positions(p.tok.data(), p.T, seq, got.data());
  CHECK(got == want);

  // Packed row t holds t + 1 everywhere; padding comes back as zeros.
  std::vector<float> packed(p.T * N);
  for (int64_t t = 0; t < p.T; ++t) std::fill_n(packed.begin() + t * N, N, float(t + 1));
  std::vector<float> out(batch * seq * N, -1.0f);
  bertc_k_scatter_rows(packed.data(), p.rowOf.data(), batch, seq, N, out.data());
  for (int64_t i = 0; i < batch * seq; ++i)
    for (int64_t c = 0; c < N; ++c) CHECK(out[i * N + c] == (bits[i] ? float(p.rowOf[i] + 1) : 0.0f));

  for (int64_t index : {0, 1, 3}) {
    std::vector<float> rows(batch * N, -1.0f);
    bertc_k_gather_token(packed.data(), p.rowOf.data(), batch, seq, index, N, rows.data());
    for (int64_t b = 0; b < batch; ++b) {
      const int32_t r = p.rowOf[b * seq + index];
      for (int64_t c = 0; c < N; ++c) CHECK(rows[b * N + c] == (r >= 0 ? float(r + 1) : 0.0f));
    }
  }
}

TEST_CASE("libmodel: elementwise ops, with scalar broadcast and dtype conversion", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  const std::vector<int64_t> a = {-7, 0, 3, 5, 9, -2};
  const std::vector<int64_t> b = {2, 4, 3, -5, 0, 7};
  const int64_t n = static_cast<int64_t>(a.size());
  const int64_t two = 2;

  auto i64 = [&](int op, const std::vector<int64_t>& x, const void* y, int64_t yn) {
    std::vector<int64_t> r(n, -99);
    bertc_k_elementwise(op, r.data(), 7, n, x.data(), 7, n, y, 7, yn, nullptr, 0, 0);
    return r;
  };
  CHECK(i64(BERTC_K_EW_ADD, a, b.data(), n) == std::vector<int64_t>{-5, 4, 6, 0, 9, 5});
  CHECK(i64(BERTC_K_EW_SUB, a, &two, 1) == std::vector<int64_t>{-9, -2, 1, 3, 7, -4});
  CHECK(i64(BERTC_K_EW_MUL, a, &two, 1) == std::vector<int64_t>{-14, 0, 6, 10, 18, -4});
  // Integer division truncates; by zero gives 0.
  CHECK(i64(BERTC_K_EW_DIV, a, b.data(), n) == std::vector<int64_t>{-3, 0, 1, -1, 0, 0});
  CHECK(i64(BERTC_K_EW_EQUAL, a, b.data(), n) == std::vector<int64_t>{0, 0, 1, 0, 0, 0});
  CHECK(i64(BERTC_K_EW_LESS, a, b.data(), n) == std::vector<int64_t>{1, 1, 0, 0, 0, 1});
  CHECK(i64(BERTC_K_EW_GREATER, a, b.data(), n) == std::vector<int64_t>{0, 0, 0, 1, 1, 0});
  CHECK(i64(BERTC_K_EW_AND, a, b.data(), n) == std::vector<int64_t>{1, 0, 1, 1, 0, 1});
  CHECK(i64(BERTC_K_EW_OR, a, b.data(), n) == std::vector<int64_t>{1, 1, 1, 1, 1, 1});
  CHECK(i64(BERTC_K_EW_NOT, a, nullptr, 0) == std::vector<int64_t>{0, 1, 0, 0, 0, 0});

  SECTION("comparisons into bool, casts between dtypes") {
    std::vector<uint8_t> less(n);
    bertc_k_elementwise(BERTC_K_EW_LESS, less.data(), 9, n, a.data(), 7, n, &two, 7, 1, nullptr, 0, 0);
    CHECK(less == std::vector<uint8_t>{1, 1, 0, 0, 0, 1});
    std::vector<float> f(n);
    bertc_k_elementwise(BERTC_K_EW_CAST, f.data(), 1, n, a.data(), 7, n, nullptr, 0, 0, nullptr, 0, 0);
    CHECK(f == std::vector<float>{-7, 0, 3, 5, 9, -2});
    const std::vector<float> g = {-1.5f, 0.0f, 0.25f, 2.75f};
    std::vector<int32_t> t(4);
    bertc_k_elementwise(BERTC_K_EW_CAST, t.data(), 6, 4, g.data(), 1, 4, nullptr, 0, 0, nullptr, 0, 0);
    CHECK(t == std::vector<int32_t>{-1, 0, 0, 2});  // toward zero
    std::vector<uint8_t> truth(4);
    bertc_k_elementwise(BERTC_K_EW_CAST, truth.data(), 9, 4, g.data(), 1, 4, nullptr, 0, 0, nullptr, 0, 0);
    CHECK(truth == std::vector<uint8_t>{1, 0, 1, 1});
  }
  SECTION("float arithmetic is in double, also with an integer operand") {
    const std::vector<float> x = {1.0f, -3.0f, 0.5f};
    const int32_t four = 4;
    std::vector<float> r(3);
    bertc_k_elementwise(BERTC_K_EW_DIV, r.data(), 1, 3, x.data(), 1, 3, &four, 6, 1, nullptr, 0, 0);
    CHECK(r == std::vector<float>{0.25f, -0.75f, 0.125f});
  }
  SECTION("where: a bool condition picks between values") {
    const std::vector<uint8_t> cond = {1, 0, 0, 1, 1, 0};
    const int64_t minus = -1;
    std::vector<int64_t> r(n);
    bertc_k_elementwise(BERTC_K_EW_WHERE, r.data(), 7, n, cond.data(), 9, n, a.data(), 7, n, &minus, 7, 1);
    CHECK(r == std::vector<int64_t>{-7, -1, -1, 5, 9, -1});
    const float half = 0.5f;
    std::vector<float> rf(n);
    bertc_k_elementwise(BERTC_K_EW_WHERE, rf.data(), 1, n, cond.data(), 9, n, &half, 1, 1, b.data(), 7, n);
    CHECK(rf == std::vector<float>{0.5f, 4, 3, 0.5f, 0.5f, 7});
  }
}

TEST_CASE("libmodel: cumsum, inclusive and exclusive, forward and reverse", "[libmodel]") {
  LIBMODEL_REQUIRE_ISA();
  const int64_t rows = 2, cols = 4;
  const std::vector<int64_t> x = {1, 2, 3, 4, /**/ 0, 1, 0, 1};
  const struct {
    int exclusive, reverse;
    std::vector<int64_t> want;
  } cases[] = {
      {0, 0, {1, 3, 6, 10, /**/ 0, 1, 1, 2}},
      {1, 0, {0, 1, 3, 6, /**/ 0, 0, 1, 1}},
      {0, 1, {10, 9, 7, 4, /**/ 2, 2, 1, 1}},
      {1, 1, {9, 7, 4, 0, /**/ 2, 1, 1, 0}},
  };
  for (const auto& c : cases) {
    INFO("exclusive " << c.exclusive << ", reverse " << c.reverse);
    std::vector<int64_t> got(x.size());
    bertc_k_cumsum(got.data(), x.data(), 7, rows, cols, c.exclusive, c.reverse);
    CHECK(got == c.want);
    std::vector<int64_t> inPlace = x;
    bertc_k_cumsum(inPlace.data(), inPlace.data(), 7, rows, cols, c.exclusive, c.reverse);
    CHECK(inPlace == c.want);
    std::vector<int32_t> x32(x.begin(), x.end()), got32(x.size());
    bertc_k_cumsum(got32.data(), x32.data(), 6, rows, cols, c.exclusive, c.reverse);
    CHECK(std::vector<int64_t>(got32.begin(), got32.end()) == c.want);
    std::vector<float> xf(x.begin(), x.end()), gotf(x.size());
    bertc_k_cumsum(gotf.data(), xf.data(), 1, rows, cols, c.exclusive, c.reverse);
    CHECK(std::vector<int64_t>(gotf.begin(), gotf.end()) == c.want);
  }
}

TEST_CASE("libmodel: a token index past the sequence is an error naming the node", "[libmodel]") {
  Exec x;
  CHECK(bertc_k_check_token_index(&x.e, 4, 3, "node 'g' (Gather)") == BERTC_OK);
  CHECK(bertc_k_check_token_index(&x.e, 3, 3, "node 'g' (Gather)") == BERTC_ERR_SHAPE);
  CHECK(std::string(x.err.message) == "node 'g' (Gather): reads token 3 of each sequence; seq 3 is too short");
}
