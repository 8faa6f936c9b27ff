// plinth: one binary, one subcommand per stage. The only place that turns errors into
// messages and exit codes: 0 ok, 1 failure, 2 bad input (recipe, corpus, shard, argument),
// 128 + N stopped by signal N after saving (130 Ctrl-C, 143 SIGTERM).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "command.h"
#include "model/torch_runtime.h"
#include "tokenizer/tokenizer.h"
#include "util/allocator.h"
#include "util/error.h"
#include "util/log.h"

namespace {

std::string version_text() {
  std::string spm;
  try {
    spm = plinth::tokenizer::sentencepiece_version();
  } catch (const std::exception&) {
    spm = "unavailable";
  }
  return fmt::format("plinth {} (LibTorch {}, sentencepiece {})", PLINTH_VERSION,
                     plinth::model::torch_version(), spm);
}

}  // namespace

int main(int argc, char** argv) {
  plinth::keep_freed_memory_for_reuse();
  CLI::App app{
      "plinth: train a tokenizer, pretrain on a mixture of domains, fine-tune, and measure "
      "what the fine-tune forgot."};
  app.require_subcommand(1);
  app.add_flag_callback(
      "-q,--quiet", [] { plinth::log::verbosity() = 0; }, "Only warnings and errors on stderr");
  app.add_flag_callback(
      "-v,--verbose", [] { plinth::log::verbosity() = 2; }, "More detail on stderr");
  app.add_flag_callback(
      "--version", [] { throw CLI::CallForVersion(version_text(), 0); },
      "Print the version of plinth and its libraries");
  app.footer(
      "Examples:\n"
      "  plinth tokenizer train recipes/data/debian.yaml\n"
      "  plinth prepare recipes/data/debian.yaml\n"
      "  plinth inspect recipes/data/debian.yaml\n"
      "  plinth pretrain recipes/pretrain/quickstart.yaml\n"
      "  plinth eval recipes/pretrain/quickstart.yaml\n"
      "  plinth finetune recipes/finetune/lora.yaml\n"
      "  plinth eval recipes/finetune/lora.yaml          # base vs tuned: report.json/.md/.svg\n"
      "  plinth report runs/ft-full runs/ft-lora         # compare methods\n"
      "  plinth gate runs/ft-lora/report.json --max-forgetting 5%\n"
      "  plinth run recipes/pipelines/quickstart.yaml    # all of it, resumable\n"
      "  plinth recipes                                  # what an installed plinth ships\n"
      "Each stage: plinth <command> RECIPE.yaml [key.path=value ...]; see plinth <command> --help.");
  plinth::add_tokenizer_command(app);
  plinth::add_prepare_command(app);
  plinth::add_inspect_command(app);
  plinth::add_pretrain_command(app);
  plinth::add_finetune_command(app);
  plinth::add_eval_command(app);
  plinth::add_generate_command(app);
  plinth::add_export_command(app);
  plinth::add_bench_command(app);
  plinth::add_report_command(app);
  plinth::add_gate_command(app);
  plinth::add_run_command(app);
  plinth::add_recipes_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    fmt::print("{}\n", e.what());
    return 0;
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const plinth::BadInput& e) {
    fmt::print(stderr, "error: {}\n", e.what());
    return 2;
  } catch (const plinth::StoppedBySignal& e) {
    fmt::print(stderr, "{}\n", e.what());
    return e.exit_code();
  } catch (const plinth::Failure& e) {
    fmt::print(stderr, "failed: {}\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "internal error: {}\n", e.what());
    return 1;
  }
  return 0;
}
