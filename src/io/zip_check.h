#pragma once

// The structure of a torch.save file (a zip archive of stored records) checked before any of it
// reaches LibTorch's reader, which trusts the archive's offsets and sizes: crafted files made it
// read out of bounds and allocate gigabytes from a kilobyte.

#include <string>

namespace ddim::detail {

// Throws IOError naming `path` unless `bytes` is a zip archive whose end-of-central-directory
// records (zip64 included), central directory and local headers all lie within the file, with
// every record stored uncompressed (as torch.save writes them) and its size within the file.
void check_zip_structure(const std::string& bytes, const std::string& path);

}  // namespace ddim::detail
