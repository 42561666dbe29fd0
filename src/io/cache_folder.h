#pragma once

// ddim's cache folder and the keys of its entries: file digests (io/sha256) and unpacked
// AOTInductor packages (models/package_cache) keep one entry per file path, renewed whenever the
// file changes.

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

}  // namespace ddim::detail
