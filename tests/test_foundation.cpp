// The build links a working LibTorch: a tensor op gives the right numbers on CPU, and on CUDA when
// a GPU is present.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "ddim/ddim.h"

namespace {

void check_matmul_on(const torch::Device& device) {
  // [[0,1,2],[3,4,5]] @ [[0,1],[2,3],[4,5]] = [[10,13],[28,40]]
  auto a = torch::arange(6, torch::dtype(torch::kFloat32).device(device)).reshape({2, 3});
  auto b = torch::arange(6, torch::dtype(torch::kFloat32).device(device)).reshape({3, 2});
  auto c = torch::matmul(a, b);
  EXPECT_EQ(c.device(), device);
  auto expected = torch::tensor({10.0f, 13.0f, 28.0f, 40.0f}).reshape({2, 2});
  EXPECT_TRUE(torch::equal(c.cpu(), expected)) << c;
}

TEST(Foundation, VersionMatchesProject) {
  EXPECT_EQ(ddim::version(), DDIM_EXPECTED_VERSION);
  EXPECT_NE(ddim::build_info().find(DDIM_EXPECTED_VERSION), std::string::npos) << ddim::build_info();
}

TEST(Foundation, LibTorchOpOnCpu) { check_matmul_on(torch::kCPU); }

TEST(Foundation, LibTorchOpOnCuda) {
  if (!torch::cuda::is_available()) {
    GTEST_SKIP() << "no CUDA device visible to LibTorch; the CUDA check runs on a machine with a GPU";
  }
  check_matmul_on(torch::Device(torch::kCUDA, 0));
}

}  // namespace

