// Torch first: its logging header defines CHECK; catch.hpp must come after it.
#include <torch/torch.h>

#include <catch2/catch.hpp>

#include <cmath>
#include <set>

#include "data/mixture_sampler.h"
#include "data/task_data.h"
#include "tokenizer/tokenizer.h"
#include "train/task_batches.h"
#include "train_fixture.h"

using namespace plinth;
using plinth::data::TokenizedExample;
using plinth::train::MixtureBatches;
using plinth::train::ReplayBatches;
using plinth::train::TaskBatches;

namespace {

tokenizer::Tokenizer debian_tokenizer() {
  return tokenizer::Tokenizer::load(test::source_dir() / "tokenizers" / "debian.model");
}

// The task examples of a small dictionary file, tokenized with the shipped tokenizer.
std::vector<TokenizedExample> dictionary_examples(const tokenizer::Tokenizer& tok,
                                                  const data::TaskSpec& spec) {
  data::TaskData d = data::load_task(spec);
  std::vector<TokenizedExample> out;
  for (const auto& e : d.train) out.push_back(data::tokenize_example(tok, spec, e));
  return out;
}

data::TaskSpec dictionary_spec(const test::TempDir& dir) {
  data::TaskSpec spec;
  spec.format = "regex";
  spec.regex = R"(^(?<prompt>[^{}|;:\[\]]+?) \{[fmn]\} :: (?<completion>[^|;\[\]{}]+)$)";
  spec.path = dir.write("de-en",
                        "Aalfang {m} :: eel fishing\n"
                        "Breite {f} :: broadness\n"
                        "Abendbrot {n} :: supper\n"
                        "Zeitung {f} :: newspaper\n"
                        "Arbeitsplatzabbau {m} :: job losses\n"
                        "Isolierband {n} :: insulating tape\n")
                  .string();
  spec.val_fraction = 0;
  spec.test_fraction = 0;
  return spec;
}

std::vector<int64_t> row_of(const torch::Tensor& t, int64_t b) {
  torch::Tensor r = t[b].contiguous();
  return std::vector<int64_t>(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
}

// Synthetic examples with small ids (for mixing with the tiny vocabulary of the replay shards).
std::vector<TokenizedExample> numbered_examples(int count) {
  std::vector<TokenizedExample> out;
  for (int i = 0; i < count; ++i) out.push_back(TokenizedExample{{4, 10 + i % 40}, {20 + i % 40, 30, 6}});
  return out;
}

}  // namespace

TEST_CASE("TaskBatches: one example per row, only completion tokens scored, right padding", "[train][task]") {
  tokenizer::Tokenizer tok = debian_tokenizer();
  test::TempDir dir;
  data::TaskSpec spec = dictionary_spec(dir);
  std::vector<TokenizedExample> examples = dictionary_examples(tok, spec);
  REQUIRE(examples.size() == 6);
  const int64_t T = 24, pad = tok.pad_id();
  const int response_id = tok.piece_to_id("<|response|>");
  REQUIRE(pad >= 0);

  SECTION("the exact layout of one example") {
    TokenizedExample e = examples[0];
    TaskBatches one({e}, T, pad, false, 3);
    torch::Tensor x, y;
    one.next(2, x, y);
    REQUIRE(x.sizes() == torch::IntArrayRef{2, T});
    REQUIRE(y.sizes() == torch::IntArrayRef{2, T});
    CHECK(x.dtype() == torch::kInt64);
    std::vector<int64_t> tokens(e.prompt.begin(), e.prompt.end());
    tokens.insert(tokens.end(), e.completion.begin(), e.completion.end());
    const int64_t L = static_cast<int64_t>(tokens.size()), P = static_cast<int64_t>(e.prompt.size());
    REQUIRE(L <= T + 1);
    std::vector<int64_t> want_x(T, pad), want_y(T, -1);
    for (int64_t t = 0; t + 1 < L; ++t) {
      want_x[t] = tokens[t];
      if (t + 1 >= P) want_y[t] = tokens[t + 1];
    }
    CHECK(row_of(x, 0) == want_x);
    CHECK(row_of(y, 0) == want_y);
    CHECK(row_of(x, 1) == want_x);  // the only example, again in the next epoch
    // The first scored position is the <|response|> marker, predicting the completion.
    CHECK(want_x[P - 1] == response_id);
    CHECK((y[0] >= 0).sum().item<int64_t>() == static_cast<int64_t>(e.completion.size()));
    // Distillation's positions: every real token whose next token is real, the prompt's too.
    const torch::Tensor positions = one.last_task_positions();
    REQUIRE(positions.sizes() == torch::IntArrayRef{2, T});
    CHECK(positions[0].narrow(0, 0, L - 1).all().item<bool>());
    CHECK_FALSE(positions[0].narrow(0, L - 1, T - L + 1).any().item<bool>());
    CHECK(one.last_replay_positions().defined() == false);

    TaskBatches with_prompt({e}, T, pad, true, 3);
    with_prompt.next(1, x, y);
    for (int64_t t = 0; t + 1 < L; ++t) want_y[t] = tokens[t + 1];
    CHECK(row_of(y, 0) == want_y);
  }

  SECTION("every row's scored targets are exactly one example's completion and suffix") {
    TaskBatches batches(examples, T, pad, false, 11);
    CHECK(batches.size() == 6);
    CHECK(batches.truncated() == 0);
    torch::Tensor x, y;
    batches.next(6, x, y);
    std::set<std::string> completions;
    for (int64_t b = 0; b < 6; ++b) {
      std::vector<int32_t> scored;
      std::vector<int64_t> ys = row_of(y, b), xs = row_of(x, b);
      int64_t last_real = -1;
      for (int64_t t = 0; t < T; ++t) {
        if (ys[t] >= 0) scored.push_back(static_cast<int32_t>(ys[t]));
        if (xs[t] != pad) last_real = t;
      }
      // After the example: padding only, never scored.
      for (int64_t t = last_real + 1; t < T; ++t) {
        CHECK(xs[t] == pad);
        CHECK(ys[t] == -1);
      }
      completions.insert(tok.decode(scored));
    }
    // One epoch of 6 draws is a permutation: each example exactly once.
    CHECK(completions == std::set<std::string>{"eel fishing<|end|>", "broadness<|end|>", "supper<|end|>",
                                               "newspaper<|end|>", "job losses<|end|>",
                                               "insulating tape<|end|>"});
  }

  SECTION("long examples lose the prompt's start (data::fit_example) and are counted") {
    // The EOS and the prompt's end (the <|response|> marker) stay, and the whole completion.
    TokenizedExample long_prompt = examples[1];
    const int32_t word = long_prompt.prompt[2];
    long_prompt.prompt.insert(long_prompt.prompt.begin() + 1, 30, word);
    REQUIRE(long_prompt.prompt.front() == tok.eos_id());
    TaskBatches batches({examples[0], long_prompt}, T, pad, false, 0);
    CHECK(batches.size() == 2);
    CHECK(batches.truncated() == 1);
    CHECK(batches.dropped() == 0);
    torch::Tensor x, y;
    batches.next(2, x, y);
    const data::TokenizedExample fit = data::fit_example(long_prompt, T + 1);
    CHECK(fit.completion == long_prompt.completion);
    REQUIRE(fit.prompt.size() + fit.completion.size() == size_t(T) + 1);
    std::vector<int64_t> tokens(fit.prompt.begin(), fit.prompt.end());
    tokens.insert(tokens.end(), fit.completion.begin(), fit.completion.end());
    const std::vector<int64_t> want(tokens.begin(), tokens.end() - 1);
    const int64_t b = row_of(x, 0) == want ? 0 : 1;  // the long example's row
    CHECK(row_of(x, b) == want);
    CHECK(row_of(x, b)[0] == tok.eos_id());
    CHECK(row_of(x, b)[fit.prompt.size() - 1] == response_id);
    CHECK((y[b] >= 0).sum().item<int64_t>() == static_cast<int64_t>(long_prompt.completion.size()));
    CHECK(y[b][T - 1].item<int64_t>() == long_prompt.completion.back());  // the end marker is learned

    // A row too short for any completion token after the EOS and the marker: nothing to score.
    CHECK_THROWS_AS(TaskBatches({long_prompt}, 1, pad, false, 0), BadInput);
    CHECK_THROWS_WITH(TaskBatches({long_prompt}, 1, pad, false, 0), Catch::Contains("raise task.seq_len"));
    CHECK_THROWS_WITH(TaskBatches({}, T, pad, false, 0), Catch::Contains("no task examples"));
  }
}

TEST_CASE("TaskBatches: a seeded order per epoch, and restore(cursor) reproduces it", "[train][task]") {
  const int64_t T = 8;
  TaskBatches a(numbered_examples(10), T, 0, false, 5);
  std::vector<torch::Tensor> xs, ys;
  uint64_t cursor_after_two = 0;
  for (int i = 0; i < 7; ++i) {  // 21 draws: over two epochs
    torch::Tensor x, y;
    a.next(3, x, y);
    xs.push_back(x);
    ys.push_back(y);
    if (i == 1) cursor_after_two = a.cursor();
  }
  CHECK(cursor_after_two == 6);
  CHECK(a.cursor() == 21);
  CHECK(a.epoch() == 2);

  // Each epoch is a permutation of all 10 examples (column 1 of x names the example).
  torch::Tensor ids = torch::cat(xs, 0).select(1, 1);  // (21,)
  auto epoch_ids = [&](int64_t e) {
    auto s = ids.narrow(0, e * 10, 10).contiguous();
    return std::vector<int64_t>(s.data_ptr<int64_t>(), s.data_ptr<int64_t>() + 10);
  };
  std::vector<int64_t> e0 = epoch_ids(0), e1 = epoch_ids(1);
  CHECK(std::set<int64_t>(e0.begin(), e0.end()).size() == 10);
  CHECK(std::set<int64_t>(e1.begin(), e1.end()).size() == 10);
  CHECK(e0 != e1);

  // A fresh source restored to the cursor continues exactly; so does the same one rewound.
  TaskBatches b(numbered_examples(10), T, 0, false, 5);
  b.restore(cursor_after_two);
  for (int i = 2; i < 7; ++i) {
    torch::Tensor x, y;
    b.next(3, x, y);
    CHECK(torch::equal(x, xs[i]));
    CHECK(torch::equal(y, ys[i]));
  }
  a.restore(0);
  torch::Tensor x, y;
  a.next(3, x, y);
  CHECK(torch::equal(x, xs[0]));

  // Another seed, another order.
  TaskBatches c(numbered_examples(10), T, 0, false, 6);
  c.next(10, x, y);
  CHECK_FALSE(torch::equal(x, torch::cat(xs, 0).narrow(0, 0, 10)));
}

TEST_CASE("ReplayBatches: task rows, then replay rows scoring their last targets - one cursor for both",
          "[train][task]") {
  test::TinyRun run;                     // real pretraining shards
  const int64_t T = run.config.context;  // 16
  auto mixture = [&] { return data::DomainMixtureSampler(run.train_domains, T + 1, 9); };
  // Each example scores 3 targets (completion of 3 tokens after a 2-token prompt).
  auto task = [&] { return std::make_unique<TaskBatches>(numbered_examples(12), T, 0, false, 4); };
  auto with = [&](double f) { return ReplayBatches(task(), std::make_unique<MixtureBatches>(mixture()), f); };

  SECTION("replay_rows and replay_targets") {
    CHECK(task()->mean_scored_targets() == 3.0);
    CHECK(with(0.0).replay_rows(8) == 0);
    CHECK(with(0.25).replay_rows(1) == 0);
    // a = 0.25 / 0.75 * 3 = 1 replay target per task row: ceil(1.25 * 8 / 17) = 1 row holds them.
    CHECK(with(0.25).replay_rows(8) == 1);
    CHECK(with(0.25).replay_targets(21) == 7);  // 7 / (7 + 21) = 25%
    CHECK(with(0.5).replay_targets(9) == 9);
    // a = 27: ceil(1.25 * 27 * 4 / 43) = 4, clamped to rows - 1.
    CHECK(with(0.9).replay_rows(4) == 3);
    CHECK_THROWS_AS(with(1.0), Failure);
    CHECK_THROWS_AS(with(-0.1), Failure);
  }

  SECTION("the exact layout; cursor round trip") {
    ReplayBatches replay = with(0.25);
    TaskBatches task_alone(numbered_examples(12), T, 0, false, 4);
    MixtureBatches replay_alone(mixture());

    torch::Tensor x, y, tx, ty, rx, ry;
    replay.next(8, x, y);
    REQUIRE(x.sizes() == torch::IntArrayRef{8, T});
    REQUIRE(y.sizes() == torch::IntArrayRef{8, T});
    task_alone.next(7, tx, ty);
    replay_alone.next(1, rx, ry);
    CHECK(torch::equal(x.narrow(0, 0, 7), tx));
    CHECK(torch::equal(y.narrow(0, 0, 7), ty));
    CHECK(torch::equal(x.narrow(0, 7, 1), rx));
    // 21 task targets -> 7 replayed ones: the window's last 7, the rest ignored.
    CHECK(torch::equal(y[7].narrow(0, T - 7, 7), ry[0].narrow(0, T - 7, 7)));
    CHECK((y[7].narrow(0, 0, T - 7) == -1).all().item<bool>());
    CHECK(replay.last_replayed_targets() == 7);
    CHECK(replay.cursor() == (uint64_t{7} << 32 | 1));
    // Distillation's positions: the task rows' real tokens, and the whole replayed window.
    CHECK(torch::equal(replay.last_task_positions().narrow(0, 0, 7), task_alone.last_task_positions()));
    CHECK_FALSE(replay.last_task_positions()[7].any().item<bool>());
    CHECK(replay.last_replay_positions()[7].all().item<bool>());
    CHECK_FALSE(replay.last_replay_positions().narrow(0, 0, 7).any().item<bool>());

    const uint64_t saved = replay.cursor();
    torch::Tensor x2, y2;
    replay.next(8, x2, y2);
    replay.next(8, x, y);  // move on, then come back
    ReplayBatches resumed = with(0.25);
    resumed.restore(saved);
    CHECK(resumed.cursor() == saved);
    torch::Tensor x3, y3;
    resumed.next(8, x3, y3);
    CHECK(torch::equal(x3, x2));
    CHECK(torch::equal(y3, y2));

    // A batch of one row is all task.
    replay.next(1, x, y);
    CHECK(x.size(0) == 1);
    CHECK(replay.last_replayed_targets() == 0);
    CHECK(replay.cursor() == (uint64_t{22} << 32 | 3));

    replay.task().restore(uint64_t{1} << 32);
    CHECK_THROWS_AS(replay.cursor(), Failure);
  }

  SECTION("the realised share of scored targets is the recipe's, within 2 points over 100 steps") {
    // Completions of 1 to 9 tokens: task rows score different numbers of targets.
    std::vector<TokenizedExample> varied;
    for (int i = 0; i < 40; ++i) {
      TokenizedExample e{{4, 10 + i % 40}, {}};
      for (int k = 0; k <= i % 9; ++k) e.completion.push_back(20 + (i + k) % 40);
      varied.push_back(e);
    }
    for (double f : {0.1, 0.25, 0.5}) {
      ReplayBatches replay(std::make_unique<TaskBatches>(varied, T, 0, false, 5),
                           std::make_unique<MixtureBatches>(mixture()), f);
      int64_t replayed = 0, scored = 0;
      for (int step = 0; step < 100; ++step) {
        torch::Tensor x, y;
        replay.next(8, x, y);
        replayed += replay.last_replayed_targets();
        scored += (y >= 0).sum().item<int64_t>();
      }
      CAPTURE(f);
      CHECK(std::abs(static_cast<double>(replayed) / static_cast<double>(scored) - f) < 0.02);
    }
  }

  SECTION("rows of different widths are refused") {
    auto wide = data::DomainMixtureSampler(run.train_domains, T + 2, 9);
    ReplayBatches bad(task(), std::make_unique<MixtureBatches>(std::move(wide)), 0.5);
    torch::Tensor x, y;
    CHECK_THROWS_AS(bad.next(4, x, y), Failure);
  }
}
