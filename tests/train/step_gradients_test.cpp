// The step's gradient over micro-batches is the gradient of the mean over ALL the step's scored
// targets: with task rows (few, varying scored targets per row) grad_accum = 4 of batch 8 gives
// the gradients of one batch of 32.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "data/task_data.h"
#include "train/step_gradients.h"
#include "train/task_batches.h"
#include "train_fixture.h"

using namespace plinth;

namespace {

// Prompts of 2 tokens, completions of 1 to 12 tokens: micro-batches of equal rows score very
// different numbers of targets.
std::vector<data::TokenizedExample> varied_examples() {
  std::vector<data::TokenizedExample> out;
  for (int i = 0; i < 32; ++i) {
    data::TokenizedExample e{{4, 10 + i}, {}};
    const int length = i % 4 == 0 ? 12 : 1 + i % 3;
    for (int k = 0; k < length; ++k) e.completion.push_back(5 + (i * 7 + k) % 50);
    out.push_back(e);
  }
  return out;
}

std::vector<torch::Tensor> gradients_of(const model::ModelConfig& config, int64_t rows, int accum,
                                        double& loss) {
  torch::manual_seed(3);
  model::Llama m(config);
  train::TaskBatches batches(varied_examples(), config.context, 0, false, /*seed=*/11);
  const train::StepLoss s = train::accumulate_gradients(*m, batches, rows, accum, torch::kCPU, false);
  loss = s.loss;
  CHECK(s.replayed == -1);
  std::vector<torch::Tensor> out;
  for (const auto& p : m->parameters()) out.push_back(p.grad().clone());
  return out;
}

}  // namespace

TEST_CASE("grad_accum 4 x batch 8 gives the gradients of batch 32 on task rows", "[train][finetune]") {
  test::TinyRun run;
  double loss_accum = 0, loss_whole = 0;
  const auto accum = gradients_of(run.config, 8, 4, loss_accum);
  const auto whole = gradients_of(run.config, 32, 1, loss_whole);
  CHECK(loss_accum == Approx(loss_whole).epsilon(1e-5));
  REQUIRE(accum.size() == whole.size());
  for (size_t i = 0; i < accum.size(); ++i) {
    CAPTURE(i);
    CHECK(torch::allclose(accum[i], whole[i], /*rtol=*/1e-4, /*atol=*/1e-6));
  }

  // The mean of the micro-batches' means (the old rule) is measurably another gradient here.
  torch::manual_seed(3);
  model::Llama m(run.config);
  train::TaskBatches batches(varied_examples(), run.config.context, 0, false, 11);
  for (int micro = 0; micro < 4; ++micro) {
    torch::Tensor x, y;
    batches.next(8, x, y);
    torch::Tensor hidden = m->hidden_states(x);
    torch::Tensor logits = torch::matmul(hidden, m->lm_head_weight().t());
    (torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), y.reshape(-1),
                                          torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-1)) /
     4)
        .backward();
  }
  double largest = 0;
  size_t i = 0;
  for (const auto& p : m->parameters())
    largest = std::max(largest, (p.grad() - whole[i++]).abs().max().item<double>());
  CHECK(largest > 1e-3);
}