TEST(Foundation, AtomicWritesReplaceFilesButNeverFoldersOrFifos) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("ddim_files_" + std::to_string(::getpid()));
  fs::create_directories(dir / "folder.png");
  ASSERT_EQ(::mkfifo((dir / "fifo.png").c_str(), 0600), 0);
  ddim::write_file_atomically(dir / "file.txt", "one");
  ddim::write_file_atomically(dir / "file.txt", "two");
  EXPECT_EQ(ddim::read_file(dir / "file.txt"), "two");
  for (const char* name : {"folder.png", "fifo.png"}) {
    try {
      ddim::write_file_atomically(dir / name, "x");
      ADD_FAILURE() << name << " was replaced";
    } catch (const ddim::IOError& e) {
      EXPECT_NE(std::string(e.what()).find("only regular files are replaced"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(fs::is_directory(dir / "folder.png"));
  EXPECT_TRUE(fs::is_fifo(dir / "fifo.png"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 3);  // no temporary left
  fs::remove_all(dir);
}

namespace {

const std::filesystem::path kImages = std::filesystem::path(DDIM_TEST_DATA_DIR) / "images";

std::string read_error(const std::filesystem::path& path) {
  try {
    ddim::read_image(path);
  } catch (const ddim::IOError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// Inputs that crashed or exhausted an earlier decoder (stb_image), kept as regression cases: each is
// one IOError naming the file.
TEST(Images, HostileFilesAreRefusedWithOneLine) {
  for (const auto* name : {"stb1291_huffman_table.jpg", "claims_65535x65535.png", "truncated.jpg", "cmyk.jpg"}) {
    const auto error = read_error(kImages / name);
    EXPECT_NE(error.find(name), std::string::npos) << name << ": " << error;
    EXPECT_EQ(error.find('\n'), std::string::npos) << name << ": " << error;
  }
  EXPECT_NE(read_error(kImages / "claims_65535x65535.png").find("65535x65535"), std::string::npos);
}

TEST(Images, OnlyPngAndJpegAreRead) {
  const auto path = std::filesystem::temp_directory_path() / "ddim_test_image.bmp";
  {
    std::ofstream out(path, std::ios::binary);
    out << "BM" << std::string(60, '\0');
  }
  EXPECT_NE(read_error(path).find("not a PNG or JPEG"), std::string::npos) << read_error(path);
  std::filesystem::remove(path);
}

// write_png then read_image gives the pixels back, for every channel count.
TEST(Images, PngRoundTripsEveryChannelCount) {
  const auto path = std::filesystem::temp_directory_path() / "ddim_test_roundtrip.png";
  for (const int64_t channels : {1, 2, 3, 4}) {
    const auto pixels = torch::arange(5 * 7 * channels, torch::kInt64).remainder(256).to(torch::kUInt8);
    const auto image = pixels.reshape({5, 7, channels});
    ddim::write_png(path, image);
    const auto back = ddim::read_image(path);
    ASSERT_EQ(back.sizes(), image.sizes()) << channels << " channels";
    EXPECT_TRUE(torch::equal(ddim::images_to_uint8(back), image)) << channels << " channels";
  }
  std::filesystem::remove(path);
  // A cap below the image's size refuses it before decoding.
  ddim::write_png(path, torch::zeros({4, 4, 3}, torch::kUInt8));
  EXPECT_THROW(ddim::read_image(path, 15), ddim::IOError);
  EXPECT_NO_THROW(ddim::read_image(path, 16));
  std::filesystem::remove(path);
}

namespace {

std::string file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void put_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

void put_u64(std::string& bytes, size_t at, uint64_t value) {
  for (int i = 0; i < 8; ++i) bytes[at + i] = static_cast<char>((value >> (8 * i)) & 0xFF);
}

// The message load_tensor (one tensor) or load_tensors (a dict of named tensors) refuses a file with.
std::string load_error(const std::filesystem::path& path, bool named = false) {
  try {
    if (named) {
      ddim::load_tensors(path);
    } else {
      ddim::load_tensor(path);
    }
  } catch (const ddim::IOError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

// FIPS 180-2's SHA-256 examples (appendix B): one block, two blocks (the 56-byte message whose
// padding needs a second block), and a million 'a's; a file hashes as its bytes do, across the
// 1 MiB pieces it is read in.
TEST(Sha256, StandardExamplesAndFiles) {
  EXPECT_EQ(ddim::sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(ddim::sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(ddim::sha256_hex(std::string(1000000, 'a')),
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  EXPECT_EQ(ddim::sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const auto path = std::filesystem::temp_directory_path() / "ddim_test_sha256.bin";
  std::string bytes;
  for (uint32_t i = 0; i < 2500000; ++i) bytes += static_cast<char>((i * 7919u) % 251u);
  ddim::write_file_atomically(path, bytes);
  EXPECT_EQ(ddim::file_sha256(path), ddim::sha256_hex(bytes));
  std::filesystem::remove(path);
  EXPECT_THROW(ddim::file_sha256(path), ddim::IOError);
}

// A model file's digest is remembered by path, size and modification time: read back while the
// file is unchanged (a planted entry proves the cache answers), made again when it changed, with
// one entry per path.
TEST(Sha256, CachedDigestFollowsTheFile) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() / ("ddim_sha_cache_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ASSERT_EQ(::setenv("DDIM_CACHE_DIR", (dir / "cache").c_str(), 1), 0);
  const auto path = dir / "model.pt2";
  fs::create_directories(dir);
  ddim::write_file_atomically(path, "first version");
  const auto entries = [&] {
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(dir / "cache" / "sha256")) found.push_back(e.path());
    return found;
  };
  EXPECT_EQ(ddim::cached_file_sha256(path), ddim::sha256_hex("first version"));
  ASSERT_EQ(entries().size(), 1u);
  const auto planted = std::string(64, 'a');
  ddim::write_file_atomically(entries()[0], planted + "\n");
  EXPECT_EQ(ddim::cached_file_sha256(path), planted);  // unchanged file: the entry answers
  ddim::write_file_atomically(path, "second, longer version");
  EXPECT_EQ(ddim::cached_file_sha256(path), ddim::sha256_hex("second, longer version"));
  ASSERT_EQ(entries().size(), 1u);  // the first version's entry is gone
  ddim::write_file_atomically(entries()[0], "not a digest\n");
  EXPECT_EQ(ddim::cached_file_sha256(path), ddim::sha256_hex("second, longer version"));
  fs::remove(path);
  EXPECT_THROW(ddim::cached_file_sha256(path), ddim::IOError);
  fs::remove_all(dir);
}

TEST(TensorFiles, BothFormatsRoundTrip) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto x = torch::randn({2, 3, 4, 5});
  for (const auto* name : {"ddim_test_latents.pt", "ddim_test_latents.safetensors"}) {
    ddim::save_tensor(dir / name, x);
    EXPECT_TRUE(torch::equal(ddim::load_tensor(dir / name), x)) << name;
    std::filesystem::remove(dir / name);
  }
  ddim::save_tensor(dir / "ddim_test_latents.safetensors", x.to(torch::kBFloat16));
  EXPECT_EQ(ddim::load_tensor(dir / "ddim_test_latents.safetensors").scalar_type(), torch::kBFloat16);
  std::filesystem::remove(dir / "ddim_test_latents.safetensors");
}

// Named tensors (the latents files of EDICT and BDIA) in both formats; a single tensor reads back
// under "latents", and load_tensor refuses a file of several.
TEST(TensorFiles, NamedTensorsRoundTrip) {
  const auto dir = std::filesystem::temp_directory_path();
  const ddim::NamedTensors tensors = {{"latents", torch::randn({2, 3, 4, 5})},
                                      {"edict_y", torch::randn({2, 3, 4, 5}, torch::kFloat64)},
                                      {"edict_p", torch::tensor(0.93, torch::kFloat64)}};
  for (const auto* name : {"ddim_test_named.pt", "ddim_test_named.safetensors"}) {
    ddim::save_tensors(dir / name, tensors);
    const auto back = ddim::load_tensors(dir / name);
    ASSERT_EQ(back.size(), tensors.size()) << name;
    for (const auto& [key, tensor] : tensors) {
      ASSERT_EQ(back.count(key), 1u) << name << " " << key;
      EXPECT_TRUE(torch::equal(back.at(key), tensor)) << name << " " << key;
      EXPECT_EQ(back.at(key).scalar_type(), tensor.scalar_type()) << name << " " << key;
    }
    EXPECT_NE(load_error(dir / name)
                  .find(std::string(name).find(".pt") != std::string::npos ? "single tensor" : "more than one"),
              std::string::npos)
        << name << ": " << load_error(dir / name);
    ddim::save_tensor(dir / name, tensors.at("latents"));
    const auto single = ddim::load_tensors(dir / name);
    ASSERT_EQ(single.size(), 1u);
    EXPECT_TRUE(torch::equal(single.at("latents"), tensors.at("latents"))) << name;
    std::filesystem::remove(dir / name);
  }
}

// Crafted files: each is one IOError before LibTorch's reader sees the bytes.
// A tensor with no values has no storage: reading its empty data must not copy from or to a null
// pointer (found by fuzz_embeds under UBSan; --embeds and --latents read through here).
TEST(TensorFiles, EmptyTensorsRoundTrip) {
  const auto path = std::filesystem::temp_directory_path() / "ddim_test_empty.safetensors";
  ddim::save_tensor(path, torch::zeros({0, 77, 32}));
  const auto back = ddim::load_tensor(path);
  EXPECT_EQ(back.sizes(), (std::vector<int64_t>{0, 77, 32}));
  std::filesystem::remove(path);
}

TEST(TensorFiles, CraftedFilesAreRefused) {
  const auto dir = std::filesystem::temp_directory_path();
  const auto good_st = dir / "ddim_test_good.safetensors";
  const auto good_pt = dir / "ddim_test_good.pt";
  const auto bad = dir / "ddim_test_bad.bin";
  ddim::save_tensor(good_st, torch::zeros({1, 3, 4, 4}));
  ddim::save_tensor(good_pt, torch::zeros({1, 3, 4, 4}));
  const auto st = file_bytes(good_st);
  const auto pt = file_bytes(good_pt);
  const auto expect_refused = [&](const std::string& bytes, const std::string& words, const std::string& what) {
    put_bytes(bad, bytes);
    const auto error = load_error(bad);
    EXPECT_NE(error.find(words), std::string::npos) << what << ": " << error;
  };
  // safetensors: data offsets past the end, a shape the data cannot hold, a truncated file.
  auto mutated = st;
  const auto header = mutated.substr(8, mutated.find('}', 8));
  auto offsets = mutated.find("\"data_offsets\":[0,192]");
  ASSERT_NE(offsets, std::string::npos) << header;
  mutated.replace(offsets, 22, "\"data_offsets\":[0,999]");
  expect_refused(mutated, "past the end", "offsets past the end");
  mutated = st;
  mutated.replace(mutated.find("[1,3,4,4]"), 9, "[9,3,4,4]");
  expect_refused(mutated, "do not hold", "shape larger than the data");
  expect_refused(st.substr(0, st.size() - 10), "past the end", "truncated safetensors");
  // Numbers that are not byte offsets or sizes: a fraction, past double's integers, past int64.
  const auto header_length = static_cast<size_t>(static_cast<unsigned char>(st[0]));  // < 256 for this file
  const auto with_header = [&](const std::string& from, const std::string& to) {
    auto text = st.substr(8, header_length);
    text.replace(text.find(from), from.size(), to);
    std::string out(8, '\0');
    out[0] = static_cast<char>(text.size());
    return out + text + st.substr(8 + header_length);
  };
  for (const std::string end : {"1e128", "192.0", "18446744073709551807"}) {
    expect_refused(with_header("[0,192]", "[0," + end + "]"), "are not two byte offsets", "offset " + end);
  }
  expect_refused(with_header("[1,3,4,4]", "[1,3,4.0,4]"), "a shape entry 4.0 that is not a whole number", "shape");
  // torch.save's zip: truncated, a central directory offset past the end, an entry claiming 1 GB.
  expect_refused(pt.substr(0, pt.size() / 2), "end-of-central-directory", "truncated zip");
  auto zip = pt;
  const auto end64 = zip.rfind(std::string("PK\x06\x06", 4));
  ASSERT_NE(end64, std::string::npos);
  put_u64(zip, end64 + 48, uint64_t{1} << 40);
  expect_refused(zip, "central directory outside", "central directory offset");
  zip = pt;
  const auto central = zip.find(std::string("PK\x01\x02", 4));
  for (const size_t field : {20, 24}) {
    for (int i = 0; i < 4; ++i) zip[central + field + i] = static_cast<char>(((1000000000U) >> (8 * i)) & 0xFF);
  }
  expect_refused(zip, "past the end of the file's data", "entry size");
  expect_refused("not a tensor file at all", "neither", "text");
  // Found by fuzz_latents: well-formed zips whose pickle gives LibTorch's unpickler a memo index of
  // 1.8e9 (a 29 GB table) or a 4 GB string length.
  const std::filesystem::path data = std::filesystem::path(DDIM_TEST_DATA_DIR) / "latents";
  EXPECT_NE(load_error(data / "unpickler_claims_29gb.pt").find("memo index 1819239168"), std::string::npos)
      << load_error(data / "unpickler_claims_29gb.pt");
  EXPECT_NE(load_error(data / "unpickler_claims_4gb.pt").find("past the end of data.pkl"), std::string::npos)
      << load_error(data / "unpickler_claims_4gb.pt");
  // Found by fuzz_latents: a dict of tensors (EDICT's latents) naming LibTorch's int7 type, which
  // its own copies refuse.
  EXPECT_NE(load_error(data / "int7_tensor.pt", true).find("type Int7"), std::string::npos)
      << load_error(data / "int7_tensor.pt", true);
  for (const auto& p : {good_st, good_pt, bad}) std::filesystem::remove(p);
}
