#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>

#include "eval/document_sample.h"
#include "eval/domain_scorer.h"
#include "eval_test_support.h"
#include "test_support.h"

namespace plinth::eval {
namespace {

using namespace testing;

ScoreOptions options_for(const model::Llama& m, int64_t batch = 4) {
  ScoreOptions o;
  o.context = m->config().context;
  o.batch_size = batch;
  o.eos_id = kEos;
  return o;
}

}  // namespace

TEST_CASE("a uniform model scores ln V per token, and bits per byte follow", "[eval]") {
  test::TempDir dir;
  // Shorter, equal to and longer than the context of 8, so windows of every kind occur.
  std::vector<Doc> docs = {make_doc(5, 1), make_doc(8, 2), make_doc(23, 3), make_doc(1, 4), make_doc(0, 5)};
  auto shard = written_shard(dir / "val.bin", docs);
  model::Llama m = uniform_model();
  // Words counted by the caller; a whole document's bytes are the shard's.
  TextMeasure words = [](const std::vector<int32_t>& text) { return TextSize{999, text.size() / 2}; };
  DomainScore s = score_domain(m, shard, "uniform", options_for(m), words);

  uint64_t tokens = 0, bytes = 0, word_count = 0;
  for (const auto& d : docs) tokens += d.text.size(), bytes += d.bytes, word_count += d.text.size() / 2;
  const double ln_v = std::log(double(kVocab));
  CHECK(s.name == "uniform");
  CHECK(s.documents == docs.size());
  CHECK(s.tokens == tokens);  // the EOS after each document is not scored
  CHECK(s.bytes == bytes);
  CHECK(s.words == word_count);
  CHECK(s.loss() == Approx(ln_v).epsilon(1e-6));
  CHECK(s.perplexity() == Approx(double(kVocab)).epsilon(1e-5));
  CHECK(s.bits_per_byte() == Approx(double(tokens) * ln_v / double(bytes) / std::log(2.0)).epsilon(1e-6));
  CHECK(s.word_perplexity() == Approx(std::exp(double(tokens) * ln_v / double(word_count))).epsilon(1e-5));
}

TEST_CASE("a document shorter than the context is scored as the model's own loss from EOS", "[eval]") {
  test::TempDir dir;
  Doc d = make_doc(6, 11);
  auto shard = written_shard(dir / "val.bin", {d});
  model::Llama m = tiny_model();
  DomainScore s = score_domain(m, shard, "one", options_for(m));

  std::vector<int64_t> input = {kEos}, target;
  for (size_t i = 0; i < d.text.size(); ++i) {
    if (i + 1 < d.text.size()) input.push_back(d.text[i]);
    target.push_back(d.text[i]);
  }
  torch::NoGradGuard no_grad;
  torch::Tensor idx = torch::tensor(input).unsqueeze(0);   // (1, 6)
  torch::Tensor tgt = torch::tensor(target).unsqueeze(0);  // (1, 6)
  double expected = m->loss(idx, tgt).item<double>() * double(d.text.size());
  CHECK(s.nll == Approx(expected).epsilon(1e-5));
}

TEST_CASE("documents that start with a stored BOS (a Llama tokenizer's) are scored from it, BOS unscored",
          "[eval]") {
  test::TempDir dir;
  const int32_t bos = 1;
  Doc d = make_doc(6, 12);
  {
    // As prepare writes them for such a tokenizer: [BOS, t..., EOS].
    data::ShardWriter w(dir / "val.bin", data::token_width_for(kVocab), kVocab, 0x1234);
    std::vector<int32_t> ids = {bos};
    ids.insert(ids.end(), d.text.begin(), d.text.end());
    ids.push_back(kEos);
    w.add_document(ids.data(), ids.size(), d.bytes);
    w.commit();
  }
  auto shard = data::ShardReader::open(dir / "val.bin");
  model::Llama m = tiny_model();
  ScoreOptions o = options_for(m);
  o.document_start_id = bos;
  DomainScore s = score_domain(m, shard, "llama", o);

  std::vector<int64_t> input = {bos}, target;
  for (size_t i = 0; i < d.text.size(); ++i) {
    if (i + 1 < d.text.size()) input.push_back(d.text[i]);
    target.push_back(d.text[i]);
  }
  torch::NoGradGuard no_grad;
  const double expected =
      m->loss(torch::tensor(input).unsqueeze(0), torch::tensor(target).unsqueeze(0)).item<double>() *
      double(d.text.size());
  CHECK(s.tokens == d.text.size());  // neither the BOS nor the EOS is a scored token
  CHECK(s.nll == Approx(expected).epsilon(1e-5));
}

TEST_CASE("scoring never looks across documents", "[eval]") {
  test::TempDir dir;
  Doc a = make_doc(13, 21), b = make_doc(19, 22), c = make_doc(4, 23);
  write_shard(dir / "ab.bin", {a, b});
  write_shard(dir / "cb.bin", {c, b});
  write_shard(dir / "b.bin", {b});
  model::Llama m = tiny_model();
  ScoreOptions o = options_for(m);
  auto score = [&](const char* file, uint64_t max_documents = 0) {
    ScoreOptions oo = o;
    oo.max_documents = max_documents;
    return score_domain(m, data::ShardReader::open(dir / file), file, oo).nll;
  };
  // b scores the same after a, after c, and alone.
  double b_alone = score("b.bin");
  CHECK(score("ab.bin") - score("ab.bin", 1) == Approx(b_alone).epsilon(1e-5));
  CHECK(score("cb.bin") - score("cb.bin", 1) == Approx(b_alone).epsilon(1e-5));
}

TEST_CASE("results do not depend on the batch size", "[eval]") {
  test::TempDir dir;
  std::vector<Doc> docs;
  for (size_t i = 0; i < 12; ++i) docs.push_back(make_doc(1 + (i * 7) % 30, 100 + i));
  auto shard = written_shard(dir / "val.bin", docs);
  model::Llama m = tiny_model();
  DomainScore one = score_domain(m, shard, "d", options_for(m, 1));
  for (int64_t batch : {2, 3, 5, 64}) {
    CAPTURE(batch);
    DomainScore s = score_domain(m, shard, "d", options_for(m, batch));
    CHECK(s.tokens == one.tokens);
    // Equal up to float rounding: a batch padded to another length runs other BLAS blockings.
    CHECK(s.nll == Approx(one.nll).epsilon(1e-6));
  }
}

TEST_CASE("max_documents and max_tokens take whole documents in sample order", "[eval]") {
  test::TempDir dir;
  auto shard =
      written_shard(dir / "val.bin", {make_doc(10, 1), make_doc(10, 2), make_doc(10, 3), make_doc(10, 4)});
  model::Llama m = tiny_model();
  ScoreOptions o = options_for(m);
  o.max_documents = 2;
  CHECK(score_domain(m, shard, "d", o).tokens == 20);
  o.max_documents = 0;
  o.max_tokens = 15;  // the second document crosses 15 and is taken whole
  DomainScore s = score_domain(m, shard, "d", o);
  CHECK(s.documents == 2);
  CHECK(s.tokens == 20);
  const std::vector<uint64_t> order = sample_order(4, o.seed, "d");
  CHECK(s.docs.index == std::vector<uint64_t>(order.begin(), order.begin() + 2));
}

TEST_CASE("the sample is a seeded random order of whole documents, not the shard's order", "[eval]") {
  // The same seed, domain and count give the same permutation; a larger sample starts with the
  // smaller one; another seed or domain gives another order.
  const std::vector<uint64_t> a = sample_order(200, 0, "code"), b = sample_order(200, 0, "code");
  CHECK(a == b);
  std::vector<uint64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (uint64_t i = 0; i < 200; ++i) REQUIRE(sorted[i] == i);
  CHECK(a != sorted);
  CHECK(a != sample_order(200, 1, "code"));
  CHECK(a != sample_order(200, 0, "legal"));
  // Golden values: a change to the order silently reshuffles users' samples between versions.
  CHECK(sample_order(5, 0, "d") == sample_order(5, 0, "d"));
  size_t first_half = 0;  // about half of the first 100 drawn are from the shard's first half
  for (size_t i = 0; i < 100; ++i) first_half += a[i] < 100;
  CHECK(first_half > 30);
  CHECK(first_half < 70);
}

TEST_CASE("a long document is scored on a seeded span of whole windows", "[eval]") {
  // 100 tokens, context 8: 13 windows; a cap of 24 tokens keeps 3 consecutive ones.
  const std::vector<RollingWindow> all = rolling_windows(100, 8);
  std::vector<RollingWindow> span = sampled_windows(100, 8, 24, 3, "d", 7);
  REQUIRE(span.size() == 3);
  size_t start = 0;
  while (start < all.size() && all[start].input_begin != span[0].input_begin) ++start;
  REQUIRE(start + 3 <= all.size());
  for (size_t k = 0; k < 3; ++k) CHECK(span[k].input_begin == all[start + k].input_begin);
  CHECK(sampled_windows(100, 8, 24, 3, "d", 7).front().input_begin == span.front().input_begin);  // seeded
  CHECK(sampled_windows(20, 8, 24, 3, "d", 7).size() == rolling_windows(20, 8).size());  // short: whole
  CHECK(sampled_windows(100, 8, 0, 3, "d", 7).size() == all.size());                     // no cap
  // The cap makes room for min_documents within the ceiling, never below one window.
  CHECK(effective_document_cap(0, 65536, 32, 256) == 2048);
  CHECK(effective_document_cap(1024, 65536, 32, 256) == 1024);
  CHECK(effective_document_cap(0, 1000, 100, 256) == 256);
  CHECK(effective_document_cap(0, 0, 30, 256) == 0);

  test::TempDir dir;
  std::vector<Doc> docs;
  for (int i = 0; i < 6; ++i) docs.push_back(make_doc(i % 2 ? 90 : 6, 40 + i, 1000));
  auto shard = written_shard(dir / "val.bin", docs);
  model::Llama m = tiny_model();
  ScoreOptions o = options_for(m);
  o.max_document_tokens = 16;  // two windows of 8
  DomainScore s = score_domain(m, shard, "d", o);
  REQUIRE(s.documents == 6);
  for (size_t i = 0; i < s.docs.size(); ++i) {
    const bool long_doc = s.docs.index[i] % 2 == 1;
    CHECK(s.docs.tokens[i] == (long_doc ? 16u : 6u));
    // Without a text measure a span's bytes are its share of the document's.
    CHECK(s.docs.bytes[i] == (long_doc ? 1000u * 16 / 90 : 1000u));
    if (!long_doc) CHECK(s.docs.first_token[i] == 0);
  }
}

TEST_CASE("eval is deterministic: bit-identical across runs, within 1e-6 across batch sizes and threads",
          "[eval]") {
  test::TempDir dir;
  std::vector<Doc> docs;
  for (int i = 0; i < 24; ++i) docs.push_back(make_doc(static_cast<size_t>(1 + (i * 7) % 30), 100 + i));
  auto shard = written_shard(dir / "val.bin", docs);
  model::Llama base = tiny_model(8, 1), tuned = tiny_model(8, 2);
  ScoreOptions o = options_for(base, 4);
  o.max_tokens = 200;  // a sample, not every document
  auto score = [&](int64_t batch) {
    ScoreOptions b = o;
    b.batch_size = batch;
    return score_documents(*base, tuned.get(), shard, "d", b);
  };
  const DocumentScores first = score(4), again = score(4);
  REQUIRE(first.size() > 3);
  CHECK(first.index == again.index);
  CHECK(first.base_nll == again.base_nll);  // bit for bit
  CHECK(first.tuned_nll == again.tuned_nll);
  CHECK(first.kl == again.kl);
  CHECK(first.agree == again.agree);

  // NLL within 1e-6 relative per document. KL is a small difference of two log-softmaxes, each
  // rounded in float32: within 1e-6 nats per scored token.
  auto close = [&first](const std::vector<double>& a, const std::vector<double>& b, bool is_kl = false) {
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i)
      CHECK(std::abs(a[i] - b[i]) <= (is_kl ? 1e-6 * double(first.tokens[i]) : 1e-6 * std::abs(a[i])));
  };
  for (int64_t batch : {1, 3, 16}) {
    CAPTURE(batch);
    const DocumentScores other = score(batch);
    CHECK(other.index == first.index);
    close(first.base_nll, other.base_nll);
    close(first.tuned_nll, other.tuned_nll);
    close(first.kl, other.kl, true);
    CHECK(other.agree == first.agree);
  }
  const int threads = at::get_num_threads();
  at::set_num_threads(threads == 1 ? 2 : 1);
  const DocumentScores other_threads = score(4);
  at::set_num_threads(threads);
  close(first.base_nll, other_threads.base_nll);
  close(first.tuned_nll, other_threads.tuned_nll);
  close(first.kl, other_threads.kl, true);
}

