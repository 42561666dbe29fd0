#include "models/package_cache.h"

#include <caffe2/serialize/inline_container.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <iomanip>
#include <random>
#include <sstream>
#include <string>
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

std::string entry_key(const fs::path& package) {
  std::error_code ec;
  const auto absolute = fs::absolute(package, ec).lexically_normal().string();
  const auto size = fs::file_size(package, ec);
  const auto mtime = fs::last_write_time(package, ec).time_since_epoch().count();
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

namespace {

// Writes every record of the archive under dir/model/ (the archive's own top folder).
void unpack(const fs::path& package, const fs::path& dir) {
  caffe2::serialize::PyTorchStreamReader reader(package.string());
  for (const auto& name : reader.getAllRecords()) {
    const auto path = dir / "model" / name;
    fs::create_directories(path.parent_path());
    const auto [data, size] = reader.getRecord(name);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(static_cast<const char*>(data.get()), static_cast<std::streamsize>(size));
    if (!out) throw std::runtime_error("cannot write " + path.string());
  }
}

}  // namespace

fs::path unpacked_package(const fs::path& package) {
  const auto root = cache_root();
  if (root.empty()) return {};
  const auto key = entry_key(package);
  const auto entry = root / "aoti" / key;
  std::error_code ec;
  if (fs::is_directory(entry / "model", ec)) return entry;
  std::random_device random;
  const auto tmp = root / "aoti" / (".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
  try {
    fs::create_directories(tmp);
    unpack(package, tmp);
    fs::rename(tmp, entry, ec);  // fails when another process made the entry first: use theirs
  } catch (const std::exception&) {
    fs::remove_all(tmp, ec);
    return {};
  }
  fs::remove_all(tmp, ec);
  remove_stale(root / "aoti", key);
  return fs::is_directory(entry / "model", ec) ? entry : fs::path();
}

}  // namespace ddim::detail
