#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <vector>

#include "data/corpus_reader.h"
#include "test_support.h"

using namespace plinth;
using namespace plinth::data;
using plinth::test::TempDir;
namespace fs = std::filesystem;

namespace {

SourceSpec source(const std::string& path) {
  SourceSpec s;
  s.path = path;
  s.where = Location{"recipe.yaml", 3, 9};
  return s;
}

// Listed files relative to `root`, in the order returned.
std::vector<std::string> listed(const SourceSpec& spec, const fs::path& root) {
  std::vector<std::string> out;
  for (const auto& p : list_source_files(spec)) out.push_back(p.lexically_relative(root).string());
  return out;
}

void make_tree(const TempDir& dir) {
  dir.write("lib/x.py", "x");
  dir.write("lib/b/y.py", "y");
  dir.write("lib/b/c/z.py", "z");
  dir.write("lib/b/c/notes.txt", "n");
  dir.write("lib/README", "r");
  dir.write("doc/pkg-a/copyright", "a");
  dir.write("doc/pkg-b/copyright", "b");
  dir.write("doc/pkg-b/deep/copyright", "deep");
  dir.write("doc/pkg-b/changelog.gz", "c");
}

}  // namespace

TEST_CASE("glob_match: name patterns, path patterns and **", "[data]") {
  CHECK(glob_match("*.py", "a/b/c.py"));  // no '/': the file name alone
  CHECK_FALSE(glob_match("*.py", "a/b/c.pyc"));
  CHECK(glob_match("*.dat", "cookie.dat"));
  CHECK_FALSE(glob_match("a/*.py", "a/b/c.py"));  // '*' does not cross '/'
  CHECK(glob_match("a/*/c.py", "a/b/c.py"));
  CHECK(glob_match("a/**/c.py", "a/c.py"));  // '**/' may be no directory at all
  CHECK(glob_match("a/**/c.py", "a/b/d/e/c.py"));
  CHECK(glob_match("**/*.py", "top.py"));
  CHECK(glob_match("**", "any/depth/file"));
  CHECK(glob_match("tests/**", "tests/x/y.txt"));
  CHECK_FALSE(glob_match("tests/**", "src/tests.txt"));
  CHECK(glob_match("?.txt", "a.txt"));
  CHECK_FALSE(glob_match("?.txt", "ab.txt"));
  CHECK(glob_match("[abc]*.md", "beta.md"));
  CHECK_FALSE(glob_match("[!abc]*.md", "beta.md"));
  CHECK(glob_match("[a-c]x", "bx"));
  CHECK_FALSE(glob_match("[a-c]x", "dx"));
  CHECK(glob_match("[x", "[x"));  // unclosed bracket: literal
  CHECK(glob_match("\\*.txt", "*.txt"));
  CHECK_FALSE(glob_match("\\*.txt", "a.txt"));
}

TEST_CASE("list_source_files: directories, globs, sorted", "[data]") {
  TempDir dir;
  make_tree(dir);
  auto root = dir.path();

  SECTION("a directory is walked recursively, files sorted by path") {
    CHECK(listed(source((root / "lib").string()), root) ==
          std::vector<std::string>{"lib/README", "lib/b/c/notes.txt", "lib/b/c/z.py", "lib/b/y.py",
                                   "lib/x.py"});
  }
  SECTION("a single file") {
    CHECK(listed(source((root / "lib/x.py").string()), root) == std::vector<std::string>{"lib/x.py"});
  }
  SECTION("** spans directories") {
    CHECK(listed(source((root / "lib/**/*.py").string()), root) ==
          std::vector<std::string>{"lib/b/c/z.py", "lib/b/y.py", "lib/x.py"});
  }
  SECTION("* stays inside one directory") {
    CHECK(listed(source((root / "doc/*/copyright").string()), root) ==
          std::vector<std::string>{"doc/pkg-a/copyright", "doc/pkg-b/copyright"});
    CHECK(listed(source((root / "lib/*.py").string()), root) == std::vector<std::string>{"lib/x.py"});
    CHECK(listed(source((root / "doc/pkg-?/*").string()), root) ==
          std::vector<std::string>{"doc/pkg-a/copyright", "doc/pkg-b/changelog.gz", "doc/pkg-b/copyright"});
  }
  SECTION("include and exclude") {
    SourceSpec s = source((root / "lib").string());
    s.include = {"*.py"};
    s.exclude = {"b/c/**"};
    CHECK(listed(s, root) == std::vector<std::string>{"lib/b/y.py", "lib/x.py"});
    s.include = {"*.py", "README"};
    s.exclude = {"y.py"};
    CHECK(listed(s, root) == std::vector<std::string>{"lib/README", "lib/b/c/z.py", "lib/x.py"});
  }
}

TEST_CASE("list_source_files: what names nothing is an error at the source", "[data]") {
  TempDir dir;
  make_tree(dir);
  auto expect_error = [](const SourceSpec& s, const std::string& fragment) {
    try {
      list_source_files(s);
      FAIL("expected BadInput");
    } catch (const BadInput& e) {
      REQUIRE(e.problems().size() == 1);
      CHECK_THAT(e.problems()[0].message, Catch::Contains(fragment));
      CHECK_FALSE(e.problems()[0].hint.empty());
      CHECK(e.problems()[0].where.line == 3);
    }
  };
  expect_error(source((dir / "nope").string()), "does not exist");
  expect_error(source((dir / "lib/*.rs").string()), "matches no file");
  expect_error(source((dir / "missing/**/*.py").string()), "matches no file");
  SourceSpec filtered = source((dir / "lib").string());
  filtered.exclude = {"*.py", "*.txt", "README"};
  expect_error(filtered, "include/exclude leave none of the 5 file(s)");
  fs::create_directories(dir / "hollow/sub");
  expect_error(source((dir / "hollow").string()), "holds no file");
}

TEST_CASE("list_source_files: symlinks neither loop nor repeat a file", "[data]") {
  TempDir dir;
  dir.write("f/art", "text");
  dir.write("f/art.dat", "index");
  fs::create_symlink("art", dir / "f/art.u8");
  fs::create_directory_symlink("..", dir / "f/up");  // a loop if it were followed
  auto files = list_source_files(source((dir / "f").string()));
  std::vector<std::string> names;
  for (const auto& p : files) names.push_back(p.filename().string());
  CHECK(names == std::vector<std::string>{"art", "art.dat"});
}
