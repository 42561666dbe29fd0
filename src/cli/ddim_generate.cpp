// ddim-generate: DDIM sampling from an exported UNet2DModel to PNG files.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <limits>
#include <sstream>

#include "cli_common.h"
#include "ddim/ddim.h"

namespace {

constexpr const char* kExamples = R"(
Examples:
  ddim-generate -n 16 --seed 7 --grid digits.png
      16 digits from the embedded model, seed 7, tiled into one PNG (and digits.png.json).
  ddim-generate --model models/cifar10 --steps 100 --eta 0.5 -o 'img_%03d.png' -n 4
      4 images img_000.png ... img_003.png from an exported model, 100 steps, half DDPM noise.
  ddim-generate --latents a.pt --interpolate b.pt --frames 8 -o 'f_%d.png' --grid strip.png
      8 frames from a.pt's image to b.pt's (latents from ddim-invert: decoded with their method).
  ddim-generate --from-sidecar img_007.png.json -o again.png
      img_007.png made again, byte for byte, from the options its sidecar records.
)";

// The flags a sidecar's record replaces under --from-sidecar.
constexpr const char* kRecordedFlags[] = {
    "--steps",       "--eta",    "--seed",  "--num-images", "--batch-size", "--grid",  "--grid-gap", "--latents",
    "--interpolate", "--frames", "--model", "--dtype",      "--set",        "--shard", "--shards",   "--resume"};

// --from-sidecar: one image's sidecar, read and checked; its fields replace the command line's.
struct Recorded {
  nlohmann::json record;
  std::string source;  // "--from-sidecar <path>", for messages

  const nlohmann::json& at(const char* key) const {
    if (!record.contains(key)) throw ddim::UsageError(source + " has no \"" + key + "\"");
    return record[key];
  }
  int64_t integer(const char* key) const {
    const auto& value = at(key);
    if (!value.is_number_integer() || (value.is_number_unsigned() && value.get<uint64_t>() > INT64_MAX)) {
      throw ddim::UsageError(source + ": \"" + key + "\" is " + value.dump() + ", not an integer");
    }
    return value.get<int64_t>();
  }
  std::string text(const char* key) const {
    const auto& value = at(key);
    if (!value.is_string()) throw ddim::UsageError(source + ": \"" + key + "\" is " + value.dump() + ", not a string");
    return value.get<std::string>();
  }
  // A path, or "" where the record has null.
  std::string optional_text(const char* key) const { return at(key).is_null() ? "" : text(key); }
};

Recorded read_recorded(const std::string& path) {
  Recorded recorded{nlohmann::json::parse(ddim::read_file(path), nullptr, /*allow_exceptions=*/false),
                    "--from-sidecar " + path};
  if (!recorded.record.is_object()) throw ddim::UsageError(recorded.source + " is not a JSON object");
  const auto tool = recorded.text("tool");
  if (tool != "ddim-generate") {
    throw ddim::UsageError(recorded.source + " was written by " + tool + "; only ddim-generate's images are remade");
  }
  if (!recorded.record.contains("index")) {
    throw ddim::UsageError(recorded.source + " is a grid's sidecar; give the sidecar of one of its images");
  }
  return recorded;
}

