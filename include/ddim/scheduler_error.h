#pragma once

#include <stdexcept>
#include <string>

namespace ddim {

// A scheduler used out of order or with a bad argument: step() before set_timesteps(), a step
// count out of range, a timestep that is not in the schedule, conflicting noise arguments, or a
// step count for which diffusers itself would return NaN.
class SchedulerError : public std::runtime_error {
 public:
  explicit SchedulerError(const std::string& what) : std::runtime_error(what) {}
};

}  // namespace ddim
