#pragma once

// AOTInductor packages unpacked once into a cache folder: AOTIModelPackageLoader unpacks a .pt2
// archive into a fresh temporary folder on every load (0.8 s per model for a 300 MB package),
// but loads an unpacked folder in place.

#include <filesystem>
#include <string>

namespace ddim::detail {

// $DDIM_CACHE_DIR, else $XDG_CACHE_HOME/ddim, else $HOME/.cache/ddim; empty when none is set.
std::filesystem::path cache_root();

// "<hash of the absolute path>-<hash of size and modification time>": one file path has one cache
// entry at a time, and any change to the file makes a new one.
std::string entry_key(const std::filesystem::path& file);

// Removes the entries in `folder` of the same file path as `keep` other than `keep` (older versions).
void remove_stale(const std::filesystem::path& folder, const std::string& keep);

// The folder holding `package` unpacked (<cache>/aoti/<key>, the key made of the package's
// absolute path, size and modification time, so a re-exported package gets a new entry and the
// old entry of that path is removed), made on first use through a temporary folder and a rename,
// so concurrent processes never see half of one. <cache> is $DDIM_CACHE_DIR, else $XDG_CACHE_HOME/ddim, else
// $HOME/.cache/ddim. Returns an empty path when no cache folder can be written; the caller then loads the archive
// itself.
std::filesystem::path unpacked_package(const std::filesystem::path& package);

}  // namespace ddim::detail
