#pragma once

// AOTInductor packages unpacked once into a cache folder: AOTIModelPackageLoader unpacks a .pt2
// archive into a fresh temporary folder on every load (0.8 s per model for a 300 MB package),
// but loads an unpacked folder in place.

#include <filesystem>
#include <string>

namespace ddim::detail {

// The folder holding `package` unpacked (<cache>/aoti/<key>, the key made of the package's
// absolute path, size and modification time, so a re-exported package gets a new entry and the
// old entry of that path is removed), made on first use through a temporary folder and a rename,
// so concurrent processes never see half of one. <cache> is $DDIM_CACHE_DIR, else $XDG_CACHE_HOME/ddim, else
// $HOME/.cache/ddim. Returns an empty path when no cache folder can be written; the caller then loads the archive
// itself.
std::filesystem::path unpacked_package(const std::filesystem::path& package);

}  // namespace ddim::detail
