// How many threads to use. Some environments start LibTorch at 1 thread (docs/architecture.md,
// "Platform traps"), so every stage sets its count explicitly from one rule.
#pragma once

namespace plinth {

// Cores this process may run on (affinity mask, so containers and taskset are honoured).
int available_cores();

// `requested` > 0 wins, else $PLINTH_THREADS, else available_cores().
int resolve_threads(int requested);

}  // namespace plinth
