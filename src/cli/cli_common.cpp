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
  app.add_option("--device", flags.device, "auto, cpu, cuda or cuda:N (auto: cuda:0 when there is a GPU)")
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
  if (name == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
  if (name.rfind("cuda", 0) != 0) {
    throw UsageError("--device " + name + ": use auto, cpu, cuda or cuda:N");
  }
  int64_t index = 0;
  if (name.size() > 4) {
    const std::string digits = name.substr(5);
    if (name[4] != ':' || digits.empty() || digits.size() > 4 ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
      throw UsageError("--device " + name + ": use auto, cpu, cuda or cuda:N");
    }
    index = std::stoll(digits);
  }
  const int64_t count = torch::cuda::device_count();
  if (count == 0) throw ConfigError("--device " + name + ": no CUDA device is available");
  if (index >= count) {
    throw ConfigError("--device " + name + ": this machine has " + std::to_string(count) + " CUDA device" +
                      (count == 1 ? "" : "s") + " (cuda:0 to cuda:" + std::to_string(count - 1) + ")");
  }
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(index));
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

std::string one_line(const std::string& text) {
  std::string out;
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

namespace {

// The one integer conversion of an output pattern: its position and length, or npos when there is
// none; '%%' is a literal percent sign. Anything else after a '%' is a UsageError naming the pattern.
std::pair<size_t, size_t> find_conversion(const std::string& pattern) {
  const auto refuse = [&](const std::string& why) -> void {
    throw UsageError("output name pattern '" + one_line(pattern) + "': " + one_line(why) +
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

std::filesystem::path output_name(const std::string& path, int64_t index, int64_t count) {
  const auto conversion = find_conversion(path);
  if (conversion.first != std::string::npos) return expand(path, conversion, index);
  const std::filesystem::path p(expand(path, conversion, 0));  // %% -> %
  if (count == 1) return p;
  return p.parent_path() / (p.stem().string() + "_" + std::to_string(index) + p.extension().string());
}

std::vector<std::filesystem::path> output_names(const std::string& path, int64_t count) {
  std::vector<std::filesystem::path> names;
  for (int64_t i = 0; i < count; ++i) names.push_back(output_name(path, i, count));
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

namespace {

int64_t shard_number(const std::string& text, const std::string& what) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) {
    throw UsageError(what + " is not a whole number");
  }
  return std::stoll(text);
}

std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

}  // namespace

Shard parse_shard(const std::string& text, int64_t shards) {
  Shard shard;
  if (text.empty()) {
    if (shards > 0) throw UsageError("--shards " + std::to_string(shards) + " goes with --shard auto");
    return shard;
  }
  if (text == "auto") {
    const std::string slurm_id = env_or_empty("SLURM_ARRAY_TASK_ID");
    const std::string job_index = env_or_empty("JOB_COMPLETION_INDEX");
    if (!slurm_id.empty()) {
      const std::string count = env_or_empty("SLURM_ARRAY_TASK_COUNT");
      if (count.empty()) throw UsageError("--shard auto: SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not");
      // Array indices may start anywhere (--array=1-8): the shard is the offset from the first.
      const std::string min = env_or_empty("SLURM_ARRAY_TASK_MIN");
      shard.index = shard_number(slurm_id, "SLURM_ARRAY_TASK_ID '" + slurm_id + "'") -
                    (min.empty() ? 0 : shard_number(min, "SLURM_ARRAY_TASK_MIN '" + min + "'"));
      shard.count = shard_number(count, "SLURM_ARRAY_TASK_COUNT '" + count + "'");
      if (shards > 0 && shards != shard.count) {
        throw UsageError("--shards " + std::to_string(shards) + " disagrees with SLURM_ARRAY_TASK_COUNT " + count);
      }
    } else if (!job_index.empty()) {
      if (shards < 1)
        throw UsageError("--shard auto with JOB_COMPLETION_INDEX needs --shards N (the Job's completions)");
      shard.index = shard_number(job_index, "JOB_COMPLETION_INDEX '" + job_index + "'");
      shard.count = shards;
    } else {
      throw UsageError(
          "--shard auto: neither SLURM_ARRAY_TASK_ID (a Slurm array job) nor JOB_COMPLETION_INDEX (a Kubernetes "
          "Indexed Job) is set; pass --shard i/N");
    }
  } else {
    const auto slash = text.find('/');
    if (slash == std::string::npos) throw UsageError("--shard " + text + ": use i/N (0 <= i < N) or auto");
    shard.index = shard_number(text.substr(0, slash), "--shard " + text + ": i");
    shard.count = shard_number(text.substr(slash + 1), "--shard " + text + ": N");
    if (shards > 0) throw UsageError("--shards goes with --shard auto, not with --shard " + text);
  }
  if (shard.count < 1 || shard.index >= shard.count || shard.index < 0) {
    throw UsageError("--shard " + std::to_string(shard.index) + "/" + std::to_string(shard.count) +
                     ": need 0 <= i < N");
  }
  return shard;
}

void add_scale_flags(CLI::App& app, ScaleFlags& flags, const std::string& scope) {
  app.add_option("--shard", flags.shard,
                 scope +
                     "i/N: run only batches k with k mod N = i (the N shards together make the whole run); auto: "
                     "from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT or JOB_COMPLETION_INDEX with --shards");
  app.add_option("--shards", flags.shards, "the number of shards for --shard auto with JOB_COMPLETION_INDEX")
      ->check(at_least(1));
  app.add_flag("--resume", flags.resume,
               scope +
                   "skip batches whose outputs and sidecars exist from a run with the same options (refused when "
                   "the sidecars show other options)");
}

bool output_complete(const std::filesystem::path& output, const nlohmann::json& expected) {
  const auto sidecar = std::filesystem::path(output.string() + ".json");
  if (!std::filesystem::is_regular_file(output) || !std::filesystem::is_regular_file(sidecar)) return false;
  const auto record = nlohmann::json::parse(read_file(sidecar), nullptr, /*allow_exceptions=*/false);
  if (!record.is_object()) return false;  // not one of ours, or damaged: made again
  for (const auto& [key, value] : expected.items()) {
    const auto found = record.find(key);
    if (found == record.end() || *found != value) {
      throw UsageError("--resume: " + sidecar.string() + " was made with " + key + " " +
                       (found == record.end() ? std::string("(absent)") : found->dump()) + ", this run has " +
                       value.dump() + "; use another output or run without --resume");
    }
  }
  return true;
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
        << " GB at once, more than the " << available / 1e9 << " GB of memory available; use a smaller " << flag;
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
  const std::string file = package ? "unet/model.pt2" : "unet/model.pt";
  return {{"tool", tool},
          {"ddim_version", ddim::version()},
          {"libtorch", TORCH_VERSION},
          {"model", std::filesystem::absolute(model).string()},
          {"unet_file", file},
          {"unet_format", package ? "aoti" : "torchscript"},
          {"unet_sha256", file_sha256(model / file)},
          {"device", device},
          {"dtype", dtype_name(unet.dtype())}};
}

nlohmann::json config_record(const std::string& config_json) {
  auto record = nlohmann::json::parse(config_json_to_standard(config_json), nullptr, /*allow_exceptions=*/false);
  if (record.is_discarded()) throw IOError("a scheduler config that is not JSON: " + one_line(config_json));
  return record;
}

std::string config_text(const nlohmann::json& record) { return config_json_from_standard(record.dump()); }

Progress::Progress(std::string label, bool quiet)
    : label_(std::move(label)),
      quiet_(quiet),
      tty_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()) {}

void Progress::plan_batches(int64_t batches, int64_t images) {
  batches_ = batches;
  images_ = images;
}

void Progress::batch_done(int64_t images) {
  ++batches_done_;
  images_done_ += images;
  if (!quiet_ && !tty_ && batches_ > 1) {
    std::cerr << label_ << ": batch " << batches_done_ << "/" << batches_ << ", images " << images_done_ << "/"
              << images_ << "\n";
  }
}

void Progress::update(int step, int total) {
  if (quiet_) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  // The fraction of the whole run done: finished batches plus this batch's steps.
  const double batches = static_cast<double>(std::max<int64_t>(batches_, 1));
  const double done = (static_cast<double>(batches_done_) + (total > 0 ? double(step) / total : 1.0)) / batches;
  const double eta = done > 0 ? elapsed * (1 - done) / done : 0;
  const double rate = elapsed > 0 ? (static_cast<double>(batches_done_) * total + step) / elapsed : 0;
  char line[200];
  std::string where;
  if (batches_ > 1) {
    where = "batch " + std::to_string(batches_done_ + 1) + "/" + std::to_string(batches_) + " images " +
            std::to_string(images_done_) + "/" + std::to_string(images_) + " ";
  }
  if (tty_) {
    const int width = 30;
    const int filled = static_cast<int>(done * width);
    std::snprintf(line, sizeof line, "\r%s [%-*s] %sstep %d/%d  %.1f it/s  ETA %.0fs ", label_.c_str(), width,
                  std::string(static_cast<size_t>(std::clamp(filled, 0, width)), '#').c_str(), where.c_str(), step,
                  total, rate, eta);
  } else {
    std::snprintf(line, sizeof line, "%s: %sstep %d/%d (%.1f it/s, ETA %.0fs)\n", label_.c_str(), where.c_str(), step,
                  total, rate, eta);
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
    std::cerr << tool << ": " << one_line(e.what()) << "\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << tool << ": " << one_line(e.what()) << "\n";
    return 1;
  } catch (const std::exception& e) {
    // LibTorch's messages carry a C++ backtrace after their first line.
    std::string what = e.what();
    std::cerr << tool << ": " << one_line(what.substr(0, what.find('\n'))) << "\n";
    return 1;
  }
}

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
  auto method = InversionMethod::from_name(record["name"].get<std::string>());
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
  double iterations = static_cast<double>(method.iterations);
  number("iterations", iterations);
  method.iterations = static_cast<int64_t>(iterations);
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

InversionMethod latents_method(const std::filesystem::path& file, const NamedTensors& latents, int64_t* steps) {
  const std::string name = file.string();
  const auto number = [&](const char* key) { return latents.at(key).to(torch::kFloat64).item<double>(); };
  // What the entries say.
  auto method = InversionMethod::from_name("ddim");
  if (latents.count("edict_y")) method = InversionMethod::from_name("edict");
  if (latents.count("bdia_next")) method = InversionMethod::from_name("bdia");
  if (latents.count("edict_p")) method.edict_p = number("edict_p");
  if (latents.count("bdia_gamma")) method.bdia_gamma = number("bdia_gamma");
  const std::filesystem::path sidecar = name + ".json";
  if (std::filesystem::is_regular_file(sidecar)) {
    const auto record = nlohmann::json::parse(read_file(sidecar), nullptr, false);
    if (record.is_object() && record.contains("method")) {
      const auto named = method_from_record(record["method"], sidecar.string());
      const bool exact = named.kind == InversionMethod::Kind::kEDICT || named.kind == InversionMethod::Kind::kBDIA;
      if (exact != (method.kind != InversionMethod::Kind::kDDIM) || (exact && named.kind != method.kind)) {
        throw UsageError("--latents " + name + " holds the entries of --method " + method.name() + " but " +
                         sidecar.string() + " names --method " + named.name());
      }
      method = named;
    }
    if (steps && record.is_object() && record.contains("steps") && record["steps"].is_number_integer()) {
      *steps = record["steps"].get<int64_t>();
    }
  }
  if (steps && latents.count("num_inference_steps")) *steps = latents.at("num_inference_steps").item<int64_t>();
  return method;
}

NamedTensors slice_latents(const NamedTensors& latents, int64_t first, int64_t n) {
  NamedTensors out;
  for (const auto& [key, tensor] : latents) out[key] = tensor.dim() == 0 ? tensor : tensor.narrow(0, first, n);
  return out;
}

void save_latents(const std::filesystem::path& path, const NamedTensors& latents) {
  if (latents.size() == 1 && latents.count("latents")) {
    save_tensor(path, latents.at("latents"));
  } else {
    save_tensors(path, latents);
  }
}

NamedTensors concat_latents(const std::vector<NamedTensors>& batches) {
  NamedTensors out;
  for (const auto& [key, tensor] : batches.at(0)) {
    if (tensor.dim() == 0) {
      out[key] = tensor;
      continue;
    }
    std::vector<torch::Tensor> parts;
    for (const auto& batch : batches) parts.push_back(batch.at(key));
    out[key] = torch::cat(parts);
  }
  return out;
}

}  // namespace ddim::cli
