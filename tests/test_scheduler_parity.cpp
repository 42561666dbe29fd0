// Parity with diffusers: every case of golden.json (made by scripts/make_golden.py from the pinned
// diffusers on this machine, in the same test run) is replayed through our schedulers.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

#include "ddim/ddim.h"
#include "golden_data.h"

namespace {

using ddim::test::GoldenData;
using nlohmann::json;

// The golden data is made with LibTorch's AVX2 kernels (scripts/make_golden.py says why): use the
// same ones here, whatever this CPU offers. Set before the first tensor op, when ATen reads it.
const bool kKernelsPinned = [] { return setenv("ATEN_CPU_CAPABILITY", "avx2", /*overwrite=*/1) == 0; }();

constexpr double kTolerance = 1e-5;  // relative to the reference's scale, float32

// JSON as Python writes it: the bare -Infinity / Infinity / NaN become strings.
json parse_python_json(std::string text) {
  for (const std::string token : {"-Infinity", "Infinity", "NaN"}) {
    for (size_t pos = text.find(token); pos != std::string::npos; pos = text.find(token, pos + token.size() + 2)) {
      if (pos > 0 && (text[pos - 1] == '"' || text[pos - 1] == '-')) continue;
      text.replace(pos, token.size(), "\"" + token + "\"");
    }
  }
  return json::parse(text);
}

std::string class_config(const json& c) {
  json cfg = c.at("config");
  cfg["_class_name"] = c.at("class");
  return cfg.dump();
}

struct Worst {
  double error = 0;
  std::string where;
  void update(double e, const std::string& w) {
    if (e > error) {
      error = e;
      where = w;
    }
  }
};

// Runs one golden case on `device` in `dtype`; returns the worst relative error over the steps.
// A view with the same values and a transposed memory layout: not contiguous, so the scheduler
// takes its ATen-op path instead of the fused loop.
torch::Tensor strided(const torch::Tensor& t) { return t.transpose(2, 3).contiguous().transpose(2, 3); }

double replay(const json& c, torch::Device device, torch::ScalarType dtype, double tolerance,
              bool non_contiguous = false) {
  const auto& golden = GoldenData::get(device);
  const std::string name = c.at("name");
  auto scheduler = ddim::scheduler_from_config(class_config(c));
  scheduler->set_timesteps(c.at("steps").get<int64_t>(), device);

  const auto expected_ts = c.at("timesteps").get<std::vector<int64_t>>();
  const auto ts_tensor = scheduler->timesteps();
  EXPECT_EQ(ts_tensor.scalar_type(), torch::kInt64) << name;
  EXPECT_EQ(ts_tensor.device(), device) << name;
  const auto ts_cpu = ts_tensor.cpu();
  const std::vector<int64_t> ts(ts_cpu.data_ptr<int64_t>(), ts_cpu.data_ptr<int64_t>() + ts_cpu.numel());
  EXPECT_EQ(ts, expected_ts) << name << ": timesteps differ";
  if (ts != expected_ts) return 1.0;

  const auto config = c.at("config");
  const bool doubled = config.contains("variance_type") &&
                       (config["variance_type"] == "learned" || config["variance_type"] == "learned_range");
  const auto prevs = golden.tensor(c.at("prev_samples"));
  const bool has_pred = c.contains("pred_original_samples");
  const auto preds = has_pred ? golden.tensor(c.at("pred_original_samples")) : torch::Tensor();
  const auto expected_noises = c.contains("variance_noises") ? golden.tensor(c.at("variance_noises")) : torch::Tensor();

  ddim::StepOptions options;
  options.eta = c.value("eta", 0.0);
  options.use_clipped_model_output = c.value("use_clipped_model_output", false);
  if (c.contains("seed") && !c["seed"].is_null()) {
    options.generator = at::make_generator<at::CPUGeneratorImpl>(c["seed"].get<uint64_t>());
  }
  std::optional<at::Generator> noise_gen;
  if (c.contains("variance_noise_seed") && !c["variance_noise_seed"].is_null()) {
    noise_gen = at::make_generator<at::CPUGeneratorImpl>(c["variance_noise_seed"].get<uint64_t>());
  }

  auto x = golden.tensor(c.at("init")).to(device, dtype);
  double worst = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    if (non_contiguous) x = strided(x);
    auto out = ddim::test::smooth_model(x, ts[i], doubled);
    if (non_contiguous) out = strided(out);
    if (noise_gen) {
      const auto noise = torch::randn(x.sizes(), *noise_gen, torch::kFloat32);
      EXPECT_TRUE(torch::equal(noise, expected_noises[static_cast<int64_t>(i)]))
          << name << ": torch::randn with the seeded generator differs from torch.randn";
      options.variance_noise = noise.to(device, dtype);
    }
    const auto res = scheduler->step(out, ts[i], x, options);
    EXPECT_EQ(res.prev_sample.scalar_type(), dtype) << name;
    EXPECT_EQ(res.prev_sample.device(), device) << name;
    x = res.prev_sample;
    const double err = ddim::test::relative_error(x, prevs[static_cast<int64_t>(i)]);
    // DDIM_GOLDEN_TRACE=1 prints every step's error (with DDIM_GOLDEN_ONLY, to find where a case diverges).
    if (std::getenv("DDIM_GOLDEN_TRACE")) std::cout << "step " << i << " t " << ts[i] << " err " << err << "\n";
    worst = std::max(worst, err);
    EXPECT_LE(err, tolerance) << name << ": prev_sample of step " << i << " (timestep " << ts[i] << ")";
    if (has_pred) {
      const double perr = ddim::test::relative_error(res.pred_original_sample, preds[static_cast<int64_t>(i)]);
      worst = std::max(worst, perr);
      EXPECT_LE(perr, tolerance) << name << ": pred_original_sample of step " << i;
    }
    if (err > tolerance) break;  // one report per case
  }

