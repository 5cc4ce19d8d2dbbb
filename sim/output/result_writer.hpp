// Writing results atomically: a temp file in the target directory, then rename(2), so a
// crashed or interrupted run never leaves a half-written result.json behind.
#pragma once
#include <string>

#include "sim/core/params.hpp"

namespace vmemsim::output {

// Writes `text` to `path` via `path.tmp.<pid>` + rename. Creates parent directories.
void write_file_atomic(const std::string& path, const std::string& text);

// results/<name>/<run id> where the run id is a stable hash of the resolved scenario.
std::string default_run_dir(const std::string& results_root, const std::string& name, const core::Json& resolved);

}  // namespace vmemsim::output
