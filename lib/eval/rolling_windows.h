// How a document is cut into model-sized windows for scoring: lm-evaluation-harness's
// loglikelihood_rolling (get_rolling_token_windows with context_len 1 + make_disjoint_window).
//
// A document's n text tokens t[0..n) are read as the sequence s = [EOS, t0, ..., t(n-1)]:
// the first token is predicted from the EOS that ends the previous document in every shard
// (and that training therefore always saw before a document), never from another
// document's text. Each window feeds s[input_begin, input_begin + length) to the model and
// scores the last `scored` of its next-token predictions. Together the windows predict every
// token exactly once:
//   - the first window predicts t[0, min(n, C)) from [EOS, t0, ...];
//   - each later window predicts the next (up to) C tokens, its input ending right before
//     the last of them. A full middle window thus sees only the one token before it as context;
//     the last window, when shorter, is shifted left so it sees up to C - scored earlier
//     tokens as well. That is the harness's definition, so numbers stay comparable.
#pragma once

#include <cstdint>
#include <vector>

namespace plinth::eval {

struct RollingWindow {
  uint64_t input_begin = 0;  // index into s = [EOS, t0, ..., t(n-1)]
  int64_t length = 0;        // input tokens, <= context
  int64_t scored = 0;        // the last `scored` positions are predictions counted in the loss
};

// Windows for a document of `tokens` text tokens and a model context of `context` (>= 1).
// None when tokens == 0.
std::vector<RollingWindow> rolling_windows(uint64_t tokens, int64_t context);

}  // namespace plinth::eval
