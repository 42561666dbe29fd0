#pragma once

// What ddim-generate and ddim-invert share: finding the model, devices and dtypes, --set, the
// progress display, sidecars, output names, Ctrl-C, and turning errors into exit codes.

#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ddim/ddim.h"

namespace ddim::cli {

// Flag checks with one-line messages.
CLI::Validator at_least(int64_t minimum);
CLI::Validator between(double low, double high);

// Parses argv; on a bad command line prints "<tool>: <reason>" and returns 2, on --help/--version
// prints them and returns 0; returns -1 to go on.
int parse(CLI::App& app, const std::string& tool, int argc, char** argv);

// The flags both tools take.
struct CommonFlags {
  std::string model;
  std::string device = "auto";
  std::string dtype = "float32";
  std::vector<std::string> sets;
  bool quiet = false;
};
void add_common_flags(CLI::App& app, CommonFlags& flags);

// --model, else $DDIM_MODEL, else the embedded model: <exe>/../share/ddim/models/digits (install
// tree), <exe>/../../models/digits (build tree), then the source tree's models/digits.
std::filesystem::path resolve_model(const std::string& flag, const char* argv0);

torch::Device parse_device(const std::string& name);  // auto | cpu | cuda | cuda:N

// The --set KEY=VALUE flags as library overrides (UsageError naming a malformed one), and as the
// sidecar records them: {KEY: VALUE}.
std::vector<ConfigOverride> parse_overrides(const std::vector<std::string>& sets);
nlohmann::json overrides_record(const std::vector<ConfigOverride>& overrides);

// One name per image: an integer conversion in PATH (img_%03d.png; flags, a width, and d, i or u)
// takes the index; otherwise, with more than one image, _<i> goes before the extension. %% is a
// percent sign. Any other conversion, or more than one, is a UsageError naming the pattern.
std::vector<std::filesystem::path> output_names(const std::string& path, int64_t count);
// The name of image `index` of `count` alone (what output_names(path, count)[index] is).
std::filesystem::path output_name(const std::string& path, int64_t index, int64_t count);
// The same check alone, before any name is made.
void check_output_pattern(const std::string& path);

// Throws IOError naming the first path whose folder is missing or not writable, or which (or whose
// .json sidecar) exists and is not a regular file or a symlink, so that a run fails before its work.
void check_writable(const std::vector<std::filesystem::path>& paths);

// --shard i/N, or auto: from SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT
// (a Slurm array job), else JOB_COMPLETION_INDEX with `shards` = --shards N (a Kubernetes Indexed
// Job). "" = the one shard 0/1. UsageError naming what is wrong.
struct Shard {
  int64_t index = 0;
  int64_t count = 1;
};
Shard parse_shard(const std::string& text, int64_t shards);

// --shard, --shards and --resume, which both tools take; `scope` starts their help ("" or e.g.
// "with --output-dir: ").
struct ScaleFlags {
  std::string shard;
  int64_t shards = 0;
  bool resume = false;
  Shard parsed() const { return parse_shard(shard, shards); }
};
void add_scale_flags(CLI::App& app, ScaleFlags& flags, const std::string& scope);

// --resume: true when `output` and its sidecar exist and the sidecar holds every key of `expected`
// with the same value; false when either is missing or the sidecar is not readable JSON (the output
// is made again). UsageError naming the first key whose value differs: outputs of another run.
bool output_complete(const std::filesystem::path& output, const nlohmann::json& expected);

// --seed: a decimal integer in [0, 2^64 - 1]; anything else is a UsageError naming it.
uint64_t parse_seed(const std::string& text);

// UsageError "<what> holds N non-finite values ..." when the tensor has NaN or inf.
void check_finite(const torch::Tensor& tensor, const std::string& what);

// UsageError naming the flag when `images` images of this model cannot fit in the memory available
// now (estimated before anything is allocated).
void check_memory(int64_t images, const UNetConfig& config, const std::string& flag);

// Writes <output>.json beside an output.
void write_sidecar(const std::filesystem::path& output, const nlohmann::json& record);
// The fields every sidecar starts with: tool, versions, model folder, which UNet file ran, in
// which format and with which SHA-256, device, dtype.
nlohmann::json base_record(const std::string& tool, const std::filesystem::path& model, const std::string& device,
                           const UNet& unet);

// A scheduler config (config_json(): JSON as Python writes it, with Infinity, -Infinity and NaN
// bare, as DPM-Solver's lambda_min_clipped default is) as a sidecar's JSON value: those numbers
// become the strings "Infinity", "-Infinity" and "NaN". config_text is the inverse.
nlohmann::json config_record(const std::string& config_json);
std::string config_text(const nlohmann::json& record);

// The sidecar's "method" object: {"name": "edict", "edict_p": 0.93}, fixed-point's scheduler pair,
// iterations and tolerance, and back (UsageError naming `source` for anything unknown).
nlohmann::json method_record(const InversionMethod& method);
InversionMethod method_from_record(const nlohmann::json& record, const std::string& source);
// The method a latents file was made with: its sidecar's (<file>.json, when there is one) checked
// against the entries the file holds, or, without a sidecar, what the entries say (EDICT's and
// BDIA's carry their parameter; a plain tensor is DDIM's). `steps` becomes the sidecar's or the
// file's step count when there is one. Throws UsageError naming the file when the two disagree.
InversionMethod latents_method(const std::filesystem::path& file, const NamedTensors& latents, int64_t* steps);
// Images [first, first + n) of every batched entry; 0-dim entries (parameters) are kept whole.
NamedTensors slice_latents(const NamedTensors& latents, int64_t first, int64_t n);
// Writes a latents file: a plain tensor when "latents" is all there is (as DDIM and DPM-Solver
// inversion always wrote), else the dict of entries.
void save_latents(const std::filesystem::path& path, const NamedTensors& latents);
// The batches one after the other, entry by entry.
NamedTensors concat_latents(const std::vector<NamedTensors>& batches);

// Progress on stderr: a redrawn bar on a terminal, plain lines otherwise; nothing when quiet.
class Progress {
 public:
  Progress(std::string label, bool quiet);
  // A run of several batches: the display counts them and their images, the ETA covers them all.
  void plan_batches(int64_t batches, int64_t images);
  void batch_done(int64_t images);
  void update(int step, int total);
  void finish();
  // A step callback that updates this display and stops the run after Ctrl-C.
  StepCallback callback();

 private:
  std::string label_;
  bool quiet_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  int64_t batches_ = 1, images_ = 0, batches_done_ = 0, images_done_ = 0;
};

// Ctrl-C sets a flag the step callbacks read; the run then stops between steps.
void install_interrupt_handler();

// `text` with control characters escaped (\n, \t, \xNN): user-given names inside one-line messages.
std::string one_line(const std::string& text);

// Runs body(); maps exceptions to one line on stderr and an exit code (UsageError 2, else 1).
int run_tool(const std::string& tool, const std::function<int()>& body);

}  // namespace ddim::cli
