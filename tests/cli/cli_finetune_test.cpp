// Fine-tuning through the real binary: full and LoRA fine-tunes of a tiny base, the forgetting
// report, the gate, the pipeline's skip/resume, and every bad input of the fine-tuning stage.
#include <fmt/format.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli_finetune_fixture.h"

using plinth::test::CliFixture;
namespace fs = std::filesystem;

using plinth::test::finetune_recipe;
using plinth::test::FinetuneFixture;

namespace {

// A capability suite of word pairs: the German word, and the English one among three (gold
// first, second or third by turn). 16 questions; the eval scores a sample of 12.
std::string word_suite() {
  const char* pairs[][2] = {{"Haus", "house"},   {"Baum", "tree"},   {"Hund", "dog"},   {"Katze", "cat"},
                            {"Wasser", "water"}, {"Feuer", "fire"},  {"Brot", "bread"}, {"Milch", "milk"},
                            {"Buch", "book"},    {"Stadt", "town"},  {"Weg", "way"},    {"Licht", "light"},
                            {"Stein", "stone"},  {"Nacht", "night"}, {"Tag", "day"},    {"Hand", "hand"}};
  std::string out = "{\"plinth_suite\": {\"made_by\": \"cli_finetune_test\"}}\n";
  for (size_t i = 0; i < 16; ++i) {
    std::vector<std::string> choices{pairs[i][1], pairs[(i + 5) % 16][1], pairs[(i + 11) % 16][1]};
    std::rotate(choices.begin(), choices.begin() + static_cast<long>(3 - i % 3) % 3, choices.end());
    out += fmt::format(R"({{"query": "{} means", "choices": ["{}", "{}", "{}"], "gold": {}}})", pairs[i][0],
                       choices[0], choices[1], choices[2], i % 3) +
           "\n";
  }
  return out;
}

// The fine-tune's recipe with the word suite in its eval: section.
std::string with_suite(std::string recipe) {
  const std::string at = "eval:\n";
  return recipe.replace(recipe.find(at), at.size(),
                        at + "  suites: [{name: words, path: words.jsonl}]\n  suite_questions: 12\n");
}

}  // namespace

