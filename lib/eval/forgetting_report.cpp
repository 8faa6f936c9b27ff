// A ForgettingReport's figures and intervals (derive), the report made from two evaluations, and
// its files written (forgetting_report.h, report_html.h). report.json is read and written in
// forgetting_report_json.cpp, report.md and report.svg drawn in forgetting_report_text.cpp.
#include "eval/forgetting_report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "eval/document_sample.h"
#include "eval/report_html.h"
#include "eval/report_variants.h"
#include "util/atomic_file.h"
#include "util/nan.h"

namespace plinth::eval {

namespace {

namespace fs = std::filesystem;

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
  d.delta_bpb_ci = percentile_interval(r.ratio(diff, bytes_col), sample.confidence).scaled(1 / ln2);
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
  t.exact_match_gain_ci = percentile_interval(r.ratio(em_diff, ones), sample.confidence).scaled(100.0);
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
  s.precision = precision_name(spec.precision);
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

void write_report(const ForgettingReport& report, const fs::path& dir) {
  write_file_atomic(dir / "report.json", report_json(report));
  write_file_atomic(dir / "report.md", report_markdown(report));
  write_file_atomic(dir / "report.svg", report_svg(report));
  write_file_atomic(dir / "report.html", report_html(report, dir));  // after the files it links
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
