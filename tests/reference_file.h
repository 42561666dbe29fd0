#pragma once

// The references a scripts/*_reference.py writes into a fixture's ref/ folder: reference.json (the
// cases) and reference.safetensors (their tensors), read once per test program.

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ddim/ddim.h"

namespace ddim::test {

struct ReferenceFile {
  nlohmann::json doc;
  ddim::NamedTensors tensors;
};

inline ReferenceFile read_reference(const std::filesystem::path& ref_dir) {
  ReferenceFile r;
  std::ifstream in(ref_dir / "reference.json");
  r.doc = nlohmann::json::parse(in);
  r.tensors = ddim::load_tensors(ref_dir / "reference.safetensors");
  return r;
}

}  // namespace ddim::test
