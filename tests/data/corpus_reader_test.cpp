#include "data/corpus_reader.h"

#include <zlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "test_support.h"

using namespace plinth;
using namespace plinth::data;
using plinth::test::TempDir;
namespace fs = std::filesystem;

namespace {

SourceSpec source(const fs::path& path, DocumentRule rule = DocumentRule::File, std::string separator = {}) {
  SourceSpec s;
  s.path = path.string();
  s.documents = rule;
  s.separator = std::move(separator);
  s.where = Location{"recipe.yaml", 7, 5};
  return s;
}

std::vector<Document> read_all(const SourceSpec& spec, ReadStats* stats = nullptr, uint64_t budget = 0) {
  std::vector<Document> docs;
  ReadStats st = read_source(spec, budget, [&](Document&& d) { docs.push_back(std::move(d)); });
  if (stats) *stats = st;
  return docs;
}

std::vector<std::string> texts(const std::vector<Document>& docs) {
  std::vector<std::string> out;
  for (const auto& d : docs) out.push_back(d.text);
  return out;
}

void write_gzip(const fs::path& path, const std::string& content) {
  gzFile f = gzopen(path.c_str(), "wb");
  REQUIRE(f != nullptr);
  REQUIRE(gzwrite(f, content.data(), static_cast<unsigned>(content.size())) ==
          static_cast<int>(content.size()));
  REQUIRE(gzclose(f) == Z_OK);
}

}  // namespace

TEST_CASE("file rule: one document per file, newlines kept, CRLF normalised", "[data]") {
  TempDir dir;
  dir.write("b.py", "def f():\n    return 1\n\n\n");
  dir.write("a.txt", "\n\nline one\r\nline two\r\n");
  dir.write("c/empty.txt", " \n\t\n");
  ReadStats st;
  auto docs = read_all(source(dir.path()), &st);
  CHECK(texts(docs) == std::vector<std::string>{"line one\nline two", "def f():\n    return 1"});
  CHECK(docs[0].origin == (dir / "a.txt").string());
  CHECK(st.files == 3);
  CHECK(st.documents == 2);
  CHECK(st.bytes == 17 + 21);
  CHECK(st.empty_documents == 1);
  CHECK_FALSE(st.capped);
}

TEST_CASE("blank_line rule: paragraphs separated by blank lines", "[data]") {
  TempDir dir;
  auto f = dir.write("p.txt", "p1 a\np1 b\n\n\n  \t\n  p2 indented\n\np3");
  ReadStats st;
  auto docs = read_all(source(f, DocumentRule::BlankLine), &st);
  CHECK(texts(docs) == std::vector<std::string>{"p1 a\np1 b", "  p2 indented", "p3"});
  CHECK(docs[0].origin == f.string() + ":1");
  CHECK(docs[1].origin == f.string() + ":6");
  CHECK(docs[2].origin == f.string() + ":8");
  CHECK(st.empty_documents == 0);
}

TEST_CASE("separator rule: the matching line ends a document and is dropped", "[data]") {
  TempDir dir;
  auto f = dir.write("fortunes", "one\n%\ntwo\n  lines\n%\n\n%\nthree\n%\n");
  ReadStats st;
  auto docs = read_all(source(f, DocumentRule::Separator, "^%$"), &st);
  CHECK(texts(docs) == std::vector<std::string>{"one", "two\n  lines", "three"});
  CHECK(docs[1].origin == f.string() + ":3");
  CHECK(st.empty_documents == 1);

  SECTION("a pattern that needs the regex engine") {
    auto g = dir.write("dashes", "x\n---\ny\n-----\nz\n--\n");
    auto d = read_all(source(g, DocumentRule::Separator, "^-{3,}\\s*$"));
    CHECK(texts(d) == std::vector<std::string>{"x", "y", "z\n--"});
  }
  SECTION("an anchored literal prefix") {
    auto g = dir.write("eq", "a\n== b\nc\n=x\n");
    auto d = read_all(source(g, DocumentRule::Separator, "^=="));
    CHECK(texts(d) == std::vector<std::string>{"a", "c\n=x"});
  }
}

TEST_CASE("start rule: the matching line begins a document and is kept", "[data]") {
  TempDir dir;
  auto f = dir.write("dict", "  preamble\nfoo\n  def of foo\n\n  more\n\nbar\n  def of bar\n");
  auto docs = read_all(source(f, DocumentRule::Start, "^\\S"));
  CHECK(texts(docs) ==
        std::vector<std::string>{"  preamble", "foo\n  def of foo\n\n  more", "bar\n  def of bar"});
  CHECK(docs[1].origin == f.string() + ":2");
}

