// ddim-generate: DDIM sampling from an exported UNet2DModel to PNG files.
// This build carries the command line and the run-time report; sampling arrives with the pipeline.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "ddim/ddim.h"

int main(int argc, char** argv) {
  CLI::App app{"ddim-generate: turn Gaussian noise into images with DDIM, as diffusers' DDIMPipeline does."};
  app.set_version_flag("--version", [] { return ddim::build_info(); });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  std::cerr << "ddim-generate: sampling is not available in this build (ddim " << ddim::version()
            << "); see --help and --version\n";
  return 1;
}
