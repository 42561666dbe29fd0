#include "models/package_cache.h"

#include <caffe2/serialize/inline_container.h>
#include <unistd.h>

#include <fstream>
#include <random>
#include <string>
#include <system_error>

#include "io/cache_folder.h"

namespace ddim::detail {

namespace fs = std::filesystem;

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
