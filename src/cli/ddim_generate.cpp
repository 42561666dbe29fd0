// ddim-generate: DDIM sampling from an exported UNet2DModel to PNG files.
#include <CLI/CLI.hpp>
#include <iostream>

#include "cli_common.h"
#include "ddim/ddim.h"

namespace {

constexpr const char* kExamples = R"(
Examples:
  ddim-generate -n 16 --seed 7 --grid digits.png
      16 digits from the embedded model, seed 7, tiled into one PNG (and digits.png.json).
  ddim-generate --model models/cifar10 --steps 100 --eta 0.5 -o 'img_%03d.png' -n 4
      4 images img_000.png ... img_003.png from an exported model, 100 steps, half DDPM noise.
)";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ddim-generate: turn Gaussian noise into images with DDIM, exactly as diffusers' DDIMPipeline does."};
  app.footer(kExamples);
  app.set_version_flag("--version", [] { return ddim::build_info(); });
  std::string output = "ddim.png", grid, latents_path;
  int64_t steps = 50, batch = 1;
  double eta = 0;
  std::string seed_text;
  app.add_option("--steps", steps, "number of inference steps")->check(ddim::cli::at_least(1))->capture_default_str();
  app.add_option("--eta", eta, "noise weight: 0 = DDIM, 1 = DDPM-like")
      ->check(ddim::cli::between(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--seed", seed_text, "seed of the noise, 0 to 2^64-1 (random when absent; printed and recorded)");
  app.add_option("-n,--batch-size", batch, "number of images")->check(ddim::cli::at_least(1))->capture_default_str();
  app.add_option("-o,--output", output,
                 "PNG path; with several images a printf pattern (img_%03d.png) or _<i> before the extension")
      ->capture_default_str();
  app.add_option("--grid", grid, "also write one PNG tiling the batch");
  app.add_option("--latents", latents_path,
                 "start from saved latents [B, C, H, W]: a safetensors file with one tensor, or a torch.save file");
  ddim::cli::CommonFlags common;
  ddim::cli::add_common_flags(app, common);
  if (const int code = ddim::cli::parse(app, "ddim-generate", argc, argv); code >= 0) return code;

  return ddim::cli::run_tool("ddim-generate", [&] {
    ddim::cli::install_interrupt_handler();
    ddim::cli::check_output_pattern(output);
    const uint64_t seed = seed_text.empty() ? ddim::random_seed() : ddim::cli::parse_seed(seed_text);
    const auto model = ddim::cli::resolve_model(common.model, argv[0]);
    const auto device = ddim::cli::parse_device(common.device);
    const auto dtype = ddim::dtype_from_name(common.dtype);
    std::optional<torch::Tensor> latents;
    if (!latents_path.empty()) {
      latents = ddim::load_tensor(latents_path);
      if (latents->dim() != 4) throw ddim::UsageError("--latents " + latents_path + ": expected [B, C, H, W] latents");
      ddim::cli::check_finite(*latents, "--latents " + latents_path);
      batch = latents->size(0);
    }
    const auto overrides = ddim::cli::parse_overrides(common.sets);
    const auto scheduler =
        ddim::scheduler_from_config_as<ddim::DDIMScheduler>(ddim::read_scheduler_config(model), overrides);
    std::shared_ptr<ddim::UNet> unet = ddim::load_unet(model, device, dtype);
    // Before any name or tensor is made: what cannot fit is refused now.
    ddim::cli::check_memory(batch, unet->config(), "--batch-size");
    const auto outputs = ddim::cli::output_names(output, batch);
    ddim::cli::check_writable(outputs);
    if (!grid.empty()) ddim::cli::check_writable({grid});
    ddim::DDIMPipeline pipe(unet, *scheduler);

    ddim::GenerateOptions options;
    options.batch_size = batch;
    options.num_inference_steps = steps;
    options.eta = eta;
    options.latents = latents;
    if (!latents) options.seed = seed;
    ddim::cli::Progress progress("ddim-generate", common.quiet);
    options.callback = progress.callback();
    if (!common.quiet && options.seed) std::cerr << "ddim-generate: seed " << *options.seed << "\n";
    const auto result = pipe.generate(options);
    progress.finish();
    if (result.cancelled) {
      std::cerr << "ddim-generate: interrupted after " << result.steps_done << " steps; nothing written\n";
      return 130;
    }

    auto record = ddim::cli::base_record("ddim-generate", model, device.str(), *unet);
    record["scheduler_config"] = nlohmann::json::parse(scheduler->config_json(), nullptr, false);
    record["set"] = ddim::cli::overrides_record(overrides);
    record["steps"] = steps;
    record["eta"] = eta;
    record["batch_size"] = batch;
    record["seed"] = options.seed ? nlohmann::json(*options.seed) : nlohmann::json(nullptr);
    record["latents"] = latents_path.empty() ? nlohmann::json(nullptr) : nlohmann::json(latents_path);
    for (int64_t i = 0; i < batch; ++i) {
      ddim::write_png(outputs[static_cast<size_t>(i)], result.images[i]);
      record["index"] = i;
      ddim::cli::write_sidecar(outputs[static_cast<size_t>(i)], record);
      if (!common.quiet) std::cout << outputs[static_cast<size_t>(i)].string() << "\n";
    }
    if (!grid.empty()) {
      ddim::write_png(grid, ddim::image_grid(result.images));
      record.erase("index");
      ddim::cli::write_sidecar(grid, record);
      if (!common.quiet) std::cout << grid << "\n";
    }
    return 0;
  });
}