TEST_CASE("base and tuned in one pass: the same documents, KL 0 and full agreement for one model", "[eval]") {
  test::TempDir dir;
  std::vector<Doc> docs;
  for (int i = 0; i < 10; ++i) docs.push_back(make_doc(static_cast<size_t>(3 + i * 2), 200 + i));
  auto shard = written_shard(dir / "val.bin", docs);
  model::Llama base = tiny_model(8, 1), same = tiny_model(8, 1), other = tiny_model(8, 2);
  const ScoreOptions o = options_for(base);
  const DocumentScores alone = score_documents(*base, nullptr, shard, "d", o);
  const DocumentScores twin = score_documents(*base, same.get(), shard, "d", o);
  CHECK_FALSE(alone.paired);
  REQUIRE(twin.paired);
  CHECK(twin.index == alone.index);
  CHECK(twin.base_nll == alone.base_nll);
  CHECK(twin.tuned_nll == twin.base_nll);
  for (size_t i = 0; i < twin.size(); ++i) {
    CHECK(twin.kl[i] == 0);
    CHECK(twin.agree[i] == twin.tokens[i]);
  }
  const DocumentScores moved = score_documents(*base, other.get(), shard, "d", o);
  double kl = 0;
  uint64_t agree = 0;
  for (size_t i = 0; i < moved.size(); ++i) kl += moved.kl[i], agree += moved.agree[i];
  CHECK(kl > 0);
  CHECK(agree < moved.total_tokens());
  // The tuned side scores exactly what the tuned model alone scores.
  const DocumentScores tuned_alone = score_documents(*other, nullptr, shard, "d", o);
  for (size_t i = 0; i < moved.size(); ++i)
    CHECK(moved.tuned_nll[i] == Approx(tuned_alone.base_nll[i]).epsilon(1e-9));
}

