#include "ir/npy.h"

#include <cctype>
#include <climits>
#include <optional>
#include <string_view>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "ir/checked.h"
#include "ir/output_file.h"

namespace bertc::ir {
namespace {

std::optional<DType> dtypeFromDescr(const std::string& d) {
  if (d == "<f4") return DType::F32;
  if (d == "<f8") return DType::F64;
  if (d == "<f2") return DType::F16;
  if (d == "<i8") return DType::I64;
  if (d == "<i4") return DType::I32;
  if (d == "|i1") return DType::I8;
  if (d == "|u1") return DType::U8;
  if (d == "|b1") return DType::Bool;
  return std::nullopt;
}

std::string descrFor(DType t) {
  switch (t) {
    case DType::F32: return "<f4";
    case DType::F64: return "<f8";
    case DType::F16: return "<f2";
    case DType::I64: return "<i8";
    case DType::I32: return "<i4";
    case DType::I8: return "|i1";
    case DType::U8: return "|u1";
    case DType::Bool: return "|b1";
    default: return "";
  }
}

/// The value of 'key': in the header dict, as raw text up to the next top-level comma.
std::string dictField(const std::string& h, const std::string& key) {
  size_t k = h.find("'" + key + "'");
  if (k == std::string::npos) return "";
  size_t colon = h.find(':', k);
  if (colon == std::string::npos) return "";
  size_t i = colon + 1;
  while (i < h.size() && h[i] == ' ') ++i;
  if (i < h.size() && h[i] == '(') {
    size_t e = h.find(')', i);
    return e == std::string::npos ? "" : h.substr(i, e - i + 1);
  }
  size_t e = h.find_first_of(",}", i);
  return h.substr(i, e == std::string::npos ? std::string::npos : e - i);
}

/// The shape tuple "(3, 4,)": non-negative decimal dims only, each checked
/// for overflow (the element count is checked by the caller).
std::optional<std::vector<int64_t>> parseShape(const std::string& text) {
  if (text.size() < 2 || text.front() != '(' || text.back() != ')') return std::nullopt;
  std::vector<int64_t> shape;
  size_t i = 1;
  const size_t end = text.size() - 1;
  auto skipSpaces = [&] {
    while (i < end && text[i] == ' ') ++i;
  };
  skipSpaces();
  while (i < end) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) return std::nullopt;
    int64_t d = 0;
    while (i < end && std::isdigit(static_cast<unsigned char>(text[i]))) {
      auto tens = checkedMul(d, 10);
      auto next = tens ? checkedAdd(*tens, text[i] - '0') : std::nullopt;
      if (!next) return std::nullopt;
      d = *next;
      ++i;
    }
    shape.push_back(d);
    skipSpaces();
    if (i < end && text[i] != ',') return std::nullopt;
    if (i < end) ++i;
    skipSpaces();
  }
  return shape;
}

/// Header text for a message: printable ASCII only and at most 64
/// characters, so a hostile header cannot make the error two lines long.
std::string printableHeader(const std::string& text) {
  std::string out;
  for (char ch : text.substr(0, 64)) out += ch >= 0x20 && ch < 0x7f ? ch : '?';
  return text.size() > 64 ? out + "..." : out;
}

}  // namespace

Result<Tensor> readNpyBytes(std::string_view bytes, const std::string& name) {
  auto fail = [&](const std::string& what) { return Status::error(name + ": " + what); };
  if (bytes.size() < 10 || bytes.compare(0, 6, "\x93NUMPY") != 0) return fail("not a .npy file");
  auto major = static_cast<unsigned char>(bytes[6]);
  size_t hlen, hstart;
  if (major == 1) {
    hlen = static_cast<unsigned char>(bytes[8]) | static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8;
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return fail("truncated header");
    hlen = 0;
    for (int i = 3; i >= 0; --i) hlen = hlen << 8 | static_cast<unsigned char>(bytes[8 + static_cast<size_t>(i)]);
    hstart = 12;
  } else {
    return fail("unsupported .npy version " + std::to_string(major));
  }
  if (hlen > bytes.size() - hstart) return fail("truncated header");
  std::string h(bytes.substr(hstart, hlen));
  std::string descr = dictField(h, "descr");
  if (descr.size() >= 2) descr = descr.substr(1, descr.size() - 2);  // strip quotes
  auto dt = dtypeFromDescr(descr);
  if (!dt) return fail("unsupported dtype '" + printableHeader(descr) + "'");
  if (dictField(h, "fortran_order").find("True") != std::string::npos) return fail("Fortran order is not supported");
  std::string shapeText = dictField(h, "shape");
  auto shape = parseShape(shapeText);
  if (!shape) return fail("the shape " + printableHeader(shapeText) + " is not a tuple of non-negative 64-bit integers");
  // The size is checked, and checked against the file, before anything is
  // allocated: a 128-byte file cannot make us allocate gigabytes.
  auto nbytes = checkedTensorBytes(*dt, *shape);
  if (!nbytes)
    return fail("the shape " + shapeString(*shape) + " is too large (over " + std::to_string(kMaxTensorBytes >> 30) +
                " GiB or overflowing)");
  const size_t dataStart = hstart + hlen;
  if (bytes.size() - dataStart < *nbytes)
    return fail("data is truncated: " + std::to_string(bytes.size() - dataStart) + " bytes for " +
                std::to_string(*nbytes));
  Tensor t = Tensor::allocate(*dt, *shape);
  std::memcpy(t.mutableData(), bytes.data() + dataStart, t.nbytes());
  return t;
}

Result<Tensor> readNpy(const std::string& path) {
  auto fail = [&](const std::string& what) { return Status::error(path + ": " + what); };
  // Only a regular file: a directory cannot be read, and opening a FIFO
  // would block until someone writes to it.
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) return fail("cannot open file (it does not exist)");
  if (!std::filesystem::is_regular_file(status)) return fail("not a regular file");
  std::ifstream f(path, std::ios::binary);
  if (!f) return fail("cannot open file");
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) return fail("read error");
  return readNpyBytes(bytes, path);
}

Status writeNpy(const std::string& path, const Tensor& t) {
  std::string descr = descrFor(t.dtype());
  if (descr.empty()) return Status::error(path + ": cannot write dtype " + std::string(dtypeName(t.dtype())));
  std::ostringstream h;
  h << "{'descr': '" << descr << "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < t.shape().size(); ++i) h << t.shape()[i] << (t.shape().size() == 1 || i + 1 < t.shape().size() ? "," : "");
  h << "), }";
  std::string header = h.str();
  size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  auto out = OutputFile::create(path);
  if (!out) return out.status();
  std::ofstream f((*out)->tempPath(), std::ios::binary);
  if (!f) return Status::error(path + ": cannot open for writing");
  f.write("\x93NUMPY\x01\x00", 8);
  char len[2] = {static_cast<char>(header.size() & 0xff), static_cast<char>(header.size() >> 8)};
  f.write(len, 2);
  f << header;
  f.write(reinterpret_cast<const char*>(t.data()), static_cast<std::streamsize>(t.nbytes()));
  f.close();
  if (!f) return Status::error(path + ": write failed");
  return (*out)->commit();
}

}  // namespace bertc::ir
