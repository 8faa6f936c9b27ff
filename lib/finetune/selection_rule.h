// Which step of a fine-tune becomes tuned.ckpt (select:, select_spec.h): from the panels taken
// during training (selection_probe.h), the step with the best task validation loss among those
// whose panel forgetting stays within the budget. No torch here.
//
// Forgetting of a domain at step s = 100 * (nll_s / nll_0 - 1), nll in nats per token on the
// same fixed panel of that domain's validation documents, step 0 being the base. The budget
// applies to the mean over the domains (each domain weighs the same, as in plinth eval's mean),
// and, with max_worst_forgetting, also to the domain that forgot most.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "finetune/select_spec.h"

namespace plinth::finetune {

struct Panel {
  int64_t step = 0;
  double task_val_loss = 0;                         // nats per scored task token
  std::vector<std::pair<std::string, double>> nll;  // per domain, nats per token on its panel
};

// Per domain, percent against `base` (the step-0 panel; a domain's NaN stays NaN).
std::vector<std::pair<std::string, double>> panel_forgetting(const Panel& p, const Panel& base);
double mean_forgetting(const std::vector<std::pair<std::string, double>>& forgetting);   // finite ones
double worst_forgetting(const std::vector<std::pair<std::string, double>>& forgetting);  // finite ones

struct Selection {
  int64_t step = 0;
  bool within_budget = false;  // false: nothing after step 0 fitted, the base is kept
  std::string reason;          // one line, for logs and meta
};

// `panels` in step order, panels[0] the step-0 one. Ties in task loss go to the earlier step.
// Step 0 (the base) is chosen only when no later step fits the budget (or there is none).
Selection select_step(const std::vector<Panel>& panels, const SelectSpec& spec);

// "mean forgetting <= 5%, worst domain <= 10%", or "no forgetting budget".
std::string describe_budget(const SelectSpec& spec);

// The panels as JSON text and back (checkpoint meta, selection.json); doubles round-trip exactly.
std::string panels_to_json(const std::vector<Panel>& panels);
// BadInput naming `where` when the text is not what panels_to_json writes.
std::vector<Panel> panels_from_json(const std::string& text, const std::string& where);

}  // namespace plinth::finetune
