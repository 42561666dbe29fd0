// The inversion methods of InversionPipeline beyond diffusers' own (fixed-point, EDICT, BDIA):
// exactness in float64 on a smooth nonlinear stand-in model, fixed-point convergence, round trips
// on the tiny exported model in float32, and what they refuse.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "ddim/ddim.h"

namespace {

namespace fs = std::filesystem;

// A nonlinear model in any dtype: a fixed 3x3 convolution through tanh, scaled with the timestep,
// plus a little of the input. Smooth and deterministic, so exactness is down to the arithmetic.
class SmoothModel : public ddim::UNet {
 public:
  explicit SmoothModel(torch::ScalarType dtype) : dtype_(dtype) {
    config_.sample_height = config_.sample_width = 8;
    const auto generator = at::make_generator<at::CPUGeneratorImpl>(7);
    weight_ = at::normal(0.0, 0.3, {3, 3, 3, 3}, generator).to(dtype);
  }
  torch::Tensor forward(const torch::Tensor& sample, int64_t timestep) override {
    const auto x = sample.to(dtype_);
    const double s = 0.5 + static_cast<double>(timestep) / 1000.0;
    return torch::tanh(torch::conv2d(x, weight_, {}, 1, 1) * s) * 0.8 + x * 0.1;
  }
  const ddim::UNetConfig& config() const override { return config_; }
  torch::Device device() const override { return torch::kCPU; }
  torch::ScalarType dtype() const override { return dtype_; }

 private:
  torch::ScalarType dtype_;
  torch::Tensor weight_;
  ddim::UNetConfig config_;
};

ddim::DDIMSchedulerConfig unclipped() {
  ddim::DDIMSchedulerConfig config;
  config.clip_sample = false;
  return config;
}

ddim::InversionPipeline pipeline(std::shared_ptr<ddim::UNet> unet, const ddim::InversionMethod& method,
                                 ddim::DDIMSchedulerConfig config = unclipped()) {
  ddim::DDIMInverseSchedulerConfig inverse_config;
  static_cast<ddim::DDIMBaseConfig&>(inverse_config) = config;
  return ddim::InversionPipeline(std::move(unet), ddim::DDIMInverseScheduler(inverse_config),
                                 ddim::DDIMScheduler(config), method);
}

torch::Tensor test_images(torch::ScalarType dtype) {
  const auto generator = at::make_generator<at::CPUGeneratorImpl>(3);
  return at::rand({2, 8, 8, 3}, generator).to(dtype) * 0.9 + 0.05;
}

// The round trip's last sample before decoding (the callback sees it in the latent dtype), as
// images [B, H, W, C], and the reconstruction's UNet calls.
struct RoundTrip {
  torch::Tensor images;
  ddim::Inversion inversion;
  ddim::Reconstruction reconstruction;
};

RoundTrip round_trip(ddim::InversionPipeline& pipe, const torch::Tensor& images, int64_t steps) {
  ddim::InvertOptions options;
  options.num_inference_steps = steps;
  RoundTrip out;
  out.inversion = pipe.invert_latents(images, options);
  torch::Tensor last;
  options.callback = [&](int, int, const torch::Tensor& sample) {
    last = sample.clone();
    return true;
  };
  out.reconstruction = pipe.reconstruct(out.inversion.latents, options);
  out.images = (last / 2 + 0.5).permute({0, 2, 3, 1});
  return out;
}

double relative_error(const torch::Tensor& a, const torch::Tensor& b) {
  return ((a - b).abs().max() / b.abs().max()).item<double>();
}

double mse(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).pow(2).mean().item<double>();
}

ddim::InversionMethod method(const std::string& name) { return ddim::InversionMethod::from_name(name); }

std::string usage_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const ddim::UsageError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

const fs::path kFixture = DDIM_TINY_FIXTURE_DIR;

}  // namespace

TEST(InversionMethods, EDICTAndBDIARetraceTheirInversionInFloat64) {
  const auto unet = std::make_shared<SmoothModel>(torch::kFloat64);
  const auto images = test_images(torch::kFloat64);
  for (const auto* name : {"edict", "bdia"}) {
    auto pipe = pipeline(unet, method(name));
    for (const int64_t steps : {10, 50}) {
      const auto trip = round_trip(pipe, images, steps);
      const double error = relative_error(trip.images, images);
      std::cout << "[ exact ] " << name << ", " << steps << " steps, float64: relative error " << error << "\n";
      EXPECT_LE(error, 1e-10) << name << " " << steps;
      EXPECT_EQ(trip.inversion.latents.at("latents").scalar_type(), torch::kFloat64);
    }
  }
  // Plain DDIM inversion is not exact on the same model: the bound above is not trivially met.
  auto ddim = pipeline(unet, method("ddim"));
  EXPECT_GT(relative_error(round_trip(ddim, images, 10).images, images), 1e-4);
}

