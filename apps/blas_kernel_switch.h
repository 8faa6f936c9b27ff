// Starts plinth again with a better OpenBLAS kernel where OpenBLAS fell back to a generic one
// (util/blas_kernel.h says why and which).
#pragma once

namespace plinth {

// Called first in main: may not return (execv of this binary with OPENBLAS_CORETYPE set). A
// user's own OPENBLAS_CORETYPE always wins; the switch is said once on stderr, in the process that
// runs with it.
void use_best_blas_kernel(int argc, char** argv);

}  // namespace plinth
