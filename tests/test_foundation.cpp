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
