// ddim-invert: images -> the latent noise DDIM (or DPM-Solver) sampling would turn into them.
#include <CLI/CLI.hpp>
#include <iomanip>
#include <iostream>

#include "cli_common.h"
#include "ddim/ddim.h"

namespace {

constexpr const char* kExamples = R"(
Examples:
  ddim-invert digit.png -o digit.pt --reconstruct back.png
      invert with the embedded model, write the latents (torch.load reads them), sample them back
      and print the round trip's MSE and PSNR.
  ddim-invert --model models/cifar10 --scheduler dpmsolver --steps 25 --resize a.jpg b.jpg -o ab.pt
      two photos, resized to the model's size, inverted with DPM-Solver in 25 steps.
)";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ddim-invert: turn images into latent noise with DDIM or DPM-Solver inversion, as diffusers does."};
  app.footer(kExamples);
  app.set_version_flag("--version", [] { return ddim::build_info(); });
  std::vector<std::string> inputs;
  std::string output = "latents.pt", reconstruct, scheduler = "ddim";
  int64_t steps = 50;
  bool resize = false;
  app.add_option("images", inputs, "input images (PNG or JPEG)")->required();
  app.add_option("--steps", steps, "number of inversion steps")->check(ddim::cli::at_least(1))->capture_default_str();
  app.add_option("--scheduler", scheduler,
                 "ddim (DDIMInverseScheduler) or dpmsolver (DPMSolverMultistepInverseScheduler)")
      ->check(CLI::IsMember({"ddim", "dpmsolver"}))
      ->capture_default_str();
  app.add_option("-o,--output", output,
                 "latents [B, C, H, W] float32: PATH.safetensors (safetensors.torch.load_file reads it) or any other "
                 "name (torch.load reads it)")
      ->capture_default_str();
  app.add_option("--reconstruct", reconstruct,
                 "sample the latents back with the forward scheduler into this PNG (pattern or _<i> for several) and "
                 "print MSE and PSNR");
  app.add_flag("--resize", resize, "resize images to the model's size (Catmull-Rom enlarging, Mitchell shrinking)");
  ddim::cli::CommonFlags common;
  ddim::cli::add_common_flags(app, common);
  if (const int code = ddim::cli::parse(app, "ddim-invert", argc, argv); code >= 0) return code;

  return ddim::cli::run_tool("ddim-invert", [&] {
    ddim::cli::install_interrupt_handler();
    const auto count = static_cast<int64_t>(inputs.size());
    const auto rec_names =
        reconstruct.empty() ? std::vector<std::filesystem::path>{} : ddim::cli::output_names(reconstruct, count);
    ddim::cli::check_writable({output});
    ddim::cli::check_writable(rec_names);
    const auto model = ddim::cli::resolve_model(common.model, argv[0]);
    const auto device = ddim::cli::parse_device(common.device);
    const auto dtype = ddim::dtype_from_name(common.dtype);
    const auto kind = scheduler == "ddim" ? ddim::InverseScheduler::kDDIM : ddim::InverseScheduler::kDPMSolver;
    // Both schedulers of the pair, each built once from the model's config with the overrides.
    const auto overrides = ddim::cli::parse_overrides(common.sets);
    const auto config = ddim::read_scheduler_config(model);
    const auto inverse = ddim::scheduler_from_config(config, ddim::inverse_class_name(kind), overrides);
    const auto forward = ddim::scheduler_from_config(config, ddim::forward_class_name(kind), overrides);
    std::shared_ptr<ddim::UNet> unet = ddim::load_unet(model, device, dtype);
    const auto& cfg = unet->config();

    std::vector<torch::Tensor> images;
    for (const auto& path : inputs) {
      auto image = ddim::read_image(path);
      if (image.size(0) != cfg.sample_height || image.size(1) != cfg.sample_width) {
        if (!resize) {
          throw ddim::UsageError("image " + path + " is " + std::to_string(image.size(1)) + "x" +
                                 std::to_string(image.size(0)) + ", the model takes " +
                                 std::to_string(cfg.sample_width) + "x" + std::to_string(cfg.sample_height) +
                                 " (pass --resize)");
        }
        image = ddim::resize_image(image, cfg.sample_height, cfg.sample_width);
      }
      images.push_back(ddim::convert_channels(image, cfg.in_channels));
    }
    const auto batch = torch::stack(images);

    ddim::InversionPipeline pipe(unet, *inverse, *forward);
    ddim::InvertOptions options;
    options.num_inference_steps = steps;
    ddim::cli::Progress progress("ddim-invert", common.quiet);
    options.callback = progress.callback();
    const auto latents = pipe.invert(batch, options);
    progress.finish();
    if (!latents.defined()) {
      std::cerr << "ddim-invert: interrupted; nothing written\n";
      return 130;
    }

    auto record = ddim::cli::base_record("ddim-invert", model, device.str(), *unet);
    record["inputs"] = inputs;
    record["scheduler"] = inverse->class_name();
    record["set"] = ddim::cli::overrides_record(overrides);
    record["steps"] = steps;
    record["resize"] = resize;
    ddim::save_tensor(output, latents.to(torch::kFloat32));
    ddim::cli::write_sidecar(output, record);
    if (!common.quiet) std::cout << output << "\n";

    if (!reconstruct.empty()) {
      ddim::cli::Progress back("reconstruct", common.quiet);
      options.callback = back.callback();
      const auto rec = pipe.reconstruct(latents, options, batch);
      back.finish();
      if (rec.cancelled) {
        std::cerr << "ddim-invert: interrupted during the reconstruction; latents written, no images\n";
        return 130;
      }
      record["latents"] = output;
      for (int64_t i = 0; i < count; ++i) {
        const auto& name = rec_names[static_cast<size_t>(i)];
        ddim::write_png(name, rec.images[i]);
        record["index"] = i;
        record["mse"] = rec.mse[static_cast<size_t>(i)];
        record["psnr_db"] = rec.psnr[static_cast<size_t>(i)];
        ddim::cli::write_sidecar(name, record);
        std::cout << std::fixed << std::setprecision(6) << name.string() << "  mse " << rec.mse[static_cast<size_t>(i)]
                  << "  psnr " << std::setprecision(2) << rec.psnr[static_cast<size_t>(i)] << " dB\n";
      }
    }
    return 0;
  });
}
