#include "io/zip_check.h"

#include <algorithm>
#include <cstdint>

#include "ddim/errors.h"

namespace ddim::detail {
namespace {

// Little-endian fields at an offset the caller has checked.
uint64_t le(const std::string& b, uint64_t at, int bytes) {
  uint64_t value = 0;
  for (int i = bytes - 1; i >= 0; --i) value = (value << 8) | static_cast<unsigned char>(b[at + i]);
  return value;
}

constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kEndOfCentralDirectory = 0x06054b50;
constexpr uint32_t kZip64End = 0x06064b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kMax32 = 0xFFFFFFFF;

// LibTorch's unpickler reserves whatever a length field or memo index says before reading: walk
// the opcodes of the pickle in bytes[begin, begin + size) and refuse any argument that runs past
// its end, a memo index beyond the next one, and any opcode that is not pickle's. Opcodes and their arguments as
// Python's pickletools lists them.
template <class Fail>
void check_pickle(const std::string& bytes, uint64_t begin, uint64_t size, const Fail& fail) {
  const uint64_t end = begin + size;
  uint64_t at = begin;
  const auto need = [&](uint64_t n) {
    if (end - at < n) fail("a pickle argument of " + std::to_string(n) + " bytes past the end of data.pkl");
  };
  // Memo indices: the unpickler sizes its memo table by the index it is given, and a pickler
  // numbers its entries 0, 1, 2, ... (re-puts allowed): an index past the next one is refused.
  uint64_t puts = 0;
  const auto memo = [&](uint64_t index) {
    if (index > puts)
      fail("a pickle memo index " + std::to_string(index) + " after " + std::to_string(puts) + " entries");
    puts = std::max(puts, index + 1);
  };
  const auto line = [&] {
    const auto newline = bytes.find('\n', at);
    if (newline == std::string::npos || newline >= end) fail("a pickle text argument without its newline");
    at = newline + 1;
  };
  while (at < end) {
    const auto op = static_cast<unsigned char>(bytes[at++]);
    switch (op) {
      case '.':  // STOP
        return;
      case '(':
      case '0':
      case '1':
      case '2':
      case 'N':
      case 'R':
      case 'a':
      case 'b':
      case 'd':
      case '}':
      case 'e':
      case 'l':
      case ']':
      case 'o':
      case 's':
      case 't':
      case ')':
      case 'u':
      case 'Q':
      case 0x81:
      case 0x85:
      case 0x86:
      case 0x87:
      case 0x88:
      case 0x89:
      case 0x8f:
      case 0x90:
      case 0x91:
      case 0x92:
      case 0x93:
      case 0x97:
      case 0x98:
        break;
      case 'q':  // BINPUT
        need(1), memo(le(bytes, at, 1)), at += 1;
        break;
      case 'r':  // LONG_BINPUT
        need(4), memo(le(bytes, at, 4)), at += 4;
        break;
      case 0x94:  // MEMOIZE
        memo(puts);
        break;
      case 'K':
      case 'h':
      case 0x80:
      case 0x82:
        need(1), at += 1;
        break;
      case 'M':
      case 0x83:
        need(2), at += 2;
        break;
      case 'J':
      case 'j':
      case 0x84:
        need(4), at += 4;
        break;
      case 'G':
      case 0x95:
        need(8), at += 8;
        break;
      case 'U':
      case 'C':
      case 0x8c:
      case 0x8a: {  // 1-byte length, then the bytes
        need(1);
        const uint64_t n = le(bytes, at, 1);
        at += 1;
        need(n), at += n;
        break;
      }
      case 'T':
      case 'B':
      case 'X':
      case 0x8b: {  // 4-byte length
        need(4);
        const uint64_t n = le(bytes, at, 4);
        at += 4;
        need(n), at += n;
        break;
      }
      case 0x8d:
      case 0x8e:
      case 0x96: {  // 8-byte length
        need(8);
        const uint64_t n = le(bytes, at, 8);
        at += 8;
        need(n), at += n;
        break;
      }
      case 'c':
      case 'i':  // two text lines
        line(), line();
        break;
      case 'I':
      case 'L':
      case 'F':
      case 'S':
      case 'V':
      case 'P':
      case 'p':
      case 'g':
        line();
        break;
      default:
        fail("an unknown pickle opcode 0x" + [&] {
          const char* hex = "0123456789abcdef";
          return std::string{hex[op >> 4], hex[op & 15]};
        }() + " in data.pkl");
    }
  }
  fail("data.pkl without its STOP opcode");
}

}  // namespace

void check_zip_structure(const std::string& bytes, const std::string& path) {
  const auto fail = [&](const std::string& what) {
    throw IOError("cannot read " + path + " as a tensor file: " + what);
  };
  const uint64_t size = bytes.size();
  if (size < 22 || le(bytes, 0, 4) != kLocalHeader) fail("neither torch.save's zip format nor safetensors");
  // The end-of-central-directory record: the last 22 bytes, or earlier by a comment of <= 65535 bytes.
  uint64_t eocd = size - 22;
  const uint64_t lowest = size > 22 + 65535 ? size - 22 - 65535 : 0;
  while (le(bytes, eocd, 4) != kEndOfCentralDirectory) {
    if (eocd == lowest) fail("no end-of-central-directory record");
    --eocd;
  }
  if (eocd + 22 + le(bytes, eocd + 20, 2) != size) fail("data after the end-of-central-directory record");
  if (le(bytes, eocd + 4, 2) != 0 || le(bytes, eocd + 6, 2) != 0) fail("a multi-disk archive");
  uint64_t entries = le(bytes, eocd + 10, 2);
  uint64_t cd_size = le(bytes, eocd + 12, 4);
  uint64_t cd_offset = le(bytes, eocd + 16, 4);
  uint64_t cd_limit = eocd;  // the central directory ends before the end records
  if (eocd >= 20 && le(bytes, eocd - 20, 4) == kZip64Locator) {
    const uint64_t end64 = le(bytes, eocd - 20 + 8, 8);
    if (end64 > eocd - 20 || eocd - 20 - end64 < 56 || le(bytes, end64, 4) != kZip64End) {
      fail("a zip64 end record outside the file");
    }
    entries = le(bytes, end64 + 32, 8);
    cd_size = le(bytes, end64 + 40, 8);
    cd_offset = le(bytes, end64 + 48, 8);
    cd_limit = end64;
  } else if (entries == 0xFFFF || cd_size == kMax32 || cd_offset == kMax32) {
    fail("a zip64 archive without its end record");
  }
  if (cd_offset > cd_limit || cd_size > cd_limit - cd_offset) fail("a central directory outside the file");
  if (entries == 0 || entries > cd_size / 46) fail("an entry count the central directory cannot hold");

  uint64_t at = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < entries; ++i) {
    if (cd_end - at < 46 || le(bytes, at, 4) != kCentralHeader) fail("a damaged central directory");
    const uint64_t method = le(bytes, at + 10, 2);
    uint64_t compressed = le(bytes, at + 20, 4);
    uint64_t uncompressed = le(bytes, at + 24, 4);
    const uint64_t name_len = le(bytes, at + 28, 2);
    const uint64_t extra_len = le(bytes, at + 30, 2);
    const uint64_t comment_len = le(bytes, at + 32, 2);
    uint64_t local = le(bytes, at + 42, 4);
    const uint64_t record = 46 + name_len + extra_len + comment_len;
    if (cd_end - at < record) fail("a central directory entry past its end");
    // zip64 extended information: the 64-bit values of the fields set to 0xFFFFFFFF, in order.
    uint64_t extra = at + 46 + name_len;
    const uint64_t extra_end = extra + extra_len;
    while (extra_end - extra >= 4) {
      const uint64_t id = le(bytes, extra, 2);
      const uint64_t len = le(bytes, extra + 2, 2);
      if (extra_end - extra - 4 < len) fail("a damaged extra field");
      if (id == 0x0001) {
        uint64_t field = extra + 4;
        const uint64_t field_end = field + len;
        for (uint64_t* value : {&uncompressed, &compressed, &local}) {
          if (*value != kMax32) continue;
          if (field_end - field < 8) fail("a damaged zip64 field");
          *value = le(bytes, field, 8);
          field += 8;
        }
      }
      extra += 4 + len;
    }
    if (method != 0) fail("a compressed entry (torch.save stores records uncompressed)");
    if (compressed != uncompressed) fail("an entry whose sizes disagree");
    if (local > cd_offset || cd_offset - local < 30 || le(bytes, local, 4) != kLocalHeader) {
      fail("a local header outside the file");
    }
    const uint64_t local_data = 30 + le(bytes, local + 26, 2) + le(bytes, local + 28, 2);
    if (cd_offset - local < local_data || cd_offset - local - local_data < compressed) {
      fail("an entry of " + std::to_string(compressed) + " bytes past the end of the file's data");
    }
    const std::string name = bytes.substr(at + 46, name_len);
    if (name.size() >= 8 && name.compare(name.size() - 8, 8, "data.pkl") == 0) {
      check_pickle(bytes, local + local_data, compressed, fail);
    }
    at += record;
  }
}

}  // namespace ddim::detail
