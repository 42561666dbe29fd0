#include "cli_common.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace ddim::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void on_interrupt(int /*signal*/) { g_interrupted = true; }

std::filesystem::path exe_dir(const char* argv0) {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) self = std::filesystem::absolute(argv0, ec);
  return self.parent_path();
}

}  // namespace

CLI::Validator at_least(int64_t minimum) {
  return CLI::Validator(
      [minimum](std::string& value) -> std::string {
        try {
          size_t used = 0;
          const long long v = std::stoll(value, &used);
          if (used == value.size() && v >= minimum) return "";
        } catch (const std::exception&) {
        }
        return value + " is not an integer >= " + std::to_string(minimum);
      },
      "INT>=" + std::to_string(minimum));
}

CLI::Validator between(double low, double high) {
  return CLI::Validator(
      [low, high](std::string& value) -> std::string {
        try {
          size_t used = 0;
          const double v = std::stod(value, &used);
          if (used == value.size() && v >= low && v <= high) return "";
        } catch (const std::exception&) {
        }
        std::ostringstream msg;
        msg << value << " is not a number in [" << low << ", " << high << "]";
        return msg.str();
      },
      "NUMBER");
}

void add_common_flags(CLI::App& app, CommonFlags& flags) {
  app.add_option("--model", flags.model,
                 "model folder from scripts/export_unet.py (default: $DDIM_MODEL, else the embedded digits model)");
  app.add_option("--device", flags.device, "auto, cpu or cuda")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}))
      ->capture_default_str();
  app.add_option(
         "--dtype", flags.dtype,
         "float32, float16 or bfloat16: the UNet's dtype, latents stay float32 (the model must be exported for it)")
      ->check(CLI::IsMember({"float32", "float16", "bfloat16"}))
      ->capture_default_str();
  app.add_option("--set", flags.sets,
                 "override a scheduler config key, KEY=VALUE (repeatable), e.g. --set timestep_spacing=trailing");
  app.add_flag("-q,--quiet", flags.quiet, "no progress output");
}

int parse(CLI::App& app, const std::string& tool, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::string what = e.what();
    std::cerr << tool << ": " << what.substr(0, what.find('\n')) << " (see --help)\n";
    return 2;
  }
  return -1;
}

std::filesystem::path resolve_model(const std::string& flag, const char* argv0) {
  if (!flag.empty()) {
    if (!std::filesystem::is_directory(flag)) throw ConfigError("model folder " + flag + " not found");
    return flag;
  }
  if (const char* env = std::getenv("DDIM_MODEL"); env && *env) return env;
  const auto dir = exe_dir(argv0);
  for (const auto& candidate :
       {dir / ".." / "share" / "ddim" / "models" / "digits", dir / ".." / ".." / "models" / "digits",
        std::filesystem::path(DDIM_SOURCE_DIR) / "models" / "digits"}) {
    if (std::filesystem::exists(candidate / "unet" / "model.pt")) return std::filesystem::weakly_canonical(candidate);
  }
  throw ConfigError("no model given and no embedded model found; pass --model DIR or set DDIM_MODEL");
}

torch::Device parse_device(const std::string& name) {
  if (name == "cpu") return torch::kCPU;
  if (name == "cuda") {
    if (!torch::cuda::is_available()) throw ConfigError("--device cuda: no CUDA device is available");
    return torch::Device(torch::kCUDA, 0);
  }
  return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

std::vector<ConfigOverride> parse_overrides(const std::vector<std::string>& sets) {
  std::vector<ConfigOverride> overrides;
  for (const auto& item : sets) overrides.push_back(ConfigOverride::parse(item));
  return overrides;
}

nlohmann::json overrides_record(const std::vector<ConfigOverride>& overrides) {
  nlohmann::json record = nlohmann::json::object();
  for (const auto& o : overrides) record[o.key] = nlohmann::json::parse(o.value_json);
  return record;
}

namespace {

// The one integer conversion of an output pattern: its position and length, or npos when there is
// none; '%%' is a literal percent sign. Anything else after a '%' is a UsageError naming the pattern.
std::pair<size_t, size_t> find_conversion(const std::string& pattern) {
  const auto refuse = [&](const std::string& why) -> void {
    throw UsageError("output name pattern '" + pattern + "': " + why +
                     " (use one integer conversion such as %d or %03d, and %% for a percent sign)");
  };
  std::pair<size_t, size_t> found{std::string::npos, 0};
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%') continue;
    if (i + 1 < pattern.size() && pattern[i + 1] == '%') {
      ++i;
      continue;
    }
    size_t j = i + 1;
    while (j < pattern.size() && std::string("-+ 0#").find(pattern[j]) != std::string::npos) ++j;
    const size_t width_start = j;
    while (j < pattern.size() && std::isdigit(static_cast<unsigned char>(pattern[j]))) ++j;
    if (j - width_start > 3) refuse("a field width over 999");
    if (j >= pattern.size() || std::string("diu").find(pattern[j]) == std::string::npos) {
      refuse("'" + pattern.substr(i, j + 1 - i) + "' is not an integer conversion");
    }
    if (found.first != std::string::npos) refuse("more than one conversion");
    found = {i, j + 1 - i};
    i = j;
  }
  return found;
}

// printf with one int conversion, without handing the pattern to printf: only the checked
// conversion is formatted; the rest is copied, with %% as %.
std::string expand(const std::string& pattern, std::pair<size_t, size_t> conversion, int64_t index) {
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (i == conversion.first) {
      std::string spec = pattern.substr(i, conversion.second);
      spec.back() = 'd';  // %u of a non-negative index prints as %d
      char buf[1100];
      std::snprintf(buf, sizeof buf, spec.c_str(), static_cast<int>(index));
      out += buf;
      i += conversion.second - 1;
    } else if (pattern[i] == '%') {
      out += '%';
      ++i;  // the second % of %%
    } else {
      out += pattern[i];
    }
  }
  return out;
}

}  // namespace

