// The Fisher diagonal of a tiny trained-from-scratch model on real validation shards: what the
// estimate holds, its file beside the base checkpoint, and the errors a user meets when it is
// missing or belongs to another base.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>

#include "model/checkpoint_file.h"
#include "train/fisher.h"
#include "train/regularizers.h"
#include "train_fixture.h"
#include "util/error.h"

using namespace plinth;
namespace fs = std::filesystem;

namespace {

// Windows of the fixture's training shards, as a fine-tune draws them from the base's train data.
std::unique_ptr<train::MixtureBatches> train_windows(const test::TinyRun& run) {
  return std::make_unique<train::MixtureBatches>(
      data::DomainMixtureSampler(run.train_domains, run.config.context + 1, /*seed=*/5));
}

model::Llama seeded_model(const model::ModelConfig& config, uint64_t seed = 7) {
  torch::manual_seed(seed);
  return model::Llama(config);
}

std::string bad_input_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const BadInput& e) {
    return e.what();
  }
  return "(no BadInput)";
}

}  // namespace

TEST_CASE("the Fisher estimate: one non-negative finite entry per parameter, frozen ones too",
          "[train][finetune]") {
  test::TinyRun run;
  model::Llama m = seeded_model(run.config);
  m->named_parameters().find("model.embed_tokens.weight")->requires_grad_(false);
  m->train();
  auto batches = train_windows(run);
  train::FisherDiagonal f = train::estimate_fisher(*m, *batches, 12, torch::kCPU);

  CHECK(f.sequences == 12);
  CHECK(batches->cursor() == 12);  // drew 12 windows, one at a time
  CHECK(f.base_weights_hash == train::weights_hash(*m));
  std::vector<std::string> expected;
  for (const auto& item : m->named_parameters()) expected.push_back(item.key());
  std::vector<std::string> got;
  for (const auto& [name, v] : f.values) got.push_back(name);
  std::sort(expected.begin(), expected.end());
  CHECK(got == expected);  // the frozen embedding too: one file serves every fine-tune of the base
  CHECK(f.values.at("model.embed_tokens.weight").sum().item<double>() > 0);
  double total = 0;
  for (const auto& [name, v] : f.values) {
    INFO(name);
    CHECK(v.sizes() == m->named_parameters().find(name)->sizes());
    CHECK(v.scalar_type() == torch::kFloat32);
    CHECK(torch::isfinite(v).all().item<bool>());
    CHECK(v.min().item<double>() >= 0.0);
    total += v.sum().item<double>();
  }
  CHECK(total > 0);
  // No gradients left behind; the model's mode and what is frozen are as they were.
  for (const auto& p : m->parameters()) CHECK_FALSE(p.grad().defined());
  CHECK(m->is_training());
  CHECK_FALSE(m->named_parameters().find("model.embed_tokens.weight")->requires_grad());
  CHECK(m->named_parameters().find("model.norm.weight")->requires_grad());

  SECTION("it is the mean of the squared per-sequence gradients (a direct loop), for every parameter") {
    m->named_parameters().find("model.embed_tokens.weight")->requires_grad_(true);  // the loop needs its grad
    auto again = train_windows(run);
    std::map<std::string, torch::Tensor> direct;
    for (int s = 0; s < 5; ++s) {
      torch::Tensor x, y;
      again->next(1, x, y);  // one sequence: (1, T)
      // The plain model's loss (full logits, PyTorch's cross-entropy), not the estimator's path.
      torch::Tensor logits = torch::matmul(m->hidden_states(x), m->lm_head_weight().t());  // (1, T, V)
      torch::Tensor loss =
          torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}), y.reshape(-1));
      loss.backward();
      for (const auto& item : m->named_parameters()) {
        torch::Tensor g2 =
            item.value().grad().defined() ? item.value().grad().square() : torch::zeros_like(item.value());
        auto [it, fresh] = direct.emplace(item.key(), g2.clone());
        if (!fresh) it->second.add_(g2);
        item.value().mutable_grad() = torch::Tensor();
      }
    }
    train::FisherDiagonal five = train::estimate_fisher(*m, *train_windows(run), 5, torch::kCPU);
    for (const auto& [name, sum] : direct) {
      INFO(name);
      CHECK(torch::allclose(five.values.at(name), sum / 5, 1e-4, 1e-10));
    }
    // Not the squared gradient of the 5-sequence batch's mean loss (what an older plinth stored).
    auto batch = train_windows(run);
    torch::Tensor x, y;
    batch->next(5, x, y);
    m->loss(x, y).backward();
    // A handle, not a reference: named_parameters() returns a temporary dict (ASan: use after free).
    const torch::Tensor norm = *m->named_parameters().find("model.norm.weight");
    CHECK_FALSE(torch::allclose(five.values.at("model.norm.weight"), norm.grad().square(), 1e-2, 1e-10));
    for (const auto& p : m->parameters()) p.mutable_grad() = torch::Tensor();
  }
}

