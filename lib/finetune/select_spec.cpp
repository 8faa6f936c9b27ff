#include "finetune/select_spec.h"

#include "eval/eval_spec.h"

namespace plinth::finetune {

void bind(ConfigSection& s, SelectSpec& spec) {
  s.read("every", spec.every, Range<int64_t>::at_least(1), Need::Required);
  eval::read_fraction(s, "max_forgetting", spec.max_forgetting, false, "5% (or 0.05)");
  eval::read_fraction(s, "max_worst_forgetting", spec.max_worst_forgetting, false, "10% (or 0.1)");
  s.read("panel_tokens", spec.panel_tokens, Range<int64_t>::between(1, int64_t{1} << 32));
  s.finish();
}

}  // namespace plinth::finetune
