#include "ddim/runs/generation_job.h"

#include <algorithm>
#include <limits>
#include <tuple>

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "ddim/io/image.h"
#include "ddim/io/sha256.h"
#include "ddim/models/aot_inductor_unet.h"
#include "ddim/models/aot_inductor_vae.h"
#include "ddim/models/torchscript_unet.h"
#include "ddim/models/torchscript_vae.h"
#include "ddim/pipelines/inversion_pipeline.h"
#include "ddim/pipelines/slerp.h"
#include "ddim/runs/output_names.h"
#include "ddim/runs/shard.h"
#include "ddim/schedulers/scheduler_factory.h"
#include "ddim/warnings.h"
#include "runs/latents_files.h"
#include "runs/memory_check.h"
#include "runs/sidecar_record.h"

namespace ddim {
namespace {

constexpr const char* kTool = "ddim-generate";

// The UNet file the record names (its format decides the backend, as load_unet chose when the image
// was made), refused when its SHA-256 is not the recorded one: another file gives other pixels.
void check_recorded_file(const std::string& source, const std::filesystem::path& file, const std::string& recorded,
                         const std::string& what) {
  if (const auto found = cached_file_sha256(file); found != recorded) {
    throw UsageError(source + ": " + file.string() + " has SHA-256 " + found + ", the image was made by " + recorded +
                     " (another " + what + ")");
  }
}

std::shared_ptr<UNet> replay_unet(const GenerationJob::Replay& replay, const std::filesystem::path& model,
                                  torch::Device device, torch::ScalarType dtype) {
  check_recorded_file(replay.source, model / replay.unet_file, replay.unet_sha256, "model file");
  if (replay.unet_format == "aoti") return std::make_shared<AOTInductorUNet>(model, device, dtype);
  if (replay.unet_format == "torchscript") return std::make_shared<TorchScriptUNet>(model, device, dtype);
  throw UsageError(replay.source + ": unknown unet_format \"" + replay.unet_format + "\"");
}

// The VAE file the record names, loaded by the backend its name says (model.pt2: the package),
// refused when its SHA-256 is not the recorded one: another VAE decodes other pixels.
std::shared_ptr<VAE> replay_vae(const GenerationJob::Replay& replay, const std::filesystem::path& model,
                                torch::Device device) {
  const auto file = model / replay.vae_file;
  check_recorded_file(replay.source, file, replay.vae_sha256, "VAE file");
  std::shared_ptr<VAE> vae;
  if (file.extension() == ".pt2") {
    vae = std::make_shared<AOTInductorVAE>(model, device);
  } else {
    vae = std::make_shared<TorchScriptVAE>(model, device);
  }
  if (vae->file() != file) {
    throw UsageError(replay.source + ": vae_file \"" + replay.vae_file + "\" is not the folder's VAE (" +
                     vae->file().string() + ")");
  }
  return vae;
}

// --height / --width against the one size the folder's static export takes.
void check_image_size(const std::optional<int64_t>& height, const std::optional<int64_t>& width, const UNetConfig& unet,
                      const VAE* vae) {
  const int64_t factor = vae ? vae->config().downsampling_factor : 1;
  const int64_t want_h = unet.sample_height * factor, want_w = unet.sample_width * factor;
  const std::string takes =
      std::to_string(want_h) + "x" + std::to_string(want_w) + " (height x width" +
      (vae ? ": the UNet's sample size " + std::to_string(unet.sample_height) + "x" +
                 std::to_string(unet.sample_width) + " times the VAE's factor " + std::to_string(factor)
           : ": the UNet's sample size") +
      "; exports are static in this version)";
  for (const auto& [flag, given, want] :
       {std::tuple{"--height", height, want_h}, std::tuple{"--width", width, want_w}}) {
    if (!given) continue;
    if (*given % factor != 0) {
      throw UsageError(std::string(flag) + " " + std::to_string(*given) + ": not a multiple of the VAE's factor " +
                       std::to_string(factor) + "; the model takes " + takes);
    }
    if (*given != want) {
      throw UsageError(std::string(flag) + " " + std::to_string(*given) + ": the model takes " + takes);
    }
  }
}

// --interpolate: `frames` frames along the spherical path from a's latents to b's, entry by entry.
NamedTensors interpolation_path(const NamedTensors& a, const NamedTensors& b, int64_t frames,
                                const std::string& b_path) {
  NamedTensors path;
  for (const auto& [key, start] : a) {
    if (start.dim() == 0) {
      path[key] = start;
      continue;
    }
    if (!b.count(key)) throw UsageError("--interpolate " + b_path + " lacks '" + key + "'");
    std::vector<torch::Tensor> along;
    for (int64_t f = 0; f < frames; ++f) {
      along.push_back(slerp(start, b.at(key), static_cast<double>(f) / static_cast<double>(frames - 1)));
    }
    path[key] = torch::cat(along);
  }
  return path;
}

}  // namespace

GenerationJob GenerationJob::from_sidecar(const std::filesystem::path& sidecar) {
  const detail::RecordReader r(sidecar, "--from-sidecar " + sidecar.string());
  const auto tool = r.text("tool");
  if (tool != kTool) {
    throw UsageError(r.source() + " was written by " + one_line(tool) + "; only ddim-generate's images are remade");
  }
  if (!r.has("index")) throw UsageError(r.source() + " is a grid's sidecar; give the sidecar of one of its images");
  GenerationJob job;
  job.model.folder = r.text("model");
  job.model.dtype = r.text("dtype");
  job.model.device = r.text("device");
  job.model.set = r.assignments("set");
  job.steps = r.integer("steps");
  job.eta = r.number("eta");
  if (!r.at("seed").is_number_unsigned()) {
    throw UsageError(r.source() + ": \"seed\" is " + r.at("seed").dump() + ", not a seed");
  }
  job.seed = r.at("seed").get<uint64_t>();
  job.num_images = r.integer("num_images");
  job.batch_size = r.integer("batch_size");
  job.latents = r.optional_text("latents");
  if (r.has("interpolate")) {
    job.interpolate = r.text("interpolate");
    job.frames = r.integer("frames");
  }
  Replay replay;
  replay.source = r.source();
  replay.sidecar = sidecar;
  replay.index = r.integer("index");
  replay.batch = r.integer("batch");
  replay.unet_file = r.text("unet_file");
  replay.unet_format = r.text("unet_format");
  replay.unet_sha256 = r.text("unet_sha256");
  if (r.has("vae_file")) {
    replay.vae_file = r.text("vae_file");
    replay.vae_sha256 = r.text("vae_sha256");
  }
  // The scheduler config as the sidecar recorded it (the model folder's may have changed since).
  replay.scheduler_config = detail::config_text(r.at("scheduler_config"));
  replay.method = r.at("method").dump();
  if (r.has("text_files")) replay.text_files = r.at("text_files").dump();
  if (r.has("condition")) {
    job.condition = detail::condition_from_record(r.at("condition"), r.source(), replay.embeds_sha256,
                                                  replay.negative_embeds_sha256);
  }
  if (*job.num_images < 1 || *job.batch_size < 1 || replay.index < 0 || replay.index >= *job.num_images ||
      replay.batch != replay.index / *job.batch_size) {
    throw UsageError(r.source() + ": image " + std::to_string(replay.index) + " of batch " +
                     std::to_string(replay.batch) + " does not fit " + std::to_string(*job.num_images) +
                     " images in batches of " + std::to_string(*job.batch_size));
  }
  job.replay = replay;
  return job;
}

void GenerationJob::validate() const {
  check_output_pattern(output);
  const auto range = [](const char* flag, bool ok, const std::string& value, const char* need) {
    if (!ok) throw UsageError(std::string(flag) + " " + value + ": " + need);
  };
  if (steps) range("--steps", *steps >= 1, std::to_string(*steps), "must be >= 1");
  range("--eta", eta >= 0 && eta <= 1, number_text(eta), "must be in [0, 1]");
  if (num_images) range("-n", *num_images >= 1, std::to_string(*num_images), "must be >= 1");
  if (batch_size) range("--batch-size", *batch_size >= 1, std::to_string(*batch_size), "must be >= 1");
  range("--grid-gap", grid_gap >= 0, std::to_string(grid_gap), "must be >= 0");
  if (frames) range("--frames", *frames >= 2, std::to_string(*frames), "must be >= 2");
  if (Shard::parse(shard, shards).count > 1 && !grid.empty()) {
    throw UsageError("--grid needs every image; not with --shard");
  }
  condition.validate();
  if (!interpolate.empty() && latents.empty()) throw UsageError("--interpolate needs --latents");
  if (frames && interpolate.empty()) throw UsageError("--frames needs --interpolate");
}

RunResult GenerationJob::run(const RunEvents& events) const {
  validate();
  const auto shard_of_run = Shard::parse(shard, shards);
  const uint64_t run_seed = seed ? *seed : random_seed();
  if (model.folder.empty()) throw UsageError("no model folder given");
  if (!std::filesystem::is_directory(model.folder)) {
    throw ConfigError("model folder " + model.folder.string() + " not found");
  }
  const auto device = model.resolved_device();
  const auto dtype = model.resolved_dtype();
  int64_t run_steps = steps.value_or(50);
  const int64_t run_frames = frames.value_or(8);

  // Latents files: entries checked (4-D, floating, finite, one image each when interpolating); the
  // method and the step count from the file and its sidecar.
  std::optional<NamedTensors> start;
  auto method = InversionMethod::from_name("ddim");
  if (!latents.empty()) {
    start = detail::load_latents(latents, "--latents");
    method = detail::latents_method(latents, *start, steps ? nullptr : &run_steps);
    if (start->count("num_inference_steps") && start->at("num_inference_steps").item<int64_t>() != run_steps) {
      throw UsageError("--steps " + std::to_string(run_steps) + ": --latents " + latents + " were made in " +
                       std::to_string(start->at("num_inference_steps").item<int64_t>()) + " steps, and --method " +
                       method.name() + " retraces them only with the same count");
    }
  }
  if (!interpolate.empty()) {
    auto other = detail::load_latents(interpolate, "--interpolate");
    int64_t other_steps = run_steps;
    const auto other_method = detail::latents_method(interpolate, other, steps ? nullptr : &other_steps);
    if (detail::method_record(other_method) != detail::method_record(method) || other_steps != run_steps) {
      throw UsageError("--latents " + latents + " (" + detail::method_record(method).dump() + ", " +
                       std::to_string(run_steps) + " steps) and --interpolate " + interpolate + " (" +
                       detail::method_record(other_method).dump() + ", " + std::to_string(other_steps) +
                       " steps): frames between latents need one method and one step count");
    }
    if (start->at("latents").size(0) != 1 || other.at("latents").size(0) != 1) {
      throw UsageError("--interpolate: --latents and --interpolate must each hold one image's latents, not " +
                       std::to_string(start->at("latents").size(0)) + " and " +
                       std::to_string(other.at("latents").size(0)));
    }
    start = interpolation_path(*start, other, run_frames, interpolate);
  }
  // -n: given, else what the latents hold, else --batch-size's (as diffusers' pipe(batch_size=B)
  // makes B images), else 1.
  int64_t n = num_images.value_or(batch_size.value_or(1));
  if (start) {
    const int64_t held = start->at("latents").size(0);
    if (num_images && *num_images != held) {
      throw UsageError("-n " + std::to_string(*num_images) + " but " +
                       (interpolate.empty() ? "--latents " + latents + " holds " : std::string("--frames gives ")) +
                       std::to_string(held));
    }
    n = held;
  }
  if (replay && replay->method != detail::method_record(method).dump()) {
    throw UsageError(replay->source + " names --method " + replay->method + ", but --latents " + latents +
                     " now reads as " + detail::method_record(method).dump());
  }
  // DDIM sampling (eta, seeds) for DDIM latents and noise; the other methods' forward partners.
  const bool ddim_sampling =
      method.kind == InversionMethod::Kind::kDDIM ||
      (method.kind == InversionMethod::Kind::kFixedPoint && method.scheduler == InverseScheduler::kDDIM);
  if (!ddim_sampling && eta != 0) {
    throw UsageError("--eta " + number_text(eta) + ": latents of --method " + method.name() +
                     " decode deterministically (--eta is DDIM's)");
  }
  const int64_t run_batch = std::min(batch_size.value_or(std::min<int64_t>(n, 16)), n);
  const int64_t batches = DDIMPipeline::batch_count(n, run_batch);
  if (run_seed > std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(batches - 1)) {
    throw UsageError("--seed " + std::to_string(run_seed) + ": batch k draws from seed + k, and seed + " +
                     std::to_string(batches - 1) + " passes 2^64 - 1");
  }
  if (!grid.empty() && n > 4096) {
    throw UsageError("--grid of " + std::to_string(n) + " images: at most 4096 (a grid is held whole)");
  }
  const auto overrides = model.overrides();
  const auto config = replay ? replay->scheduler_config : read_scheduler_config(model.folder);
  const auto scheduler = scheduler_from_config_as<DDIMScheduler>(config, overrides);
  // Latents from ddim-invert decode with this run's scheduler config: say so when theirs differed.
  for (const auto& path : {latents, interpolate}) {
    const std::filesystem::path sidecar = path + ".json";
    if (path.empty() || !std::filesystem::is_regular_file(sidecar)) continue;
    const auto made = nlohmann::json::parse(read_file(sidecar), nullptr, false);
    const auto here = detail::overrides_record(overrides);
    if (made.is_object() && made.contains("set") && made["set"] != here) {
      warn(path + " was made with --set " + made["set"].dump() + ", this run has " + here.dump() +
           ": it decodes with this run's scheduler config");
    }
  }
  // The method's pair, when it is not plain DDIM sampling.
  std::unique_ptr<Scheduler> inverse, forward;
  if (!ddim_sampling) {
    inverse = scheduler_from_config(config, inverse_class_name(method.scheduler_pair()), overrides);
    forward = scheduler_from_config(config, forward_class_name(method.scheduler_pair()), overrides);
  }
  std::shared_ptr<UNet> unet =
      replay ? replay_unet(*replay, model.folder, device, dtype) : load_unet(model.folder, device, dtype);
  // A latent model's VAE decodes what the UNet samples (float32 whatever --dtype says).
  const std::shared_ptr<VAE> vae =
      replay && !replay->vae_file.empty() ? replay_vae(*replay, model.folder, device) : load_vae(model.folder, device);
  check_image_size(height, width, unet->config(), vae.get());
  if (replay && condition.prompt) {  // before the text encoder is loaded
    if (replay->text_files.empty()) {
      warn(replay->source +
           " records no text encoder or tokenizer digests (an older ddim wrote it): the prompt's "
           "embeddings are not checked against the ones the image was made with");
    } else {
      detail::check_text_files(nlohmann::json::parse(replay->text_files), model.folder, replay->source);
    }
  }
  // Before any tensor is made: a batch that cannot fit is refused now (under guidance each UNet
  // call runs on both halves).
  Guidance guidance = condition.guidance(unet->config(), n, model.folder);
  guidance.guidance_scale = guidance.guidance_scale_for(unet->config());
  detail::check_memory(run_batch, unet->config(), "--batch-size", guidance.enabled_for(unet->config()));
  if (replay) {
    for (const auto& [path, recorded, flag] :
         {std::tuple{condition.embeds, replay->embeds_sha256, "--embeds"},
          std::tuple{condition.negative_embeds, replay->negative_embeds_sha256, "--negative-embeds"}}) {
      if (!path.empty() && file_sha256(path) != recorded) {
        throw UsageError(replay->source + ": " + flag + " " + path + " has SHA-256 " + file_sha256(path) +
                         ", the image was made with " + recorded + " (another embeddings file)");
      }
    }
  }
  if (start) {  // before any pipeline is built (and warns)
    const auto& cfg = unet->config();
    const auto shape = start->at("latents").sizes();
    if (shape[1] != cfg.in_channels || shape[2] != cfg.sample_height || shape[3] != cfg.sample_width) {
      throw UsageError("--latents " + latents + ": latents of shape " + c10::str(shape) + ": the model takes [B, " +
                       std::to_string(cfg.in_channels) + ", " + std::to_string(cfg.sample_height) + ", " +
                       std::to_string(cfg.sample_width) + "]");
    }
  }
  // The names of this run; a replay makes one image, named by `output` alone, in the batch it was
  // made in. Folders and targets that are not regular files are refused now, and so is any output
  // that is an input or another output.
  const auto name_of = [&](int64_t index) {
    return replay ? output_name(output, 0, 1) : output_name(output, index, n);
  };
  check_writable({name_of(0), name_of(n - 1)});
  if (!grid.empty()) check_writable({grid});
  std::vector<RunPath> inputs;
  if (!latents.empty()) inputs.push_back({latents, "--latents"});
  if (!interpolate.empty()) inputs.push_back({interpolate, "--interpolate"});
  if (!condition.embeds.empty()) inputs.push_back({condition.embeds, "--embeds"});
  if (!condition.negative_embeds.empty()) inputs.push_back({condition.negative_embeds, "--negative-embeds"});
  if (replay) inputs.push_back({replay->sidecar, "--from-sidecar"});
  // The names of batch k (with the grid) against the inputs and each other: checked for the first
  // batch here and for each batch before it runs, so that nothing per image is held for the whole
  // run (names from one pattern differ by construction; links and ../ are what this catches).
  const auto check_batch_names = [&](int64_t k) {
    std::vector<RunPath> outputs;
    const int64_t first = replay ? 0 : k * run_batch, count = replay ? 1 : std::min(run_batch, n - first);
    for (int64_t i = first; i < first + count; ++i) outputs.push_back({name_of(i), "-o"});
    if (!grid.empty()) outputs.push_back({grid, "--grid"});
    check_distinct(inputs, outputs);
  };
  // The batches this process runs: its shard's, or for a replay the recorded image's one.
  const Shard mine = replay ? Shard{replay->index / run_batch, batches} : shard_of_run;
  check_batch_names(mine.index < batches ? mine.index : 0);
  DDIMPipeline pipe(unet, *scheduler);
  pipe.set_vae(vae);

  // Everything an image depends on; --resume compares it with the sidecars found.
  auto record = detail::base_record(kTool, model.folder, device.str(), *unet, vae.get());
  record["scheduler_config"] = detail::config_record((ddim_sampling ? *scheduler : *forward).config_json());
  record["set"] = detail::overrides_record(overrides);
  record["steps"] = run_steps;
  record["eta"] = eta;
  record["num_images"] = n;
  record["batch_size"] = run_batch;
  record["seed"] = run_seed;
  record["latents"] = latents.empty() ? nlohmann::json(nullptr) : nlohmann::json(latents);
  record["method"] = detail::method_record(method);
  // Only a conditional model's records have it: an unconditional run's sidecar is as before.
  if (unet->config().conditional()) record["condition"] = detail::condition_record(condition, *guidance.guidance_scale);
  if (condition.prompt) record["text_files"] = detail::text_files_record(model.folder);
  if (!interpolate.empty()) {
    record["interpolate"] = interpolate;
    record["frames"] = run_frames;
  }
  const nlohmann::json run_options = record;
  if (replay) record["from_sidecar"] = replay->sidecar.string();

  std::vector<torch::Tensor> grid_images;  // uint8, only with a grid
  const auto skip = [&](int64_t k) {
    check_batch_names(k);
    if (!resume) return false;
    const int64_t first = k * run_batch, count = std::min(run_batch, n - first);
    for (int64_t i = first; i < first + count; ++i) {
      if (!detail::output_complete(output_name(output, i, n), run_options)) return false;
    }
    if (!grid.empty()) {  // the grid takes the kept images from their files
      std::vector<torch::Tensor> kept;
      for (int64_t i = first; i < first + count; ++i) kept.push_back(read_image(output_name(output, i, n)));
      grid_images.push_back(torch::stack(kept));
    }
    return true;
  };
  auto plan = RunPlan::of("generate", n, run_batch, shard_of_run, mine);
  plan.seed = run_seed;
  if (replay) plan.replay_index = replay->index;
  if (events.on_plan) events.on_plan(plan);

  const auto emit = [&](int64_t k, int64_t first, const torch::Tensor& images) {
    const int64_t count = images.size(0);
    for (int64_t j = 0; j < count; ++j) {
      if (replay && first + j != replay->index) continue;
      const auto name = name_of(first + j);
      check_writable({name});
      write_png(name, images[j]);
      record["batch"] = k;
      record["index"] = first + j;
      if (!interpolate.empty()) record["frame_weight"] = static_cast<double>(first + j) / (run_frames - 1);
      detail::write_sidecar(name, record);
      if (events.on_file) events.on_file({WrittenFile::Kind::kImage, name, first + j, {}, {}});
    }
    if (!grid.empty()) grid_images.push_back(images_to_uint8(images));
    if (events.on_batch) events.on_batch(count);
    return true;
  };
  RunResult result;
  if (ddim_sampling) {
    BatchedGenerateOptions options;
    options.num_images = n;
    options.batch_size = run_batch;
    options.seed = run_seed;
    options.num_inference_steps = run_steps;
    options.eta = eta;
    if (start) options.latents = start->at("latents");
    options.guidance = guidance;
    options.shard_index = mine.index;
    options.shard_count = mine.count;
    options.skip = skip;
    options.callback = events.on_step;
    const auto run = pipe.generate_batches(
        options, [&](int64_t k, int64_t first, const GenerateResult& r) { return emit(k, first, r.images); });
    result.batches_run = run.batches_run;
    result.batches_skipped = run.batches_skipped;
    result.cancelled = run.cancelled;
  } else {
    // The method's forward partner, batch by batch as generate_batches runs them.
    InversionPipeline decoder(unet, *inverse, *forward, method);
    decoder.set_vae(vae);
    InvertOptions decode;
    decode.num_inference_steps = run_steps;
    decode.callback = events.on_step;
    for (int64_t k = mine.index; k < batches; k += mine.count) {
      const int64_t first = k * run_batch, count = std::min(run_batch, n - first);
      if (skip(k)) {
        ++result.batches_skipped;
        continue;
      }
      Reconstruction rec;
      decode.guidance = guidance.for_images(first, count, n);
      try {
        rec = decoder.reconstruct(detail::slice_latents(*start, first, count), decode);
      } catch (const UsageError& e) {
        throw UsageError("--latents " + latents + ": " + e.what());
      }
      if (rec.cancelled) {
        result.cancelled = true;
        break;
      }
      ++result.batches_run;
      emit(k, first, rec.images);
    }
  }
  if (result.cancelled) {
    result.note = "interrupted after " + std::to_string(result.batches_run) +
                  " batches; their images are written, --resume goes on from there";
    return result;
  }
  if (resume && result.batches_skipped > 0 && events.on_note) {
    events.on_note("--resume: " + std::to_string(result.batches_skipped) + " complete batches kept");
  }
  if (!grid.empty()) {
    // Frames of an interpolation make one strip.
    const int64_t columns = interpolate.empty() ? 0 : run_frames;
    write_png(grid, image_grid(torch::cat(grid_images), columns, grid_gap));
    record.erase("index");
    record.erase("batch");
    record.erase("frame_weight");
    record["grid_gap"] = grid_gap;
    detail::write_sidecar(grid, record);
    if (events.on_file) events.on_file({WrittenFile::Kind::kGrid, grid, -1, {}, {}});
  }
  return result;
}

}  // namespace ddim
