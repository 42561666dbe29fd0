// Latent models against diffusers, on a tiny LDMPipeline folder (UNet2DModel + VQModel +
// DDIMScheduler) and a tiny StableDiffusionPipeline one (UNet2DConditionModel + AutoencoderKL; the
// ctest fixture tests/make_latent_fixture.sh makes them, their ddim exports, and the references of
// scripts/latent_reference.py): sampling against LDMPipeline and StableDiffusionPipeline, the
// encoders against VQModel.encode and AutoencoderKL's latent_dist, inversion through the VAE, and
// the VAE's refusals.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "ddim/ddim.h"
#include "expect_refused.h"
#include "reference_file.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kFixture = DDIM_LATENT_FIXTURE_DIR;
const fs::path kModel = kFixture / "ldm" / "model";
const fs::path kSD = kFixture / "sd" / "model";

const ddim::test::ReferenceFile& reference() {
  static const auto ref = ddim::test::read_reference(kFixture / "ref");
  return ref;
}

class Latent : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kFixture / "ref" / "reference.json")) {
      GTEST_SKIP() << "no latent-model fixture at " << kFixture
                   << " (made by the ctest fixture with the pinned diffusers)";
    }
  }
};

using ddim::test::expect_refused;

// A copy of the exported folder with ddim_export.json's "vae" record changed by `edit`.
fs::path edited_copy(const std::string& name, const std::function<void(json&)>& edit) {
  const auto dir = fs::path(::testing::TempDir()) / ("ddim_latent_" + name);
  fs::remove_all(dir);
  fs::copy(kModel, dir, fs::copy_options::recursive);
  std::ifstream in(dir / "ddim_export.json");
  auto meta = json::parse(in);
  in.close();
  edit(meta);
  std::ofstream(dir / "ddim_export.json") << meta.dump(2);
  return dir;
}

// Rewrites <dir>/vqvae/config.json through `edit`.
void edit_vae_config(const fs::path& dir, const std::function<void(json&)>& edit) {
  const auto path = dir / "vqvae" / "config.json";
  std::ifstream in(path);
  auto config = json::parse(in);
  in.close();
  edit(config);
  std::ofstream(path) << config.dump(2);
}

// Targets: with the TorchScript UNet and VAE (diffusers' kernels, traced) bit-identical images;
// with the AOTInductor UNet and VAE within 2 of 255 levels, at least 99 % of the bytes identical.
TEST_F(Latent, SamplingMatchesLDMPipeline) {
  const struct {
    std::string name;
    std::shared_ptr<ddim::UNet> unet;
    std::shared_ptr<ddim::VAE> vae;
  } backends[] = {{"TorchScript", std::make_shared<ddim::TorchScriptUNet>(kModel, torch::kCPU, torch::kFloat32),
                   std::make_shared<ddim::TorchScriptVAE>(kModel, torch::kCPU)},
                  {"AOTInductor", std::make_shared<ddim::AOTInductorUNet>(kModel, torch::kCPU, torch::kFloat32),
                   std::make_shared<ddim::AOTInductorVAE>(kModel, torch::kCPU)}};
  for (const auto& [name, unet, vae] : backends) {
    EXPECT_EQ(vae->config().class_name, "VQModel");
    EXPECT_DOUBLE_EQ(vae->config().scaling_factor, reference().doc.at("scaling_factor").get<double>());
    ddim::DDIMPipeline pipe(unet, ddim::read_scheduler_config(kModel));
    pipe.set_vae(vae);
    int64_t bytes = 0, identical = 0, worst_levels = 0;
    for (const auto& c : reference().doc.at("cases")) {
      if (c.at("kind") != "generate") continue;
      ddim::GenerateOptions options;
      options.batch_size = c.at("batch").get<int64_t>();
      options.num_inference_steps = c.at("steps").get<int64_t>();
      options.eta = c.at("eta").get<double>();
      options.seed = c.at("seed").get<uint64_t>();
      const auto got = pipe.generate(options).images;
      const auto& expected = reference().tensors.at(c.at("tensor").get<std::string>());
      ASSERT_EQ(got.sizes(), expected.sizes()) << c.dump();
      if (name == "TorchScript") EXPECT_TRUE(torch::equal(got, expected)) << c.dump();
      const auto a = ddim::images_to_uint8(got).to(torch::kInt32);
      const auto b = ddim::images_to_uint8(expected).to(torch::kInt32);
      worst_levels = std::max<int64_t>(worst_levels, (a - b).abs().max().item<int64_t>());
      bytes += a.numel();
      identical += (a == b).sum().item<int64_t>();
    }
    std::cout << name << " UNet and VAE: image bytes identical "
              << 100.0 * static_cast<double>(identical) / static_cast<double>(bytes) << " %, largest difference "
              << worst_levels << " levels\n";
    EXPECT_LE(worst_levels, 2) << name;
    EXPECT_GE(static_cast<double>(identical), 0.99 * static_cast<double>(bytes)) << name;
  }
}