TEST_CASE("line rule: every non-empty line is a document", "[data]") {
  TempDir dir;
  auto f = dir.write("smiles.smi", "CCO ethanol\n\n   \nc1ccccc1 benzene\r\n");
  ReadStats st;
  auto docs = read_all(source(f, DocumentRule::Line), &st);
  CHECK(texts(docs) == std::vector<std::string>{"CCO ethanol", "c1ccccc1 benzene"});
  CHECK(docs[1].origin == f.string() + ":4");
  CHECK(st.empty_documents == 1);
}

TEST_CASE("gzip input is read transparently, in chunks", "[data]") {
  TempDir dir;
  write_gzip(dir / "small.txt.gz", "alpha\n\nbeta\n");
  auto docs = read_all(source(dir / "small.txt.gz", DocumentRule::BlankLine));
  CHECK(texts(docs) == std::vector<std::string>{"alpha", "beta"});

  // Larger than the reader's chunks, with multi-byte characters at every offset.
  std::string big;
  size_t lines = 0;
  while (big.size() < 3'500'000) big += "zeile " + std::to_string(lines++) + " \xC3\xA4\xE2\x82\xAC\n";
  write_gzip(dir / "big.gz", big);
  ReadStats st;
  auto many = read_all(source(dir / "big.gz", DocumentRule::Line), &st);
  CHECK(many.size() == lines);
  CHECK(st.bytes == big.size() - lines);
  CHECK(st.invalid_utf8 == 0);
  CHECK(many.back().text == "zeile " + std::to_string(lines - 1) + " \xC3\xA4\xE2\x82\xAC");
}

TEST_CASE("a corrupt gzip file is reported - a cap stops reading before the damage", "[data]") {
  TempDir dir;
  // Digits that compress poorly, so half the compressed file is well over one read chunk.
  std::string text;
  for (uint32_t x = 1; text.size() < 6'000'000;) {
    x = x * 1103515245u + 12345u;
    text += "line " + std::to_string(x) + "\n";
  }
  write_gzip(dir / "t.gz", text);
  fs::resize_file(dir / "t.gz", fs::file_size(dir / "t.gz") / 2);
  SourceSpec spec = source(dir / "t.gz");
  CHECK_THROWS_AS(read_all(spec), BadInput);
  spec.max_bytes = 1000;
  ReadStats st;
  auto docs = read_all(spec, &st);
  REQUIRE(docs.size() == 1);
  CHECK(docs[0].text.size() <= 1000);
  CHECK(st.capped);
}

TEST_CASE("jsonl: one field per line - bad records by line number or skipped", "[data]") {
  TempDir dir;
  auto f = dir.write("d.jsonl",
                     "{\"text\": \"a\\r\\nb\\n\", \"id\": 1}\n"
                     "{\"id\": 2, \"text\": \"c\\u0000d\"}\n"
                     "\n"
                     "{\"text\": 5}\n"
                     "not json\n"
                     "{\"other\": \"x\"}\n"
                     "[1, 2]\n"
                     "{\"text\": \"  \"}\n");
  SourceSpec spec = source(f);
  SECTION("error names file and line") {
    try {
      read_all(spec);
      FAIL("expected BadInput");
    } catch (const BadInput& e) {
      REQUIRE(e.problems().size() == 1);
      CHECK(e.problems()[0].where.file == f.string());
      CHECK(e.problems()[0].where.line == 4);
      CHECK_THAT(e.what(), Catch::Contains(f.string() + ":4: ") && Catch::Contains("on_bad_record: skip"));
    }
  }
  SECTION("skip counts them") {
    spec.on_bad_record = "skip";
    ReadStats st;
    auto docs = read_all(spec, &st);
    CHECK(texts(docs) == std::vector<std::string>{"a\nb", "cd"});
    CHECK(docs[1].origin == f.string() + ":2");
    CHECK(st.bad_records_skipped == 4);
    CHECK(st.empty_documents == 1);
    CHECK(st.nul_bytes == 1);
  }
  SECTION("another field") {
    auto g = dir.write("e.data", "{\"body\": \"x\"}\n");
    SourceSpec other = source(g);
    other.format = "jsonl";
    other.field = "body";
    CHECK(texts(read_all(other)) == std::vector<std::string>{"x"});
  }
}