TEST_CASE("full and LoRA fine-tunes, their forgetting reports, the comparison and the gate",
          "[cli][finetune]") {
  FinetuneFixture f;
  f.make_base();
  f.recipe(with_suite(finetune_recipe("ft-full", "  method: full\n")), "full.yaml");
  f.recipe(with_suite(
               finetune_recipe("ft-lora", "  method: lora\n  lora: {rank: 2, targets: [q_proj, v_proj]}\n")),
           "lora.yaml");
  f.dir().write("words.jsonl", word_suite());
  // Cloze suites from the domains' validation documents: one per domain and kind, each file
  // opening with its provenance.
  auto made = f.plinth("suite make data.yaml suites.cloze.questions=8 suites.cloze.min_answer_chars=10");
  INFO(made.output);
  REQUIRE(made.exit_code == 0);
  for (const char* name : {"alpha-same", "alpha-other", "beta-same", "beta-other"}) {
    INFO(name);
    const std::string text = plinth::test::read_file(f.dir() / "suites" / (std::string(name) + ".jsonl"));
    CHECK_THAT(text, Catch::StartsWith("{\"plinth_suite\":") && Catch::Contains("\"tokenizer_hash\"") &&
                         Catch::Contains("\"metric\":\"acc_mutual_info\""));
    CHECK_THAT(text, Catch::Contains("\"query\":") && Catch::Contains("\"gold\":"));
  }

  for (const char* name : {"full", "lora"}) {
    auto ft = f.plinth(std::string("finetune ") + name + ".yaml --threads 2");
    INFO(ft.output);
    REQUIRE(ft.exit_code == 0);
    const fs::path run = f.dir() / (std::string("runs/ft-") + name);
    CHECK(fs::exists(run / "tuned.ckpt"));
    CHECK(fs::exists(run / "metrics.jsonl"));
    CHECK(fs::exists(run / "adapter.ckpt") == (std::string(name) == "lora"));

    auto ev = f.plinth(std::string("eval ") + name + ".yaml --threads 2");
    INFO(ev.output);
    REQUIRE(ev.exit_code == 0);
    CHECK_THAT(ev.output, Catch::Contains("| alpha |") && Catch::Contains("forgetting") &&
                              Catch::Contains("exact match"));
    // The answer budget comes from the training completions, not from each test reference.
    CHECK_THAT(ev.output, Catch::Contains("greedy answers of up to") &&
                              Catch::Contains("(the longest training completion)"));
    for (const char* file : {"report.json", "report.md", "report.svg", "report.html"})
      CHECK(fs::exists(run / file));
    // The page holds the Markdown's tables and the run's training curves (its loss.svg).
    const std::string html = plinth::test::read_file(run / "report.html");
    CHECK_THAT(html, Catch::Contains("<td>alpha</td>") && Catch::Contains("<h2 id=\"capability-suites\">") &&
                         Catch::Contains("<svg role=\"img\"") &&
                         Catch::Contains("<img src=\"data:image/svg+xml;base64,"));
    // The capability suite beside the domains: 12 of its 16 questions, scored on both models.
    CHECK_THAT(ev.output, Catch::Contains("suite words") && Catch::Contains("12 questions, 36 choices"));
    // The second fine-tune of the base reads the base's task and suite scores the first kept
    // (finetune/base_scores.h); the reports below hold the same base figures either way.
    const bool second = std::string(name) == "lora";
    CHECK(second == (ev.output.find("task (base): reused from") != std::string::npos));
    CHECK(second == (ev.output.find("the base's scores reused") != std::string::npos));
    const std::string md = plinth::test::read_file(run / "report.md");
    CHECK_THAT(md, Catch::Contains("## Capability suites") && Catch::Contains("| words | 12 of 16 | acc |"));
    const std::string json = plinth::test::read_file(run / "report.json");
    CHECK_THAT(json, Catch::Contains("\"schema\": 3") && Catch::Contains("\"acc_mcnemar_p\"") &&
                         Catch::Contains("\"acc_mutual_info_mcnemar_p\"") &&
                         Catch::Contains("\"base_ll_unconditional\"") &&
                         Catch::Contains("\"questions_in_file\": 16"));
    CHECK_THAT(plinth::test::read_file(run / "report.svg"), Catch::Contains("capability suites: accuracy"));
    // How far the fine-tune moved on its own task: KL and agreement on completions and prompts.
    const auto task = nlohmann::json::parse(json)["task"];
    CHECK(task["kl"].get<double>() > 0);
    CHECK(task["top1_agreement"].get<double>() <= 1.0);
    CHECK(task["prompt_kl"].get<double>() > 0);
    CHECK(task["per_example"]["prompt_tokens"].size() == task["per_example"]["index"].size());
    CHECK_THAT(md, Catch::Contains("| completions | ") && Catch::Contains("| prompts | "));
  }

  {
    const auto full = nlohmann::json::parse(plinth::test::read_file(f.dir() / "runs/ft-full/report.json"));
    const auto lora = nlohmann::json::parse(plinth::test::read_file(f.dir() / "runs/ft-lora/report.json"));
    CHECK(full["task"]["per_example"]["base_nll"] == lora["task"]["per_example"]["base_nll"]);
    CHECK(full["task"]["base_exact_match"] == lora["task"]["base_exact_match"]);
    CHECK(full["suites"][0]["per_question"]["base_ll"] == lora["suites"][0]["per_question"]["base_ll"]);
    CHECK(full["suites"][0]["per_question"]["tuned_ll"] != lora["suites"][0]["per_question"]["tuned_ll"]);
  }

  // The tuned model is a plain checkpoint: generate and export read it. Asked as it was taught:
  // the prompt in the task's template, the answer up to the end marker, nothing else printed.
  auto gen = f.plinth("generate --checkpoint runs/ft-lora/tuned.ckpt --prompt 'Haus' --max-new-tokens 3");
  INFO(gen.output);
  CHECK(gen.exit_code == 0);
  CHECK_THAT(gen.output,
             Catch::Contains("fine-tuned on task 'task': the prompt goes into its template "
                             "\"<|prompt|>{prompt}<|response|>\", and the completion ends at <|end|>"));
  CHECK_THAT(gen.output, !Catch::Contains("<|end|>\n") && !Catch::Contains("Haus<|response|>"));
  auto raw =
      f.plinth("generate --checkpoint runs/ft-lora/tuned.ckpt --prompt 'Haus' --max-new-tokens 3 --raw");
  INFO(raw.output);
  CHECK(raw.exit_code == 0);
  CHECK_THAT(raw.output, !Catch::Contains("template"));

  auto cmp = f.plinth("report runs/ft-full runs/ft-lora --out cmp");
  INFO(cmp.output);
  CHECK(cmp.exit_code == 0);
  CHECK_THAT(cmp.output, Catch::Contains("runs/ft-full") && Catch::Contains("lora"));
  CHECK_THAT(cmp.output, Catch::Contains("| suite |") && Catch::Contains("| words | "));
  CHECK(fs::exists(f.dir() / "cmp/comparison.svg"));
  // comparison.html links each run's page relative to itself.
  const std::string page = plinth::test::read_file(f.dir() / "cmp/comparison.html");
  CHECK_THAT(page, Catch::Contains("href=\"../runs/ft-full/report.html\"") &&
                       Catch::Contains("href=\"../runs/ft-lora/report.html\""));

  // The recipe's budget (1000%) passes; a budget of -100% cannot.
  CHECK(f.plinth("gate runs/ft-full/report.json").exit_code == 0);
  auto breach = f.plinth("gate runs/ft-full/report.json --max-forgetting -100%");
  CHECK(breach.exit_code == 1);
  CHECK_THAT(breach.output, Catch::Contains("alpha"));
  // A suite's accuracy budget: no drop can be 100 points below zero; a misspelt suite is bad input.
  auto acc = f.plinth("gate runs/ft-full --max-acc-drop words=-100");
  INFO(acc.output);
  CHECK(acc.exit_code == 1);
  CHECK_THAT(acc.output, Catch::Contains("BREACH") && Catch::Contains("suite words: acc"));
  auto typo = f.plinth("gate runs/ft-full --max-acc-drop word=2");
  CHECK(typo.exit_code == 2);
  CHECK_THAT(typo.output, Catch::Contains("did you mean 'words'"));
  // Against the LoRA run as its baseline, suites are compared question by question too.
  auto vs = f.plinth("gate runs/ft-full --baseline runs/ft-lora/report.json --tolerance 100%");
  INFO(vs.output);
  CHECK(vs.exit_code == 0);
  CHECK_THAT(vs.output, Catch::Contains("suite words: acc") && Catch::Contains("on 12 common questions"));

  // plinth runs: the base and both fine-tunes, read from their files. Then a damaged report lists
  // its run as damaged and the others still (exit 0); a path that is no directory is bad input.
  auto listed = f.plinth("runs --json");
  INFO(listed.output);
  REQUIRE(listed.exit_code == 0);
  std::map<std::string, nlohmann::json> runs;
  for (const auto& r : nlohmann::json::parse(listed.output)) runs[r["dir"].get<std::string>()] = r;
  REQUIRE(runs.size() == 3);
  CHECK(runs["base"]["kind"] == "pretrain");
  CHECK(runs["base"]["state"] == "finished");
  CHECK(runs["base"]["best_val_loss"].is_number());
  for (const char* name : {"ft-full", "ft-lora"}) {
    const nlohmann::json& r = runs[name];
    INFO(name);
    CHECK(r["kind"] == "fine-tune");
    CHECK(r["state"] == "evaluated");
    CHECK(r["step"] == r["steps"]);
    const nlohmann::json report =
        nlohmann::json::parse(plinth::test::read_file(f.dir() / "runs" / name / "report.json"));
    CHECK(r["method"] == report["method"]);
    CHECK(r["mean_forgetting_pct"]["value"] == report["overall"]["mean_forgetting_pct"]);
    CHECK(r["task_gain_pct"]["ci"] == report["task"]["gain_ci"]);
  }
  for (const auto& [name, r] : runs) {
    INFO(name);
    CHECK(r["stale_because"].is_null());
  }

  // Stale: ft-full's recipe trains differently now (read again from the file its checkpoints
  // name), and ft-lora's base is another model (newer than its outputs, so it is hashed).
  const std::string full_yaml = plinth::test::read_file(f.dir() / "full.yaml");
  REQUIRE(full_yaml.find("warmup_steps: 1\n") != std::string::npos);
  std::string edited = full_yaml;
  edited.replace(edited.find("warmup_steps: 1\n"), 16, "warmup_steps: 2\n");
  f.dir().write("full.yaml", edited);
  const fs::path base_ckpt = f.dir() / "runs/base/checkpoints/best.ckpt";
  const std::string base_bytes = plinth::test::read_file(base_ckpt);
  fs::remove(base_ckpt);  // a hard link: write a new file, leave its origin as it is
  f.dir().write("runs/base/checkpoints/best.ckpt", base_bytes);  // same content, newer: not stale
  auto same = f.plinth("runs --json");
  INFO(same.output);
  REQUIRE(same.exit_code == 0);
  for (const auto& r : nlohmann::json::parse(same.output)) runs[r["dir"].get<std::string>()] = r;
  CHECK_THAT(
      runs["ft-full"]["state"].get<std::string>(),
      Catch::StartsWith("stale because runs/ft-full/tuned.ckpt was made with another version of the recipe"));
  CHECK(runs["ft-lora"]["state"] == "evaluated");
  CHECK(runs["base"]["state"] == "finished");
  std::string other_base = base_bytes;
  other_base[other_base.size() / 2] ^= 1;  // not a checkpoint that reads, and another hash
  f.dir().write("runs/base/checkpoints/best.ckpt", other_base);
  auto stale = f.plinth("runs");
  INFO(stale.output);
  REQUIRE(stale.exit_code == 0);
  CHECK_THAT(stale.output,
             Catch::Contains("stale because its base runs/base changed since runs/ft-lora/tuned.ckpt"));
  f.dir().write("full.yaml", full_yaml);
  f.dir().write("runs/base/checkpoints/best.ckpt", base_bytes);

  // Damaged: a report cut short, a metrics line that is no JSON (not the last line, which a kill
  // may cut): each run listed as damaged with the file, the others still listed (exit 0).
  f.dir().write("runs/ft-lora/report.json", "{\"overall\": ");
  const std::string metrics = plinth::test::read_file(f.dir() / "runs/ft-full/metrics.jsonl");
  f.dir().write("runs/ft-full/metrics.jsonl", "{\"step\": 1, \"val_loss\n" + metrics);
  auto damaged = f.plinth("runs");
  INFO(damaged.output);
  CHECK(damaged.exit_code == 0);
  CHECK_THAT(damaged.output,
             Catch::Contains("ft-lora") && Catch::Contains("damaged: ") && Catch::Contains("report.json"));
  CHECK_THAT(damaged.output, Catch::Contains("damaged: ") && Catch::Contains("metrics.jsonl:1 is not JSON"));
  CHECK_THAT(damaged.output, Catch::Contains("base") && Catch::Contains("finished"));  // the base's line
  auto nowhere = f.plinth("runs nowhere");
  CHECK(nowhere.exit_code == 2);
  CHECK_THAT(nowhere.output, Catch::Contains("nowhere is not a directory"));
  auto a_file = f.plinth("runs full.yaml");
  CHECK(a_file.exit_code == 2);
  CHECK_THAT(a_file.output,
             Catch::Contains("full.yaml is not a directory") && Catch::Contains("run directories"));
}

