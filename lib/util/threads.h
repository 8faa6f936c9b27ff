// How many threads to use. Some environments start LibTorch at 1 thread (docs/architecture.md,
// "Platform traps"), so every stage sets its count explicitly from one rule.
#pragma once

#include <cstddef>
#include <functional>

namespace plinth {

// Cores this process may run on (affinity mask, so containers and taskset are honoured).
int available_cores();

// `requested` > 0 wins, else $PLINTH_THREADS, else available_cores().
int resolve_threads(int requested);

// Calls fn(i) for every i in [0, n) on `threads` threads (the caller's among them), each thread
// taking the next i as it frees up. The first exception a call throws stops the handing out and
// is rethrown here once every thread has joined: an exception escaping a std::thread would end
// the process (std::terminate) instead of reaching the command's error handling.
void parallel_for(size_t n, int threads, const std::function<void(size_t)>& fn);

}  // namespace plinth
