// plinth merge BASE TUNED --alpha A OUT.ckpt: the interpolation (1 − α)·base + α·tuned of a
// fine-tune and its base written as a checkpoint every command takes (model/weight_blend.h).
// For LoRA, TUNED is the run's tuned.ckpt (adapter merged), so the blend scales the adapter's
// update by α. α outside [0, 1] extrapolates and needs --extrapolate.
#include <fmt/format.h>

#include <cmath>

#include "command.h"
#include "model/hf_import.h"
#include "model/weight_blend.h"
#include "util/error.h"
#include "util/log.h"

namespace plinth {

namespace {

struct MergeArgs {
  std::string base, tuned, out;
  double alpha = std::nan("");
  bool extrapolate = false;
};

void run_merge(const MergeArgs& a) {
  if (!std::isfinite(a.alpha))
    throw BadInput("--alpha is required", "e.g. --alpha 0.5: halfway between base (0) and tuned (1)");
  if ((a.alpha < 0 || a.alpha > 1) && !a.extrapolate)
    throw BadInput(fmt::format("--alpha {} is outside [0, 1]: that extrapolates beyond the base or the tuned "
                               "model",
                               a.alpha),
                   "use an α in [0, 1], or add --extrapolate if extrapolating is what you want");
  const model::CheckpointContents base = model::read_model_checkpoint(a.base);
  const model::CheckpointContents tuned = model::read_model_checkpoint(a.tuned);
  if (auto kind = tuned.meta.find("kind"); kind != tuned.meta.end() && kind->second == "plinth-lora-adapter")
    throw BadInput(fmt::format("{} holds a LoRA adapter alone, not a model", a.tuned),
                   "merge the run's tuned.ckpt (the adapter merged into the base) instead");
  const model::CheckpointContents merged = model::merge_checkpoints(base, a.base, tuned, a.tuned, a.alpha);
  model::write_checkpoint(a.out, merged);
  log::info("wrote {}: (1 - {:g}) x {} + {:g} x {}", a.out, a.alpha, a.base, a.alpha, a.tuned);
  fmt::print("{}\n", a.out);
}

}  // namespace

void add_merge_command(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("merge", "Interpolate between a base and its fine-tune: (1 - α) base + α tuned");
  static MergeArgs args;
  cmd->add_option("base", args.base, "The base: a checkpoint or a Hugging Face model folder")->required();
  cmd->add_option("tuned", args.tuned, "The fine-tune of that base (a run's tuned.ckpt)")->required();
  cmd->add_option("out", args.out, "The checkpoint to write")->required();
  cmd->add_option("--alpha", args.alpha, "Weight of the tuned model: 0 = the base, 1 = the tuned model");
  cmd->add_flag("--extrapolate", args.extrapolate,
                "Allow α outside [0, 1] (beyond the tuned model or the base)");
  cmd->footer(
      "Example:\n"
      "  plinth merge runs/quickstart/checkpoints/best.ckpt runs/ft-full/tuned.ckpt --alpha 0.5 "
      "runs/ft-full/alpha-0.5.ckpt\n"
      "  plinth eval recipes/pretrain/quickstart.yaml --checkpoint runs/ft-full/alpha-0.5.ckpt\n"
      "Every weight becomes (1 - α) x base + α x tuned (WiSE-FT): less forgetting and less task gain as α\n"
      "falls. For LoRA, tuned.ckpt holds the adapter merged, so this scales the adapter's update by α.\n"
      "eval.interpolate: [0.25, 0.5, 0.75] in a fine-tuning recipe scores such blends in plinth eval\n"
      "without writing them. Both models must have the same shape and tokenizer. The output keeps the\n"
      "tuned checkpoint's meta and records merge_base, merge_tuned and merge_alpha.");
  cmd->callback([] { run_merge(args); });
}

}  // namespace plinth