TEST_CASE("replay and EWC: the realised replay share, the Fisher from the training shards, reused",
          "[cli][finetune]") {
  FinetuneFixture f;
  f.make_base();
  f.recipe(finetune_recipe("ft-both",
                           "  method: full\n  replay: {fraction: 0.25}\n"
                           "  ewc: {lambda: 10, fisher_sequences: 6}\n"),
           "both.yaml");
  auto ft = f.plinth("finetune both.yaml --threads 2");
  INFO(ft.output);
  REQUIRE(ft.exit_code == 0);
  CHECK_THAT(ft.output,
             Catch::Contains("estimating the Fisher diagonal") && Catch::Contains("6 training windows"));
  // The Fisher file says where its sequences came from: the training shards, never val.
  std::ifstream fisher(f.dir() / "runs/ft-both/fisher.ckpt", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(fisher)), std::istreambuf_iterator<char>());
  CHECK(bytes.find("train shards of alpha, beta; seed 0") != std::string::npos);
  CHECK(bytes.find("val shards") == std::string::npos);
  // metrics.jsonl: the realised replay share of the scored targets, near the recipe's 25%.
  std::ifstream metrics(f.dir() / "runs/ft-both/metrics.jsonl");
  int lines_with_share = 0;
  for (std::string line; std::getline(metrics, line);) {
    const size_t at = line.find("\"replay_share\":");
    if (at == std::string::npos) continue;
    ++lines_with_share;
    const double share = std::stod(line.substr(at + 15));
    CHECK(share == Approx(0.25).margin(0.1));
  }
  CHECK(lines_with_share > 0);

  // The fine-tune wrote into its own run directory only, never the base's.
  for (const auto& e : fs::recursive_directory_iterator(f.dir() / "runs/base"))
    CHECK(e.path().filename().string().find("fisher") == std::string::npos);

  // Resumed, the fine-tune reuses its file; another sample size re-estimates it.
  auto again = f.plinth("finetune both.yaml --threads 2 train.steps=6 --resume");
  INFO(again.output);
  REQUIRE(again.exit_code == 0);
  CHECK_THAT(again.output, !Catch::Contains("estimating the Fisher"));
  auto more =
      f.plinth("finetune both.yaml --threads 2 train.steps=8 finetune.ewc.fisher_sequences=7 --resume");
  INFO(more.output);
  REQUIRE(more.exit_code == 0);
  CHECK_THAT(more.output,
             Catch::Contains("estimating the Fisher again") && Catch::Contains("7 training windows"));
}

