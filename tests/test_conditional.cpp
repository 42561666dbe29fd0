// Conditional sampling with classifier-free guidance against diffusers, on two tiny exported models
// (the ctest fixture tests/make_conditional_fixture.sh makes them and the references of
// scripts/conditional_reference.py): a UNet2DConditionModel against StableDiffusionPipeline with
// prompt_embeds and negative_prompt_embeds, and a class-conditional UNet2DModel against the same CFG
// loop written out in Python (diffusers has no class-conditional UNet2DModel pipeline).
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "ddim/ddim.h"
#include "reference_file.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kFixture = DDIM_CONDITIONAL_FIXTURE_DIR;

const ddim::test::ReferenceFile& reference() {
  static const auto ref = ddim::test::read_reference(kFixture / "ref");
  return ref;
}

struct Backend {
  std::string name;
  std::shared_ptr<ddim::UNet> unet;
};

std::vector<Backend> backends(const std::string& model) {
  const auto dir = kFixture / model / "model";
  return {{"TorchScript", std::make_shared<ddim::TorchScriptUNet>(dir, torch::kCPU, torch::kFloat32)},
          {"AOTInductor", std::make_shared<ddim::AOTInductorUNet>(dir, torch::kCPU, torch::kFloat32)}};
}

// The condition of a case: the class labels or prompt embeddings of its first `batch` images; the
// negative half is the null class (from the export's record) or the negative embeddings.
ddim::Guidance guidance_for(const json& c) {
  const auto& t = reference().tensors;
  ddim::Guidance guidance;
  if (c.at("model") == "class") {
    guidance.condition.class_labels = torch::tensor(c.at("class_labels").get<std::vector<int64_t>>(), torch::kLong);
  } else {
    guidance.condition.encoder_hidden_states = t.at("cross.embeds").slice(0, 0, c.at("batch").get<int64_t>());
    guidance.negative_condition.encoder_hidden_states = t.at("cross.negative_embeds");
  }
  guidance.guidance_scale = c.at("guidance_scale").get<double>();
  guidance.guidance_rescale = c.at("guidance_rescale").get<double>();
  return guidance;
}

// One case through the library: DDIMPipeline for DDIMScheduler, the DPM-Solver pair's forward
// scheduler (InversionPipeline::reconstruct from the seeded noise, as StableDiffusionPipeline
// starts) for DPMSolverMultistepScheduler. Returns images for the class model, latents for the
// cross-attention one (output_type="latent").
torch::Tensor run_case(const json& c, const std::shared_ptr<ddim::UNet>& unet) {
  const auto config = c.at("scheduler_config").get<std::string>();
  const int64_t batch = c.at("batch").get<int64_t>();
  const int64_t steps = c.at("steps").get<int64_t>();
  const uint64_t seed = c.at("seed").get<uint64_t>();
  const bool images = c.at("model") == "class";
  if (c.at("scheduler") == "ddim") {
    ddim::DDIMPipeline pipe(unet, config);
    ddim::GenerateOptions options;
    options.batch_size = batch;
    options.num_inference_steps = steps;
    options.eta = c.at("eta").get<double>();
    options.seed = seed;
    options.guidance = guidance_for(c);
    const auto result = pipe.generate(options);
    return images ? result.images : result.latents;
  }
  ddim::InversionPipeline pipe(unet, config, ddim::InverseScheduler::kDPMSolver);
  const auto& cfg = unet->config();
  auto generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto noise = torch::randn({batch, cfg.in_channels, cfg.sample_height, cfg.sample_width}, generator);
  ddim::InvertOptions options;
  options.num_inference_steps = steps;
  options.guidance = guidance_for(c);
  const auto result = pipe.reconstruct(noise, options);
  return images ? result.images : result.latents;
}

std::string describe(const json& c) {
  return c.at("model").get<std::string>() + " " + c.at("scheduler").get<std::string>() + " eta " +
         std::to_string(c.at("eta").get<double>()) + " batch " + std::to_string(c.at("batch").get<int64_t>()) +
         " guidance " + std::to_string(c.at("guidance_scale").get<double>()) + " rescale " +
         std::to_string(c.at("guidance_rescale").get<double>()) + " set " + c.at("set").dump();
}

class Conditional : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kFixture / "ref" / "reference.json")) {
      GTEST_SKIP() << "no conditional fixture at " << kFixture
                   << " (made by the ctest fixture with the pinned diffusers)";
    }
  }
};

