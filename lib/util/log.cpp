#include "util/log.h"

namespace plinth::log {

int& verbosity() {
  static int level = 1;
  return level;
}

}  // namespace plinth::log
