// The scheduler API beyond parity: refusals with clear messages, config files, typed configs, and
// the inversion round trip.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "ddim/ddim.h"

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kClasses = {"DDIMScheduler", "DDIMInverseScheduler", "DPMSolverMultistepScheduler",
                                           "DPMSolverMultistepInverseScheduler"};

std::unique_ptr<ddim::Scheduler> make(const std::string& cls, const std::string& extra = "") {
  return ddim::scheduler_from_config("{\"_class_name\": \"" + cls + "\"" + (extra.empty() ? "" : ", " + extra) + "}");
}

// Runs `fn`, expects exception E, and returns its message.
template <class E, class F>
std::string message_of(F&& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no exception";
  return "";
}

// Collects warnings while alive.
struct WarningCapture {
  std::vector<std::string> messages;
  ddim::WarningHandler previous;
  WarningCapture() {
    previous = ddim::set_warning_handler([this](const std::string& m) { messages.push_back(m); });
  }
  ~WarningCapture() { ddim::set_warning_handler(previous); }
};

class EveryScheduler : public ::testing::TestWithParam<std::string> {};

TEST_P(EveryScheduler, RefusesStepCountsOutOfRange) {
  auto s = make(GetParam());
  for (int64_t n : {0, -3, 1001}) {
    const auto msg = message_of<ddim::SchedulerError>([&] { s->set_timesteps(n); });
    EXPECT_NE(msg.find("num_inference_steps " + std::to_string(n)), std::string::npos) << msg;
  }
  EXPECT_NO_THROW(s->set_timesteps(500));
  EXPECT_NO_THROW(s->set_timesteps(1));
}

TEST_P(EveryScheduler, RefusesStepBeforeSetTimesteps) {
  auto s = make(GetParam());
  const auto x = torch::zeros({1, 3, 4, 4});
  const auto msg = message_of<ddim::SchedulerError>([&] { s->step(x, 999, x); });
  EXPECT_NE(msg.find("before set_timesteps"), std::string::npos) << msg;
}

TEST_P(EveryScheduler, RefusesTimestepNotInSchedule) {
  auto s = make(GetParam());
  s->set_timesteps(10);
  const auto x = torch::zeros({1, 3, 4, 4});
  const auto msg = message_of<ddim::SchedulerError>([&] { s->step(x, 123, x); });
  EXPECT_NE(msg.find("timestep 123"), std::string::npos) << msg;
}

TEST_P(EveryScheduler, ConfigJsonRoundTripsAndSavesAtomically) {
  auto s = make(GetParam(), "\"num_train_timesteps\": 500, \"beta_schedule\": \"scaled_linear\"");
  const auto dir = fs::temp_directory_path() / ("ddim_sched_" + GetParam());
  fs::remove_all(dir);
  s->save_pretrained(dir);
  EXPECT_TRUE(fs::exists(dir / "scheduler_config.json"));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 1) << "temporary file left";
  auto again = ddim::scheduler_from_pretrained(dir);
  EXPECT_EQ(again->class_name(), GetParam());
  EXPECT_EQ(again->config_json(), s->config_json());
  EXPECT_NE(s->config_json().find("\"_class_name\": \"" + GetParam() + "\""), std::string::npos);
  fs::remove_all(dir);
}

TEST_P(EveryScheduler, KeepsDtypeAndDeviceAndTimestepsAreInt64) {
  auto s = make(GetParam());
  s->set_timesteps(5);
  EXPECT_EQ(s->timesteps().scalar_type(), torch::kInt64);
  EXPECT_EQ(s->timesteps().dim(), 1);
  EXPECT_EQ(s->order(), 1);
  EXPECT_EQ(s->init_noise_sigma(), 1.0);
  auto x = torch::randn({2, 3, 4, 4}).to(torch::kFloat16);
  EXPECT_TRUE(torch::equal(s->scale_model_input(x, 0), x));
  const auto ts = s->timesteps();
  for (int64_t i = 0; i < ts.numel(); ++i) {
    const auto t = ts[i].item<int64_t>();
    x = s->step(x * 0.5, t, x).prev_sample;
    EXPECT_EQ(x.scalar_type(), torch::kFloat16);
  }
  const auto noisy = s->add_noise(torch::zeros({2, 3, 4, 4}), torch::ones({2, 3, 4, 4}), ts.slice(0, 0, 2));
  EXPECT_EQ(noisy.sizes(), (std::vector<int64_t>{2, 3, 4, 4}));
}

