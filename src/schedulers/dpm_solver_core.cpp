#include "schedulers/dpm_solver_core.h"

#include <cmath>
#include <utility>

#include "ddim/scheduler_error.h"
#include "schedulers/config_io.h"
#include "schedulers/scheduler_math.h"

namespace ddim::detail {
namespace {

// A float32 scalar as the double a tensor op takes (exact).
double f(float v) { return static_cast<double>(v); }

bool learned_variance(const std::optional<VarianceType>& v) {
  return v && (*v == VarianceType::kLearned || *v == VarianceType::kLearnedRange);
}

bool plus_plus(DPMAlgorithmType a) {
  return a == DPMAlgorithmType::kDPMSolverPlusPlus || a == DPMAlgorithmType::kSDEDPMSolverPlusPlus;
}

}  // namespace

void check_dpm_config(const DPMSolverBaseConfig& c, const std::string& owner, bool inverse) {
  check_train_config(c, owner);
  const std::string algo = "\"" + to_string(c.algorithm_type) + "\"";
  if (c.solver_order < 1 || c.solver_order > 3) {
    config_fail(owner, "solver_order", std::to_string(c.solver_order), "1, 2 or 3");
  }
  if (int(c.use_karras_sigmas) + int(c.use_exponential_sigmas) + int(c.use_beta_sigmas) > 1) {
    config_fail(owner, "use_karras_sigmas", "together with use_exponential_sigmas or use_beta_sigmas",
                "at most one of use_karras_sigmas, use_exponential_sigmas, use_beta_sigmas");
  }
  if (c.prediction_type == PredictionType::kFlowPrediction && !plus_plus(c.algorithm_type)) {
    config_fail(owner, "prediction_type", "\"flow_prediction\" with algorithm_type " + algo,
                "dpmsolver++ or sde-dpmsolver++ for flow_prediction");
  }
  if (learned_variance(c.variance_type) && c.prediction_type != PredictionType::kEpsilon) {
    config_fail(owner, "variance_type", "\"" + config::enum_name(*c.variance_type) + "\" with prediction_type \"" +
                    to_string(c.prediction_type) + "\"",
                "epsilon prediction (a learned variance splits an epsilon output)");
  }
  if (c.thresholding && !(c.dynamic_thresholding_ratio > 0 && c.dynamic_thresholding_ratio <= 1)) {
    config_fail(owner, "dynamic_thresholding_ratio", format_double(c.dynamic_thresholding_ratio), "a number in (0, 1]");
  }
  if (c.steps_offset < 0) config_fail(owner, "steps_offset", std::to_string(c.steps_offset), "an integer >= 0");
  if (c.use_flow_sigmas && !(c.flow_shift > 0)) {
    config_fail(owner, "flow_shift", format_double(c.flow_shift), "a number > 0");
  }
  if (c.algorithm_type == DPMAlgorithmType::kSDEDPMSolver && c.solver_order == 3) {
    config_fail(owner, "algorithm_type", algo + " with solver_order 3",
                "solver_order 1 or 2 (diffusers has no third-order sde-dpmsolver update)");
  }
  const bool sde = c.algorithm_type == DPMAlgorithmType::kSDEDPMSolver ||
                   c.algorithm_type == DPMAlgorithmType::kSDEDPMSolverPlusPlus;
  if (inverse && sde && !c.use_flow_sigmas) {
    config_fail(owner, "algorithm_type", algo,
                "dpmsolver++ or dpmsolver (inverting with an SDE solver takes the square root of a negative "
                "number: diffusers returns NaN; only flow sigmas allow it)");
  }
  if (inverse && sde && c.solver_order == 3) {
    config_fail(owner, "algorithm_type", algo + " with solver_order 3",
                "solver_order 1 or 2 (diffusers' inverse third-order update has no noise term and fails)");
  }
}

DPMSolverCore::DPMSolverCore(std::string owner, const DPMSolverBaseConfig& config, Rules rules,
                             torch::Tensor alphas_cumprod, bool descending_initial_timesteps)
    : owner_(std::move(owner)), config_(config), rules_(rules) {
  // The tables of DPMSolverMultistepScheduler.__init__, in float32 torch ops.
  const auto& ac = alphas_cumprod;
  const auto train = torch::pow(torch::rsub(ac, 1) / ac, 0.5).contiguous();
  train_sigmas_.assign(train.data_ptr<float>(), train.data_ptr<float>() + train.numel());
  for (float s : train_sigmas_) log_sigmas_.push_back(static_cast<float>(std::log(static_cast<double>(s))));
  const auto lambda_t = torch::log(torch::sqrt(ac)) - torch::log(torch::sqrt(torch::rsub(ac, 1)));
  clipped_index_ =
      torch::searchsorted(torch::flip(lambda_t, {0}), at::Scalar(config_.lambda_min_clipped)).item<int64_t>();
  sigmas_ = train_sigmas_;
  schedule_ = DiscreteSchedule(owner_, alphas_cumprod, descending_initial_timesteps);
}

bool DPMSolverCore::is_sde() const {
  return config_.algorithm_type == DPMAlgorithmType::kSDEDPMSolver ||
         config_.algorithm_type == DPMAlgorithmType::kSDEDPMSolverPlusPlus;
}

torch::Tensor DPMSolverCore::sigmas() const {
  return torch::tensor(sigmas_, torch::kFloat32);
}

int DPMSolverCore::order_for(size_t step_index, int lower_order_nums) const {
  const size_t n = schedule_.host_timesteps().size();
  const bool short_schedule = config_.lower_order_final && n < 15;
  const bool lower_order_final =
      step_index == n - 1 && (config_.euler_at_final || short_schedule || rules_.final_step_first_order);
  const bool lower_order_second = n >= 2 && step_index == n - 2 && short_schedule;
  if (config_.solver_order == 1 || lower_order_nums < 1 || lower_order_final) return 1;
  if (config_.solver_order == 2 || lower_order_nums < 2 || lower_order_second) return 2;
  return 3;
}

torch::Tensor DPMSolverCore::update(size_t i, int order, const torch::Tensor& sample,
                                   const std::vector<torch::Tensor>& outputs, const torch::Tensor& noise) const {
  if (i + 1 >= sigmas_.size()) {
    throw SchedulerError(owner_ + ": step " + std::to_string(i) + " is past the end of the sigma table (" +
                         std::to_string(sigmas_.size()) + " sigmas)");
  }
  // multistep_dpm_solver_{first,second,third}_order_update, written as diffusers writes them, with
  // its float32 scalars, so that every rounding (and every cancellation) is the same.
  const auto& tb = tables_;
  const float h = tb.h[i];
  const float a = tb.alpha[i + 1];
  const float s = tb.sigma[i + 1];
  const float a_s0 = tb.alpha[i];
  const float s_s0 = tb.sigma[i];
  const float e_mh = tb.exp_neg_h[i];
  const float e_h = tb.exp_h[i];
  const float e_m2h = tb.exp_neg_2h[i];
  const auto& m0 = outputs[outputs.size() - 1];
  const auto algo = config_.algorithm_type;
  const bool heun = config_.solver_type == DPMSolverType::kHeun;

  // The part every order shares: the sample and D0 = m0 terms, and the noise term of the SDE types.
  torch::Tensor x;
  switch (algo) {
    case DPMAlgorithmType::kDPMSolverPlusPlus:
      x = sample * f(s / s_s0) - m0 * f(a * (e_mh - 1.0F));
      break;
    case DPMAlgorithmType::kDPMSolver:
      x = sample * f(a / a_s0) - m0 * f(s * (e_h - 1.0F));
      break;
    case DPMAlgorithmType::kSDEDPMSolverPlusPlus:
      x = sample * f(s / s_s0 * e_mh) + m0 * f(a * (1.0F - e_m2h));
      break;
    case DPMAlgorithmType::kSDEDPMSolver:
      x = sample * f(a / a_s0) - m0 * f(2.0F * (s * (e_h - 1.0F)));
      break;
  }
  if (order >= 2) {
    const float h_0 = tb.lambda[i] - tb.lambda[i - 1];
    const float r0 = h_0 / h;
    const auto& m1 = outputs[outputs.size() - 2];
    const auto d1_0 = (m0 - m1) * f(1.0F / r0);
    torch::Tensor d1 = d1_0;
    float c1 = 0;  // the D1 coefficient, with its sign
    if (order == 2 && !heun) {
      switch (algo) {
        case DPMAlgorithmType::kDPMSolverPlusPlus: c1 = -(0.5F * (a * (e_mh - 1.0F))); break;
        case DPMAlgorithmType::kDPMSolver: c1 = -(0.5F * (s * (e_h - 1.0F))); break;
        case DPMAlgorithmType::kSDEDPMSolverPlusPlus: c1 = 0.5F * (a * (1.0F - e_m2h)); break;
        case DPMAlgorithmType::kSDEDPMSolver: c1 = -(s * (e_h - 1.0F)); break;
      }
    } else {
      switch (algo) {
        case DPMAlgorithmType::kDPMSolverPlusPlus: c1 = a * ((e_mh - 1.0F) / h + 1.0F); break;
        case DPMAlgorithmType::kDPMSolver: c1 = -(s * ((e_h - 1.0F) / h - 1.0F)); break;
        case DPMAlgorithmType::kSDEDPMSolverPlusPlus:
          c1 = a * ((1.0F - e_m2h) / (-2.0F * h) + 1.0F);
          break;
        case DPMAlgorithmType::kSDEDPMSolver: c1 = -(2.0F * (s * ((e_h - 1.0F) / h - 1.0F))); break;
      }
    }
    torch::Tensor d2;
    float c2 = 0;
    if (order == 3) {
      const float h_1 = tb.lambda[i - 1] - tb.lambda[i - 2];
      const float r1 = h_1 / h;
      const auto& m2 = outputs[outputs.size() - 3];
      const auto d1_1 = (m1 - m2) * f(1.0F / r1);
      d1 = d1_0 + (d1_0 - d1_1) * f(r0 / (r0 + r1));
      d2 = (d1_0 - d1_1) * f(1.0F / (r0 + r1));
      switch (algo) {
        case DPMAlgorithmType::kDPMSolverPlusPlus: c2 = -(a * ((e_mh - 1.0F + h) / (h * h) - 0.5F)); break;
        case DPMAlgorithmType::kDPMSolver: c2 = -(s * ((e_h - 1.0F - h) / (h * h) - 0.5F)); break;
        case DPMAlgorithmType::kSDEDPMSolverPlusPlus:
          c2 = a * ((1.0F - e_m2h - 2.0F * h) / ((2.0F * h) * (2.0F * h)) - 0.5F);
          break;
        case DPMAlgorithmType::kSDEDPMSolver:
          throw SchedulerError(owner_ + ": sde-dpmsolver has no third-order update");
      }
    }
    // diffusers adds or subtracts the positive-signed product; the sign lives in c1 / c2 here,
    // and x - y * c == x + y * (-c) exactly.
    x = c1 < 0 ? x - d1 * f(-c1) : x + d1 * f(c1);
    if (order == 3) x = c2 < 0 ? x - d2 * f(-c2) : x + d2 * f(c2);
  }
  if (algo == DPMAlgorithmType::kSDEDPMSolverPlusPlus) {
    x = x + noise * f(s * tb.sqrt_1_minus_exp_neg_2h[i]);
  } else if (algo == DPMAlgorithmType::kSDEDPMSolver) {
    x = x + noise * f(s * tb.sqrt_exp_2h_minus_1[i]);
  }
  return x;
}

torch::Tensor DPMSolverCore::convert_model_output(const torch::Tensor& model_output, const torch::Tensor& sample,
                                                  size_t i) const {
  const float sigma = sigmas_[i];
  const struct {
    float alpha, sigma;
  } as{tables_.alpha[i], tables_.sigma[i]};
  const auto eps_output = [&] {
    return learned_variance(config_.variance_type) ? model_output.slice(1, 0, 3) : model_output;
  };
  if (plus_plus(config_.algorithm_type)) {
    torch::Tensor x0;
    switch (config_.prediction_type) {
      case PredictionType::kEpsilon:
        x0 = (sample - eps_output() * f(as.sigma)) / f(as.alpha);
        break;
      case PredictionType::kSample:
        x0 = model_output;
        break;
      case PredictionType::kVPrediction:
        x0 = sample * f(as.alpha) - model_output * f(as.sigma);
        break;
      case PredictionType::kFlowPrediction:
        x0 = sample - model_output * f(sigma);
        break;
    }
    if (config_.thresholding) {
      x0 = threshold_sample(x0, config_.dynamic_thresholding_ratio, config_.sample_max_value);
    }
    return x0;
  }
  torch::Tensor eps;
  switch (config_.prediction_type) {
    case PredictionType::kEpsilon:
      eps = eps_output();
      break;
    case PredictionType::kSample:
      eps = (sample - model_output * f(as.alpha)) / f(as.sigma);
      break;
    case PredictionType::kVPrediction:
      eps = model_output * f(as.alpha) + sample * f(as.sigma);
      break;
    case PredictionType::kFlowPrediction:
      throw SchedulerError(owner_ + ": flow_prediction needs a dpmsolver++ algorithm type");
  }
  if (config_.thresholding) {
    auto x0 = (sample - eps * f(as.sigma)) / f(as.alpha);
    x0 = threshold_sample(x0, config_.dynamic_thresholding_ratio, config_.sample_max_value);
    eps = (sample - x0 * f(as.alpha)) / f(as.sigma);
  }
  return eps;
}

void DPMSolverCore::build_tables() {
  Tables tb;
  const size_t k = sigmas_.size();
  if (config_.use_flow_sigmas) {
    for (float sg : sigmas_) {
      tb.alpha.push_back(1.0F - sg);
      tb.sigma.push_back(sg);
    }
  } else {
    std::vector<float> sq(k);
    for (size_t j = 0; j < k; ++j) sq[j] = sigmas_[j] * sigmas_[j] + 1.0F;  // sigma**2 + 1
    const auto root = torch_sqrt(sq);
    for (size_t j = 0; j < k; ++j) {
      tb.alpha.push_back(1.0F / root[j]);
      tb.sigma.push_back(sigmas_[j] * tb.alpha[j]);
    }
  }
  const auto log_alpha = torch_log(tb.alpha);
  const auto log_sigma = torch_log(tb.sigma);
  for (size_t j = 0; j < k; ++j) tb.lambda.push_back(log_alpha[j] - log_sigma[j]);
  std::vector<float> neg_h, neg_2h, two_h;
  for (size_t j = 0; j + 1 < k; ++j) {
    const float h = tb.lambda[j + 1] - tb.lambda[j];
    tb.h.push_back(h);
    neg_h.push_back(-h);
    neg_2h.push_back(-2.0F * h);
    two_h.push_back(2.0F * h);
  }
  tb.exp_neg_h = torch_exp(neg_h);
  tb.exp_h = torch_exp(tb.h);
  tb.exp_neg_2h = torch_exp(neg_2h);
  tb.exp_2h = torch_exp(two_h);
  std::vector<float> a, b;
  for (size_t j = 0; j < tb.h.size(); ++j) {
    a.push_back(1.0F - tb.exp_neg_2h[j]);
    b.push_back(tb.exp_2h[j] - 1.0F);
  }
  tb.sqrt_1_minus_exp_neg_2h = torch_sqrt(a);
  tb.sqrt_exp_2h_minus_1 = torch_sqrt(b);
  tables_ = std::move(tb);
}

void DPMSolverCore::set_schedule(std::vector<int64_t> timesteps, std::vector<float> sigmas, torch::Device device) {
  const int64_t n = static_cast<int64_t>(timesteps.size());
  sigmas_ = std::move(sigmas);
  build_tables();
  schedule_.set(std::move(timesteps), n, device);
  model_outputs_.assign(static_cast<size_t>(config_.solver_order), torch::Tensor());
  lower_order_nums_ = 0;
  step_index_ = -1;

  // Walk the schedule as a sampling loop would, on one-element stand-ins, and refuse what diffusers
  // cannot run: its scalars then give NaN or inf whatever the data.
  const auto& ts = schedule_.host_timesteps();
  if (schedule_.positions_of(ts.front()).size() > 1) {
    throw SchedulerError(owner_ + ": this schedule of " + std::to_string(n) + " steps starts with timestep " +
                         std::to_string(ts.front()) +
                         " twice; diffusers starts at its second copy and runs past the end of its sigmas. "
                         "Use another step count or timestep spacing");
  }
  const auto one = torch::ones({1});
  const std::vector<torch::Tensor> outputs{one * 3, one * 2, one};
  int lower_order_nums = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    const int order = order_for(i, lower_order_nums);
    const std::vector<torch::Tensor> latest(outputs.end() - order, outputs.end());
    const auto x = update(i, order, one, latest, one);
    if (!torch::isfinite(x).all().item<bool>()) {
      throw SchedulerError(owner_ + ": with " + std::to_string(n) + " steps, step " + std::to_string(i) +
                           " (timestep " + std::to_string(ts[i]) +
                           ") has a non-finite update (two equal sigmas or a negative variance); diffusers returns "
                           "NaN here. Use another step count or sigma spacing");
    }
    lower_order_nums = std::min(lower_order_nums + 1, static_cast<int>(config_.solver_order));
  }
}