  if (c.contains("add_noise")) {
    const auto& an = c["add_noise"];
    const auto t = torch::tensor(an.at("timesteps").get<std::vector<int64_t>>(), torch::kInt64).to(device);
    const auto noisy = scheduler->add_noise(golden.tensor(c.at("init")).to(device, dtype),
                                            golden.tensor(an.at("noise")).to(device, dtype), t);
    const double err = ddim::test::relative_error(noisy, golden.tensor(an.at("result")));
    worst = std::max(worst, err);
    EXPECT_LE(err, tolerance) << name << ": add_noise";
  }
  return worst;
}

void replay_all(torch::Device device, bool non_contiguous = false) {
  ASSERT_TRUE(kKernelsPinned) << "could not set ATEN_CPU_CAPABILITY";
  const auto& doc = GoldenData::get(device).doc();
  Worst worst;
  int ok = 0;
  // DDIM_GOLDEN_ONLY=<case name> replays one case (for debugging).
  const char* only = std::getenv("DDIM_GOLDEN_ONLY");
  for (const auto& c : doc.at("cases")) {
    if (c.at("expect") != "ok") continue;
    if (only && c.at("name") != only) continue;
    ++ok;
    try {
      worst.update(replay(c, device, torch::kFloat32, kTolerance, non_contiguous), c.at("name"));
    } catch (const std::exception& e) {
      ADD_FAILURE() << c.at("name").get<std::string>() << ": " << e.what();
    }
  }
  std::cout << "[ parity ] " << ok << " diffusers trajectories on " << device
            << (non_contiguous ? " (ATen-op path)" : "") << ", worst relative error " << worst.error
            << (worst.where.empty() ? " (bit-identical)" : " (" + worst.where + ")") << "\n";
  EXPECT_GT(ok, only || GoldenData::other_dir() ? 0 : 400);
}

TEST(SchedulerParity, TrajectoriesMatchDiffusersOnCpu) { replay_all(torch::kCPU); }

// The same on non-contiguous tensors, which take the per-op path instead of the fused CPU loop.
TEST(SchedulerParity, TrajectoriesMatchDiffusersOnCpuOpByOp) { replay_all(torch::kCPU, /*non_contiguous=*/true); }

