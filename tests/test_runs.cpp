// GenerationJob and InversionJob: every option through the sidecar and back, replay byte for byte
// (of the job's own sidecars, of ddim-generate's, and of sidecars written before the schema had a
// version), and the refusals that run before any work.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ddim/ddim.h"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kModel = fs::path(DDIM_TINY_FIXTURE_DIR) / "model";

std::string bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A fresh folder per test, removed afterwards.
class Runs : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ddim_test_runs_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path at(const std::string& name) const { return dir_ / name; }

  // A small run of the fixture's model with every generation option away from its default.
  ddim::GenerationJob sample_job() const {
    ddim::GenerationJob job;
    job.model.folder = kModel;
    job.model.device = "cpu";
    job.model.set = {"timestep_spacing=trailing", "clip_sample=false"};
    job.steps = 3;
    job.eta = 0.5;
    job.seed = 11;
    job.num_images = 3;
    job.batch_size = 2;
    job.output = at("img_%d.png").string();
    job.grid = at("grid.png").string();
    job.grid_gap = 1;
    return job;
  }

  fs::path dir_;
};

// The overrides as the scheduler sees them: key and JSON value.
std::vector<std::pair<std::string, std::string>> overrides_of(const ddim::RunModel& model) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& o : model.overrides()) out.emplace_back(o.key, o.value_json);
  std::sort(out.begin(), out.end());
  return out;
}

TEST_F(Runs, GenerationOptionsRoundTripThroughTheSidecar) {
  const auto job = sample_job();
  const auto result = job.run();
  EXPECT_EQ(result.batches_run, 2);
  const auto side = json::parse(bytes(at("img_2.png.json")));
  EXPECT_EQ(side.at("ddim_sidecar"), ddim::kSidecarVersion);

  const auto back = ddim::GenerationJob::from_sidecar(at("img_2.png.json"));
  EXPECT_EQ(fs::canonical(back.model.folder), fs::canonical(kModel));
  EXPECT_EQ(back.model.device, "cpu");
  EXPECT_EQ(back.model.dtype, "float32");
  EXPECT_EQ(overrides_of(back.model), overrides_of(job.model));
  EXPECT_EQ(back.steps, job.steps);
  EXPECT_EQ(back.eta, job.eta);
  EXPECT_EQ(back.seed, job.seed);
  EXPECT_EQ(back.num_images, job.num_images);
  EXPECT_EQ(back.batch_size, job.batch_size);
  EXPECT_TRUE(back.latents.empty());
  EXPECT_TRUE(back.interpolate.empty());
  ASSERT_TRUE(back.replay.has_value());
  EXPECT_EQ(back.replay->index, 2);
  EXPECT_EQ(back.replay->batch, 1);
  EXPECT_EQ(back.replay->unet_sha256, side.at("unet_sha256").get<std::string>());
  // The grid's sidecar records the same run, with its gap.
  const auto grid_side = json::parse(bytes(at("grid.png.json")));
  EXPECT_EQ(grid_side.at("grid_gap"), 1);
  EXPECT_EQ(grid_side.at("seed"), 11);

  // Replayed from the sidecar: the same bytes.
  auto again = back;
  again.output = at("again.png").string();
  again.run();
  EXPECT_EQ(bytes(at("again.png")), bytes(at("img_2.png")));
}

TEST_F(Runs, LatentsAndInterpolationRoundTripThroughTheSidecar) {
  auto make = sample_job();
  make.grid.clear();
  make.run();
  // EDICT latents of two images, then frames between them.
  ddim::InversionJob invert;
  invert.model.folder = kModel;
  invert.model.device = "cpu";
  invert.inputs = {at("img_0.png").string()};
  invert.method = "edict";
  invert.edict_p = 0.9;
  invert.steps = 3;
  invert.output = at("a.pt").string();
  invert.run();
  invert.inputs = {at("img_1.png").string()};
  invert.output = at("b.pt").string();
  invert.run();

  ddim::GenerationJob frames;
  frames.model.folder = kModel;
  frames.model.device = "cpu";
  frames.latents = at("a.pt").string();
  frames.interpolate = at("b.pt").string();
  frames.frames = 3;
  frames.output = at("f_%d.png").string();
  frames.run();
  const auto back = ddim::GenerationJob::from_sidecar(at("f_1.png.json"));
  EXPECT_EQ(back.latents, frames.latents);
  EXPECT_EQ(back.interpolate, frames.interpolate);
  EXPECT_EQ(back.frames, 3);
  EXPECT_EQ(back.steps, 3);  // from the latents' own step count
  EXPECT_EQ(back.num_images, 3);
  EXPECT_NE(back.replay->method.find("edict"), std::string::npos);
  auto again = back;
  again.output = at("again.png").string();
  again.run();
  EXPECT_EQ(bytes(at("again.png")), bytes(at("f_1.png")));
}

