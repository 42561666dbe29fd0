// Minimal consumer of the installed ddim package.
#include <ddim/ddim.h>
#include <torch/torch.h>

#include <iostream>

int main() {
  std::cout << ddim::build_info() << "\n";
  const auto t = torch::ones({2, 3});
  std::cout << "sum=" << t.sum().item<float>() << "\n";
  return 0;
}