// StableDiffusionPipeline(prompt_embeds, negative_prompt_embeds, output_type="np"): classifier-free
// guidance (and rescale) on the latents, then vae.decode(latents / scaling_factor). TorchScript
// UNet and VAE: bit for bit.
TEST_F(Latent, SamplingMatchesStableDiffusionPipeline) {
  const auto& t = reference().tensors;
  const auto unet = std::make_shared<ddim::TorchScriptUNet>(kSD, torch::kCPU, torch::kFloat32);
  const auto vae = std::make_shared<ddim::TorchScriptVAE>(kSD, torch::kCPU);
  EXPECT_EQ(vae->config().class_name, "AutoencoderKL");
  int cases = 0;
  for (const auto& c : reference().doc.at("cases")) {
    if (c.at("kind") != "sd") continue;
    ddim::DDIMPipeline pipe(unet, c.at("scheduler_config").get<std::string>());
    pipe.set_vae(vae);
    ddim::GenerateOptions options;
    options.batch_size = c.at("batch").get<int64_t>();
    options.num_inference_steps = c.at("steps").get<int64_t>();
    options.eta = c.at("eta").get<double>();
    options.seed = c.at("seed").get<uint64_t>();
    options.guidance.condition.encoder_hidden_states = t.at("sd.embeds").slice(0, 0, options.batch_size);
    options.guidance.negative_condition.encoder_hidden_states = t.at("sd.negative_embeds");
    options.guidance.guidance_scale = c.at("guidance_scale").get<double>();
    options.guidance.guidance_rescale = c.at("guidance_rescale").get<double>();
    const auto got = pipe.generate(options).images;
    const auto& expected = t.at(c.at("tensor").get<std::string>());
    ASSERT_EQ(got.sizes(), expected.sizes()) << c.dump();
    EXPECT_TRUE(torch::equal(got, expected))
        << c.dump() << ": largest difference " << (got - expected).abs().max().item<double>();
    ++cases;
  }
  EXPECT_EQ(cases, 2);
}

// AutoencoderKL: latent_dist.mode() and latent_dist.sample(generator), bit for bit (TorchScript).
TEST_F(Latent, EncodeMatchesAutoencoderKL) {
  const auto& t = reference().tensors;
  const auto vae = std::make_unique<ddim::TorchScriptVAE>(kSD, torch::kCPU);
  const auto x = t.at("sd.encode.images").permute({0, 3, 1, 2}).contiguous() * 2 - 1;
  EXPECT_TRUE(torch::equal(vae->encode(x), t.at("sd.encode.mode")));
  for (const auto& c : reference().doc.at("cases")) {
    if (c.at("kind") != "sd_encode") continue;
    auto generator = at::make_generator<at::CPUGeneratorImpl>(c.at("seed").get<uint64_t>());
    EXPECT_TRUE(torch::equal(vae->encode(x, ddim::LatentDistribution::kSample, generator), t.at("sd.encode.sample")));
  }
}

