// DDIMPipeline and InversionPipeline against diffusers on a tiny exported UNet (the ctest fixture
// tests/make_tiny_fixture.sh makes it and diffusers' reference outputs).
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ddim/ddim.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kFixture = DDIM_TINY_FIXTURE_DIR;

class Reference {
 public:
  static const Reference& get() {
    static const Reference ref;
    return ref;
  }
  const json& doc() const { return doc_; }
  torch::Tensor tensor(const json& entry) const {
    const auto shape = entry.at("shape").get<std::vector<int64_t>>();
    const auto offset = entry.at("offset").get<int64_t>();
    return torch::from_blob(const_cast<char*>(blob_.data()) + offset * 4, shape, torch::kFloat32).clone();
  }

 private:
  Reference() {
    std::ifstream j(kFixture / "ref" / "reference.json");
    doc_ = json::parse(j);
    std::ifstream b(kFixture / "ref" / "reference.bin", std::ios::binary);
    std::ostringstream bytes;
    bytes << b.rdbuf();
    blob_ = bytes.str();
  }
  json doc_;
  std::string blob_;
};

// The options of a reference "generate" case.
ddim::GenerateOptions options_for(const json& c) {
  ddim::GenerateOptions options;
  options.batch_size = c.at("batch_size").get<int64_t>();
  options.eta = c.at("eta").get<double>();
  options.num_inference_steps = c.at("steps").get<int64_t>();
  options.seed = c.at("seed").get<uint64_t>();
  return options;
}

// The fixture's model in each backend, with the largest image difference from diffusers (eager
// float32) each is held to. The trace runs diffusers' own kernels; the AOTInductor package's
// compiled kernels order float sums differently (about 1e-6 per forward), which the random tiny
// model amplifies over a round trip, hence its wider bound.
struct Backend {
  std::string name;
  std::shared_ptr<ddim::UNet> unet;
  double tolerance;
};

std::vector<Backend> backends() {
  const auto model = kFixture / "model";
  return {{"TorchScript", std::make_shared<ddim::TorchScriptUNet>(model, torch::kCPU, torch::kFloat32), 1e-4},
          {"AOTInductor", std::make_shared<ddim::AOTInductorUNet>(model, torch::kCPU, torch::kFloat32), 1e-3}};
}

class Pipelines : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kFixture / "ref" / "reference.json")) {
      GTEST_SKIP() << "no tiny-model fixture at " << kFixture
                   << " (made by the ctest fixture with the pinned diffusers)";
    }
  }
};

TEST_F(Pipelines, GenerateMatchesDiffusersDDIMPipeline) {
  const auto config = ddim::read_scheduler_config(kFixture / "model");
  for (const auto& backend : backends()) {
    ddim::DDIMPipeline pipe(backend.unet, config);
    double worst = 0;
    int64_t pixels = 0;
    int64_t identical = 0;
    for (const auto& c : Reference::get().doc().at("generate")) {
      const auto options = options_for(c);
      const auto result = pipe.generate(options);
      const auto expected = Reference::get().tensor(c.at("images"));
      ASSERT_EQ(result.images.sizes(), expected.sizes());
      const double err = (result.images - expected).abs().max().item<double>();
      worst = std::max(worst, err);
      EXPECT_LE(err, backend.tolerance) << backend.name << " eta " << options.eta << " batch " << options.batch_size;
      const auto a = ddim::images_to_uint8(result.images);
      const auto b = ddim::images_to_uint8(expected);
      pixels += a.numel();
      identical += (a == b).sum().item<int64_t>();
      EXPECT_LE((a.to(torch::kInt32) - b.to(torch::kInt32)).abs().max().item<int>(), 1) << backend.name;
      EXPECT_EQ(result.seed, options.seed);
    }
    std::cout << "[ pipeline ] DDIMPipeline (" << backend.name << ") vs diffusers: worst |difference| " << worst
              << ", identical uint8 values " << identical << " of " << pixels << "\n";
  }
}