// Targets: TorchScript (diffusers' own kernels, traced) bit-identical; the AOTInductor package
// (compiled kernels, sums in another order) within 1e-4 of the reference's largest magnitude for
// latents, and for images within 2 of 255 levels with at least 99 % of the bytes identical.
TEST_F(Conditional, GuidedSamplingMatchesDiffusers) {
  for (const std::string model : {"class", "cross"}) {
    for (const auto& backend : backends(model)) {
      double worst = 0;
      int64_t bytes = 0, identical = 0, worst_levels = 0;
      for (const auto& c : reference().doc.at("cases")) {
        if (c.at("model") != model) continue;
        const auto expected = reference().tensors.at(c.at("tensor").get<std::string>());
        const auto got = run_case(c, backend.unet).to(torch::kCPU);
        ASSERT_EQ(got.sizes(), expected.sizes()) << describe(c);
        const double rel =
            (got - expected).abs().max().item<double>() / std::max(1e-30, expected.abs().max().item<double>());
        worst = std::max(worst, rel);
        if (backend.name == "TorchScript") {
          EXPECT_TRUE(torch::equal(got, expected)) << backend.name << " " << describe(c) << ": relative error " << rel;
        } else {
          EXPECT_LE(rel, 1e-4) << backend.name << " " << describe(c);
        }
        if (model == "class") {
          const auto a = ddim::images_to_uint8(got).to(torch::kInt32);
          const auto b = ddim::images_to_uint8(expected).to(torch::kInt32);
          worst_levels = std::max<int64_t>(worst_levels, (a - b).abs().max().item<int64_t>());
          bytes += a.numel();
          identical += (a == b).sum().item<int64_t>();
        }
      }
      std::cout << model << " " << backend.name << ": largest relative error " << worst;
      if (model == "class") {
        std::cout << ", image bytes identical " << 100.0 * static_cast<double>(identical) / static_cast<double>(bytes)
                  << " %, largest difference " << worst_levels << " levels";
        EXPECT_LE(worst_levels, 2) << backend.name;
        EXPECT_GE(static_cast<double>(identical), 0.99 * static_cast<double>(bytes)) << backend.name;
      }
      std::cout << "\n";
    }
  }
}

// A step under guidance is one UNet call on 2B rows, unconditional first; scale 1 is one call on B.
TEST_F(Conditional, GuidanceIsOneCallOnBothHalves) {
  struct Counting : ddim::UNet {
    explicit Counting(std::shared_ptr<ddim::UNet> inner) : inner(std::move(inner)) {}
    torch::Tensor forward(const torch::Tensor& sample, int64_t timestep) override {
      return forward(sample, timestep, {});
    }
    torch::Tensor forward(const torch::Tensor& sample, int64_t timestep, const ddim::Condition& condition) override {
      rows.push_back(sample.size(0));
      labels.push_back(condition.class_labels.clone());
      return inner->forward(sample, timestep, condition);
    }
    const ddim::UNetConfig& config() const override { return inner->config(); }
    torch::Device device() const override { return inner->device(); }
    torch::ScalarType dtype() const override { return inner->dtype(); }
    std::shared_ptr<ddim::UNet> inner;
    std::vector<int64_t> rows;
    std::vector<torch::Tensor> labels;
  };
  auto counting = std::make_shared<Counting>(backends("class").front().unet);
  ddim::DDIMPipeline pipe(counting, ddim::read_scheduler_config(kFixture / "class" / "model"));
  ddim::GenerateOptions options;
  options.batch_size = 2;
  options.num_inference_steps = 3;
  options.seed = 1;
  options.guidance.condition.class_labels = torch::tensor({1, 3}, torch::kLong);
  options.guidance.guidance_scale = 2.0;
  pipe.generate(options);
  ASSERT_EQ(counting->rows, (std::vector<int64_t>{4, 4, 4}));
  EXPECT_TRUE(torch::equal(counting->labels[0], torch::tensor({4, 4, 1, 3}, torch::kLong)));
  counting->rows.clear();
  options.guidance.guidance_scale = 1.0;
  pipe.generate(options);
  EXPECT_EQ(counting->rows, (std::vector<int64_t>{2, 2, 2}));
}

