// Typed errors thrown up to main (STYLE.md: never exit()/abort() in library code).
// InputError carries every problem found in one input file, each with its JSON pointer,
// so a user sees all of them at once; main prints `file:/pointer: message` and exits 2.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace vmemsim::core {

struct InputProblem {
  std::string pointer;  // JSON pointer into the file ("" = the whole document)
  std::string message;
};

// Collects problems while a file is read; throws them together at the end.
class ErrorSink {
 public:
  explicit ErrorSink(std::string file) : file_(std::move(file)) {}
  void add(std::string pointer, std::string message) {
    problems_.push_back({std::move(pointer), std::move(message)});
  }
  bool empty() const { return problems_.empty(); }
  const std::string& file() const { return file_; }
  const std::vector<InputProblem>& problems() const { return problems_; }
  void throw_if_any() const;

 private:
  std::string file_;
  std::vector<InputProblem> problems_;
};

class InputError : public std::runtime_error {
 public:
  InputError(std::string file, std::vector<InputProblem> problems);
  const std::string& file() const { return file_; }
  const std::vector<InputProblem>& problems() const { return problems_; }

 private:
  std::string file_;
  std::vector<InputProblem> problems_;
};

// A broken internal invariant: a bug in the simulator, exit code 1.
class InternalError : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace vmemsim::core

#define VMEMSIM_CHECK(cond, ...)                                                        \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::ostringstream vmemsim_check_os_;                                             \
      vmemsim_check_os_ << __FILE__ << ":" << __LINE__ << ": check failed: " #cond " "; \
      vmemsim_check_os_ << __VA_ARGS__;                                                 \
      throw ::vmemsim::core::InternalError(vmemsim_check_os_.str());                    \
    }                                                                                   \
  } while (0)
