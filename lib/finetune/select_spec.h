// The fine-tuning recipe's `select:` section: keep the checkpoint with the best task validation
// loss among those whose forgetting stays within a budget, rather than the last one
// (selection_rule.h decides, selection_probe.h measures during training). No torch here.
//
//   select:
//     every: 50               # a panel every 50 steps (and at step 0 and the last step)
//     max_forgetting: 5%      # budget on the panel's mean forgetting over the domains
//     max_worst_forgetting: 10%  # optional: and on its worst domain
//     panel_tokens: 4096      # scored tokens per domain on each panel
#pragma once

#include <cstdint>

#include "util/config_section.h"

namespace plinth::finetune {

struct SelectSpec {
  int64_t every = 0;  // steps between panels; 0 = no select: section (tuned.ckpt is the last step)
  // Budgets as fractions (0.05 = 5%) of 100 * (nll_now / nll_step0 - 1); 0 = no budget.
  double max_forgetting = 0;        // on the mean over the domains
  double max_worst_forgetting = 0;  // on the domain that forgot most
  int64_t panel_tokens = 4096;      // per domain: a seeded sample of validation documents
  bool on() const { return every > 0; }
};

// Reads the section (every required: a positive integer); fractions as eval's target_ci ("5%"
// or 0.05); unknown keys get the did-you-mean hint.
void bind(ConfigSection& s, SelectSpec& spec);

}  // namespace plinth::finetune
