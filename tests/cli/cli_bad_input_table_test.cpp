// The bad-input table: every kind of bad input plinth can be handed, one row each, run against the
// real binary on a copy of one small finished project (tokenizer, shards, base, fine-tune, report).
// Each row must exit 2, name the place (file, and key or line where one applies), never print
// "internal error", and leave no half-written file. docs/bad-input.md lists the same rows (checked
// below), with what plinth says to each.
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "cli_fixture.h"

using plinth::test::CliFixture;
using plinth::test::CommandResult;
namespace fs = std::filesystem;

namespace {

// One row of the table.
struct BadInputCase {
  std::string id;                               // also the row's key in docs/bad-input.md
  std::string what;                             // the bad input, in one line
  std::function<void(const fs::path&)> damage;  // applied to the case's copy of the fixture
  std::string args;                             // `plinth <args>`, run in that copy (shell-quoted)
  std::vector<std::string> needles;             // what the message must say: the place and the problem
  std::vector<std::string> absent;              // paths that must not exist afterwards (nothing half-made)
  std::string env = {};                         // VAR=value ... for plinth's environment (a launcher's)
};

// The damage helpers throw: a row whose damage cannot be applied is reported as such, not as
// plinth's failure.
void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

// Replaces the first `from` in the file: the fixture's files are known, so a miss is a bug here.
void replace_in(const fs::path& p, const std::string& from, const std::string& to) {
  std::string text = plinth::test::read_file(p);
  const size_t at = text.find(from);
  if (at == std::string::npos) throw std::runtime_error("'" + from + "' not in " + p.string());
  write_file(p, text.replace(at, from.size(), to));
}

void append_to(const fs::path& p, const std::string& text) {
  write_file(p, plinth::test::read_file(p) + text);
}

// Inverts the byte at `at` (at < 0: from the end): a changed byte whatever it was before.
void flip_byte(const fs::path& p, long long at) {
  const auto size = static_cast<long long>(fs::file_size(p));
  const long long pos = at < 0 ? size + at : at;
  if (pos < 0 || pos >= size) throw std::runtime_error("offset outside " + p.string());
  std::fstream io(p, std::ios::in | std::ios::out | std::ios::binary);
  io.seekg(pos);
  const char c = static_cast<char>(io.get());
  io.seekp(pos);
  io.put(static_cast<char>(~c));
  if (!io) throw std::runtime_error("cannot flip a byte of " + p.string());
}

void overwrite_at(const fs::path& p, std::streamoff at, const std::string& bytes) {
  std::fstream io(p, std::ios::in | std::ios::out | std::ios::binary);
  io.seekp(at);
  io.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!io) throw std::runtime_error("cannot overwrite " + p.string());
}

// Bytes that are neither text nor any format plinth reads, the same in every run.
std::string junk(size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += static_cast<char>((i * 7919 + 13) % 256);
  return out;
}

void shell(const fs::path& dir, const std::string& command) {
  const CommandResult r = plinth::test::run_command("cd '" + dir.string() + "' && " + command);
  if (r.exit_code != 0) throw std::runtime_error(command + " failed: " + r.output);
}

// The fixture's files, which the rows' line:column needles refer to.
// data.yaml: the corpus of CliFixture with the symbols a task template needs (line 5).
std::string data_recipe() {
  return CliFixture::task_data_recipe();
}

const char* const kBaseRecipe =
    "include: data.yaml\n"
    "name: base\n"
    "model: {dim: 32, layers: 1, heads: 2, context: 32}\n"
    "train: {steps: 2, warmup_steps: 1, batch_size: 2, eval_every: 2, eval_tokens: 256, "
    "checkpoint_every: 2}\n";

const char* const kFinetuneRecipe =
    "include: data.yaml\n"
    "name: ft\n"
    "finetune:\n"
    "  base: runs/base\n"
    "  method: full\n"
    "task:\n"
    "  format: tsv\n"
    "  path: task.tsv\n"
    "  val_fraction: 0.2\n"
    "  test_fraction: 0.2\n"
    "train:\n"
    "  steps: 2\n"
    "  warmup_steps: 1\n"
    "  batch_size: 4\n"
    "  eval_every: 2\n"
    "  checkpoint_every: 2\n"
    "  precision: fp32\n"
    "  device: cpu\n"
    "eval:\n"
    "  max_tokens: 256\n"
    "  task_examples: 4\n"
    "  task_samples: 2\n"
    "gate:\n"
    "  max_forgetting: 1000%\n";

// Sixteen word pairs: task.tsv has 16 lines, so an appended line is line 17.
std::string task_tsv() {
  return CliFixture::task_tsv();
}

// Everything a row may damage, made once: tokenizers tok/small (the recipes') and tok/other
// (another vocabulary), shards, a two-step base (and one of another width, runs/wide), a
// two-step full fine-tune and its report.json,
// and that fine-tune exported as a Hugging Face folder (hf/).
void build_fixture(const CliFixture& f) {
  f.recipe(data_recipe(), "data.yaml");
  f.recipe(kBaseRecipe, "base.yaml");
  f.recipe(kFinetuneRecipe, "ft.yaml");
  f.dir().write("task.tsv", task_tsv());
  for (const char* cmd :
       {"tokenizer train base.yaml --threads 1",
        "tokenizer train data.yaml tokenizer.model=tok/other tokenizer.vocab_size=620 "
        "--threads 1",
        "prepare base.yaml --threads 1", "pretrain base.yaml --threads 1",
        "pretrain base.yaml --threads 1 model.dim=48 train.run_dir=runs/wide", "finetune ft.yaml --threads 1",
        "eval ft.yaml --threads 1", "export runs/ft/tuned.ckpt hf"}) {
    const CommandResult r = f.plinth(cmd);
    INFO("fixture: plinth " << cmd << "\n" << r.output);
    REQUIRE(r.exit_code == 0);
  }
}

using Dir = const fs::path&;
const auto kNoDamage = [](Dir) {};

// A row for a capability suite: ft.yaml's eval: section lists `suites_yaml` (a flow list), the
// suite file s.jsonl holds `jsonl`, and plinth eval must stop on it.
BadInputCase suite_case(std::string id, std::string what, std::string suites_yaml, std::string jsonl,
                        std::vector<std::string> needles) {
  return {std::move(id),
          std::move(what),
          [suites_yaml, jsonl](Dir d) {
            replace_in(d / "ft.yaml", "eval:\n", "eval:\n  suites: " + suites_yaml + "\n");
            write_file(d / "s.jsonl", jsonl);
          },
          "eval ft.yaml --threads 1",
          std::move(needles),
          {}};
}

// 40 words, each at least one token: longer than the fixture's context of 32.
std::string long_choice() {
  std::string out;
  for (int i = 0; i < 10; ++i) out += std::string(i ? " " : "") + "house tree dog cat";
  return out;
}

const char* const kSuiteOne = "[{name: s, path: s.jsonl}]";
const char* const kGoodQuestion = R"({"query": "Haus means", "choices": ["house", "tree"], "gold": 0})"
                                  "\n";

