// ddim-invert: images -> the latent noise DDIM (or DPM-Solver) sampling would turn into them.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>

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

// One image to invert: where it is, and the name its outputs take under --output-dir (its path
// inside the folder it was found in, or its file name).
struct Item {
  std::filesystem::path input;
  std::string key;
};

bool has_image_extension(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

void add_argument(const std::string& arg, std::vector<Item>& items) {
  const std::filesystem::path path(arg);
  if (!std::filesystem::is_directory(path)) {
    items.push_back({path, path.filename().string()});
    return;
  }
  std::vector<Item> found;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) {
    if (entry.is_regular_file() && has_image_extension(entry.path())) {
      found.push_back({entry.path(), entry.path().lexically_relative(path).generic_string()});
    }
  }
  if (found.empty()) throw ddim::UsageError("folder " + arg + " holds no PNG or JPEG image");
  std::sort(found.begin(), found.end(), [](const Item& a, const Item& b) { return a.key < b.key; });
  items.insert(items.end(), found.begin(), found.end());
}

// Files, folders (recursive, sorted, .png/.jpg/.jpeg only) and @list.txt (one file or folder per
// line; blank lines and # comments skipped), in the order given.
std::vector<Item> collect_items(const std::vector<std::string>& args) {
  std::vector<Item> items;
  for (const auto& arg : args) {
    if (arg.size() > 1 && arg[0] == '@') {
      std::istringstream lines(ddim::read_file(arg.substr(1)));
      std::string line;
      while (std::getline(lines, line)) {
        line.erase(0, line.find_first_not_of(" \t\r"));
        line.erase(line.find_last_not_of(" \t\r") + 1);
        if (!line.empty() && line[0] != '#') add_argument(line, items);
      }
    } else {
      add_argument(arg, items);
    }
  }
  if (items.empty()) throw ddim::UsageError("no input images");
  return items;
}

torch::Tensor read_for_model(const std::filesystem::path& path, const ddim::UNetConfig& cfg, bool resize) {
  auto image = ddim::read_image(path);
  if (image.size(0) != cfg.sample_height || image.size(1) != cfg.sample_width) {
    if (!resize) {
      throw ddim::UsageError("image " + path.string() + " is " + std::to_string(image.size(1)) + "x" +
                             std::to_string(image.size(0)) + ", the model takes " + std::to_string(cfg.sample_width) +
                             "x" + std::to_string(cfg.sample_height) + " (pass --resize)");
    }
    image = ddim::resize_image(image, cfg.sample_height, cfg.sample_width);
  }
  return ddim::convert_channels(image, cfg.in_channels);
}

// What a latents file holds: float32 CPU copies of the batched entries (a float64 UNet's latents
// stay float64), the 0-dim parameters as they are.
ddim::NamedTensors saved_latents(const ddim::NamedTensors& latents) {
  ddim::NamedTensors out;
  for (const auto& [key, tensor] : latents) {
    const auto type =
        tensor.dim() == 0 ? tensor.scalar_type() : torch::promote_types(tensor.scalar_type(), torch::kFloat32);
    out[key] = tensor.to(torch::kCPU, type);
  }
  return out;
}

