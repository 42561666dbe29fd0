#pragma once

// The per-element arithmetic of the DDIM and DPM-Solver steps, written once for two value types:
// torch::Tensor (any device and dtype: one ATen op per operation) and float (the fused CPU loop
// over float32 tensors). Each operation is the one diffusers performs, in its order, with its
// float32 scalars, so both types round exactly where diffusers does: the fused loop gives the same
// bits as the tensor ops, in one pass over memory.
//
// Signs: diffusers writes `x - (c * y)`; here the coefficient carries the sign and terms are added.
// Both round identically, since c * y and (-c) * y differ only in sign.

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <initializer_list>
#include <type_traits>

#include "ddim/schedulers/config_enums.h"

namespace ddim::detail {

// True when every defined tensor is a contiguous float32 CPU tensor shaped like `like`: then the
// step runs as one fused loop over the elements.
inline bool fusable(const torch::Tensor& like, std::initializer_list<const torch::Tensor*> others) {
  const auto ok = [&](const torch::Tensor& t) {
    return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous() && t.sizes() == like.sizes();
  };
  if (!ok(like)) return false;
  for (const auto* t : others) {
    if (t->defined() && !ok(*t)) return false;
  }
  return true;
}

// fn(begin, end) over [0, n) in parallel chunks; fn runs a plain loop the compiler vectorizes.
template <class F>
void for_each_chunk(int64_t n, const F& fn) {
  at::parallel_for(0, n, int64_t{1} << 16, fn);
}

// The data of a float32 tensor, or nullptr when undefined.
inline const float* data_or_null(const torch::Tensor& t) { return t.defined() ? t.data_ptr<float>() : nullptr; }

// As ATen's clamp (a NaN x stays NaN: both comparisons are false).
inline float clamp_value(float x, float lo, float hi) { return std::min(std::max(x, lo), hi); }
inline torch::Tensor clamp_value(const torch::Tensor& x, float lo, float hi) { return x.clamp(lo, hi); }

// ---- DDIM (DDIMScheduler.step / DDIMInverseScheduler.step) ------------------------------------

struct DDIMScalars {
  PredictionType prediction_type = PredictionType::kEpsilon;
  float sqrt_alpha = 1;       // alpha_prod_t ** 0.5
  float sqrt_beta = 0;        // beta_prod_t ** 0.5
  float sqrt_alpha_prev = 1;  // alpha_prod_t_prev ** 0.5
  float direction = 0;        // (1 - alpha_prod_t_prev - std_dev_t ** 2) ** 0.5
  bool use_clipped_model_output = false;
};

template <class T>
struct X0Eps {
  T x0;
  T eps;
};

template <PredictionType P, class T>
X0Eps<T> ddim_predict(const T& sample, const T& model_output, const DDIMScalars& s) {
  if constexpr (P == PredictionType::kSample) {
    return {model_output, (sample - model_output * s.sqrt_alpha) / s.sqrt_beta};
  } else if constexpr (P == PredictionType::kVPrediction) {
    return {sample * s.sqrt_alpha - model_output * s.sqrt_beta, model_output * s.sqrt_alpha + sample * s.sqrt_beta};
  } else {  // epsilon (flow_prediction is refused when a DDIM config is loaded)
    return {(sample - model_output * s.sqrt_beta) / s.sqrt_alpha, model_output};
  }
}

// prev_sample from the (clipped) x0 prediction, before any noise.
template <bool UseClippedModelOutput, class T>
T ddim_prev(const T& sample, const T& x0, const T& eps, const DDIMScalars& s) {
  if constexpr (UseClippedModelOutput) {
    const T corrected = (sample - x0 * s.sqrt_alpha) / s.sqrt_beta;
    return x0 * s.sqrt_alpha_prev + corrected * s.direction;
  } else {
    return x0 * s.sqrt_alpha_prev + eps * s.direction;
  }
}

// ---- DPM-Solver (convert_model_output and the multistep updates) ------------------------------

struct DPMConvertScalars {
  bool data_prediction = true;  // dpmsolver++ family: the model output becomes x0, else epsilon
  PredictionType prediction_type = PredictionType::kEpsilon;
  float alpha = 1;
  float sigma = 0;      // sigma_t of _sigma_to_alpha_sigma_t
  float raw_sigma = 0;  // self.sigmas[step_index] (flow prediction)
};

template <bool DataPrediction, PredictionType P, class T>
T dpm_convert(const T& sample, const T& model_output, const DPMConvertScalars& c) {
  if constexpr (DataPrediction) {
    if constexpr (P == PredictionType::kSample) {
      return model_output;
    } else if constexpr (P == PredictionType::kVPrediction) {
      return sample * c.alpha - model_output * c.sigma;
    } else if constexpr (P == PredictionType::kFlowPrediction) {
      return sample - model_output * c.raw_sigma;
    } else {
      return (sample - model_output * c.sigma) / c.alpha;
    }
  } else {
    if constexpr (P == PredictionType::kSample) {
      return (sample - model_output * c.alpha) / c.sigma;
    } else if constexpr (P == PredictionType::kVPrediction) {
      return model_output * c.alpha + sample * c.sigma;
    } else {  // epsilon (flow_prediction needs a data-prediction algorithm; refused at load)
      return model_output;
    }
  }
}

struct DPMUpdateScalars {
  int order = 1;
  float sample_coef = 0;
  float m0_coef = 0;  // signed
  float inv_r0 = 0;   // 1 / r0
  float inv_r1 = 0;   // 1 / r1
  float k = 0;        // r0 / (r0 + r1)
  float q = 0;        // 1 / (r0 + r1)
  float d1_coef = 0;  // signed
  float d2_coef = 0;  // signed
  bool noise = false;
  float noise_coef = 0;
};

// multistep_dpm_solver_{first,second,third}_order_update; m0 is the newest converted output.
template <int Order, bool Noise, class T>
T dpm_update(const T& sample, const T& m0, const T& m1, const T& m2, const T& noise, const DPMUpdateScalars& u) {
  T x = sample * u.sample_coef + m0 * u.m0_coef;
  if constexpr (Order == 2) {
    const T d1 = (m0 - m1) * u.inv_r0;
    x = x + d1 * u.d1_coef;
  } else if constexpr (Order == 3) {
    const T d1_0 = (m0 - m1) * u.inv_r0;
    const T d1_1 = (m1 - m2) * u.inv_r1;
    const T d1 = d1_0 + (d1_0 - d1_1) * u.k;
    const T d2 = (d1_0 - d1_1) * u.q;
    x = x + d1 * u.d1_coef;
    x = x + d2 * u.d2_coef;
  }
  if constexpr (Noise) x = x + noise * u.noise_coef;
  return x;
}

// Calls f(std::integral_constant<...>) for the runtime value, so that formulas are compiled once
// per case and the fused loops have no branches.
template <class F>
void with_bool(bool value, const F& f) {
  if (value) {
    f(std::true_type{});
  } else {
    f(std::false_type{});
  }
}

template <class F>
void with_prediction(PredictionType p, const F& f) {
  switch (p) {
    case PredictionType::kEpsilon:
      f(std::integral_constant<PredictionType, PredictionType::kEpsilon>{});
      break;
    case PredictionType::kSample:
      f(std::integral_constant<PredictionType, PredictionType::kSample>{});
      break;
    case PredictionType::kVPrediction:
      f(std::integral_constant<PredictionType, PredictionType::kVPrediction>{});
      break;
    case PredictionType::kFlowPrediction:
      f(std::integral_constant<PredictionType, PredictionType::kFlowPrediction>{});
      break;
  }
}

template <class F>
void with_order(int order, const F& f) {
  if (order == 3) {
    f(std::integral_constant<int, 3>{});
  } else if (order == 2) {
    f(std::integral_constant<int, 2>{});
  } else {
    f(std::integral_constant<int, 1>{});
  }
}

}  // namespace ddim::detail
