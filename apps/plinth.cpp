// plinth: one binary, one subcommand per stage. The only place that turns errors into
// messages and exit codes: 0 ok, 1 failure, 2 bad input (recipe, corpus, shard, argument),
// 128 + N stopped by signal N after saving (130 Ctrl-C, 143 SIGTERM).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string_view>
#include <vector>

#include "blas_kernel_switch.h"
#include "build_info.h"
#include "command.h"
#include "model/torch_runtime.h"
#include "tokenizer/tokenizer.h"
#include "util/allocator.h"
#include "util/blas_kernel.h"
#include "util/error.h"
#include "util/log.h"
#include "util/text.h"

namespace {

std::string version_text() {
  std::string spm;
  try {
    spm = plinth::tokenizer::sentencepiece_version();
  } catch (const std::exception&) {
    spm = "unavailable";
  }
  const std::string blas = plinth::blas::openblas_version();
  const std::string blas_text =
      blas.empty() ? "" : fmt::format(", {} with its {} kernel", blas, plinth::blas::openblas_core());
  return fmt::format("plinth {} (LibTorch {}, sentencepiece {}{})", plinth::plinth_version(),
                     plinth::model::torch_version(), spm, blas_text);
}

// CLI11 answers `plinth frobnicate x.yaml` and `plinth tokenizer x.yaml` with "A subcommand is
// required", naming nothing: say which word is not a command, and which commands there are.
void check_command_words(const CLI::App& app, int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    for (const char* flag : {"-h", "--help", "--help-all", "--version"})
      if (std::string_view(argv[i]) == flag) return;
  const CLI::App* level = &app;
  std::string path = "plinth";
  int i = 1;
  while (level->get_require_subcommand_min() > 0) {
    while (i < argc && argv[i][0] == '-') ++i;  // the top level's flags take no values
    std::vector<std::string> names;
    for (const CLI::App* sub : level->get_subcommands({})) names.push_back(sub->get_name());
    if (i == argc)
      throw plinth::BadInput(fmt::format("{}: which command? one of: {}", path, fmt::join(names, ", ")),
                             fmt::format("see {} --help", path));
    const std::string word = argv[i];
    const CLI::App* next = nullptr;
    for (const CLI::App* sub : level->get_subcommands({}))
      if (sub->check_name(word)) next = sub;
    if (!next) {
      std::string hint = plinth::did_you_mean(word, names);
      throw plinth::BadInput(
          fmt::format("{}: '{}' is not a command; the commands are: {}", path, word, fmt::join(names, ", ")),
          hint.empty() ? fmt::format("see {} --help", path) : hint);
    }
    level = next;
    path += " " + word;
    ++i;
  }
}

// Every command, in the order `plinth --help` lists them.
void add_commands(CLI::App& app) {
  plinth::add_tokenizer_command(app);
  plinth::add_prepare_command(app);
  plinth::add_inspect_command(app);
  plinth::add_pretrain_command(app);
  plinth::add_finetune_command(app);
  plinth::add_eval_command(app);
  plinth::add_attribute_command(app);
  plinth::add_merge_command(app);
  plinth::add_generate_command(app);
  plinth::add_export_command(app);
  plinth::add_import_command(app);
  plinth::add_score_command(app);
  plinth::add_suite_command(app);
  plinth::add_bench_command(app);
  plinth::add_report_command(app);
  plinth::add_gate_command(app);
  plinth::add_run_command(app);
  plinth::add_sweep_command(app);
  plinth::add_launch_command(app);
  plinth::add_recipes_command(app);
  plinth::add_runs_command(app);
}

}  // namespace

int main(int argc, char** argv) {
  plinth::use_best_blas_kernel(argc, argv);  // first: it may start plinth again
  plinth::keep_freed_memory_for_reuse();
  plinth::stop_with_pipeline_parent();
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
      "  plinth attribute recipes/finetune/full.yaml     # which layers carry the forgetting\n"
      "  plinth merge BASE runs/ft-full/tuned.ckpt --alpha 0.5 half.ckpt   # interpolate\n"
      "  plinth report runs/ft-full runs/ft-lora         # compare methods\n"
      "  plinth gate runs/ft-lora/report.json --max-forgetting 5%\n"
      "  plinth run recipes/pipelines/quickstart.yaml    # all of it, resumable\n"
      "  plinth sweep recipes/finetune/lora.yaml --grid train.lr=2e-4,5e-4   # the trade-off frontier\n"
      "  plinth recipes                                  # what an installed plinth ships\n"
      "  plinth launch -n 2 pretrain recipes/pretrain/quickstart.yaml   # data-parallel (or torchrun)\n"
      "Each stage: plinth <command> RECIPE.yaml [key.path=value ...]; see plinth <command> --help.");
  add_commands(app);

  try {
    check_command_words(app, argc, argv);
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
    if (*e.what()) fmt::print(stderr, "{}\n", e.what());  // data-parallel ranks but 0 stop silently
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
