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

}  // namespace ddim