TEST(InversionMethods, LatentsHoldTheCompanionStateAndParameters) {
  const auto unet = std::make_shared<SmoothModel>(torch::kFloat64);
  const auto images = test_images(torch::kFloat64);
  auto edict = method("edict");
  edict.edict_p = 0.9;
  auto pipe = pipeline(unet, edict);
  ddim::InvertOptions options;
  options.num_inference_steps = 10;
  const auto inversion = pipe.invert_latents(images, options);
  ASSERT_EQ(inversion.latents.size(), edict.latents_keys().size());
  EXPECT_EQ(inversion.latents.at("edict_y").sizes(), inversion.latents.at("latents").sizes());
  EXPECT_EQ(inversion.latents.at("edict_p").item<double>(), 0.9);
  EXPECT_EQ(inversion.latents.at("num_inference_steps").item<int64_t>(), 10);
  EXPECT_EQ(inversion.unet_calls, 20);
  EXPECT_EQ(pipe.reconstruct(inversion.latents, options).unet_calls, 20);
  auto bdia = pipeline(unet, method("bdia"));
  const auto b = bdia.invert_latents(images, options);
  EXPECT_EQ(b.unet_calls, 10);
  EXPECT_EQ(b.latents.count("bdia_next"), 1u);
  EXPECT_EQ(bdia.reconstruct(b.latents, options).unet_calls, 9);  // the first step is in the file
  // Without the companion, both sample from the latents as from noise.
  const auto noise = inversion.latents.at("latents");
  EXPECT_EQ(pipe.reconstruct(noise, options).unet_calls, 20);
  EXPECT_EQ(bdia.reconstruct(noise, options).unet_calls, 10);
}

TEST(InversionMethods, FixedPointErrorFallsAsIterationsGrow) {
  const auto unet = std::make_shared<SmoothModel>(torch::kFloat64);
  const auto images = test_images(torch::kFloat64);
  auto plain = pipeline(unet, method("ddim"));
  double previous = mse(round_trip(plain, images, 20).images, images);
  std::cout << "[ fixed-point ] ddim: round-trip MSE " << previous << "\n";
  for (const int64_t k : {1, 2, 4, 8}) {
    auto m = method("fixed-point");
    m.iterations = k;
    m.tolerance = 0;
    auto pipe = pipeline(unet, m);
    const auto trip = round_trip(pipe, images, 20);
    const double error = mse(trip.images, images);
    std::cout << "[ fixed-point ] K = " << k << ": round-trip MSE " << error << ", " << trip.inversion.unet_calls
              << " UNet calls\n";
    EXPECT_LT(error, 0.5 * previous) << "K = " << k;
    EXPECT_EQ(trip.inversion.unet_calls, 20 * (k + 1));
    previous = error;
  }
  // A tolerance stops refining once the step has settled: fewer calls, the same quality.
  auto m = method("fixed-point");
  m.iterations = 50;
  m.tolerance = 1e-12;
  auto pipe = pipeline(unet, m);
  const auto trip = round_trip(pipe, images, 20);
  EXPECT_LT(trip.inversion.unet_calls, 20 * 51);
  EXPECT_LT(mse(trip.images, images), 1e-15);
}

TEST(InversionMethods, FixedPointImprovesDPMSolverToo) {
  const auto unet = std::make_shared<SmoothModel>(torch::kFloat64);
  const auto images = test_images(torch::kFloat64);
  const ddim::DPMSolverMultistepInverseScheduler inverse;
  const ddim::DPMSolverMultistepScheduler forward;
  ddim::InversionPipeline plain(unet, inverse, forward, method("dpmsolver"));
  auto m = method("fixed-point");
  m.scheduler = ddim::InverseScheduler::kDPMSolver;
  ddim::InversionPipeline refined(unet, inverse, forward, m);
  const double before = mse(round_trip(plain, images, 20).images, images);
  const double after = mse(round_trip(refined, images, 20).images, images);
  std::cout << "[ fixed-point ] dpmsolver, 20 steps: round-trip MSE " << before << " -> " << after << "\n";
  // The multistep history keeps DPM-Solver's inverse and forward steps apart: smaller gains.
  EXPECT_LT(after, 0.9 * before);
}