TEST(SchedulerParity, TrajectoriesMatchDiffusersOnCuda) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device; the CUDA parity run needs a GPU";
  replay_all(torch::Device(torch::kCUDA, 0));
}

// diffusers raises or returns NaN/inf for these: we refuse them when the config is loaded, when the
// steps are set, or at the step where diffusers fails, with an error naming it, never with NaN.
TEST(SchedulerParity, RefusesWhatDiffusersCannotRun) {
  const auto& doc = GoldenData::get().doc();
  int refused = 0;
  ddim::set_warning_handler({});
  for (const auto& c : doc.at("cases")) {
    if (c.at("expect") != "refuse") continue;
    ++refused;
    const std::string name = c.at("name");
    bool threw = false;
    try {
      auto scheduler = ddim::scheduler_from_config(class_config(c));
      scheduler->set_timesteps(c.at("steps").get<int64_t>());
      ddim::StepOptions options;
      options.eta = c.value("eta", 0.0);
      options.generator = at::make_generator<at::CPUGeneratorImpl>(0);
      const auto config = c.at("config");
      const bool doubled = config.contains("variance_type") &&
                           (config["variance_type"] == "learned" || config["variance_type"] == "learned_range");
      auto x = torch::randn({2, 3, 8, 8}, at::make_generator<at::CPUGeneratorImpl>(1));
      const auto ts = scheduler->timesteps();
      for (int64_t i = 0; i < ts.numel(); ++i) {
        const int64_t t = ts[i].item<int64_t>();
        x = scheduler->step(ddim::test::smooth_model(x, t, doubled), t, x, options).prev_sample;
        ASSERT_TRUE(torch::isfinite(x).all().item<bool>()) << name << ": step " << i << " returned NaN or inf";
      }
    } catch (const ddim::ConfigError&) {
      threw = true;
    } catch (const ddim::SchedulerError&) {
      threw = true;
    }
    EXPECT_TRUE(threw) << name << " is accepted, but diffusers fails: " << c.at("diffusers_error").get<std::string>();
  }
  ddim::set_warning_handler([](const std::string& m) { std::cerr << "ddim: warning: " << m << "\n"; });
  EXPECT_GT(refused, GoldenData::other_dir() ? -1 : 10);
}

// In reduced precision every step keeps the dtype and device and stays finite. (The stand-in model
// makes trajectories sensitive to rounding, so the numbers are not compared with float32's.)
TEST(SchedulerParity, HalfPrecisionKeepsDtype) {
  const auto& doc = GoldenData::get().doc();
  const std::vector<std::string> names = {"ddim_linear_epsilon_leading",
                                          "ddim_eta0.5_leading",
                                          "ddim_thresholding",
                                          "ddim_inv_linear_epsilon_leading",
                                          "dpm_o2_dpmsolver++_midpoint_epsilon_s12",
                                          "dpm_o3_dpmsolver++_heun_v_prediction_s20",
                                          "dpm_o2_sde-dpmsolver++_midpoint_epsilon_s12",
                                          "dpm_inv_o2_dpmsolver++_midpoint_epsilon_s12",
                                          "dpm_thresholding"};
  int found = 0;
  for (const auto& c : doc.at("cases")) {
    if (std::find(names.begin(), names.end(), c.at("name").get<std::string>()) == names.end()) continue;
    ++found;
    for (const auto dtype : {torch::kFloat16, torch::kBFloat16}) {
      auto scheduler = ddim::scheduler_from_config(class_config(c));
      scheduler->set_timesteps(c.at("steps").get<int64_t>());
      ddim::StepOptions options;
      options.eta = c.value("eta", 0.0);
      options.generator = at::make_generator<at::CPUGeneratorImpl>(3);
      auto x = GoldenData::get().tensor(c.at("init")).to(dtype);
      const auto ts = scheduler->timesteps();
      for (int64_t i = 0; i < ts.numel(); ++i) {
        const int64_t t = ts[i].item<int64_t>();
        const auto res = scheduler->step(ddim::test::smooth_model(x, t, false), t, x, options);
        ASSERT_EQ(res.prev_sample.scalar_type(), dtype) << c.at("name");
        ASSERT_EQ(res.prev_sample.device(), x.device()) << c.at("name");
        ASSERT_TRUE(torch::isfinite(res.prev_sample).all().item<bool>()) << c.at("name") << " step " << i;
        if (res.pred_original_sample.defined()) {
          ASSERT_EQ(res.pred_original_sample.scalar_type(), dtype);
        }
        x = res.prev_sample;
      }
    }
  }
  EXPECT_EQ(found, static_cast<int>(names.size()));
}

