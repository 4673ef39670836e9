#pragma once
/// Two kinds of error (STYLE.md §12):
///  * a user's mistake (bad file, unsupported op, wrong shape) is a UserError
///    whose message names the file, the node and the op; public entry points
///    catch it and return it as a Status, so nothing aborts on bad input;
///  * a compiler bug trips BERTC_INTERNAL_ASSERT, which prints and aborts.
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

namespace bertc {

class UserError : public std::runtime_error {
 public:
  explicit UserError(std::string msg) : std::runtime_error(std::move(msg)) {}
};

/// The result of a fallible public call: ok, or one line saying what is wrong.
class Status {
 public:
  Status() = default;
  static Status error(std::string msg) { return Status(std::move(msg)); }
  bool ok() const { return !failed_; }
  const std::string& message() const { return msg_; }
  explicit operator bool() const { return ok(); }

 private:
  explicit Status(std::string msg) : msg_(std::move(msg)), failed_(true) {}
  std::string msg_;
  bool failed_ = false;
};

/// A value or a Status error.
template <class T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Status error) : v_(std::move(error)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  T* operator->() { return &value(); }
  const Status& status() const { return std::get<1>(v_); }
  const std::string& message() const { return status().message(); }

 private:
  std::variant<T, Status> v_;
};

/// Runs fn, turning a UserError into a Status.
template <class Fn>
auto catchUserError(Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const UserError& e) {
    return Status::error(e.what());
  }
}

[[noreturn]] inline void internalError(const char* file, int line, const char* cond, const std::string& msg) {
  std::fprintf(stderr, "bertc internal error at %s:%d: %s (%s)\nThis is a bug in bertc; please report it.\n", file,
               line, msg.c_str(), cond);
  std::abort();
}

}  // namespace bertc

#define BERTC_INTERNAL_ASSERT(cond, msg)                                   \
  do {                                                                     \
    if (!(cond)) ::bertc::internalError(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)
