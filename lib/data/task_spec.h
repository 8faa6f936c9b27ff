// The recipe's `task:` section: which file holds a fine-tuning task, how its lines become
// (prompt, completion) examples, how an example is rendered for the model, and how the
// examples are split into train / val / test.
//
//   task:
//     name: trans-de-en
//     format: regex                  # jsonl | tsv | regex
//     path: /usr/share/trans/de-en
//     regex: '^(?<prompt>[^{}|;:\[\]]+?) \{[fmn]\} :: (?<completion>[^|;\[\]{}]+)$'
//     template: "<|prompt|>{prompt}<|response|>"
//     completion_suffix: "<|end|>"
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "util/config_section.h"
#include "util/error.h"

namespace plinth::data {

struct TaskSpec {
  std::string name = "task";            // names the task in reports and metrics
  std::string format;                   // jsonl | tsv | regex (required)
  std::string path;                     // the task file; relative paths are taken from the working directory
  std::string prompt_field = "prompt";  // jsonl: string (or number) fields
  std::string completion_field = "completion";  //
  int prompt_column = 0;                        // tsv: 0-based, tab-separated columns
  int completion_column = 1;                    //
  // regex: searched in each line; must hold the named groups (?<prompt>...) and
  // (?<completion>...). Lines it does not match are not examples (counted, not errors).
  std::string regex;
  // Recipe key `template` (a C++ keyword): what the model sees before the completion.
  // "{prompt}" is replaced by the example's prompt; the <|...|> markers are user-defined
  // symbols of the tokenizer, so each is one token.
  std::string prompt_template = "<|prompt|>{prompt}<|response|>";
  std::string completion_suffix = "<|end|>";  // appended to every completion: generation stops here
  bool loss_on_prompt = false;                // also score the prompt tokens
  std::string on_bad_line = "fail";  // fail | skip: a malformed JSONL/TSV line or an empty completion
  int64_t max_examples = 0;          // 0 = all; the first N after filtering, in file order
  double val_fraction = 0.05;        // shares held out by a stable hash of each prompt (task_split)
  double test_fraction = 0.05;
  uint64_t split_seed = 0;  // seed of that hash; change it to draw another split
  // Tokens per training row (T); longer examples are cut at the end. 0 = wide enough for 99% of
  // the training examples (the 99th percentile of their lengths, less the one token x lacks,
  // rounded up to a multiple of 8), at most the base model's context.
  int64_t seq_len = 0;
  Location where;  // the recipe section, for messages
};

// Problems reported: missing format/path, a path that does not exist, a regex missing for
// format regex (or given for another format), a regex that does not compile or lacks a named
// group, a template without {prompt}, the same column for prompt and completion,
// val_fraction + test_fraction >= 1, unknown keys.
void bind(ConfigSection& s, TaskSpec& spec);

// How a model fine-tuned on a task was asked: the `task:` section's name, template and
// completion_suffix, read from the recipe tree that its checkpoint stores ("recipe" meta), with
// TaskSpec's defaults for absent keys. `plinth generate` wraps a prompt in this template and stops
// at the suffix. Other keys are not read: the task file need not exist where the checkpoint is
// used. nullopt when the recipe has no task: section. BadInput naming the key for a template
// without {prompt} or a value that is not text.
std::optional<TaskSpec> task_format_from_recipe(const ConfigNode& recipe_root, const Location& where = {});

// A task regex is written with (?<prompt>...) and (?<completion>...) (Python's and RE2's
// (?P<name>...) is accepted too); this strips the names, which RE2 (util/regex.h) in Debian
// bookworm reads in the second spelling only, and remembers which capture group each one is.
struct TaskRegex {
  std::string numbered;     // the pattern with the group names removed
  size_t prompt_group = 0;  // 1-based capture group indices
  size_t completion_group = 0;
};

// Throws BadInput (naming `where`) when a group is missing or named twice, or the pattern
// does not compile.
TaskRegex translate_task_regex(const std::string& pattern, const Location& where = {});

}  // namespace plinth::data
