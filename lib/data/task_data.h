// A fine-tuning task's examples: read from the file a TaskSpec names (JSONL fields, TSV
// columns, or a regex with named groups over text lines), deduplicated, and split into
// train / val / test by a stable hash of each example's prompt; and an example's tokens, with
// the prompt and the completion kept apart so that training can score the completion only.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/task_spec.h"
#include "tokenizer/tokenizer.h"

namespace plinth::data {

struct TaskExample {
  std::string prompt, completion;  // valid UTF-8, surrounding whitespace trimmed; completion non-empty
  uint64_t line = 0;               // 1-based line of the task file it came from
};

struct TaskData {
  std::vector<TaskExample> train, val, test;  // each in file order
  uint64_t lines = 0;                         // lines read
  uint64_t skipped = 0;                       // bad lines skipped (on_bad_line: skip)
  uint64_t unmatched = 0;                     // regex: non-blank, non-comment lines the regex did not match
  uint64_t duplicates = 0;                    // (prompt, completion) pairs seen before, dropped
  uint64_t invalid_utf8 = 0;                  // invalid UTF-8 sequences replaced by U+FFFD
  std::vector<std::string> skipped_samples;   // the first few "file:line: why" of the skipped lines

  size_t examples() const { return train.size() + val.size() + test.size(); }
};

// Reads and splits the task. Blank lines are ignored in every format, and lines starting with
// '#' for tsv and regex. Throws BadInput: the file cannot be read; with on_bad_line: fail, a
// malformed JSONL/TSV line or an empty completion (file:line and what is wrong);
// val_fraction + test_fraction >= 1; a regex without its named groups; no training example.
TaskData load_task(const TaskSpec& spec);

// The split an example belongs to, from a hash of its prompt and the seed alone:
//   - all completions of one prompt land in the same split (a German word with two English
//     senses is never in train with one sense and in test with the other: no leak);
//   - adding or removing other examples never moves an example.
// u = task_split_point(prompt, seed) in [0, 1): Val when u < val_fraction, Test when
// u < val_fraction + test_fraction, else Train.
// The hash (XXH3-64 of the prompt's bytes, seed ^ 0x7a5c5eed7a5c, top 53 bits) is part of the
// file format of users' experiments: changing it reshuffles every split between versions, so
// tests/data/task_data_test.cpp pins it with golden values. Change it only on purpose.
enum class TaskSplit { Train, Val, Test };
TaskSplit task_split(const std::string& prompt, double val_fraction, double test_fraction, uint64_t seed);
double task_split_point(const std::string& prompt, uint64_t seed);

// The template with every {prompt} replaced by `prompt`.
std::string render_prompt(const TaskSpec& spec, const std::string& prompt);

// One prompt format everywhere. Pretraining saw every document right after the EOS that ends the
// document before it (prepare appends EOS to each document), so "after EOS" is where the model
// has learned that a text begins. Every task sequence begins the same way: EOS, then the
// templated prompt, e.g. [EOS] <|prompt|> Hund <|response|>. Training rows, the validation loss,
// test scoring and `plinth generate` on a fine-tuned checkpoint all take their prompt from here,
// so the model is asked at test time exactly as it was taught. BadInput when the tokenizer has
// no EOS piece.
std::vector<int32_t> task_prompt_tokens(const tokenizer::Tokenizer& tokenizer, const TaskSpec& spec,
                                        const std::string& prompt);

struct TokenizedExample {
  std::vector<int32_t> prompt;      // task_prompt_tokens(tokenizer, spec, example.prompt): EOS first
  std::vector<int32_t> completion;  // encode(example.completion + spec.completion_suffix)
};

TokenizedExample tokenize_example(const tokenizer::Tokenizer& tokenizer, const TaskSpec& spec,
                                  const TaskExample& example);

// One truncation rule wherever a task example must fit a fixed number of tokens: training and
// validation rows (limit T + 1, train/task_batches.h) and test scoring (limit context + 1,
// eval/task_metrics.h). So the validation loss and the test loss of a long example are computed
// on the same tokens. With limit L:
//   1. prompt + completion <= L: unchanged.
//   2. Otherwise the prompt loses tokens from its start, right after its first token (the EOS).
//      The completion is what is scored and stays whole (cutting its end would drop the end
//      marker: the model would never be taught to stop, and the loss would cover another
//      answer). The prompt's end holds the marker the answer follows (<|response|>) and the
//      words nearest to it; its start is the part the answer depends on least. The leading EOS
//      stays, so every task sequence still begins as a pretraining document does
//      (task_prompt_tokens).
//   3. When even the EOS and the prompt's last token leave no room for the whole completion,
//      the prompt keeps those two and the completion is cut at its end (training learns its
//      start; test scoring refuses such a completion before it gets here).
// Never more than L tokens (L = 1 leaves the EOS alone, L = 0 nothing).
TokenizedExample fit_example(const TokenizedExample& example, size_t limit);

// The prompt as fit_example keeps it beside a completion of `completion_tokens` tokens. Greedy
// decoding uses it with the generation budget in place of the completion, so the prompt it sees
// does not depend on the length of the reference answer.
std::vector<int32_t> fit_prompt(const std::vector<int32_t>& prompt, size_t completion_tokens, size_t limit);

}  // namespace plinth::data