TEST_CASE("a Fisher file round-trips in the fine-tune's run directory", "[train][finetune]") {
  CHECK(train::fisher_path("runs/ft-ewc") == fs::path("runs/ft-ewc/fisher.ckpt"));

  test::TinyRun run;
  model::Llama m = seeded_model(run.config);
  train::FisherDiagonal f = train::estimate_fisher(*m, *train_windows(run), 4, torch::kCPU);
  f.data = "train shards of a, b; seed 0";
  f.base_checkpoint = (run.dir / "base/checkpoints/best.ckpt").string();
  f.tokenizer_hash = test::TinyRun::kTokenizerHash;
  const fs::path file = train::fisher_path(run.dir / "ft");
  train::write_fisher(file, f);
  REQUIRE(fs::exists(file));
  CHECK(model::read_checkpoint(file).meta.at("kind") == "plinth-fisher");

  train::FisherDiagonal back = train::read_fisher(file);
  CHECK(back.base_checkpoint == f.base_checkpoint);
  CHECK(back.tokenizer_hash == f.tokenizer_hash);
  CHECK(back.base_weights_hash == f.base_weights_hash);
  CHECK(back.sequences == 4);
  CHECK(back.data == f.data);
  REQUIRE(back.values.size() == f.values.size());
  for (const auto& [name, v] : f.values) {
    INFO(name);
    REQUIRE(back.values.count(name));
    CHECK(torch::equal(back.values.at(name), v));
  }
  CHECK_NOTHROW(train::check_fisher_fits(back, file, *m, test::TinyRun::kTokenizerHash));
  // The EWC regularizer takes it as it comes from the file.
  auto ewc = train::make_ewc(back, *m, 1.0);
  CHECK(ewc->penalty(*m).item<double>() == 0.0);
}

TEST_CASE("EWC without Fisher data, or with another base's, is bad input", "[train][finetune]") {
  test::TinyRun run;
  model::Llama m = seeded_model(run.config);

  SECTION("missing file") {
    const fs::path file = run.dir / "base/checkpoints/best.fisher.ckpt";
    std::string text = bad_input_text([&] { train::read_fisher(file); });
    CHECK_THAT(text, Catch::Contains("EWC needs a Fisher diagonal"));
    CHECK_THAT(text, Catch::Contains(file.string()));
    CHECK_THAT(text, Catch::Contains("hint:"));
    CHECK_THAT(text, Catch::Contains("ewc.lambda: 0"));
    CHECK_THROWS_AS(train::read_fisher(file), BadInput);
  }
  SECTION("a checkpoint that is not a Fisher file") {
    model::CheckpointContents c;
    c.meta["kind"] = "plinth-train";
    c.tensors.emplace_back("model/x", torch::zeros({2}));
    const fs::path file = run.dir / "not-fisher.ckpt";
    model::write_checkpoint(file, c);
    CHECK_THAT(bad_input_text([&] { train::read_fisher(file); }), Catch::Contains("is not a Fisher file"));
  }

  train::FisherDiagonal f = train::estimate_fisher(*m, *train_windows(run), 2, torch::kCPU);
  f.base_checkpoint = "runs/base/checkpoints/best.ckpt";
  f.tokenizer_hash = test::TinyRun::kTokenizerHash;
  const fs::path file = run.dir / "best.fisher.ckpt";

  SECTION("another tokenizer") {
    std::string text = bad_input_text([&] { train::check_fisher_fits(f, file, *m, 0x42); });
    CHECK_THAT(text, Catch::Contains("another tokenizer"));
    CHECK_THAT(text, Catch::Contains("runs/base/checkpoints/best.ckpt"));
  }
  SECTION("another model shape") {
    model::ModelConfig wider = run.config;
    wider.dim = 64;
    wider.ffn = 128;
    model::Llama other = seeded_model(wider);
    std::string text = bad_input_text([&] { train::check_fisher_fits(f, file, *other, 0); });
    CHECK_THAT(text, Catch::Contains("does not fit the model"));
    CHECK_THAT(text, Catch::Contains("model.norm.weight [32] vs [64]"));
  }
  SECTION("other weights of the same shape") {
    model::Llama other = seeded_model(run.config, 8);
    CHECK_THAT(
        bad_input_text([&] { train::check_fisher_fits(f, file, *other, test::TinyRun::kTokenizerHash); }),
        Catch::Contains("other weights"));
  }
}
