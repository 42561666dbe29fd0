#pragma once

// What ddim-generate and ddim-invert share: each option group declared once (model, device and
// dtype; scheduler overrides; scale-out), finding the embedded model, the progress display, the
// run's events printed, Ctrl-C, and errors turned into exit codes. The runs themselves are the
// library's GenerationJob and InversionJob.

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "ddim/ddim.h"

namespace ddim::cli {

// Flag checks with one-line messages.
CLI::Validator at_least(int64_t minimum);
CLI::Validator between(double low, double high);

// Parses argv; on a bad command line prints "<tool>: <reason>" and returns 2, on --help/--version
// prints them and returns 0; returns -1 to go on.
int parse(CLI::App& app, const std::string& tool, int argc, char** argv);

// --model, --device, --dtype, --set (into `model`) and -q/--quiet.
void add_model_flags(CLI::App& app, RunModel& model, std::string& folder, bool& quiet);
// --class-label, --guidance-scale, --guidance-rescale, --embeds, --negative-embeds (into `condition`);
// `scale_default` says what an absent --guidance-scale means in this tool.
void add_condition_flags(CLI::App& app, RunCondition& condition, const std::string& scale_default);
// The flags add_condition_flags declares.
extern const char* const kConditionFlags[8];
// --shard, --shards and --resume; `scope` starts their help ("" or e.g. "with --output-dir: ").
void add_scale_flags(CLI::App& app, std::string& shard, int64_t& shards, bool& resume, const std::string& scope);
// An option whose value is kept only when given (std::optional fields of the jobs).
template <class T>
CLI::Option* add_optional(CLI::App& app, const std::string& name, std::optional<T>& target, const std::string& help) {
  return app.add_option_function<T>(
      name, [&target](const T& value) { target = value; }, help);
}

// --model, else $DDIM_MODEL, else the embedded model: <exe>/../share/ddim/models/digits (install
// tree), <exe>/../../models/digits (build tree), then the source tree's models/digits.
std::filesystem::path resolve_model(const std::string& flag, const char* argv0);

// --seed (or another seed flag): a decimal integer in [0, 2^64 - 1]; anything else, a sign
// included, is a UsageError naming the flag and the text.
uint64_t parse_seed(const std::string& text, const std::string& flag = "--seed");

// Progress on stderr: a redrawn bar on a terminal, plain lines otherwise; nothing when quiet.
class Progress {
 public:
  Progress(std::string label, bool quiet);
  // A run of several batches: the display counts them and their images, the ETA covers them all.
  void plan_batches(int64_t batches, int64_t images);
  void batch_done(int64_t images);
  void update(int step, int total);
  void finish();

 private:
  std::string label_;
  bool quiet_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
  int64_t batches_ = 1, images_ = 0, batches_done_ = 0, images_done_ = 0;
};

// A run's events on the console: each phase's progress display, the files written on stdout (a
// reconstruction with its MSE and PSNR), notes on stderr; `describe` prints a phase's plan. The
// step callback stops the run after Ctrl-C. Nothing but file names and errors when quiet.
class Console {
 public:
  Console(std::string tool, bool quiet, std::function<void(const RunPlan&)> describe = {});
  RunEvents events();
  // The end of a run: its stop note when cancelled (exit 130), else 0 (1 with unreadable inputs).
  int finish(const RunResult& result);

 private:
  std::string tool_;
  bool quiet_;
  std::function<void(const RunPlan&)> describe_;
  std::unique_ptr<Progress> progress_;
};

// Runs body(); maps exceptions to one line on stderr and an exit code (UsageError 2, else 1).
int run_tool(const std::string& tool, const std::function<int()>& body);

}  // namespace ddim::cli