TEST_F(Pipelines, InversionMatchesDiffusersLoop) {
  const auto& ref = Reference::get();
  const auto images = ref.tensor(ref.doc().at("input_images"));
  const auto config = ddim::read_scheduler_config(kFixture / "model");
  for (const auto& backend : backends()) {
    for (const auto& c : ref.doc().at("invert")) {
      const auto kind =
          c.at("scheduler") == "ddim" ? ddim::InverseScheduler::kDDIM : ddim::InverseScheduler::kDPMSolver;
      ddim::InversionPipeline pipe(backend.unet, config, kind);
      ddim::InvertOptions options;
      options.num_inference_steps = c.at("steps").get<int64_t>();
      const auto latents = pipe.invert(images, options);
      const auto expected = ref.tensor(c.at("latents"));
      const double rel = (latents - expected).abs().max().item<double>() / expected.abs().max().item<double>();
      EXPECT_LE(rel, backend.tolerance) << backend.name << " " << c.at("scheduler") << " "
                                        << options.num_inference_steps << " steps";
      const auto rec = pipe.reconstruct(latents, options, images);
      const double rec_err = (rec.images - ref.tensor(c.at("reconstruction"))).abs().max().item<double>();
      EXPECT_LE(rec_err, backend.tolerance) << backend.name;
      ASSERT_EQ(rec.psnr.size(), 2U);
      std::cout << "[ pipeline ] " << backend.name << ", " << c.at("scheduler").get<std::string>() << " inversion, "
                << options.num_inference_steps << " steps: latents relative error " << rel
                << ", reconstruction |difference| " << rec_err << ", round-trip PSNR " << rec.psnr[0] << " / "
                << rec.psnr[1] << " dB\n";
    }
  }
}

TEST_F(Pipelines, CallbackCancelsTheLoop) {
  auto pipe = ddim::DDIMPipeline::from_pretrained(kFixture / "model");
  ddim::GenerateOptions options;
  options.num_inference_steps = 20;
  options.seed = 1;
  int calls = 0;
  options.callback = [&](int step, int total, const torch::Tensor& latents) {
    ++calls;
    EXPECT_EQ(total, 20);
    EXPECT_EQ(latents.size(0), 1);
    return step < 3;
  };
  const auto result = pipe.generate(options);
  EXPECT_TRUE(result.cancelled);
  EXPECT_EQ(result.steps_done, 3);
  EXPECT_EQ(calls, 3);
  EXPECT_FALSE(result.images.defined());
}

TEST_F(Pipelines, GivenLatentsAreUsedAndCheckedForShape) {
  auto pipe = ddim::DDIMPipeline::from_pretrained(kFixture / "model");
  ddim::GenerateOptions options;
  options.num_inference_steps = 5;
  options.seed = 3;
  const auto drawn = pipe.generate(options);
  options.seed.reset();
  options.latents = drawn.initial_latents;
  const auto again = pipe.generate(options);
  EXPECT_TRUE(torch::equal(again.images, drawn.images));
  options.latents = torch::zeros({1, 3, 8, 8});
  try {
    pipe.generate(options);
    ADD_FAILURE() << "wrong-shape latents accepted";
  } catch (const ddim::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("[1, 3, 8, 8]"), std::string::npos) << e.what();
  }
}

TEST_F(Pipelines, RefusesAnotherDtypeThanExported) {
  try {
    ddim::DDIMPipeline::from_pretrained(kFixture / "model", torch::kCPU, torch::kFloat16);
    ADD_FAILURE() << "a float32 export accepted for float16";
  } catch (const ddim::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--dtype float16"), std::string::npos) << e.what();
  }
}

TEST_F(Pipelines, RefusesMissingOrCorruptModels) {
  EXPECT_THROW(ddim::DDIMPipeline::from_pretrained(kFixture / "no_such_model"), ddim::ConfigError);
  const auto broken = fs::temp_directory_path() / "ddim_broken_model";
  fs::remove_all(broken);
  fs::copy(kFixture / "model", broken, fs::copy_options::recursive);
  std::ofstream(broken / "unet" / "model.pt", std::ios::trunc) << "not a TorchScript file";
  std::ofstream(broken / "unet" / "model.pt2", std::ios::trunc) << "not a package";
  try {
    ddim::DDIMPipeline::from_pretrained(broken);
    ADD_FAILURE() << "a corrupt model.pt and model.pt2 accepted";
  } catch (const ddim::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.pt2"), std::string::npos) << e.what();
  }
  fs::remove(broken / "unet" / "model.pt2");
  try {
    ddim::DDIMPipeline::from_pretrained(broken);
    ADD_FAILURE() << "a corrupt model.pt accepted";
  } catch (const ddim::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("model.pt"), std::string::npos) << e.what();
  }
  fs::remove_all(broken);
}

