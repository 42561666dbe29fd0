#include "ddim/schedulers/scheduler.h"

#include "ddim/errors.h"
#include "ddim/io/files.h"

namespace ddim {

torch::Tensor Scheduler::scale_model_input(const torch::Tensor& sample, int64_t /*timestep*/) const { return sample; }

int Scheduler::order() const { return 1; }

double Scheduler::init_noise_sigma() const { return 1.0; }

void Scheduler::save_pretrained(const std::filesystem::path& dir) const {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IOError("cannot create folder " + dir.string() + ": " + ec.message());
  write_file_atomically(dir / "scheduler_config.json", config_json());
}

}  // namespace ddim