// Timesteps for many step counts, every spacing, compared exactly.
TEST(SchedulerParity, TimestepTablesMatchDiffusers) {
  const auto& doc = GoldenData::get().doc();
  int rows = 0;
  int refused = 0;
  ddim::set_warning_handler({});
  for (const auto& table : doc.at("timestep_tables")) {
    json cfg = table.at("config");
    cfg["_class_name"] = table.at("class");
    auto scheduler = ddim::scheduler_from_config(cfg.dump());
    for (const auto& row : table.at("rows")) {
      ++rows;
      const auto n = row.at(0).get<int64_t>();
      const auto expected = row.at(1).get<std::vector<int64_t>>();
      std::vector<int64_t> ts;
      try {
        scheduler->set_timesteps(n);
        const auto t = scheduler->timesteps();
        ts.assign(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel());
      } catch (const ddim::SchedulerError& e) {
        // A schedule diffusers places but cannot step (a timestep past the training range, or a
        // non-finite one): refused here, so there are no timesteps to compare.
        std::cout << "[ parity ] refused " << table.at("class").get<std::string>() << " " << table.at("config").dump()
                  << " steps " << n << ": " << e.what() << "\n";
        ++refused;
        continue;
      }
      EXPECT_EQ(ts, expected) << table.at("class") << " " << table.at("config").dump() << " steps " << n;
    }
  }
  ddim::set_warning_handler([](const std::string& m) { std::cerr << "ddim: warning: " << m << "\n"; });
  std::cout << "[ parity ] " << rows << " timestep schedules, " << refused << " refused\n";
  EXPECT_GT(rows, 1000);
  EXPECT_LT(refused, rows / 20);
}

// X.from_config(other.config): the same effective config and timesteps as diffusers.
TEST(SchedulerParity, FromConfigMatchesDiffusers) {
  const auto& doc = GoldenData::get().doc();
  for (const auto& c : doc.at("from_config")) {
    const std::string target = c.at("target");
    const std::string source = c.at("source");
    const std::string what = parse_python_json(source).value("_class_name", "?") + " -> " + target;
    if (c.at("expect") == "refuse") {
      EXPECT_ANY_THROW({
        auto s = ddim::scheduler_from_config(source, target);
        s->set_timesteps(10);
      }) << what;
      continue;
    }
    auto scheduler = ddim::scheduler_from_config(source, target);
    scheduler->set_timesteps(10);
    const auto ours = parse_python_json(scheduler->config_json());
    const auto effective = parse_python_json(c.at("effective").get<std::string>());
    // diffusers also carries the source's keys the target does not take ("hidden" config); the
    // keys the target takes must all be there and equal.
    for (const auto& [key, value] : ours.items()) {
      ASSERT_TRUE(effective.contains(key)) << what << ": diffusers has no key " << key;
    }
    for (const auto& [key, value] : effective.items()) {
      if (!ours.contains(key)) continue;
      if (value.is_number() && ours[key].is_number()) {
        EXPECT_DOUBLE_EQ(ours[key].get<double>(), value.get<double>()) << what << ": " << key;
      } else {
        EXPECT_EQ(ours[key], value) << what << ": " << key;
      }
    }
    const auto t = scheduler->timesteps();
    EXPECT_EQ(std::vector<int64_t>(t.data_ptr<int64_t>(), t.data_ptr<int64_t>() + t.numel()),
              c.at("timesteps").get<std::vector<int64_t>>())
        << what;
  }
}

}  // namespace
