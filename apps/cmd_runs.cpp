// plinth runs [DIR] [--json]: the runs under a directory (default runs/), one line each; the
// listing is the library's (finetune/run_listing.h). No torch here.
#include <fmt/format.h>

#include <filesystem>
#include <string>

#include "command.h"
#include "finetune/run_listing.h"

namespace plinth {

void add_runs_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("runs", "List the runs under a directory: kind, method, state, results");
  static std::string dir;
  static bool as_json = false;
  cmd->add_option("dir", dir, "The folder holding run directories (default: runs)");
  cmd->add_flag("--json", as_json, "One JSON array of the runs, for scripts");
  cmd->footer(
      "Reads what the runs wrote (recipe.yaml, metrics.jsonl, checkpoint names and headers,\n"
      "report.json, a sweep point's sweep_point.json), never a model.\n"
      "Kind: pretrain, fine-tune, or sweep point (a point of plinth sweep or a pipeline's sweep:).\n"
      "State: finished, evaluated, interrupted at step N, not started, or stale because ... when\n"
      "plinth run would redo the run: its recipe (read again from the file and overrides its\n"
      "checkpoints record) trains differently now, or its base, task file or shards changed since\n"
      "its newest checkpoint. The base is hashed only when one of its files is newer than that\n"
      "checkpoint, the task file likewise; the shards are compared by their manifests. Whether a\n"
      "report is up to date is not checked (that hashes tuned.ckpt): plinth run says so. Paths in\n"
      "recipes are relative to the working directory: run it where you run plinth run.\n"
      "A run whose files do not parse is listed as damaged, with the reason.\n"
      "Example:\n  plinth runs\n  plinth runs runs/ --json");
  cmd->callback([] {
    const std::filesystem::path root =
        dir.empty() ? std::filesystem::path("runs") : std::filesystem::path(dir);
    const auto rows = finetune::list_runs(root);
    fmt::print("{}", as_json ? finetune::runs_json(rows) : finetune::runs_table(rows, root));
  });
}

}  // namespace plinth