INSTANTIATE_TEST_SUITE_P(Schedulers, EveryScheduler, ::testing::ValuesIn(kClasses));

TEST(SchedulerConfig, UnknownClassNameIsRefused) {
  const auto msg = message_of<ddim::ConfigError>([] { make("EulerDiscreteScheduler"); });
  EXPECT_NE(msg.find("EulerDiscreteScheduler"), std::string::npos) << msg;
  EXPECT_NE(msg.find("DDIMScheduler"), std::string::npos) << "should list the known classes: " << msg;
}

TEST(SchedulerConfig, MalformedJsonIsRefused) {
  const auto msg =
      message_of<ddim::ConfigError>([] { ddim::scheduler_from_config("{\"_class_name\": \"DDIMScheduler\",", ""); });
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
  EXPECT_THROW(ddim::scheduler_from_config("[1, 2]"), ddim::ConfigError);
  EXPECT_THROW(ddim::scheduler_from_config("{}"), ddim::ConfigError);  // no class
}

TEST(SchedulerConfig, WrongTypesAndValuesNameTheKey) {
  auto msg = message_of<ddim::ConfigError>([] { make("DDIMScheduler", "\"num_train_timesteps\": \"1000\""); });
  EXPECT_NE(msg.find("'num_train_timesteps'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"1000\""), std::string::npos) << msg;
  msg = message_of<ddim::ConfigError>([] { make("DDIMScheduler", "\"beta_schedule\": \"cubic\""); });
  EXPECT_NE(msg.find("'beta_schedule'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("\"cubic\""), std::string::npos) << msg;
  msg = message_of<ddim::ConfigError>([] { make("DPMSolverMultistepScheduler", "\"solver_order\": 4"); });
  EXPECT_NE(msg.find("'solver_order'"), std::string::npos) << msg;
  msg = message_of<ddim::ConfigError>([] { make("DDIMInverseScheduler", "\"timestep_spacing\": \"linspace\""); });
  EXPECT_NE(msg.find("'timestep_spacing'"), std::string::npos) << msg;
  msg = message_of<ddim::ConfigError>([] { make("DDIMScheduler", "\"clip_sample\": 1"); });
  EXPECT_NE(msg.find("'clip_sample'"), std::string::npos) << msg;
  msg = message_of<ddim::ConfigError>([] { make("DDIMScheduler", "\"trained_betas\": [0.1, 0.2]"); });
  EXPECT_NE(msg.find("'trained_betas'"), std::string::npos) << msg;
  // Integers that are not: a fraction, a number past double's integers, one past int64.
  const std::vector<std::pair<std::string, std::string>> not_integers = {
      {"1000.5", "1000.5"}, {"1e128", "1e+128"}, {"9223372036854775808", "9223372036854775808"}};
  for (const auto& [value, shown] : not_integers) {
    msg = message_of<ddim::ConfigError>([&] { make("DDIMScheduler", "\"num_train_timesteps\": " + value); });
    EXPECT_NE(msg.find("'num_train_timesteps' has value " + shown + ", expected an integer"), std::string::npos) << msg;
  }
}

TEST(SchedulerConfig, UnknownKeysAreIgnoredWithOneWarning) {
  WarningCapture capture;
  auto s =
      make("DDIMScheduler", "\"no_such_key\": 3, \"variance_type\": \"fixed_small\", \"_diffusers_version\": \"0.1\"");
  ASSERT_EQ(capture.messages.size(), 1U);
  EXPECT_NE(capture.messages[0].find("no_such_key"), std::string::npos) << capture.messages[0];
  EXPECT_EQ(capture.messages[0].find("variance_type"), std::string::npos) << "a DDPMScheduler key is not unknown";
}

TEST(SchedulerConfig, PythonNonFiniteNumbersRoundTrip) {
  auto s = make("DPMSolverMultistepScheduler", "\"lambda_min_clipped\": -Infinity");
  EXPECT_NE(s->config_json().find("\"lambda_min_clipped\": -Infinity"), std::string::npos) << s->config_json();
  auto clipped = make("DPMSolverMultistepScheduler", "\"lambda_min_clipped\": -5.1");
  EXPECT_NE(clipped->config_json().find("\"lambda_min_clipped\": -5.1"), std::string::npos);
}

