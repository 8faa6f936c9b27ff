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

// logits (B, V) float32 on the CPU -> the chosen token id of each row (B). The rows draw from
// one generator in turn (multinomial over the batch): the same seed and rows, the same tokens.
torch::Tensor pick(const torch::Tensor& logits, const GenerateOptions& o, at::Generator& gen) {
  if (o.temperature == 0) return logits.argmax(1);
  const auto minus_inf = -std::numeric_limits<float>::infinity();
  auto scores = logits / o.temperature;  // (B, V)
  if (o.top_k > 0 && o.top_k < scores.size(1)) {
    auto kth = std::get<0>(scores.topk(o.top_k, 1)).narrow(1, o.top_k - 1, 1);  // (B, 1): k-th largest
    scores = scores.masked_fill(scores < kth, minus_inf);
  }
  if (o.top_p < 1) {
    auto sorted = scores.sort(/*dim=*/1, /*descending=*/true);
    auto& values = std::get<0>(sorted);   // (B, V) descending
    auto& indices = std::get<1>(sorted);  // (B, V)
    auto probs = values.softmax(1);
    // drop a token when the more likely ones already reach top_p; the first always stays
    auto drop = (probs.cumsum(1) - probs) > o.top_p;
    scores = scores.scatter(1, indices, values.masked_fill(drop, minus_inf));
  }
  return torch::multinomial(scores.softmax(1), 1, /*replacement=*/false, gen).squeeze(1);
}

void check_prompt(const ModelConfig& c, const std::vector<int64_t>& prompt) {
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
}

// The decoding loop of both entry points: `rows` copies of `prompt` in one batch and one KV
// cache (same length, so no padding or masks). A row ends when done(row, its tokens) says so;
// ended rows leave the batch and the cache (what is left runs faster). Ends when every row has,
// at `limit` new tokens, or at the context.
std::vector<std::vector<int64_t>> decode(
    Llama& model, const std::vector<int64_t>& prompt, int64_t rows, const GenerateOptions& options,
    const std::function<bool(int64_t row, const std::vector<int64_t>& generated)>& done) {
  check_options(options);
  const ModelConfig& c = model->config();
  check_prompt(c, prompt);
  torch::NoGradGuard no_grad;
  const auto device = model->parameters().front().device();
  at::Generator gen = at::detail::createCPUGenerator(options.seed);
  auto ids = torch::tensor(prompt, torch::kInt64).to(device).unsqueeze(0).expand({rows, -1}).contiguous();
  std::vector<std::vector<int64_t>> generated(static_cast<size_t>(rows));
  const auto room = static_cast<size_t>(c.context) - prompt.size();
  const auto limit = std::min(static_cast<size_t>(options.max_new_tokens), room);
  if (limit == 0) return generated;
  std::vector<int64_t> open(static_cast<size_t>(rows));  // batch position -> row, of the rows still going
  for (int64_t r = 0; r < rows; ++r) open[r] = r;
  KVCache cache;
  auto logits = model->forward_cached(ids, cache);  // (B, P, V)
  for (size_t made = 1;; ++made) {
    // (B, V) float32 on the CPU: the last position's scores
    auto last = logits.select(1, logits.size(1) - 1).to(torch::kCPU, torch::kFloat32);
    torch::Tensor next = pick(last, options, gen);  // (B) int64
    const auto* picked = next.data_ptr<int64_t>();
    std::vector<int64_t> keep;  // batch positions of the rows that go on
    for (size_t i = 0; i < open.size(); ++i) {
      std::vector<int64_t>& g = generated[open[i]];
      g.push_back(picked[i]);
      if (!(done && done(open[i], g))) keep.push_back(static_cast<int64_t>(i));
    }
    if (made >= limit || keep.empty()) break;
    if (keep.size() < open.size()) {
      const auto index = torch::tensor(keep, torch::kInt64);
      next = next.index_select(0, index);
      const auto on_device = index.to(device);
      for (auto* layers : {&cache.k, &cache.v})
        for (auto& t : *layers) t = t.index_select(0, on_device);  // (B', kv_heads, t, head_dim)
      std::vector<int64_t> still;
      for (int64_t i : keep) still.push_back(open[i]);
      open = std::move(still);
    }
    logits = model->forward_cached(next.unsqueeze(1).to(device), cache);  // (B', 1, V)
  }
  return generated;
}

}  // namespace

std::vector<int64_t> generate(Llama& model, const std::vector<int64_t>& prompt,
                              const GenerateOptions& options,
                              const std::function<bool(const std::vector<int64_t>& generated)>& stop) {
  auto one = stop ? std::function<bool(int64_t, const std::vector<int64_t>&)>(
                        [&stop](int64_t, const std::vector<int64_t>& g) { return stop(g); })
                  : nullptr;
  return std::move(decode(model, prompt, 1, options, one).front());
}

std::vector<std::vector<int64_t>> generate_rows(Llama& model, const std::vector<int64_t>& prompt,
                                                int64_t rows, const GenerateOptions& options,
                                                int64_t end_id) {
  if (rows < 1) throw BadInput(fmt::format("rows is {}", rows), "generate at least one row");
  return decode(model, prompt, rows, options, [end_id](int64_t, const std::vector<int64_t>& g) {
    return end_id >= 0 && g.back() == end_id;
  });
}

}  // namespace plinth::model