void print_round_trip(const std::filesystem::path& name, double mse, double psnr) {
  std::cout << std::fixed << std::setprecision(6) << name.string() << "  mse " << mse << "  psnr "
            << std::setprecision(2) << psnr << " dB\n";
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "ddim-invert: turn images into latent noise: DDIM or DPM-Solver inversion as diffusers does, refined by "
      "fixed-point iteration, or exactly with EDICT or BDIA."};
  app.footer(kExamples);
  app.set_version_flag("--version", [] { return ddim::build_info(); });
  std::vector<std::string> inputs;
  std::string output = "latents.pt", output_dir, reconstruct, scheduler = "ddim", method_name;
  ddim::InversionMethod defaults;
  int64_t iterations = defaults.iterations;
  double tolerance = defaults.tolerance, edict_p = defaults.edict_p, bdia_gamma = defaults.bdia_gamma;
  int64_t steps = 50, batch_size = 16;
  bool resize = false;
  app.add_option("images", inputs, "input images (PNG or JPEG), folders of them (recursive), or @list.txt")->required();
  app.add_option("--steps", steps, "number of inversion steps")->check(ddim::cli::at_least(1))->capture_default_str();
  app.add_option("--method", method_name,
                 "ddim or dpmsolver (diffusers' inversion, as --scheduler), fixed-point (the --scheduler pair, each "
                 "step refined), edict or bdia (exact: the latents file also holds the method's second state)")
      ->check(CLI::IsMember({"ddim", "dpmsolver", "fixed-point", "edict", "bdia"}));
  app.add_option("--scheduler", scheduler,
                 "ddim (DDIMInverseScheduler) or dpmsolver (DPMSolverMultistepInverseScheduler); with --method "
                 "fixed-point the pair it refines")
      ->check(CLI::IsMember({"ddim", "dpmsolver"}))
      ->capture_default_str();
  app.add_option("--iterations", iterations, "fixed-point: at most this many refinements per step, one UNet call each")
      ->capture_default_str();
  app.add_option("--tolerance", tolerance,
                 "fixed-point: stop refining a step once its result moves less than this (RMS, relative)")
      ->capture_default_str();
  app.add_option("--edict-p", edict_p, "edict: the mixing weight p, in (0, 1)")->capture_default_str();
  app.add_option("--bdia-gamma", bdia_gamma, "bdia: gamma, in (0, 1]")->capture_default_str();
  app.add_option("-o,--output", output,
                 "latents [B, C, H, W] float32 of all images in one file: PATH.safetensors (safetensors.torch."
                 "load_file reads it) or any other name (torch.load reads it)")
      ->capture_default_str();
  app.add_option("--output-dir", output_dir,
                 "instead of -o: one latents file per image, DIR/<name>.pt, and DIR/manifest.jsonl (an unreadable "
                 "image is skipped with a warning and the exit status is 1)");
  app.add_option("--reconstruct", reconstruct,
                 "sample the latents back with the forward scheduler and print MSE and PSNR: into this PNG (pattern or "
                 "_<i> for several), or with --output-dir into this folder");
  app.add_option("--batch-size", batch_size, "images inverted at once; memory grows with it")
      ->check(ddim::cli::at_least(1))
      ->capture_default_str();
  app.add_flag("--resize", resize, "resize images to the model's size (Catmull-Rom enlarging, Mitchell shrinking)");
  ddim::cli::ScaleFlags scale;
  ddim::cli::add_scale_flags(app, scale, "with --output-dir: ");
  ddim::cli::CommonFlags common;
  ddim::cli::add_common_flags(app, common);
  if (const int code = ddim::cli::parse(app, "ddim-invert", argc, argv); code >= 0) return code;

  return ddim::cli::run_tool("ddim-invert", [&] {
    ddim::cli::install_interrupt_handler();
    const bool per_image = !output_dir.empty();
    if (per_image && app.count("--output")) throw ddim::UsageError("-o and --output-dir: choose one");
    const auto shard = scale.parsed();
    if (!per_image && (shard.count > 1 || scale.resume)) {
      throw ddim::UsageError(std::string(scale.resume ? "--resume" : "--shard") + " needs --output-dir");
    }
    if (per_image) {
      for (const auto& dir : {output_dir, reconstruct}) {
        if (!dir.empty() && std::filesystem::exists(dir) && !std::filesystem::is_directory(dir)) {
          throw ddim::UsageError("--output-dir/--reconstruct " + dir + " exists and is not a folder");
        }
      }
    }
    const auto items = collect_items(inputs);
    const auto count = static_cast<int64_t>(items.size());
    if (per_image) {
      std::map<std::string, std::string> seen;
      for (const auto& item : items) {
        const auto [it, fresh] = seen.emplace(item.key, item.input.string());
        if (!fresh) {
          throw ddim::UsageError("inputs " + it->second + " and " + item.input.string() + " would both write " +
                                 item.key + ".pt under --output-dir (pass their folder instead)");
        }
      }
    }
    std::vector<std::filesystem::path> rec_names;
    if (!per_image) {
      if (!reconstruct.empty()) rec_names = ddim::cli::output_names(reconstruct, count);
      ddim::cli::check_writable({output});
      ddim::cli::check_writable(rec_names);
    }
    const auto model = ddim::cli::resolve_model(common.model, argv[0]);
    const auto device = ddim::cli::parse_device(common.device);
    const auto dtype = ddim::dtype_from_name(common.dtype);
    // The method: --method, or --scheduler's pair; each parameter only with its method.
    if (!method_name.empty() && method_name != "fixed-point" && app.count("--scheduler") &&
        !(method_name == scheduler)) {
      throw ddim::UsageError("--method " + method_name + " and --scheduler " + scheduler + ": choose one");
    }
    auto method = ddim::InversionMethod::from_name(method_name.empty() ? scheduler : method_name);
    method.scheduler = scheduler == "ddim" ? ddim::InverseScheduler::kDDIM : ddim::InverseScheduler::kDPMSolver;
    const std::vector<std::pair<const char*, ddim::InversionMethod::Kind>> parameters = {
        {"--iterations", ddim::InversionMethod::Kind::kFixedPoint},
        {"--tolerance", ddim::InversionMethod::Kind::kFixedPoint},
        {"--edict-p", ddim::InversionMethod::Kind::kEDICT},
        {"--bdia-gamma", ddim::InversionMethod::Kind::kBDIA}};
    for (const auto& [flag, kind] : parameters) {
      if (app.count(flag) && method.kind != kind) {
        auto owner = ddim::InversionMethod{};
        owner.kind = kind;
        throw ddim::UsageError(std::string(flag) + " is a parameter of --method " + owner.name() + ", not of " +
                               method.name());
      }
    }
    method.iterations = iterations;
    method.tolerance = tolerance;
    method.edict_p = edict_p;
    method.bdia_gamma = bdia_gamma;
    method.validate();
    // Both schedulers of the pair, each built once from the model's config with the overrides.
    const auto kind = method.scheduler_pair();
    const auto overrides = ddim::cli::parse_overrides(common.sets);
    const auto config = ddim::read_scheduler_config(model);
    const auto inverse = ddim::scheduler_from_config(config, ddim::inverse_class_name(kind), overrides);
    const auto forward = ddim::scheduler_from_config(config, ddim::forward_class_name(kind), overrides);
    std::shared_ptr<ddim::UNet> unet = ddim::load_unet(model, device, dtype);
    const auto& cfg = unet->config();
    batch_size = std::min(batch_size, count);
    ddim::cli::check_memory(batch_size, cfg, "--batch-size");
    ddim::InversionPipeline pipe(unet, *inverse, *forward, method);

    auto record = ddim::cli::base_record("ddim-invert", model, device.str(), *unet);
    record["method"] = ddim::cli::method_record(method);
    record["scheduler"] =
        method.kind == ddim::InversionMethod::Kind::kEDICT || method.kind == ddim::InversionMethod::Kind::kBDIA
            ? forward->class_name()
            : inverse->class_name();

    // The resolved configs, every key: the scheduler above and, where the round trip samples with
    // another (--reconstruct, and ddim-generate on these latents), its forward partner.
    const bool exact =
        method.kind == ddim::InversionMethod::Kind::kEDICT || method.kind == ddim::InversionMethod::Kind::kBDIA;
    record["scheduler_config"] = ddim::cli::config_record((exact ? *forward : *inverse).config_json());
    if (!exact) record["forward_scheduler_config"] = ddim::cli::config_record(forward->config_json());
    record["set"] = ddim::cli::overrides_record(overrides);
    record["steps"] = steps;
    record["resize"] = resize;
    record["batch_size"] = batch_size;
    ddim::InvertOptions options;
    options.num_inference_steps = steps;
    const int64_t batches = (count + batch_size - 1) / batch_size;
    const int64_t my_batches = (batches - shard.index + shard.count - 1) / shard.count;
    ddim::cli::Progress progress("ddim-invert", common.quiet);
    progress.plan_batches(my_batches, std::min(count, my_batches * batch_size));
    options.callback = progress.callback();

    if (!per_image) {
      // Every image in one latents file: all read first (a bad one stops the run before any work).
      std::vector<torch::Tensor> images;
      for (const auto& item : items) images.push_back(read_for_model(item.input, cfg, resize));
      std::vector<ddim::NamedTensors> latents;
      int64_t unet_calls = 0;
      for (int64_t k = 0; k < batches; ++k) {
        const int64_t first = k * batch_size, n = std::min(batch_size, count - first);
        const auto batch = torch::stack(std::vector<torch::Tensor>(images.begin() + first, images.begin() + first + n));
        auto inversion = pipe.invert_latents(batch, options);
        if (inversion.cancelled) {
          progress.finish();
          std::cerr << "ddim-invert: interrupted; nothing written\n";
          return 130;
        }
        unet_calls = inversion.unet_calls;
        latents.push_back(saved_latents(inversion.latents));
        progress.batch_done(n);
      }
      progress.finish();
      const auto all = ddim::cli::concat_latents(latents);
      record["unet_calls"] = unet_calls;
      std::vector<std::string> names;
      for (const auto& item : items) names.push_back(item.input.string());
      record["inputs"] = names;
      ddim::cli::save_latents(output, all);
      ddim::cli::write_sidecar(output, record);
      if (!common.quiet) std::cout << output << "\n";
      if (reconstruct.empty()) return 0;
      ddim::cli::Progress back("reconstruct", common.quiet);
      back.plan_batches(batches, count);
      options.callback = back.callback();
      record["latents"] = output;
      for (int64_t k = 0; k < batches; ++k) {
        const int64_t first = k * batch_size, n = std::min(batch_size, count - first);
        const auto originals =
            torch::stack(std::vector<torch::Tensor>(images.begin() + first, images.begin() + first + n));
        const auto rec = pipe.reconstruct(ddim::cli::slice_latents(all, first, n), options, originals);
        if (rec.cancelled) {
          back.finish();
          std::cerr << "ddim-invert: interrupted during the reconstruction; latents written\n";
          return 130;
        }
        for (int64_t j = 0; j < n; ++j) {
          const auto& name = rec_names[static_cast<size_t>(first + j)];
          ddim::write_png(name, rec.images[j]);
          record["index"] = first + j;
          record["mse"] = rec.mse[static_cast<size_t>(j)];
          record["psnr_db"] = rec.psnr[static_cast<size_t>(j)];
          record["reconstruct_unet_calls"] = rec.unet_calls;
          ddim::cli::write_sidecar(name, record);
          print_round_trip(name, rec.mse[static_cast<size_t>(j)], rec.psnr[static_cast<size_t>(j)]);
        }
        back.batch_done(n);
      }
      back.finish();
      return 0;
    }

    // --output-dir: batch k (items [kB, kB + B)) belongs to shard k mod N, so every image is
    // inverted in the same company of images whatever the sharding (a UNet's output for one image
    // can differ in the last bit with the batch around it) and the shards' union is one run's bytes.
    const std::filesystem::path dir(output_dir), rec_dir(reconstruct);
    const auto latents_name = [&](const Item& item) { return dir / (item.key + ".pt"); };
    const auto rec_name = [&](const Item& item) {
      return rec_dir /
             (item.key.size() > 4 && item.key.substr(item.key.size() - 4) == ".png" ? item.key : item.key + ".png");
    };
    record["reconstruct"] = !reconstruct.empty();
    const nlohmann::json run_options = record;
    std::vector<std::pair<int64_t, nlohmann::json>> manifest;  // (item index, line), sorted at the end
    int64_t unreadable = 0;
    const auto manifest_line = [&](const Item& item, const nlohmann::json& sidecar) {
      nlohmann::json line = {{"input", item.input.string()}, {"latents", item.key + ".pt"}};
      if (sidecar.contains("psnr_db")) line["psnr_db"] = sidecar["psnr_db"];
      return line;
    };
    std::filesystem::create_directories(dir);
    if (!reconstruct.empty()) std::filesystem::create_directories(rec_dir);
    for (int64_t k = shard.index; k < batches; k += shard.count) {
      const int64_t first = k * batch_size, n = std::min(batch_size, count - first);
      bool done = scale.resume;
      for (int64_t i = first; done && i < first + n; ++i) {
        const auto& item = items[static_cast<size_t>(i)];
        done = ddim::cli::output_complete(latents_name(item), run_options) &&
               (reconstruct.empty() || std::filesystem::is_regular_file(rec_name(item)));
      }
      if (done) {
        for (int64_t i = first; i < first + n; ++i) {
          const auto& item = items[static_cast<size_t>(i)];
          manifest.emplace_back(
              i, manifest_line(item, nlohmann::json::parse(ddim::read_file(latents_name(item).string() + ".json"),
                                                           nullptr, false)));
        }
        progress.batch_done(n);
        continue;
      }
      std::vector<torch::Tensor> images;
      std::vector<int64_t> batch_items;
      for (int64_t i = first; i < first + n; ++i) {
        const auto& item = items[static_cast<size_t>(i)];
        try {
          images.push_back(read_for_model(item.input, cfg, resize));
          batch_items.push_back(i);
        } catch (const ddim::Error& e) {
          ++unreadable;
          ddim::warn("skipped " + ddim::cli::one_line(e.what()));
          manifest.emplace_back(
              i, nlohmann::json{{"input", item.input.string()}, {"error", ddim::cli::one_line(e.what())}});
        }
      }
      if (images.empty()) {
        progress.batch_done(n);
        continue;
      }
      const auto batch = torch::stack(images);
      const auto inversion = pipe.invert_latents(batch, options);
      if (inversion.cancelled) {
        progress.finish();
        std::cerr << "ddim-invert: interrupted; finished batches are written, --resume goes on from there\n";
        return 130;
      }
      std::optional<ddim::Reconstruction> rec;
      if (!reconstruct.empty()) {
        rec = pipe.reconstruct(inversion.latents, options, batch);
        if (rec->cancelled) {
          progress.finish();
          std::cerr << "ddim-invert: interrupted; finished batches are written, --resume goes on from there\n";
          return 130;
        }
      }
      const auto cpu_latents = saved_latents(inversion.latents);
      for (size_t j = 0; j < batch_items.size(); ++j) {
        const Item& item = items[static_cast<size_t>(batch_items[j])];
        const auto name = latents_name(item);
        std::filesystem::create_directories(name.parent_path());
        ddim::cli::check_writable({name});
        auto sidecar = record;
        sidecar["input"] = item.input.string();
        sidecar["unet_calls"] = inversion.unet_calls;
        if (rec) {
          const auto rname = rec_name(item);
          std::filesystem::create_directories(rname.parent_path());
          ddim::write_png(rname, rec->images[static_cast<int64_t>(j)]);
          sidecar["mse"] = rec->mse[j];
          sidecar["psnr_db"] = rec->psnr[j];
          sidecar["reconstruct_unet_calls"] = rec->unet_calls;
          if (!common.quiet) print_round_trip(rname, rec->mse[j], rec->psnr[j]);
        }
        ddim::cli::save_latents(name, ddim::cli::slice_latents(cpu_latents, static_cast<int64_t>(j), 1));
        ddim::cli::write_sidecar(name, sidecar);
        manifest.emplace_back(batch_items[j], manifest_line(item, sidecar));
        if (!common.quiet && !rec) std::cout << name.string() << "\n";
      }
      progress.batch_done(n);
    }
    progress.finish();
    std::sort(manifest.begin(), manifest.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    std::string lines;
    for (const auto& entry : manifest) lines += entry.second.dump() + "\n";
    const std::string manifest_file = shard.count == 1 ? "manifest.jsonl"
                                                       : "manifest.shard-" + std::to_string(shard.index) + "-of-" +
                                                             std::to_string(shard.count) + ".jsonl";
    ddim::write_file_atomically(dir / manifest_file, lines);
    if (!common.quiet) std::cout << (dir / manifest_file).string() << "\n";
    if (unreadable > 0) {
      std::cerr << "ddim-invert: " << unreadable << " image" << (unreadable == 1 ? "" : "s")
                << " could not be read and were skipped (warnings above; listed with \"error\" in " << manifest_file
                << ")\n";
      return 1;
    }
    return 0;
  });
}