TEST_CASE("the pipeline skips finished stages, resumes, and redoes a changed fine-tune", "[cli][finetune]") {
  FinetuneFixture f;
  f.dir().write("words.jsonl", word_suite());
  f.recipe(with_suite(finetune_recipe("ft-full", "  method: full\n")), "full.yaml");
  f.recipe("name: tiny\npretrain: base.yaml\nfinetune: [full.yaml]\nreport: runs/cmp\n", "pipeline.yaml");
  auto first = f.plinth("run pipeline.yaml --threads 2");
  INFO(first.output);
  REQUIRE(first.exit_code == 0);
  CHECK(fs::exists(f.dir() / "runs/ft-full/report.json"));
  CHECK(fs::exists(f.dir() / "runs/cmp/comparison.md"));
  CHECK_THAT(plinth::test::read_file(f.dir() / "runs/cmp/comparison.html"),
             Catch::Contains("href=\"../ft-full/report.html\""));
  // base.yaml has no suites: section, so no suite make stage.
  CHECK_THAT(first.output, !Catch::Contains("== plinth suite make"));

  auto second = f.plinth("run pipeline.yaml --threads 2");
  INFO(second.output);
  REQUIRE(second.exit_code == 0);
  CHECK_THAT(second.output, Catch::Contains("fine-tuned already") && Catch::Contains("report up to date") &&
                                Catch::Contains("nothing to do"));

  // A suite file the eval reads changes, and so does the recipe's eval: section: the report is
  // redone, the fine-tune is not.
  f.dir().write("words.jsonl", word_suite() +
                                   R"({"query": "Tisch means", "choices": ["table", "cat"], "gold": 0})"
                                   "\n");
  std::string eval_changed = with_suite(finetune_recipe("ft-full", "  method: full\n"));
  eval_changed.replace(eval_changed.find("suite_questions: 12"), 19, "suite_questions: 10");
  f.recipe(eval_changed, "full.yaml");
  auto suite_changed = f.plinth("run pipeline.yaml --threads 2");
  INFO(suite_changed.output);
  REQUIRE(suite_changed.exit_code == 0);
  CHECK_THAT(suite_changed.output,
             Catch::Contains("fine-tuned already") && !Catch::Contains("report up to date"));

  // With a suites: section the pretraining recipe's cloze suites are made after prepare.
  f.recipe("include: base.yaml\nsuites: {cloze: {questions: 4}}\n", "base-suites.yaml");
  f.recipe("name: tiny\npretrain: base-suites.yaml\nfinetune: [full.yaml]\n", "pipeline-suites.yaml");
  auto dry = f.plinth("run pipeline-suites.yaml --dry-run");
  INFO(dry.output);
  CHECK(dry.exit_code == 0);
  CHECK_THAT(dry.output,
             Catch::Contains("== plinth prepare base-suites.yaml\n== plinth suite make base-suites.yaml\n"
                             "== plinth pretrain base-suites.yaml"));

  // The fine-tuning recipe changes: the old run is set aside, not resumed or reused.
  std::string changed = with_suite(finetune_recipe("ft-full", "  method: full\n"));
  changed.replace(changed.find("steps: 4"), 8, "steps: 6");
  f.recipe(changed, "full.yaml");
  auto third = f.plinth("run pipeline.yaml --threads 2");
  INFO(third.output);
  REQUIRE(third.exit_code == 0);
  CHECK_THAT(third.output,
             Catch::Contains("another version of the recipe") && Catch::Contains("fine-tuning again") &&
                 !Catch::Contains("fine-tuned already") && !Catch::Contains("report up to date"));
  CHECK(fs::exists(f.dir() / "runs/ft-full.previous/tuned.ckpt"));
  CHECK(fs::exists(f.dir() / "runs/ft-full/tuned.ckpt"));
  CHECK(fs::exists(f.dir() / "runs/ft-full/checkpoints/step-000006.ckpt"));

  // The task file changes: the fine-tune is redone (and the older .previous deleted, saying so).
  f.dir().write("task.tsv", CliFixture::task_tsv() + "Zeit\ttime\n");
  auto fourth = f.plinth("run pipeline.yaml --threads 2");
  INFO(fourth.output);
  REQUIRE(fourth.exit_code == 0);
  CHECK_THAT(fourth.output, Catch::Contains("the task file task.tsv changed") &&
                                Catch::Contains("deleted runs/ft-full.previous") &&
                                Catch::Contains("fine-tuning again") && Catch::Contains("nothing to do"));

  // A corpus changes: prepare redoes its shards, and the base made from the old ones is set
  // aside and trained again; so is the fine-tune of it.
  {
    std::ofstream more(f.dir() / "corpus/alpha.txt", std::ios::app);
    more << "\n\nA new paragraph, added to the corpus after the base was trained.\n";
  }
  auto fifth = f.plinth("run pipeline.yaml --threads 2");
  INFO(fifth.output);
  REQUIRE(fifth.exit_code == 0);
  CHECK_THAT(fifth.output, Catch::Contains("the shards changed") && Catch::Contains("pretraining again") &&
                               Catch::Contains("its base runs/base changed"));
  CHECK(fs::exists(f.dir() / "runs/base.previous/checkpoints"));

  // A bad pipeline: a recipe that does not exist.
  f.recipe("pretrain: base.yaml\nfinetune: [nowhere.yaml]\n", "bad.yaml");
  auto bad = f.plinth("run bad.yaml");
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.output, Catch::Contains("nowhere.yaml"));
}

