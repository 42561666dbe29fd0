#include "runs/sidecar_record.h"

#include "ddim/errors.h"
#include "ddim/io/files.h"
#include "ddim/io/sha256.h"
#include "ddim/models/aot_inductor_unet.h"
#include "ddim/runs/generation_job.h"
#include "ddim/version.h"
#include "io/json_values.h"
#include "text/clip_tokenizer_files.h"

namespace ddim::detail {

nlohmann::json base_record(const std::string& tool, const std::filesystem::path& model, const std::string& device,
                           const UNet& unet, const VAE* vae) {
  // Which file ran: the compiled package and the trace agree to about 1e-6 per call, not bit for bit.
  const auto* aoti = dynamic_cast<const AOTInductorUNet*>(&unet);
  const bool package = aoti != nullptr;
  const std::string file = package ? "unet/" + aoti->package().filename().string() : "unet/model.pt";
  nlohmann::json record = {{"ddim_sidecar", kSidecarVersion},
                           {"tool", tool},
                           {"ddim_version", ddim::version()},
                           {"libtorch", TORCH_VERSION},
                           {"model", std::filesystem::absolute(model).string()},
                           {"unet_file", file},
                           {"unet_format", package ? "aoti" : "torchscript"},
                           {"unet_sha256", cached_file_sha256(model / file)},
                           {"device", device},
                           {"dtype", dtype_name(unet.dtype())}};
  if (vae) {
    // Which file ran: as for the UNet, the package and the trace differ in the last bits.
    const std::string vae_file = vae->config().component + "/" + vae->file().filename().string();
    record["vae_file"] = vae_file;
    record["vae_sha256"] = cached_file_sha256(model / vae_file);
  }
  return record;
}

nlohmann::json text_files_record(const std::filesystem::path& model) {
  nlohmann::json record = nlohmann::json::object();
  std::vector<std::string> files = {"text_encoder/model.pt2", "text_encoder/config.json"};
  for (const char* name : kCLIPTokenizerFiles) files.push_back(std::string("tokenizer/") + name);
  for (const auto& file : files) {
    if (std::filesystem::is_regular_file(model / file)) record[file] = cached_file_sha256(model / file);
  }
  return record;
}

void check_text_files(const nlohmann::json& recorded, const std::filesystem::path& model, const std::string& source) {
  if (!recorded.is_object()) throw UsageError(source + ": \"text_files\" is " + json_excerpt(recorded));
  const auto now = text_files_record(model);
  for (const auto& [file, digest] : recorded.items()) {
    const auto found = now.find(file);
    if (found == now.end()) {
      throw UsageError(source + ": " + (model / file).string() + " is gone; the image was made with it (SHA-256 " +
                       json_excerpt(digest, 80) + ")");
    }
    if (*found != digest) {
      throw UsageError(source + ": " + (model / file).string() + " has SHA-256 " + found->get<std::string>() +
                       ", the image was made by " + json_excerpt(digest, 80) + " (another text encoder or tokenizer)");
    }
  }
  for (const auto& [file, digest] : now.items()) {
    if (!recorded.contains(file)) {
      throw UsageError(source + ": " + (model / file).string() + " is new since the image was made (it changes " +
                       "the prompt's tokens or embeddings)");
    }
  }
}

void write_sidecar(const std::filesystem::path& output, const nlohmann::json& record) {
  write_file_atomically(output.string() + ".json", record.dump(2) + "\n");
}

nlohmann::json overrides_record(const std::vector<ConfigOverride>& overrides) {
  nlohmann::json record = nlohmann::json::object();
  for (const auto& o : overrides) record[o.key] = nlohmann::json::parse(o.value_json);
  return record;
}

nlohmann::json config_record(const std::string& config_json) {
  auto record = nlohmann::json::parse(config_json_to_standard(config_json), nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded()) throw IOError("a scheduler config that is not JSON: " + one_line(config_json));
  return record;
}

std::string config_text(const nlohmann::json& record) { return config_json_from_standard(record.dump()); }

nlohmann::json method_record(const InversionMethod& method) {
  nlohmann::json record = {{"name", method.name()}};
  switch (method.kind) {
    case InversionMethod::Kind::kFixedPoint:
      record["scheduler"] = method.scheduler == InverseScheduler::kDDIM ? "ddim" : "dpmsolver";
      record["iterations"] = method.iterations;
      record["tolerance"] = method.tolerance;
      break;
    case InversionMethod::Kind::kEDICT:
      record["edict_p"] = method.edict_p;
      break;
    case InversionMethod::Kind::kBDIA:
      record["bdia_gamma"] = method.bdia_gamma;
      break;
    default:
      break;
  }
  return record;
}

InversionMethod method_from_record(const nlohmann::json& record, const std::string& source) {
  const auto bad = [&](const std::string& what) { return UsageError(source + ": " + what); };
  if (!record.is_object() || !record.contains("name") || !record["name"].is_string()) {
    throw bad("\"method\" is not an object with a name");
  }
  InversionMethod method;
  try {
    method = InversionMethod::from_name(record["name"].get<std::string>());
  } catch (const UsageError& e) {
    throw bad(e.what());
  }
  const auto number = [&](const char* key, double& out) {
    if (!record.contains(key)) return;
    if (!record[key].is_number()) throw bad(std::string("method ") + key + " is not a number");
    out = record[key].get<double>();
  };
  if (record.contains("scheduler")) {
    const auto& s = record["scheduler"];
    if (s != "ddim" && s != "dpmsolver") throw bad("method scheduler " + one_line(s.dump()) + " (ddim or dpmsolver)");
    method.scheduler = s == "ddim" ? InverseScheduler::kDDIM : InverseScheduler::kDPMSolver;
  }
  if (record.contains("iterations")) {
    const auto iterations = json_int64(record["iterations"]);
    if (!iterations) throw bad("method iterations is not an integer");
    method.iterations = *iterations;
  }
  number("tolerance", method.tolerance);
  number("edict_p", method.edict_p);
  number("bdia_gamma", method.bdia_gamma);
  try {
    method.validate();
  } catch (const UsageError& e) {
    throw bad(e.what());
  }
  return method;
}

nlohmann::json condition_record(const RunCondition& condition, double guidance_scale) {
  const auto file = [](const std::string& path) {
    return path.empty() ? nlohmann::json(nullptr) : nlohmann::json(path);
  };
  const auto sha = [](const std::string& path) {
    return path.empty() ? nlohmann::json(nullptr) : nlohmann::json(file_sha256(path));
  };
  return {
      {"class_label", condition.class_label.empty() ? nlohmann::json(nullptr) : nlohmann::json(condition.class_label)},
      {"guidance_scale", guidance_scale},
      {"guidance_rescale", condition.guidance_rescale},
      {"embeds", file(condition.embeds)},
      {"embeds_sha256", sha(condition.embeds)},
      {"negative_embeds", file(condition.negative_embeds)},
      {"negative_embeds_sha256", sha(condition.negative_embeds)},
      {"prompt", condition.prompt ? nlohmann::json(*condition.prompt) : nlohmann::json(nullptr)},
      {"negative_prompt",
       condition.negative_prompt ? nlohmann::json(*condition.negative_prompt) : nlohmann::json(nullptr)},
      {"clip_skip", condition.clip_skip ? nlohmann::json(*condition.clip_skip) : nlohmann::json(nullptr)}};
}

RunCondition condition_from_record(const nlohmann::json& record, const std::string& source, std::string& embeds_sha256,
                                   std::string& negative_embeds_sha256) {
  const RecordReader r(record, source + " \"condition\"");
  RunCondition condition;
  condition.class_label = r.optional_text("class_label");
  condition.guidance_scale = r.number("guidance_scale");
  condition.guidance_rescale = r.number("guidance_rescale");
  condition.embeds = r.optional_text("embeds");
  condition.negative_embeds = r.optional_text("negative_embeds");
  embeds_sha256 = condition.embeds.empty() ? "" : r.text("embeds_sha256");
  negative_embeds_sha256 = condition.negative_embeds.empty() ? "" : r.text("negative_embeds_sha256");
  // Absent from sidecars written before prompts existed; null when not given.
  const auto text_or_null = [&](const char* key) -> std::optional<std::string> {
    if (!record.contains(key) || record.at(key).is_null()) return std::nullopt;
    if (!record.at(key).is_string()) throw UsageError(r.source() + ": \"" + key + "\" is not a string or null");
    return record.at(key).get<std::string>();
  };
  condition.prompt = text_or_null("prompt");
  condition.negative_prompt = text_or_null("negative_prompt");
  if (record.contains("clip_skip") && !record.at("clip_skip").is_null()) {
    if (!record.at("clip_skip").is_number_integer()) {
      throw UsageError(r.source() + ": \"clip_skip\" is not a whole number or null");
    }
    condition.clip_skip = record.at("clip_skip").get<int64_t>();
  }
  try {
    condition.validate();
  } catch (const UsageError& e) {
    throw UsageError(r.source() + ": " + e.what());
  }
  return condition;
}

bool output_complete(const std::filesystem::path& output, const nlohmann::json& expected) {
  const auto sidecar = std::filesystem::path(output.string() + ".json");
  if (!std::filesystem::is_regular_file(output) || !std::filesystem::is_regular_file(sidecar)) return false;
  const auto record = nlohmann::json::parse(read_file(sidecar), nullptr, /*allow_exceptions=*/false);
  if (!record.is_object()) return false;  // not one of ours, or damaged: made again
  for (const auto& [key, value] : expected.items()) {
    if (key == "ddim_sidecar") continue;  // the schema, not the run: older sidecars are kept too
    const auto found = record.find(key);
    if (found == record.end() || *found != value) {
      throw UsageError("--resume: " + sidecar.string() + " was made with " + key + " " +
                       (found == record.end() ? std::string("(absent)") : found->dump()) + ", this run has " +
                       value.dump() + "; use another output or run without --resume");
    }
  }
  return true;
}

RecordReader::RecordReader(const std::filesystem::path& path, std::string source)
    : record_(nlohmann::json::parse(read_file(path), nullptr, /*allow_exceptions=*/false)), source_(std::move(source)) {
  if (!record_.is_object()) throw UsageError(source_ + " is not a JSON object");
  if (record_.contains("ddim_sidecar")) {
    const auto version = json_int64(record_["ddim_sidecar"]);
    if (!version || *version < 1)
      throw UsageError(source_ + ": \"ddim_sidecar\" is " + json_excerpt(record_["ddim_sidecar"]));
    if (*version > kSidecarVersion) {
      throw UsageError(source_ + " has sidecar schema " + std::to_string(*version) + "; this ddim reads up to " +
                       std::to_string(kSidecarVersion) + " (a newer ddim wrote it)");
    }
  }
}

RecordReader::RecordReader(nlohmann::json record, std::string source)
    : record_(std::move(record)), source_(std::move(source)) {
  if (!record_.is_object()) throw UsageError(source_ + " is not a JSON object");
}

const nlohmann::json& RecordReader::at(const char* key) const {
  if (!record_.contains(key)) throw UsageError(source_ + " has no \"" + key + "\"");
  return record_[key];
}

int64_t RecordReader::integer(const char* key) const {
  const auto value = json_int64(at(key));
  if (!value) throw UsageError(source_ + ": \"" + key + "\" is " + json_excerpt(at(key)) + ", not an integer");
  return *value;
}

double RecordReader::number(const char* key) const {
  const auto& value = at(key);
  if (!value.is_number()) throw UsageError(source_ + ": \"" + key + "\" is " + json_excerpt(value));
  return value.get<double>();
}

bool RecordReader::boolean(const char* key) const {
  const auto& value = at(key);
  if (!value.is_boolean())
    throw UsageError(source_ + ": \"" + key + "\" is " + json_excerpt(value) + ", not a boolean");
  return value.get<bool>();
}

std::string RecordReader::text(const char* key) const {
  const auto& value = at(key);
  if (!value.is_string()) throw UsageError(source_ + ": \"" + key + "\" is " + json_excerpt(value) + ", not a string");
  return value.get<std::string>();
}

std::string RecordReader::optional_text(const char* key) const { return at(key).is_null() ? "" : text(key); }

std::vector<std::string> RecordReader::assignments(const char* key) const {
  const auto& set = at(key);
  if (!set.is_object()) throw UsageError(source_ + ": \"" + key + "\" is " + json_excerpt(set));
  std::vector<std::string> out;
  for (const auto& [name, value] : set.items()) out.push_back(name + "=" + value.dump());
  return out;
}

}  // namespace ddim::detail
