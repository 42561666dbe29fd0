#pragma once

// SHA-256 (FIPS 180-4) of bytes and of files: how a sidecar names the exact UNet file that ran.

#include <filesystem>
#include <string>

#include "ddim/export.h"

namespace ddim {

// The digest of `bytes` as 64 lowercase hex digits.
DDIM_API std::string sha256_hex(const std::string& bytes);

// The digest of a file's contents, read in pieces (a model file need not fit in memory twice).
// Throws IOError naming the file when it is missing or unreadable.
DDIM_API std::string file_sha256(const std::filesystem::path& path);

// file_sha256, remembered in <cache>/sha256/<key> (the cache folder and key of unpacked AOTInductor
// packages: $DDIM_CACHE_DIR, else $XDG_CACHE_HOME/ddim, else ~/.cache/ddim; the key made of the
// file's absolute path, size and modification time), so a sidecar names a 300 MB package without
// reading all of it on every start. A changed file gets a new entry and the old one is removed;
// with no writable cache folder the digest is computed each time. Throws as file_sha256 does.
DDIM_API std::string cached_file_sha256(const std::filesystem::path& path);

}  // namespace ddim
