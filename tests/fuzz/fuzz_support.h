#pragma once

// What every harness checks besides the sanitizers: a bad input may only end in one of ddim's own
// errors (ddim::Error: a one-line message naming the bad value). Anything else escaping, a raw
// LibTorch or standard-library exception included, is a finding and aborts with its message.

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "ddim/errors.h"

namespace ddim::fuzz {

[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "ddim fuzz finding: %s\n", what.c_str());
  std::abort();
}

template <class Body>
void expect_only_ddim_errors(Body&& body) {
  try {
    body();
  } catch (const ddim::Error& e) {
    const std::string message = e.what();
    if (message.empty() || message.find('\n') != std::string::npos) {
      finding("an error message that is not one line: '" + message + "'");
    }
  } catch (const std::exception& e) {
    finding(std::string("an exception that is not a ddim::Error escaped: ") + e.what());
  }
}

// A scratch folder of this process, $TMPDIR/ddim-fuzz-<harness>-<pid>, made on the first call and
// removed when libFuzzer ends the run normally (a crash leaves it beside the artifact). Never
// destroyed, so that the exit handler can still read it. One harness per program: the first name wins.
inline const std::filesystem::path& scratch_dir(const std::string& harness) {
  static const std::filesystem::path* dir = [&] {
    const char* tmp = std::getenv("TMPDIR");
    auto* path = new std::filesystem::path(std::filesystem::path(tmp ? tmp : "/tmp") /
                                           ("ddim-fuzz-" + harness + "-" + std::to_string(getpid())));
    std::filesystem::create_directories(*path);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*dir, ec);
    });
    return path;
  }();
  return *dir;
}

// Replaces `path` with the bytes.
inline void write_bytes(const std::filesystem::path& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) finding("cannot write the scratch file " + path.string());
}

inline void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  write_bytes(path, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

}  // namespace ddim::fuzz