const std::vector<BadInputCase>& bad_input_cases() {
  static const std::vector<BadInputCase> cases = {
      // ---- recipes
      {"recipe-malformed-yaml",
       "a recipe with an unclosed bracket",
       [](Dir d) { write_file(d / "broken.yaml", "data:\n  shards: [unclosed\n"); },
       "prepare broken.yaml",
       {"broken.yaml:", "malformed YAML"},
       {}},
      {"recipe-missing-file",
       "a recipe file that does not exist",
       kNoDamage,
       "prepare nowhere.yaml",
       {"nowhere.yaml", "does not exist"},
       {}},
      {"recipe-empty",
       "an empty recipe file",
       [](Dir d) { write_file(d / "empty.yaml", ""); },
       "prepare empty.yaml",
       {"empty.yaml", "recipe is empty"},
       {}},
      {"recipe-not-a-mapping",
       "a recipe whose top level is a list",
       [](Dir d) { write_file(d / "list.yaml", "- a\n- b\n"); },
       "prepare list.yaml",
       {"list.yaml:1:1", "must be a mapping"},
       {}},
      {"recipe-unknown-key",
       "a misspelt key (val_fracton)",
       [](Dir d) { replace_in(d / "data.yaml", "val_fraction: 0.2", "val_fracton: 0.2"); },
       "prepare data.yaml",
       {"data.yaml:8:", "data.val_fracton: unknown key", "did you mean 'val_fraction'"},
       {}},
      {"recipe-wrong-type",
       "text where an integer is expected (vocab_size: lots)",
       [](Dir d) { replace_in(d / "data.yaml", "vocab_size: 600", "vocab_size: lots"); },
       "tokenizer train data.yaml",
       {"data.yaml:3:15", "tokenizer.vocab_size", "expected an integer"},
       {}},
      {"recipe-out-of-range",
       "a value out of its range (val_fraction: 1.5)",
       [](Dir d) { replace_in(d / "data.yaml", "val_fraction: 0.2", "val_fraction: 1.5"); },
       "prepare data.yaml",
       {"data.yaml:8:17", "data.val_fraction", "out of range"},
       {}},
      {"recipe-not-a-choice",
       "a value not among the choices (method: fulll)",
       [](Dir d) { replace_in(d / "ft.yaml", "method: full", "method: fulll"); },
       "finetune ft.yaml --threads 1",
       {"ft.yaml:5:11", "finetune.method", "did you mean 'full'"},
       {}},
      {"recipe-inconsistent-model",
       "heads that do not divide the model dimension",
       kNoDamage,
       "pretrain base.yaml --threads 1 model.dim=33 train.run_dir=runs/odd",
       {"base.yaml:3:", "model.heads", "does not divide dim (33)"},
       {"runs/odd/checkpoints"}},
      {"recipe-include-missing",
       "an include: of a file that does not exist",
       [](Dir d) { write_file(d / "r.yaml", "include: nowhere.yaml\nname: x\n"); },
       "prepare r.yaml",
       {"r.yaml:1:10", "nowhere.yaml", "does not exist"},
       {}},
      {"recipe-include-cycle",
       "two recipes that include each other",
       [](Dir d) {
         write_file(d / "a.yaml", "include: b.yaml\n");
         write_file(d / "b.yaml", "include: a.yaml\n");
       },
       "prepare a.yaml",
       {"include cycle", "a.yaml -> b.yaml -> a.yaml"},
       {}},
      {"override-no-equals",
       "an override without '=' (val_fraction)",
       kNoDamage,
       "prepare data.yaml val_fraction",
       {"command line", "'val_fraction'", "no '='"},
       {}},
      {"override-empty-key",
       "an override with nothing before '=' (=0.1)",
       kNoDamage,
       "prepare data.yaml =0.1",
       {"command line", "'=0.1'", "the key before '=' is empty"},
       {}},
      {"override-bad-index",
       "an override with a list index that is not a number (domains[x])",
       kNoDamage,
       "prepare data.yaml 'data.domains[x].weight=1'",
       {"command line", "domains[x]", "list index"},
       {}},
      {"override-index-past-end",
       "an override of a list item that does not exist (domains[5])",
       kNoDamage,
       "prepare data.yaml 'data.domains[5].weight=1'",
       {"data.domains[5].weight", "past the end"},
       {}},
      {"override-unknown-key",
       "an override of a key that does not exist (data.val_fractio)",
       kNoDamage,
       "prepare data.yaml data.val_fractio=0.1",
       {"command line: data.val_fractio: unknown key", "did you mean 'val_fraction'"},
       {}},
      {"override-wrong-type",
       "an override with text where a number is expected",
       kNoDamage,
       "prepare data.yaml data.val_fraction=abc",
       {"command line: data.val_fraction", "expected a number"},
       {}},
      {"override-unreadable-value",
       "an override whose value is broken YAML ([a, b)",
       kNoDamage,
       "prepare data.yaml 'tokenizer.user_defined_symbols=[a, b'",
       {"command line: tokenizer.user_defined_symbols", "cannot read the value"},
       {}},
      {"finetune-model-section",
       "a fine-tuning recipe that sets the model's shape",
       kNoDamage,
       "finetune ft.yaml --threads 1 model.dim=64",
       {"model:", "takes the model's shape from its base"},
       {}},
      {"select-every-not-positive",
       "a select: panel interval of 0 steps (every: 0)",
       [](Dir d) { append_to(d / "ft.yaml", "select: {every: 0, max_forgetting: 5%}\n"); },
       "finetune ft.yaml --threads 1 train.run_dir=runs/sel",
       {"ft.yaml:25:", "select.every", "out of range"},
       {"runs/sel"}},
      {"select-every-not-integer",
       "a select: panel interval that is not a whole number of steps (every: 2.5)",
       [](Dir d) { append_to(d / "ft.yaml", "select: {every: 2.5, max_forgetting: 5%}\n"); },
       "finetune ft.yaml --threads 1 train.run_dir=runs/sel",
       {"ft.yaml:25:", "select.every", "expected an integer"},
       {"runs/sel"}},
      {"select-budget-not-a-fraction",
       "a select: budget that is not a percentage or fraction (max_forgetting: lots)",
       [](Dir d) { append_to(d / "ft.yaml", "select: {every: 2, max_forgetting: lots}\n"); },
       "finetune ft.yaml --threads 1 train.run_dir=runs/sel",
       {"ft.yaml:25:", "select.max_forgetting", "is not a fraction"},
       {"runs/sel"}},
      {"select-unknown-key",
       "a misspelt key in select: (max_forgeting)",
       [](Dir d) { append_to(d / "ft.yaml", "select: {every: 2, max_forgeting: 5%}\n"); },
       "finetune ft.yaml --threads 1 train.run_dir=runs/sel",
       {"ft.yaml:25:", "select.max_forgeting", "did you mean 'max_forgetting'"},
       {"runs/sel"}},

      // ---- corpora
      {"corpus-missing-path",
       "a source path that does not exist",
       [](Dir d) { replace_in(d / "data.yaml", "corpus/alpha.txt", "corpus/nowhere.txt"); },
       "prepare data.yaml",
       {"data.yaml:13:17", "corpus/nowhere.txt", "does not exist"},
       {}},
      {"corpus-glob-no-match",
       "a glob that matches no file",
       [](Dir d) { replace_in(d / "data.yaml", "path: corpus/beta", "path: corpus/beta/*.md"); },
       "prepare data.yaml",
       {"data.yaml:18:17", "corpus/beta/*.md", "matches no file"},
       {}},
      {"corpus-binary-file",
       "a binary file among the text files",
       [](Dir d) { write_file(d / "corpus/beta/blob.bin", junk(4096)); },
       "prepare data.yaml",
       {"corpus/beta/blob.bin", "is not text", "on_binary: skip"},
       {}},
      {"corpus-empty-domain",
       "a domain whose only file holds blank lines",
       [](Dir d) { write_file(d / "corpus/alpha.txt", "\n\n   \n"); },
       "prepare data.yaml",
       {"data.yaml:10:", "domain 'alpha' yields no document"},
       {}},
      {"corpus-jsonl-bad-record",
       "a JSONL file with a record that is not JSON",
       [](Dir d) {
         write_file(d / "corpus/beta/docs.jsonl",
                    "{\"text\": \"one\"}\n{\"text\": \"two\"\n{\"text\": \"three\"}\n");
       },
       "prepare data.yaml",
       {"corpus/beta/docs.jsonl:2", "not a JSON record", "on_bad_record: skip"},
       {}},
      {"corpus-jsonl-missing-field",
       "a JSONL record without the text field",
       [](Dir d) { write_file(d / "corpus/beta/docs.jsonl", "{\"text\": \"one\"}\n{\"body\": \"two\"}\n"); },
       "prepare data.yaml",
       {"corpus/beta/docs.jsonl:2", "no field 'text'"},
       {}},
      {"corpus-gzip-truncated",
       "a .gz file cut short",
       [](Dir d) {
         shell(d, "gzip -n -c corpus/alpha.txt > corpus/beta/part.txt.gz");
         fs::resize_file(d / "corpus/beta/part.txt.gz", 2000);
       },
       "prepare data.yaml",
       {"corpus/beta/part.txt.gz", "truncated or corrupt"},
       {}},
      {"corpus-gzip-corrupt",
       "a .gz file with damaged compressed data",
       [](Dir d) {
         shell(d, "gzip -n -c corpus/alpha.txt > corpus/beta/part.txt.gz");
         overwrite_at(d / "corpus/beta/part.txt.gz", 500, std::string(4, '\xff'));
       },
       "prepare data.yaml",
       {"corpus/beta/part.txt.gz", "truncated or corrupt"},
       {}},
      // Stands in for an unreadable file: the tests run as root, whom chmod 000 does not stop.
      {"corpus-directory-for-file",
       "an empty directory where the recipe names a file",
       [](Dir d) {
         fs::remove(d / "corpus/alpha.txt");
         fs::create_directory(d / "corpus/alpha.txt");
       },
       "prepare data.yaml",
       {"data.yaml:13:17", "directory 'corpus/alpha.txt' holds no file"},
       {}},

      // ---- task data
      {"task-file-missing",
       "a task file that does not exist",
       [](Dir d) { fs::remove(d / "task.tsv"); },
       "finetune ft.yaml --threads 1",
       {"ft.yaml:8:9", "task.path", "'task.tsv' does not exist"},
       {}},
      {"task-jsonl-malformed",
       "a task JSONL line that is not JSON",
       [](Dir d) {
         write_file(d / "task.jsonl",
                    "{\"prompt\": \"Haus\", \"completion\": \"house\"}\n{\"prompt\": \"Baum\", \n"
                    "{\"prompt\": \"Hund\", \"completion\": \"dog\"}\n");
       },
       "finetune ft.yaml --threads 1 task.format=jsonl task.path=task.jsonl",
       {"task.jsonl:2", "not a JSON record", "task.on_bad_line: skip"},
       {}},
      {"task-tsv-too-few-columns",
       "a task TSV line without the completion column",
       [](Dir d) { append_to(d / "task.tsv", "Zeit\n"); },
       "finetune ft.yaml --threads 1",
       {"task.tsv:17", "1 column(s)", "is missing"},
       {}},
      {"task-empty-completion",
       "a task line whose completion is blank",
       [](Dir d) { append_to(d / "task.tsv", "Leer\t   \n"); },
       "finetune ft.yaml --threads 1",
       {"task.tsv:17", "the completion is empty"},
       {}},
      {"task-regex-without-groups",
       "a task regex without the (?<completion>...) group",
       [](Dir d) {
         replace_in(d / "ft.yaml", "format: tsv\n", R"x(format: regex
  regex: '^(?<prompt>\S+)\t(\S+)$'
)x");
       },
       "finetune ft.yaml --threads 1",
       {"ft.yaml:8:10", "task.regex", "no named group (?<completion>...)"},
       {}},
      {"task-regex-lookahead",
       "a task regex with a lookahead, which would need a backtracking matcher",
       [](Dir d) {
         replace_in(d / "ft.yaml", "format: tsv\n", R"x(format: regex
  regex: '^(?<prompt>\S+)(?=\t)\t(?<completion>\S+)$'
)x");
       },
       "finetune ft.yaml --threads 1",
       {"ft.yaml:8:10", "task.regex", "lookahead is not supported"},
       {}},
      {"task-no-examples",
       "an empty task file",
       [](Dir d) { write_file(d / "task.tsv", ""); },
       "finetune ft.yaml --threads 1",
       {"ft.yaml:6:1", "no training example in 'task.tsv'"},
       {}},

      // ---- capability suites (eval.suites)
      suite_case("suite-file-missing", "a suite file that does not exist", "[{name: s, path: nowhere.jsonl}]",
                 kGoodQuestion, {"suite 's'", "cannot open 'nowhere.jsonl'", "eval.suites"}),
      suite_case("suite-line-not-json", "a suite line that is not JSON", kSuiteOne,
                 std::string(kGoodQuestion) + "{\"query\": \"Baum\",\n", {"s.jsonl:2", "not JSON"}),
      suite_case("suite-no-query", "a suite question without its query", kSuiteOne,
                 std::string(kGoodQuestion) + R"({"choices": ["a", "b"], "gold": 0})"
                                              "\n",
                 {"s.jsonl:2", "no 'query'"}),
      suite_case("suite-one-choice", "a suite question with one choice", kSuiteOne,
                 std::string(kGoodQuestion) + R"({"query": "Baum", "choices": ["tree"], "gold": 0})"
                                              "\n",
                 {"s.jsonl:2", "'choices' has 1 entry", "at least two"}),
      suite_case("suite-gold-out-of-range", "a suite question whose gold is not one of its choices",
                 kSuiteOne,
                 std::string(kGoodQuestion) + R"({"query": "Baum", "choices": ["tree", "dog"], "gold": 2})"
                                              "\n",
                 {"s.jsonl:2", "'gold' is 2, but the question has 2 choices"}),
      suite_case("suite-gold-not-integer", "a suite question whose gold is not an integer", kSuiteOne,
                 std::string(kGoodQuestion) + R"({"query": "Baum", "choices": ["tree", "dog"], "gold": 1.0})"
                                              "\n",
                 {"s.jsonl:2", "'gold' is 1.0, not an integer"}),
      suite_case("suite-duplicate-name", "two suites of one name",
                 "[{name: s, path: s.jsonl}, {name: s, path: s.jsonl}]", kGoodQuestion,
                 {"ft.yaml:", "eval.suites[1].name", "'s' is used twice"}),
      suite_case("suite-choice-too-long", "a suite choice longer than the model's context", kSuiteOne,
                 std::string(kGoodQuestion) + R"({"query": "Baum", "choices": ["tree", ")" + long_choice() +
                     R"("], "gold": 0})"
                     "\n",
                 {"s.jsonl:2", "choice 1 is", "more than the context of 32 tokens"}),
      suite_case("suite-header-metric-unknown",
                 "a suite file whose header names a metric plinth does not compute", kSuiteOne,
                 std::string(R"({"plinth_suite": {"metric": "acc_bytes"}})") + "\n" + kGoodQuestion,
                 {"s.jsonl:1", "names the metric 'acc_bytes'", "eval.suites[].metric"}),

      // ---- shards
      {"shard-truncated",
       "a shard cut short by 3 bytes",
       [](Dir d) {
         fs::resize_file(d / "shards/alpha/train.bin", fs::file_size(d / "shards/alpha/train.bin") - 3);
       },
       "inspect data.yaml",
       {"shards/alpha/train.bin", "truncated", "plinth prepare"},
       {}},
      {"shard-truncated-pretrain",
       "a truncated shard, read by pretrain",
       [](Dir d) {
         fs::resize_file(d / "shards/alpha/train.bin", fs::file_size(d / "shards/alpha/train.bin") - 3);
       },
       "pretrain base.yaml --threads 1 train.run_dir=runs/again",
       {"shards/alpha/train.bin", "truncated"},
       {"runs/again/checkpoints"}},
      {"shard-payload-checksum",
       "a shard with one token byte changed",
       [](Dir d) { flip_byte(d / "shards/alpha/train.bin", 200); },
       "inspect data.yaml",
       {"shards/alpha/train.bin", "corrupt: payload checksum", "plinth prepare"},
       {}},
      {"shard-header-checksum",
       "a shard with one header byte changed",
       [](Dir d) { flip_byte(d / "shards/alpha/train.bin", 20); },
       "inspect data.yaml",
       {"shards/alpha/train.bin", "corrupt header"},
       {}},
      {"shard-not-a-shard",
       "a shard file whose magic bytes are wrong",
       [](Dir d) { overwrite_at(d / "shards/alpha/train.bin", 0, "XXXXXXXX"); },
       "inspect data.yaml",
       {"shards/alpha/train.bin", "not a plinth shard"},
       {}},
      {"shard-other-tokenizer",
       "shards made with another tokenizer than the recipe's",
       kNoDamage,
       "inspect data.yaml tokenizer.model=tok/other tokenizer.vocab_size=620",
       {"shards/alpha/train.bin", "made with another tokenizer", "plinth prepare"},
       {}},
      {"shard-missing",
       "a deleted shard",
       [](Dir d) { fs::remove(d / "shards/beta/val.bin"); },
       "inspect data.yaml",
       {"shards/beta/val.bin", "does not exist", "plinth prepare"},
       {}},
      {"shard-missing-pretrain",
       "a deleted shard, read by pretrain",
       [](Dir d) { fs::remove(d / "shards/beta/val.bin"); },
       "pretrain base.yaml --threads 1 train.run_dir=runs/again",
       {"beta/val", "plinth prepare base.yaml"},
       {"runs/again/checkpoints"}},
      // prepare reads such a manifest as "not prepared" and redoes the domain (exit 0): only
      // the readers that need prepared shards refuse it.
      {"shard-manifest-not-json",
       "a domain's manifest.json that is not JSON",
       [](Dir d) { write_file(d / "shards/alpha/manifest.json", "not json{\n"); },
       "inspect data.yaml",
       {"not prepared yet: alpha", "plinth prepare data.yaml"},
       {}},

      // ---- Hugging Face model folders (plinth import; every command reads them the same way)
      {"hf-rope-scaling",
       "a folder whose config.json asks for RoPE scaling plinth does not compute",
       [](Dir d) {
         replace_in(d / "hf/config.json", "\"rope_scaling\": null",
                    "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}");
       },
       "import hf out.ckpt",
       {"hf/config.json", "rope_scaling", "'yarn' is not implemented"},
       {"out.ckpt"}},
      {"hf-architecture",
       "a folder of another architecture (GPT-2)",
       [](Dir d) { replace_in(d / "hf/config.json", "LlamaForCausalLM", "GPT2LMHeadModel"); },
       "import hf out.ckpt",
       {"hf/config.json", "architectures", "'GPT2LMHeadModel' is not a model plinth can run"},
       {"out.ckpt"}},
      {"hf-shard-missing",
       "an index naming a shard that is not in the folder",
       [](Dir d) {
         write_file(d / "hf/model.safetensors.index.json",
                    R"({"weight_map": {"model.norm.weight": "model-00002-of-00002.safetensors"}})");
       },
       "import hf out.ckpt",
       {"hf/model.safetensors.index.json", "model-00002-of-00002.safetensors does not exist"},
       {"out.ckpt"}},
      {"hf-wrong-shape",
       "config.json describing another MLP width than the weights",
       [](Dir d) {
         replace_in(d / "hf/config.json", "\"intermediate_size\": 256", "\"intermediate_size\": 128");
       },
       "import hf out.ckpt",
       {"hf/model.safetensors", "has shape", "config.json describes another model"},
       {"out.ckpt"}},
      {"hf-wrong-dtype",
       "weights stored as integers",
       [](Dir d) {
         const std::string header =
             R"({"model.norm.weight":{"dtype":"I64","shape":[32],"data_offsets":[0,256]}})";
         std::string bytes(8, '\0');
         for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
         write_file(d / "hf/model.safetensors", bytes + header + std::string(256, '\0'));
       },
       "import hf out.ckpt",
       {"hf/model.safetensors", "'model.norm.weight' holds", "not weights"},
       {"out.ckpt"}},
      {"hf-no-tokenizer",
       "a folder without a tokenizer",
       [](Dir d) { fs::remove(d / "hf/tokenizer.model"); },
       "import hf out.ckpt",
       {"hf has no tokenizer.model", "SentencePiece"},
       {"out.ckpt"}},
      {"hf-tokenizer-json-only",
       "a folder with only a tokenizer.json (byte-level BPE)",
       [](Dir d) {
         fs::remove(d / "hf/tokenizer.model");
         write_file(d / "hf/tokenizer.json", "{}");
       },
       "import hf out.ckpt",
       {"hf has a tokenizer.json but no tokenizer.model", "not supported"},
       {"out.ckpt"}},
      {"hf-tokenizer-vocabulary",
       "a tokenizer with more pieces than the model has embeddings",
       [](Dir d) {
         fs::copy_file(d / "tok/other.model", d / "hf/tokenizer.model", fs::copy_options::overwrite_existing);
       },
       "import hf out.ckpt",
       {"hf/tokenizer.model has 620 pieces", "vocab_size is"},
       {"out.ckpt"}},
      {"hf-tokenizer-config",
       "a tokenizer_config.json whose add_bos_token is not a boolean",
       [](Dir d) { write_file(d / "hf/tokenizer_config.json", R"({"add_bos_token": "yes"})"); },
       "import hf out.ckpt",
       {"hf/tokenizer_config.json", "add_bos_token", "is not true or false"},
       {"out.ckpt"}},
      {"hf-import-not-a-folder",
       "import of a plinth checkpoint instead of a model folder",
       kNoDamage,
       "import runs/ft/tuned.ckpt out.ckpt",
       {"runs/ft/tuned.ckpt is not a Hugging Face model folder"},
       {"out.ckpt"}},

      // ---- checkpoints
      {"ckpt-truncated-eval",
       "eval --checkpoint of a checkpoint cut short",
       [](Dir d) { fs::resize_file(d / "runs/base/checkpoints/step-000002.ckpt", 5000); },
       "eval base.yaml --threads 1 --checkpoint runs/base/checkpoints/step-000002.ckpt",
       {"runs/base/checkpoints/step-000002.ckpt is damaged", "cut short or altered"},
       {}},
      {"ckpt-flipped-eval",
       "eval --checkpoint of a checkpoint with one byte changed",
       [](Dir d) {
         const fs::path p = d / "runs/base/checkpoints/step-000002.ckpt";
         flip_byte(p, static_cast<long long>(fs::file_size(p) / 2));
       },
       "eval base.yaml --threads 1 --checkpoint runs/base/checkpoints/step-000002.ckpt",
       {"step-000002.ckpt is damaged", "checksum mismatch"},
       {}},
      {"ckpt-not-a-checkpoint",
       "eval --checkpoint of a file of random bytes",
       [](Dir d) { write_file(d / "junk.ckpt", junk(10000)); },
       "eval base.yaml --threads 1 --checkpoint junk.ckpt",
       {"junk.ckpt is not a plinth checkpoint"},
       {}},
      {"ckpt-missing-eval",
       "eval --checkpoint of a file that does not exist",
       kNoDamage,
       "eval base.yaml --threads 1 --checkpoint runs/base/checkpoints/nowhere.ckpt",
       {"runs/base/checkpoints/nowhere.ckpt does not exist"},
       {}},
      {"ckpt-none-to-eval",
       "eval of a run that has no checkpoint",
       [](Dir d) { fs::remove_all(d / "runs/base/checkpoints"); },
       "eval base.yaml --threads 1",
       {"no checkpoint in runs/base/checkpoints", "plinth pretrain base.yaml"},
       {}},
      {"ckpt-other-tokenizer-eval",
       "eval of a checkpoint with another tokenizer than it was trained with",
       kNoDamage,
       "eval base.yaml --threads 1 tokenizer.model=tok/other tokenizer.vocab_size=620",
       {"step-000002.ckpt was trained with tokenizer", "tok/other.model"},
       {}},
      {"ckpt-other-shape-resume",
       "pretrain --resume of a checkpoint of another model shape",
       kNoDamage,
       "pretrain base.yaml --threads 1 --resume model.dim=64 train.steps=4",
       {"step-000002.ckpt holds another model", "model.dim 32 (checkpoint) vs 64 (recipe)"},
       {}},
      {"finetune-base-missing",
       "finetune.base naming a run that does not exist",
       kNoDamage,
       "finetune ft.yaml --threads 1 finetune.base=runs/nowhere",
       {"finetune.base", "runs/nowhere does not exist"},
       {}},
      {"finetune-base-not-a-checkpoint",
       "a base checkpoint overwritten with random bytes",
       [](Dir d) { write_file(d / "runs/base/checkpoints/best.ckpt", junk(10000)); },
       "finetune ft.yaml --threads 1",
       {"runs/base/checkpoints/best.ckpt is not a plinth checkpoint"},
       {}},
      {"finetune-distill-replay-off",
       "distillation on replayed rows in a fine-tune without replay",
       [](Dir d) {
         replace_in(d / "ft.yaml", "method: full", "method: full\n  distill: {weight: 1, on: replay}");
       },
       "finetune ft.yaml --threads 1",
       {"ft.yaml:", "finetune.distill.on", "replay is off", "on: task"},
       {}},
      {"finetune-distill-weight-and-rows",
       "a negative distillation weight and rows that are not one of task, replay, generated",
       [](Dir d) {
         replace_in(d / "ft.yaml", "method: full", "method: full\n  distill: {weight: -1, on: prompts}");
       },
       "finetune ft.yaml --threads 1",
       {"ft.yaml:", "finetune.distill.weight",
        "finetune.distill.on: 'prompts' is not one of task, replay, generated"},
       {}},
      {"finetune-distill-generated-off",
       "distillation on generated rows in a fine-tune that replays the pretraining data",
       [](Dir d) {
         replace_in(d / "ft.yaml", "method: full",
                    "method: full\n  replay: {fraction: 0.25}\n  distill: {weight: 1, on: generated}");
       },
       "finetune ft.yaml --threads 1",
       {"ft.yaml:", "finetune.distill.on", "no generated replay", "source: generated"},
       {}},
      {"finetune-generated-replay-settings",
       "generated replay with no documents, temperature 0 and top_p above 1",
       [](Dir d) {
         replace_in(
             d / "ft.yaml", "method: full",
             "method: full\n  replay: {fraction: 0.25, source: generated, documents: 0, temperature: 0, "
             "top_p: 1.5}");
       },
       "finetune ft.yaml --threads 1",
       {"ft.yaml:", "finetune.replay.documents", "finetune.replay.temperature", "finetune.replay.top_p",
        "1.5 is not in (0, 1]"},
       {}},
      {"finetune-generated-replay-too-long",
       "generated documents longer than the base's context",
       [](Dir d) {
         replace_in(d / "ft.yaml", "method: full",
                    "method: full\n  replay: {fraction: 0.25, source: generated, max_tokens: 500}");
       },
       "finetune ft.yaml --threads 1 train.run_dir=runs/fresh",
       {"ft.yaml: finetune.replay.max_tokens", "500 tokens per generated document", "set it to at most"},
       {}},
      {"finetune-resume-nothing",
       "finetune --resume of a run with no checkpoint",
       kNoDamage,
       "finetune ft.yaml --threads 1 --resume train.run_dir=runs/fresh",
       {"--resume", "runs/fresh/checkpoints holds no checkpoint", "without --resume"},
       {}},
      {"pretrain-resume-nothing",
       "pretrain --resume of a run with no checkpoint",
       kNoDamage,
       "pretrain base.yaml --threads 1 --resume train.run_dir=runs/fresh",
       {"--resume", "runs/fresh/checkpoints holds no checkpoint", "without --resume"},
       {}},
      {"eval-tuned-missing",
       "eval of a fine-tune whose tuned.ckpt is missing",
       [](Dir d) { fs::remove(d / "runs/ft/tuned.ckpt"); },
       "eval ft.yaml --threads 1",
       {"runs/ft/tuned.ckpt does not exist", "plinth finetune ft.yaml"},
       {}},
      {"eval-tuned-damaged",
       "eval of a fine-tune whose tuned.ckpt is cut short",
       [](Dir d) { fs::resize_file(d / "runs/ft/tuned.ckpt", 3000); },
       "eval ft.yaml --threads 1",
       {"runs/ft/tuned.ckpt is damaged"},
       {}},
      {"export-not-a-checkpoint",
       "export of a file of random bytes",
       [](Dir d) { write_file(d / "junk.ckpt", junk(10000)); },
       "export junk.ckpt out",
       {"junk.ckpt is not a plinth checkpoint"},
       {"out"}},
      {"export-truncated",
       "export of a checkpoint cut short",
       [](Dir d) { fs::resize_file(d / "runs/ft/tuned.ckpt", 100000); },
       "export runs/ft/tuned.ckpt out",
       {"runs/ft/tuned.ckpt is damaged"},
       {"out"}},
      {"export-tokenizer-missing",
       "export when the tokenizer the checkpoint names is gone",
       [](Dir d) { fs::rename(d / "tok/small.model", d / "tok/moved.model"); },
       "export runs/ft/tuned.ckpt out",
       {"tok/small.model named by the recipe stored in runs/ft/tuned.ckpt does not exist", "--tokenizer"},
       {"out"}},
      {"generate-not-a-checkpoint",
       "generate with a file of random bytes",
       [](Dir d) { write_file(d / "junk.ckpt", junk(10000)); },
       "generate --checkpoint junk.ckpt --prompt Haus",
       {"junk.ckpt is not a plinth checkpoint"},
       {}},
      {"generate-truncated",
       "generate with a checkpoint cut short",
       [](Dir d) { fs::resize_file(d / "runs/ft/tuned.ckpt", 100000); },
       "generate --checkpoint runs/ft/tuned.ckpt --prompt Haus",
       {"runs/ft/tuned.ckpt is damaged"},
       {}},
      {"generate-other-tokenizer",
       "generate with a tokenizer the checkpoint was not trained with",
       kNoDamage,
       "generate --checkpoint runs/ft/tuned.ckpt --prompt Haus --tokenizer tok/other.model",
       {"runs/ft/tuned.ckpt was trained with tokenizer", "tok/other.model"},
       {}},
      {"merge-alpha-outside",
       "merge with an α beyond the tuned model, without --extrapolate",
       kNoDamage,
       "merge runs/base/checkpoints/step-000002.ckpt runs/ft/tuned.ckpt out.ckpt --alpha 1.5",
       {"--alpha 1.5 is outside [0, 1]", "--extrapolate"},
       {"out.ckpt"}},
      {"merge-other-shape",
       "merge of two checkpoints of different model shapes",
       kNoDamage,
       "merge runs/base/checkpoints/step-000002.ckpt runs/wide/checkpoints/step-000002.ckpt out.ckpt "
       "--alpha 0.5",
       {"runs/base/checkpoints/step-000002.ckpt and runs/wide/checkpoints/step-000002.ckpt are models of "
        "different shapes"},
       {"out.ckpt"}},
      {"eval-interpolate-outside",
       "eval.interpolate with an α outside [0, 1]",
       kNoDamage,
       "eval ft.yaml --threads 1 eval.interpolate=[0.5,1.5]",
       {"eval.interpolate", "α = 1.5 is outside [0, 1]"},
       {}},
      {"attribute-without-report",
       "attribute of a fine-tune that has no report yet",
       [](Dir d) { fs::remove(d / "runs/ft/report.json"); },
       "attribute ft.yaml --threads 1",
       {"runs/ft holds no report.json", "plinth eval"},
       {}},
      {"attribute-stale-report",
       "attribute of a fine-tune whose tuned.ckpt is newer than its report",
       [](Dir d) {
         fs::last_write_time(d / "runs/ft/tuned.ckpt",
                             fs::last_write_time(d / "runs/ft/report.json") + std::chrono::seconds(10));
       },
       "attribute ft.yaml --threads 1",
       {"runs/ft/tuned.ckpt is newer than runs/ft/report.json", "plinth eval ft.yaml"},
       {}},

      // ---- reports (report.json, read by gate and report)
      {"gate-not-json",
       "gate on a report.json that is not JSON",
       [](Dir d) { write_file(d / "runs/ft/report.json", "{ not json\n"); },
       "gate runs/ft/report.json",
       {"runs/ft/report.json is not valid JSON", "plinth eval"},
       {}},
      {"gate-empty-report",
       "gate on an empty report.json",
       [](Dir d) { write_file(d / "runs/ft/report.json", ""); },
       "gate runs/ft/report.json",
       {"runs/ft/report.json is not valid JSON"},
       {}},
      {"gate-missing-field",
       "gate on a report.json without its domains",
       [](Dir d) { replace_in(d / "runs/ft/report.json", "\"domains\":", "\"domainz\":"); },
       "gate runs/ft/report.json",
       {"runs/ft/report.json", "key 'domains' is missing"},
       {}},
      {"gate-missing-nested-field",
       "gate on a report.json without a domain's per-document scores",
       [](Dir d) { replace_in(d / "runs/ft/report.json", "\"base_nll\":", "\"base_nlx\":"); },
       "gate runs/ft/report.json",
       {"runs/ft/report.json", "'domains[0].per_document.base_nll' is missing"},
       {}},
      {"gate-not-a-number",
       "gate on a report.json with text among the scores",
       [](Dir d) { replace_in(d / "runs/ft/report.json", "\"base_nll\": [", "\"base_nll\": [\"x\", "); },
       "gate runs/ft/report.json",
       {"'domains[0].per_document.base_nll'", "not a number"},
       {}},
      {"gate-inconsistent-lengths",
       "gate on a report.json with one score too many",
       [](Dir d) { replace_in(d / "runs/ft/report.json", "\"base_nll\": [", "\"base_nll\": [1.0, "); },
       "gate runs/ft/report.json",
       {"'domains[0].per_document.base_nll' has", "were expected"},
       {}},
      {"gate-unknown-schema",
       "gate on a report.json of a future schema",
       [](Dir d) { replace_in(d / "runs/ft/report.json", "\"schema\": 3", "\"schema\": 99"); },
       "gate runs/ft/report.json",
       {"runs/ft/report.json has schema 99", "reads schemas 1 to 3"},
       {}},
      {"gate-report-missing",
       "gate on a report.json that does not exist",
       kNoDamage,
       "gate runs/nowhere/report.json",
       {"runs/nowhere/report.json does not exist"},
       {}},
      {"gate-run-without-report",
       "gate on a run directory without report.json",
       kNoDamage,
       "gate runs/base",
       {"runs/base holds no report.json", "plinth eval"},
       {}},
      {"gate-bad-max-forgetting",
       "gate --max-forgetting with a value that is not a percentage",
       kNoDamage,
       "gate runs/ft/report.json --max-forgetting lots",
       {"--max-forgetting 'lots' is not a percentage"},
       {}},
      {"gate-bad-domain-flag",
       "gate --domain without =PERCENT",
       kNoDamage,
       "gate runs/ft/report.json --domain alpha",
       {"--domain 'alpha'", "DOMAIN=PERCENT"},
       {}},
      {"gate-unknown-domain",
       "gate --domain naming a domain the report lacks",
       kNoDamage,
       "gate runs/ft/report.json --domain gamma=5%",
       {"domain 'gamma'", "its domains: alpha, beta"},
       {}},
      {"gate-bad-confidence",
       "gate --confidence outside (0, 1)",
       kNoDamage,
       "gate runs/ft/report.json --confidence 2",
       {"--confidence '2'", "between 0 and 1"},
       {}},
      {"gate-baseline-missing",
       "gate --baseline naming a file that does not exist",
       kNoDamage,
       "gate runs/ft/report.json --baseline runs/nowhere/report.json",
       {"runs/nowhere/report.json does not exist"},
       {}},
      {"gate-negative-max-kl",
       "gate --max-kl below zero (KL is never negative)",
       kNoDamage,
       "gate runs/ft/report.json --max-kl -1",
       {"--max-kl", "-1"},
       {}},
      {"report-without-report-json",
       "report of a run directory without report.json",
       kNoDamage,
       "report runs/base --out cmp",
       {"runs/base holds no report.json", "plinth eval"},
       {"cmp/comparison.md"}},
      {"report-not-json",
       "report of a run whose report.json is not JSON",
       [](Dir d) { write_file(d / "runs/ft/report.json", "[1,2\n"); },
       "report runs/ft --out cmp",
       {"runs/ft/report.json is not valid JSON"},
       {"cmp/comparison.md"}},
      {"report-no-schema",
       "report of a JSON file that is not a report",
       [](Dir d) { replace_in(d / "runs/ft/report.json", "\"schema\": 3", "\"schemo\": 3"); },
       "report runs/ft --out cmp",
       {"runs/ft/report.json has no schema version"},
       {"cmp/comparison.md"}},
      {"report-out-is-a-file",
       "report --out naming an existing file",
       [](Dir d) { write_file(d / "notadir", "x\n"); },
       "report runs/ft --out notadir",
       {"notadir", "directory"},
       {}},

      // ---- pipelines (plinth run)
      {"pipeline-missing-file",
       "run of a pipeline file that does not exist",
       kNoDamage,
       "run nowhere.yaml --threads 1",
       {"nowhere.yaml", "does not exist"},
       {}},
      {"pipeline-malformed-yaml",
       "a pipeline with an unclosed bracket",
       [](Dir d) { write_file(d / "pipe.yaml", "pretrain: base.yaml\nfinetune: [ft.yaml\n"); },
       "run pipe.yaml --threads 1",
       {"pipe.yaml:", "malformed YAML"},
       {}},
      {"pipeline-missing-recipe",
       "a pipeline naming a recipe that does not exist",
       [](Dir d) { write_file(d / "pipe.yaml", "pretrain: base.yaml\nfinetune: [nowhere.yaml]\n"); },
       "run pipe.yaml --threads 1",
       {"pipe.yaml:2:11", "nowhere.yaml does not exist"},
       {}},
      {"pipeline-seed-not-integer",
       "a pipeline with a seed that is not an integer",
       [](Dir d) {
         write_file(d / "pipe.yaml", "pretrain: base.yaml\nfinetune: [ft.yaml]\nseeds: [1, two]\n");
       },
       "run pipe.yaml --threads 1",
       {"pipe.yaml:3:", "'two' is not a seed"},
       {}},
      {"pipeline-seed-twice",
       "a pipeline listing a seed twice",
       [](Dir d) {
         write_file(d / "pipe.yaml", "pretrain: base.yaml\nfinetune: [ft.yaml]\nseeds: [1, 1]\n");
       },
       "run pipe.yaml --threads 1",
       {"pipe.yaml:3:", "seed 1 is listed twice"},
       {}},
      {"pipeline-unknown-key",
       "a pipeline with a misspelt key (finetunes)",
       [](Dir d) { write_file(d / "pipe.yaml", "pretrain: base.yaml\nfinetunes: [ft.yaml]\n"); },
       "run pipe.yaml --threads 1",
       {"pipe.yaml:2:", "finetunes: unknown key", "did you mean 'finetune'"},
       {}},
      {"pipeline-bad-stage-recipe",
       "a pipeline whose fine-tuning recipe is bad",
       [](Dir d) {
         write_file(d / "pipe.yaml", "pretrain: base.yaml\nfinetune: [ft.yaml]\n");
         replace_in(d / "ft.yaml", "method: full", "method: fulll");
       },
       "run pipe.yaml --threads 1",
       {"ft.yaml:5:11", "finetune.method"},
       {}},

      // ---- sweeps (plinth sweep, a pipeline's sweep:)
      {"sweep-unknown-grid-key",
       "a grid key that is no recipe key (train.lrr)",
       kNoDamage,
       "sweep ft.yaml --grid train.lrr=1e-3,2e-3 --threads 1",
       {"--grid train.lrr=1e-3,2e-3", "train.lrr: unknown key", "did you mean 'lr'"},
       {"runs/ft-lrr1e-3", "runs/ft-sweep"}},
      {"sweep-one-value",
       "a grid with one value only",
       kNoDamage,
       "sweep ft.yaml --grid train.lr=1e-3 --threads 1",
       {"--grid train.lr=1e-3", "a grid needs two values or more, got 1"},
       {"runs/ft-lr1e-3", "runs/ft-sweep"}},
      {"sweep-duplicate-value",
       "a grid listing one value twice (1e-3 and 0.001)",
       kNoDamage,
       "sweep ft.yaml --grid train.lr=1e-3,0.001 --threads 1",
       {"--grid train.lr=1e-3,0.001", "the value 0.001 is listed twice"},
       {"runs/ft-lr1e-3", "runs/ft-sweep"}},
      {"sweep-grid-no-equals",
       "a --grid without '='",
       kNoDamage,
       "sweep ft.yaml --grid train.lr --threads 1",
       {"--grid 'train.lr'", "no '=' in it"},
       {"runs/ft-sweep"}},
      {"sweep-key-twice",
       "the same grid key given twice",
       kNoDamage,
       "sweep ft.yaml --grid train.lr=1e-3,2e-3 --grid train.lr=3e-3,4e-3 --threads 1",
       {"--grid train.lr=3e-3,4e-3", "train.lr: the key is given twice"},
       {"runs/ft-lr1e-3", "runs/ft-sweep"}},
      {"sweep-no-base",
       "a sweep of a fine-tune whose base does not exist",
       [](Dir d) { replace_in(d / "ft.yaml", "base: runs/base", "base: runs/nowhere"); },
       "sweep ft.yaml --grid train.lr=1e-3,2e-3 --threads 1",
       {"finetune.base: runs/nowhere does not exist"},
       {"runs/ft-lr1e-3", "runs/ft-sweep"}},
      {"sweep-screen-not-fraction",
       "a sweep screened on more than the whole sample (--screen 1.5)",
       kNoDamage,
       "sweep ft.yaml --grid train.lr=1e-3,2e-3 --screen 1.5 --threads 1",
       {"--screen 1.5", "a fraction of the eval sample in (0, 1) is expected"},
       {"runs/ft-lr1e-3", "runs/ft-sweep"}},
      {"sweep-screen-every-document",
       "a screened sweep of a recipe that scores every document (eval.max_tokens: 0)",
       [](Dir d) { replace_in(d / "ft.yaml", "max_tokens: 256", "max_tokens: 0"); },
       "sweep ft.yaml --grid train.lr=1e-3,2e-3 --screen 0.25 --threads 1",
       {"ft.yaml: eval.max_tokens: 0 scores everything", "sweep without a screen"},
       {"runs/ft-lr1e-3", "runs/ft-sweep"}},
      {"pipeline-sweep-with-seeds",
       "a pipeline with both seeds and sweep",
       [](Dir d) {
         write_file(d / "pipe.yaml",
                    "finetune: [ft.yaml]\nseeds: [1, 2]\nsweep: {grid: {train.lr: [1e-3, 2e-3]}}\n");
       },
       "run pipe.yaml --threads 1",
       {"pipe.yaml:3:", "seeds: and sweep: together"},
       {"runs/ft-lr1e-3"}},
      {"pipeline-sweep-unknown-key",
       "a pipeline sweeping a key that is no recipe key (train.lrr)",
       [](Dir d) {
         write_file(
             d / "pipe.yaml",
             "pretrain: base.yaml\nfinetune: [ft.yaml]\nsweep:\n  grid:\n    train.lrr: [1e-3, 2e-3]\n");
       },
       "run pipe.yaml --threads 1",
       {"pipe.yaml:5:", "train.lrr: unknown key", "did you mean 'lr'"},
       {"runs/ft-lrr1e-3"}},
      {"pipeline-sweep-screen-not-fraction",
       "a pipeline screening its sweep on more than the sample (screen: 2)",
       [](Dir d) {
         write_file(d / "pipe.yaml",
                    "finetune: [ft.yaml]\nsweep: {grid: {train.lr: [1e-3, 2e-3]}, screen: 2}\n");
       },
       "run pipe.yaml --threads 1",
       {"pipe.yaml:2:", "sweep.screen"},
       {"runs/ft-lr1e-3"}},

      // ---- command-line arguments
      {"cli-unknown-command", "an unknown command", kNoDamage, "frobnicate data.yaml", {"frobnicate"}, {}},
      {"cli-missing-subcommand",
       "a command group without its subcommand (tokenizer)",
       kNoDamage,
       "tokenizer data.yaml",
       {"tokenizer", "train"},
       {}},
      {"cli-unknown-flag", "an unknown flag", kNoDamage, "prepare data.yaml --fast", {"--fast"}, {}},
      {"cli-missing-argument",
       "a command without its recipe",
       kNoDamage,
       "prepare",
       {"recipe is required"},
       {}},
      {"cli-missing-value",
       "a flag without its value",
       kNoDamage,
       "generate --checkpoint runs/ft/tuned.ckpt --prompt",
       {"--prompt", "required"},
       {}},
      {"cli-threads-zero",
       "--threads 0",
       kNoDamage,
       "prepare data.yaml --threads 0",
       {"--threads", "Value 0"},
       {}},
      {"cli-threads-not-integer",
       "--threads with a word",
       kNoDamage,
       "prepare data.yaml --threads many",
       {"--threads", "many"},
       {}},
      {"cli-not-a-number",
       "a number flag with a word (--max-kl abc)",
       kNoDamage,
       "gate runs/ft/report.json --max-kl abc",
       {"--max-kl", "abc"},
       {}},
      {"cli-not-a-choice",
       "a flag value outside its choices (--precision fp8)",
       kNoDamage,
       "generate --checkpoint runs/ft/tuned.ckpt --prompt Haus --precision fp8",
       {"--precision", "fp8"},
       {}},
      {"cli-export-format",
       "export --format of a format plinth does not write",
       kNoDamage,
       "export runs/ft/tuned.ckpt out --format onnx",
       {"--format onnx", "unknown export format"},
       {"out"}},
      {"cli-negative-temperature",
       "generate --temperature below zero",
       kNoDamage,
       "generate --checkpoint runs/ft/tuned.ckpt --prompt Haus --temperature -1",
       {"temperature: -1 is not >= 0"},
       {}},
      {"cli-runs-not-a-directory",
       "plinth runs on a file, not a folder of runs",
       kNoDamage,
       "runs ft.yaml",
       {"ft.yaml is not a directory", "default runs/"},
       {}},

      // ---- data-parallel launches (the variables torchrun sets; docs/data-parallel.md)
      {"dist-world-without-rank",
       "WORLD_SIZE set without RANK",
       kNoDamage,
       "pretrain base.yaml train.run_dir=runs/dp",
       {"WORLD_SIZE=2 is set, but RANK is not", "torchrun"},
       {"runs/dp"},
       "WORLD_SIZE=2"},
      {"dist-rank-outside-world",
       "a RANK outside the world",
       kNoDamage,
       "pretrain base.yaml train.run_dir=runs/dp",
       {"RANK=2 is outside a world of 2 processes", "ranks are 0 to 1"},
       {"runs/dp"},
       "RANK=2 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29400"},
      {"dist-no-master",
       "a world of two without MASTER_ADDR / MASTER_PORT",
       kNoDamage,
       "finetune ft.yaml train.run_dir=runs/dp",
       {"MASTER_ADDR and MASTER_PORT are not set", "MASTER_ADDR=127.0.0.1"},
       {"runs/dp"},
       "RANK=0 WORLD_SIZE=2"},
      {"dist-master-unreachable",
       "rank 1 pointed at a master where nothing listens",
       kNoDamage,
       "pretrain base.yaml train.run_dir=runs/dp",
       {"rank 1 could not reach the rendezvous store at 127.0.0.1:9 within 2 s", "start rank 0"},
       {"runs/dp"},
       "RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=9 PLINTH_DIST_TIMEOUT=2"},
      {"dist-rank-missing",
       "rank 0 of a world of two, alone",
       kNoDamage,
       "pretrain base.yaml train.run_dir=runs/dp",
       {"rank 1 of WORLD_SIZE=2 did not join within 2 s", "start every rank"},
       {"runs/dp"},
       "RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=$((20000 + $$ % 20000)) PLINTH_DIST_TIMEOUT=2"},
      {"dist-batch-indivisible",
       "a global batch that does not divide among the ranks",
       kNoDamage,
       "pretrain base.yaml train.run_dir=runs/dp",
       {"base.yaml:4:", "train.batch_size", "2 rows do not divide among WORLD_SIZE=3", "a multiple of 3"},
       {"runs/dp"},
       "RANK=0 WORLD_SIZE=3 MASTER_ADDR=127.0.0.1 MASTER_PORT=29400"},
      {"dist-launch-no-command",
       "plinth launch without a command for the ranks",
       kNoDamage,
       "launch -n 2",
       {"which command should the ranks run"},
       {}},
  };
  return cases;
}

