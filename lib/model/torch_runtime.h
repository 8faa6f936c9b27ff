// Process-wide LibTorch settings, kept out of torch headers so apps/ need not include them.
#pragma once

#include <string>

namespace plinth::model {

// "1.13.0, CPU (no CUDA device)" / "2.11.0, CUDA devices: 1".
std::string torch_version();
bool cuda_available();

// Sets LibTorch's intra-op threads by resolve_threads (util/threads.h); returns the count.
int configure_threads(int requested = 0);

}  // namespace plinth::model
