// Process-wide LibTorch settings, kept out of torch headers so apps/ need not include them.
#pragma once

#include <string>

namespace plinth::model {

// "1.13.1 (CPU)" / "2.11.0 (CUDA 13.0)".
std::string torch_version();
bool cuda_available();

// Intra-op threads. Some environments start LibTorch at 1 thread (DESIGN.md), so it is
// always set explicitly: `requested` > 0 wins, else $PLINTH_THREADS, else the cores this
// process may use. Returns the count applied.
int configure_threads(int requested = 0);
int available_cores();

}  // namespace plinth::model