SchedulerOutput DPMSolverCore::step(const torch::Tensor& model_output, int64_t timestep, const torch::Tensor& sample,
                                    const StepOptions& options) {
  schedule_.require_set();
  const auto& ts = schedule_.host_timesteps();
  if (step_index_ < 0) {
    // _init_step_index: the timestep's position, its second one when it appears twice.
    const auto positions = schedule_.positions_of(timestep);
    if (positions.empty()) schedule_.index_of(timestep);  // throws, naming the timestep
    step_index_ = static_cast<int64_t>(positions.size() > 1 ? positions[1] : positions[0]);
  } else if (step_index_ >= static_cast<int64_t>(ts.size())) {
    throw SchedulerError(owner_ + ": all " + std::to_string(ts.size()) +
                         " steps are done; call set_timesteps() to start again");
  } else if (ts[static_cast<size_t>(step_index_)] != timestep) {
    throw SchedulerError(owner_ + ": timestep " + std::to_string(timestep) + " is not the next in the schedule (" +
                         std::to_string(ts[static_cast<size_t>(step_index_)]) + " at step " +
                         std::to_string(step_index_) + ")");
  }
  check_noise_options(options, owner_);
  const auto i = static_cast<size_t>(step_index_);

  const auto x0 = convert_model_output(model_output, sample, i);
  for (size_t k = 0; k + 1 < model_outputs_.size(); ++k) model_outputs_[k] = model_outputs_[k + 1];
  model_outputs_.back() = x0;

  torch::Tensor noise;
  if (is_sde()) {
    const auto noise_dtype = rules_.upcast_to_float32 ? torch::kFloat32 : x0.scalar_type();
    noise = options.variance_noise ? (rules_.upcast_to_float32
                                          ? options.variance_noise->to(x0.device(), torch::kFloat32)
                                          : *options.variance_noise)
                                   : randn_tensor(x0.sizes(), options.generator, x0.device(), noise_dtype, owner_);
  }
  const int order = order_for(i, lower_order_nums_);
  auto prev = update(i, order, rules_.upcast_to_float32 ? sample.to(torch::kFloat32) : sample, model_outputs_, noise);
  if (lower_order_nums_ < config_.solver_order) ++lower_order_nums_;
  if (rules_.upcast_to_float32) prev = prev.to(x0.scalar_type());
  ++step_index_;
  return {prev, torch::Tensor()};
}