// The UNet file the record names (its format decides the backend, as load_unet chose when the image
// was made), refused when its SHA-256 is not the recorded one: another file gives other pixels.
std::shared_ptr<ddim::UNet> recorded_unet(const Recorded& recorded, const std::filesystem::path& model,
                                          torch::Device device, torch::ScalarType dtype) {
  const auto format = recorded.text("unet_format");
  const auto file = model / recorded.text("unet_file");
  const auto expected = recorded.text("unet_sha256");
  const auto found = ddim::file_sha256(file);
  if (found != expected) {
    throw ddim::UsageError(recorded.source + ": " + file.string() + " has SHA-256 " + found +
                           ", the image was made by " + expected + " (another model file)");
  }
  if (format == "aoti") return std::make_shared<ddim::AOTInductorUNet>(model, device, dtype);
  if (format == "torchscript") return std::make_shared<ddim::TorchScriptUNet>(model, device, dtype);
  throw ddim::UsageError(recorded.source + ": unknown unet_format \"" + format + "\"");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ddim-generate: turn Gaussian noise into images with DDIM, exactly as diffusers' DDIMPipeline does."};
  app.footer(kExamples);
  app.set_version_flag("--version", [] { return ddim::build_info(); });
  std::string output = "ddim.png", grid, latents_path, seed_text, interpolate_path;
  int64_t steps = 50, num_images = 1, batch_size = 0, grid_gap = 2, frames = 8;
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
                 "start from saved latents [N, C, H, W] (safetensors or torch.save); those of ddim-invert are decoded "
                 "with the method and, unless --steps is given, the step count their sidecar or entries name");
  app.add_option("--interpolate", interpolate_path,
                 "with --latents A: decode frames along the spherical interpolation from A to these latents (both "
                 "of one image, one method)");
  app.add_option("--frames", frames, "with --interpolate: frames, the first A's image and the last this file's")
      ->check(ddim::cli::at_least(2))
      ->capture_default_str();
  std::string from_sidecar;
  app.add_option("--from-sidecar", from_sidecar,
                 "make one image again, byte for byte, from its sidecar (IMG.png.json): its model file (checked by "
                 "SHA-256), scheduler config and options; only -o, --device and --quiet go with it");
  ddim::cli::ScaleFlags scale;
  ddim::cli::add_scale_flags(app, scale, "");
  ddim::cli::CommonFlags common;
  ddim::cli::add_common_flags(app, common);
  if (const int code = ddim::cli::parse(app, "ddim-generate", argc, argv); code >= 0) return code;

  return ddim::cli::run_tool("ddim-generate", [&] {
    ddim::cli::install_interrupt_handler();
    ddim::cli::check_output_pattern(output);
    std::optional<Recorded> recorded;
    int64_t recorded_index = 0;
    if (!from_sidecar.empty()) {
      for (const char* flag : kRecordedFlags) {
        if (app.count(flag)) {
          throw ddim::UsageError(std::string(flag) +
                                 " with --from-sidecar: the sidecar gives every option but -o, "
                                 "--device and --quiet");
        }
      }
      recorded = read_recorded(from_sidecar);
      common.model = recorded->text("model");
      common.dtype = recorded->text("dtype");
      if (!app.count("--device")) common.device = recorded->text("device");
      steps = recorded->integer("steps");
      const auto& eta_value = recorded->at("eta");
      if (!eta_value.is_number()) throw ddim::UsageError(recorded->source + ": \"eta\" is " + eta_value.dump());
      eta = eta_value.get<double>();
      const auto& seed_value = recorded->at("seed");
      if (!seed_value.is_number_unsigned()) {
        throw ddim::UsageError(recorded->source + ": \"seed\" is " + seed_value.dump() + ", not a seed");
      }
      seed_text = std::to_string(seed_value.get<uint64_t>());
      num_images = recorded->integer("num_images");
      batch_size = recorded->integer("batch_size");
      latents_path = recorded->optional_text("latents");
      if (recorded->record.contains("interpolate")) {
        interpolate_path = recorded->text("interpolate");
        frames = recorded->integer("frames");
      }
      const auto& set = recorded->at("set");
      if (!set.is_object()) throw ddim::UsageError(recorded->source + ": \"set\" is " + set.dump());
      for (const auto& [key, value] : set.items()) common.sets.push_back(key + "=" + value.dump());
      recorded_index = recorded->integer("index");
      if (num_images < 1 || batch_size < 1 || recorded_index < 0 || recorded_index >= num_images ||
          recorded->integer("batch") != recorded_index / batch_size) {
        throw ddim::UsageError(recorded->source + ": image " + std::to_string(recorded_index) + " of batch " +
                               recorded->at("batch").dump() + " does not fit " + std::to_string(num_images) +
                               " images in batches of " + std::to_string(batch_size));
      }
    }
    const auto shard = scale.parsed();
    const bool steps_given = app.count("--steps") > 0 || recorded.has_value();
    if (shard.count > 1 && !grid.empty()) throw ddim::UsageError("--grid needs every image; not with --shard");
    const uint64_t seed = seed_text.empty() ? ddim::random_seed() : ddim::cli::parse_seed(seed_text);
    const auto model = ddim::cli::resolve_model(common.model, argv[0]);
    const auto device = ddim::cli::parse_device(common.device);
    const auto dtype = ddim::dtype_from_name(common.dtype);
    std::optional<ddim::NamedTensors> latents;
    auto method = ddim::InversionMethod::from_name("ddim");
    if (!interpolate_path.empty() && latents_path.empty()) throw ddim::UsageError("--interpolate needs --latents");
    if (app.count("--frames") && interpolate_path.empty()) throw ddim::UsageError("--frames needs --interpolate");
    // Latents files: entries checked (4-D, finite, one image each when interpolating); the method
    // and the step count from the file and its sidecar.
    const auto load = [&](const std::string& path, const char* flag) {
      auto named = ddim::load_tensors(path);
      if (named.size() == 1) named = {{"latents", named.begin()->second}};  // one tensor, whatever its name
      if (!named.count("latents")) {
        throw ddim::UsageError(std::string(flag) + " " + path + " holds several tensors but none named 'latents'");
      }
      const auto& main = named.at("latents");
      for (const auto& [key, tensor] : named) {
        if (tensor.dim() == 0) continue;
        if (tensor.dim() != 4 || tensor.sizes() != main.sizes()) {
          throw ddim::UsageError(std::string(flag) + " " + path + ": expected [N, C, H, W] latents" +
                                 (key == "latents" ? "" : " in '" + key + "' as in 'latents'"));
        }
        ddim::cli::check_finite(tensor, std::string(flag) + " " + path + (key == "latents" ? "" : " '" + key + "'"));
      }
      return named;
    };
    if (!latents_path.empty()) {
      latents = load(latents_path, "--latents");
      method = ddim::cli::latents_method(latents_path, *latents, steps_given ? nullptr : &steps);
      if (latents->count("num_inference_steps") && latents->at("num_inference_steps").item<int64_t>() != steps) {
        throw ddim::UsageError("--steps " + std::to_string(steps) + ": --latents " + latents_path + " were made in " +
                               std::to_string(latents->at("num_inference_steps").item<int64_t>()) +
                               " steps, and --method " + method.name() + " retraces them only with the same count");
      }
    }
    if (!interpolate_path.empty()) {
      auto other = load(interpolate_path, "--interpolate");
      int64_t other_steps = steps;
      const auto other_method =
          ddim::cli::latents_method(interpolate_path, other, steps_given ? nullptr : &other_steps);
      if (ddim::cli::method_record(other_method) != ddim::cli::method_record(method) || other_steps != steps) {
        throw ddim::UsageError("--latents " + latents_path + " (" + ddim::cli::method_record(method).dump() + ", " +
                               std::to_string(steps) + " steps) and --interpolate " + interpolate_path + " (" +
                               ddim::cli::method_record(other_method).dump() + ", " + std::to_string(other_steps) +
                               " steps): frames between latents need one method and one step count");
      }
      if (latents->at("latents").size(0) != 1 || other.at("latents").size(0) != 1) {
        throw ddim::UsageError("--interpolate: --latents and --interpolate must each hold one image's latents, not " +
                               std::to_string(latents->at("latents").size(0)) + " and " +
                               std::to_string(other.at("latents").size(0)));
      }
      ddim::NamedTensors path;
      for (const auto& [key, a] : *latents) {
        if (a.dim() == 0) {
          path[key] = a;
          continue;
        }
        if (!other.count(key)) throw ddim::UsageError("--interpolate " + interpolate_path + " lacks '" + key + "'");
        std::vector<torch::Tensor> steps_along;
        for (int64_t f = 0; f < frames; ++f) {
          steps_along.push_back(
              ddim::slerp(a, other.at(key), static_cast<double>(f) / static_cast<double>(frames - 1)));
        }
        path[key] = torch::cat(steps_along);
      }
      latents = path;
    }
    if (latents) {
      const int64_t held = latents->at("latents").size(0);
      if (app.count("--num-images") && num_images != held) {
        throw ddim::UsageError(
            "-n " + std::to_string(num_images) + " but " +
            (interpolate_path.empty() ? "--latents " + latents_path + " holds " : std::string("--frames gives ")) +
            std::to_string(held));
      }
      num_images = held;
    }
    if (recorded && recorded->at("method") != ddim::cli::method_record(method)) {
      throw ddim::UsageError(recorded->source + " names --method " + recorded->at("method").dump() +
                             ", but --latents " + latents_path + " now reads as " +
                             ddim::cli::method_record(method).dump());
    }
    // DDIM sampling (eta, seeds) for DDIM latents and noise; the other methods' forward partners.
    const bool ddim_sampling =
        method.kind == ddim::InversionMethod::Kind::kDDIM ||
        (method.kind == ddim::InversionMethod::Kind::kFixedPoint && method.scheduler == ddim::InverseScheduler::kDDIM);
    if (!ddim_sampling && eta != 0) {
      std::ostringstream shown;
      shown << eta;
      throw ddim::UsageError("--eta " + shown.str() + ": latents of --method " + method.name() +
                             " decode deterministically (--eta is DDIM's)");
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
    // The scheduler config as the sidecar recorded it (the model folder's may have changed since).
    const auto config =
        recorded ? ddim::cli::config_text(recorded->at("scheduler_config")) : ddim::read_scheduler_config(model);
    const auto scheduler = ddim::scheduler_from_config_as<ddim::DDIMScheduler>(config, overrides);
    // Latents from ddim-invert decode with this run's scheduler config: say so when theirs differed.
    for (const auto& path : {latents_path, interpolate_path}) {
      const std::filesystem::path sidecar = path + ".json";
      if (path.empty() || !std::filesystem::is_regular_file(sidecar)) continue;
      const auto made = nlohmann::json::parse(ddim::read_file(sidecar), nullptr, false);
      const auto here = ddim::cli::overrides_record(overrides);
      if (made.is_object() && made.contains("set") && made["set"] != here) {
        ddim::warn(path + " was made with --set " + made["set"].dump() + ", this run has " + here.dump() +
                   ": it decodes with this run's scheduler config");
      }
    }
    // The method's pair, when it is not plain DDIM sampling.
    std::unique_ptr<ddim::Scheduler> inverse, forward;
    if (!ddim_sampling) {
      inverse = ddim::scheduler_from_config(config, ddim::inverse_class_name(method.scheduler_pair()), overrides);
      forward = ddim::scheduler_from_config(config, ddim::forward_class_name(method.scheduler_pair()), overrides);
    }
    std::shared_ptr<ddim::UNet> unet =
        recorded ? recorded_unet(*recorded, model, device, dtype) : ddim::load_unet(model, device, dtype);
    // Before any tensor is made: a batch that cannot fit is refused now.
    ddim::cli::check_memory(batch_size, unet->config(), "--batch-size");
    if (latents) {  // before any pipeline is built (and warns)
      const auto& cfg = unet->config();
      const auto shape = latents->at("latents").sizes();
      if (shape[1] != cfg.in_channels || shape[2] != cfg.sample_height || shape[3] != cfg.sample_width) {
        throw ddim::UsageError("--latents " + latents_path + ": latents of shape " + c10::str(shape) +
                               ": the model takes [B, " + std::to_string(cfg.in_channels) + ", " +
                               std::to_string(cfg.sample_height) + ", " + std::to_string(cfg.sample_width) + "]");
      }
    }
    // The first and last names of this run: folders, and targets that are not regular files.
    // --from-sidecar makes one image, named by -o alone, in the batch it was made in.
    const auto name_of = [&](int64_t index) {
      return recorded ? ddim::cli::output_name(output, 0, 1) : ddim::cli::output_name(output, index, num_images);
    };
    ddim::cli::check_writable({name_of(0), name_of(num_images - 1)});
    // The batches this process runs: its shard's, or under --from-sidecar the recorded image's one.
    const auto mine = recorded ? ddim::cli::Shard{recorded_index / batch_size, batches} : shard;
    if (!grid.empty()) ddim::cli::check_writable({grid});
    ddim::DDIMPipeline pipe(unet, *scheduler);

    // Everything an image depends on; --resume compares it with the sidecars found.
    auto record = ddim::cli::base_record("ddim-generate", model, device.str(), *unet);
    record["scheduler_config"] = ddim::cli::config_record((ddim_sampling ? *scheduler : *forward).config_json());
    record["set"] = ddim::cli::overrides_record(overrides);
    record["steps"] = steps;
    record["eta"] = eta;
    record["num_images"] = num_images;
    record["batch_size"] = batch_size;
    record["seed"] = seed;
    record["latents"] = latents_path.empty() ? nlohmann::json(nullptr) : nlohmann::json(latents_path);
    record["method"] = ddim::cli::method_record(method);
    if (!interpolate_path.empty()) {
      record["interpolate"] = interpolate_path;
      record["frames"] = frames;
    }
    const nlohmann::json run_options = record;
    if (recorded) record["from_sidecar"] = from_sidecar;

    std::vector<torch::Tensor> grid_images;  // uint8, only with --grid
    ddim::BatchedGenerateOptions options;
    options.num_images = num_images;
    options.batch_size = batch_size;
    options.seed = seed;
    options.num_inference_steps = steps;
    options.eta = eta;
    if (latents) options.latents = latents->at("latents");
    options.shard_index = mine.index;
    options.shard_count = mine.count;
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
    const int64_t my_batches = (batches - mine.index + mine.count - 1) / mine.count;
    ddim::cli::Progress progress("ddim-generate", common.quiet);
    progress.plan_batches(my_batches, std::min(num_images, my_batches * batch_size));
    options.callback = progress.callback();
    if (!common.quiet) {
      std::cerr << "ddim-generate: seed " << seed << ", " << num_images << " image" << (num_images == 1 ? "" : "s")
                << " in " << batches << " batch" << (batches == 1 ? "" : "es") << " of " << batch_size;
      if (shard.count > 1)
        std::cerr << ", shard " << shard.index << "/" << shard.count << " (" << my_batches << " batches)";
      if (recorded) std::cerr << "; making image " << recorded_index << " (batch " << mine.index << ") again";
      std::cerr << "\n";
    }
    const auto emit = [&](int64_t k, int64_t first, const torch::Tensor& images) {
      const int64_t count = images.size(0);
      for (int64_t j = 0; j < count; ++j) {
        if (recorded && first + j != recorded_index) continue;
        const auto name = name_of(first + j);
        ddim::cli::check_writable({name});
        ddim::write_png(name, images[j]);
        record["batch"] = k;
        record["index"] = first + j;
        if (!interpolate_path.empty()) record["frame_weight"] = static_cast<double>(first + j) / (frames - 1);
        ddim::cli::write_sidecar(name, record);
        if (!common.quiet) std::cout << name.string() << "\n";
      }
      if (!grid.empty()) grid_images.push_back(ddim::images_to_uint8(images));
      progress.batch_done(count);
      return true;
    };
    ddim::BatchedGenerateResult run;
    if (ddim_sampling) {
      run = pipe.generate_batches(options, [&](int64_t k, int64_t first, const ddim::GenerateResult& result) {
        return emit(k, first, result.images);
      });
    } else {
      // The method's forward partner, batch by batch as generate_batches runs them.
      ddim::InversionPipeline decoder(unet, *inverse, *forward, method);
      ddim::InvertOptions decode;
      decode.num_inference_steps = steps;
      decode.callback = options.callback;
      for (int64_t k = mine.index; k < batches; k += mine.count) {
        const int64_t first = k * batch_size, count = std::min(batch_size, num_images - first);
        if (options.skip && options.skip(k)) {
          ++run.batches_skipped;
          continue;
        }
        ddim::Reconstruction rec;
        try {
          rec = decoder.reconstruct(ddim::cli::slice_latents(*latents, first, count), decode);
        } catch (const ddim::UsageError& e) {
          throw ddim::UsageError("--latents " + latents_path + ": " + e.what());
        }
        if (rec.cancelled) {
          run.cancelled = true;
          break;
        }
        ++run.batches_run;
        emit(k, first, rec.images);
      }
    }
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
      // Frames of an interpolation make one strip.
      const int64_t columns = interpolate_path.empty() ? 0 : frames;
      ddim::write_png(grid, ddim::image_grid(torch::cat(grid_images), columns, grid_gap));
      record.erase("index");
      record.erase("batch");
      record.erase("frame_weight");
      record["grid_gap"] = grid_gap;
      ddim::cli::write_sidecar(grid, record);
      if (!common.quiet) std::cout << grid << "\n";
    }
    return 0;
  });
}
