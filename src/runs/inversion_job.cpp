#include "ddim/runs/inversion_job.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "ddim/io/image.h"
#include "ddim/pipelines/inversion_pipeline.h"
#include "ddim/runs/output_names.h"
#include "ddim/runs/shard.h"
#include "ddim/warnings.h"
#include "runs/latents_files.h"
#include "runs/memory_check.h"
#include "runs/sidecar_record.h"

namespace ddim {
namespace {

constexpr const char* kTool = "ddim-invert";

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
  if (found.empty()) throw UsageError("folder " + arg + " holds no PNG or JPEG image");
  std::sort(found.begin(), found.end(), [](const Item& a, const Item& b) { return a.key < b.key; });
  items.insert(items.end(), found.begin(), found.end());
}

// Files, folders (recursive, sorted, .png/.jpg/.jpeg only) and @list.txt (one file or folder per
// line; blank lines and # comments skipped), in the order given.
std::vector<Item> collect_items(const std::vector<std::string>& args) {
  std::vector<Item> items;
  for (const auto& arg : args) {
    if (arg.size() > 1 && arg[0] == '@') {
      std::istringstream lines(read_file(arg.substr(1)));
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
  if (items.empty()) throw UsageError("no input images");
  return items;
}

// The images a model takes: the UNet's samples, or a latent model's VAE's images.
struct ImageSize {
  int64_t height, width, channels;
};

ImageSize image_size(const UNetConfig& unet, const VAE* vae) {
  if (vae) return {vae->config().image_height, vae->config().image_width, vae->config().in_channels};
  return {unet.sample_height, unet.sample_width, unet.in_channels};
}

torch::Tensor read_for_model(const std::filesystem::path& path, const ImageSize& size, bool resize) {
  auto image = read_image(path);
  if (image.size(0) != size.height || image.size(1) != size.width) {
    if (!resize) {
      throw UsageError("image " + path.string() + " is " + std::to_string(image.size(1)) + "x" +
                       std::to_string(image.size(0)) + ", the model takes " + std::to_string(size.width) + "x" +
                       std::to_string(size.height) + " (pass --resize)");
    }
    image = resize_image(image, size.height, size.width);
  }
  return convert_channels(image, size.channels);
}

bool is_exact(const InversionMethod& method) {
  return method.kind == InversionMethod::Kind::kEDICT || method.kind == InversionMethod::Kind::kBDIA;
}

}  // namespace

InversionMethod InversionJob::resolved_method() const {
  const std::string pair = scheduler.value_or("ddim");
  if (pair != "ddim" && pair != "dpmsolver")
    throw UsageError("--scheduler " + one_line(pair) + ": use ddim or dpmsolver");
  // --method, or --scheduler's pair; each parameter only with its method.
  if (!method.empty() && method != "fixed-point" && scheduler && method != *scheduler) {
    throw UsageError("--method " + method + " and --scheduler " + *scheduler + ": choose one");
  }
  auto resolved = InversionMethod::from_name(method.empty() ? pair : method);
  resolved.scheduler = pair == "ddim" ? InverseScheduler::kDDIM : InverseScheduler::kDPMSolver;
  const std::vector<std::pair<const char*, InversionMethod::Kind>> parameters = {
      {"--iterations", InversionMethod::Kind::kFixedPoint},
      {"--tolerance", InversionMethod::Kind::kFixedPoint},
      {"--edict-p", InversionMethod::Kind::kEDICT},
      {"--bdia-gamma", InversionMethod::Kind::kBDIA}};
  const std::vector<bool> given = {iterations.has_value(), tolerance.has_value(), edict_p.has_value(),
                                   bdia_gamma.has_value()};
  for (size_t i = 0; i < parameters.size(); ++i) {
    const auto& [flag, kind] = parameters[i];
    if (given[i] && resolved.kind != kind) {
      InversionMethod owner;
      owner.kind = kind;
      throw UsageError(std::string(flag) + " is a parameter of --method " + owner.name() + ", not of " +
                       resolved.name());
    }
  }
  resolved.iterations = iterations.value_or(resolved.iterations);
  resolved.tolerance = tolerance.value_or(resolved.tolerance);
  resolved.edict_p = edict_p.value_or(resolved.edict_p);
  resolved.bdia_gamma = bdia_gamma.value_or(resolved.bdia_gamma);
  resolved.validate();
  return resolved;
}

InversionJob InversionJob::from_sidecar(const std::filesystem::path& sidecar) {
  const detail::RecordReader r(sidecar, sidecar.string());
  const auto tool = r.text("tool");
  if (tool != kTool) throw UsageError(r.source() + " was written by " + one_line(tool) + ", not by ddim-invert");
  InversionJob job;
  job.model.folder = r.text("model");
  job.model.dtype = r.text("dtype");
  job.model.device = r.text("device");
  job.model.set = r.assignments("set");
  const auto method = detail::method_from_record(r.at("method"), r.source());
  job.method = method.name();
  if (method.kind == InversionMethod::Kind::kFixedPoint) {
    job.scheduler = method.scheduler == InverseScheduler::kDDIM ? "ddim" : "dpmsolver";
    job.iterations = method.iterations;
    job.tolerance = method.tolerance;
  }
  if (method.kind == InversionMethod::Kind::kEDICT) job.edict_p = method.edict_p;
  if (method.kind == InversionMethod::Kind::kBDIA) job.bdia_gamma = method.bdia_gamma;
  job.steps = r.integer("steps");
  job.batch_size = r.integer("batch_size");
  job.resize = r.boolean("resize");
  if (r.has("encode_seed") && !r.at("encode_seed").is_null()) {
    if (!r.at("encode_seed").is_number_unsigned())
      throw UsageError(r.source() + ": \"encode_seed\" is not a seed or null");
    job.encode_seed = r.at("encode_seed").get<uint64_t>();
  }
  if (r.has("condition")) {
    std::string embeds_sha256, negative_embeds_sha256;  // inputs of a new run: not compared
    job.condition = detail::condition_from_record(r.at("condition"), r.source(), embeds_sha256, negative_embeds_sha256);
  }
  if (r.has("inputs")) {
    const auto& inputs = r.at("inputs");
    if (!inputs.is_array()) throw UsageError(r.source() + ": \"inputs\" is not a list");
    for (const auto& input : inputs) {
      if (!input.is_string()) throw UsageError(r.source() + ": \"inputs\" holds " + input.dump() + ", not a name");
      job.inputs.push_back(input.get<std::string>());
    }
  } else {
    job.inputs = {r.text("input")};  // one image's sidecar under --output-dir
  }
  return job;
}

void InversionJob::validate() const {
  if (inputs.empty()) throw UsageError("no input images");
  if (steps < 1) throw UsageError("--steps " + std::to_string(steps) + ": must be >= 1");
  if (batch_size < 1) throw UsageError("--batch-size " + std::to_string(batch_size) + ": must be >= 1");
  condition.validate();
  const bool per_image = !output_dir.empty();
  if (per_image && output) throw UsageError("-o and --output-dir: choose one");
  const auto parsed = Shard::parse(shard, shards);
  if (!per_image && (parsed.count > 1 || resume)) {
    throw UsageError(std::string(resume ? "--resume" : "--shard") + " needs --output-dir");
  }
  if (per_image) {
    for (const auto& dir : {output_dir, reconstruct}) {
      if (!dir.empty() && std::filesystem::exists(dir) && !std::filesystem::is_directory(dir)) {
        throw UsageError("--output-dir/--reconstruct " + dir + " exists and is not a folder");
      }
    }
  }
  resolved_method();
}

RunResult InversionJob::run(const RunEvents& events) const {
  validate();
  const auto shard_of_run = Shard::parse(shard, shards);
  const bool per_image = !output_dir.empty();
  const std::string latents_file = output.value_or("latents.pt");
  const auto items = collect_items(inputs);
  const auto count = static_cast<int64_t>(items.size());
  if (per_image) {
    std::map<std::string, std::string> seen;
    for (const auto& item : items) {
      const auto [it, fresh] = seen.emplace(item.key, item.input.string());
      if (!fresh) {
        throw UsageError("inputs " + it->second + " and " + item.input.string() + " would both write " + item.key +
                         ".pt under --output-dir (pass their folder instead)");
      }
    }
  }
  // --output-dir: the outputs of item i are DIR/<key>.pt and RECONSTRUCT/<key>[.png].
  const std::filesystem::path dir(output_dir), rec_dir(reconstruct);
  const auto latents_name = [&](const Item& item) { return dir / (item.key + ".pt"); };
  const auto rec_name = [&](const Item& item) {
    return rec_dir /
           (item.key.size() > 4 && item.key.substr(item.key.size() - 4) == ".png" ? item.key : item.key + ".png");
  };
  std::vector<std::filesystem::path> rec_names;
  if (!per_image) {
    if (!reconstruct.empty()) rec_names = output_names(reconstruct, count);
    check_writable({latents_file});
    check_writable(rec_names);
  }
  {  // No output replaces an input image or another output.
    std::vector<RunPath> read, written;
    for (const auto& item : items) read.push_back({item.input, "image"});
    if (!condition.embeds.empty()) read.push_back({condition.embeds, "--embeds"});
    if (!condition.negative_embeds.empty()) read.push_back({condition.negative_embeds, "--negative-embeds"});
    if (per_image) {
      for (const auto& item : items) {
        written.push_back({latents_name(item), "--output-dir"});
        if (!reconstruct.empty()) written.push_back({rec_name(item), "--reconstruct"});
      }
    } else {
      written.push_back({latents_file, "-o"});
      for (const auto& name : rec_names) written.push_back({name, "--reconstruct"});
    }
    check_distinct(read, written);
  }
  if (model.folder.empty()) throw UsageError("no model folder given");
  if (!std::filesystem::is_directory(model.folder)) {
    throw ConfigError("model folder " + model.folder.string() + " not found");
  }
  const auto device = model.resolved_device();
  const auto dtype = model.resolved_dtype();
  const auto method_run = resolved_method();
  // Both schedulers of the pair, each built once from the model's config with the overrides.
  const auto kind = method_run.scheduler_pair();
  const auto overrides = model.overrides();
  const auto config = read_scheduler_config(model.folder);
  const auto inverse = scheduler_from_config(config, inverse_class_name(kind), overrides);
  const auto forward = scheduler_from_config(config, forward_class_name(kind), overrides);
  std::shared_ptr<UNet> unet = load_unet(model.folder, device, dtype);
  const std::shared_ptr<VAE> vae = load_vae(model.folder, device);
  const auto& cfg = unet->config();
  const ImageSize size = image_size(cfg, vae.get());
  const int64_t run_batch = std::min(batch_size, count);
  // Inversion guides at 1 unless told otherwise (pix2pix-zero's invert).
  RunCondition inverted_under = condition;
  if (cfg.conditional()) inverted_under.guidance_scale = condition.guidance_scale.value_or(1.0);
  const Guidance guidance = inverted_under.guidance(cfg, count, model.folder);
  detail::check_memory(run_batch, cfg, "--batch-size", guidance.enabled_for(cfg));
  InversionPipeline pipe(unet, *inverse, *forward, method_run);
  pipe.set_vae(vae);

  auto record = detail::base_record(kTool, model.folder, device.str(), *unet, vae.get());
  record["method"] = detail::method_record(method_run);
  const bool exact = is_exact(method_run);
  record["scheduler"] = exact ? forward->class_name() : inverse->class_name();
  // The resolved configs, every key: the scheduler above and, where the round trip samples with
  // another (--reconstruct, and ddim-generate on these latents), its forward partner.
  record["scheduler_config"] = detail::config_record((exact ? *forward : *inverse).config_json());
  if (!exact) record["forward_scheduler_config"] = detail::config_record(forward->config_json());
  record["set"] = detail::overrides_record(overrides);
  record["steps"] = steps;
  record["resize"] = resize;
  record["encode_seed"] = encode_seed ? nlohmann::json(*encode_seed) : nlohmann::json(nullptr);
  record["batch_size"] = run_batch;
  if (cfg.conditional()) record["condition"] = detail::condition_record(inverted_under, *guidance.guidance_scale);
  if (inverted_under.prompt) record["text_files"] = detail::text_files_record(model.folder);
  InvertOptions options;
  options.num_inference_steps = steps;
  options.callback = events.on_step;
  if (encode_seed) {
    if (!vae || vae->config().class_name != "AutoencoderKL") {
      throw UsageError("--encode-seed " + std::to_string(*encode_seed) + ": " +
                       (vae ? "the model's VAE is a " + vae->config().class_name + ", which has one latent per image"
                            : std::string("the model has no VAE (it runs in pixel space)")) +
                       "; only an AutoencoderKL's posterior is sampled");
    }
    options.latent_distribution = LatentDistribution::kSample;
    options.encode_seed = *encode_seed;
  }
  auto plan = RunPlan::of("invert", count, run_batch, shard_of_run, shard_of_run);
  const int64_t batches = plan.batches;
  if (events.on_plan) events.on_plan(plan);
  const auto batch_done = [&](int64_t n) {
    if (events.on_batch) events.on_batch(n);
  };
  const auto file_done = [&](WrittenFile::Kind kind, const std::filesystem::path& path, int64_t index,
                             std::optional<double> mse = {}, std::optional<double> psnr = {}) {
    if (events.on_file) events.on_file({kind, path, index, mse, psnr});
  };
  RunResult result;

  if (!per_image) {
    // Every image in one latents file: all read first (a bad one stops the run before any work).
    std::vector<torch::Tensor> images;
    for (const auto& item : items) images.push_back(read_for_model(item.input, size, resize));
    std::vector<NamedTensors> latents;
    int64_t unet_calls = 0;
    for (int64_t k = 0; k < batches; ++k) {
      const int64_t first = k * run_batch, n = std::min(run_batch, count - first);
      const auto batch = torch::stack(std::vector<torch::Tensor>(images.begin() + first, images.begin() + first + n));
      options.guidance = guidance.for_images(first, n, count);
      if (encode_seed) options.encode_seed = *encode_seed + static_cast<uint64_t>(first);
      auto inversion = pipe.invert_latents(batch, options);
      if (inversion.cancelled) {
        result.cancelled = true;
        result.note = "interrupted; nothing written";
        return result;
      }
      unet_calls = inversion.unet_calls;
      latents.push_back(detail::cpu_latents(inversion.latents));
      ++result.batches_run;
      batch_done(n);
    }
    const auto all = detail::concat_latents(latents);
    record["unet_calls"] = unet_calls;
    std::vector<std::string> names;
    for (const auto& item : items) names.push_back(item.input.string());
    record["inputs"] = names;
    detail::save_latents(latents_file, all);
    detail::write_sidecar(latents_file, record);
    file_done(WrittenFile::Kind::kLatents, latents_file, -1);
    if (reconstruct.empty()) return result;
    if (events.on_plan) events.on_plan(RunPlan::of("reconstruct", count, run_batch, Shard{}, Shard{}));
    record["latents"] = latents_file;
    for (int64_t k = 0; k < batches; ++k) {
      const int64_t first = k * run_batch, n = std::min(run_batch, count - first);
      const auto originals =
          torch::stack(std::vector<torch::Tensor>(images.begin() + first, images.begin() + first + n));
      options.guidance = guidance.for_images(first, n, count);
      if (encode_seed) options.encode_seed = *encode_seed + static_cast<uint64_t>(first);
      const auto rec = pipe.reconstruct(detail::slice_latents(all, first, n), options, originals);
      if (rec.cancelled) {
        result.cancelled = true;
        result.note = "interrupted during the reconstruction; latents written";
        return result;
      }
      for (int64_t j = 0; j < n; ++j) {
        const auto& name = rec_names[static_cast<size_t>(first + j)];
        write_png(name, rec.images[j]);
        record["index"] = first + j;
        record["mse"] = rec.mse[static_cast<size_t>(j)];
        record["psnr_db"] = rec.psnr[static_cast<size_t>(j)];
        record["reconstruct_unet_calls"] = rec.unet_calls;
        detail::write_sidecar(name, record);
        file_done(WrittenFile::Kind::kReconstruction, name, first + j, rec.mse[static_cast<size_t>(j)],
                  rec.psnr[static_cast<size_t>(j)]);
      }
      batch_done(n);
    }
    return result;
  }

  // --output-dir: batch k (items [kB, kB + B)) belongs to shard k mod N, so every image is
  // inverted in the same company of images whatever the sharding (a UNet's output for one image
  // can differ in the last bit with the batch around it) and the shards' union is one run's bytes.
  record["reconstruct"] = !reconstruct.empty();
  const nlohmann::json run_options = record;
  std::vector<std::pair<int64_t, nlohmann::json>> manifest;  // (item index, line), sorted at the end
  const auto manifest_line = [&](const Item& item, const nlohmann::json& sidecar) {
    nlohmann::json line = {{"input", item.input.string()}, {"latents", item.key + ".pt"}};
    if (sidecar.contains("psnr_db")) line["psnr_db"] = sidecar["psnr_db"];
    return line;
  };
  const std::string interrupted = "interrupted; finished batches are written, --resume goes on from there";
  std::filesystem::create_directories(dir);
  if (!reconstruct.empty()) std::filesystem::create_directories(rec_dir);
  for (int64_t k = shard_of_run.index; k < batches; k += shard_of_run.count) {
    const int64_t first = k * run_batch, n = std::min(run_batch, count - first);
    bool done = resume;
    for (int64_t i = first; done && i < first + n; ++i) {
      const auto& item = items[static_cast<size_t>(i)];
      done = detail::output_complete(latents_name(item), run_options) &&
             (reconstruct.empty() || std::filesystem::is_regular_file(rec_name(item)));
    }
    if (done) {
      for (int64_t i = first; i < first + n; ++i) {
        const auto& item = items[static_cast<size_t>(i)];
        manifest.emplace_back(
            i, manifest_line(item,
                             nlohmann::json::parse(read_file(latents_name(item).string() + ".json"), nullptr, false)));
      }
      ++result.batches_skipped;
      batch_done(n);
      continue;
    }
    std::vector<torch::Tensor> images;
    std::vector<int64_t> batch_items;
    for (int64_t i = first; i < first + n; ++i) {
      const auto& item = items[static_cast<size_t>(i)];
      try {
        images.push_back(read_for_model(item.input, size, resize));
        batch_items.push_back(i);
      } catch (const Error& e) {
        ++result.unreadable;
        warn("skipped " + one_line(e.what()));
        manifest.emplace_back(i, nlohmann::json{{"input", item.input.string()}, {"error", one_line(e.what())}});
      }
    }
    if (images.empty()) {
      batch_done(n);
      continue;
    }
    const auto batch = torch::stack(images);
    options.guidance = guidance.for_images(batch_items, count);
    if (encode_seed) options.encode_seed = *encode_seed + static_cast<uint64_t>(batch_items.front());
    const auto inversion = pipe.invert_latents(batch, options);
    if (inversion.cancelled) {
      result.cancelled = true;
      result.note = interrupted;
      return result;
    }
    std::optional<Reconstruction> rec;
    if (!reconstruct.empty()) {
      rec = pipe.reconstruct(inversion.latents, options, batch);
      if (rec->cancelled) {
        result.cancelled = true;
        result.note = interrupted;
        return result;
      }
    }
    const auto cpu = detail::cpu_latents(inversion.latents);
    for (size_t j = 0; j < batch_items.size(); ++j) {
      const Item& item = items[static_cast<size_t>(batch_items[j])];
      const auto name = latents_name(item);
      std::filesystem::create_directories(name.parent_path());
      check_writable({name});
      auto sidecar = record;
      sidecar["input"] = item.input.string();
      sidecar["unet_calls"] = inversion.unet_calls;
      if (rec) {
        const auto rname = rec_name(item);
        std::filesystem::create_directories(rname.parent_path());
        write_png(rname, rec->images[static_cast<int64_t>(j)]);
        sidecar["mse"] = rec->mse[j];
        sidecar["psnr_db"] = rec->psnr[j];
        sidecar["reconstruct_unet_calls"] = rec->unet_calls;
        file_done(WrittenFile::Kind::kReconstruction, rname, batch_items[j], rec->mse[j], rec->psnr[j]);
      }
      detail::save_latents(name, detail::slice_latents(cpu, static_cast<int64_t>(j), 1));
      detail::write_sidecar(name, sidecar);
      manifest.emplace_back(batch_items[j], manifest_line(item, sidecar));
      if (!rec) file_done(WrittenFile::Kind::kLatents, name, batch_items[j]);
    }
    ++result.batches_run;
    batch_done(n);
  }
  std::sort(manifest.begin(), manifest.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string lines;
  for (const auto& entry : manifest) lines += entry.second.dump() + "\n";
  const std::string manifest_file = shard_of_run.count == 1
                                        ? "manifest.jsonl"
                                        : "manifest.shard-" + std::to_string(shard_of_run.index) + "-of-" +
                                              std::to_string(shard_of_run.count) + ".jsonl";
  write_file_atomically(dir / manifest_file, lines);
  file_done(WrittenFile::Kind::kManifest, dir / manifest_file, -1);
  if (result.unreadable > 0) {
    result.note =
        (std::to_string(result.unreadable) + " image" + (result.unreadable == 1 ? "" : "s") +
         " could not be read and were skipped (warnings above; listed with \"error\" in " + manifest_file + ")");
  }
  return result;
}

}  // namespace ddim
