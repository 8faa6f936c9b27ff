// The step's gradient over micro-batches is the gradient of the mean over ALL the step's scored
// targets: with task rows (few, varying scored targets per row) grad_accum = 4 of batch 8 gives
// the gradients of one batch of 32.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "data/task_data.h"
#include "model/lora.h"
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

namespace {

// The step's gradients with distillation to `reference` (null: the model's LoRA adapters off).
std::vector<torch::Tensor> distilled_gradients(model::Llama& m, model::LlamaImpl* reference, int64_t rows,
                                               int accum, double weight, train::StepLoss& out) {
  train::TaskBatches batches(varied_examples(), m->config().context, 0, false, /*seed=*/11);
  train::DistillTerm distill;
  distill.weight = weight;
  distill.reference = reference;
  for (const auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
  out = train::accumulate_gradients(*m, batches, rows, accum, torch::kCPU, false, nullptr, &distill);
  std::vector<torch::Tensor> grads;
  for (const auto& p : m->parameters())
    grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
  return grads;
}

}  // namespace

TEST_CASE("distillation adds weight x the mean KL to the base over the task rows' positions",
          "[train][finetune][distill]") {
  test::TinyRun run;
  torch::manual_seed(3);
  model::Llama m(run.config);
  torch::manual_seed(4);
  model::Llama base(run.config);  // another model: the KL is far from 0
  base->eval();

  train::StepLoss accum_loss, whole_loss;
  const auto accum = distilled_gradients(m, base.get(), 8, 4, 0.5, accum_loss);
  const auto whole = distilled_gradients(m, base.get(), 32, 1, 0.5, whole_loss);
  CHECK(accum_loss.distill_kl == Approx(whole_loss.distill_kl).epsilon(1e-5));
  CHECK(accum_loss.distilled == whole_loss.distilled);
  for (size_t i = 0; i < accum.size(); ++i) CHECK(torch::allclose(accum[i], whole[i], 1e-4, 1e-6));

  // The same by autograd on full logits: CE mean over the scored targets + 0.5 x KL summed over
  // every position whose next token is real (prompts included), divided by their count.
  train::TaskBatches batches(varied_examples(), run.config.context, 0, false, 11);
  torch::Tensor x, y;
  batches.next(32, x, y);
  const torch::Tensor positions = batches.last_task_positions();  // (32, T)
  CHECK(positions.sum().item<int64_t>() == whole_loss.distilled);
  CHECK(positions.sum().item<int64_t>() > (y >= 0).sum().item<int64_t>());  // the prompts count too
  for (const auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
  const torch::Tensor logp = torch::matmul(m->hidden_states(x), m->lm_head_weight().t()).log_softmax(-1);
  torch::Tensor logq;
  {
    torch::NoGradGuard no_grad;
    logq = torch::matmul(base->hidden_states(x), base->lm_head_weight().t()).log_softmax(-1);
  }
  const torch::Tensor kl = (logq.exp() * (logq - logp)).sum(-1).masked_select(positions);
  const torch::Tensor ce =
      torch::nn::functional::nll_loss(logp.reshape({-1, logp.size(-1)}), y.reshape(-1),
                                      torch::nn::functional::NLLLossFuncOptions().ignore_index(-1));
  (ce + 0.5 * kl.mean()).backward();
  CHECK(whole_loss.distill_kl == Approx(kl.mean().item<double>()).epsilon(1e-5));
  CHECK(whole_loss.loss == Approx(ce.item<double>()).epsilon(1e-5));
  size_t i = 0;
  for (const auto& p : m->parameters()) CHECK(torch::allclose(p.grad(), whole[i++], 1e-4, 1e-6));

  // Distilling to a copy of the model itself: KL 0, the gradient of the loss alone.
  torch::manual_seed(3);
  model::Llama same(run.config);
  train::StepLoss self_loss;
  const auto self = distilled_gradients(m, same.get(), 32, 1, 0.5, self_loss);
  double plain_loss = 0;
  const auto plain = gradients_of(run.config, 32, 1, plain_loss);
  CHECK(std::abs(self_loss.distill_kl) < 1e-6);
  for (size_t k = 0; k < plain.size(); ++k) CHECK(torch::allclose(self[k], plain[k], 1e-4, 1e-6));
}

TEST_CASE("a LoRA fine-tune distils to its own weights with the adapters off", "[train][finetune][distill]") {
  test::TinyRun run;
  torch::manual_seed(3);
  model::Llama m(run.config);
  torch::manual_seed(3);
  model::Llama base(run.config);  // the same weights, without adapters
  base->eval();
  model::attach_lora(*m, model::LoraOptions{}, 5);
  {
    torch::NoGradGuard no_grad;
    for (auto& [name, p] : model::lora_parameters(*m)) p.normal_(0.0, 0.2);  // B != 0: the adapters matter
  }
  train::StepLoss off_loss, copy_loss;
  const auto off = distilled_gradients(m, nullptr, 16, 2, 1.0, off_loss);
  const auto copy = distilled_gradients(m, base.get(), 16, 2, 1.0, copy_loss);
  CHECK(off_loss.distill_kl > 1e-4);
  CHECK(off_loss.distill_kl == Approx(copy_loss.distill_kl).epsilon(1e-5));
  for (size_t i = 0; i < off.size(); ++i) CHECK(torch::allclose(off[i], copy[i], 1e-4, 1e-6));
  CHECK(m->is_training());  // the reference pass's eval mode is undone
  // The adapters are on again after the step: the model's output still differs from the base's.
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randint(0, run.kVocab, {1, 8}, torch::kInt64);
  CHECK_FALSE(torch::allclose(m->hidden_states(x), base->hidden_states(x)));
}
