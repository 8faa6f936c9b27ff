// Capability suites: requests encoded as lm-evaluation-harness encodes a (context, continuation)
// pair, and each choice's log-likelihood equal to a direct sum over forward() of the sequence
// the harness would read, cut from the left when it is too long; the same for the requests without
// the query (acc_mutual_info), and the suite's metric.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include "eval/suite_requests.h"
#include "eval/suite_scorer.h"
#include "eval_test_support.h"

namespace plinth::eval {
namespace {

using namespace testing;

constexpr int32_t kStart = kEos;

// A toy tokenizer: one id per byte ('a' = 10 ...), except "ab" which is one token (so a token
// can span the context / continuation boundary) and a space, which is 4.
std::vector<int32_t> toy_encode(const std::string& text) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 2, "ab") == 0) {
      ids.push_back(60);
      ++i;
    } else if (text[i] == ' ') {
      ids.push_back(4);
    } else {
      ids.push_back(10 + ((static_cast<unsigned char>(text[i]) - 'a') % 40 + 40) % 40);
    }
  }
  return ids;
}

// The log-likelihood of `t`'s continuation read straight from forward() on the harness's input:
// seq = context + continuation, its last max_length + 1 tokens, seq[:-1] read.
double direct_ll(model::Llama& m, const ChoiceTokens& t, size_t max_length) {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> seq(t.context.begin(), t.context.end());
  seq.insert(seq.end(), t.continuation.begin(), t.continuation.end());
  if (seq.size() > max_length + 1) seq.erase(seq.begin(), seq.end() - static_cast<long>(max_length + 1));
  auto input = torch::tensor(std::vector<int64_t>(seq.begin(), seq.end() - 1)).unsqueeze(0);  // (1, T)
  auto logp = m->forward(input).log_softmax(-1)[0];                                           // (T, V)
  double ll = 0;
  for (size_t i = seq.size() - t.continuation.size(); i < seq.size(); ++i)
    ll += logp[long(i - 1)][seq[i]].item<double>();
  return ll;
}

TEST_CASE("a choice's tokens are the whole pair's encoding after the context's, trailing spaces moved",
          "[suite]") {
  // No token crosses the boundary: the continuation is the choice's own tokens.
  ChoiceTokens t = encode_choice("cd", " ef", toy_encode, kStart);
  CHECK(t.context == std::vector<int32_t>{kStart, 12, 13});
  CHECK(t.continuation == std::vector<int32_t>{4, 14, 15});
  // Trailing white space of the context belongs to the continuation (Python's rstrip).
  t = encode_choice("cd \t", "ef", toy_encode, kStart);
  CHECK(t.context == std::vector<int32_t>{kStart, 12, 13});
  CHECK(t.continuation == std::vector<int32_t>{4, toy_encode("\t")[0], 14, 15});
  // U+00A0 (no-break space) is white space to Python too.
  t = encode_choice("cd\xC2\xA0", "e", toy_encode, kStart);
  CHECK(t.context == std::vector<int32_t>{kStart, 12, 13});
  CHECK(t.continuation.size() == 3);
  // "a" + "b" encode together as one token: split at the context's length, the continuation
  // starts after it, as the harness splits.
  t = encode_choice("ca", "bd", toy_encode, kStart);
  CHECK(t.context == std::vector<int32_t>{kStart, 12, 10});
  CHECK(t.continuation == std::vector<int32_t>{13});
  CHECK(python_space(0x3000));
  CHECK_FALSE(python_space('x'));
  CHECK_FALSE(python_space(0x200B));  // zero-width space is not white space to Python
}

SuiteFile toy_suite() {
  SuiteFile f;
  f.path = "toy.jsonl";
  f.questions = {{"cd", {"ef", "gh", "ijk"}, 0, 1},
                 {"klmno pq", {"r", "st"}, 1, 2},
                 {"a", {"b", "bb b"}, 1, 3},
                 {"efgh ijkl mnop qrst", {"uv", "w"}, 0, 4}};
  return f;
}