TEST(InversionMethods, ParametersOutOfRangeAreRefused) {
  const auto refused = [](auto change, const std::string& words) {
    const auto error = usage_error([&] {
      auto m = ddim::InversionMethod{};
      change(m);
      m.validate();
    });
    EXPECT_TRUE(contains(error, words)) << words << ": " << error;
  };
  using Kind = ddim::InversionMethod::Kind;
  refused([](auto& m) { m.kind = Kind::kEDICT, m.edict_p = 1; }, "EDICT p 1: must lie in (0, 1)");
  refused([](auto& m) { m.kind = Kind::kEDICT, m.edict_p = 0; }, "EDICT p 0");
  refused([](auto& m) { m.kind = Kind::kBDIA, m.bdia_gamma = 0; }, "BDIA gamma 0: must lie in (0, 1]");
  refused([](auto& m) { m.kind = Kind::kBDIA, m.bdia_gamma = 1.5; }, "BDIA gamma 1.5");
  refused([](auto& m) { m.kind = Kind::kFixedPoint, m.iterations = 0; }, "fixed-point iterations 0: at least 1");
  refused([](auto& m) { m.kind = Kind::kFixedPoint, m.tolerance = -1; }, "fixed-point tolerance -1");
  refused([](auto& m) { m.kind = Kind::kFixedPoint, m.tolerance = NAN; }, "fixed-point tolerance nan");
  EXPECT_TRUE(contains(usage_error([] { method("renoise"); }), "unknown inversion method 'renoise'"));
  const auto unet = std::make_shared<SmoothModel>(torch::kFloat32);
  auto bad = method("edict");
  bad.edict_p = 2;
  EXPECT_TRUE(contains(usage_error([&] { pipeline(unet, bad); }), "EDICT p 2"));
  auto bdia = pipeline(unet, method("bdia"));
  ddim::InvertOptions one;
  one.num_inference_steps = 1;
  EXPECT_TRUE(contains(usage_error([&] { bdia.invert_latents(test_images(torch::kFloat32), one); }),
                       "at least 2 steps, got 1"));
  // EDICT and BDIA run DDIM updates: another forward scheduler is a config error.
  try {
    ddim::InversionPipeline(unet, ddim::DPMSolverMultistepInverseScheduler(), ddim::DPMSolverMultistepScheduler(),
                            method("edict"));
    ADD_FAILURE() << "EDICT accepted a DPM-Solver forward scheduler";
  } catch (const ddim::ConfigError& e) {
    EXPECT_TRUE(contains(e.what(), "must be a DDIMScheduler, not DPMSolverMultistepScheduler")) << e.what();
  }
}

TEST(InversionMethods, LatentsOfOneMethodAreNotDecodedAsAnother) {
  const auto unet = std::make_shared<SmoothModel>(torch::kFloat32);
  const auto images = test_images(torch::kFloat32);
  ddim::InvertOptions options;
  options.num_inference_steps = 5;
  auto edict = pipeline(unet, method("edict"));
  const auto latents = edict.invert_latents(images, options).latents;
  auto bdia = pipeline(unet, method("bdia"));
  EXPECT_TRUE(contains(usage_error([&] { bdia.reconstruct(latents, options); }),
                       "'edict_p' of --method edict; they cannot be decoded with bdia"));
  auto ddim = pipeline(unet, method("ddim"));
  EXPECT_TRUE(contains(usage_error([&] { ddim.reconstruct(latents, options); }), "cannot be decoded with ddim"));
  auto other_p = method("edict");
  other_p.edict_p = 0.8;
  auto edict08 = pipeline(unet, other_p);
  EXPECT_TRUE(contains(usage_error([&] { edict08.reconstruct(latents, options); }), "made with edict_p 0.93, not 0.8"));
  auto more_steps = options;
  more_steps.num_inference_steps = 6;
  EXPECT_TRUE(
      contains(usage_error([&] { edict.reconstruct(latents, more_steps); }), "made with num_inference_steps 5, not 6"));
  auto odd = latents;
  odd["edict_y"] = odd["edict_y"].narrow(3, 0, 4);
  EXPECT_FALSE(usage_error([&] { edict.reconstruct(odd, options); }).empty());
}

TEST(InversionMethods, TheCallbackCancels) {
  const auto unet = std::make_shared<SmoothModel>(torch::kFloat32);
  for (const auto* name : {"fixed-point", "edict", "bdia"}) {
    auto pipe = pipeline(unet, method(name));
    ddim::InvertOptions options;
    options.num_inference_steps = 10;
    int seen = 0;
    options.callback = [&](int step, int total, const torch::Tensor&) {
      EXPECT_EQ(total, 10);
      seen = step;
      return step < 3;
    };
    const auto inversion = pipe.invert_latents(test_images(torch::kFloat32), options);
    EXPECT_TRUE(inversion.cancelled) << name;
    EXPECT_TRUE(inversion.latents.empty()) << name;
    EXPECT_EQ(seen, 3) << name;
  }
}

