#pragma once
/// A minimal JSON writer for `--json` output (objects, arrays, scalars).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace bertc::cli {

class JsonWriter {
 public:
  JsonWriter& beginObject(const char* key = nullptr) { return open(key, '{'); }
  JsonWriter& endObject() { return close('}'); }
  JsonWriter& beginArray(const char* key = nullptr) { return open(key, '['); }
  JsonWriter& endArray() { return close(']'); }
  JsonWriter& field(const char* key, const std::string& v) { return raw(key, quote(v)); }
  JsonWriter& field(const char* key, const char* v) { return raw(key, quote(v)); }
  JsonWriter& field(const char* key, int64_t v) { return raw(key, std::to_string(v)); }
  JsonWriter& field(const char* key, int v) { return raw(key, std::to_string(v)); }
  JsonWriter& field(const char* key, bool v) { return raw(key, v ? "true" : "false"); }
  JsonWriter& field(const char* key, double v) {
    if (!std::isfinite(v)) return raw(key, "null");
    char buf[40];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    return raw(key, buf);
  }
  JsonWriter& null(const char* key) { return raw(key, "null"); }
  const std::string& str() const { return out_; }

  static std::string quote(const std::string& s) {
    std::string q = "\"";
    for (char c : s) {
      switch (c) {
        case '"': q += "\\\""; break;
        case '\\': q += "\\\\"; break;
        case '\n': q += "\\n"; break;
        case '\t': q += "\\t"; break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            q += buf;
          } else {
            q += c;
          }
      }
    }
    return q + "\"";
  }

 private:
  JsonWriter& raw(const char* key, const std::string& v) {
    sep();
    if (key) out_ += quote(key) + ": ";
    out_ += v;
    return *this;
  }
  JsonWriter& open(const char* key, char c) {
    raw(key, std::string(1, c));
    first_.push_back(true);
    return *this;
  }
  JsonWriter& close(char c) {
    first_.pop_back();
    out_ += "\n" + std::string(2 * first_.size(), ' ') + c;
    return *this;
  }
  void sep() {
    if (first_.empty()) return;
    if (!first_.back()) out_ += ",";
    first_.back() = false;
    out_ += "\n" + std::string(2 * first_.size(), ' ');
  }
  std::string out_;
  std::vector<bool> first_;
};

}  // namespace bertc::cli
