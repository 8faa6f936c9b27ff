#include "eval/forgetting_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "eval/document_sample.h"
#include "eval/json_numbers.h"
#include "eval/report_json_reader.h"
#include "eval/report_variants.h"
#include "util/atomic_file.h"
#include "util/nan.h"
#include "util/svg_charts.h"
#include "util/svg_plot.h"
#include "util/text.h"

namespace plinth::eval {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json optional_number(const std::optional<double>& v) {
  return v ? number_or_null(*v) : json(nullptr);
}

std::string pct(double v, int decimals = 2) {
  return std::isfinite(v) ? fmt::format("{:+.{}f}%", v, decimals) : "n/a";
}
std::string num(double v, int decimals = 4) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : "n/a";
}

// A Markdown table cell: no pipes or line breaks inside, visible when empty.
std::string md_cell(const std::string& s, size_t max_chars = 80) {
  std::string out = markdown_cell(s);
  if (out.size() > max_chars) {
    size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
    out = out.substr(0, cut) + "…";
  }
  return out.empty() ? "(empty)" : "`" + out + "`";
}

Interval scaled(Interval ci, double factor, double offset = 0) {
  return {ci.lo * factor + offset, ci.hi * factor + offset};
}

std::vector<double> as_doubles(const std::vector<uint64_t>& v) {
  return {v.begin(), v.end()};
}

// One domain's figures and intervals from its per-document columns.
void derive_domain(DomainForgetting& d, const SampleInfo& sample) {
  const DocumentScores& docs = d.docs;
  if (docs.size() == 0) return;  // schema 1: the figures were read as they are
  d.documents = docs.size();
  d.tokens = docs.total_tokens();
  d.bytes = docs.total_bytes();
  const double ln2 = std::log(2.0);
  const double bytes = double(d.bytes), tokens = double(d.tokens);
  d.base_bpb = bytes > 0 ? sum(docs.base_nll) / bytes / ln2 : kNaN;
  d.tuned_bpb = bytes > 0 ? sum(docs.tuned_nll) / bytes / ln2 : kNaN;
  d.kl = tokens > 0 ? sum(docs.kl) / tokens : kNaN;
  double agree = 0;
  for (uint64_t a : docs.agree) agree += double(a);
  d.top1_agreement = tokens > 0 ? agree / tokens : kNaN;

  const Resamples r(docs.size(), sample.resamples, bootstrap_seed(sample.seed, "domain:" + d.name));
  std::vector<double> diff(docs.size());
  for (size_t i = 0; i < docs.size(); ++i) diff[i] = docs.tuned_nll[i] - docs.base_nll[i];
  const std::vector<double> bytes_col = as_doubles(docs.bytes), tokens_col = as_doubles(docs.tokens);
  d.forgetting_replicates = r.change_pct(docs.tuned_nll, docs.base_nll);
  d.forgetting_ci = percentile_interval(d.forgetting_replicates, sample.confidence);
  d.delta_bpb_ci = scaled(percentile_interval(r.ratio(diff, bytes_col), sample.confidence), 1 / ln2);
  d.kl_ci = percentile_interval(r.ratio(docs.kl, tokens_col), sample.confidence);
  d.agreement_ci = percentile_interval(r.ratio(as_doubles(docs.agree), tokens_col), sample.confidence);
  d.target_reached = sample.target_ci > 0 && d.forgetting_ci.half_width() <= 100.0 * sample.target_ci;
}

void derive_task(TaskResult& t, const SampleInfo& sample) {
  if (!t.has_examples()) return;
  const size_t n = t.index.size();
  t.examples = n;
  double tokens = 0, base_correct = 0, tuned_correct = 0;
  std::vector<double> em_diff(n), ones(n, 1.0);
  for (size_t i = 0; i < n; ++i) {
    tokens += double(t.tokens[i]);
    base_correct += t.base_correct[i];
    tuned_correct += t.tuned_correct[i];
    em_diff[i] = double(t.tuned_correct[i]) - double(t.base_correct[i]);
  }
  t.base_loss = sum(t.base_nll) / tokens;
  t.tuned_loss = sum(t.tuned_nll) / tokens;
  t.base_exact_match = base_correct / double(n);
  t.tuned_exact_match = tuned_correct / double(n);
  const Resamples r(n, sample.resamples, bootstrap_seed(sample.seed, "task"));
  std::vector<double> gain = r.ratio(t.tuned_nll, t.base_nll);
  for (double& v : gain) v = 100.0 * (1.0 - v);
  t.gain_ci = percentile_interval(std::move(gain), sample.confidence);
  t.exact_match_gain_ci = scaled(percentile_interval(r.ratio(em_diff, ones), sample.confidence), 100.0);
  if (!t.has_divergence()) return;
  // Per token, as the domains' KL and agreement: sums over examples of the summed values over the
  // summed positions, each replicate from the same resampled examples as the gain's.
  auto per_token = [&](const std::vector<double>& num, const std::vector<uint64_t>& den, double& value,
                       Interval& ci) {
    const std::vector<double> den_col = as_doubles(den);
    const double total = sum(den_col);
    value = total > 0 ? sum(num) / total : kNaN;
    ci = percentile_interval(r.ratio(num, den_col), sample.confidence);
  };
  per_token(t.kl, t.tokens, t.kl_per_token, t.kl_ci);
  per_token(as_doubles(t.agree), t.tokens, t.top1_agreement, t.agreement_ci);
  per_token(t.prompt_kl, t.prompt_tokens, t.prompt_kl_per_token, t.prompt_kl_ci);
  per_token(as_doubles(t.prompt_agree), t.prompt_tokens, t.prompt_top1_agreement, t.prompt_agreement_ci);
}