// A float16 export runs in mixed precision (here on the CPU): the UNet in float16, the latents and
// the scheduler in float32; the images stay near diffusers' float32 images.
TEST_F(Pipelines, Float16ExportRunsInMixedPrecision) {
  const auto half_model = fs::temp_directory_path() / "ddim_tiny_float16";
  const std::string cmd = std::string(DDIM_PYTHON_EXE) + " " + DDIM_SOURCE_DIR + "/scripts/export_unet.py " +
                          (kFixture / "src").string() + " " + half_model.string() +
                          " --dtype float16 --format torchscript --overwrite > /dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto pipe = ddim::DDIMPipeline::from_pretrained(half_model, torch::kCPU, torch::kFloat16);
  EXPECT_EQ(pipe.unet().dtype(), torch::kFloat16);
  double worst = 0;
  for (const auto& c : Reference::get().doc().at("generate")) {
    const auto options = options_for(c);
    const auto result = pipe.generate(options);
    EXPECT_EQ(result.initial_latents.scalar_type(), torch::kFloat32);
    worst = std::max(worst, (result.images - Reference::get().tensor(c.at("images"))).abs().max().item<double>());
  }
  std::cout << "[ pipeline ] float16 export on CPU vs diffusers float32: worst |difference| " << worst << "\n";
  EXPECT_LE(worst, 5e-2);
  fs::remove_all(half_model);
}

// On a GPU: export the tiny model for CUDA and generate there; the noise comes from the CPU
// generator, so the images must match diffusers' CPU run.
TEST_F(Pipelines, GenerateOnCudaMatchesDiffusersOnCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device; this test exports for CUDA and runs there";
  const auto cuda_model = fs::temp_directory_path() / "ddim_tiny_cuda";
  const std::string cmd = std::string(DDIM_PYTHON_EXE) + " " + DDIM_SOURCE_DIR + "/scripts/export_unet.py " +
                          (kFixture / "src").string() + " " + cuda_model.string() +
                          " --format torchscript --device cuda --overwrite";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto pipe = ddim::DDIMPipeline::from_pretrained(cuda_model, torch::Device(torch::kCUDA, 0));
  for (const auto& c : Reference::get().doc().at("generate")) {
    const auto options = options_for(c);
    const auto result = pipe.generate(options);
    const double err = (result.images - Reference::get().tensor(c.at("images"))).abs().max().item<double>();
    std::cout << "[ pipeline ] CUDA eta " << options.eta << " batch " << options.batch_size << ": worst |difference| "
              << err << "\n";
    EXPECT_LE(err, 1e-3);
  }
  fs::remove_all(cuda_model);
}

}  // namespace

// A stand-in model whose output turns NaN at one timestep, as a broken export would.
class NaNAtTimestep : public ddim::UNet {
 public:
  explicit NaNAtTimestep(int64_t bad) : bad_(bad) { config_.sample_height = config_.sample_width = 8; }
  torch::Tensor forward(const torch::Tensor& sample, int64_t timestep) override {
    auto out = torch::zeros_like(sample);
    if (timestep == bad_) out[0][0][0][0] = NAN;
    return out;
  }
  const ddim::UNetConfig& config() const override { return config_; }
  torch::Device device() const override { return torch::kCPU; }
  torch::ScalarType dtype() const override { return torch::kFloat32; }

 private:
  int64_t bad_;
  ddim::UNetConfig config_;
};

TEST(DenoisingLoop, NamesTheFirstStepWithANonFiniteSample) {
  // 10 leading steps over 1000: 900, 800, ..., 0; the 4th is 600.
  ddim::DDIMPipeline pipe(std::make_shared<NaNAtTimestep>(600), ddim::DDIMScheduler());
  ddim::GenerateOptions options;
  options.num_inference_steps = 10;
  options.seed = 0;
  try {
    pipe.generate(options);
    ADD_FAILURE() << "a NaN sample was returned as an image";
  } catch (const ddim::SchedulerError& e) {
    EXPECT_NE(std::string(e.what()).find("step 4 of 10 (timestep 600)"), std::string::npos) << e.what();
  }
  // The same model without the NaN step runs through.
  ddim::DDIMPipeline fine(std::make_shared<NaNAtTimestep>(-1), ddim::DDIMScheduler());
  EXPECT_TRUE(torch::isfinite(fine.generate(options).images).all().item<bool>());
}
