#include "ddim/runs/output_names.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <map>

#include "ddim/errors.h"
#include "ddim/io/files.h"

namespace ddim {
namespace {

// The one integer conversion of an output pattern: its position and length, or npos when there is
// none; '%%' is a literal percent sign. Anything else after a '%' is a UsageError naming the pattern.
std::pair<size_t, size_t> find_conversion(const std::string& pattern) {
  const auto refuse = [&](const std::string& why) -> void {
    throw UsageError("output name pattern '" + one_line(pattern) + "': " + one_line(why) +
                     " (use one integer conversion such as %d or %03d, and %% for a percent sign)");
  };
  std::pair<size_t, size_t> found{std::string::npos, 0};
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') continue;
    if (i + 1 < pattern.size() && pattern[i + 1] == '%') {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < pattern.size() && std::string("-+ 0#").find(pattern[j]) != std::string::npos) ++j;
    const size_t width_start = j;
    while (j < pattern.size() && std::isdigit(static_cast<unsigned char>(pattern[j]))) ++j;
    if (j - width_start > 3) refuse("a field width over 999");
    if (j >= pattern.size() || std::string("diu").find(pattern[j]) == std::string::npos) {
      refuse("'" + pattern.substr(i, j + 1 - i) + "' is not an integer conversion");
    }
    if (found.first != std::string::npos) refuse("more than one conversion");
    found = {i, j + 1 - i};
    i = j;
  }
  return found;
}

// printf with one int conversion, without handing the pattern to printf: only the checked
// conversion is formatted; the rest is copied, with %% as %.
std::string expand(const std::string& pattern, std::pair<size_t, size_t> conversion, int64_t index) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (i == conversion.first) {
      std::string spec = pattern.substr(i, conversion.second);
      spec.back() = 'd';  // %u of a non-negative index prints as %d
      char buf[1100];
      std::snprintf(buf, sizeof buf, spec.c_str(), static_cast<int>(index));
      out += buf;
      i += conversion.second - 1;
    } else if (pattern[i] == '%') {
      out += '%';
      ++i;  // the second % of %%
    } else {
      out += pattern[i];
    }
  }
  return out;
}

// What a path leads to: the device and inode of the file when it exists (hard links and symlinks
// lead to the same), else its absolute, normalized form with symlinks resolved as far as they exist.
std::string identity(const std::filesystem::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    return "inode " + std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  }
  std::error_code ec;
  auto resolved = std::filesystem::weakly_canonical(std::filesystem::absolute(path, ec), ec);
  if (ec) resolved = std::filesystem::absolute(path).lexically_normal();
  return "path " + resolved.string();
}

}  // namespace

void check_output_pattern(const std::string& pattern) { find_conversion(pattern); }

std::filesystem::path output_name(const std::string& pattern, int64_t index, int64_t count) {
  const auto conversion = find_conversion(pattern);
  if (conversion.first != std::string::npos) return expand(pattern, conversion, index);
  const std::filesystem::path p(expand(pattern, conversion, 0));  // %% -> %
  if (count == 1) return p;
  return p.parent_path() / (p.stem().string() + "_" + std::to_string(index) + p.extension().string());
}

std::vector<std::filesystem::path> output_names(const std::string& pattern, int64_t count) {
  std::vector<std::filesystem::path> names;
  for (int64_t i = 0; i < count; ++i) names.push_back(output_name(pattern, i, count));
  return names;
}

void check_writable(const std::vector<std::filesystem::path>& paths) {
  for (const auto& path : paths) {
    const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    if (!std::filesystem::is_directory(dir) || access(dir.c_str(), W_OK) != 0) {
      throw IOError("cannot write " + path.string() + ": folder " + dir.string() + " is missing or not writable");
    }
    // The output and its sidecar: never a device, a FIFO, a socket or a folder.
    check_replaceable(path);
    check_replaceable(path.string() + ".json");
  }
}

void check_distinct(const std::vector<RunPath>& inputs, const std::vector<RunPath>& outputs) {
  const auto named = [](const RunPath& p) { return p.flag + " " + one_line(p.path.string()); };
  std::map<std::string, RunPath> read;
  for (const auto& in : inputs) read.emplace(identity(in.path), in);
  // Every output stands for two files: itself and its sidecar.
  std::map<std::string, RunPath> written;
  for (const auto& out : outputs) {
    for (const RunPath& file : {out, RunPath{out.path.string() + ".json", out.flag + "'s sidecar"}}) {
      const auto id = identity(file.path);
      if (const auto in = read.find(id); in != read.end()) {
        throw UsageError(named(file) + " is the input " + named(in->second) + ": an output never replaces an input");
      }
      if (const auto [other, fresh] = written.emplace(id, file); !fresh) {
        throw UsageError(named(other->second) + " and " + named(file) +
                         " are the same file: each output needs its own");
      }
    }
  }
}

}  // namespace ddim