// The pipeline loads the folder's VAE by itself, and the images have the VAE's size.
TEST_F(Latent, FromPretrainedDecodesThroughTheVAE) {
  auto pipe = ddim::DDIMPipeline::from_pretrained(kModel);
  ASSERT_NE(pipe.vae(), nullptr);
  ddim::GenerateOptions options;
  options.num_inference_steps = 2;
  options.seed = 0;
  const auto result = pipe.generate(options);
  EXPECT_EQ(result.latents.sizes(), (std::vector<int64_t>{1, 3, 8, 8}));
  EXPECT_EQ(result.images.sizes(), (std::vector<int64_t>{1, 16, 16, 3}));
}

// VQModel.encode(x).latents * scaling_factor, bit for bit; for a VQModel mode and sample agree.
TEST_F(Latent, EncodeMatchesVQModel) {
  const auto vae = std::make_unique<ddim::TorchScriptVAE>(kModel, torch::kCPU);
  const auto& images = reference().tensors.at("invert.images");
  const auto x = images.permute({0, 3, 1, 2}).contiguous() * 2 - 1;
  const auto latents = vae->encode(x) * vae->config().scaling_factor;
  EXPECT_TRUE(torch::equal(latents, reference().tensors.at("invert.encoded")));
  EXPECT_TRUE(torch::equal(vae->encode(x, ddim::LatentDistribution::kSample), vae->encode(x)));
}

// The reference loop over diffusers' components: encode, * scaling_factor, DDIMInverseScheduler
// steps; DDIMScheduler steps back, / scaling_factor, decode. TorchScript UNet: bit for bit.
TEST_F(Latent, InversionEncodesAndReconstructionDecodes) {
  const auto& t = reference().tensors;
  const json* invert = nullptr;
  for (const auto& c : reference().doc.at("cases"))
    if (c.at("kind") == "invert") invert = &c;
  ASSERT_NE(invert, nullptr);
  const auto unet = std::make_shared<ddim::TorchScriptUNet>(kModel, torch::kCPU, torch::kFloat32);
  ddim::InversionPipeline pipe(unet, ddim::read_scheduler_config(kModel), ddim::InverseScheduler::kDDIM);
  pipe.set_vae(std::make_shared<ddim::TorchScriptVAE>(kModel, torch::kCPU));
  ddim::InvertOptions options;
  options.num_inference_steps = invert->at("steps").get<int64_t>();
  const auto& images = t.at("invert.images");
  const auto latents = pipe.invert(images, options);
  EXPECT_TRUE(torch::equal(latents, t.at("invert.latents")));
  const auto back = pipe.reconstruct(latents, options, images);
  EXPECT_TRUE(torch::equal(back.latents, t.at("invert.reconstructed_latents")));
  EXPECT_TRUE(torch::equal(back.images, t.at("invert.reconstruction")));
  ASSERT_EQ(back.psnr.size(), 2u);  // in pixel space, against the images given
  expect_refused<ddim::UsageError>(
      [&] {
        pipe.invert(torch::rand({1, 8, 8, 3}), options);
      },
      "images of shape [1, 8, 8, 3]: the model takes [B, 16, 16, 3]");
  // from_pretrained finds the VAE itself.
  EXPECT_NE(ddim::InversionPipeline::from_pretrained(kModel).vae(), nullptr);
}

