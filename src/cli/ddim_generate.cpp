// ddim-generate: DDIM sampling from an exported UNet2DModel to PNG files.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <limits>

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
  std::string output = "ddim.png", grid, latents_path, seed_text;
  int64_t steps = 50, num_images = 1, batch_size = 0, grid_gap = 2;
  double eta = 0;
  app.add_option("--steps", steps, "number of inference steps")->check(ddim::cli::at_least(1))->capture_default_str();
  app.add_option("--eta", eta, "noise weight: 0 = DDIM, 1 = DDPM-like")
      ->check(ddim::cli::between(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--seed", seed_text,
                 "seed of the noise, 0 to 2^64-1; batch k draws from seed + k (random when absent; printed and "
                 "recorded)");
  app.add_option("-n,--num-images", num_images, "number of images")
      ->check(ddim::cli::at_least(1))
      ->capture_default_str();
  app.add_option("--batch-size", batch_size,
                 "images per batch (default: min(n, 16)); memory grows with it, and batch k is diffusers' "
                 "DDIMPipeline(batch_size, generator seed + k)")
      ->check(ddim::cli::at_least(1));
  app.add_option("-o,--output", output,
                 "PNG path; with several images a printf pattern (img_%03d.png) or _<i> before the extension")
      ->capture_default_str();
  app.add_option("--grid", grid, "also write one PNG tiling all the images (not with --shard)");
  app.add_option("--grid-gap", grid_gap, "white pixels between the grid's cells")
      ->check(ddim::cli::at_least(0))
      ->capture_default_str();
  app.add_option("--latents", latents_path,
                 "start from saved latents [N, C, H, W]: a safetensors file with one tensor, or a torch.save file");
  ddim::cli::ScaleFlags scale;
  ddim::cli::add_scale_flags(app, scale, "");
  ddim::cli::CommonFlags common;
  ddim::cli::add_common_flags(app, common);
  if (const int code = ddim::cli::parse(app, "ddim-generate", argc, argv); code >= 0) return code;

  return ddim::cli::run_tool("ddim-generate", [&] {
    ddim::cli::install_interrupt_handler();
    ddim::cli::check_output_pattern(output);
    const auto shard = scale.parsed();
    if (shard.count > 1 && !grid.empty()) throw ddim::UsageError("--grid needs every image; not with --shard");
    const uint64_t seed = seed_text.empty() ? ddim::random_seed() : ddim::cli::parse_seed(seed_text);
    const auto model = ddim::cli::resolve_model(common.model, argv[0]);
    const auto device = ddim::cli::parse_device(common.device);
    const auto dtype = ddim::dtype_from_name(common.dtype);
    std::optional<torch::Tensor> latents;
    if (!latents_path.empty()) {
      latents = ddim::load_tensor(latents_path);
      if (latents->dim() != 4) throw ddim::UsageError("--latents " + latents_path + ": expected [N, C, H, W] latents");
      ddim::cli::check_finite(*latents, "--latents " + latents_path);
      if (app.count("--num-images") && num_images != latents->size(0)) {
        throw ddim::UsageError("-n " + std::to_string(num_images) + " but --latents " + latents_path + " holds " +
                               std::to_string(latents->size(0)));
      }
      num_images = latents->size(0);
    }
    if (batch_size == 0) batch_size = std::min<int64_t>(num_images, 16);
    batch_size = std::min(batch_size, num_images);
    const int64_t batches = ddim::DDIMPipeline::batch_count(num_images, batch_size);
    if (seed > std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(batches - 1)) {
      throw ddim::UsageError("--seed " + std::to_string(seed) + ": batch k draws from seed + k, and seed + " +
                             std::to_string(batches - 1) + " passes 2^64 - 1");
    }
    if (!grid.empty() && num_images > 4096) {
      throw ddim::UsageError("--grid of " + std::to_string(num_images) +
                             " images: at most 4096 (a grid is held whole)");
    }
    const auto overrides = ddim::cli::parse_overrides(common.sets);
    const auto scheduler =
        ddim::scheduler_from_config_as<ddim::DDIMScheduler>(ddim::read_scheduler_config(model), overrides);
    std::shared_ptr<ddim::UNet> unet = ddim::load_unet(model, device, dtype);
    // Before any tensor is made: a batch that cannot fit is refused now.
    ddim::cli::check_memory(batch_size, unet->config(), "--batch-size");
    // The first and last names of this run: folders, and targets that are not regular files.
    ddim::cli::check_writable(
        {ddim::cli::output_name(output, 0, num_images), ddim::cli::output_name(output, num_images - 1, num_images)});
    if (!grid.empty()) ddim::cli::check_writable({grid});
    ddim::DDIMPipeline pipe(unet, *scheduler);

    // Everything an image depends on; --resume compares it with the sidecars found.
    auto record = ddim::cli::base_record("ddim-generate", model, device.str(), *unet);
    record["scheduler_config"] = nlohmann::json::parse(scheduler->config_json(), nullptr, false);
    record["set"] = ddim::cli::overrides_record(overrides);
    record["steps"] = steps;
    record["eta"] = eta;
    record["num_images"] = num_images;
    record["batch_size"] = batch_size;
    record["seed"] = seed;
    record["latents"] = latents_path.empty() ? nlohmann::json(nullptr) : nlohmann::json(latents_path);
    const nlohmann::json run_options = record;

    std::vector<torch::Tensor> grid_images;  // uint8, only with --grid
    ddim::BatchedGenerateOptions options;
    options.num_images = num_images;
    options.batch_size = batch_size;
    options.seed = seed;
    options.num_inference_steps = steps;
    options.eta = eta;
    options.latents = latents;
    options.shard_index = shard.index;
    options.shard_count = shard.count;
    if (scale.resume) {
      options.skip = [&](int64_t k) {
        const int64_t first = k * batch_size, count = std::min(batch_size, num_images - first);
        for (int64_t i = first; i < first + count; ++i) {
          if (!ddim::cli::output_complete(ddim::cli::output_name(output, i, num_images), run_options)) return false;
        }
        if (!grid.empty()) {  // the grid takes the kept images from their files
          std::vector<torch::Tensor> kept;
          for (int64_t i = first; i < first + count; ++i) {
            kept.push_back(ddim::read_image(ddim::cli::output_name(output, i, num_images)));
          }
          grid_images.push_back(torch::stack(kept));
        }
        return true;
      };
    }
    const int64_t my_batches = (batches - shard.index + shard.count - 1) / shard.count;
    ddim::cli::Progress progress("ddim-generate", common.quiet);
    progress.plan_batches(my_batches, std::min(num_images, my_batches * batch_size));
    options.callback = progress.callback();
    if (!common.quiet) {
      std::cerr << "ddim-generate: seed " << seed << ", " << num_images << " image" << (num_images == 1 ? "" : "s")
                << " in " << batches << " batch" << (batches == 1 ? "" : "es") << " of " << batch_size;
      if (shard.count > 1)
        std::cerr << ", shard " << shard.index << "/" << shard.count << " (" << my_batches << " batches)";
      std::cerr << "\n";
    }
    const auto run = pipe.generate_batches(options, [&](int64_t k, int64_t first, const ddim::GenerateResult& result) {
      const int64_t count = result.images.size(0);
      for (int64_t j = 0; j < count; ++j) {
        const auto name = ddim::cli::output_name(output, first + j, num_images);
        ddim::cli::check_writable({name});
        ddim::write_png(name, result.images[j]);
        record["batch"] = k;
        record["index"] = first + j;
        ddim::cli::write_sidecar(name, record);
        if (!common.quiet) std::cout << name.string() << "\n";
      }
      if (!grid.empty()) grid_images.push_back(ddim::images_to_uint8(result.images));
      progress.batch_done(count);
      return true;
    });
    progress.finish();
    if (run.cancelled) {
      std::cerr << "ddim-generate: interrupted after " << run.batches_run
                << " batches; their images are written, --resume goes on from there\n";
      return 130;
    }
    if (scale.resume && !common.quiet && run.batches_skipped > 0) {
      std::cerr << "ddim-generate: --resume: " << run.batches_skipped << " complete batches kept\n";
    }
    if (!grid.empty()) {
      ddim::write_png(grid, ddim::image_grid(torch::cat(grid_images), 0, grid_gap));
      record.erase("index");
      record.erase("batch");
      ddim::cli::write_sidecar(grid, record);
      if (!common.quiet) std::cout << grid << "\n";
    }
    return 0;
  });
}