TEST(SchedulerConfig, PretrainedFindsPipelineFolderAndReportsMissingFile) {
  const auto dir = fs::temp_directory_path() / "ddim_pipeline_folder";
  fs::remove_all(dir);
  make("DDIMScheduler")->save_pretrained(dir / "scheduler");
  EXPECT_EQ(ddim::scheduler_from_pretrained(dir)->class_name(), "DDIMScheduler");
  EXPECT_EQ(ddim::scheduler_from_pretrained(dir, "DPMSolverMultistepScheduler")->class_name(),
            "DPMSolverMultistepScheduler");
  const auto msg = message_of<ddim::ConfigError>([&] { ddim::scheduler_from_pretrained(dir / "nothing"); });
  EXPECT_NE(msg.find("nothing"), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(SchedulerConfig, TypedConfigsNeedNoJson) {
  ddim::DDIMSchedulerConfig cfg;
  cfg.timestep_spacing = ddim::TimestepSpacing::kTrailing;
  cfg.prediction_type = ddim::PredictionType::kVPrediction;
  ddim::DDIMScheduler s(cfg);
  s.set_timesteps(4);
  EXPECT_EQ(s.timesteps()[0].item<int64_t>(), 999);
  EXPECT_NE(s.config_json().find("\"timestep_spacing\": \"trailing\""), std::string::npos);

  ddim::DPMSolverMultistepSchedulerConfig dpm;
  dpm.solver_order = 3;
  dpm.use_karras_sigmas = true;
  ddim::DPMSolverMultistepScheduler d(dpm);
  d.set_timesteps(20);
  EXPECT_EQ(d.sigmas().numel(), 21);
}

TEST(SchedulerStep, DPMSolverRefusesOutOfOrderAndFinishedSchedules) {
  auto s = make("DPMSolverMultistepScheduler");
  s->set_timesteps(3);
  const auto ts = s->timesteps();
  const auto x = torch::zeros({1, 3, 2, 2});
  s->step(x, ts[0].item<int64_t>(), x);
  auto msg = message_of<ddim::SchedulerError>([&] { s->step(x, ts[2].item<int64_t>(), x); });
  EXPECT_NE(msg.find("not the next"), std::string::npos) << msg;
  s->step(x, ts[1].item<int64_t>(), x);
  s->step(x, ts[2].item<int64_t>(), x);
  msg = message_of<ddim::SchedulerError>([&] { s->step(x, ts[2].item<int64_t>(), x); });
  EXPECT_NE(msg.find("done"), std::string::npos) << msg;
}

TEST(SchedulerStep, NoiseArgumentsAreChecked) {
  auto s = make("DDIMScheduler");
  s->set_timesteps(10);
  const auto x = torch::zeros({1, 3, 2, 2});
  ddim::StepOptions both;
  both.eta = 1.0;
  both.generator = at::make_generator<at::CPUGeneratorImpl>(1);
  both.variance_noise = torch::zeros({1, 3, 2, 2});
  EXPECT_THROW(s->step(x, 900, x, both), ddim::SchedulerError);
  ddim::StepOptions negative;
  negative.eta = -1;
  const auto msg = message_of<ddim::SchedulerError>([&] { s->step(x, 900, x, negative); });
  EXPECT_NE(msg.find("eta -1"), std::string::npos) << msg;
}

TEST(SchedulerStep, SameSeedSameNoise) {
  const auto run = [](uint64_t seed) {
    auto s = make("DDIMScheduler");
    s->set_timesteps(5);
    ddim::StepOptions o;
    o.eta = 1.0;
    o.generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    auto x = torch::zeros({1, 3, 4, 4});
    const auto ts = s->timesteps();
    for (int64_t i = 0; i < ts.numel(); ++i) x = s->step(x * 0.1, ts[i].item<int64_t>(), x, o).prev_sample;
    return x;
  };
  EXPECT_TRUE(torch::equal(run(7), run(7)));
  EXPECT_FALSE(torch::equal(run(7), run(8)));
}

// Data x0 ~ N(0, s^2) per element has the exact noise prediction
// eps(x_t) = sqrt(1 - a_t) x_t / (a_t s^2 + 1 - a_t): a smooth model under which inverting and
// sampling back must return close to the start.
torch::Tensor gaussian_oracle(const ddim::Scheduler& s, const torch::Tensor& x, int64_t t) {
  const double a = s.add_noise(torch::ones({1}), torch::zeros({1}), torch::tensor({t})).item<double>();
  const double alpha = a * a;
  const double var = 0.25;
  return x * (std::sqrt(1 - alpha) / (alpha * var + 1 - alpha));
}

double round_trip_error(const std::string& inverse, const std::string& forward, int64_t steps) {
  auto inv = make(inverse, "\"clip_sample\": false");
  auto fwd = make(forward, "\"clip_sample\": false");
  if (!inv || !fwd) return 1;
  const auto x0 = torch::randn({2, 3, 8, 8}, at::make_generator<at::CPUGeneratorImpl>(0)) * 0.5;
  inv->set_timesteps(steps);
  fwd->set_timesteps(steps);
  auto z = x0;
  auto ts = inv->timesteps();
  for (int64_t i = 0; i < ts.numel(); ++i) {
    const auto t = ts[i].item<int64_t>();
    z = inv->step(gaussian_oracle(*inv, z, t), t, z).prev_sample;
  }
  auto x = z;
  ts = fwd->timesteps();
  for (int64_t i = 0; i < ts.numel(); ++i) {
    const auto t = ts[i].item<int64_t>();
    x = fwd->step(gaussian_oracle(*fwd, x, t), t, x).prev_sample;
  }
  // Root-mean-square error relative to the start's.
  return (x - x0).pow(2).mean().sqrt().item<double>() / x0.pow(2).mean().sqrt().item<double>();
}

// diffusers' inversion evaluates the model at the target timestep while the latent is one step
// behind, so the round trip is not exact; its error must shrink as the steps grow.
void expect_converging_round_trip(const std::string& inverse, const std::string& forward) {
  const double e10 = round_trip_error(inverse, forward, 10);
  const double e50 = round_trip_error(inverse, forward, 50);
  const double e200 = round_trip_error(inverse, forward, 200);
  std::cout << "[ round trip ] " << inverse << " -> " << forward << ": relative RMS error " << e10 << " (10 steps), "
            << e50 << " (50), " << e200 << " (200)\n";
  // Measured: DDIM 0.27 / 0.054 / 0.013, DPM-Solver++ 0.35 / 0.020 / 0.0024.
  EXPECT_LT(e50, 0.08);
  EXPECT_LT(e200, 0.5 * e50);
  EXPECT_LT(e50, 0.5 * e10);
}

TEST(InversionRoundTrip, DDIMInverseThenDDIMReturnsToTheStart) {
  expect_converging_round_trip("DDIMInverseScheduler", "DDIMScheduler");
}

TEST(InversionRoundTrip, DPMSolverInverseThenDPMSolverReturnsToTheStart) {
  expect_converging_round_trip("DPMSolverMultistepInverseScheduler", "DPMSolverMultistepScheduler");
}

}  // namespace

TEST(SchedulerConfig, SizeLikeKeysAreBounded) {
  // A huge num_train_timesteps would ask LibTorch for petabytes; it is a ConfigError naming the key.
  auto msg = message_of<ddim::ConfigError>(
      [] { make("DPMSolverMultistepScheduler", "\"num_train_timesteps\": 2005555555555550"); });
  EXPECT_NE(msg.find("'num_train_timesteps' has value 2005555555555550"), std::string::npos) << msg;
  msg = message_of<ddim::ConfigError>([] { make("DDIMScheduler", "\"steps_offset\": 9223372036854775807"); });
  EXPECT_NE(msg.find("'steps_offset'"), std::string::npos) << msg;
}

TEST(SchedulerConfig, NumbersPastDoubleAndBetasOutsideZeroOneAreRefused) {
  // Found by fuzz_scheduler_config: nlohmann's overflow exception escaped, and a trained beta above
  // 1 gave NaN samples (1 - beta < 0 makes alphas_cumprod negative).
  auto msg = message_of<ddim::ConfigError>([] { make("DDIMScheduler", "\"beta_end\": 8.5e2800"); });
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
  for (const char* beta : {"1.5", "-0.25"}) {
    std::string betas = "\"num_train_timesteps\": 3, \"trained_betas\": [0.001, " + std::string(beta) + ", 0.002]";
    for (const char* cls : {"DDIMScheduler", "DPMSolverMultistepInverseScheduler"}) {
      msg = message_of<ddim::ConfigError>([&] { make(cls, betas); });
      EXPECT_NE(msg.find(std::string(beta) + " at index 1"), std::string::npos) << msg;
    }
  }
  EXPECT_NO_THROW(make("DDIMScheduler", "\"num_train_timesteps\": 3, \"trained_betas\": [0, 0.5, 1]"));
}

TEST(SchedulerConfig, ThresholdingRatioZeroIsTheMinimum) {
  // diffusers accepts it (its own fp16 test of the inverse DPM scheduler uses it).
  for (const char* cls : {"DDIMScheduler", "DPMSolverMultistepScheduler", "DPMSolverMultistepInverseScheduler"}) {
    EXPECT_NO_THROW(make(cls, "\"thresholding\": true, \"dynamic_thresholding_ratio\": 0")) << cls;
  }
}

TEST(SchedulerStep, NonFiniteTimestepsAreRefusedAtSetTimesteps) {
  // Karras sigmas over 9234 training steps, one inference step: diffusers' timestep is NaN.
  auto s = make("DPMSolverMultistepInverseScheduler", "\"num_train_timesteps\": 9234, \"use_karras_sigmas\": true");
  const auto msg = message_of<ddim::SchedulerError>([&] { s->set_timesteps(1); });
  EXPECT_NE(msg.find("non-finite timestep"), std::string::npos) << msg;
}

TEST(SchedulerStep, DPMSolverBuildsWhatDiffusersBuildsAndRefusesTheFailingStep) {
  // Every training timestep on a default inverse scheduler: diffusers builds this schedule (its
  // tests check the timesteps are unique); a step whose update is not finite is refused there.
  std::vector<std::string> warnings;
  auto previous = ddim::set_warning_handler([&](const std::string& m) { warnings.push_back(m); });
  auto s = make("DPMSolverMultistepInverseScheduler");
  ASSERT_NO_THROW(s->set_timesteps(1000));
  ddim::set_warning_handler(previous);
  const auto ts = s->timesteps();
  EXPECT_EQ(std::get<0>(at::_unique(ts)).numel(), ts.numel());
  auto x = torch::randn({1, 3, 4, 4}, at::make_generator<at::CPUGeneratorImpl>(0));
  bool refused = false;
  for (int64_t i = 0; i < ts.numel() && !refused; ++i) {
    const int64_t t = ts[i].item<int64_t>();
    try {
      x = s->step(x * 0.1, t, x).prev_sample;
      ASSERT_TRUE(torch::isfinite(x).all().item<bool>()) << "step " << i << " returned NaN without an error";
    } catch (const ddim::SchedulerError& e) {
      refused = true;
      EXPECT_NE(std::string(e.what()).find("step " + std::to_string(i) + " "), std::string::npos) << e.what();
    }
  }
  // Refused at a step exactly when set_timesteps warned.
  EXPECT_EQ(refused, !warnings.empty());
}

// Found by fuzz_scheduler_config: linear betas up to 0.812 make alphas_cumprod underflow to 0, and
// an inverse DDIM epsilon step from there divides by zero, as in diffusers. Without clipping every
// such schedule is refused at set_timesteps; with clipping the one step that can turn 0 / 0 into
// NaN is refused there, never handed on.
TEST(SchedulerStep, InverseDDIMFromAlphaZeroIsRefusedNotNaN) {
  const std::string betas = "\"beta_end\": 0.812, \"set_alpha_to_one\": true, \"timestep_spacing\": \"leading\"";
  auto unclipped = make("DDIMInverseScheduler", betas + ", \"clip_sample\": false");
  const auto msg = message_of<ddim::SchedulerError>([&] { unclipped->set_timesteps(100); });
  EXPECT_NE(msg.find("alphas_cumprod is 0"), std::string::npos) << msg;

  auto clipped = make("DDIMInverseScheduler", betas + ", \"clip_sample\": true");
  clipped->set_timesteps(100);
  auto x = torch::linspace(-1.5, 1.5, 8).reshape({1, 2, 2, 2});
  const auto noise = torch::linspace(1.0, -1.0, 8).reshape({1, 2, 2, 2});
  const auto ts = clipped->timesteps();
  bool refused = false;
  for (int64_t i = 0; i < ts.numel() && !refused; ++i) {
    try {
      x = clipped->step(x * 0.5 + noise * 0.25, ts[i].item<int64_t>(), x).prev_sample;
      EXPECT_TRUE(torch::isfinite(x).all().item<bool>()) << "step " << i;
    } catch (const ddim::SchedulerError& e) {
      EXPECT_NE(std::string(e.what()).find("non-finite"), std::string::npos) << e.what();
      refused = true;
    }
  }
  EXPECT_TRUE(refused) << "the model output's fixed point x = 0.5 noise makes 0 / 0 at an alpha-0 step";
}
