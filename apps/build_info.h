// What the build knows and the commands print: plinth's version and the source tree it was
// built from. Compiled alone (build_info.cpp carries the defines), so that the files that use
// these join the unity batches and the precompiled header, which a per-file define would stop.
#pragma once

namespace plinth {

const char* plinth_version();     // the project's version, e.g. "0.1.0"
const char* plinth_source_dir();  // absolute path of the source tree at configure time

}  // namespace plinth