// Files a writer left behind: every atomic write goes through NAME.tmp.N and a rename.
std::vector<std::string> half_written(const fs::path& dir) {
  std::vector<std::string> found;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp.") != std::string::npos)
      found.push_back(fs::relative(e.path(), dir).string());
  return found;
}

}  // namespace

TEST_CASE("bad input, one table row per kind: exit 2, the place named, nothing half-written",
          "[cli][bad-input]") {
  CliFixture fixture;
  build_fixture(fixture);
  const plinth::test::TempDir scratch;

  for (const auto& c : bad_input_cases()) {
    // A fresh copy per row, so that no row sees another's damage.
    const fs::path dir = scratch / c.id;
    fs::copy(fixture.dir().path(), dir, fs::copy_options::recursive);
    try {
      c.damage(dir);
    } catch (const std::exception& e) {
      FAIL_CHECK("case " << c.id << ": the damage could not be applied: " << e.what());
      continue;
    }
    const CommandResult r = plinth::test::run_command("cd '" + dir.string() + "' && " + c.env + " '" +
                                                      plinth::test::plinth_binary() + "' " + c.args);
    INFO("case " << c.id << " (" << c.what << "): " << c.env << " plinth " << c.args << "\n" << r.output);
    CHECK(r.exit_code == 2);
    for (const auto& needle : c.needles) CHECK_THAT(r.output, Catch::Contains(needle));
    CHECK_THAT(r.output, !Catch::Contains("internal error", Catch::CaseSensitive::No));
    const std::vector<std::string> left = half_written(dir);
    INFO("half-written: " << (left.empty() ? std::string("none") : left.front()));
    CHECK(left.empty());
    for (const auto& path : c.absent) {
      INFO("must not exist: " << path);
      CHECK_FALSE(fs::exists(dir / path));
    }
    fs::remove_all(dir);
  }
}

TEST_CASE("docs/bad-input.md lists every row of the bad-input table, and only those", "[cli][bad-input]") {
  std::ifstream in(plinth::test::source_dir() / "docs/bad-input.md");
  REQUIRE(in);
  // A row of the doc's table starts with its id in backquotes: | `recipe-unknown-key` | ...
  std::set<std::string> documented;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("| `", 0) != 0) continue;
    const size_t end = line.find('`', 3);
    if (end != std::string::npos) documented.insert(line.substr(3, end - 3));
  }
  std::set<std::string> ids;
  for (const auto& c : bad_input_cases()) {
    INFO("case " << c.id);
    CHECK(ids.insert(c.id).second);  // ids are unique
    CHECK(documented.count(c.id) == 1);
  }
  for (const auto& id : documented) {
    INFO("docs/bad-input.md lists '" << id << "', which the table does not hold");
    CHECK(ids.count(id) == 1);
  }
  CHECK(ids.size() >= 45);
}
