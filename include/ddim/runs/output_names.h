#pragma once

// Output names of a run: one name per image from a pattern, and the checks that run before any
// work (a folder that cannot be written, an output that would replace an input or another output).

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "ddim/export.h"

namespace ddim {

// One name per image: an integer conversion in the pattern (img_%03d.png; flags, a width, and d, i
// or u) takes the index; otherwise, with more than one image, _<i> goes before the extension. %% is
// a percent sign. Any other conversion, or more than one, is a UsageError naming the pattern.
DDIM_API std::filesystem::path output_name(const std::string& pattern, int64_t index, int64_t count);
DDIM_API std::vector<std::filesystem::path> output_names(const std::string& pattern, int64_t count);
// The pattern's check alone, before any name is made.
DDIM_API void check_output_pattern(const std::string& pattern);

// Throws IOError naming the first path whose folder is missing or not writable, or which (or whose
// .json sidecar) exists and is not a regular file or a symlink, so that a run fails before its work.
DDIM_API void check_writable(const std::vector<std::filesystem::path>& paths);

// A file a run reads or writes, with the flag that names it ("--latents", "-o").
struct DDIM_API RunPath {
  std::filesystem::path path;
  std::string flag;
};
// Throws UsageError naming both flags and the path when an output is the same file as an input or
// as another output (or as another output's .json sidecar): compared by resolved path, and by
// device and inode where the file exists, so hard links and symlinks are caught.
DDIM_API void check_distinct(const std::vector<RunPath>& inputs, const std::vector<RunPath>& outputs);

}  // namespace ddim
