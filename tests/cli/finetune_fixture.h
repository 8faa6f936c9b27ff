// A scratch directory with a tiny base to fine-tune (one block, 32 wide, four pretraining steps
// on the CLI fixture's licence corpus) and the recipes of fine-tunes of it: what the fine-tuning
// CLI tests share.
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "cli_fixture.h"

namespace plinth::test {

// A fine-tune of runs/base on task.tsv, four steps, scored on a small sample; `method_lines` go
// under finetune: (e.g. "  method: full\n").
inline std::string finetune_recipe(const std::string& name, const std::string& method_lines) {
  return "include: data.yaml\nname: " + name + "\nfinetune:\n  base: runs/base\n" + method_lines +
         "task:\n  format: tsv\n  path: task.tsv\n  val_fraction: 0.2\n  test_fraction: 0.2\n"
         "train:\n  steps: 4\n  warmup_steps: 1\n  batch_size: 4\n  eval_every: 2\n  checkpoint_every: 2\n"
         "  precision: fp32\n  device: cpu\n"
         "eval:\n  max_tokens: 256\n  task_examples: 4\n  task_samples: 2\n"
         "gate:\n  max_forgetting: 1000%\n";
}

struct FinetuneFixture : CliFixture {
  FinetuneFixture() {
    recipe(CliFixture::task_data_recipe(), "data.yaml");
    recipe(
        "include: data.yaml\nname: base\nmodel: {dim: 32, layers: 1, heads: 2, context: 32}\n"
        "train: {steps: 4, warmup_steps: 1, batch_size: 2, eval_every: 2, eval_tokens: 256, "
        "checkpoint_every: 2}\n",
        "base.yaml");
    dir().write("task.tsv", CliFixture::task_tsv());
  }
  // tokenizer, shards and the tiny base, once per test case
  void make_base() const {
    for (const char* cmd :
         {"tokenizer train base.yaml", "prepare base.yaml", "pretrain base.yaml --threads 2"}) {
      auto r = plinth(cmd);
      INFO(cmd << "\n" << r.output);
      REQUIRE(r.exit_code == 0);
    }
  }
};

}  // namespace plinth::test