TEST_F(Conditional, MissingOrMisshapedConditionsAreRefused) {
  const auto expect_refused = [](const std::function<void()>& run, const std::string& part) {
    try {
      run();
      ADD_FAILURE() << "not refused: " << part;
    } catch (const ddim::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  const auto cross = backends("cross").front().unet;
  const auto x = torch::zeros({2, 4, 8, 8});
  expect_refused([&] { cross->forward(x, 10); },
                 "encoder_hidden_states missing: the model takes encoder_hidden_states [2, 8, 16]");
  expect_refused(
      [&] {
        cross->forward(x, 10, {torch::Tensor(), torch::zeros({2, 7, 16})});
      },
      "encoder_hidden_states of shape [2, 7, 16]");
  expect_refused(
      [&] {
        cross->forward(x, 10, {torch::zeros({2}, torch::kLong), torch::zeros({2, 8, 16})});
      },
      "class_labels given, but the model takes none");
  const auto labels = backends("class").back().unet;
  const auto y = torch::zeros({2, 3, 16, 16});
  expect_refused([&] { labels->forward(y, 10); },
                 "class_labels missing: the model takes class_labels [2] int64 in [0, 5)");
  expect_refused([&] { labels->forward(y, 10, {torch::zeros({2}), {}}); }, "type Float");

  ddim::DDIMPipeline pipe(labels, ddim::read_scheduler_config(kFixture / "class" / "model"));
  ddim::GenerateOptions options;
  options.batch_size = 2;
  options.num_inference_steps = 2;
  options.guidance.condition.class_labels = torch::tensor({1, 5}, torch::kLong);
  expect_refused([&] { pipe.generate(options); }, "class label 5 is outside [0, 5)");
  options.guidance.condition.class_labels = torch::tensor({1, 2, 3}, torch::kLong);
  expect_refused([&] { pipe.generate(options); }, "holds 3 rows for a batch of 2");
  options.guidance.condition.class_labels = torch::tensor({1}, torch::kLong);
  options.guidance.guidance_rescale = 1.5;
  expect_refused([&] { pipe.generate(options); }, "guidance_rescale 1.5 must be in [0, 1]");
  options.guidance.guidance_rescale = 0;
  options.guidance.guidance_scale = std::nan("");
  expect_refused([&] { pipe.generate(options); }, "guidance_scale nan");

  ddim::DDIMPipeline cross_pipe(cross, ddim::read_scheduler_config(kFixture / "cross" / "model"));
  ddim::GenerateOptions cross_options;
  cross_options.num_inference_steps = 2;
  cross_options.guidance.condition.encoder_hidden_states = torch::zeros({1, 8, 16});
  expect_refused([&] { cross_pipe.generate(cross_options); }, "guidance_scale 7.5 needs a negative condition");
  cross_options.guidance.negative_condition.encoder_hidden_states = torch::full({1, 8, 16}, NAN);
  expect_refused([&] { cross_pipe.generate(cross_options); }, "negative condition: encoder_hidden_states hold NaN");
}

}  // namespace

namespace {

// Every inversion method inverts and reconstructs under the condition it is given: the latents
// depend on the label, and the exactly invertible methods (edict, bdia) return to the image only
// under the label they inverted with, also with guidance on.
TEST_F(Conditional, EveryInversionMethodTakesTheCondition) {
  const auto unet = backends("class").front().unet;
  const auto config = ddim::read_scheduler_config(kFixture / "class" / "model");
  const auto images = torch::rand({2, 16, 16, 3}, at::make_generator<at::CPUGeneratorImpl>(4));
  for (const std::string name : {"ddim", "dpmsolver", "fixed-point", "edict", "bdia"}) {
    ddim::InversionPipeline pipe(unet, config, ddim::InversionMethod::from_name(name));
    ddim::InvertOptions under_one, under_two;
    under_one.num_inference_steps = under_two.num_inference_steps = 10;
    under_one.guidance.condition.class_labels = torch::tensor({1}, torch::kLong);
    under_two.guidance.condition.class_labels = torch::tensor({2}, torch::kLong);
    const auto one = pipe.invert_latents(images, under_one);
    const auto two = pipe.invert_latents(images, under_two);
    EXPECT_FALSE(torch::allclose(one.latents.at("latents"), two.latents.at("latents"))) << name;
    EXPECT_EQ(one.unet_calls, two.unet_calls) << name;
    if (name == "edict" || name == "bdia") {
      const auto same = pipe.reconstruct(one.latents, under_one, images);
      const auto other = pipe.reconstruct(one.latents, under_two, images);
      EXPECT_GE(std::min(same.psnr[0], same.psnr[1]), 60) << name;
      EXPECT_LT(std::max(other.psnr[0], other.psnr[1]), 40) << name;
      // Guided inversion of an exact method is undone by the same guided sampler.
      auto guided = under_one;
      guided.guidance.guidance_scale = 3.0;
      const auto inverted = pipe.invert_latents(images, guided);
      EXPECT_GE(std::min(pipe.reconstruct(inverted.latents, guided, images).psnr[0],
                         pipe.reconstruct(inverted.latents, guided, images).psnr[1]),
                60)
          << name << " under guidance";
    }
  }
}

}  // namespace
