#include "ddim/schedulers/ddim_scheduler.h"

#include <algorithm>

#include "ddim/errors.h"
#include "ddim/warnings.h"
#include "schedulers/cores/ddim_core.h"
#include "schedulers/foundation/config_io.h"
#include "schedulers/foundation/numpy_compat.h"
#include "schedulers/foundation/scheduler_math.h"

namespace ddim {
namespace {

constexpr const char* kName = DDIMScheduler::kClassName;

// DDIMScheduler.set_timesteps, descending.
std::vector<int64_t> ddim_timesteps(const DDIMSchedulerConfig& c, int64_t n) {
  const int64_t train = c.num_train_timesteps;
  std::vector<int64_t> ts;
  switch (c.timestep_spacing) {
    case TimestepSpacing::kLinspace:
      for (double v : numpy::linspace(0, static_cast<double>(train - 1), n))
        ts.push_back(static_cast<int64_t>(numpy::round(v)));
      std::reverse(ts.begin(), ts.end());
      break;
    case TimestepSpacing::kLeading: {
      const int64_t ratio = train / n;
      for (int64_t i = n - 1; i >= 0; --i) ts.push_back(i * ratio + c.steps_offset);
      break;
    }
    case TimestepSpacing::kTrailing: {
      const double ratio = static_cast<double>(train) / static_cast<double>(n);
      for (double v : numpy::arange(static_cast<double>(train), 0, -ratio))
        ts.push_back(static_cast<int64_t>(numpy::round(v)) - 1);
      break;
    }
  }
  return ts;
}

// The keys only DDIMScheduler has; the shared ones are checked by DDIMCore.
const DDIMSchedulerConfig& checked(const DDIMSchedulerConfig& c) {
  if (c.thresholding && !(c.dynamic_thresholding_ratio >= 0 && c.dynamic_thresholding_ratio <= 1)) {
    detail::config_fail(kName, "dynamic_thresholding_ratio", detail::format_double(c.dynamic_thresholding_ratio),
                        "a number in [0, 1] (0: the minimum of |x0|)");
  }
  return c;
}

}  // namespace

DDIMScheduler::DDIMScheduler(const DDIMSchedulerConfig& config)
    : config_(checked(config)), core_(std::make_unique<detail::DDIMCore>(kName, config_, /*inverse=*/false)) {}

DDIMScheduler::DDIMScheduler(const DDIMScheduler& other)
    : config_(other.config_), core_(std::make_unique<detail::DDIMCore>(*other.core_)) {}

DDIMScheduler::~DDIMScheduler() = default;

const torch::Tensor& DDIMScheduler::alphas_cumprod() const { return core_->schedule().alphas_cumprod(); }
torch::Tensor DDIMScheduler::timesteps() const { return core_->schedule().timesteps(); }

void DDIMScheduler::set_timesteps(int64_t num_inference_steps, torch::Device device) {
  core_->schedule().check_num_inference_steps(num_inference_steps);
  auto ts = ddim_timesteps(config_, num_inference_steps);
  for (int64_t t : ts) {
    // epsilon prediction at alpha_prod_t == 0 (zero-SNR betas) divides by zero; only clipping or
    // thresholding can keep diffusers' result finite, and thresholding only for some samples.
    if (core_->alpha_prod(t) == 0 && config_.prediction_type == PredictionType::kEpsilon) {
      if (!config_.clip_sample && !config_.thresholding) {
        throw SchedulerError(std::string(kName) + ": timestep " + std::to_string(t) +
                             " has alphas_cumprod 0 (rescale_betas_zero_snr) and epsilon prediction without clipping: "
                             "diffusers returns non-finite samples; use v_prediction or clip_sample");
      }
      if (config_.thresholding) {
        warn(std::string(kName) + ": timestep " + std::to_string(t) +
             " has alphas_cumprod 0 and epsilon prediction: its x0 prediction divides by zero and dynamic "
             "thresholding of infinities is NaN for most samples; that step is refused if its sample is not finite");
      }
    }
  }
  core_->set_schedule(std::move(ts), num_inference_steps, device);
}

SchedulerOutput DDIMScheduler::step(const torch::Tensor& model_output, int64_t timestep, const torch::Tensor& sample,
                                    const StepOptions& options) {
  core_->check_step(timestep);
  if (!(options.eta >= 0)) {
    throw SchedulerError(std::string(kName) + ": eta " + detail::format_double(options.eta) + " must be >= 0");
  }
  detail::check_noise_options(options, kName);

  // DDIMScheduler.step, with its float32 scalars on the host (their square roots from LibTorch);
  // a negative prev_timestep reads final_alpha_cumprod.
  const int64_t prev_timestep = timestep - core_->step_ratio();
  const float alpha_prod_t = core_->alpha_prod(timestep);
  const float alpha_prod_t_prev = core_->alpha_prod_or_boundary(prev_timestep);
  const float beta_prod_t = 1.0F - alpha_prod_t;

  // With eta = 0 the direction coefficient is (1 - alpha_prod_t_prev) ** 0.5, already tabled.
  detail::DDIMScalars scalars;
  scalars.prediction_type = config_.prediction_type;
  scalars.sqrt_alpha = core_->sqrt_alpha_prod(timestep);
  scalars.sqrt_beta = core_->sqrt_one_minus_alpha_prod(timestep);
  scalars.sqrt_alpha_prev = core_->sqrt_alpha_prod_or_boundary(prev_timestep);
  scalars.direction = core_->sqrt_one_minus_alpha_prod_or_boundary(prev_timestep);
  scalars.use_clipped_model_output = options.use_clipped_model_output;
  float std_dev_t = 0;
  if (options.eta != 0) {
    // _get_variance: (beta_prod_t_prev / beta_prod_t) * (1 - alpha_prod_t / alpha_prod_t_prev)
    const float variance = ((1.0F - alpha_prod_t_prev) / beta_prod_t) * (1.0F - alpha_prod_t / alpha_prod_t_prev);
    std_dev_t = static_cast<float>(options.eta) * detail::torch_sqrt(variance);
    const float direction_sq = 1.0F - alpha_prod_t_prev - std_dev_t * std_dev_t;
    if (direction_sq < 0) {
      throw SchedulerError(std::string(kName) + ": eta " + detail::format_double(options.eta) + " at timestep " +
                           std::to_string(timestep) +
                           " gives a negative variance (diffusers returns NaN); use eta <= 1");
    }
    scalars.direction = detail::torch_sqrt(direction_sq);
  }
  torch::Tensor noise;
  if (options.eta > 0) {
    noise = options.variance_noise ? *options.variance_noise
                                   : detail::randn_tensor(model_output.sizes(), options.generator,
                                                          model_output.device(), model_output.scalar_type(), kName);
  }
  detail::X0Processing processing;
  processing.thresholding = config_.thresholding;
  processing.dynamic_thresholding_ratio = config_.dynamic_thresholding_ratio;
  processing.sample_max_value = config_.sample_max_value;
  processing.clip = config_.clip_sample;
  processing.clip_range = static_cast<float>(config_.clip_sample_range);
  auto [prev_sample, x0] = detail::ddim_step(sample, model_output, scalars, processing, noise, std_dev_t);
  // The one step whose result depends on the data being finite (warned at set_timesteps): checked
  // here, not at every step, so that other steps never wait for the device.
  if (alpha_prod_t == 0 && config_.prediction_type == PredictionType::kEpsilon &&
      !torch::isfinite(prev_sample).all().item<bool>()) {
    throw SchedulerError(std::string(kName) + ": step at timestep " + std::to_string(timestep) +
                         " gives a non-finite sample (alphas_cumprod 0 with epsilon prediction divides by zero; "
                         "diffusers returns NaN); use v_prediction");
  }
  return {prev_sample, x0};
}

torch::Tensor DDIMScheduler::add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                                       const torch::Tensor& timesteps) const {
  return core_->add_noise(original_samples, noise, timesteps);
}

std::string DDIMScheduler::config_json() const { return config::write(config_, kName); }

std::unique_ptr<Scheduler> DDIMScheduler::clone() const { return std::make_unique<DDIMScheduler>(*this); }

}  // namespace ddim
