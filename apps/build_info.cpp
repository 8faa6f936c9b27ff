#include "build_info.h"

namespace plinth {

const char* plinth_version() { return PLINTH_VERSION; }
const char* plinth_source_dir() { return PLINTH_SOURCE_DIR; }

}  // namespace plinth
