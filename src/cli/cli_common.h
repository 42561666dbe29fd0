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

namespace ddim::cli {

// A bad flag value found after parsing: exit code 2, like a parse error.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

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

torch::Device parse_device(const std::string& name);     // auto | cpu | cuda
torch::ScalarType parse_dtype(const std::string& name);  // float32 | float16 | bfloat16
std::string dtype_name(torch::ScalarType dtype);

// Applies KEY=VALUE overrides to a scheduler config (VALUE is JSON if it parses, else a string).
// Keys must be ones `class_name` takes; otherwise UsageError naming the key.
std::string apply_overrides(const std::string& config_json, const std::vector<std::string>& sets,
                            const std::string& class_name, nlohmann::json* applied);

// One name per image: a printf pattern in PATH (img_%03d.png) takes the index; otherwise, with more
// than one image, _<i> goes before the extension.
std::vector<std::filesystem::path> output_names(const std::string& path, int64_t count);

// Throws IOError naming the first path whose folder is missing or not writable, so that a run
// fails before its work, not after.
void check_writable(const std::vector<std::filesystem::path>& paths);

// Writes <output>.json beside an output.
void write_sidecar(const std::filesystem::path& output, const nlohmann::json& record);
nlohmann::json base_record(const std::string& tool, const std::filesystem::path& model, const std::string& device,
                           torch::ScalarType dtype);

// Progress on stderr: a redrawn bar on a terminal, plain lines otherwise; nothing when quiet.
class Progress {
 public:
  Progress(std::string label, bool quiet);
  void update(int step, int total);
  void finish();

 private:
  std::string label_;
  bool quiet_;
  bool tty_;
  std::chrono::steady_clock::time_point start_;
};

// Ctrl-C sets a flag the step callbacks read; the run then stops between steps.
void install_interrupt_handler();
bool interrupted();

// Runs body(); maps exceptions to one line on stderr and an exit code (usage 2, else 1).
int run_tool(const std::string& tool, const std::function<int()>& body);

}  // namespace ddim::cli