torch::Tensor DPMSolverCore::add_noise(const torch::Tensor& original_samples, const torch::Tensor& noise,
                                       const torch::Tensor& timesteps) const {
  // index_for_timestep per timestep: its position (the second when twice), the last when absent.
  const auto host = timesteps.to(torch::kCPU, torch::kInt64).contiguous().flatten();
  std::vector<int64_t> indices;
  for (int64_t k = 0; k < host.numel(); ++k) {
    const auto positions = schedule_.positions_of(host.data_ptr<int64_t>()[k]);
    const size_t last = schedule_.host_timesteps().size() - 1;
    indices.push_back(static_cast<int64_t>(positions.empty() ? last : positions.size() > 1 ? positions[1] : positions[0]));
  }
  const auto sig_all = sigmas().to(original_samples.device(), original_samples.scalar_type());
  std::vector<int64_t> view(static_cast<size_t>(original_samples.dim()), 1);
  view[0] = -1;
  const auto sigma =
      sig_all.index({torch::tensor(indices, torch::kInt64).to(original_samples.device())}).flatten().view(view);
  torch::Tensor alpha_t;
  torch::Tensor sigma_t;
  if (config_.use_flow_sigmas) {
    alpha_t = torch::rsub(sigma, 1);
    sigma_t = sigma;
  } else {
    alpha_t = torch::reciprocal(torch::pow(torch::pow(sigma, 2) + 1, 0.5));  // Python's 1 / x
    sigma_t = sigma * alpha_t;
  }
  return alpha_t * original_samples + sigma_t * noise;
}

}  // namespace ddim::detail