TEST_CASE("tsv: one column per row", "[data]") {
  TempDir dir;
  auto f = dir.write("pairs.tsv", "id\ttext\tlang\n1\thello world\ten\n2\n3\tHallo Welt\tde\n");
  SourceSpec spec = source(f);
  spec.column = 1;
  try {
    read_all(spec);
    FAIL("expected BadInput");
  } catch (const BadInput& e) {
    CHECK(e.problems()[0].where.line == 3);
    CHECK_THAT(e.what(), Catch::Contains("column 1"));
  }
  spec.on_bad_record = "skip";
  ReadStats st;
  CHECK(texts(read_all(spec, &st)) == std::vector<std::string>{"text", "hello world", "Hallo Welt"});
  CHECK(st.bad_records_skipped == 1);
  spec.column = 2;
  CHECK(texts(read_all(spec)) == std::vector<std::string>{"lang", "en", "de"});
}

TEST_CASE("a source cap cuts the crossing document on a UTF-8 boundary", "[data]") {
  TempDir dir;
  auto f = dir.write("l.txt", "a\xC3\xA9\nb\xC3\xA9\xC3\xA9\nnever\n");  // 3 + 5 + 5 bytes
  SourceSpec spec = source(f, DocumentRule::Line);
  SECTION("cut between characters") {
    spec.max_bytes = 5;
    ReadStats st;
    CHECK(texts(read_all(spec, &st)) == std::vector<std::string>{"a\xC3\xA9", "b"});
    CHECK(st.capped);
    CHECK(st.bytes == 4);
  }
  SECTION("cut inside a character backs off to its start") {
    spec.max_bytes = 2;
    CHECK(texts(read_all(spec)) == std::vector<std::string>{"a"});
  }
  SECTION("the budget argument applies when smaller") {
    spec.max_bytes = 100;
    ReadStats st;
    CHECK(texts(read_all(spec, &st, 3)) == std::vector<std::string>{"a\xC3\xA9"});
    CHECK(st.capped);
  }
  SECTION("a cap that is not reached") {
    spec.max_bytes = 100;
    ReadStats st;
    CHECK(read_all(spec, &st).size() == 3);
    CHECK_FALSE(st.capped);
  }
}

TEST_CASE("a domain cap spans sources, the smaller remaining cap applies", "[data]") {
  TempDir dir;
  DomainSpec domain;
  domain.name = "mixed";
  domain.sources.push_back(source(dir.write("one.txt", "12345678"), DocumentRule::Line));
  domain.sources.push_back(source(dir.write("two.txt",
                                            "abc\xE2\x82\xAC"
                                            "def\n"),
                                  DocumentRule::Line));
  domain.sources.push_back(source(dir.write("three.txt", "unread\n"), DocumentRule::Line));
  std::vector<std::string> got;
  auto sink = [&](Document&& d) { got.push_back(d.text); };

  domain.max_bytes = 13;  // leaves 5 for `two`: "abc" + 2 bytes of a 3-byte character
  ReadStats st = read_domain(domain, sink);
  CHECK(got == std::vector<std::string>{"12345678", "abc"});
  CHECK(st.capped);
  CHECK(st.bytes == 11);

  got.clear();
  domain.max_bytes = 100;
  domain.sources[0].max_bytes = 4;
  st = read_domain(domain, sink);
  CHECK(got == std::vector<std::string>{"1234",
                                        "abc\xE2\x82\xAC"
                                        "def",
                                        "unread"});
  CHECK(st.capped);
  CHECK(st.files == 3);
}