// A tuned model whose every scored prediction equals the base's changed nothing the eval can see:
// most often an adapter that was never merged or applied.
bool predicts_as_base(const ForgettingReport& r) {
  if (r.domains.empty()) return false;
  for (const auto& d : r.domains) {
    if (d.docs.size() == 0) return false;
    for (size_t i = 0; i < d.docs.size(); ++i)
      if (d.docs.kl[i] != 0 || d.docs.tuned_nll[i] != d.docs.base_nll[i] ||
          d.docs.agree[i] != d.docs.tokens[i])
        return false;
  }
  return true;
}

// Fewer documents than this and a bootstrap interval says little (it cannot reach beyond the
// few values there are): the report says so.
constexpr size_t kFewDocuments = 10;

const char* kSameAsBaseFlag =
    "the tuned model's next-token distributions equal the base's on every scored token (KL 0): the "
    "fine-tune changed nothing that was measured; check that its weights or adapter were applied";

}  // namespace

SampleInfo sample_info(const EvalSpec& spec) {
  SampleInfo s;
  s.seed = spec.seed;
  s.confidence = spec.confidence;
  s.resamples = spec.resamples;
  s.target_ci = spec.target_ci;
  s.max_tokens = spec.max_tokens;
  s.min_documents = spec.min_documents;
  s.max_document_tokens = spec.max_document_tokens;
  s.precision = spec.precision;
  return s;
}

double TaskResult::gain_pct() const {
  return base_loss != 0 ? 100.0 * (base_loss - tuned_loss) / base_loss : kNaN;
}

double TaskResult::exact_match_gain_points() const {
  return 100.0 * (tuned_exact_match - base_exact_match);
}

double ForgettingReport::task_gain_pct() const {
  return task ? task->gain_pct() : kNaN;
}

const DomainForgetting* ForgettingReport::find_domain(const std::string& name) const {
  for (const auto& d : domains)
    if (d.name == name) return &d;
  return nullptr;
}

const SuiteResult* ForgettingReport::find_suite(const std::string& name) const {
  for (const auto& s : suites)
    if (s.name == name) return &s;
  return nullptr;
}

bool ForgettingReport::has_intervals() const {
  if (schema < 2 || domains.empty()) return false;
  for (const auto& d : domains)
    if (d.docs.size() == 0) return false;
  return true;
}

