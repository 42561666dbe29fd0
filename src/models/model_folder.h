#pragma once

// Reading a model folder written by scripts/export_unet.py: the JSON files both backends share.

#include <exception>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "ddim/models/unet.h"
#include "ddim/models/vae.h"

namespace ddim::detail {

// The parsed file; ConfigError naming the path when it is missing or not JSON.
nlohmann::json read_json(const std::filesystem::path& path);

// in_channels, out_channels and sample_size of <unet_dir>/config.json, and the inputs and
// conditioning its folder's ddim_export.json records; ConfigError naming the file when one is
// missing or wrong.
UNetConfig read_unet_config(const std::filesystem::path& unet_dir);
// The "inputs" and "conditioning" of ddim_export.json into `config` (nothing when the file or its
// "inputs" is absent: an unconditional model of an earlier export).
void read_conditioning(const std::filesystem::path& export_json, UNetConfig& config);

// The "vae" record of <model_dir>/ddim_export.json (scripts/export_model.py); ConfigError naming
// the file and the key when one is missing or wrong.
// It also reads <component>/config.json (check_vae_config_json).
VAEConfig read_vae_config(const std::filesystem::path& model_dir);

// <component>/config.json against the export's record: scaling_factor, latent_channels,
// in_channels and out_channels, where the config has them, must equal the recorded values; a
// missing or unreadable file or a disagreement is a ConfigError naming both files and the values.
void check_vae_config_json(const std::filesystem::path& config_path, const std::filesystem::path& record_path,
                           const VAEConfig& recorded);

// The condition's tensors in the order of config.inputs after sample and timestep, on `device`
// (encoder_hidden_states in `dtype`). The condition is checked by the caller.
std::vector<torch::Tensor> condition_inputs(const UNetConfig& config, const Condition& condition, torch::Device device,
                                            torch::ScalarType dtype);

// The ConfigError message for an artifact made for another device or dtype, with the export
// command that makes the right one.
std::string wrong_target_message(const std::filesystem::path& artifact, const std::string& exported_device,
                                 const std::string& exported_dtype, torch::Device device, torch::ScalarType dtype);

// The first line and first sentence of a LibTorch exception message: what is wrong, without the
// C++ stack trace that follows it.
std::string first_sentence(const std::exception& error);

// This LibTorch's version, "2.13.0": what a package's ddim.torch_version metadata must equal.
std::string libtorch_version();

// The metadata of model `model` of an AOTInductor package, read before any of its code loads.
// ConfigError "cannot read <package> (damaged or not an AOTInductor package): ...<reexport>" when
// it cannot be read.
std::unordered_map<std::string, std::string> read_package_metadata(const std::filesystem::path& package,
                                                                   const std::string& model,
                                                                   const std::string& reexport);

// The value of `key` in a package's metadata; empty when it is absent.
std::string metadata_field(const std::unordered_map<std::string, std::string>& metadata, const std::string& key);

// The words of a space-separated metadata field (ddim.cpu_features, ddim.inputs), and back.
std::vector<std::string> split_words(const std::string& text);
std::string join_words(const std::vector<std::string>& words);

}  // namespace ddim::detail
