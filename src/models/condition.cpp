#include "ddim/models/condition.h"

#include <vector>

#include "ddim/errors.h"

namespace ddim {
namespace {

int64_t rows(const torch::Tensor& tensor) { return tensor.dim() ? tensor.size(0) : 1; }

torch::Tensor repeated(const torch::Tensor& tensor, int64_t batch, const std::string& what) {
  if (!tensor.defined()) return tensor;
  // A 0-dim tensor (one class label as a scalar) is one row.
  const auto rows_first = tensor.dim() ? tensor : tensor.unsqueeze(0);
  if (rows_first.size(0) == batch) return rows_first;
  if (rows_first.size(0) != 1) {
    throw UsageError(what + " holds " + std::to_string(rows_first.size(0)) + " rows for a batch of " +
                     std::to_string(batch) + " (give 1, for every image, or " + std::to_string(batch) + ")");
  }
  std::vector<int64_t> times(static_cast<size_t>(rows_first.dim()), 1);
  times[0] = batch;
  return rows_first.repeat(times);
}

}  // namespace

int64_t Condition::batch_size() const {
  if (class_labels.defined() && encoder_hidden_states.defined() && rows(class_labels) != rows(encoder_hidden_states)) {
    throw UsageError("condition: class_labels hold " + std::to_string(rows(class_labels)) +
                     " rows and encoder_hidden_states " + std::to_string(rows(encoder_hidden_states)));
  }
  if (class_labels.defined()) return rows(class_labels);
  return encoder_hidden_states.defined() ? rows(encoder_hidden_states) : 0;
}

Condition Condition::slice(int64_t start, int64_t end) const {
  Condition part;
  if (class_labels.defined()) part.class_labels = class_labels.slice(0, start, end);
  if (encoder_hidden_states.defined()) part.encoder_hidden_states = encoder_hidden_states.slice(0, start, end);
  return part;
}

Condition Condition::expanded(int64_t batch, const std::string& what) const {
  return {repeated(class_labels, batch, what + " class_labels"),
          repeated(encoder_hidden_states, batch, what + " encoder_hidden_states")};
}

Condition Condition::to(torch::Device device, torch::ScalarType dtype) const {
  Condition moved;
  if (class_labels.defined()) moved.class_labels = class_labels.to(device);
  if (encoder_hidden_states.defined()) moved.encoder_hidden_states = encoder_hidden_states.to(device, dtype);
  return moved;
}

Condition Condition::cat(const Condition& first, const Condition& second) {
  const auto join = [](const torch::Tensor& a, const torch::Tensor& b, const char* name) {
    if (a.defined() != b.defined()) {
      throw UsageError(std::string("condition: ") + name + " is given for one half of the batch only");
    }
    return a.defined() ? torch::cat({a, b}) : torch::Tensor();
  };
  return {join(first.class_labels, second.class_labels, "class_labels"),
          join(first.encoder_hidden_states, second.encoder_hidden_states, "encoder_hidden_states")};
}

}  // namespace ddim
