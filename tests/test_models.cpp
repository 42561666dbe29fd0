// The two UNet backends on the tiny exported model (the ctest fixture tests/make_tiny_fixture.sh
// exports it in both formats): the AOTInductor package against the TorchScript trace, and what
// load_unet refuses or falls back from.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "ddim/ddim.h"

namespace {

namespace fs = std::filesystem;

const fs::path kModel = fs::path(DDIM_TINY_FIXTURE_DIR) / "model";

class Models : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!fs::exists(kModel / "unet" / "model.pt2") || !fs::exists(kModel / "unet" / "model.pt")) {
      GTEST_SKIP() << "no tiny-model fixture with model.pt2 and model.pt at " << kModel;
    }
  }
  // A copy of the fixture's model folder, removed at the end of the test.
  fs::path copy_model(const std::string& name, bool with_trace) {
    const auto dir = fs::temp_directory_path() / ("ddim_test_models_" + name);
    fs::remove_all(dir);
    fs::copy(kModel, dir, fs::copy_options::recursive);
    if (!with_trace) fs::remove(dir / "unet" / "model.pt");
    copies_.push_back(dir);
    return dir;
  }
  // Rewrites the package's metadata with tests/tamper_package.py.
  static void tamper(const fs::path& dir, const std::string& changes) {
    const auto package = (dir / "unet" / "model.pt2").string();
    const std::string cmd = std::string(DDIM_PYTHON_EXE) + " " + DDIM_SOURCE_DIR + "/tests/tamper_package.py " +
                            (kModel / "unet" / "model.pt2").string() + " " + package + " " + changes;
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  void TearDown() override {
    for (const auto& dir : copies_) fs::remove_all(dir);
  }

 private:
  std::vector<fs::path> copies_;
};

// Collects ddim::warn messages while alive.
class WarningLog {
 public:
  WarningLog() : previous_(ddim::set_warning_handler([this](const std::string& m) { messages.push_back(m); })) {}
  ~WarningLog() { ddim::set_warning_handler(previous_); }
  std::vector<std::string> messages;

 private:
  ddim::WarningHandler previous_;
};