TEST_CASE("fine-tuning bad input: a clear message and exit 2", "[cli][finetune]") {
  FinetuneFixture f;
  f.make_base();
  auto expect_bad = [&](const std::string& recipe_text, const std::string& args, const std::string& needle) {
    f.recipe(recipe_text, "ft.yaml");
    auto r = f.plinth("finetune ft.yaml " + args);
    INFO(recipe_text << "\n" << r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains(needle));
  };
  const std::string full = finetune_recipe("ft", "  method: full\n");

  SECTION("base checkpoint missing") {
    expect_bad(full, "finetune.base=runs/nowhere", "runs/nowhere");
  }
  SECTION("base made with another tokenizer") {
    f.recipe(full, "ft.yaml");
    REQUIRE(
        f.plinth("tokenizer train ft.yaml tokenizer.model=tok/other tokenizer.vocab_size=500").exit_code ==
        0);
    auto r = f.plinth("finetune ft.yaml tokenizer.model=tok/other tokenizer.vocab_size=500");
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.output, Catch::Contains("was trained with tokenizer"));
  }
  SECTION("malformed JSONL: fail names the line; skip counts it") {
    f.dir().write(
        "task.jsonl",
        "{\"prompt\": \"Haus\", \"completion\": \"house\"}\n{\"prompt\": \"Baum\", \n"
        "{\"prompt\": \"Hund\", \"completion\": \"dog\"}\n{\"prompt\": \"Katze\", \"completion\": \"cat\"}\n"
        "{\"prompt\": \"Wasser\", \"completion\": \"water\"}\n{\"prompt\": \"Feuer\", \"completion\": "
        "\"fire\"}\n");
    std::string jsonl = full;
    jsonl.replace(jsonl.find("format: tsv\n  path: task.tsv"), 28, "format: jsonl\n  path: task.jsonl");
    expect_bad(jsonl, "", "task.jsonl:2");
    auto skip = f.plinth("finetune ft.yaml task.on_bad_line=skip task.val_fraction=0 task.test_fraction=0");
    INFO(skip.output);
    CHECK(skip.exit_code == 0);
    CHECK_THAT(skip.output, Catch::Contains("1 bad lines skipped"));
  }
  SECTION("an empty completion") {
    f.dir().write("task.tsv", CliFixture::task_tsv() + "Leer\t   \n");
    expect_bad(full, "", "task.tsv:17");
  }
  SECTION("a regex without the named groups") {
    std::string rx = full;
    rx.replace(rx.find("format: tsv\n  path: task.tsv"), 28,
               "format: regex\n  path: task.tsv\n  regex: '^(?<prompt>\\S+)\\t(\\S+)$'");
    expect_bad(rx, "", "completion");
  }
  SECTION("a LoRA target that matches no module") {
    expect_bad(finetune_recipe("ft", "  method: lora\n  lora: {targets: [qkv_proj]}\n"), "", "qkv_proj");
  }
  SECTION("replay without pretraining shards") {
    expect_bad(finetune_recipe("ft", "  method: full\n  replay: {fraction: 0.25}\n"), "data.shards=no-shards",
               "replay");
  }
  SECTION("EWC without Fisher data") {
    expect_bad(finetune_recipe("ft", "  method: full\n  ewc: {lambda: 10}\n"), "data.shards=no-shards",
               "Fisher");
  }
  SECTION("a base pretrained on another split of the data") {
    expect_bad(full, "data.val_fraction=0.3", "data.val_fraction is 0.3 here, 0.2 in the base's");
    expect_bad(full, "data.split_seed=4", "split_seed");
  }
  SECTION("--resume with nothing to resume") {
    expect_bad(full, "--resume", "no checkpoint to resume");
  }
}