TEST_F(Latent, BadVAEsAreRefused) {
  const auto unet = std::make_shared<ddim::TorchScriptUNet>(kModel, torch::kCPU, torch::kFloat32);
  const auto config = ddim::read_scheduler_config(kModel);
  const auto channels = edited_copy("channels", [](json& m) { m["vae"]["latent_channels"] = 4; });
  edit_vae_config(channels, [](json& c) { c["latent_channels"] = 4; });
  // The message names the VAE's folder and the UNet's config.
  expect_refused<ddim::ConfigError>([&] { ddim::DDIMPipeline(unet, config).set_vae(ddim::load_vae(channels)); },
                                    (channels / "vqvae").string() +
                                        ": the VQModel's latents [4, 8, 8] do not match the UNet's input [3, 8, 8] (" +
                                        (channels / "unet" / "config.json").string() + ")");
  const auto scaling = edited_copy("scaling", [](json& m) { m["vae"]["scaling_factor"] = "big"; });
  expect_refused<ddim::ConfigError>([&] { ddim::load_vae(scaling); }, "vae scaling_factor is \"big\"");
  // A damaged trace; a damaged package (load_vae then runs the trace, warned); both damaged.
  const auto damaged = edited_copy("damaged", [](json&) {});
  fs::resize_file(damaged / "vqvae" / "model.pt", 1000);
  expect_refused<ddim::ConfigError>([&] { ddim::TorchScriptVAE(damaged, torch::kCPU); },
                                    "cannot load " + (damaged / "vqvae").string());
  const auto damaged_package = edited_copy("damaged_package", [](json&) {});
  fs::resize_file(damaged_package / "vqvae" / "model.pt2", 1000);
  const std::string package_refusal =
      "cannot read " + (damaged_package / "vqvae" / "model.pt2").string() + " (damaged or not an AOTInductor package)";
  expect_refused<ddim::ConfigError>([&] { ddim::AOTInductorVAE(damaged_package, torch::kCPU); }, package_refusal);
  EXPECT_NE(dynamic_cast<ddim::TorchScriptVAE*>(ddim::load_vae(damaged_package).get()), nullptr);
  fs::resize_file(damaged_package / "vqvae" / "model.pt", 1000);
  expect_refused<ddim::ConfigError>([&] { ddim::load_vae(damaged_package); }, package_refusal);
  // A UNet package in the VAE's place.
  const auto wrong_kind = edited_copy("wrong_kind", [](json&) {});
  fs::copy_file(kModel / "unet" / "model.pt2", wrong_kind / "vqvae" / "model.pt2",
                fs::copy_options::overwrite_existing);
  expect_refused<ddim::ConfigError>([&] { ddim::AOTInductorVAE(wrong_kind, torch::kCPU); },
                                    "cannot read " + (wrong_kind / "vqvae" / "model.pt2").string());
  const auto vae = ddim::load_vae(kModel);
  expect_refused<ddim::UsageError>(
      [&] {
        vae->encode(torch::zeros({1, 3, 32, 32}));
      },
      "VAE: images of shape [1, 3, 32, 32]");
}

// The VAE's config.json is read beside the export's record: a value a user edited there (the
// diffusers habit) that disagrees with the record, or a damaged file, is refused naming both files
// rather than silently ignored.
TEST_F(Latent, VAEConfigThatDisagreesWithTheRecordIsRefused) {
  const auto record = [](const fs::path& dir) { return (dir / "ddim_export.json").string(); };
  const std::vector<std::pair<std::string, json>> edits = {{"scaling_factor", "abc"}, {"scaling_factor", 0},
                                                           {"scaling_factor", 0.25},  {"latent_channels", 0},
                                                           {"in_channels", 2},        {"out_channels", "3"}};
  int i = 0;
  for (const auto& [key, value] : edits) {
    const auto dir = edited_copy("config_" + std::to_string(i++), [](json&) {});
    edit_vae_config(dir, [&, key = key, value = value](json& c) { c[key] = value; });
    expect_refused<ddim::ConfigError>([&] { ddim::load_vae(dir); }, (dir / "vqvae" / "config.json").string() + ": " +
                                                                        key + " is " + value.dump() + ", but " +
                                                                        record(dir) + " records ");
  }
  const auto truncated = edited_copy("config_truncated", [](json&) {});
  fs::resize_file(truncated / "vqvae" / "config.json", 10);
  expect_refused<ddim::ConfigError>([&] { ddim::load_vae(truncated); },
                                    (truncated / "vqvae" / "config.json").string() + " is not a JSON object");
  const auto missing = edited_copy("config_missing", [](json&) {});
  fs::remove(missing / "vqvae" / "config.json");
  expect_refused<ddim::ConfigError>([&] { ddim::load_vae(missing); },
                                    "cannot read " + (missing / "vqvae" / "config.json").string());
  // Keys the record does not hold are the config's own business.
  const auto other = edited_copy("config_other", [](json&) {});
  edit_vae_config(other, [](json& c) { c["note"] = "edited"; });
  EXPECT_NE(ddim::load_vae(other), nullptr);
}

