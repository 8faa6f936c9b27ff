// A suite's questions turned into log-likelihood requests the way lm-evaluation-harness turns a
// `multiple_choice` document into them, ready for the scorer (suite_scorer.h). No torch here.
//
// Per choice, the request is (context, continuation) = (query, delimiter + choice). Its tokens,
// as the harness's causal-LM wrapper encodes a pair (`_encode_pair`) with add_bos_token=True:
//   1. whitespace at the end of the context moves to the front of the continuation
//      (Python's str.rstrip(): the Unicode white space characters);
//   2. whole = [start] + encode(context + continuation), ctx = [start] + encode(context);
//   3. continuation tokens = whole[len(ctx):], the context tokens = ctx.
// `start` is the document-start token of the model's convention (tokenizer/document_convention.h:
// plinth's EOS, or a Llama BOS), the token the harness's add_bos_token puts first. Context and
// continuation are encoded together and split, so a token that spans the boundary belongs to the
// continuation, as in the harness.
//
// Unconditional requests (acc_mutual_info): per choice, ("", delimiter + choice), encoded as the
// harness encodes an empty context: continuation = encode(delimiter + choice), context = [start]
// (when the continuation's first token is itself `start`, that token is the context instead).
//
// Scoring input: seq = ctx + continuation; when it is longer than max_length + 1 tokens its
// first tokens are dropped (the harness keeps seq[-(max_length + 1):]), the model reads seq[:-1]
// and the continuation's tokens are scored from its last positions.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "eval/eval_spec.h"
#include "eval/suite_file.h"
#include "eval/suite_result.h"

namespace plinth::eval {

// Text -> token ids, no special tokens (the caller holds the tokenizer: eval may not use it).
using TextEncoder = std::function<std::vector<int32_t>(const std::string& text)>;

struct ChoiceTokens {
  std::vector<int32_t> context;       // [start, ...] before any cut
  std::vector<int32_t> continuation;  // what is scored
};

// Steps 1-3 above for one (context, continuation).
ChoiceTokens encode_choice(const std::string& context, const std::string& continuation,
                           const TextEncoder& encode, int32_t start_id);

// The unconditional request ("", continuation), encoded as above.
ChoiceTokens encode_unconditional(const std::string& continuation, const TextEncoder& encode,
                                  int32_t start_id);

// Python's str.isspace() for one code point: what rstrip() removes.
bool python_space(uint32_t code_point);

struct SuiteRequests {
  SuiteResult result;                              // measured columns but the log-likelihoods
  std::vector<std::vector<ChoiceTokens>> choices;  // per scored question, per choice
  std::vector<std::vector<ChoiceTokens>> unconditional;  // the same, with no query (acc_mutual_info)
};

// The sampled questions of `file`, encoded. Fills result's name, path, delimiter, counts, index,
// gold, choice_chars and metric (the spec's, else the file header's "metric", else acc).
// BadInput naming the file and line: an empty query (the harness scores an
// empty context another way, which plinth does not follow), a choice that encodes to no token.
SuiteRequests encode_suite(const SuiteSpec& spec, const SuiteFile& file, const std::vector<uint64_t>& sample,
                           const TextEncoder& encode, int32_t start_id);

// The encoded requests against a model that reads max_length tokens: sets result.truncated (the
// questions whose longest request is cut from the left) and throws BadInput naming the file and
// line for a choice longer than max_length tokens (nothing of the query would be left).
void fit_to_context(SuiteRequests& s, const SuiteFile& file, int64_t max_length);

// encode_suite, then fit_to_context.
SuiteRequests prepare_suite(const SuiteSpec& spec, const SuiteFile& file, const std::vector<uint64_t>& sample,
                            const TextEncoder& encode, int32_t start_id, int64_t max_length);

}  // namespace plinth::eval
