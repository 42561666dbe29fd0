#include "cli_common.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
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

void add_model_flags(CLI::App& app, RunModel& model, std::string& folder, bool& quiet) {
  app.add_option("--model", folder,
                 "model folder from scripts/export_unet.py (default: $DDIM_MODEL, else the embedded digits model)");
  app.add_option("--device", model.device, "auto, cpu, cuda or cuda:N (auto: cuda:0 when there is a GPU)")
      ->capture_default_str();
  app.add_option(
         "--dtype", model.dtype,
         "float32, float16, bfloat16 or auto: the UNet's dtype, latents stay float32 (the model must be exported "
         "for it); auto runs what the export measured faster on this CPU, float32 where it measured nothing")
      ->check(CLI::IsMember({"float32", "float16", "bfloat16", "auto"}))
      ->capture_default_str();
  app.add_option("--set", model.set,
                 "override a scheduler config key, KEY=VALUE (repeatable), e.g. --set timestep_spacing=trailing");
  app.add_flag("-q,--quiet", quiet, "no progress output");
}

const char* const kConditionFlags[8] = {"--class-label",     "--guidance-scale", "--guidance-rescale", "--embeds",
                                        "--negative-embeds", "--prompt",         "--negative-prompt",  "--clip-skip"};

void add_condition_flags(CLI::App& app, RunCondition& condition, const std::string& scale_default) {
  app.add_option("--class-label", condition.class_label,
                 "class-conditional models: the class of every image (N), one per image (a,b,c), or null (the "
                 "null class, unconditional)");
  add_optional(app, "--guidance-scale", condition.guidance_scale,
               "classifier-free guidance: uncond + G (cond - uncond), on when G > 1 (default: " + scale_default + ")");
  app.add_option("--guidance-rescale", condition.guidance_rescale,
                 "with guidance: rescale the guided noise towards the conditional one's std (diffusers' "
                 "rescale_noise_cfg), in [0, 1]")
      ->capture_default_str();
  app.add_option("--embeds", condition.embeds,
                 "cross-attention models: prompt embeddings, a safetensors file of one tensor [1 or N, L, D]");
  app.add_option("--negative-embeds", condition.negative_embeds,
                 "cross-attention models: the unconditional half's embeddings (needed with guidance > 1)");
  add_optional(app, "--prompt", condition.prompt,
               "models with a text encoder (text_encoder/, tokenizer/): the text every image is conditioned on");
  add_optional(app, "--negative-prompt", condition.negative_prompt,
               "with --prompt: the unconditional half's text under guidance (default: \"\")");
  add_optional(app, "--clip-skip", condition.clip_skip,
               "with --prompt: embeddings from the hidden state N layers before the last (diffusers' clip_skip)");
}

void add_scale_flags(CLI::App& app, std::string& shard, int64_t& shards, bool& resume, const std::string& scope) {
  app.add_option("--shard", shard,
                 scope +
                     "i/N: run only batches k with k mod N = i (the N shards together make the whole run); auto: "
                     "from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT or JOB_COMPLETION_INDEX with --shards");
  app.add_option("--shards", shards, "the number of shards for --shard auto with JOB_COMPLETION_INDEX")
      ->check(at_least(1));
  app.add_flag("--resume", resume,
               scope +
                   "skip batches whose outputs and sidecars exist from a run with the same options (refused when "
                   "the sidecars show other options)");
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
  if (!flag.empty()) return flag;  // the job says when it is not a folder
  if (const char* env = std::getenv("DDIM_MODEL"); env && *env) return env;
  const auto dir = exe_dir(argv0);
  for (const auto& candidate :
       {dir / ".." / "share" / "ddim" / "models" / "digits", dir / ".." / ".." / "models" / "digits",
        std::filesystem::path(DDIM_SOURCE_DIR) / "models" / "digits"}) {
    if (std::filesystem::exists(candidate / "unet" / "model.pt")) return std::filesystem::weakly_canonical(candidate);
  }
  throw ConfigError("no model given and no embedded model found; pass --model DIR or set DDIM_MODEL");
}

uint64_t parse_seed(const std::string& text, const std::string& flag) {
  const bool digits = !text.empty() && text.size() <= 20 &&
                      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  errno = 0;
  const unsigned long long value = digits ? std::strtoull(text.c_str(), nullptr, 10) : 0;
  if (!digits || errno == ERANGE) {
    throw UsageError(flag + " " + one_line(text) + " is not an integer in [0, 18446744073709551615]");
  }
  return value;
}

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

Console::Console(std::string tool, bool quiet, std::function<void(const RunPlan&)> describe)
    : tool_(std::move(tool)), quiet_(quiet), describe_(std::move(describe)) {
  std::signal(SIGINT, on_interrupt);
}

RunEvents Console::events() {
  RunEvents events;
  events.on_plan = [this](const RunPlan& plan) {
    if (progress_) progress_->finish();
    progress_ = std::make_unique<Progress>(plan.phase == "reconstruct" ? "reconstruct" : tool_, quiet_);
    progress_->plan_batches(plan.my_batches, plan.my_images);
    if (!quiet_ && describe_) describe_(plan);
  };
  events.on_step = [this](int step, int total, const torch::Tensor&) {
    if (progress_) progress_->update(step, total);
    return !g_interrupted;
  };
  events.on_batch = [this](int64_t images) {
    if (progress_) progress_->batch_done(images);
  };
  events.on_file = [this](const WrittenFile& file) {
    if (file.mse && file.psnr_db) {  // a round trip's figures: printed even when quiet
      std::cout << std::fixed << std::setprecision(6) << file.path.string() << "  mse " << *file.mse << "  psnr "
                << std::setprecision(2) << *file.psnr_db << " dB\n";
      std::cout.unsetf(std::ios::floatfield);
    } else if (!quiet_) {
      std::cout << file.path.string() << "\n";
    }
  };
  events.on_note = [this](const std::string& note) {
    if (!quiet_) std::cerr << tool_ << ": " << note << "\n";
  };
  return events;
}

int Console::finish(const RunResult& result) {
  if (progress_) progress_->finish();
  if (!result.note.empty()) std::cerr << tool_ << ": " << result.note << "\n";
  if (result.cancelled) return 130;
  return result.unreadable > 0 ? 1 : 0;
}

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

}  // namespace ddim::cli
