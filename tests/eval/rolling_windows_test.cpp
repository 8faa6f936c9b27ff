#include <catch2/catch.hpp>

#include <vector>

#include "eval/rolling_windows.h"
#include "eval/word_count.h"

namespace plinth::eval {

TEST_CASE("rolling windows predict every token of a document exactly once", "[eval]") {
  for (int64_t context : {1, 2, 3, 8, 17}) {
    for (uint64_t n : {0, 1, 2, 7, 8, 9, 16, 17, 50, 101}) {
      CAPTURE(context, n);
      std::vector<int> predicted(n, 0);
      for (const auto& w : rolling_windows(n, context)) {
        REQUIRE(w.length >= 1);
        REQUIRE(w.length <= context);
        REQUIRE(w.scored >= 1);
        REQUIRE(w.scored <= w.length);
        // The input lies inside [EOS, t0 .. t(n-1)] and never needs the target after t(n-1):
        // nothing before the document's own EOS prefix, nothing of the next document.
        REQUIRE(w.input_begin + static_cast<uint64_t>(w.length) <= n);
        // Input position i predicts t[input_begin + i].
        for (int64_t i = w.length - w.scored; i < w.length; ++i) ++predicted[w.input_begin + i];
      }
      for (uint64_t t = 0; t < n; ++t) CHECK(predicted[t] == 1);
    }
  }
}

TEST_CASE("rolling windows follow lm-evaluation-harness's loglikelihood_rolling", "[eval]") {
  // get_rolling_token_windows(range(10), prefix, max_seq_len=4, context_len=1):
  //   ([p,0,1,2], [0,1,2,3]), ([3,4,5,6], [4,5,6,7]), ([5,6,7,8], [6,7,8,9]) -> disjoint: last 2 scored.
  auto w = rolling_windows(10, 4);
  REQUIRE(w.size() == 3);
  CHECK(w[0].input_begin == 0);  // s[0] is the EOS before the document
  CHECK(w[0].length == 4);
  CHECK(w[0].scored == 4);
  CHECK(w[1].input_begin == 4);  // s[4] = t3
  CHECK(w[1].length == 4);
  CHECK(w[1].scored == 4);
  CHECK(w[2].input_begin == 6);  // s[6] = t5: the last window reaches back for context
  CHECK(w[2].length == 4);
  CHECK(w[2].scored == 2);

  auto short_doc = rolling_windows(3, 8);
  REQUIRE(short_doc.size() == 1);
  CHECK(short_doc[0].input_begin == 0);
  CHECK(short_doc[0].length == 3);
  CHECK(short_doc[0].scored == 3);
  CHECK(rolling_windows(0, 8).empty());
}

TEST_CASE("count_words counts runs of non-whitespace", "[eval]") {
  CHECK(count_words("") == 0);
  CHECK(count_words("   \n\t") == 0);
  CHECK(count_words("one") == 1);
  CHECK(count_words("  two words\n") == 2);
  CHECK(count_words("a\tb\nc\rd\fe\vf") == 6);
  CHECK(count_words("x = f(y);  // code") == 5);
  // Unicode whitespace as Python's str.isspace(): no-break space, em space, ideographic space.
  CHECK(count_words("a\xc2\xa0"
                    "b\xe2\x80\x83"
                    "c\xe3\x80\x80"
                    "d") == 4);
  // Non-ASCII letters and invalid bytes are word characters.
  CHECK(count_words("Stra\xc3\x9f"
                    "e caf\xc3\xa9") == 2);
  CHECK(count_words("\xff\xfe \xe2\x80") == 2);
}

}  // namespace plinth::eval
