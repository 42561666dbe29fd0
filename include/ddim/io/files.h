#pragma once

// Whole files in and out: read in one piece, written through a temporary file and a rename so
// that a reader never sees half a file.

#include <filesystem>
#include <string>

#include "ddim/export.h"

namespace ddim {

// The bytes of a file. Throws IOError naming the file when it is missing or unreadable.
DDIM_API std::string read_file(const std::filesystem::path& path);

// Throws IOError naming `path` when it exists and is not a regular file or a symlink (a folder, a
// device such as /dev/full, a FIFO, a socket): outputs never replace those. A symlink is replaced
// by the new file; the file it pointed to is left as it was.
DDIM_API void check_replaceable(const std::filesystem::path& path);

// Writes `contents` to .<name>.tmp in the same folder (locked while written, so two processes never
// write one target at once: the second gets an IOError), then renames it over `path`. A process
// killed mid-write leaves only that file, which the next write of `path` takes over. Throws
// IOError naming the file (and removes the temporary file) when any of it fails, or when `path`
// is not replaceable (check_replaceable).
DDIM_API void write_file_atomically(const std::filesystem::path& path, const std::string& contents);

}  // namespace ddim