void derive(ForgettingReport& r) {
  double sum_f = 0, sum_base = 0, sum_tuned = 0, sum_kl = 0, sum_agree = 0;
  r.worst_domain.clear();
  r.worst_forgetting_pct = kNaN;
  std::vector<const std::vector<double>*> replicates;
  for (auto& d : r.domains) {
    derive_domain(d, r.sample);
    d.delta_bpb = d.tuned_bpb - d.base_bpb;
    d.forgetting_pct = 100.0 * d.delta_bpb / d.base_bpb;
    sum_f += d.forgetting_pct, sum_base += d.base_bpb, sum_tuned += d.tuned_bpb;
    sum_kl += d.kl, sum_agree += d.top1_agreement;
    replicates.push_back(&d.forgetting_replicates);
    // A NaN (diverged model) is the worst there is: the gate must see it.
    bool worse = r.worst_domain.empty() ||
                 (!std::isnan(r.worst_forgetting_pct) &&
                  (std::isnan(d.forgetting_pct) || d.forgetting_pct > r.worst_forgetting_pct));
    if (worse) r.worst_domain = d.name, r.worst_forgetting_pct = d.forgetting_pct;
  }
  const double n = double(r.domains.size());
  r.mean_forgetting_pct = r.domains.empty() ? kNaN : sum_f / n;
  r.mean_base_bpb = r.domains.empty() ? kNaN : sum_base / n;
  r.mean_tuned_bpb = r.domains.empty() ? kNaN : sum_tuned / n;
  r.mean_kl = r.domains.empty() ? kNaN : sum_kl / n;
  r.mean_top1_agreement = r.domains.empty() ? kNaN : sum_agree / n;
  r.mean_forgetting_ci = r.worst_forgetting_ci = Interval{};
  if (r.has_intervals()) {
    // Domains are sampled independently, so replicate b of the mean (and of the worst) combines
    // replicate b of every domain.
    r.mean_forgetting_ci = percentile_interval(replicate_mean(replicates), r.sample.confidence);
    r.worst_forgetting_ci = percentile_interval(replicate_max(replicates), r.sample.confidence);
  }
  if (r.task) derive_task(*r.task, r.sample);
  for (SuiteResult& suite : r.suites)
    derive_suite(suite, r.sample.confidence, r.sample.resamples, r.sample.seed);
  derive_variants(r);
  // Flags are derived too: recomputed, never accumulated.
  r.flags.clear();
  if (predicts_as_base(r)) r.flags.push_back(kSameAsBaseFlag);
  for (const auto& d : r.domains)
    if (d.docs.size() > 0 && d.docs.size() < kFewDocuments)
      r.flags.push_back(
          fmt::format("domain '{}' was scored on only {} documents: its interval rests on too few "
                      "to be trusted (give it more validation documents, e.g. data.val_fraction "
                      "or finer documents:)",
                      d.name, d.docs.size()));
}

ForgettingReport make_forgetting_report(const RunIdentity& id, const EvalReport& base,
                                        const EvalReport& tuned, std::optional<TaskResult> task,
                                        std::optional<GateThresholds> gate, const SampleInfo& sample) {
  ForgettingReport r;
  r.run = id.run;
  r.recipe_name = id.recipe_name;
  r.method = id.method;
  r.base_checkpoint = base.checkpoint;
  r.tuned_checkpoint = tuned.checkpoint;
  r.base_step = base.step;
  r.tuned_step = tuned.step;
  r.sample = sample;
  r.task = std::move(task);
  r.gate = std::move(gate);

  std::vector<Problem> problems;
  const std::string hint =
      "evaluate the base and the tuned checkpoint with the same recipe (the same data.domains)";
  for (const auto& b : base.domains) {
    const DomainScore* t = nullptr;
    for (const auto& d : tuned.domains)
      if (d.name == b.name) t = &d;
    if (!t) {
      problems.push_back(problem(fmt::format("domain '{}' was scored for the base checkpoint {} but not for "
                                             "the tuned one {}",
                                             b.name, base.checkpoint, tuned.checkpoint),
                                 hint));
      continue;
    }
    double base_bpb = b.bits_per_byte();
    if (!(std::isfinite(base_bpb) && base_bpb > 0)) {
      problems.push_back(
          problem(fmt::format("domain '{}' has no bits per byte for the base checkpoint {} "
                              "(nothing scored, or a non-finite loss)",
                              b.name, base.checkpoint),
                  "check that the domain's validation shard holds documents (plinth inspect)"));
      continue;
    }
    DomainForgetting d;
    d.name = b.name;
    d.documents = b.documents, d.tokens = b.tokens, d.bytes = b.bytes;
    d.base_bpb = base_bpb;
    d.tuned_bpb = t->bits_per_byte();
    if (t->docs.paired && t->docs.size() == b.documents) d.docs = t->docs;
    r.domains.push_back(std::move(d));
  }
  for (const auto& t : tuned.domains) {
    bool in_base = false;
    for (const auto& b : base.domains) in_base = in_base || b.name == t.name;
    if (!in_base)
      problems.push_back(problem(fmt::format("domain '{}' was scored for the tuned checkpoint {} but not for "
                                             "the base one {}",
                                             t.name, tuned.checkpoint, base.checkpoint),
                                 hint));
  }
  if (base.domains.empty())
    problems.push_back(problem("the base evaluation holds no domains", "add data.domains to the recipe"));
  if (!problems.empty()) throw BadInput(std::move(problems));
  derive(r);
  return r;
}

