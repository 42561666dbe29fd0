#pragma once

// The training noise schedule shared by every scheduler: betas, the zero-terminal-SNR rescale,
// and the sigma spacings (Karras, exponential, beta, Lu lambdas) the DPM-Solver schedulers offer.
// Each function mirrors the diffusers function named in its comment, with the same dtypes.

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "ddim/export.h"
#include "ddim/schedulers/config_base.h"

namespace ddim {

// float32 betas of length num_train_timesteps (diffusers: the scheduler constructors, and
// betas_for_alpha_bar with the cosine transform for squaredcos_cap_v2).
DDIM_API torch::Tensor make_betas(const TrainScheduleConfig& config);

// diffusers rescale_zero_terminal_snr (arXiv:2305.08891, Algorithm 1).
DDIM_API torch::Tensor rescale_zero_terminal_snr(const torch::Tensor& betas);

// cumprod(1 - betas) in float32, after the optional zero-SNR rescale.
DDIM_API torch::Tensor make_alphas_cumprod(const TrainScheduleConfig& config, bool rescale_betas_zero_snr);

// Sigma spacings over num_inference_steps points from sigmas.front() to sigmas.back() (the order
// the caller passes is kept, as diffusers' _convert_to_karras / _exponential / _beta do).
DDIM_API std::vector<double> karras_sigmas(double first, double last, int64_t num_inference_steps, double rho = 7.0);
DDIM_API std::vector<double> exponential_sigmas(double first, double last, int64_t num_inference_steps);
// Beta-distribution spacing (arXiv:2407.12173) with Boost.Math's ibeta_inv as the quantile.
DDIM_API std::vector<double> beta_sigmas(double first, double last, int64_t num_inference_steps, double alpha = 0.6,
                                         double beta = 0.6);
// diffusers _convert_to_lu: evenly spaced log-sigmas ("lambdas") from first to last.
DDIM_API std::vector<double> lu_lambdas(double first, double last, int64_t num_inference_steps);

// The flow-matching sigmas of DPMSolverMultistepScheduler.set_timesteps (use_flow_sigmas):
// shift * s / (1 + (shift - 1) * s) for s = 1 - linspace(1, 1/num_train_timesteps, n + 1), from the
// largest down, without the final one (n values).
DDIM_API std::vector<double> flow_sigmas(int64_t num_train_timesteps, int64_t num_inference_steps, double shift);

// np.interp(timesteps, arange(len(table)), table) at integer timesteps: the table value, clamped
// to the table's ends.
DDIM_API std::vector<double> table_at(const std::vector<int64_t>& timesteps, const std::vector<float>& table);

// diffusers _sigma_to_t: the fractional training timestep whose log-sigma brackets log(sigma),
// by linear interpolation in the float32 table log_sigmas (ascending).
DDIM_API double sigma_to_t(double sigma, const std::vector<float>& log_sigmas);

}  // namespace ddim
