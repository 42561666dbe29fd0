#include "schedulers/cores/dpm_solver_core.h"

#include <cmath>
#include <utility>

#include "ddim/errors.h"
#include "ddim/schedulers/noise_schedule.h"
#include "ddim/warnings.h"
#include "schedulers/foundation/numpy_compat.h"
#include "schedulers/foundation/scheduler_math.h"

namespace ddim::detail {
namespace {

bool learned_variance(const std::optional<VarianceType>& v) {
  return v && (*v == VarianceType::kLearned || *v == VarianceType::kLearnedRange);
}

bool plus_plus(DPMAlgorithmType a) {
  return a == DPMAlgorithmType::kDPMSolverPlusPlus || a == DPMAlgorithmType::kSDEDPMSolverPlusPlus;
}

}  // namespace

void check_dpm_config(const DPMSolverBaseConfig& c, const std::string& owner) {
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
    config_fail(owner, "variance_type",
                "\"" + to_string(*c.variance_type) + "\" with prediction_type \"" + to_string(c.prediction_type) + "\"",
                "epsilon prediction (a learned variance splits an epsilon output)");
  }
  if (c.thresholding && !(c.dynamic_thresholding_ratio >= 0 && c.dynamic_thresholding_ratio <= 1)) {
    config_fail(owner, "dynamic_thresholding_ratio", format_double(c.dynamic_thresholding_ratio),
                "a number in [0, 1] (0: the minimum of |x0|)");
  }
  if (c.steps_offset < 0 || c.steps_offset > c.num_train_timesteps) {
    config_fail(owner, "steps_offset", std::to_string(c.steps_offset), "an integer in [0, num_train_timesteps]");
  }
  if (c.use_flow_sigmas && !(c.flow_shift > 0)) {
    config_fail(owner, "flow_shift", format_double(c.flow_shift), "a number > 0");
  }
  // sde-dpmsolver with solver_order 3, and any SDE inversion, are not refused here: diffusers runs
  // them as long as no step needs what it lacks (a third-order SDE update, the square root of a
  // negative number), so they are refused at that step (set_schedule finds it).
}

