#include "io/cache_folder.h"

#include <cstdlib>
#include <functional>
#include <iomanip>
#include <sstream>
#include <system_error>

namespace ddim::detail {

namespace fs = std::filesystem;

fs::path cache_root() {
  if (const char* dir = std::getenv("DDIM_CACHE_DIR"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return fs::path(xdg) / "ddim";
  if (const char* home = std::getenv("HOME"); home && *home) return fs::path(home) / ".cache" / "ddim";
  return {};
}

namespace {

std::string hex(size_t value) {
  std::ostringstream out;
  out << std::hex << std::setw(16) << std::setfill('0') << value;
  return out.str();
}

}  // namespace

std::string entry_key(const fs::path& file) {
  std::error_code ec;
  const auto absolute = fs::absolute(file, ec).lexically_normal().string();
  const auto size = fs::file_size(file, ec);
  const auto mtime = fs::last_write_time(file, ec).time_since_epoch().count();
  return hex(std::hash<std::string>{}(absolute)) + "-" +
         hex(std::hash<std::string>{}(std::to_string(size) + '\n' + std::to_string(mtime)));
}

void remove_stale(const fs::path& folder, const std::string& keep) {
  std::error_code ec;
  const auto prefix = keep.substr(0, keep.find('-') + 1);
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const auto name = it->path().filename().string();
    if (name != keep && name.rfind(prefix, 0) == 0) fs::remove_all(it->path(), ec);
  }
}

}  // namespace ddim::detail
