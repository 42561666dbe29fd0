// Writes <out>/<case>/scheduler_config.json, our config_json(), for every runnable golden case,
// for tests/check_config_roundtrip.py to read back with diffusers.
#include <iostream>

#include "ddim/ddim.h"
#include "golden_data.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: dump_scheduler_configs OUT_DIR\n";
    return 2;
  }
  ddim::set_warning_handler({});
  int written = 0;
  for (const auto& c : ddim::test::GoldenData::get().doc().at("cases")) {
    if (c.at("expect") != "ok") continue;
    auto cfg = c.at("config");
    cfg["_class_name"] = c.at("class");
    const auto scheduler = ddim::scheduler_from_config(cfg.dump());
    scheduler->save_pretrained(std::filesystem::path(argv[1]) / c.at("name").get<std::string>());
    ++written;
  }
  std::cout << written << " configs written\n";
  return 0;
}
