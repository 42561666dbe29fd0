// ddim-invert: images -> the latent noise DDIM (or DPM-Solver) sampling would turn into them
// (ddim::InversionJob).
#include <CLI/CLI.hpp>

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
  ddim-invert --method bdia digit.png -o digit.pt && ddim-generate --latents digit.pt -o back.png
      exact inversion (BDIA): back.png is digit.png again (digit.pt also holds BDIA's second state).
  ddim-invert photos/ @more.txt --output-dir latents/ --batch-size 32 --shard 0/4 --resume
      every PNG and JPEG under photos/ and those listed in more.txt, one latents file each plus
      latents/manifest.jsonl; this process takes shard 0 of 4 and skips what is already done.
)";

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "ddim-invert: turn images into latent noise: DDIM or DPM-Solver inversion as diffusers does, refined by "
      "fixed-point iteration, or exactly with EDICT or BDIA."};
  app.footer(kExamples);
  app.set_version_flag("--version", [] { return ddim::build_info(); });
  ddim::InversionJob job;
  const ddim::InversionMethod defaults;
  std::string model;
  bool quiet = false;
  app.add_option("images", job.inputs, "input images (PNG or JPEG), folders of them (recursive), or @list.txt")
      ->required();
  app.add_option("--steps", job.steps, "number of inversion steps")
      ->check(ddim::cli::at_least(1))
      ->capture_default_str();
  app.add_option("--method", job.method,
                 "ddim or dpmsolver (diffusers' inversion, as --scheduler), fixed-point (the --scheduler pair, each "
                 "step refined), edict or bdia (exact: the latents file also holds the method's second state)")
      ->check(CLI::IsMember({"ddim", "dpmsolver", "fixed-point", "edict", "bdia"}));
  ddim::cli::add_optional(app, "--scheduler", job.scheduler,
                          "ddim (DDIMInverseScheduler, the default) or dpmsolver (DPMSolverMultistepInverseScheduler); "
                          "with --method fixed-point the pair it refines")
      ->check(CLI::IsMember({"ddim", "dpmsolver"}));
  ddim::cli::add_optional(app, "--iterations", job.iterations,
                          "fixed-point: at most this many refinements per step, one UNet call each (default: " +
                              std::to_string(defaults.iterations) + ")");
  ddim::cli::add_optional(app, "--tolerance", job.tolerance,
                          "fixed-point: stop refining a step once its result moves less than this (RMS, relative; "
                          "default: 1e-05)");
  ddim::cli::add_optional(app, "--edict-p", job.edict_p, "edict: the mixing weight p, in (0, 1) (default: 0.93)");
  ddim::cli::add_optional(app, "--bdia-gamma", job.bdia_gamma, "bdia: gamma, in (0, 1] (default: 1)");
  ddim::cli::add_optional(app, "-o,--output", job.output,
                          "latents [B, C, H, W] float32 of all images in one file: PATH.safetensors (safetensors.torch."
                          "load_file reads it) or any other name (torch.load reads it); default: latents.pt");
  app.add_option("--output-dir", job.output_dir,
                 "instead of -o: one latents file per image, DIR/<name>.pt, and DIR/manifest.jsonl (an unreadable "
                 "image is skipped with a warning and the exit status is 1)");
  app.add_option("--reconstruct", job.reconstruct,
                 "sample the latents back with the forward scheduler and print MSE and PSNR: into this PNG (pattern or "
                 "_<i> for several), or with --output-dir into this folder");
  app.add_option("--batch-size", job.batch_size, "images inverted at once; memory grows with it")
      ->check(ddim::cli::at_least(1))
      ->capture_default_str();
  app.add_flag("--resize", job.resize, "resize images to the model's size (Catmull-Rom enlarging, Mitchell shrinking)");
  std::string encode_seed;
  app.add_option("--encode-seed", encode_seed,
                 "AutoencoderKL models: encode as a draw from the posterior seeded so (latent_dist.sample), not its "
                 "mode; 0 to 2^64-1");
  ddim::cli::add_condition_flags(app, job.condition, "1, one conditional call per step; above 1 inexact");
  ddim::cli::add_scale_flags(app, job.shard, job.shards, job.resume, "with --output-dir: ");
  ddim::cli::add_model_flags(app, job.model, model, quiet);
  if (const int code = ddim::cli::parse(app, "ddim-invert", argc, argv); code >= 0) return code;

  return ddim::cli::run_tool("ddim-invert", [&] {
    if (!encode_seed.empty()) job.encode_seed = ddim::cli::parse_seed(encode_seed, "--encode-seed");
    job.validate();  // the command line's own mistakes before the model is looked for
    job.model.folder = ddim::cli::resolve_model(model, argv[0]);
    ddim::cli::Console console("ddim-invert", quiet);
    return console.finish(job.run(console.events()));
  });
}