TEST_F(Runs, InversionOptionsRoundTripThroughTheSidecar) {
  auto make = sample_job();
  make.grid.clear();
  make.run();
  ddim::InversionJob job;
  job.model.folder = kModel;
  job.model.device = "cpu";
  job.model.set = {"timestep_spacing=trailing"};
  job.inputs = {at("img_0.png").string(), at("img_1.png").string()};
  job.method = "fixed-point";
  job.scheduler = "dpmsolver";
  job.iterations = 2;
  job.tolerance = 0.001;
  job.steps = 3;
  job.batch_size = 1;
  job.resize = true;
  job.output = at("lat.pt").string();
  job.run();
  const auto back = ddim::InversionJob::from_sidecar(at("lat.pt.json"));
  EXPECT_EQ(fs::canonical(back.model.folder), fs::canonical(kModel));
  EXPECT_EQ(back.model.device, "cpu");
  EXPECT_EQ(overrides_of(back.model), overrides_of(job.model));
  EXPECT_EQ(back.inputs, job.inputs);
  EXPECT_EQ(back.method, "fixed-point");
  EXPECT_EQ(back.scheduler, "dpmsolver");
  EXPECT_EQ(back.iterations, 2);
  EXPECT_EQ(back.tolerance, 0.001);
  EXPECT_EQ(back.steps, 3);
  EXPECT_EQ(back.batch_size, 1);
  EXPECT_TRUE(back.resize);
  const auto method = back.resolved_method();
  EXPECT_EQ(method.kind, ddim::InversionMethod::Kind::kFixedPoint);
  EXPECT_EQ(method.scheduler, ddim::InverseScheduler::kDPMSolver);
  // Run again from the record: the same latents.
  auto again = back;
  again.output = at("again.pt").string();
  again.run();
  EXPECT_TRUE(torch::equal(ddim::load_tensor(at("again.pt")), ddim::load_tensor(at("lat.pt"))));

  // BDIA's parameter, and EDICT's.
  ddim::InversionJob bdia = job;
  bdia.method = "bdia";
  bdia.scheduler.reset();
  bdia.iterations.reset();
  bdia.tolerance.reset();
  bdia.bdia_gamma = 0.5;
  bdia.inputs = {at("img_0.png").string()};
  bdia.output = at("bdia.pt").string();
  bdia.run();
  const auto bdia_back = ddim::InversionJob::from_sidecar(at("bdia.pt.json"));
  EXPECT_EQ(bdia_back.method, "bdia");
  EXPECT_EQ(bdia_back.bdia_gamma, 0.5);
  EXPECT_EQ(bdia_back.resolved_method().bdia_gamma, 0.5);
}

// A sidecar written before the schema had a version (no "ddim_sidecar" key; every other field as
// today's) still replays; one of a newer schema is refused by name.
TEST_F(Runs, SidecarsWithoutASchemaVersionStillReplay) {
  auto make = sample_job();
  make.grid.clear();
  make.run();
  auto side = json::parse(bytes(at("img_1.png.json")));
  side.erase("ddim_sidecar");
  std::ofstream(at("old.json")) << side.dump(2) << "\n";
  auto old = ddim::GenerationJob::from_sidecar(at("old.json"));
  old.output = at("from_old.png").string();
  old.run();
  EXPECT_EQ(bytes(at("from_old.png")), bytes(at("img_1.png")));

  side["ddim_sidecar"] = ddim::kSidecarVersion + 1;
  std::ofstream(at("new.json")) << side.dump(2) << "\n";
  try {
    ddim::GenerationJob::from_sidecar(at("new.json"));
    FAIL() << "a sidecar of a newer schema was read";
  } catch (const ddim::UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("schema"), std::string::npos) << e.what();
  }
}