// On the tiny exported model (random weights), in float32: EDICT and BDIA round trips to at least
// 60 dB, well above plain DDIM's.
TEST(InversionMethods, TinyModelRoundTripsInFloat32) {
  if (!fs::exists(kFixture / "model" / "unet" / "model.pt")) GTEST_SKIP() << "no tiny-model fixture at " << kFixture;
  std::shared_ptr<ddim::UNet> unet = ddim::load_unet(kFixture / "model");
  const auto& cfg = unet->config();
  const auto generator = at::make_generator<at::CPUGeneratorImpl>(5);
  const auto images = at::rand({2, cfg.sample_height, cfg.sample_width, cfg.in_channels}, generator);
  const auto config_json = ddim::read_scheduler_config(kFixture / "model");
  auto config = ddim::scheduler_from_config_as<ddim::DDIMScheduler>(config_json)->config();
  config.clip_sample = false;
  double ddim_psnr = 0;
  for (const auto* name : {"ddim", "fixed-point", "edict", "bdia"}) {
    auto pipe = pipeline(unet, method(name), config);
    ddim::InvertOptions options;
    options.num_inference_steps = 50;
    const auto inversion = pipe.invert_latents(images, options);
    const auto rec = pipe.reconstruct(inversion.latents, options, images);
    const double psnr = std::min(rec.psnr[0], rec.psnr[1]);
    std::cout << "[ tiny model ] " << name << ", 50 steps, float32: round-trip PSNR " << psnr << " dB, "
              << inversion.unet_calls + rec.unet_calls << " UNet calls\n";
    if (std::string(name) == "ddim") ddim_psnr = psnr;
    if (std::string(name) == "fixed-point") {
      EXPECT_GT(psnr, ddim_psnr + 10);
    } else if (std::string(name) != "ddim") {
      EXPECT_GE(psnr, 60) << name;
    }
  }
}

// The embedded digits model (one channel: its [B, H, W, 1] images permute into a tensor whose
// channel stride is arbitrary, which the compiled package must not read as dense), on two of its
// own digits at 50 steps: each method's round trip, and a batch of two giving image 0 what a batch
// of one gives it.
TEST(InversionMethods, DefaultModelRoundTrips) {
  const fs::path model = fs::path(DDIM_SOURCE_DIR) / "models" / "digits";
  std::shared_ptr<ddim::UNet> unet = ddim::load_unet(model);
  const auto config_json = ddim::read_scheduler_config(model);
  ddim::DDIMPipeline sampler(unet, config_json);
  ddim::GenerateOptions generate;
  generate.batch_size = 2;
  generate.num_inference_steps = 20;
  generate.seed = 3;
  // In canonical [B, H, W, 1] strides, as images read from files are (the pipeline's own output
  // keeps the strides of its permute, which hide the problem).
  const auto images = sampler.generate(generate).images.clone(at::MemoryFormat::Contiguous);
  auto config = ddim::scheduler_from_config_as<ddim::DDIMScheduler>(config_json)->config();
  config.clip_sample = false;
  double ddim_psnr = 0;
  for (const auto* name : {"ddim", "fixed-point", "edict", "bdia"}) {
    auto pipe = pipeline(unet, method(name), config);
    ddim::InvertOptions options;
    options.num_inference_steps = 50;
    const auto psnr_of = [&](const torch::Tensor& batch) {
      const auto inversion = pipe.invert_latents(batch, options);
      return pipe.reconstruct(inversion.latents, options, batch).psnr;
    };
    const auto both = psnr_of(images);
    const auto alone = psnr_of(images.narrow(0, 0, 1));
    std::cout << "[ digits model ] " << name << ", 50 steps: round-trip PSNR " << both[0] << " / " << both[1]
              << " dB (image 0 alone: " << alone[0] << " dB)\n";
    // Past 60 dB the batch's last-bit differences show; below, they must not.
    EXPECT_NEAR(std::min(both[0], 60.0), std::min(alone[0], 60.0), 0.5) << name << ": a batch of two changes image 0";
    const double psnr = std::min(both[0], both[1]);
    if (std::string(name) == "ddim") {
      ddim_psnr = psnr;
    } else if (std::string(name) == "fixed-point") {
      EXPECT_GT(psnr, ddim_psnr + 20);
    } else {
      EXPECT_GE(psnr, 60) << name;
    }
  }
}
