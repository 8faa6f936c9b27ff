// report.json: a ForgettingReport written and read back (forgetting_report.h).
#include "eval/forgetting_report.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "eval/json_numbers.h"
#include "eval/report_json_reader.h"
#include "eval/report_variants.h"
#include "util/atomic_file.h"
#include "util/nan.h"
#include "util/precision.h"

namespace plinth::eval {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json optional_number(const std::optional<double>& v) {
  return v ? number_or_null(*v) : json(nullptr);
}

json sample_json(const SampleInfo& s) {
  return {{"seed", s.seed},
          {"confidence", s.confidence},
          {"resamples", s.resamples},
          {"target_ci", s.target_ci},
          {"max_tokens", s.max_tokens},
          {"min_documents", s.min_documents},
          {"max_document_tokens", s.max_document_tokens},
          {"precision", s.precision}};
}

json domain_json(const DomainForgetting& d) {
  json per_document = nullptr;
  if (d.docs.size() > 0)
    per_document = {{"index", d.docs.index},
                    {"first_token", d.docs.first_token},
                    {"tokens", d.docs.tokens},
                    {"bytes", d.docs.bytes},
                    {"base_nll", numbers_or_null(d.docs.base_nll)},
                    {"tuned_nll", numbers_or_null(d.docs.tuned_nll)},
                    {"kl", numbers_or_null(d.docs.kl)},
                    {"agree", d.docs.agree}};
  return {{"name", d.name},
          {"documents", d.documents},
          {"tokens", d.tokens},
          {"bytes", d.bytes},
          {"base_bpb", number_or_null(d.base_bpb)},
          {"tuned_bpb", number_or_null(d.tuned_bpb)},
          {"delta_bpb", number_or_null(d.delta_bpb)},
          {"delta_bpb_ci", interval_json(d.delta_bpb_ci)},
          {"forgetting_pct", number_or_null(d.forgetting_pct)},
          {"forgetting_ci", interval_json(d.forgetting_ci)},
          {"kl", number_or_null(d.kl)},
          {"kl_ci", interval_json(d.kl_ci)},
          {"top1_agreement", number_or_null(d.top1_agreement)},
          {"top1_agreement_ci", interval_json(d.agreement_ci)},
          {"target_reached", d.target_reached},
          {"per_document", std::move(per_document)}};
}

json overall_json(const ForgettingReport& r) {
  return {{"domains", r.domains.size()},
          {"mean_forgetting_pct", number_or_null(r.mean_forgetting_pct)},
          {"mean_forgetting_ci", interval_json(r.mean_forgetting_ci)},
          {"worst_domain", r.worst_domain},
          {"worst_forgetting_pct", number_or_null(r.worst_forgetting_pct)},
          {"worst_forgetting_ci", interval_json(r.worst_forgetting_ci)},
          {"mean_base_bpb", number_or_null(r.mean_base_bpb)},
          {"mean_tuned_bpb", number_or_null(r.mean_tuned_bpb)},
          {"mean_kl", number_or_null(r.mean_kl)},
          {"mean_top1_agreement", number_or_null(r.mean_top1_agreement)}};
}

// task.per_example: the columns the task's intervals are resampled from (null without examples).
json task_columns_json(const TaskResult& t) {
  json per_example = nullptr;
  if (t.has_examples())
    per_example = {{"index", t.index},
                   {"tokens", t.tokens},
                   {"base_nll", numbers_or_null(t.base_nll)},
                   {"tuned_nll", numbers_or_null(t.tuned_nll)},
                   {"base_correct", t.base_correct},
                   {"tuned_correct", t.tuned_correct}};
  if (t.has_divergence()) {
    per_example["kl"] = numbers_or_null(t.kl);
    per_example["agree"] = t.agree;
    per_example["prompt_tokens"] = t.prompt_tokens;
    per_example["prompt_kl"] = numbers_or_null(t.prompt_kl);
    per_example["prompt_agree"] = t.prompt_agree;
  }
  return per_example;
}

json task_json(const TaskResult& t) {
  json samples = json::array();
  for (const auto& x : t.samples)
    samples.push_back({{"prompt", x.prompt},
                       {"reference", x.reference},
                       {"base_output", x.base_output},
                       {"tuned_output", x.tuned_output},
                       {"base_correct", x.base_correct},
                       {"tuned_correct", x.tuned_correct}});
  json jt = {{"name", t.name},
             {"examples", t.examples},
             {"base_loss", number_or_null(t.base_loss)},
             {"tuned_loss", number_or_null(t.tuned_loss)},
             {"base_exact_match", number_or_null(t.base_exact_match)},
             {"tuned_exact_match", number_or_null(t.tuned_exact_match)},
             {"gain_pct", number_or_null(t.gain_pct())},
             {"gain_ci", interval_json(t.gain_ci)},
             {"exact_match_gain_points", number_or_null(t.exact_match_gain_points())},
             {"exact_match_gain_ci", interval_json(t.exact_match_gain_ci)},
             {"per_example", task_columns_json(t)},
             {"samples", std::move(samples)}};
  if (t.has_divergence()) {
    jt["kl"] = number_or_null(t.kl_per_token);
    jt["kl_ci"] = interval_json(t.kl_ci);
    jt["top1_agreement"] = number_or_null(t.top1_agreement);
    jt["top1_agreement_ci"] = interval_json(t.agreement_ci);
    jt["prompt_kl"] = number_or_null(t.prompt_kl_per_token);
    jt["prompt_kl_ci"] = interval_json(t.prompt_kl_ci);
    jt["prompt_top1_agreement"] = number_or_null(t.prompt_top1_agreement);
    jt["prompt_top1_agreement_ci"] = interval_json(t.prompt_agreement_ci);
  }
  return jt;
}

json limits_json(const std::vector<std::pair<std::string, double>>& limits) {
  json out = json::object();
  for (const auto& [name, p] : limits) out[name] = number_or_null(p);
  return out;
}

json gate_json(const GateThresholds& g) {
  return {{"max_forgetting_pct", optional_number(g.max_forgetting_pct)},
          {"max_mean_forgetting_pct", optional_number(g.max_mean_forgetting_pct)},
          {"domains", limits_json(g.domain_max_pct)},
          {"baseline", g.baseline},
          {"tolerance_pct", optional_number(g.tolerance_pct)},
          {"min_task_gain_pct", optional_number(g.min_task_gain_pct)},
          {"max_kl", optional_number(g.max_kl)},
          {"confidence", optional_number(g.confidence)},
          {"max_acc_drop_points", limits_json(g.suite_max_drop_points)}};
}

// The schema version, checked: a report of a later plinth, or no report at all, is bad input.
int64_t read_schema(const json& j, const JsonReader& rd, const std::string& file) {
  if (!j.is_object()) rd.fail("expected a JSON object at the top level");
  if (!j.contains("schema"))
    throw BadInput(fmt::format("report {} has no schema version", file),
                   "this is not a report.json written by plinth eval (eval.json is the per-checkpoint file)");
  const json& schema = j["schema"];
  if (!schema.is_number_integer()) rd.fail("'schema' is not an integer");
  const int64_t version = schema.get<int64_t>();
  if (version < 1 || version > kReportSchemaVersion)
    throw BadInput(
        fmt::format("report {} has schema {}; this plinth reads schemas 1 to {}", file, version,
                    kReportSchemaVersion),
        "write the report again with this plinth (plinth eval), or read it with the plinth that wrote it");
  return version;
}

SampleInfo read_sample(const json& s, const JsonReader& rd) {
  SampleInfo sample;
  sample.seed = static_cast<uint64_t>(rd.integer(s, "seed", "sample"));
  sample.confidence = rd.number(s, "confidence", "sample");
  if (!(sample.confidence > 0 && sample.confidence < 1)) rd.fail("'sample.confidence' is not in (0, 1)");
  // Checked before the cast (2^32 + 1 would become 1): the bootstrap allocates a weight per
  // replicate and document, so a made-up count could ask for any amount of memory.
  const int64_t resamples = rd.integer(s, "resamples", "sample");
  if (resamples < 1 || resamples > kMaxResamples)
    rd.fail(fmt::format("'sample.resamples' is {}, not between 1 and {}", resamples, kMaxResamples));
  sample.resamples = static_cast<int>(resamples);
  sample.target_ci = rd.number(s, "target_ci", "sample");
  sample.max_tokens = static_cast<uint64_t>(rd.integer(s, "max_tokens", "sample"));
  sample.min_documents = static_cast<uint64_t>(rd.integer(s, "min_documents", "sample"));
  sample.max_document_tokens = static_cast<uint64_t>(rd.integer(s, "max_document_tokens", "sample"));
  if (s.contains("precision")) {  // absent before reports said it: those were float32
    sample.precision = rd.string(s, "precision", "sample");
    if (!parse_precision(sample.precision))
      rd.fail(fmt::format("'sample.precision' is '{}', not fp32 or bf16", sample.precision));
  }
  // "flags" is derived from the scores (derive), like every figure: not read.
  return sample;
}

// A domain: its per-document columns (schema 2 on), or only its two bits per byte (schema 1).
DomainForgetting read_domain(const json& jd, const JsonReader& rd, const std::string& path, int64_t version) {
  DomainForgetting d;
  d.name = rd.string(jd, "name", path);
  if (version < 2) {
    d.base_bpb = rd.number(jd, "base_bpb", path);
    d.tuned_bpb = rd.number(jd, "tuned_bpb", path);
    return d;
  }
  const json& cols = rd.at(jd, "per_document", path);
  if (cols.is_null()) rd.fail(fmt::format("'{}.per_document' is null", path));
  const std::string cp = path + ".per_document";
  DocumentScores& docs = d.docs;
  docs.paired = true;
  docs.index = rd.counts(cols, "index", cp);
  docs.first_token = rd.counts(cols, "first_token", cp);
  docs.tokens = rd.counts(cols, "tokens", cp);
  docs.bytes = rd.counts(cols, "bytes", cp);
  docs.base_nll = rd.numbers(cols, "base_nll", cp);
  docs.tuned_nll = rd.numbers(cols, "tuned_nll", cp);
  docs.kl = rd.numbers(cols, "kl", cp);
  docs.agree = rd.counts(cols, "agree", cp);
  docs.words.assign(docs.index.size(), 0);
  const size_t n = docs.index.size();
  if (n == 0) rd.fail(fmt::format("'{}.index' is empty", cp));
  rd.same_length(n, docs.first_token.size(), cp + ".first_token");
  rd.same_length(n, docs.tokens.size(), cp + ".tokens");
  rd.same_length(n, docs.bytes.size(), cp + ".bytes");
  rd.same_length(n, docs.base_nll.size(), cp + ".base_nll");
  rd.same_length(n, docs.tuned_nll.size(), cp + ".tuned_nll");
  rd.same_length(n, docs.kl.size(), cp + ".kl");
  rd.same_length(n, docs.agree.size(), cp + ".agree");
  return d;
}

// task.per_example into `t` (schema 2 on; null when the report kept no examples).
void read_task_columns(const json& cols, const JsonReader& rd, TaskResult& t) {
  if (cols.is_null()) return;
  const std::string cp = "task.per_example";
  t.index = rd.counts(cols, "index", cp);
  t.tokens = rd.counts(cols, "tokens", cp);
  t.base_nll = rd.numbers(cols, "base_nll", cp);
  t.tuned_nll = rd.numbers(cols, "tuned_nll", cp);
  t.base_correct = rd.booleans(cols, "base_correct", cp);
  t.tuned_correct = rd.booleans(cols, "tuned_correct", cp);
  const size_t n = t.index.size();
  rd.same_length(n, t.tokens.size(), cp + ".tokens");
  rd.same_length(n, t.base_nll.size(), cp + ".base_nll");
  rd.same_length(n, t.tuned_nll.size(), cp + ".tuned_nll");
  rd.same_length(n, t.base_correct.size(), cp + ".base_correct");
  rd.same_length(n, t.tuned_correct.size(), cp + ".tuned_correct");
  if (!cols.contains("kl")) return;  // the KL columns came later: all five or none
  t.kl = rd.numbers(cols, "kl", cp);
  t.agree = rd.counts(cols, "agree", cp);
  t.prompt_tokens = rd.counts(cols, "prompt_tokens", cp);
  t.prompt_kl = rd.numbers(cols, "prompt_kl", cp);
  t.prompt_agree = rd.counts(cols, "prompt_agree", cp);
  for (const auto& [key, size] :
       {std::pair{".kl", t.kl.size()}, std::pair{".agree", t.agree.size()},
        std::pair{".prompt_tokens", t.prompt_tokens.size()}, std::pair{".prompt_kl", t.prompt_kl.size()},
        std::pair{".prompt_agree", t.prompt_agree.size()}})
    rd.same_length(n, size, cp + key);
  for (size_t i = 0; i < n; ++i)
    if (t.agree[i] > t.tokens[i] || t.prompt_agree[i] > t.prompt_tokens[i])
      rd.fail(fmt::format("'{}': example {} agrees on more positions than it has", cp, i));
}

TaskResult read_task(const json& task, const JsonReader& rd, int64_t version) {
  TaskResult t;
  t.name = rd.string(task, "name", "task");
  int64_t examples = rd.integer(task, "examples", "task");
  if (examples < 0) rd.fail("'task.examples' is negative");
  t.examples = static_cast<uint64_t>(examples);
  t.base_loss = rd.number(task, "base_loss", "task");
  t.tuned_loss = rd.number(task, "tuned_loss", "task");
  t.base_exact_match = rd.number(task, "base_exact_match", "task");
  t.tuned_exact_match = rd.number(task, "tuned_exact_match", "task");
  if (version >= 2) read_task_columns(rd.at(task, "per_example", "task"), rd, t);
  const json& samples = rd.array(task, "samples", "task");
  for (size_t i = 0; i < samples.size(); ++i) {
    std::string path = fmt::format("task.samples[{}]", i);
    TaskSample s;
    s.prompt = rd.string(samples[i], "prompt", path);
    s.reference = rd.string(samples[i], "reference", path);
    s.base_output = rd.string(samples[i], "base_output", path);
    s.tuned_output = rd.string(samples[i], "tuned_output", path);
    s.base_correct = rd.boolean(samples[i], "base_correct", path);
    s.tuned_correct = rd.boolean(samples[i], "tuned_correct", path);
    t.samples.push_back(std::move(s));
  }
  return t;
}

// gate.<key>: an object of name -> number, each handed to `set` (absent: none).
template <class Set>
void read_limits(const json& gate, const char* key, const JsonReader& rd, Set set) {
  if (!gate.contains(key)) return;
  const json& d = gate[key];
  if (!d.is_object()) rd.fail(fmt::format("'gate.{}' is not an object", key));
  for (const auto& [name, v] : d.items()) {
    if (!v.is_number()) rd.fail(fmt::format("'gate.{}.{}' is not a number", key, name));
    set(name, v.template get<double>());
  }
}

GateThresholds read_gate(const json& gate, const JsonReader& rd) {
  if (!gate.is_object()) rd.fail("'gate' is not an object");
  GateThresholds g;
  g.max_forgetting_pct = rd.optional_number(gate, "max_forgetting_pct", "gate");
  g.max_mean_forgetting_pct = rd.optional_number(gate, "max_mean_forgetting_pct", "gate");
  g.tolerance_pct = rd.optional_number(gate, "tolerance_pct", "gate");
  g.min_task_gain_pct = rd.optional_number(gate, "min_task_gain_pct", "gate");
  g.max_kl = rd.optional_number(gate, "max_kl", "gate");
  g.confidence = rd.optional_number(gate, "confidence", "gate");
  if (gate.contains("baseline")) g.baseline = rd.string(gate, "baseline", "gate");
  read_limits(gate, "domains", rd, [&](const std::string& name, double v) { g.set_domain(name, v); });
  read_limits(gate, "max_acc_drop_points", rd,  // schema 3
              [&](const std::string& name, double v) { g.set_suite_drop(name, v); });
  return g;
}

}  // namespace

