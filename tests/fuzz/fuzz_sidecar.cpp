// libFuzzer harness: JSON sidecar bytes through ddim::GenerationJob::from_sidecar (ddim-generate
// --from-sidecar) and ddim::InversionJob::from_sidecar, then the checks of each job that read no
// file: validate(), the --set overrides and, for inversion, the method. run() is never called, so
// nothing a sidecar names (model folders, latents, embeddings, images, outputs) is read, written or
// run; the harness also checks that its scratch folder holds only the sidecar afterwards.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "ddim/runs/generation_job.h"
#include "ddim/runs/inversion_job.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto& dir = ddim::fuzz::scratch_dir("sidecar");
  const auto path = dir / "img_0.png.json";
  ddim::fuzz::write_bytes(path, data, size);
  ddim::fuzz::expect_only_ddim_errors([&] {
    const auto job = ddim::GenerationJob::from_sidecar(path);
    if (!job.replay || !job.seed || !job.steps || !job.num_images || !job.batch_size) {
      ddim::fuzz::finding("GenerationJob::from_sidecar left the replay, seed, steps, -n or batch size unset");
    }
    if (job.replay->index < 0 || job.replay->index >= *job.num_images) {
      ddim::fuzz::finding("GenerationJob::from_sidecar accepted image " + std::to_string(job.replay->index) + " of " +
                          std::to_string(*job.num_images));
    }
    job.model.overrides();
    job.validate();
  });
  ddim::fuzz::expect_only_ddim_errors([&] {
    const auto job = ddim::InversionJob::from_sidecar(path);
    job.model.overrides();
    job.resolved_method();
    job.validate();
  });
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path() != path) ddim::fuzz::finding("reading a sidecar wrote " + entry.path().string());
  }
  return 0;
}