std::string error_of(const fs::path& dir, torch::ScalarType dtype = torch::kFloat32) {
  try {
    ddim::load_unet(dir, torch::kCPU, dtype);
  } catch (const ddim::ConfigError& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_F(Models, LoadUnetPrefersThePackage) {
  const auto unet = ddim::load_unet(kModel);
  EXPECT_NE(dynamic_cast<ddim::AOTInductorUNet*>(unet.get()), nullptr);
}

// Every batch size takes its path: the static batch-1 and batch-3 models (the fixture is exported
// with --static-batches 3), the dynamic one, and chunks of the dynamic model's largest batch (with
// a batch-1 remainder) beyond it.
TEST_F(Models, PackageMatchesTheTraceAtEveryBatchSize) {
  ddim::AOTInductorUNet package(kModel, torch::kCPU, torch::kFloat32);
  ddim::TorchScriptUNet trace(kModel, torch::kCPU, torch::kFloat32);
  const auto& c = package.config();
  for (const int64_t batch : {1, 2, 3, 5, 63, 64, 127, 130}) {
    const auto x = torch::randn({batch, c.in_channels, c.sample_height, c.sample_width},
                                at::make_generator<at::CPUGeneratorImpl>(batch));
    for (const int64_t t : {0, 421, 999}) {
      const auto a = package.forward(x, t);
      const auto b = trace.forward(x, t);
      ASSERT_EQ(a.sizes(), b.sizes());
      EXPECT_LE((a - b).abs().max().item<double>(), 1e-5) << "batch " << batch << " timestep " << t;
    }
  }
}

TEST_F(Models, RefusesAPackageNeedingCpuFeaturesThisMachineLacks) {
  const auto dir = copy_model("features", false);
  tamper(dir, "ddim.cpu_features='avx2 ddim_no_such_feature'");
  const auto error = error_of(dir);
  EXPECT_TRUE(contains(error, "ddim_no_such_feature") && contains(error, "--march x86-64-v3")) << error;
  EXPECT_FALSE(contains(error, "avx2 ")) << "names only the missing features: " << error;
}

TEST_F(Models, FallsBackToTheTraceWithAWarning) {
  const auto dir = copy_model("fallback", true);
  tamper(dir, "ddim.cpu_features=ddim_no_such_feature");
  WarningLog log;
  const auto unet = ddim::load_unet(dir);
  EXPECT_NE(dynamic_cast<ddim::TorchScriptUNet*>(unet.get()), nullptr);
  ASSERT_EQ(log.messages.size(), 1u);
  EXPECT_TRUE(contains(log.messages[0], "ddim_no_such_feature") && contains(log.messages[0], "model.pt (TorchScript)"))
      << log.messages[0];
}

// The static batches the package's metadata lists are checked when loaded: a size the exporter
// never makes, and one whose model is not in the archive, are refused by name.
TEST_F(Models, RefusesAWrongStaticBatch) {
  const auto exported = nlohmann::json::parse(std::ifstream(kModel / "ddim_export.json"));
  ASSERT_EQ(exported["aoti"]["static_batches"], nlohmann::json::array({3})) << "fixture exported without batch 3";
  for (const auto& [listed, words] :
       std::vector<std::pair<std::string, std::string>>{{"'3 1'", "static batch '1'"},
                                                        {"3x", "static batch '3x'"},
                                                        {"'3 3'", "static batch '3'"},
                                                        {"'3 7'", "cannot read model 'batch7'"}}) {
    const auto dir = copy_model("static", false);
    tamper(dir, "ddim.static_batches=" + listed);
    const auto error = error_of(dir);
    EXPECT_TRUE(contains(error, words) && contains(error, "re-export")) << listed << ": " << error;
    fs::remove_all(dir);
  }
}

TEST_F(Models, RefusesAnotherTorchVersion) {
  const auto dir = copy_model("torch", false);
  tamper(dir, "ddim.torch_version=1.0.0");
  const auto error = error_of(dir);
  EXPECT_TRUE(contains(error, "torch 1.0.0") && contains(error, "export_unet.py")) << error;
}

TEST_F(Models, RefusesAnotherDtypeNamingTheExport) {
  const auto dir = copy_model("dtype", false);
  const auto error = error_of(dir, torch::kFloat16);
  EXPECT_TRUE(contains(error, "model.pt2") && contains(error, "--dtype float16 --format aoti")) << error;
}

// The fixture is exported with --dtype float32,bfloat16: model.pt2 and model.bfloat16.pt2, each
// picked by the dtype asked for, and the bfloat16 one close to the float32 one.
TEST_F(Models, AFolderOfTwoDtypesRunsThePackageOfEach) {
  ASSERT_TRUE(fs::exists(kModel / "unet" / "model.bfloat16.pt2")) << "fixture exported without bfloat16";
  EXPECT_EQ(ddim::package_path(kModel, torch::kFloat32), kModel / "unet" / "model.pt2");
  EXPECT_EQ(ddim::package_path(kModel, torch::kBFloat16), kModel / "unet" / "model.bfloat16.pt2");
  EXPECT_EQ(ddim::package_path(kModel, torch::kFloat16), kModel / "unet" / "model.pt2");
  ddim::AOTInductorUNet fp32(kModel, torch::kCPU, torch::kFloat32);
  ddim::AOTInductorUNet bf16(kModel, torch::kCPU, torch::kBFloat16);
  EXPECT_EQ(bf16.package().filename(), "model.bfloat16.pt2");
  const auto& c = fp32.config();
  for (const int64_t batch : {1, 3}) {
    const auto x = torch::randn({batch, c.in_channels, c.sample_height, c.sample_width},
                                at::make_generator<at::CPUGeneratorImpl>(batch));
    const auto a = fp32.forward(x, 500);
    const auto b = bf16.forward(x, 500);
    EXPECT_EQ(b.scalar_type(), torch::kBFloat16);
    const double relative = ((a - b.to(torch::kFloat32)).norm() / a.norm()).item<double>();
    EXPECT_LT(relative, 0.05) << "batch " << batch;
    EXPECT_GT(relative, 0.0) << "batch " << batch << ": the bfloat16 package gave float32's numbers";
  }
}

// `--dtype auto` follows unet/dtype_auto.json where it was measured on a CPU like this one (model
// name, family and model, extensions) and names a package that is there; float32 otherwise, with a
// warning saying why.
TEST_F(Models, AutoDtypeFollowsTheRecordMeasuredOnThisCpu) {
  const auto record_path = kModel / "unet" / "dtype_auto.json";
  ASSERT_TRUE(fs::exists(record_path)) << "fixture exported without a dtype list";
  const auto record = nlohmann::json::parse(std::ifstream(record_path));
  EXPECT_EQ(ddim::auto_dtype(kModel), ddim::dtype_from_name(record.at("choice").get<std::string>()));

  const auto dir = copy_model("auto", false);
  const auto rewrite = [&](const nlohmann::json& changed) {
    std::ofstream(dir / "unet" / "dtype_auto.json", std::ios::trunc) << changed.dump();
  };
  auto chose_bf16 = record;
  chose_bf16["choice"] = "bfloat16";
  rewrite(chose_bf16);
  EXPECT_EQ(ddim::auto_dtype(dir), torch::kBFloat16);

  // The same model name with other extensions (virtual machines call an AVX2-only Zen 1 and an
  // AVX512-BF16 Zen 4 both "AMD EPYC"), and another model name: neither is trusted. The first is this
  // CPU's own line with avx512_bf16 added or taken away, so it differs from this CPU on any machine.
  auto toggled = record.at("cpu").get<std::string>();
  const auto bf16_at = toggled.find(" avx512_bf16");
  if (bf16_at == std::string::npos) {
    toggled += " avx512_bf16";
  } else {
    toggled.erase(bf16_at, std::string(" avx512_bf16").size());
  }
  for (const std::string& other : {toggled, std::string("Another CPU 9000")}) {
    auto elsewhere = chose_bf16;
    elsewhere["cpu"] = other;
    rewrite(elsewhere);
    WarningLog log;
    EXPECT_EQ(ddim::auto_dtype(dir), torch::kFloat32) << other;
    ASSERT_EQ(log.messages.size(), 1u);
    EXPECT_TRUE(contains(log.messages[0], other) && contains(log.messages[0], "float32")) << log.messages[0];
  }

  // A record without the CPU line (an older export's) is not trusted either.
  auto unnamed = chose_bf16;
  unnamed.erase("cpu");
  rewrite(unnamed);
  {
    WarningLog log;
    EXPECT_EQ(ddim::auto_dtype(dir), torch::kFloat32);
    ASSERT_EQ(log.messages.size(), 1u);
    EXPECT_TRUE(contains(log.messages[0], "\"cpu\"") && contains(log.messages[0], "Re-export")) << log.messages[0];
  }

  rewrite(chose_bf16);
  fs::remove(dir / "unet" / "model.bfloat16.pt2");
  {
    WarningLog log;
    EXPECT_EQ(ddim::auto_dtype(dir), torch::kFloat32);
    ASSERT_EQ(log.messages.size(), 1u);
    EXPECT_TRUE(contains(log.messages[0], "model.bfloat16.pt2 is missing")) << log.messages[0];
  }

  auto broken = record;
  broken.erase("choice");
  rewrite(broken);
  try {
    ddim::auto_dtype(dir);
    ADD_FAILURE() << "a record without \"choice\" was read";
  } catch (const ddim::ConfigError& e) {
    EXPECT_TRUE(contains(e.what(), "dtype_auto.json") && contains(e.what(), "choice")) << e.what();
  }

  fs::remove(dir / "unet" / "dtype_auto.json");
  EXPECT_EQ(ddim::auto_dtype(dir), torch::kFloat32);
}

TEST_F(Models, RefusesADamagedPackage) {
  for (const bool truncated : {true, false}) {
    const auto dir = copy_model(truncated ? "truncated" : "garbage", false);
    const auto package = dir / "unet" / "model.pt2";
    if (truncated) {
      fs::resize_file(package, fs::file_size(package) / 2);
    } else {
      std::ofstream(package, std::ios::trunc) << "not a package";
    }
    const auto error = error_of(dir);
    EXPECT_TRUE(contains(error, "model.pt2") && contains(error, "re-export")) << error;
    EXPECT_FALSE(contains(error, "\n")) << "one line: " << error;
  }
}

// config.json's sizes are positive whole numbers; anything else is refused naming the key and value.
TEST_F(Models, RefusesAUNetConfigWithoutWholeSizes) {
  const auto dir = copy_model("config", true);
  const auto config_path = dir / "unet" / "config.json";
  std::string original;
  {
    std::ifstream in(config_path);
    original.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"\"in_channels\": 1e128", "in_channels is 1e+128"},
      {"\"out_channels\": 0", "out_channels is 0"},
      {"\"sample_size\": [28.5, 28]", "sample_size is 28.5"},
      {"\"sample_size\": \"28\"", "sample_size is \"28\""}};
  for (const auto& [entry, words] : cases) {
    const auto key = entry.substr(0, entry.find(':') + 1);
    auto text = original;
    const auto at = text.find(key);
    ASSERT_NE(at, std::string::npos) << key;
    const auto end = text.find_first_of(",}", text[at + key.size() + 1] == '[' ? text.find(']', at) : at);
    text.replace(at, end - at, entry);
    std::ofstream(config_path, std::ios::trunc) << text;
    const auto error = error_of(dir);
    EXPECT_TRUE(contains(error, words) && contains(error, "expected a positive integer")) << entry << ": " << error;
  }
}

TEST_F(Models, AFolderWithNeitherFormatIsAConfigError) {
  const auto dir = copy_model("empty", false);
  fs::remove(dir / "unet" / "model.pt2");
  EXPECT_TRUE(contains(error_of(dir), "model.pt")) << error_of(dir);
}

// The package is unpacked once into $DDIM_CACHE_DIR/aoti (ctest points it into the build folder);
// a changed package gets a fresh entry and its old one is removed.
TEST_F(Models, UnpacksOnceIntoTheCacheAndReplacesStaleEntries) {
  const char* cache = std::getenv("DDIM_CACHE_DIR");
  if (!cache) GTEST_SKIP() << "DDIM_CACHE_DIR is not set (ctest sets it)";
  const auto dir = copy_model("cache", false);
  const auto entries = [&] {
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(fs::path(cache) / "aoti")) found.push_back(e.path());
    return found;
  };
  ddim::load_unet(dir);
  const auto before = entries();
  ddim::load_unet(dir);
  EXPECT_EQ(entries(), before) << "a second load unpacks nothing";
  const auto package = dir / "unet" / "model.pt2";
  fs::last_write_time(package, fs::last_write_time(package) + std::chrono::seconds(5));
  const auto unet = ddim::load_unet(dir);
  const auto after = entries();
  EXPECT_EQ(after.size(), before.size()) << "the stale entry is replaced, not kept";
  EXPECT_NE(after, before);
  const auto x =
      torch::zeros({1, unet->config().in_channels, unet->config().sample_height, unet->config().sample_width});
  EXPECT_EQ(unet->forward(x, 10).sizes(), x.sizes());
}

}  // namespace