// The compiled VAE against the traced one (diffusers' kernels), encode and decode, at batch 1 (the
// batch-1 models), in the dynamic range, and past its end (chunks): relative RMS error <= 1e-5.
// load_vae picks the package when the folder has one.
TEST_F(Latent, CompiledVAEMatchesTheTrace) {
  for (const auto& dir : {kModel, kSD}) {
    const auto compiled = ddim::load_vae(dir);
    ASSERT_NE(dynamic_cast<ddim::AOTInductorVAE*>(compiled.get()), nullptr) << dir;
    EXPECT_EQ(compiled->file(), dir / compiled->config().component / "model.pt2");
    ddim::TorchScriptVAE traced(dir, torch::kCPU);
    const auto& v = traced.config();
    torch::manual_seed(0);
    for (const int64_t batch : {1, 3, 70}) {
      const auto images = torch::rand({batch, v.in_channels, v.image_height, v.image_width}) * 2 - 1;
      const auto latents = torch::randn({batch, v.latent_channels, v.latent_height(), v.latent_width()});
      for (const auto& [what, got, want] :
           {std::tuple{"encode", compiled->encoder_output(images), traced.encoder_output(images)},
            std::tuple{"decode", compiled->decode(latents), traced.decode(latents)}}) {
        ASSERT_EQ(got.sizes(), want.sizes()) << what << " batch " << batch;
        const double rel = (got - want).pow(2).mean().sqrt().item<double>() / want.pow(2).mean().sqrt().item<double>();
        EXPECT_LE(rel, 1e-5) << dir << " " << what << " batch " << batch;
      }
    }
  }
}

}  // namespace

namespace {

// EDICT and BDIA retrace their own inversion: at 50 steps the latents they reconstruct (before
// decoding) are within 1e-3 relative RMS of the VAE's encoding, on both tiny latent models; DDIM's
// error is printed beside them for contrast, and the VAE's own loss (encode then decode) in pixel PSNR.
TEST_F(Latent, ExactMethodsReconstructTheVAELatents) {
  for (const auto& dir : {kModel, kSD}) {
    const auto unet = std::make_shared<ddim::AOTInductorUNet>(dir, torch::kCPU, torch::kFloat32);
    const auto vae = std::shared_ptr<ddim::VAE>(ddim::load_vae(dir));
    ASSERT_TRUE(vae);
    const auto& v = vae->config();
    torch::manual_seed(0);
    const auto images = torch::rand({2, v.image_height, v.image_width, v.in_channels});
    const auto pixels = images.permute({0, 3, 1, 2}).contiguous() * 2 - 1;
    const auto encoded = vae->encode(pixels) * v.scaling_factor;
    const auto vae_alone = (vae->decode(encoded / v.scaling_factor) / 2 + 0.5).clamp(0, 1);
    const double vae_mse = (vae_alone.permute({0, 2, 3, 1}) - images).pow(2).mean().item<double>();
    for (const std::string name : {"ddim", "edict", "bdia"}) {
      ddim::InversionPipeline pipe(unet, ddim::read_scheduler_config(dir), ddim::InversionMethod::from_name(name));
      pipe.set_vae(vae);
      ddim::InvertOptions options;
      options.num_inference_steps = 50;
      if (unet->config().takes_encoder_hidden_states()) {  // inverted and reconstructed under one prompt
        options.guidance.condition.encoder_hidden_states = reference().tensors.at("sd.embeds").slice(0, 0, 2);
      }
      const auto inversion = pipe.invert_latents(images, options);
      const auto rec = pipe.reconstruct(inversion.latents, options, images);
      const auto z = rec.latents.to(torch::kCPU, torch::kFloat32);
      const double rel =
          (z - encoded).pow(2).mean().sqrt().item<double>() / encoded.pow(2).mean().sqrt().item<double>();
      std::cout << dir.parent_path().filename().string() << " " << name << ": latents relative RMS error " << rel
                << ", pixel PSNR " << rec.psnr[0] << " dB (the VAE alone: " << 10 * std::log10(1 / vae_mse) << " dB)\n";
      if (name != "ddim") EXPECT_LE(rel, 1e-3) << dir << " " << name;
    }
  }
}

}  // namespace