void check_output_pattern(const std::string& path) { find_conversion(path); }

std::vector<std::filesystem::path> output_names(const std::string& path, int64_t count) {
  const auto conversion = find_conversion(path);
  std::vector<std::filesystem::path> names;
  for (int64_t i = 0; i < count; ++i) {
    if (conversion.first != std::string::npos) {
      names.emplace_back(expand(path, conversion, i));
      continue;
    }
    const std::filesystem::path p(expand(path, conversion, 0));  // %% -> %
    if (count == 1) {
      names.push_back(p);
    } else {
      names.push_back(p.parent_path() / (p.stem().string() + "_" + std::to_string(i) + p.extension().string()));
    }
  }
  return names;
}

void check_writable(const std::vector<std::filesystem::path>& paths) {
  for (const auto& path : paths) {
    const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    if (!std::filesystem::is_directory(dir) || access(dir.c_str(), W_OK) != 0) {
      throw IOError("cannot write " + path.string() + ": folder " + dir.string() + " is missing or not writable");
    }
    // The output and its sidecar: never a device, a FIFO, a socket or a folder.
    check_replaceable(path);
    check_replaceable(path.string() + ".json");
  }
}

uint64_t parse_seed(const std::string& text) {
  const bool digits = !text.empty() && text.size() <= 20 &&
                      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  errno = 0;
  const unsigned long long value = digits ? std::strtoull(text.c_str(), nullptr, 10) : 0;
  if (!digits || errno == ERANGE) {
    throw UsageError("--seed " + text + " is not an integer in [0, 18446744073709551615]");
  }
  return value;
}

void check_finite(const torch::Tensor& tensor, const std::string& what) {
  const int64_t bad = torch::isfinite(tensor).logical_not().sum().item<int64_t>();
  if (bad > 0) {
    throw UsageError(what + " holds " + std::to_string(bad) + " non-finite value" + (bad == 1 ? "" : "s") +
                     " (NaN or inf) of " + std::to_string(tensor.numel()));
  }
}

void check_memory(int64_t images, const UNetConfig& config, const std::string& flag) {
  // Per image: the latents, the model output, the step's temporaries and the decoded image
  // (float32, about 16 copies of one sample), plus its names, sidecar and the UNet's activations,
  // which are at least 16 more samples for any UNet2DModel.
  const double sample_bytes =
      4.0 * static_cast<double>(config.in_channels * config.sample_height * config.sample_width);
  const double needed = static_cast<double>(images) * (32 * sample_bytes + 512);
  const long pages = sysconf(_SC_AVPHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return;
  const double available = static_cast<double>(pages) * static_cast<double>(page_size);
  if (needed > available) {
    std::ostringstream msg;
    msg << std::fixed << std::setprecision(1) << flag << " " << images << " needs about " << needed / 1e9
        << " GB at once, more than the " << available / 1e9 << " GB of memory available; make fewer images per run";
    throw UsageError(msg.str());
  }
}

void write_sidecar(const std::filesystem::path& output, const nlohmann::json& record) {
  write_file_atomically(output.string() + ".json", record.dump(2) + "\n");
}

nlohmann::json base_record(const std::string& tool, const std::filesystem::path& model, const std::string& device,
                           const UNet& unet) {
  // Which file ran: the compiled package and the trace agree to about 1e-6 per call, not bit for bit.
  const bool package = dynamic_cast<const AOTInductorUNet*>(&unet) != nullptr;
  return {{"tool", tool},
          {"ddim_version", ddim::version()},
          {"libtorch", TORCH_VERSION},
          {"model", std::filesystem::absolute(model).string()},
          {"unet_file", package ? "unet/model.pt2" : "unet/model.pt"},
          {"unet_format", package ? "aoti" : "torchscript"},
          {"device", device},
          {"dtype", dtype_name(unet.dtype())}};
}

Progress::Progress(std::string label, bool quiet)
    : label_(std::move(label)),
      quiet_(quiet),
      tty_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()) {}

void Progress::update(int step, int total) {
  if (quiet_) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = elapsed > 0 ? step / elapsed : 0;
  const double eta = rate > 0 ? (total - step) / rate : 0;
  char line[160];
  if (tty_) {
    const int width = 30;
    const int filled = total > 0 ? step * width / total : width;
    std::snprintf(line, sizeof line, "\r%s [%-*s] %d/%d  %.1f it/s  ETA %.0fs ", label_.c_str(), width,
                  std::string(static_cast<size_t>(filled), '#').c_str(), step, total, rate, eta);
  } else {
    std::snprintf(line, sizeof line, "%s: step %d/%d (%.1f it/s)\n", label_.c_str(), step, total, rate);
  }
  std::cerr << line << std::flush;
}

void Progress::finish() {
  if (!quiet_ && tty_) std::cerr << "\n";
}

StepCallback Progress::callback() {
  return [this](int step, int total, const torch::Tensor&) {
    update(step, total);
    return !g_interrupted;
  };
}

void install_interrupt_handler() { std::signal(SIGINT, on_interrupt); }

int run_tool(const std::string& tool, const std::function<int()>& body) {
  try {
    return body();
  } catch (const UsageError& e) {
    std::cerr << tool << ": " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::string what = e.what();
    what = what.substr(0, what.find('\n'));
    std::cerr << tool << ": " << what << "\n";
    return 1;
  }
}

}  // namespace ddim::cli