std::string report_json(const ForgettingReport& r) {
  json j;
  j["schema"] = kReportSchemaVersion;
  j["run"] = r.run;
  j["recipe"] = r.recipe_name;
  j["method"] = r.method;
  j["base"] = {{"checkpoint", r.base_checkpoint}, {"step", r.base_step}};
  j["tuned"] = {{"checkpoint", r.tuned_checkpoint}, {"step", r.tuned_step}};
  const SampleInfo& s = r.sample;
  j["sample"] = {{"seed", s.seed},
                 {"confidence", s.confidence},
                 {"resamples", s.resamples},
                 {"target_ci", s.target_ci},
                 {"max_tokens", s.max_tokens},
                 {"min_documents", s.min_documents},
                 {"max_document_tokens", s.max_document_tokens},
                 {"precision", s.precision}};
  auto numbers = [](const std::vector<double>& v) {
    json a = json::array();
    for (double x : v) a.push_back(number_or_null(x));
    return a;
  };
  json domains = json::array();
  for (const auto& d : r.domains) {
    json per_document = nullptr;
    if (d.docs.size() > 0)
      per_document = {{"index", d.docs.index},
                      {"first_token", d.docs.first_token},
                      {"tokens", d.docs.tokens},
                      {"bytes", d.docs.bytes},
                      {"base_nll", numbers(d.docs.base_nll)},
                      {"tuned_nll", numbers(d.docs.tuned_nll)},
                      {"kl", numbers(d.docs.kl)},
                      {"agree", d.docs.agree}};
    domains.push_back({{"name", d.name},
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
                       {"per_document", std::move(per_document)}});
  }
  j["domains"] = std::move(domains);
  j["overall"] = {{"domains", r.domains.size()},
                  {"mean_forgetting_pct", number_or_null(r.mean_forgetting_pct)},
                  {"mean_forgetting_ci", interval_json(r.mean_forgetting_ci)},
                  {"worst_domain", r.worst_domain},
                  {"worst_forgetting_pct", number_or_null(r.worst_forgetting_pct)},
                  {"worst_forgetting_ci", interval_json(r.worst_forgetting_ci)},
                  {"mean_base_bpb", number_or_null(r.mean_base_bpb)},
                  {"mean_tuned_bpb", number_or_null(r.mean_tuned_bpb)},
                  {"mean_kl", number_or_null(r.mean_kl)},
                  {"mean_top1_agreement", number_or_null(r.mean_top1_agreement)}};
  j["flags"] = r.flags;
  if (r.task) {
    const TaskResult& t = *r.task;
    json samples = json::array();
    for (const auto& x : t.samples)
      samples.push_back({{"prompt", x.prompt},
                         {"reference", x.reference},
                         {"base_output", x.base_output},
                         {"tuned_output", x.tuned_output},
                         {"base_correct", x.base_correct},
                         {"tuned_correct", x.tuned_correct}});
    json per_example = nullptr;
    if (t.has_examples())
      per_example = {{"index", t.index},
                     {"tokens", t.tokens},
                     {"base_nll", numbers(t.base_nll)},
                     {"tuned_nll", numbers(t.tuned_nll)},
                     {"base_correct", t.base_correct},
                     {"tuned_correct", t.tuned_correct}};
    if (t.has_divergence()) {
      per_example["kl"] = numbers(t.kl);
      per_example["agree"] = t.agree;
      per_example["prompt_tokens"] = t.prompt_tokens;
      per_example["prompt_kl"] = numbers(t.prompt_kl);
      per_example["prompt_agree"] = t.prompt_agree;
    }
    j["task"] = {{"name", t.name},
                 {"examples", t.examples},
                 {"base_loss", number_or_null(t.base_loss)},
                 {"tuned_loss", number_or_null(t.tuned_loss)},
                 {"base_exact_match", number_or_null(t.base_exact_match)},
                 {"tuned_exact_match", number_or_null(t.tuned_exact_match)},
                 {"gain_pct", number_or_null(t.gain_pct())},
                 {"gain_ci", interval_json(t.gain_ci)},
                 {"exact_match_gain_points", number_or_null(t.exact_match_gain_points())},
                 {"exact_match_gain_ci", interval_json(t.exact_match_gain_ci)},
                 {"per_example", std::move(per_example)},
                 {"samples", std::move(samples)}};
    if (t.has_divergence()) {
      json& jt = j["task"];
      jt["kl"] = number_or_null(t.kl_per_token);
      jt["kl_ci"] = interval_json(t.kl_ci);
      jt["top1_agreement"] = number_or_null(t.top1_agreement);
      jt["top1_agreement_ci"] = interval_json(t.agreement_ci);
      jt["prompt_kl"] = number_or_null(t.prompt_kl_per_token);
      jt["prompt_kl_ci"] = interval_json(t.prompt_kl_ci);
      jt["prompt_top1_agreement"] = number_or_null(t.prompt_top1_agreement);
      jt["prompt_top1_agreement_ci"] = interval_json(t.prompt_agreement_ci);
    }
  } else {
    j["task"] = nullptr;
  }
  if (r.gate) {
    const GateThresholds& g = *r.gate;
    json domains_limits = json::object();
    for (const auto& [name, p] : g.domain_max_pct) domains_limits[name] = number_or_null(p);
    json suite_limits = json::object();
    for (const auto& [name, p] : g.suite_max_drop_points) suite_limits[name] = number_or_null(p);
    j["gate"] = {{"max_forgetting_pct", optional_number(g.max_forgetting_pct)},
                 {"max_mean_forgetting_pct", optional_number(g.max_mean_forgetting_pct)},
                 {"domains", std::move(domains_limits)},
                 {"baseline", g.baseline},
                 {"tolerance_pct", optional_number(g.tolerance_pct)},
                 {"min_task_gain_pct", optional_number(g.min_task_gain_pct)},
                 {"max_kl", optional_number(g.max_kl)},
                 {"confidence", optional_number(g.confidence)},
                 {"max_acc_drop_points", std::move(suite_limits)}};
  } else {
    j["gate"] = nullptr;
  }
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
  if (version >= 2) {
    const json& s = rd.at(j, "sample", "");
    r.sample.seed = static_cast<uint64_t>(rd.integer(s, "seed", "sample"));
    r.sample.confidence = rd.number(s, "confidence", "sample");
    if (!(r.sample.confidence > 0 && r.sample.confidence < 1))
      rd.fail("'sample.confidence' is not in (0, 1)");
    // Checked before the cast (2^32 + 1 would become 1): the bootstrap allocates a weight per
    // replicate and document, so a made-up count could ask for any amount of memory.
    const int64_t resamples = rd.integer(s, "resamples", "sample");
    if (resamples < 1 || resamples > kMaxResamples)
      rd.fail(fmt::format("'sample.resamples' is {}, not between 1 and {}", resamples, kMaxResamples));
    r.sample.resamples = static_cast<int>(resamples);
    r.sample.target_ci = rd.number(s, "target_ci", "sample");
    r.sample.max_tokens = static_cast<uint64_t>(rd.integer(s, "max_tokens", "sample"));
    r.sample.min_documents = static_cast<uint64_t>(rd.integer(s, "min_documents", "sample"));
    r.sample.max_document_tokens = static_cast<uint64_t>(rd.integer(s, "max_document_tokens", "sample"));
    if (s.contains("precision")) {  // absent before reports said it: those were float32
      r.sample.precision = rd.string(s, "precision", "sample");
      if (r.sample.precision != "fp32" && r.sample.precision != "bf16")
        rd.fail(fmt::format("'sample.precision' is '{}', not fp32 or bf16", r.sample.precision));
    }
    // "flags" is derived from the scores (derive), like every figure: not read.
  }
  const json& domains = rd.array(j, "domains", "");
  for (size_t i = 0; i < domains.size(); ++i) {
    std::string path = fmt::format("domains[{}]", i);
    DomainForgetting d;
    d.name = rd.string(domains[i], "name", path);
    if (r.find_domain(d.name)) rd.fail(fmt::format("domain '{}' appears twice", d.name));
    if (version >= 2) {
      const json& cols = rd.at(domains[i], "per_document", path);
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
    } else {
      d.base_bpb = rd.number(domains[i], "base_bpb", path);
      d.tuned_bpb = rd.number(domains[i], "tuned_bpb", path);
    }
    r.domains.push_back(std::move(d));
  }
  if (r.domains.empty()) rd.fail("'domains' is empty");

  const json& task = rd.at(j, "task", "");
  if (!task.is_null()) {
    TaskResult t;
    t.name = rd.string(task, "name", "task");
    int64_t examples = rd.integer(task, "examples", "task");
    if (examples < 0) rd.fail("'task.examples' is negative");
    t.examples = static_cast<uint64_t>(examples);
    t.base_loss = rd.number(task, "base_loss", "task");
    t.tuned_loss = rd.number(task, "tuned_loss", "task");
    t.base_exact_match = rd.number(task, "base_exact_match", "task");
    t.tuned_exact_match = rd.number(task, "tuned_exact_match", "task");
    if (version >= 2) {
      const json& cols = rd.at(task, "per_example", "task");
      if (!cols.is_null()) {
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
        // The KL columns came later: all five or none.
        if (cols.contains("kl")) {
          t.kl = rd.numbers(cols, "kl", cp);
          t.agree = rd.counts(cols, "agree", cp);
          t.prompt_tokens = rd.counts(cols, "prompt_tokens", cp);
          t.prompt_kl = rd.numbers(cols, "prompt_kl", cp);
          t.prompt_agree = rd.counts(cols, "prompt_agree", cp);
          for (const auto& [key, size] : {std::pair{".kl", t.kl.size()}, std::pair{".agree", t.agree.size()},
                                          std::pair{".prompt_tokens", t.prompt_tokens.size()},
                                          std::pair{".prompt_kl", t.prompt_kl.size()},
                                          std::pair{".prompt_agree", t.prompt_agree.size()}})
            rd.same_length(n, size, cp + key);
          for (size_t i = 0; i < n; ++i)
            if (t.agree[i] > t.tokens[i] || t.prompt_agree[i] > t.prompt_tokens[i])
              rd.fail(fmt::format("'{}': example {} agrees on more positions than it has", cp, i));
        }
      }
    }
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
    r.task = std::move(t);
  }

  const json& gate = rd.at(j, "gate", "");
  if (!gate.is_null()) {
    if (!gate.is_object()) rd.fail("'gate' is not an object");
    GateThresholds g;
    g.max_forgetting_pct = rd.optional_number(gate, "max_forgetting_pct", "gate");
    g.max_mean_forgetting_pct = rd.optional_number(gate, "max_mean_forgetting_pct", "gate");
    g.tolerance_pct = rd.optional_number(gate, "tolerance_pct", "gate");
    g.min_task_gain_pct = rd.optional_number(gate, "min_task_gain_pct", "gate");
    g.max_kl = rd.optional_number(gate, "max_kl", "gate");
    g.confidence = rd.optional_number(gate, "confidence", "gate");
    if (gate.contains("baseline")) g.baseline = rd.string(gate, "baseline", "gate");
    if (gate.contains("domains")) {
      const json& d = gate["domains"];
      if (!d.is_object()) rd.fail("'gate.domains' is not an object");
      for (const auto& [name, v] : d.items()) {
        if (!v.is_number()) rd.fail(fmt::format("'gate.domains.{}' is not a number", name));
        g.set_domain(name, v.get<double>());
      }
    }
    if (gate.contains("max_acc_drop_points")) {  // schema 3
      const json& d = gate["max_acc_drop_points"];
      if (!d.is_object()) rd.fail("'gate.max_acc_drop_points' is not an object");
      for (const auto& [name, v] : d.items()) {
        if (!v.is_number()) rd.fail(fmt::format("'gate.max_acc_drop_points.{}' is not a number", name));
        g.set_suite_drop(name, v.get<double>());
      }
    }
    r.gate = std::move(g);
  }
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

std::string pct_with_interval(double v, const Interval& ci, int decimals) {
  std::string out = pct(v, decimals);
  if (std::isfinite(v) && ci.known())
    out += fmt::format(" [{:+.{}f}, {:+.{}f}]", ci.lo, decimals, ci.hi, decimals);
  return out;
}

std::string num_with_interval(double v, const Interval& ci, int decimals, bool sign) {
  if (!std::isfinite(v)) return "n/a";
  std::string out = sign ? fmt::format("{:+.{}f}", v, decimals) : fmt::format("{:.{}f}", v, decimals);
  if (ci.known())
    out += sign ? fmt::format(" [{:+.{}f}, {:+.{}f}]", ci.lo, decimals, ci.hi, decimals)
                : fmt::format(" [{:.{}f}, {:.{}f}]", ci.lo, decimals, ci.hi, decimals);
  return out;
}

std::string report_markdown(const ForgettingReport& r) {
  std::string out = fmt::format("# Forgetting report: {}\n\n", r.run.empty() ? "(unnamed run)" : r.run);
  out += fmt::format("Recipe `{}`, method `{}`.\n", r.recipe_name, r.method.empty() ? "n/a" : r.method);
  auto step = [](int64_t s) { return s >= 0 ? fmt::format(" (step {})", s) : std::string(); };
  out += fmt::format("Base `{}`{}, tuned `{}`{}.\n\n", r.base_checkpoint, step(r.base_step),
                     r.tuned_checkpoint, step(r.tuned_step));
  for (const auto& f : r.flags) out += fmt::format("**Warning:** {}.\n\n", f);
  const bool ci = r.has_intervals();
  if (ci)
    out += fmt::format(
        "Each domain: a random sample of its validation documents (seed {}), base and tuned scored on the "
        "same windows{}; [brackets]: {:g}% paired bootstrap intervals ({} resamples over documents).\n\n",
        r.sample.seed, r.sample.precision == "bf16" ? " with bf16 weights (eval.precision)" : "",
        100 * r.sample.confidence, r.sample.resamples);
  else
    out += fmt::format(
        "Schema {} report: no per-document scores, so no intervals (run plinth eval again).\n\n", r.schema);

  out +=
      "| domain | documents | tokens | base bits/byte | tuned bits/byte | Δ bits/byte | forgetting | KL "
      "(nats/token) | top-1 agreement |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& d : r.domains) {
    std::string reached;
    if (ci && r.sample.target_ci > 0 && !d.target_reached)
      reached = fmt::format(" (target ±{:g} not reached)", 100 * r.sample.target_ci);
    out += fmt::format(
        "| {} | {} | {} | {} | {} | {} | {}{} | {} | {} |\n", d.name, d.documents, with_commas(d.tokens),
        num(d.base_bpb), num(d.tuned_bpb), num_with_interval(d.delta_bpb, d.delta_bpb_ci, 4, true),
        pct_with_interval(d.forgetting_pct, d.forgetting_ci), reached, num_with_interval(d.kl, d.kl_ci, 4),
        std::isfinite(d.top1_agreement)
            ? num_with_interval(100 * d.top1_agreement, scaled(d.agreement_ci, 100), 1) + "%"
            : "n/a");
  }
  out += fmt::format(
      "| **mean** | | | {} | {} | {} | {} | {} | {} |\n\n", num(r.mean_base_bpb), num(r.mean_tuned_bpb),
      std::isfinite(r.mean_tuned_bpb - r.mean_base_bpb)
          ? fmt::format("{:+.4f}", r.mean_tuned_bpb - r.mean_base_bpb)
          : "n/a",
      pct_with_interval(r.mean_forgetting_pct, r.mean_forgetting_ci), num(r.mean_kl),
      std::isfinite(r.mean_top1_agreement) ? fmt::format("{:.1f}%", 100 * r.mean_top1_agreement) : "n/a");
  out += fmt::format("Mean forgetting {} over {} domains; worst domain: {} ({}).\n\n",
                     pct_with_interval(r.mean_forgetting_pct, r.mean_forgetting_ci), r.domains.size(),
                     r.worst_domain, pct_with_interval(r.worst_forgetting_pct, r.worst_forgetting_ci));

  if (r.task) {
    const TaskResult& t = *r.task;
    out += fmt::format(
        "## Task: {} ({} examples{})\n\n", t.name, t.examples,
        t.has_examples() ? fmt::format(", a random sample of the test split, seed {}", r.sample.seed) : "");
    out += "| | base | tuned | change |\n|---|---:|---:|---:|\n";
    out += fmt::format("| loss (nats/token) | {} | {} | task gain {} |\n", num(t.base_loss),
                       num(t.tuned_loss), pct_with_interval(t.gain_pct(), t.gain_ci));
    auto em = [](double f) { return std::isfinite(f) ? fmt::format("{:.1f}%", 100 * f) : "n/a"; };
    out += fmt::format("| exact match | {} | {} | {} points |\n\n", em(t.base_exact_match),
                       em(t.tuned_exact_match),
                       num_with_interval(t.exact_match_gain_points(), t.exact_match_gain_ci, 1, true));
    if (t.has_divergence()) {
      auto share = [](double f, const Interval& ci) {
        if (!std::isfinite(f)) return std::string("n/a");
        return ci.known() ? fmt::format("{:.1f}% [{:.1f}, {:.1f}]", 100 * f, 100 * ci.lo, 100 * ci.hi)
                          : fmt::format("{:.1f}%", 100 * f);
      };
      out +=
          "How far the tuned model moved on the task's own examples (base and tuned on the same tokens):\n\n";
      out += "| tokens | KL(base ‖ tuned), nats/token | top-1 agreement |\n|---|---:|---:|\n";
      out += fmt::format("| completions | {} | {} |\n", num_with_interval(t.kl_per_token, t.kl_ci, 4),
                         share(t.top1_agreement, t.agreement_ci));
      out += fmt::format("| prompts | {} | {} |\n\n",
                         num_with_interval(t.prompt_kl_per_token, t.prompt_kl_ci, 4),
                         share(t.prompt_top1_agreement, t.prompt_agreement_ci));
    }
    if (!t.samples.empty()) {
      out += "| prompt | reference | base | tuned |\n|---|---|---|---|\n";
      auto mark = [](bool ok) { return ok ? " ✓" : " ✗"; };
      for (const auto& s : t.samples)
        out += fmt::format("| {} | {} | {}{} | {}{} |\n", md_cell(s.prompt), md_cell(s.reference),
                           md_cell(s.base_output), mark(s.base_correct), md_cell(s.tuned_output),
                           mark(s.tuned_correct));
      out += "\n";
    }
  } else {
    out += "No task results in this report.\n\n";
  }
  out += suites_markdown(r.suites);
  if (r.gate) out += fmt::format("Gate thresholds from the recipe: {}.\n\n", describe_thresholds(*r.gate));
  out += variants_markdown(r);
  out +=
      "bits/byte: total NLL / UTF-8 bytes / ln 2 on each domain's sampled validation documents. forgetting: "
      "100 × (tuned − base) / base bits/byte, positive = worse after tuning; mean: domains weighted equally. "
      "KL: mean KL(base ‖ tuned) of the next-token distributions per scored token; top-1 agreement: share of "
      "scored tokens where both models predict the same next token. task gain: 100 × (base − tuned) / base "
      "task loss, positive = learned.\n";
  return out;
}

