// Runs a tests/kernel pattern on the model and prints what its PAGEMAP_SCAN reports for every
// page at every Scan: the model half of the kernel differential test, with the command line
// and output of kernel_runner.cpp (README.md in this directory).
//   model_runner gen SEED PAGES anon|shmem async|sync [options]   run generate(SEED, PAGES, ...)
//   model_runner file PATTERN|- [options]                         run a pattern file
// Options:
//   --trace           after every op print "# op <i>: <op> -> ok" and a full scan ("after <i>: ...")
//   --check-wpasync   set PM_SCAN_CHECK_WPASYNC on every ScanWpMatching (also for sync WP)
//   --no-invariants   skip check_invariants() after every op
// stdout: the ScanDump text of pattern.hpp; stderr: "# wp faults handled: N, other uffd
// messages: M" as the kernel runner prints it, and the error if the model failed.
// Exit: 0 done, 1 the model failed (an op errored, an access did not resolve, an invariant
// broke), 2 usage or a bad pattern.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "model_replay.hpp"

namespace kd = vmemsim::kdiff;

namespace {

int usage() {
  std::cerr << "usage: model_runner gen SEED PAGES anon|shmem async|sync [options]\n"
               "       model_runner file PATTERN|- [options]\n"
               "options: --trace --check-wpasync --no-invariants\n";
  return 2;
}

std::string after_line(std::size_t i, const std::vector<std::uint32_t>& cats) {
  const std::string line = kd::to_text(kd::ScanDump{i, false, cats}, 0);
  return "after " + std::to_string(i) + line.substr(line.find(':'));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> a(argv + 1, argv + argc);
  kd::ModelOptions o;
  std::vector<std::string> pos;
  for (const auto& s : a) {
    if (s == "--trace") o.trace = true;
    else if (s == "--check-wpasync") o.check_wpasync = true;
    else if (s == "--no-invariants") o.invariants = false;
    else if (s.rfind("--", 0) == 0) return usage();
    else pos.push_back(s);
  }
  if (pos.empty()) return usage();
  kd::Pattern p;
  try {
    std::optional<kd::Pattern> parsed;
    if (pos[0] != "print") parsed = kd::pattern_from_args(pos);
    if (!parsed) return usage();
    p = std::move(*parsed);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }

  const kd::ModelRun r = kd::run_model(p, o);
  const std::string header = kd::to_text(p);
  std::cout << "# " << header.substr(0, header.find('\n')) << "\n";
  if (o.trace) {
    std::size_t d = 0;
    for (std::size_t i = 0; i < r.after.size(); ++i) {
      const kd::Op& op = p.ops[i];
      std::cout << "# op " << i << ": " << kd::to_text(op) << " -> ok\n";
      if (op.kind == kd::Op::Scan || op.kind == kd::Op::ScanWpMatching) {
        for (; d < r.dumps.size() && r.dumps[d].op == i; ++d) std::cout << kd::to_text(r.dumps[d], d) << "\n";
      } else {
        std::cout << after_line(i, r.after[i]) << "\n";
      }
    }
    if (!r.ok() && r.error_op < p.ops.size())
      std::cout << "# op " << r.error_op << ": " << kd::to_text(p.ops[r.error_op]) << " -> " << r.error << "\n";
  } else {
    std::cout << kd::to_text(r.dumps);
  }
  std::cerr << "# wp faults handled: " << r.stats.wp_messages << ", other uffd messages: " << r.stats.other_messages
            << "\n";
  if (!r.ok()) {
    if (r.error_op < p.ops.size())
      std::cerr << "FAIL: op " << r.error_op << " (" << kd::to_text(p.ops[r.error_op]) << "): " << r.error << "\n";
    else
      std::cerr << "FAIL: " << r.error << "\n";
    return 1;
  }
  return 0;
}
