#pragma once
// A check shared by the test suites: `run` must throw E with `part` in its message.

#include <gtest/gtest.h>

#include <functional>
#include <string>

namespace ddim::test {

template <typename E>
void expect_refused(const std::function<void()>& run, const std::string& part) {
  try {
    run();
    ADD_FAILURE() << "not refused: " << part;
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

}  // namespace ddim::test