TEST_CASE("train.precision auto: pretraining and fine-tuning measure, say which, and train in it",
          "[cli][finetune]") {
  FinetuneFixture f;
  f.recipe(
      "include: data.yaml\nname: base\nmodel: {dim: 32, layers: 1, heads: 2, context: 32}\n"
      "train: {steps: 2, warmup_steps: 1, batch_size: 2, eval_every: 2, eval_tokens: 256, "
      "checkpoint_every: 2, precision: auto}\n",
      "base.yaml");
  auto settled = [](const std::string& log) {
    return log.find("train.precision auto: fp32 (a step of") != std::string::npos ||
           log.find("train.precision auto: bf16 (a step of") != std::string::npos;
  };
  for (const char* cmd : {"tokenizer train base.yaml", "prepare base.yaml"})
    REQUIRE(f.plinth(cmd).exit_code == 0);
  auto base = f.plinth("pretrain base.yaml --threads 2");
  INFO(base.output);
  REQUIRE(base.exit_code == 0);
  CHECK(settled(base.output));
  auto again = f.plinth("pretrain base.yaml --threads 2 --resume");  // at its last step: nothing to train
  INFO(again.output);
  CHECK(again.exit_code == 0);
  CHECK_THAT(again.output, Catch::Contains("train.precision auto:") && Catch::Contains("as the run began"));
  std::string recipe = finetune_recipe("ft-auto", "  method: full\n");
  recipe.replace(recipe.find("precision: fp32"), 15, "precision: auto");
  f.recipe(recipe, "auto.yaml");
  auto tuned = f.plinth("finetune auto.yaml --threads 2");
  INFO(tuned.output);
  REQUIRE(tuned.exit_code == 0);
  CHECK(settled(tuned.output));
  CHECK(fs::exists(f.dir() / "runs/ft-auto/tuned.ckpt"));
}
