#include "sim/core/error.hpp"

namespace vmemsim::core {

static std::string format_problems(const std::string& file, const std::vector<InputProblem>& ps) {
  std::string s;
  for (const auto& p : ps) {
    if (!s.empty()) s += '\n';
    s += file + ":" + (p.pointer.empty() ? "/" : p.pointer) + ": " + p.message;
  }
  return s;
}

InputError::InputError(std::string file, std::vector<InputProblem> problems)
    : std::runtime_error(format_problems(file, problems)),
      file_(std::move(file)),
      problems_(std::move(problems)) {}

void ErrorSink::throw_if_any() const {
  if (!problems_.empty()) throw InputError(file_, problems_);
}

}  // namespace vmemsim::core
