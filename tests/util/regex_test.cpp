#include "util/regex.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using plinth::Regex;
using plinth::RegexError;

TEST_CASE("Regex: search and capture groups", "[util][regex]") {
  Regex r(R"(^(\S+) (?:\{(m|f)\} )?:: (.+)$)");  // \w is ASCII only, as it was in std::regex
  CHECK(r.capture_groups() == 3);
  std::vector<std::string_view> g;
  REQUIRE(r.search("Haus {n} :: house") == false);
  REQUIRE(r.search("Tür {f} :: door", g));
  CHECK(g == std::vector<std::string_view>{"Tür", "f", "door"});
  REQUIRE(r.search("Hund :: dog", g));
  CHECK(g == std::vector<std::string_view>{"Hund", "", "dog"});  // the optional group took no part
  // Unanchored patterns search the whole line; '.' is one UTF-8 character.
  CHECK(Regex("q_proj").search("model.layers.0.self_attn.q_proj"));
  CHECK(Regex("^T.r$").search("Tür"));
}

TEST_CASE("Regex: patterns that backtrack forever in std::regex match in linear time", "[util][regex]") {
  // With std::regex the first ran for hours (past 20 s on 25 characters) and the others
  // overflowed the stack on a line this long; the suite's timeout stops the test if matching
  // ever backtracks again.
  std::string as(1 << 20, 'a');
  CHECK_FALSE(Regex("(a*)*b").search(as));
  CHECK_FALSE(Regex("^(a|aa)+$").search(as + "b"));
  CHECK(Regex("^(.|\\n)*$").search(as));
  std::vector<std::string_view> g;
  REQUIRE(Regex("^(.+?) :: (.+)$").search(as + " :: " + as, g));
  CHECK(g[0].size() == as.size());
}

TEST_CASE("Regex: a refused pattern says why", "[util][regex]") {
  CHECK_THROWS_WITH(Regex("(a"), Catch::Contains("missing )"));
  CHECK_THROWS_WITH(Regex("a(?=b)"), Catch::Contains("lookahead is not supported"));
  CHECK_THROWS_WITH(Regex("a(?!b)"), Catch::Contains("lookahead is not supported"));
  CHECK_THROWS_WITH(Regex("(?<=a)b"),
                    Catch::Contains("lookbehind is not supported") && Catch::Contains("(?P<name>...)"));
  CHECK_THROWS_WITH(Regex("(a)\\1"), Catch::Contains("back-references are not supported"));
  CHECK_THROWS_AS(Regex("a{1000}{1000}"), RegexError);  // too large to compile: refused, not slow
  CHECK_NOTHROW(Regex("(?P<name>a)"));
}

TEST_CASE("Regex: one message for a pattern that does not compile", "[util][regex]") {
  try {
    Regex("q_proj(");
    FAIL("expected RegexError");
  } catch (const RegexError& e) {
    CHECK(plinth::invalid_regex("target", "q_proj(", e) ==
          std::string("target 'q_proj(' is not a valid regex: ") + e.what());
    CHECK(plinth::invalid_regex("", "q_proj(", e) ==
          std::string("'q_proj(' is not a valid regex: ") + e.what());
  }
}