TEST_CASE("bf16 scoring (the select: panel's) is float32 scoring within bf16 rounding", "[eval]") {
  test::TempDir dir;
  std::vector<Doc> docs;
  for (int i = 0; i < 16; ++i) docs.push_back(make_doc(static_cast<size_t>(4 + i * 3), 300 + i));
  auto shard = written_shard(dir / "val.bin", docs);
  model::Llama base = tiny_model(8, 1), tuned = tiny_model(8, 2);
  ScoreOptions o = options_for(base);
  const DocumentScores fp32 = score_documents(*base, tuned.get(), shard, "d", o);
  o.bf16 = true;
  const DocumentScores bf16 = score_documents(*base, tuned.get(), shard, "d", o);
  REQUIRE(bf16.index == fp32.index);
  // bf16 keeps 8 bits of mantissa (relative rounding 2^-9 per matmul input): each document's NLL
  // within 1%, and the pair's relative difference, the panel's forgetting, within 0.5 points.
  bool differs = false;
  for (size_t i = 0; i < fp32.size(); ++i) {
    CHECK(bf16.base_nll[i] == Approx(fp32.base_nll[i]).epsilon(0.01));
    CHECK(bf16.tuned_nll[i] == Approx(fp32.tuned_nll[i]).epsilon(0.01));
    differs = differs || bf16.base_nll[i] != fp32.base_nll[i];
  }
  CHECK(differs);  // the forward pass did run in bf16
  auto forgetting_pct = [](const DocumentScores& d) {
    double b = 0, t = 0;
    for (size_t i = 0; i < d.size(); ++i) b += d.base_nll[i], t += d.tuned_nll[i];
    return 100 * (t - b) / b;
  };
  CHECK(forgetting_pct(bf16) == Approx(forgetting_pct(fp32)).margin(0.5));
  // Autocast is off again afterwards: float32 scoring is bit-identical to before.
  o.bf16 = false;
  CHECK(score_documents(*base, tuned.get(), shard, "d", o).base_nll == fp32.base_nll);
}