TEST_CASE("each choice's log-likelihood is the direct sum over forward(), whatever the batch", "[suite]") {
  model::Llama base = tiny_model(8, 7), tuned = tiny_model(8, 8);
  SuiteSpec spec{"toy", "toy.jsonl", " ", {}, {}};
  const SuiteFile file = toy_suite();
  const std::vector<uint64_t> sample{3, 0, 2, 1};
  const int64_t max_length = 8;
  SuiteRequests one = prepare_suite(spec, file, sample, toy_encode, kStart, max_length);
  // Two questions are read as more than 8 tokens: cut from the left.
  CHECK(one.result.truncated == 2);
  CHECK(one.result.index == sample);
  CHECK(one.result.gold == std::vector<int64_t>{0, 0, 1, 1});
  CHECK(one.result.choice_chars[1] == std::vector<uint64_t>{2, 2, 3});
  SuiteRequests three = one;
  score_suite(*base, tuned.get(), one, max_length, 1);
  score_suite(*base, tuned.get(), three, max_length, 3);
  for (size_t q = 0; q < sample.size(); ++q)
    for (size_t c = 0; c < one.choices[q].size(); ++c) {
      const double b = direct_ll(base, one.choices[q][c], max_length);
      const double t = direct_ll(tuned, one.choices[q][c], max_length);
      CHECK(one.result.base_ll[q][c] == Approx(b).epsilon(1e-5));
      CHECK(one.result.tuned_ll[q][c] == Approx(t).epsilon(1e-5));
      CHECK(three.result.base_ll[q][c] == Approx(b).epsilon(1e-5));
      CHECK(three.result.tuned_ll[q][c] == Approx(t).epsilon(1e-5));
      CHECK(one.result.base_ll[q][c] < 0);
    }
  // acc_mutual_info's requests: each choice after the start token alone, scored the same way.
  REQUIRE(one.result.has_unconditional());
  for (size_t q = 0; q < sample.size(); ++q)
    for (size_t c = 0; c < one.unconditional[q].size(); ++c) {
      const ChoiceTokens& u = one.unconditional[q][c];
      CHECK(u.context == std::vector<int32_t>{kStart});
      const std::string choice = file.questions[sample[q]].choices[c];
      CHECK(u.continuation == toy_encode(" " + choice));
      CHECK(one.result.base_ll_unconditional[q][c] == Approx(direct_ll(base, u, max_length)).epsilon(1e-5));
      CHECK(three.result.tuned_ll_unconditional[q][c] ==
            Approx(direct_ll(tuned, u, max_length)).epsilon(1e-5));
    }
  // Without a tuned model only the base is scored.
  SuiteRequests alone = prepare_suite(spec, file, sample, toy_encode, kStart, max_length);
  score_suite(*base, nullptr, alone, max_length, 2);
  CHECK(alone.result.tuned_ll.empty());
  CHECK(alone.result.base_ll[2][1] == Approx(one.result.base_ll[2][1]).epsilon(1e-5));
}

TEST_CASE("an unconditional request puts the start token before the whole continuation", "[suite]") {
  ChoiceTokens u = encode_unconditional(" ab c", toy_encode, kStart);
  CHECK(u.context == std::vector<int32_t>{kStart});
  CHECK(u.continuation == std::vector<int32_t>{4, 60, 4, 12});
  // The harness: a continuation that itself starts with the start token gives it as the context.
  const TextEncoder starts = [](const std::string& text) {
    std::vector<int32_t> ids{kStart};
    for (int32_t id : toy_encode(text)) ids.push_back(id);
    return ids;
  };
  u = encode_unconditional("cd", starts, kStart);
  CHECK(u.context == std::vector<int32_t>{kStart});
  CHECK(u.continuation == std::vector<int32_t>{12, 13});
}

TEST_CASE("a suite's metric is the recipe's, else its file header's, else acc", "[suite]") {
  SuiteSpec spec{"toy", "toy.jsonl", " ", "", {}};
  SuiteFile file = toy_suite();
  CHECK(encode_suite(spec, file, {0}, toy_encode, kStart).result.metric == "acc");
  file.provenance = R"({"made_by": "plinth suite make", "metric": "acc_mutual_info"})";
  CHECK(encode_suite(spec, file, {0}, toy_encode, kStart).result.metric == "acc_mutual_info");
  spec.metric = "acc_norm";
  CHECK(encode_suite(spec, file, {0}, toy_encode, kStart).result.metric == "acc_norm");
  spec.metric = "";
  file.provenance = R"({"metric": "acc_bytes"})";
  try {
    encode_suite(spec, file, {0}, toy_encode, kStart);
    FAIL("no BadInput");
  } catch (const BadInput& e) {
    CHECK(e.problems()[0].where.line == 1);
    CHECK_THAT(e.problems()[0].message, Catch::Matchers::Contains("names the metric 'acc_bytes'"));
  }
}

TEST_CASE("a suite whose choice encodes to nothing, or outgrows the context, is refused with its line",
          "[suite]") {
  SuiteSpec spec{"toy", "toy.jsonl", " ", {}, {}};
  SuiteFile file = toy_suite();
  // "ca" + "b" with no delimiter: the choice's only token merges into the context's last.
  spec.delimiter = "";
  file.questions[1] = {"ca", {"b", "cd"}, 0, 7};
  try {
    prepare_suite(spec, file, {0, 1}, toy_encode, kStart, 8);
    FAIL("no BadInput");
  } catch (const BadInput& e) {
    CHECK(e.problems()[0].where.line == 7);
    CHECK_THAT(e.problems()[0].message, Catch::Matchers::Contains("encodes to no token"));
  }
  // A choice of 9 tokens against a context of 8.
  file = toy_suite();
  file.questions[0].choices[2] = "cdefghijk";
  try {
    prepare_suite(spec, file, {0}, toy_encode, kStart, 8);
    FAIL("no BadInput");
  } catch (const BadInput& e) {
    CHECK(e.problems()[0].where.line == 1);
    CHECK_THAT(e.problems()[0].message, Catch::Matchers::Contains("9 tokens long"));
  }
  file.questions[0].query = "";
  CHECK_THROWS_AS(prepare_suite(spec, file, {0}, toy_encode, kStart, 64), BadInput);  // an empty query
}

}  // namespace
}  // namespace plinth::eval
