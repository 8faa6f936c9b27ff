#include "util/precision.h"

namespace plinth {

const char* precision_name(Precision p) {
  return p == Precision::bf16 ? "bf16" : "fp32";
}

std::optional<Precision> parse_precision(std::string_view word) {
  if (word == "fp32") return Precision::fp32;
  if (word == "bf16") return Precision::bf16;
  return std::nullopt;
}

}  // namespace plinth
