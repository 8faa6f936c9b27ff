// A scratch project for fine-tuning through the real binary: the task-ready data recipe
// (data.yaml), a tiny base (base.yaml: 32 wide, one layer, four steps) and a task file of word
// pairs (task.tsv); finetune_recipe() writes a fine-tune of that base. Shared by the fine-tuning,
// pipeline and sweep tests.
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "cli_fixture.h"

namespace plinth::test {

// A four-step fine-tune of runs/base on task.tsv; `method_lines` is the rest of its finetune:
// section (indented by two spaces), e.g. "  method: full\n".
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
    recipe(task_data_recipe(), "data.yaml");
    recipe(
        "include: data.yaml\nname: base\nmodel: {dim: 32, layers: 1, heads: 2, context: 32}\n"
        "train: {steps: 4, warmup_steps: 1, batch_size: 2, eval_every: 2, eval_tokens: 256, "
        "checkpoint_every: 2}\n",
        "base.yaml");
    dir().write("task.tsv", task_tsv());
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