// Text from a sidecar goes into messages on one line (found by fuzz_sidecar: a "tool" or a method
// name holding a newline gave two-line messages, and the method's did not name the sidecar).
TEST_F(Runs, SidecarTextInMessagesStaysOnOneLine) {
  auto make = sample_job();
  make.grid.clear();
  make.run();
  const auto refused = [&](const json& side, const std::string& needle, bool inversion) {
    std::ofstream(at("odd.json")) << side.dump(2) << "\n";
    try {
      if (inversion) {
        ddim::InversionJob::from_sidecar(at("odd.json"));
      } else {
        ddim::GenerationJob::from_sidecar(at("odd.json"));
      }
      ADD_FAILURE() << "read: " << side.dump();
    } catch (const ddim::UsageError& e) {
      const std::string what = e.what();
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
      EXPECT_NE(what.find(needle), std::string::npos) << what;
      EXPECT_NE(what.find(at("odd.json").string()), std::string::npos) << what;
    }
  };
  auto side = json::parse(bytes(at("img_1.png.json")));
  side["tool"] = "ddim-\ngenerate";
  refused(side, "ddim-\\ngenerate", false);
  refused(side, "ddim-\\ngenerate", true);
  side["tool"] = "ddim-invert";
  side["method"] = {{"name", "dd\nim"}};
  refused(side, "unknown inversion method 'dd\\nim'", true);
}

// An embedding app replays the sidecar ddim-generate wrote: the same image, byte for byte.
TEST_F(Runs, EmbeddingAppReplaysTheToolsSidecar) {
  const std::string tool = std::string(DDIM_TOOLS_DIR) + "/ddim-generate";
  if (!fs::exists(tool)) GTEST_SKIP() << "the tools are not built (DDIM_BUILD_TOOLS=OFF)";
  const std::string command = "'" + tool + "' --model '" + kModel.string() + "' --device cpu -n 3 --batch-size 2" +
                              " --steps 3 --eta 1 --seed 5 --set timestep_spacing=leading -q -o '" +
                              at("tool.png").string() + "'";
  ASSERT_EQ(std::system(command.c_str()), 0) << command;
  auto job = ddim::GenerationJob::from_sidecar(at("tool_1.png.json"));
  job.output = at("embedded.png").string();
  job.run();
  EXPECT_EQ(bytes(at("embedded.png")), bytes(at("tool_1.png")));
  // The embedding app's sidecar is the tool's, but for the replay's own mark.
  auto mine = json::parse(bytes(at("embedded.png.json")));
  EXPECT_EQ(mine.at("from_sidecar"), at("tool_1.png.json").string());
  mine.erase("from_sidecar");
  EXPECT_EQ(mine, json::parse(bytes(at("tool_1.png.json"))));
}

// Events: one plan, a file per image, the batches of this shard only.
TEST_F(Runs, EventsAndShards) {
  auto job = sample_job();
  job.grid.clear();
  job.shard = "1/2";
  std::vector<ddim::RunPlan> plans;
  std::vector<fs::path> files;
  int64_t batched = 0;
  ddim::RunEvents events;
  events.on_plan = [&](const ddim::RunPlan& plan) { plans.push_back(plan); };
  events.on_file = [&](const ddim::WrittenFile& file) { files.push_back(file.path); };
  events.on_batch = [&](int64_t images) { batched += images; };
  job.run(events);
  ASSERT_EQ(plans.size(), 1u);
  EXPECT_EQ(plans[0].seed, 11u);
  EXPECT_EQ(plans[0].batches, 2);
  EXPECT_EQ(plans[0].my_batches, 1);
  EXPECT_EQ(files, std::vector<fs::path>{at("img_2.png")});  // batch 1 holds image 2 alone
  EXPECT_EQ(batched, 1);
  EXPECT_FALSE(fs::exists(at("img_0.png")));
}

// Refused before any work, with the flags named; nothing written.
TEST_F(Runs, OutputsThatWouldReplaceInputsAreRefused) {
  auto make = sample_job();
  make.grid.clear();
  make.run();
  const auto before = bytes(at("img_0.png"));
  const auto refused = [&](auto job, const std::string& needle) {
    try {
      job.run();
      ADD_FAILURE() << "ran: " << needle;
    } catch (const ddim::UsageError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  ddim::InversionJob invert;
  invert.model.folder = kModel;
  invert.model.device = "cpu";
  invert.inputs = {at("img_0.png").string()};
  invert.output = at("img_0.png").string();
  refused(invert, "-o");
  invert.output = at("lat.pt").string();
  invert.reconstruct = at("img_0.png").string();
  refused(invert, "--reconstruct");
  fs::create_hard_link(at("img_0.png"), at("hard.png"));
  invert.reconstruct.clear();
  invert.output = at("hard.png").string();
  refused(invert, "is the input");
  EXPECT_EQ(bytes(at("img_0.png")), before);
  EXPECT_FALSE(fs::exists(at("lat.pt")));

  auto grid = sample_job();
  grid.output = at("g.png").string();
  grid.num_images = 1;
  grid.grid = at("g.png").string();
  refused(grid, "--grid");
  EXPECT_FALSE(fs::exists(at("g.png")));
}

}  // namespace
