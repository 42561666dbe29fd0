#include "ddim/schedulers/noise_schedule.h"

#include <algorithm>
#include <boost/math/special_functions/beta.hpp>
#include <cmath>

#include "ddim/errors.h"
#include "schedulers/foundation/numpy_compat.h"

namespace ddim {

torch::Tensor make_betas(const TrainScheduleConfig& config) {
  const auto f32 = torch::dtype(torch::kFloat32);
  const int64_t n = config.num_train_timesteps;
  if (config.trained_betas) {
    std::vector<float> values(config.trained_betas->begin(), config.trained_betas->end());
    return torch::tensor(values, f32);
  }
  switch (config.beta_schedule) {
    case BetaSchedule::kLinear:
      return torch::linspace(config.beta_start, config.beta_end, n, f32);
    case BetaSchedule::kScaledLinear:
      return torch::pow(torch::linspace(std::pow(config.beta_start, 0.5), std::pow(config.beta_end, 0.5), n, f32), 2);
    case BetaSchedule::kSquaredcosCapV2: {
      // betas_for_alpha_bar(n, max_beta=0.999, "cosine"), in Python floats, then float32.
      const auto alpha_bar = [](double t) { return std::pow(std::cos((t + 0.008) / 1.008 * M_PI / 2), 2); };
      std::vector<float> betas(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        const double t1 = static_cast<double>(i) / static_cast<double>(n);
        const double t2 = static_cast<double>(i + 1) / static_cast<double>(n);
        betas[static_cast<size_t>(i)] = static_cast<float>(std::min(1 - alpha_bar(t2) / alpha_bar(t1), 0.999));
      }
      return torch::tensor(betas, f32);
    }
  }
  throw ConfigError("beta_schedule " + std::to_string(static_cast<int>(config.beta_schedule)) +
                    " is not one this library knows");
}

torch::Tensor rescale_zero_terminal_snr(const torch::Tensor& betas) {
  const auto alphas = torch::rsub(betas, 1.0);
  const auto alphas_cumprod = torch::cumprod(alphas, 0);
  auto alphas_bar_sqrt = alphas_cumprod.sqrt();
  const auto sqrt_0 = alphas_bar_sqrt[0].clone();
  const auto sqrt_t = alphas_bar_sqrt[-1].clone();
  alphas_bar_sqrt -= sqrt_t;
  alphas_bar_sqrt *= sqrt_0 / (sqrt_0 - sqrt_t);
  const auto alphas_bar = torch::pow(alphas_bar_sqrt, 2);
  const int64_t n = alphas_bar.size(0);
  auto rescaled = alphas_bar.slice(0, 1, n) / alphas_bar.slice(0, 0, n - 1);
  rescaled = torch::cat({alphas_bar.slice(0, 0, 1), rescaled});
  return torch::rsub(rescaled, 1);
}

torch::Tensor make_alphas_cumprod(const TrainScheduleConfig& config, bool rescale_betas_zero_snr) {
  auto betas = make_betas(config);
  if (rescale_betas_zero_snr) betas = rescale_zero_terminal_snr(betas);
  return torch::cumprod(torch::rsub(betas, 1.0), 0);
}

std::vector<double> karras_sigmas(double first, double last, int64_t num_inference_steps, double rho) {
  // diffusers names first "sigma_max" and last "sigma_min", whichever is larger.
  const double min_inv_rho = std::pow(last, 1 / rho);
  const double max_inv_rho = std::pow(first, 1 / rho);
  std::vector<double> sigmas = numpy::linspace(0, 1, num_inference_steps);
  for (double& r : sigmas) r = std::pow(max_inv_rho + r * (min_inv_rho - max_inv_rho), rho);
  return sigmas;
}

std::vector<double> exponential_sigmas(double first, double last, int64_t num_inference_steps) {
  std::vector<double> sigmas = numpy::linspace(std::log(first), std::log(last), num_inference_steps);
  for (double& s : sigmas) s = std::exp(s);
  return sigmas;
}

std::vector<double> beta_sigmas(double first, double last, int64_t num_inference_steps, double alpha, double beta) {
  // sigma_min + ppf(1 - ramp) * (sigma_max - sigma_min), ppf the Beta(alpha, beta) quantile.
  std::vector<double> sigmas = numpy::linspace(0, 1, num_inference_steps);
  for (double& r : sigmas) {
    const double p = 1 - r;
    const double ppf = boost::math::ibeta_inv(alpha, beta, p);
    r = last + ppf * (first - last);
  }
  return sigmas;
}

std::vector<double> lu_lambdas(double first, double last, int64_t num_inference_steps) {
  std::vector<double> lambdas = numpy::linspace(0, 1, num_inference_steps);
  for (double& r : lambdas) r = first + r * (last - first);
  return lambdas;
}

std::vector<double> flow_sigmas(int64_t num_train_timesteps, int64_t num_inference_steps, double shift) {
  std::vector<double> alphas =
      numpy::linspace(1, 1 / static_cast<double>(num_train_timesteps), num_inference_steps + 1);
  std::vector<double> sigmas;
  for (auto it = alphas.rbegin(); it != alphas.rend(); ++it) {
    const double s = 1.0 - *it;
    sigmas.push_back(shift * s / (1 + (shift - 1) * s));
  }
  sigmas.pop_back();
  return sigmas;
}

std::vector<double> table_at(const std::vector<int64_t>& timesteps, const std::vector<float>& table) {
  std::vector<double> out;
  const auto last = static_cast<int64_t>(table.size()) - 1;
  for (int64_t t : timesteps) out.push_back(table[static_cast<size_t>(std::clamp<int64_t>(t, 0, last))]);
  return out;
}

double sigma_to_t(double sigma, const std::vector<float>& log_sigmas) {
  const double log_sigma = std::log(std::max(sigma, 1e-10));
  // Last index whose log-sigma is <= log_sigma (0 when none), at most size - 2.
  int64_t low_idx = 0;
  int64_t count = 0;
  int64_t best = 0;
  for (size_t i = 0; i < log_sigmas.size(); ++i) {
    if (log_sigma - static_cast<double>(log_sigmas[i]) >= 0) {
      ++count;
      if (count > best) {
        best = count;
        low_idx = static_cast<int64_t>(i);
      }
    }
  }
  low_idx = std::min<int64_t>(low_idx, static_cast<int64_t>(log_sigmas.size()) - 2);
  const int64_t high_idx = low_idx + 1;
  const float low = log_sigmas[static_cast<size_t>(low_idx)];
  const float high = log_sigmas[static_cast<size_t>(high_idx)];
  // numpy: low - log_sigma is float64 (log_sigma is), low - high stays float32 (both are).
  const float spread = low - high;
  double w = (static_cast<double>(low) - log_sigma) / static_cast<double>(spread);
  w = std::clamp(w, 0.0, 1.0);
  return (1 - w) * static_cast<double>(low_idx) + w * static_cast<double>(high_idx);
}

}  // namespace ddim