std::string report_svg(const ForgettingReport& r) {
  BarChart chart;
  chart.title =
      fmt::format("{}: bits per byte before and after tuning{}", r.run.empty() ? "forgetting" : r.run,
                  r.method.empty() ? "" : " (" + r.method + ")");
  chart.y_label = r.has_intervals() ? fmt::format("bits per byte (lower is better; bars: {:g}% interval)",
                                                  100 * r.sample.confidence)
                                    : "bits per byte (lower is better)";
  chart.series = {"base", "tuned"};
  for (const auto& d : r.domains) {
    BarGroup g{d.name, {d.base_bpb, d.tuned_bpb}, pct(d.forgetting_pct, 1), {}};
    if (d.forgetting_ci.known()) {
      g.note = fmt::format("{} [{:+.1f}, {:+.1f}]", pct(d.forgetting_pct, 1), d.forgetting_ci.lo,
                           d.forgetting_ci.hi);
      // The tuned bar's interval is the base plus the paired difference's interval.
      g.errors = {{kNaN, kNaN}, {d.base_bpb + d.delta_bpb_ci.lo, d.base_bpb + d.delta_bpb_ci.hi}};
    }
    chart.groups.push_back(std::move(g));
  }
  chart.width = std::max(860, 140 + 200 + 90 * int(r.domains.size()));
  if (r.suites.empty()) return render_svg(chart);
  // The capability suites below the domains: base and tuned acc, the tuned bar with the interval
  // of the paired change.
  BarChart suites;
  suites.title = "capability suites: accuracy before and after tuning";
  suites.y_label = "acc, % (higher is better)";
  suites.series = {"base", "tuned"};
  bool one_metric = true;
  for (const auto& s : r.suites) one_metric = one_metric && s.metric == r.suites.front().metric;
  if (one_metric) suites.y_label = r.suites.front().metric + ", % (higher is better)";
  for (const auto& suite : r.suites) {
    const SuiteAccuracy s = headline(suite);
    const std::string label = one_metric ? suite.name : suite.name + " (" + s.metric + ")";
    BarGroup g{label, {100 * s.base, 100 * s.tuned}, fmt::format("{:+.1f} pts", s.change_points()), {}};
    if (s.change_ci.known()) {
      g.note =
          fmt::format("{:+.1f} [{:+.1f}, {:+.1f}] pts", s.change_points(), s.change_ci.lo, s.change_ci.hi);
      g.errors = {{kNaN, kNaN}, {100 * s.base + s.change_ci.lo, 100 * s.base + s.change_ci.hi}};
    }
    suites.groups.push_back(std::move(g));
  }
  suites.width = std::max(chart.width, 140 + 200 + 120 * int(r.suites.size()));
  suites.height = 400;
  return stack_svg(
      {{render_svg(chart), chart.width, chart.height}, {render_svg(suites), suites.width, suites.height}});
}

void write_report(const ForgettingReport& report, const fs::path& dir) {
  write_file_atomic(dir / "report.json", report_json(report));
  write_file_atomic(dir / "report.md", report_markdown(report));
  write_file_atomic(dir / "report.svg", report_svg(report));
  for (const auto& [name, svg] : {std::pair{"interpolation.svg", interpolation_svg(report)},
                                  std::pair{"attribution.svg", attribution_svg(report)}}) {
    std::error_code ec;
    if (svg.empty())
      fs::remove(dir / name, ec);  // an earlier eval's, of weights this report no longer describes
    else
      write_file_atomic(dir / name, svg);
  }
}

}  // namespace plinth::eval