std::string report_json(const ForgettingReport& r) {
  json j;
  j["schema"] = kReportSchemaVersion;
  j["run"] = r.run;
  j["recipe"] = r.recipe_name;
  j["method"] = r.method;
  j["base"] = {{"checkpoint", r.base_checkpoint}, {"step", r.base_step}};
  j["tuned"] = {{"checkpoint", r.tuned_checkpoint}, {"step", r.tuned_step}};
  j["sample"] = sample_json(r.sample);
  json domains = json::array();
  for (const auto& d : r.domains) domains.push_back(domain_json(d));
  j["domains"] = std::move(domains);
  j["overall"] = overall_json(r);
  j["flags"] = r.flags;
  j["task"] = r.task ? task_json(*r.task) : json(nullptr);
  j["gate"] = r.gate ? gate_json(*r.gate) : json(nullptr);
  add_variants_json(r, j);
  json suites = json::array();
  for (const SuiteResult& suite : r.suites) suites.push_back(suite_json(suite));
  j["suites"] = std::move(suites);
  // Non-ASCII bytes that are not UTF-8 (a sample cut mid-character) become U+FFFD, not an exception.
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

ForgettingReport parse_report_json(const std::string& text, const std::string& file) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw BadInput(fmt::format("report {} is not valid JSON: {}", file, e.what()),
                   "write it again with plinth eval (a report.json is written whole, atomically)");
  }
  JsonReader rd(file);
  const int64_t version = read_schema(j, rd, file);

  ForgettingReport r;
  r.schema = static_cast<int>(version);
  r.run = rd.string(j, "run", "");
  r.recipe_name = rd.string(j, "recipe", "");
  r.method = rd.string(j, "method", "");
  const json& base = rd.at(j, "base", "");
  r.base_checkpoint = rd.string(base, "checkpoint", "base");
  r.base_step = rd.integer(base, "step", "base");
  const json& tuned = rd.at(j, "tuned", "");
  r.tuned_checkpoint = rd.string(tuned, "checkpoint", "tuned");
  r.tuned_step = rd.integer(tuned, "step", "tuned");
  if (version >= 2) r.sample = read_sample(rd.at(j, "sample", ""), rd);
  const json& domains = rd.array(j, "domains", "");
  for (size_t i = 0; i < domains.size(); ++i) {
    DomainForgetting d = read_domain(domains[i], rd, fmt::format("domains[{}]", i), version);
    if (r.find_domain(d.name)) rd.fail(fmt::format("domain '{}' appears twice", d.name));
    r.domains.push_back(std::move(d));
  }
  if (r.domains.empty()) rd.fail("'domains' is empty");
  if (const json& task = rd.at(j, "task", ""); !task.is_null()) r.task = read_task(task, rd, version);
  if (const json& gate = rd.at(j, "gate", ""); !gate.is_null()) r.gate = read_gate(gate, rd);
  read_variants_json(j, rd, r);
  if (version >= 3) {  // schema 2 has no suites
    const json& suites = rd.array(j, "suites", "");
    for (size_t i = 0; i < suites.size(); ++i) {
      SuiteResult suite = read_suite_json(suites[i], rd, fmt::format("suites[{}]", i));
      if (r.find_suite(suite.name)) rd.fail(fmt::format("suite '{}' appears twice", suite.name));
      r.suites.push_back(std::move(suite));
    }
  }
  derive(r);
  return r;
}

fs::path report_path(const fs::path& run_dir_or_file) {
  std::error_code ec;
  return fs::is_directory(run_dir_or_file, ec) ? run_dir_or_file / "report.json" : run_dir_or_file;
}

ForgettingReport load_report(const fs::path& path) {
  fs::path file = report_path(path);
  std::error_code ec;
  if (!fs::exists(file, ec)) {
    bool dir = fs::is_directory(path, ec);
    throw BadInput(dir ? fmt::format("{} holds no report.json", path.string())
                       : fmt::format("{} does not exist", file.string()),
                   dir ? "run plinth eval on the fine-tuning recipe of that run first: it writes report.json"
                       : "check the path (a run directory or its report.json)");
  }
  return parse_report_json(read_file(file), file.string());
}

}  // namespace plinth::eval
