// The fine-tuning task scored on one model: mean completion-token loss and exact match of greedy
// generation, on examples already tokenized by the caller (eval may not use lib/tokenizer:
// apps/ encode the task and pass a decode function for the report's samples). The header keeps
// torch out (LlamaImpl is only named); torch is in the .cpp.
#pragma once

#include <c10/core/Device.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "eval/forgetting_report.h"

namespace plinth::model {
class LlamaImpl;
}

namespace plinth::eval {

// One example: what the model sees, and what it should answer.
struct TaskItem {
  std::vector<int32_t> prompt;      // EOS, then the rendered template (data::task_prompt_tokens), e.g.
                                    // [EOS] "<|prompt|>12+30=<|response|>" as ids
  std::vector<int32_t> completion;  // the answer's ids, ending with the end marker (e.g. <|end|>)
};

using TokenDecoder = std::function<std::string(const std::vector<int32_t>& ids)>;

// Exact match compares answers as text, not as token ids, so one answer tokenized two ways
// ("dog" as one piece, or as "d" + "og") counts once. Both the greedy answer and the reference
// are decoded and then normalised: whitespace (space, tab, newline, CR, FF, VT) trimmed at both
// ends and every run of it inside made one space. Case and punctuation still count.
std::string normalize_answer(std::string_view text);

struct TaskScore {
  uint64_t examples = 0;
  uint64_t completion_tokens = 0;                                 // tokens scored (the end markers included)
  double nll = 0;                                                 // summed over them, nats
  double loss = std::numeric_limits<double>::quiet_NaN();         // nll / completion_tokens
  double exact_match = std::numeric_limits<double>::quiet_NaN();  // fraction of examples answered exactly
  // Per example, in item order: the completion's summed NLL (nats) and token count, the greedy
  // output up to (not including) the first end_id, and whether its normalised text equals the
  // reference's (normalize_answer). The report's task interval is a bootstrap over these.
  std::vector<double> example_nll;
  std::vector<uint64_t> example_tokens;
  std::vector<std::vector<int32_t>> generated;
  std::vector<bool> correct;
};

// Scores every item on `model`, which must already sit on `device` (and be owned by a
// model::Llama holder, as every plinth model is: greedy decoding goes through model/generation.h).
// Loss: teacher-forced, batch_rows examples per forward pass (right-padded; the causal mask keeps
// padding out of the scored positions); NLL of the completion tokens given the prompt. A long
// example is cut by data::fit_example to context + 1 tokens, the rule (and, for task.seq_len =
// the context, the very tokens) of the fine-tune's validation rows.
// Exact match: greedy decoding with the KV cache from the prompt until end_id or max_new_tokens
// (>= 1; the same for every item: a budget sized by the reference would tell the model how long
// its answer is), then decode(answer) and decode(reference without end_id) compared after
// normalize_answer. The prompt is cut by data::fit_prompt to leave room for max_new_tokens.
// The model runs in eval mode and is put back in its previous mode afterwards.
// BadInput (naming the example's index) for no items, an empty prompt or completion, a
// completion of context tokens or more, or an id outside the vocabulary. Failure for
// max_new_tokens < 1 or no decode function (caller bugs).
TaskScore score_task(model::LlamaImpl& model, const std::vector<TaskItem>& items, int end_id,
                     int64_t max_new_tokens, const TokenDecoder& decode, c10::Device device,
                     int64_t batch_rows);

// The teacher-forced half of score_task alone (no generation): example_nll, example_tokens, nll
// and loss; exact_match stays NaN and `correct` empty. What attribution needs per restored part.
TaskScore score_task_loss(model::LlamaImpl& model, const std::vector<TaskItem>& items, c10::Device device,
                          int64_t batch_rows);

// How far the tuned model moved from the base on the task's own examples: both models read the
// same tokens (data::fit_example's cut, as score_task_loss) in one pass, and per example the KL
// and top-1 agreement of their next-token distributions (model::next_token_stats) are
// summed over the positions that predict a completion token and, apart, over those that predict
// the prompt's own tokens after its first (EOS, or the document-start token). Prompt positions
// say how the fine-tune changed the model on text it was never trained to predict (task rows
// score completions only); completion positions, how far it moved on what it learned.
struct TaskDivergence {
  std::vector<double> completion_kl, prompt_kl;            // nats, summed per example
  std::vector<uint64_t> completion_agree, prompt_agree;    // positions where both argmaxes agree
  std::vector<uint64_t> completion_tokens, prompt_tokens;  // positions of each kind
};

// Runs under NoGradGuard in eval mode (both models' modes restored). The models must share the
// vocabulary and sit on `device`; items are checked as score_task checks them.
TaskDivergence score_task_divergence(model::LlamaImpl& base, model::LlamaImpl& tuned,
                                     const std::vector<TaskItem>& items, c10::Device device,
                                     int64_t batch_rows);

// The report's task section from the same items scored on the base and the tuned model: the
// per-example columns (`indices`: each item's index in the test split) from which derive()
// computes losses, exact matches and their intervals, and the first `max_samples` examples
// decoded for reading.
// `divergence`, when given, adds the per-example KL and agreement columns.
TaskResult make_task_result(const std::string& name, const std::vector<TaskItem>& items,
                            const std::vector<uint64_t>& indices, int end_id, const TaskScore& base,
                            const TaskScore& tuned, const TokenDecoder& decode, size_t max_samples = 8,
                            const TaskDivergence* divergence = nullptr);

}  // namespace plinth::eval
