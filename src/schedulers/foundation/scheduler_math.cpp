#include "schedulers/foundation/scheduler_math.h"

#include <cmath>
#include <iomanip>
#include <sstream>

#include "ddim/errors.h"

namespace ddim::detail {

namespace {

std::vector<float> map_values(const std::vector<float>& values, torch::Tensor (*op)(const torch::Tensor&)) {
  if (values.empty()) return {};
  const auto in =
      torch::from_blob(const_cast<float*>(values.data()), {static_cast<int64_t>(values.size())}, torch::kFloat32);
  const auto out = op(in).contiguous();
  return {out.data_ptr<float>(), out.data_ptr<float>() + out.numel()};
}

}  // namespace

std::vector<float> torch_sqrt(const std::vector<float>& values) {
  return map_values(values, [](const torch::Tensor& t) { return torch::pow(t, 0.5); });
}
std::vector<float> torch_exp(const std::vector<float>& values) {
  return map_values(values, [](const torch::Tensor& t) { return torch::exp(t); });
}
std::vector<float> torch_log(const std::vector<float>& values) {
  return map_values(values, [](const torch::Tensor& t) { return torch::log(t); });
}
float torch_sqrt(float value) { return torch_sqrt(std::vector<float>{value})[0]; }

DDIMStepOutput ddim_step(const torch::Tensor& sample, const torch::Tensor& model_output, const DDIMScalars& scalars,
                         const X0Processing& processing, const torch::Tensor& noise, float std_dev_t) {
  const float lo = -processing.clip_range;
  const float hi = processing.clip_range;
  DDIMStepOutput result;
  const bool fused = !processing.thresholding && fusable(sample, {&model_output, &noise});
  with_prediction(scalars.prediction_type, [&](auto prediction) {
    with_bool(scalars.use_clipped_model_output, [&](auto use_clipped) {
      constexpr PredictionType P = decltype(prediction)::value;
      constexpr bool kUseClipped = decltype(use_clipped)::value;
      if (!fused) {
        auto p = ddim_predict<P>(sample, model_output, scalars);
        if (processing.thresholding) {
          p.x0 = threshold_sample(p.x0, processing.dynamic_thresholding_ratio, processing.sample_max_value);
        } else if (processing.clip) {
          p.x0 = clamp_value(p.x0, lo, hi);
        }
        result.prev_sample = ddim_prev<kUseClipped>(sample, p.x0, p.eps, scalars);
        if (noise.defined()) result.prev_sample = result.prev_sample + noise * std_dev_t;
        result.pred_original_sample = p.x0;
        return;
      }
      result.pred_original_sample = torch::empty_like(sample);
      result.prev_sample = torch::empty_like(sample);
      const float* s = sample.data_ptr<float>();
      const float* mo = model_output.data_ptr<float>();
      const float* n = data_or_null(noise);
      float* px0 = result.pred_original_sample.data_ptr<float>();
      float* out = result.prev_sample.data_ptr<float>();
      with_bool(processing.clip, [&](auto clip) {
        with_bool(n != nullptr, [&](auto has_noise) {
          for_each_chunk(sample.numel(), [&](int64_t begin, int64_t end) {
            // Local copies: the stores below cannot alias them, so the loop vectorizes.
            const float* __restrict ls = s;
            const float* __restrict lmo = mo;
            const float* __restrict ln = n;
            float* __restrict lx0 = px0;
            float* __restrict lout = out;
            const DDIMScalars sc = scalars;
            const float lo_ = lo;
            const float hi_ = hi;
            const float std_ = std_dev_t;
            for (int64_t k = begin; k < end; ++k) {
              auto p = ddim_predict<P>(ls[k], lmo[k], sc);
              if constexpr (decltype(clip)::value) p.x0 = clamp_value(p.x0, lo_, hi_);
              lx0[k] = p.x0;
              const float v = ddim_prev<kUseClipped>(ls[k], p.x0, p.eps, sc);
              if constexpr (decltype(has_noise)::value) {
                lout[k] = v + ln[k] * std_;
              } else {
                lout[k] = v;
              }
            }
          });
        });
      });
    });
  });
  return result;
}

torch::Tensor threshold_sample(const torch::Tensor& sample, double ratio, double sample_max_value) {
  const auto dtype = sample.scalar_type();
  auto x = sample;
  if (dtype != torch::kFloat32 && dtype != torch::kFloat64) x = x.to(torch::kFloat32);
  const auto shape = x.sizes().vec();
  x = x.reshape({shape[0], -1});
  const auto s = torch::quantile(x.abs(), ratio, 1).clamp(1, sample_max_value).unsqueeze(1);
  x = torch::clamp(x, -s, s) / s;
  return x.reshape(shape).to(dtype);
}

torch::Tensor randn_tensor(at::IntArrayRef shape, const std::optional<at::Generator>& generator, torch::Device device,
                           torch::ScalarType dtype, const std::string& owner) {
  auto rand_device = device;
  if (generator) {
    const auto gen_type = generator->device().type();
    if (gen_type != device.type() && gen_type == torch::kCPU) {
      rand_device = torch::kCPU;
    } else if (gen_type != device.type()) {
      throw SchedulerError(owner + ": cannot draw " + device.str() + " noise from a generator of type " +
                           generator->device().str());
    }
  }
  return at::randn(shape, generator, torch::dtype(dtype).device(rand_device)).to(device);
}

torch::Tensor add_noise_alphas(const torch::Tensor& alphas_cumprod, const torch::Tensor& original_samples,
                               const torch::Tensor& noise, const torch::Tensor& timesteps) {
  const auto alphas = alphas_cumprod.to(original_samples.device(), original_samples.scalar_type());
  const auto t = timesteps.to(original_samples.device(), torch::kInt64);
  std::vector<int64_t> view(static_cast<size_t>(original_samples.dim()), 1);
  view[0] = -1;
  const auto a = alphas.index({t});
  const auto sqrt_alpha = torch::pow(a, 0.5).flatten().view(view);
  const auto sqrt_one_minus_alpha = torch::pow(torch::rsub(a, 1), 0.5).flatten().view(view);
  return sqrt_alpha * original_samples + sqrt_one_minus_alpha * noise;
}

void config_fail(const std::string& owner, const std::string& key, const std::string& value,
                 const std::string& expected) {
  throw ConfigError(owner + " config: key '" + key + "' has value " + value + ", expected " + expected);
}

std::string format_double(double value) {
  std::ostringstream out;
  out << std::setprecision(17) << value;
  return out.str();
}

void check_train_config(const TrainScheduleConfig& config, const std::string& owner) {
  if (config.num_train_timesteps < 2 || config.num_train_timesteps > kMaxTrainTimesteps) {
    config_fail(owner, "num_train_timesteps", std::to_string(config.num_train_timesteps),
                "an integer in [2, " + std::to_string(kMaxTrainTimesteps) + "]");
  }
  if (config.trained_betas && static_cast<int64_t>(config.trained_betas->size()) != config.num_train_timesteps) {
    config_fail(owner, "trained_betas", "a list of " + std::to_string(config.trained_betas->size()) + " betas",
                "num_train_timesteps (" + std::to_string(config.num_train_timesteps) + ") values");
  }
  if (config.trained_betas) {
    // A beta outside [0, 1] makes 1 - beta, and so some alphas_cumprod, negative: every square
    // root of them is NaN (diffusers builds such a schedule and returns NaN samples).
    const auto& betas = *config.trained_betas;
    for (size_t i = 0; i < betas.size(); ++i) {
      if (!(betas[i] >= 0 && betas[i] <= 1)) {
        config_fail(owner, "trained_betas", "a list with " + format_double(betas[i]) + " at index " + std::to_string(i),
                    "betas in [0, 1]");
      }
    }
  }
  if (!config.trained_betas && config.beta_schedule != BetaSchedule::kSquaredcosCapV2 &&
      !(config.beta_start > 0 && config.beta_end < 1 && config.beta_start <= config.beta_end)) {
    config_fail(owner, "beta_start",
                format_double(config.beta_start) + " with beta_end " + format_double(config.beta_end),
                "0 < beta_start <= beta_end < 1");
  }
}

void check_noise_options(const StepOptions& options, const std::string& owner) {
  if (options.generator && options.variance_noise) {
    throw SchedulerError(owner + ": pass either a generator or variance_noise, not both");
  }
}

}  // namespace ddim::detail