DPMSolverCore::DPMSolverCore(std::string owner, const DPMSolverBaseConfig& config, Rules rules,
                             torch::Tensor alphas_cumprod, bool descending_initial_timesteps)
    : owner_(std::move(owner)), config_(config), rules_(rules) {
  // The tables of DPMSolverMultistepScheduler.__init__, in float32 torch ops.
  const auto& ac = alphas_cumprod;
  const auto train = torch::pow(torch::rsub(ac, 1) / ac, 0.5).contiguous();
  train_sigmas_.assign(train.data_ptr<float>(), train.data_ptr<float>() + train.numel());
  // np.log(sigmas) of a float32 array: numpy's own rounding, which _sigma_to_t's comparisons see.
  for (float s : train_sigmas_) log_sigmas_.push_back(numpy::log_float32(s));
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

torch::Tensor DPMSolverCore::sigmas() const { return torch::tensor(sigmas_, torch::kFloat32); }

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

DPMUpdateScalars DPMSolverCore::update_scalars(size_t i, int order) const {
  if (i + 1 >= sigmas_.size()) {
    throw SchedulerError(owner_ + ": step " + std::to_string(i) + " is past the end of the sigma table (" +
                         std::to_string(sigmas_.size()) + " sigmas)");
  }
  // multistep_dpm_solver_{first,second,third}_order_update's scalars, float32 as in diffusers. In
  // its names: s0 is the current step (sigma_s, alpha_s), t the next (sigma_t, alpha_t), m0 the
  // newest converted model output, m1 and m2 the two before it, and h = lambda_t - lambda_s0.
  const auto& tb = tables_;
  const float h = tb.h[i];
  const float a = tb.alpha[i + 1];
  const float s = tb.sigma[i + 1];
  const float a_s0 = tb.alpha[i];
  const float s_s0 = tb.sigma[i];
  const float e_mh = tb.exp_neg_h[i];
  const float e_h = tb.exp_h[i];
  const float e_m2h = tb.exp_neg_2h[i];
  const auto algo = config_.algorithm_type;
  const bool heun = config_.solver_type == DPMSolverType::kHeun;

  DPMUpdateScalars u;
  u.order = order;
  switch (algo) {
    case DPMAlgorithmType::kDPMSolverPlusPlus:
      // x_t = (sigma_t / sigma_s) * sample - (alpha_t * (exp(-h) - 1.0)) * m0
      u.sample_coef = s / s_s0;
      u.m0_coef = -(a * (e_mh - 1.0F));
      break;
    case DPMAlgorithmType::kDPMSolver:
      // x_t = (alpha_t / alpha_s) * sample - (sigma_t * (exp(h) - 1.0)) * m0
      u.sample_coef = a / a_s0;
      u.m0_coef = -(s * (e_h - 1.0F));
      break;
    case DPMAlgorithmType::kSDEDPMSolverPlusPlus:
      // x_t = (sigma_t / sigma_s * exp(-h)) * sample + (alpha_t * (1 - exp(-2.0 * h))) * m0
      //       + sigma_t * sqrt(1.0 - exp(-2 * h)) * noise
      u.sample_coef = s / s_s0 * e_mh;
      u.m0_coef = a * (1.0F - e_m2h);
      u.noise = true;
      u.noise_coef = s * tb.sqrt_1_minus_exp_neg_2h[i];
      break;
    case DPMAlgorithmType::kSDEDPMSolver:
      // x_t = (alpha_t / alpha_s) * sample - 2.0 * (sigma_t * (exp(h) - 1.0)) * m0
      //       + sigma_t * sqrt(exp(2 * h) - 1.0) * noise
      u.sample_coef = a / a_s0;
      u.m0_coef = -(2.0F * (s * (e_h - 1.0F)));
      u.noise = true;
      u.noise_coef = s * tb.sqrt_exp_2h_minus_1[i];
      break;
  }
  if (order == 1) return u;

  // Second order: r0 = h_0 / h with h_0 = lambda_s0 - lambda_s1; D1 = (1.0 / r0) * (m0 - m1).
  const float r0 = (tb.lambda[i] - tb.lambda[i - 1]) / h;
  u.inv_r0 = 1.0F / r0;
  if (order == 2 && !heun) {
    // solver_type "midpoint": the D1 term of the second-order update.
    switch (algo) {
      case DPMAlgorithmType::kDPMSolverPlusPlus:
        // - 0.5 * (alpha_t * (exp(-h) - 1.0)) * D1
        u.d1_coef = -(0.5F * (a * (e_mh - 1.0F)));
        break;
      case DPMAlgorithmType::kDPMSolver:
        // - 0.5 * (sigma_t * (exp(h) - 1.0)) * D1
        u.d1_coef = -(0.5F * (s * (e_h - 1.0F)));
        break;
      case DPMAlgorithmType::kSDEDPMSolverPlusPlus:
        // + 0.5 * (alpha_t * (1 - exp(-2.0 * h))) * D1
        u.d1_coef = 0.5F * (a * (1.0F - e_m2h));
        break;
      case DPMAlgorithmType::kSDEDPMSolver:
        // - (sigma_t * (exp(h) - 1.0)) * D1
        u.d1_coef = -(s * (e_h - 1.0F));
        break;
    }
  } else {
    // solver_type "heun", and the third-order update's D1 term (which diffusers writes the same).
    switch (algo) {
      case DPMAlgorithmType::kDPMSolverPlusPlus:
        // + (alpha_t * ((exp(-h) - 1.0) / h + 1.0)) * D1
        u.d1_coef = a * ((e_mh - 1.0F) / h + 1.0F);
        break;
      case DPMAlgorithmType::kDPMSolver:
        // - (sigma_t * ((exp(h) - 1.0) / h - 1.0)) * D1
        u.d1_coef = -(s * ((e_h - 1.0F) / h - 1.0F));
        break;
      case DPMAlgorithmType::kSDEDPMSolverPlusPlus:
        // + (alpha_t * ((1.0 - exp(-2.0 * h)) / (-2.0 * h) + 1.0)) * D1
        u.d1_coef = a * ((1.0F - e_m2h) / (-2.0F * h) + 1.0F);
        break;
      case DPMAlgorithmType::kSDEDPMSolver:
        // - 2.0 * (sigma_t * ((exp(h) - 1.0) / h - 1.0)) * D1
        u.d1_coef = -(2.0F * (s * ((e_h - 1.0F) / h - 1.0F)));
        break;
    }
  }
  if (order == 2) return u;

  // Third order: r1 = h_1 / h with h_1 = lambda_s1 - lambda_s2; D1_0 = (1.0 / r0) * (m0 - m1),
  // D1_1 = (1.0 / r1) * (m1 - m2), D1 = D1_0 + (r0 / (r0 + r1)) * (D1_0 - D1_1),
  // D2 = (1.0 / (r0 + r1)) * (D1_0 - D1_1).
  const float r1 = (tb.lambda[i - 1] - tb.lambda[i - 2]) / h;
  u.inv_r1 = 1.0F / r1;
  u.k = r0 / (r0 + r1);
  u.q = 1.0F / (r0 + r1);
  switch (algo) {
    case DPMAlgorithmType::kDPMSolverPlusPlus:
      // - (alpha_t * ((exp(-h) - 1.0 + h) / h**2 - 0.5)) * D2
      u.d2_coef = -(a * ((e_mh - 1.0F + h) / (h * h) - 0.5F));
      break;
    case DPMAlgorithmType::kDPMSolver:
      // - (sigma_t * ((exp(h) - 1.0 - h) / h**2 - 0.5)) * D2
      u.d2_coef = -(s * ((e_h - 1.0F - h) / (h * h) - 0.5F));
      break;
    case DPMAlgorithmType::kSDEDPMSolverPlusPlus:
      // + (alpha_t * ((1.0 - exp(-2.0 * h) - 2.0 * h) / (2.0 * h)**2 - 0.5)) * D2
      u.d2_coef = a * ((1.0F - e_m2h - 2.0F * h) / ((2.0F * h) * (2.0F * h)) - 0.5F);
      break;
    case DPMAlgorithmType::kSDEDPMSolver:
      throw SchedulerError(owner_ + ": step " + std::to_string(i) +
                           " needs a third-order update, which diffusers' sde-dpmsolver lacks; use solver_order 2");
  }
  if (rules_.inverse && u.noise) {
    throw SchedulerError(owner_ + ": step " + std::to_string(i) +
                         " needs a third-order SDE update, which diffusers' inverse scheduler lacks (it fails there); "
                         "use solver_order 2");
  }
  return u;
}

DPMConvertScalars DPMSolverCore::convert_scalars(size_t i) const {
  DPMConvertScalars c;
  c.data_prediction = plus_plus(config_.algorithm_type);
  c.prediction_type = config_.prediction_type;
  c.alpha = tables_.alpha[i];
  c.sigma = tables_.sigma[i];
  c.raw_sigma = sigmas_[i];
  return c;
}

torch::Tensor DPMSolverCore::convert_model_output(const torch::Tensor& model_output, const torch::Tensor& sample,
                                                  size_t i) const {
  // convert_model_output, on tensors: the learned-variance split and thresholding live here.
  const auto c = convert_scalars(i);
  const bool epsilon_output = config_.prediction_type == PredictionType::kEpsilon;
  const auto output =
      learned_variance(config_.variance_type) && epsilon_output ? model_output.slice(1, 0, 3) : model_output;
  torch::Tensor converted;
  with_bool(c.data_prediction, [&](auto data_prediction) {
    with_prediction(c.prediction_type, [&](auto prediction) {
      converted = dpm_convert<decltype(data_prediction)::value, decltype(prediction)::value>(sample, output, c);
    });
  });
  if (!config_.thresholding) return converted;
  if (c.data_prediction)
    return threshold_sample(converted, config_.dynamic_thresholding_ratio, config_.sample_max_value);
  auto x0 = (sample - converted * c.sigma) / c.alpha;
  x0 = threshold_sample(x0, config_.dynamic_thresholding_ratio, config_.sample_max_value);
  return (sample - x0 * c.alpha) / c.sigma;
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

std::optional<DPMSolverCore::SpacedSigmas> DPMSolverCore::spaced_sigmas(int64_t n, bool from_largest, bool round_karras,
                                                                        bool use_lu_lambdas) const {
  const double first = from_largest ? train_sigmas_.back() : train_sigmas_.front();
  const double last = from_largest ? train_sigmas_.front() : train_sigmas_.back();
  SpacedSigmas out;
  bool round = false;
  if (config_.use_karras_sigmas) {
    out.sigmas = karras_sigmas(first, last, n);
    round = round_karras;
  } else if (use_lu_lambdas) {
    const double log_first = from_largest ? log_sigmas_.back() : log_sigmas_.front();
    const double log_last = from_largest ? log_sigmas_.front() : log_sigmas_.back();
    out.sigmas = lu_lambdas(log_first, log_last, n);
    for (double& s : out.sigmas) s = std::exp(s);
    round = round_karras;
  } else if (config_.use_exponential_sigmas) {
    out.sigmas = exponential_sigmas(first, last, n);
  } else if (config_.use_beta_sigmas) {
    out.sigmas = beta_sigmas(first, last, n);
  } else if (config_.use_flow_sigmas) {
    out.sigmas = flow_sigmas(config_.num_train_timesteps, n, config_.flow_shift);
    for (double s : out.sigmas) out.timesteps.push_back(s * static_cast<double>(config_.num_train_timesteps));
    return out;
  } else {
    return std::nullopt;
  }
  for (double s : out.sigmas) {
    const double t = sigma_to_t(s, log_sigmas_);
    out.timesteps.push_back(round ? numpy::round(t) : t);
  }
  return out;
}

void DPMSolverCore::set_schedule(std::vector<int64_t> timesteps, std::vector<float> sigmas, torch::Device device) {
  const int64_t n = static_cast<int64_t>(timesteps.size());
  sigmas_ = std::move(sigmas);
  build_tables();
  schedule_.set(std::move(timesteps), n, device, /*within_table=*/false);
  model_outputs_.assign(static_cast<size_t>(config_.solver_order), torch::Tensor());
  lower_order_nums_ = 0;
  step_index_ = -1;

  // Walk the schedule as a sampling loop would and find what diffusers cannot run: its scalars
  // then give NaN or inf whatever the data. diffusers builds such a schedule and fails at that
  // step; so does this core (warning now, refusing in step()).
  nonfinite_step_ = -1;
  const auto& ts = schedule_.host_timesteps();
  // A sampling loop starts where step() does: at the first timestep's second copy when it has two.
  const auto first_positions = schedule_.positions_of(ts.front());
  const size_t start = first_positions.size() > 1 ? first_positions[1] : 0;
  if (start > 0) {
    warn(owner_ + ": this schedule of " + std::to_string(n) + " steps starts with timestep " +
         std::to_string(ts.front()) +
         " twice; diffusers starts at its second copy and runs past the end of its sigmas at the last step, "
         "which will be refused. Use another step count or timestep spacing");
  }
  int lower_order_nums = 0;
  for (size_t i = start; i < ts.size() && i + 1 < sigmas_.size(); ++i) {
    DPMUpdateScalars u;
    try {
      u = update_scalars(i, order_for(i, lower_order_nums));
    } catch (const SchedulerError& e) {
      nonfinite_step_ = static_cast<int64_t>(i);
      failure_ = e.what();
      warn(failure_ + "; that step will be refused");
      break;
    }
    // One-element stand-ins: sample 1, newest outputs 3, 2, 1, noise 1.
    float x = 0;
    with_order(u.order, [&](auto order) {
      x = u.noise ? dpm_update<decltype(order)::value, true>(1.0F, 3.0F, 2.0F, 1.0F, 1.0F, u)
                  : dpm_update<decltype(order)::value, false>(1.0F, 3.0F, 2.0F, 1.0F, 1.0F, u);
    });
    if (!std::isfinite(x)) {
      nonfinite_step_ = static_cast<int64_t>(i);
      failure_ = owner_ + ": with " + std::to_string(ts.size()) + " steps, step " + std::to_string(i) + " (timestep " +
                 std::to_string(ts[i]) +
                 ") has a non-finite update (two equal sigmas or a negative variance); diffusers returns NaN there. "
                 "Use another step count or sigma spacing";
      warn(failure_ + "; that step will be refused");
      break;
    }
    lower_order_nums = std::min(lower_order_nums + 1, static_cast<int>(config_.solver_order));
  }
}

std::vector<int64_t> DPMSolverCore::integer_timesteps(const std::vector<double>& timesteps) const {
  std::vector<int64_t> out;
  for (double t : timesteps) {
    if (!std::isfinite(t)) {
      throw SchedulerError(owner_ + ": this schedule has a non-finite timestep (" + format_double(t) +
                           "; diffusers casts it to an arbitrary integer). Use another step count or sigma spacing");
    }
    out.push_back(static_cast<int64_t>(t));  // torch .to(int64) truncates
  }
  return out;
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
  if (step_index_ == nonfinite_step_) throw SchedulerError(failure_);

  torch::Tensor noise;
  if (is_sde()) {
    const auto dtype = rules_.upcast_to_float32 ? torch::kFloat32 : model_output.scalar_type();
    noise = options.variance_noise
                ? (rules_.upcast_to_float32 ? options.variance_noise->to(model_output.device(), torch::kFloat32)
                                            : *options.variance_noise)
                : randn_tensor(sample.sizes(), options.generator, model_output.device(), dtype, owner_);
  }
  const auto u = update_scalars(i, order_for(i, lower_order_nums_));
  // The earlier converted outputs this update uses (before this step's joins them).
  const size_t n_out = model_outputs_.size();
  const torch::Tensor none;
  const torch::Tensor& used_m1 = u.order >= 2 ? model_outputs_[n_out - 1] : none;
  const torch::Tensor& used_m2 = u.order >= 3 ? model_outputs_[n_out - 2] : none;

  torch::Tensor x0;
  torch::Tensor prev;
  const bool fused = !config_.thresholding && !learned_variance(config_.variance_type) &&
                     fusable(sample, {&model_output, &used_m1, &used_m2, &noise});
  if (fused) {
    // One pass: x0 = convert(sample, output), prev = update(sample, x0, m1, m2, noise).
    x0 = torch::empty_like(sample);
    prev = torch::empty_like(sample);
    const auto c = convert_scalars(i);
    const float* s = sample.data_ptr<float>();
    const float* mo = model_output.data_ptr<float>();
    const float* p1 = data_or_null(used_m1);
    const float* p2 = data_or_null(used_m2);
    const float* pn = data_or_null(noise);
    float* px0 = x0.data_ptr<float>();
    float* pout = prev.data_ptr<float>();
    with_bool(c.data_prediction, [&](auto data_prediction) {
      with_prediction(c.prediction_type, [&](auto prediction) {
        with_order(u.order, [&](auto order) {
          with_bool(u.noise, [&](auto has_noise) {
            constexpr bool kData = decltype(data_prediction)::value;
            constexpr PredictionType P = decltype(prediction)::value;
            constexpr int kOrder = decltype(order)::value;
            constexpr bool kNoise = decltype(has_noise)::value;
            for_each_chunk(sample.numel(), [&](int64_t begin, int64_t end) {
              // Local copies: the stores below cannot alias them, so the loop vectorizes.
              const float* __restrict ls = s;
              const float* __restrict lmo = mo;
              const float* __restrict l1 = p1;
              const float* __restrict l2 = p2;
              const float* __restrict ln = pn;
              float* __restrict lx0 = px0;
              float* __restrict lout = pout;
              const DPMConvertScalars lc = c;
              const DPMUpdateScalars lu = u;
              for (int64_t k = begin; k < end; ++k) {
                const float m0 = dpm_convert<kData, P>(ls[k], lmo[k], lc);
                lx0[k] = m0;
                float m1v = 0.0F;
                float m2v = 0.0F;
                float nv = 0.0F;
                if constexpr (kOrder >= 2) m1v = l1[k];
                if constexpr (kOrder >= 3) m2v = l2[k];
                if constexpr (kNoise) nv = ln[k];
                lout[k] = dpm_update<kOrder, kNoise>(ls[k], m0, m1v, m2v, nv, lu);
              }
            });
          });
        });
      });
    });
  } else {
    x0 = convert_model_output(model_output, sample, i);
    const auto work = rules_.upcast_to_float32 ? sample.to(torch::kFloat32) : sample;
    with_order(u.order, [&](auto order) {
      with_bool(u.noise, [&](auto has_noise) {
        prev = dpm_update<decltype(order)::value, decltype(has_noise)::value>(work, x0, used_m1, used_m2, noise, u);
      });
    });
    if (rules_.upcast_to_float32) prev = prev.to(x0.scalar_type());
  }
  for (size_t k = 0; k + 1 < model_outputs_.size(); ++k) model_outputs_[k] = model_outputs_[k + 1];
  model_outputs_.back() = x0;
  if (lower_order_nums_ < config_.solver_order) ++lower_order_nums_;
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
    indices.push_back(static_cast<int64_t>(positions.empty()      ? last
                                           : positions.size() > 1 ? positions[1]
                                                                  : positions[0]));
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
