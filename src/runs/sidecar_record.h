#pragma once

// The sidecar's JSON record: what every run's sidecar starts with, the pieces both jobs write and
// read back, and the --resume comparison. Private to the library; GenerationJob and InversionJob
// are its public face.

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ddim/models/unet.h"
#include "ddim/models/vae.h"
#include "ddim/pipelines/inversion_method.h"
#include "ddim/runs/run_condition.h"
#include "ddim/schedulers/scheduler_factory.h"

namespace ddim::detail {

// The fields every sidecar starts with: schema version, tool, versions, model folder, which UNet
// file ran, in which format and with which SHA-256, device, dtype; for a latent model the VAE's file
// and SHA-256.
nlohmann::json base_record(const std::string& tool, const std::filesystem::path& model, const std::string& device,
                           const UNet& unet, const VAE* vae = nullptr);

// Writes <output>.json beside an output.
void write_sidecar(const std::filesystem::path& output, const nlohmann::json& record);

// --set as the sidecar records it, {KEY: VALUE}, and back as KEY=VALUE assignments.
nlohmann::json overrides_record(const std::vector<ConfigOverride>& overrides);

// A scheduler config (config_json(): JSON as Python writes it, with Infinity, -Infinity and NaN
// bare) as a sidecar's JSON value, those numbers as strings; config_text is the inverse.
nlohmann::json config_record(const std::string& config_json);
std::string config_text(const nlohmann::json& record);

// The sidecar's "method" object: {"name": "edict", "edict_p": 0.93}, fixed-point's scheduler pair,
// iterations and tolerance, and back (UsageError naming `source` for anything unknown).
nlohmann::json method_record(const InversionMethod& method);
InversionMethod method_from_record(const nlohmann::json& record, const std::string& source);

// The sidecar's "condition" object of a conditional model's run: --class-label, the guidance scale
// as resolved (`guidance_scale`), --guidance-rescale, and each embeddings file with its SHA-256.
nlohmann::json condition_record(const RunCondition& condition, double guidance_scale);
// And back; the recorded SHA-256 of --embeds and --negative-embeds go to the two strings ("" when
// none). UsageError naming `source` for anything malformed.
RunCondition condition_from_record(const nlohmann::json& record, const std::string& source, std::string& embeds_sha256,
                                   std::string& negative_embeds_sha256);

// The files a prompt's embeddings come from, relative to the model folder, each with its SHA-256:
// {"text_encoder/model.pt2": ..., "text_encoder/config.json": ..., "tokenizer/vocab.json": ...},
// every tokenizer file that exists. A sidecar of a run with --prompt records it as "text_files".
nlohmann::json text_files_record(const std::filesystem::path& model);
// Replay: UsageError naming `source` and the first file whose SHA-256 is not the recorded one, or
// which appeared or vanished since (another text encoder or tokenizer gives other embeddings).
void check_text_files(const nlohmann::json& recorded, const std::filesystem::path& model, const std::string& source);

// --resume: true when `output` and its sidecar exist and the sidecar holds every key of `expected`
// (but the schema version) with the same value; false when either is missing or the sidecar is not
// readable JSON (the output is made again). UsageError naming the first key whose value differs.
bool output_complete(const std::filesystem::path& output, const nlohmann::json& expected);

// A sidecar read back, with typed getters whose errors name the sidecar and the key.
class RecordReader {
 public:
  // Reads and parses the file; UsageError when it is not a JSON object of a schema this library
  // reads (its "ddim_sidecar" above kSidecarVersion). `source` starts every message.
  RecordReader(const std::filesystem::path& path, std::string source);
  // An object inside a record (e.g. its "condition"); UsageError when it is not an object.
  RecordReader(nlohmann::json record, std::string source);

  const nlohmann::json& record() const { return record_; }
  const std::string& source() const { return source_; }
  bool has(const char* key) const { return record_.contains(key); }
  const nlohmann::json& at(const char* key) const;
  int64_t integer(const char* key) const;
  double number(const char* key) const;
  bool boolean(const char* key) const;
  std::string text(const char* key) const;
  // A path, or "" where the record has null.
  std::string optional_text(const char* key) const;
  // The "set" object as KEY=VALUE assignments.
  std::vector<std::string> assignments(const char* key) const;

 private:
  nlohmann::json record_;
  std::string source_;
};

}  // namespace ddim::detail
