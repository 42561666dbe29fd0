#pragma once

// What every harness checks besides the sanitizers: a bad input may only end in one of ddim's own
// errors (ddim::Error: a one-line message naming the bad value). Anything else escaping, a raw
// LibTorch or standard-library exception included, is a finding and aborts with its message.

#include <cstdio>
#include <cstdlib>
#include <exception>
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

}  // namespace ddim::fuzz
