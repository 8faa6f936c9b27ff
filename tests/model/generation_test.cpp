// Decoding: the KV cache changes nothing but speed, sampling is reproducible from its seed,
// and the limits (context, stop callback) hold.
#include "model/generation.h"

#include <catch2/catch.hpp>

#include "util/error.h"

using plinth::BadInput;
using plinth::model::generate;
using plinth::model::GenerateOptions;
using plinth::model::Llama;
using plinth::model::ModelConfig;

namespace {

Llama random_model(uint64_t seed) {
  ModelConfig c;
  c.vocab_size = 128;
  c.dim = 64;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 2;
  c.context = 48;
  // a larger init spreads the logits, so greedy choices are not near-ties
  c.init_std = 0.1;
  torch::manual_seed(seed);
  return Llama(c);
}

// Greedy decoding without a cache: the whole sequence through forward() at every step.
std::vector<int64_t> greedy_uncached(Llama& model, std::vector<int64_t> seq, int n) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> out;
  for (int i = 0; i < n; ++i) {
    auto idx = torch::tensor(seq, torch::kInt64).unsqueeze(0);  // (1, t)
    auto logits = model->forward(idx);                          // (1, t, V)
    int64_t next = logits[0][logits.size(1) - 1].argmax().item<int64_t>();
    out.push_back(next);
    seq.push_back(next);
  }
  return out;
}

}  // namespace

TEST_CASE("greedy decoding with the KV cache equals recomputing the full sequence", "[model][generate]") {
  Llama model = random_model(11);
  const std::vector<int64_t> prompt{5, 17, 99, 3, 42};
  GenerateOptions greedy;
  greedy.temperature = 0;
  greedy.max_new_tokens = 20;
  auto cached = generate(model, prompt, greedy);
  CHECK(cached.size() == 20);
  CHECK(cached == greedy_uncached(model, prompt, 20));

  GenerateOptions top1;
  top1.top_k = 1;
  top1.max_new_tokens = 20;
  top1.seed = 1234;
  CHECK(generate(model, prompt, top1) == cached);
}

TEST_CASE("sampling is reproducible from the seed", "[model][generate]") {
  Llama model = random_model(12);
  const std::vector<int64_t> prompt{1, 2, 3};
  GenerateOptions o;
  o.max_new_tokens = 30;
  o.temperature = 1.5;
  o.seed = 99;
  auto a = generate(model, prompt, o);
  torch::manual_seed(12345);  // the global generator plays no part
  auto b = generate(model, prompt, o);
  CHECK(a == b);
  o.seed = 100;
  CHECK(generate(model, prompt, o) != a);

  o.top_k = 5;
  o.top_p = 0.9;
  auto c = generate(model, prompt, o);
  CHECK(c == generate(model, prompt, o));
  for (int64_t id : c) CHECK((id >= 0 && id < 128));
}

TEST_CASE("top-p keeps only the most likely tokens", "[model][generate]") {
  Llama model = random_model(13);
  const std::vector<int64_t> prompt{7, 8};
  GenerateOptions greedy;
  greedy.temperature = 0;
  greedy.max_new_tokens = 1;
  // a tiny top_p leaves only the argmax
  GenerateOptions nucleus;
  nucleus.top_p = 1e-6;
  nucleus.max_new_tokens = 1;
  for (uint64_t seed = 0; seed < 5; ++seed) {
    nucleus.seed = seed;
    CHECK(generate(model, prompt, nucleus) == generate(model, prompt, greedy));
  }
}

TEST_CASE("generation stops at the stop callback and at the context", "[model][generate]") {
  Llama model = random_model(14);
  GenerateOptions o;
  o.temperature = 0;
  o.max_new_tokens = 100;
  auto out = generate(model, {1, 2, 3}, o);
  CHECK(out.size() == 45);  // 3 + 45 = context 48

  int calls = 0;
  auto stopped = generate(model, {1, 2, 3}, o, [&](const std::vector<int64_t>& g) {
    ++calls;
    return g.size() == 4;
  });
  CHECK(stopped.size() == 4);
  CHECK(calls == 4);
  CHECK(std::vector<int64_t>(out.begin(), out.begin() + 4) == stopped);

  o.max_new_tokens = 0;
  CHECK(generate(model, {1}, o).empty());
}

TEST_CASE("bad prompts and options are bad input", "[model][generate]") {
  Llama model = random_model(15);
  GenerateOptions o;
  CHECK_THROWS_AS(generate(model, std::vector<int64_t>(49, 1), o), BadInput);
  CHECK_THROWS_AS(generate(model, {}, o), BadInput);
  CHECK_THROWS_AS(generate(model, {128}, o), BadInput);
  o.temperature = -1;
  CHECK_THROWS_AS(generate(model, {1}, o), BadInput);
  o.temperature = 1;
  o.top_p = 0;
  CHECK_THROWS_AS(generate(model, {1}, o), BadInput);
  try {
    generate(model, std::vector<int64_t>(49, 1), GenerateOptions{});
  } catch (const BadInput& e) {
    REQUIRE(e.problems().size() == 1);
    CHECK_FALSE(e.problems()[0].hint.empty());
  }
}

TEST_CASE("rows sampled together: reproducible, each ends at its end token, the cache kept per row",
          "[model][generate]") {
  Llama model = random_model(14);
  const std::vector<int64_t> prompt{9};
  GenerateOptions greedy;
  greedy.temperature = 0;
  greedy.max_new_tokens = 12;
  // Greedy rows are all the single-row result.
  for (const auto& row : plinth::model::generate_rows(model, prompt, 3, greedy, -1))
    CHECK(row == generate(model, prompt, greedy));

  // Sampling among each position's 3 most likely tokens, ending a row at a token the first
  // steps often pick: rows end at different steps, and the ended ones leave the batch and the
  // cache. Every token must be among the top 3 of its own row's uncached logits: a cache row
  // left behind or mixed up would score another row's text.
  GenerateOptions o;
  o.top_k = 3;
  o.max_new_tokens = 40;
  o.seed = 5;
  const int64_t end_id = generate(model, prompt, greedy)[1];
  const auto rows = plinth::model::generate_rows(model, prompt, 16, o, end_id);
  CHECK(rows == plinth::model::generate_rows(model, prompt, 16, o, end_id));
  size_t ended = 0, full = 0;
  torch::NoGradGuard no_grad;
  for (const auto& row : rows) {
    REQUIRE(!row.empty());
    for (size_t i = 0; i + 1 < row.size(); ++i) CHECK(row[i] != end_id);  // only ever the last
    if (row.back() == end_id)
      ++ended;
    else {
      CHECK(row.size() == 40);
      ++full;
    }
    std::vector<int64_t> seq = prompt;
    seq.insert(seq.end(), row.begin(), row.end());
    const auto logits = model->forward(torch::tensor(seq, torch::kInt64).unsqueeze(0))[0];  // (t, V)
    const auto top3 = std::get<1>(logits.topk(3, 1));                                       // (t, 3)
    for (size_t i = 0; i < row.size(); ++i) CHECK(top3[prompt.size() - 1 + i].eq(row[i]).any().item<bool>());
  }
  CHECK(ended >= 2);
  CHECK(full >= 2);
}
