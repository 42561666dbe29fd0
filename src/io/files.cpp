#include "ddim/io/files.h"

#include <fstream>
#include <random>
#include <sstream>

#include "ddim/errors.h"

namespace ddim {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IOError("cannot read " + path.string() + ": no such file or not readable");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw IOError("cannot read " + path.string());
  return text.str();
}

void check_replaceable(const std::filesystem::path& path) {
  std::error_code ec;
  // symlink_status: a link is judged as a link (the rename replaces the link, not its target).
  const auto status = std::filesystem::symlink_status(path, ec);
  if (ec || !std::filesystem::exists(status)) return;
  if (std::filesystem::is_regular_file(status) || std::filesystem::is_symlink(status)) return;
  const char* kind = std::filesystem::is_directory(status)        ? "a folder"
                     : std::filesystem::is_fifo(status)           ? "a FIFO"
                     : std::filesystem::is_socket(status)         ? "a socket"
                     : std::filesystem::is_character_file(status) ? "a character device"
                     : std::filesystem::is_block_file(status)     ? "a block device"
                                                                  : "not a regular file";
  throw IOError("cannot write " + path.string() + ": it exists and is " + kind + "; only regular files are replaced");
}

void write_file_atomically(const std::filesystem::path& path, const std::string& contents) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  if (!std::filesystem::is_directory(dir))
    throw IOError("cannot write " + path.string() + ": no folder " + dir.string());
  check_replaceable(path);
  const auto temp = dir / ("." + path.filename().string() + ".tmp-" + std::to_string(std::random_device{}()));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    if (!out) throw IOError("cannot write " + path.string() + ": the folder is not writable");
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();
    if (!out) {
      std::error_code ec;
      std::filesystem::remove(temp, ec);
      throw IOError("cannot write " + path.string());
    }
  }
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::filesystem::remove(temp, ec);
    throw IOError("cannot write " + path.string() + ": " + ec.message());
  }
}

}  // namespace ddim
