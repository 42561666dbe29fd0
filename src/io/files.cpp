#include "ddim/io/files.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
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
  // One temporary name per target, locked while written: a run killed mid-write leaves at most
  // this file, and the next write of the same target (a resumed run) takes it over.
  const auto temp = dir / ("." + path.filename().string() + ".tmp");
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0666);
  if (fd < 0) throw IOError("cannot write " + path.string() + ": " + std::strerror(errno));
  const auto fail = [&](const std::string& why) {
    std::error_code ec;
    std::filesystem::remove(temp, ec);
    ::close(fd);
    throw IOError("cannot write " + path.string() + ": " + why);
  };
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);  // another process's file: left alone
    throw IOError("cannot write " + path.string() + ": another process is writing it (" + temp.string() +
                  " is locked)");
  }
  if (::ftruncate(fd, 0) != 0) fail(std::strerror(errno));
  size_t written = 0;
  while (written < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + written, contents.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) fail(n < 0 ? std::strerror(errno) : "short write");
    written += static_cast<size_t>(n);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) fail(std::strerror(errno));
  ::close(fd);
}

}  // namespace ddim
