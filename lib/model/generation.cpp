#include "model/generation.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>

#include <limits>

#include "util/error.h"

namespace plinth::model {

namespace {

void check_options(const GenerateOptions& o) {
  std::vector<Problem> problems;
  auto bad = [&](std::string key, std::string message, std::string hint) {
    Problem p;
    p.key = std::move(key);
    p.message = std::move(message);
    p.hint = std::move(hint);
    problems.push_back(std::move(p));
  };
  if (o.max_new_tokens < 0)
    bad("max_new_tokens", fmt::format("{} is negative", o.max_new_tokens), "use 0 or more");
  if (!(o.temperature >= 0))
    bad("temperature", fmt::format("{} is not >= 0", o.temperature),
        "use 0 for greedy decoding, 1 for plain sampling");
  if (o.top_k < 0) bad("top_k", fmt::format("{} is negative", o.top_k), "use 0 to turn top-k off");
  if (!(o.top_p > 0 && o.top_p <= 1))
    bad("top_p", fmt::format("{} is not in (0, 1]", o.top_p), "use 1 to turn top-p off");
  if (!problems.empty()) throw BadInput(std::move(problems));
}

// logits (V) float32 on the CPU -> the chosen token id.
int64_t pick(const torch::Tensor& logits, const GenerateOptions& o, at::Generator& gen) {
  if (o.temperature == 0) return logits.argmax().item<int64_t>();
  const auto minus_inf = -std::numeric_limits<float>::infinity();
  auto scores = logits / o.temperature;  // (V)
  if (o.top_k > 0 && o.top_k < scores.size(0)) {
    auto kth = std::get<0>(scores.topk(o.top_k)).min();  // the k-th largest score
    scores = scores.masked_fill(scores < kth, minus_inf);
  }
  if (o.top_p < 1) {
    auto sorted = scores.sort(/*dim=*/0, /*descending=*/true);
    auto& values = std::get<0>(sorted);   // (V) descending
    auto& indices = std::get<1>(sorted);  // (V)
    auto probs = values.softmax(0);
    // drop a token when the more likely ones already reach top_p; the first always stays
    auto drop = (probs.cumsum(0) - probs) > o.top_p;
    scores = scores.scatter(0, indices, values.masked_fill(drop, minus_inf));
  }
  return torch::multinomial(scores.softmax(0), 1, /*replacement=*/false, gen).item<int64_t>();
}

}  // namespace

std::vector<int64_t> generate(Llama& model, const std::vector<int64_t>& prompt,
                              const GenerateOptions& options,
                              const std::function<bool(const std::vector<int64_t>& generated)>& stop) {
  check_options(options);
  const ModelConfig& c = model->config();
  if (prompt.empty()) throw BadInput("the prompt is empty", "give at least one token (e.g. the BOS token)");
  if (static_cast<int64_t>(prompt.size()) > c.context)
    throw BadInput(fmt::format("the prompt has {} tokens, more than the model's context of {}", prompt.size(),
                               c.context),
                   fmt::format("shorten the prompt to at most {} tokens (e.g. keep its last {})", c.context,
                               c.context - 1));
  for (int64_t id : prompt)
    if (id < 0 || id >= c.vocab_size)
      throw BadInput(fmt::format("prompt token {} is outside the vocabulary [0, {})", id, c.vocab_size),
                     "encode the prompt with the tokenizer the model was trained with");

  torch::NoGradGuard no_grad;
  const auto device = model->parameters().front().device();
  at::Generator gen = at::detail::createCPUGenerator(options.seed);
  auto ids = torch::tensor(prompt, torch::kInt64).to(device).unsqueeze(0);  // (1, P)

  KVCache cache;
  std::vector<int64_t> generated;
  const auto room = static_cast<size_t>(c.context) - prompt.size();
  const auto limit = std::min(static_cast<size_t>(options.max_new_tokens), room);
  if (limit == 0) return generated;
  auto logits = model->forward_cached(ids, cache);  // (1, P, V)
  while (true) {
    auto last = logits[0][logits.size(1) - 1].to(torch::kCPU);  // (V) float32
    generated.push_back(pick(last, options, gen));
    if (generated.size() >= limit || (stop && stop(generated))) break;
    auto next =
        torch::full({1, 1}, generated.back(), torch::TensorOptions().dtype(torch::kInt64).device(device));
    logits = model->forward_cached(next, cache);  // (1, 1, V)
  }
  return generated;
}

}  // namespace plinth::model
