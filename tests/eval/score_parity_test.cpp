// Scoring parity with the Python peer: the same weights (through export_hf) scored by plinth's
// evaluation and by ref_llama.py's `score` mode, which rolls its windows with its own copy of
// lm-evaluation-harness's loglikelihood_rolling and decodes greedily by re-running the whole
// sequence. Per-document NLL, bits per byte, task completion NLL and greedy answers must agree.

// Torch first: its logging header defines CHECK, and catch.hpp must come after it so that
// CHECK is Catch's assertion, not torch's silent-unless-false check.
#include "model/hf_export.h"

#include <fmt/format.h>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "eval/domain_scorer.h"
#include "eval/task_metrics.h"
#include "eval_test_support.h"
#include "reference_peer.h"
#include "test_support.h"

namespace plinth::eval {
namespace {

using namespace testing;
namespace fs = std::filesystem;

constexpr int kParityContext = 16;

// A tiny fp32 model far from uniform: larger matrices than the default init, and norm weights
// away from 1 so that a swapped or missing norm would show.
model::Llama parity_model(bool tied, uint64_t seed) {
  model::ModelConfig c;
  c.vocab_size = kVocab;
  c.dim = 32;
  c.layers = 2;
  c.heads = 4;
  c.kv_heads = 2;
  c.ffn = 48;
  c.context = kParityContext;
  c.tie_embeddings = tied;
  c.init_std = 0.1;
  torch::manual_seed(seed);
  model::Llama m(c);
  {
    torch::NoGradGuard no_grad;
    for (auto& p : m->parameters())
      if (p.dim() == 1) p.uniform_(0.5, 1.5);
  }
  m->eval();
  return m;
}

bool relatively_close(double a, double b, double tolerance) {
  return std::abs(a - b) <= tolerance * std::max({std::abs(a), std::abs(b), 1e-12});
}

// Exports the model's weights, runs ref_llama.py score on `input`, and returns its JSON line.
nlohmann::json reference_score(const model::Llama& m, const test::TempDir& dir, const nlohmann::json& input) {
  model::export_hf(m, dir / "hf");
  const fs::path in = dir.write("score_input.json", input.dump());
  return test::run_reference(
      "score", m->config(),
      fmt::format("--weights {} --input {}", (dir / "hf" / "model.safetensors").string(), in.string()));
}

// Greedy continuation of `prompt` by full forward passes (no cache), ties to the lowest id.
std::vector<int32_t> greedy_by_hand(model::Llama& m, std::vector<int32_t> seq, int n) {
  torch::NoGradGuard no_grad;
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    auto x = torch::tensor(std::vector<int64_t>(seq.begin(), seq.end())).unsqueeze(0);  // (1, T)
    const auto next = static_cast<int32_t>(m->forward(x)[0][-1].argmax().item<int64_t>());
    out.push_back(next);
    seq.push_back(next);
  }
  return out;
}

std::string ids_list(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

}  // namespace

TEST_CASE("plinth's rolling-window document NLL equals ref_llama.py's", "[eval][parity]") {
  test::require_reference();
  for (bool tied : {false, true}) {
    CAPTURE(tied);
    model::Llama m = parity_model(tied, tied ? 31 : 32);
    test::TempDir dir;
    // Empty, one token, shorter than, equal to and just past the context, and several windows.
    std::vector<Doc> docs;
    const std::vector<size_t> lengths = {0, 1, 5, 16, 17, 40, 100, 33};
    for (size_t i = 0; i < lengths.size(); ++i) docs.push_back(make_doc(lengths[i], 200 + i));
    auto shard = written_shard(dir / "val.bin", docs);

    ScoreOptions o;
    o.context = kParityContext;
    o.batch_size = 3;  // several batches, windows of mixed lengths padded together
    o.eos_id = kEos;
    o.seed = 5;
    DocumentScores ours = score_documents(*m, nullptr, shard, "parity", o);

    nlohmann::json input = {{"eos", kEos}, {"context", kParityContext}, {"documents", nlohmann::json::array()}};
    for (const auto& d : docs) input["documents"].push_back(d.text);
    nlohmann::json theirs = reference_score(m, dir, input);
    const auto& ref_docs = theirs.at("documents");
    REQUIRE(ref_docs.size() == docs.size());

    // Every document once, each matched by its shard index.
    REQUIRE(ours.size() == docs.size());
    std::vector<int> seen(docs.size(), 0);
    double our_nll = 0, ref_nll = 0;
    uint64_t our_tokens = 0, our_bytes = 0, ref_bytes = 0;
    for (size_t k = 0; k < ours.size(); ++k) {
      const uint64_t i = ours.index[k];
      REQUIRE(i < docs.size());
      ++seen[i];
      const double ref = ref_docs[i].at("nll").get<double>();
      const auto ref_tokens = ref_docs[i].at("tokens").get<uint64_t>();
      INFO(fmt::format(
          "document {} ({} tokens): plinth nll {:.9g} over {} tokens, ref_llama.py {:.9g} over {}", i,
          docs[i].text.size(), ours.base_nll[k], ours.tokens[k], ref, ref_tokens));
      CHECK(ours.tokens[k] == ref_tokens);
      CHECK(ref_tokens == docs[i].text.size());
      CHECK(ours.bytes[k] == docs[i].bytes);
      if (docs[i].text.empty())
        CHECK(ours.base_nll[k] == 0.0);
      else
        CHECK(relatively_close(ours.base_nll[k], ref, 1e-5));
      our_nll += ours.base_nll[k];
      ref_nll += ref;
      our_tokens += ours.tokens[k];
      our_bytes += ours.bytes[k];
      ref_bytes += docs[i].bytes;
    }
    for (size_t i = 0; i < docs.size(); ++i) {
      CAPTURE(i);
      CHECK(seen[i] == 1);
    }

    const double ln2 = std::log(2.0);
    const double our_bpb = our_nll / double(our_bytes) / ln2;
    const double ref_bpb = ref_nll / double(ref_bytes) / ln2;
    const double per_token = our_nll / double(our_tokens);
    INFO(fmt::format("bits per byte: plinth {:.9g}, ref_llama.py {:.9g}; nll per token {:.6f} (ln V {:.6f})",
                     our_bpb, ref_bpb, per_token, std::log(double(kVocab))));
    CHECK(std::abs(per_token - std::log(double(kVocab))) > 0.05);  // the weights matter, not a uniform guess
    CHECK(relatively_close(our_bpb, ref_bpb, 1e-5));
  }
}

TEST_CASE("plinth's task completion NLL and greedy answers equal ref_llama.py's", "[eval][parity]") {
  test::require_reference();
  model::Llama m = parity_model(false, 41);
  test::TempDir dir;

  // One item is the model's own greedy answer, so exact match is not trivially 0: its prompt's
  // third greedy token becomes the end marker, its first two the answer. Look for a prompt whose
  // three greedy tokens differ (an earlier copy of the marker would end the answer early).
  std::vector<int32_t> answer_prompt;
  std::vector<int32_t> answer;
  int end_id = -1;
  for (uint64_t seed = 0; seed < 64 && end_id < 0; ++seed) {
    std::vector<int32_t> p = make_doc(4 + seed % 5, 300 + seed).text;
    std::vector<int32_t> g = greedy_by_hand(m, p, 3);
    if (g[0] != g[2] && g[1] != g[2]) {
      answer_prompt = p;
      answer = {g[0], g[1]};
      end_id = g[2];
    }
  }
  REQUIRE(end_id >= 0);

  // Completion tokens other than the marker; make_doc's ids are in [3, kVocab).
  auto not_end = [&](int32_t id) { return id == end_id ? (end_id == 3 ? 4 : 3) : id; };
  std::vector<TaskItem> items;
  items.push_back({answer_prompt, {answer[0], answer[1], end_id}});
  for (size_t i = 0; i < 5; ++i) {
    TaskItem it;
    it.prompt = make_doc(3 + (i * 2) % 6, 400 + i).text;  // 3..8 tokens
    for (int32_t id : make_doc(2 + i % 3, 500 + i).text) it.completion.push_back(not_end(id));
    it.completion.push_back(end_id);
    items.push_back(it);
  }
  {  // a prompt too long for the context: both sides keep its first token and its last context - 4
    TaskItem it;
    it.prompt = make_doc(15, 600).text;
    for (int32_t id : make_doc(3, 601).text) it.completion.push_back(not_end(id));
    it.completion.push_back(end_id);
    items.push_back(it);
  }

  TaskScore ours = score_task(*m, items, end_id, 3, ids_list, torch::kCPU, 4);

  nlohmann::json task_items = nlohmann::json::array();
  for (const auto& it : items)
    task_items.push_back(nlohmann::json{{"prompt", it.prompt}, {"completion", it.completion}});
  nlohmann::json input = {{"eos", kEos},
                          {"context", kParityContext},
                          {"documents", nlohmann::json::array()},
                          {"task", {{"end_id", end_id}, {"max_new_tokens", 3}, {"items", task_items}}}};
  nlohmann::json theirs = reference_score(m, dir, input);
  const auto& ref = theirs.at("task");
  REQUIRE(ref.size() == items.size());
  REQUIRE(ours.example_nll.size() == items.size());
  REQUIRE(ours.example_tokens.size() == items.size());
  REQUIRE(ours.generated.size() == items.size());
  REQUIRE(ours.correct.size() == items.size());

  size_t ref_correct = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    const double ref_nll = ref[i].at("nll").get<double>();
    const auto ref_generated = ref[i].at("generated").get<std::vector<int32_t>>();
    const std::vector<int32_t> expected(items[i].completion.begin(), items[i].completion.end() - 1);
    const bool ref_right = ref_generated == expected;
    ref_correct += ref_right;
    INFO(fmt::format(
        "item {}: prompt {} completion {}; plinth nll {:.9g} generated {}; ref_llama.py nll {:.9g} "
        "generated {}",
        i, ids_list(items[i].prompt), ids_list(items[i].completion), ours.example_nll[i],
        ids_list(ours.generated[i]), ref_nll, ids_list(ref_generated)));
    CHECK(ours.example_tokens[i] == ref[i].at("tokens").get<uint64_t>());
    CHECK(relatively_close(ours.example_nll[i], ref_nll, 1e-5));
    CHECK(ours.generated[i] == ref_generated);
    CHECK(ours.correct[i] == ref_right);
  }
  INFO(
      fmt::format("exact match: plinth {}, ref_llama.py {}/{}", ours.exact_match, ref_correct, items.size()));
  CHECK(ref_correct >= 1);  // the item built from the model's own answer
  CHECK(ref_correct < items.size());
  CHECK(ours.exact_match == Approx(double(ref_correct) / double(items.size())));
}

}  // namespace plinth::eval
