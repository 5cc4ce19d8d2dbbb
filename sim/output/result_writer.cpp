#include "sim/output/result_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "sim/scenario/scenario.hpp"

namespace vmemsim::output {

void write_file_atomic(const std::string& path, const std::string& text) {
  namespace fs = std::filesystem;
  fs::path p(path);
  if (p.has_parent_path()) fs::create_directories(p.parent_path());
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot write " + tmp + ": " + std::strerror(errno));
  const char* d = text.data();
  std::size_t left = text.size();
  bool ok = true;
  while (ok && left > 0) {
    const ssize_t n = ::write(fd, d, left);
    if (n < 0 && errno == EINTR) continue;
    ok = n > 0;
    if (ok) {
      d += n;
      left -= static_cast<std::size_t>(n);
    }
  }
  // The data reaches the disk before the rename publishes it: after a crash or power loss the
  // name holds either the old file or the whole new one, never an empty or partial one.
  ok = ok && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) {
    std::remove(tmp.c_str());
    throw std::runtime_error("write failed: " + tmp + ": " + std::strerror(err));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error("cannot rename " + tmp + " to " + path);
  }
  // And the rename itself is made durable by syncing the directory that holds the entry.
  const std::string dir = p.has_parent_path() ? p.parent_path().string() : std::string(".");
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

std::string default_run_dir(const std::string& root, const std::string& name, const core::Json& resolved) {
  return root + "/" + name + "/" + scenario::scenario_hash(resolved).substr(0, 12);
}

}  // namespace vmemsim::output