TEST_CASE("sanitize_utf8 replaces invalid sequences and drops NULs", "[data]") {
  auto clean = [](std::string s, uint64_t* invalid = nullptr, uint64_t* nul = nullptr) {
    uint64_t n = 0;
    uint64_t bad = sanitize_utf8(s, n);
    if (invalid) *invalid = bad;
    if (nul) *nul = n;
    return s;
  };
  const std::string R = "\xEF\xBF\xBD";
  uint64_t bad = 0, nul = 0;
  CHECK(clean("plain ascii text that is longer than eight bytes", &bad, &nul) ==
        "plain ascii text that is longer than eight bytes");
  CHECK(bad == 0);
  CHECK(clean("valid \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", &bad) ==
        "valid \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  CHECK(bad == 0);
  CHECK(clean(std::string("0123456789a\0b\0\0c", 16), &bad, &nul) == "0123456789abc");
  CHECK(nul == 3);
  CHECK(bad == 0);
  CHECK(clean("over\xC0\xAFlong", &bad) == "over" + R + R + "long");  // overlong '/'
  CHECK(bad == 2);
  CHECK(clean("\xE0\x80\xAF", &bad) == R + R + R);  // overlong, 3 bytes
  CHECK(clean("sur\xED\xA0\x80rogate", &bad) == "sur" + R + R + R + "rogate");
  CHECK(bad == 3);
  CHECK(clean("\xF4\x90\x80\x80", &bad) == R + R + R + R);       // above U+10FFFF
  CHECK(clean("\xF4\x8F\xBF\xBF", &bad) == "\xF4\x8F\xBF\xBF");  // U+10FFFF itself
  CHECK(bad == 0);
  CHECK(clean("cut \xE2\x82", &bad) == "cut " + R);  // truncated at the end: one replacement
  CHECK(bad == 1);
  CHECK(clean("\xE2\x82"
              "A",
              &bad) == R + "A");
  CHECK(clean("latin-1 J\xF6rg M\xFCller, 12345678", &bad) ==
        "latin-1 J" + R + "rg M" + R + "ller, 12345678");
  CHECK(bad == 2);
  CHECK(clean("\xFF\xFE\xFD", &bad) == R + R + R);
}

TEST_CASE("invalid UTF-8 and NUL bytes in files are repaired and counted", "[data]") {
  TempDir dir;
  auto f = dir.write("x.txt", std::string("Copyright J\xF6rg\nnul\0here\n", 24));
  ReadStats st;
  auto docs = read_all(source(f), &st);
  REQUIRE(docs.size() == 1);
  CHECK(docs[0].text == "Copyright J\xEF\xBF\xBDrg\nnulhere");
  CHECK(st.invalid_utf8 == 1);
  CHECK(st.nul_bytes == 1);
  CHECK(st.files == 1);
}

TEST_CASE("binary files: an error naming the file, or skipped", "[data]") {
  TempDir dir;
  dir.write("cookie", "a fortune\n%\nanother\n");
  std::string index;
  for (uint32_t i = 0; i < 64; ++i) index += std::string("\0\0\0", 3) + static_cast<char>(i * 4);
  dir.write("cookie.dat", index);
  SourceSpec spec = source(dir.path(), DocumentRule::Separator, "^%$");
  try {
    read_all(spec);
    FAIL("expected BadInput");
  } catch (const BadInput& e) {
    CHECK_THAT(e.what(), Catch::Contains((dir / "cookie.dat").string()));
    CHECK(e.problems()[0].hint == "exclude it (exclude: ['*.dat']) or set on_binary: skip");
    CHECK(e.problems()[0].where.line == 7);
  }
  spec.on_binary = "skip";
  ReadStats st;
  CHECK(texts(read_all(spec, &st)) == std::vector<std::string>{"a fortune", "another"});
  CHECK(st.binary_files_skipped == 1);
  CHECK(st.files == 1);

  SECTION("compressed bytes of another format are not text either") {
    std::string noise;
    uint32_t x = 12345;
    for (int i = 0; i < 4096; ++i) {
      x = x * 1103515245u + 12345u;
      noise += static_cast<char>(x >> 24);
    }
    dir.write("archive.xz", noise);
    SourceSpec one = source(dir / "archive.xz");
    CHECK_THROWS_AS(read_all(one), BadInput);
  }
}

TEST_CASE("a domain without any document is an error at the domain", "[data]") {
  TempDir dir;
  DomainSpec domain;
  domain.name = "blank";
  domain.where = Location{"recipe.yaml", 12, 7};
  domain.sources.push_back(source(dir.write("ws.txt", "   \n\n\t\n"), DocumentRule::BlankLine));
  domain.sources.push_back(source(dir.write("e.txt", ""), DocumentRule::File));
  try {
    read_domain(domain, [](Document&&) {});
    FAIL("expected BadInput");
  } catch (const BadInput& e) {
    CHECK(e.problems()[0].where.line == 12);
    CHECK_THAT(e.what(), Catch::Contains("domain 'blank'"));
    CHECK_FALSE(e.problems()[0].hint.empty());
  }
}
