// The forgetting report's headline figures as TensorBoard scalars, so that a fine-tune's
// TensorBoard run shows what `plinth eval` concluded beside its training curves.
#pragma once

#include <filesystem>

#include "eval/forgetting_report.h"
#include "util/tensorboard_events.h"

namespace plinth::eval {

// At the tuned step (0 when the report has none): eval/forgetting/<domain> and
// eval/forgetting/mean in percent, each with its interval's ends as .../low and .../high;
// eval/task_gain (percent) with its ends, when the report has a task. Non-finite figures are
// left out.
TensorBoardEvent report_event(const ForgettingReport& report);

// Writes report_event into <dir> as its own TensorBoard run (a fine-tune's <run_dir>/tb/eval,
// which a resumed fine-tune's rewrites of <run_dir>/tb leave alone); a later eval replaces it.
void write_report_events(const ForgettingReport& report, const std::filesystem::path& dir);

}  // namespace plinth::eval
