// The build links a working LibTorch: a tensor op gives the right numbers on CPU, and on CUDA when
// a GPU is present.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <torch/torch.h>
#include <unistd.h>

#include <filesystem>
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