TEST_CASE("scoring stops once the forgetting interval is as narrow as target_ci asks", "[eval]") {
  test::TempDir dir;
  std::vector<Doc> docs;
  for (int i = 0; i < 120; ++i) docs.push_back(make_doc(8, 300 + i));
  auto shard = written_shard(dir / "val.bin", docs);
  model::Llama base = tiny_model(8, 1), tuned = tiny_model(8, 2);
  ScoreOptions o = options_for(base, 4);
  o.min_documents = 20;
  const DocumentScores all = score_documents(*base, tuned.get(), shard, "d", o);
  CHECK(all.size() == 120);  // no target: up to the ceiling (here: every document)
  const double full_width = forgetting_half_width(all, 0.95, 1000, 5);
  o.target_ci = 2 * full_width / 100;  // twice as wide as 120 documents give: reached well before
  const DocumentScores early = score_documents(*base, tuned.get(), shard, "d", o);
  CHECK(early.size() >= 20);
  CHECK(early.size() < 120);
  CHECK(std::vector<uint64_t>(all.index.begin(), all.index.begin() + long(early.size())) == early.index);
  CHECK(forgetting_half_width(early, 0.95, 1000, bootstrap_seed(0, "domain:d")) <= 100 * o.target_ci);
}

TEST_CASE("a context beyond the model's is refused", "[eval]") {
  test::TempDir dir;
  auto shard = written_shard(dir / "val.bin", {make_doc(4, 1)});
  model::Llama m = tiny_model();
  ScoreOptions o = options_for(m);
  o.context = 9;
  CHECK_THROWS_AS(score_domain(m, shard, "d", o), BadInput);
}

}  // namespace plinth::eval
