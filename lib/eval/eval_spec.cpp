#include "eval/eval_spec.h"

#include <fmt/format.h>

#include <algorithm>

#include "eval/gate_spec.h"
#include "util/text.h"

namespace plinth::eval {

bool parse_fraction(const std::string& text, double& out) {
  double v = 0;
  std::string t = text;
  while (!t.empty() && t.back() == ' ') t.pop_back();
  if (!t.empty() && t.back() == '%') {
    if (!parse_percent(t, v)) return false;
    v /= 100;
  } else {
    try {
      size_t used = 0;
      v = std::stod(t, &used);
      if (used != t.size()) return false;
    } catch (const std::exception&) {
      return false;
    }
  }
  if (!(v > 0 && v < 1)) return false;
  out = v;
  return true;
}

int64_t answer_budget(const EvalSpec& spec, size_t longest_training_completion) {
  if (spec.max_new_tokens > 0) return spec.max_new_tokens;
  return std::max<int64_t>(1, static_cast<int64_t>(longest_training_completion));
}

namespace {

void read_count(ConfigSection& s, const char* key, uint64_t& out) {
  auto v = static_cast<int64_t>(out);
  if (s.read(key, v, Range<int64_t>::at_least(0))) out = static_cast<uint64_t>(v);
}

}  // namespace

void read_fraction(ConfigSection& s, const char* key, double& out, bool zero_allowed, const char* example) {
  std::string text;
  if (!s.read(key, text)) return;
  if (zero_allowed && (text == "0" || text == "0%")) {
    out = 0;
    return;
  }
  if (!parse_fraction(text, out))
    s.error(key, fmt::format("'{}' is not a fraction between 0 and 1 (exclusive)", text),
            fmt::format("write e.g. {}", example));
}

namespace {

// eval.interpolate: a list of α in [0, 1], each once; 0 and 1 added, sorted.
void read_alphas(ConfigSection& s, std::vector<double>& out) {
  std::vector<std::string> texts;
  if (!s.read("interpolate", texts)) return;
  std::vector<double> alphas;
  for (const auto& t : texts) {
    double a = 0;
    try {
      size_t used = 0;
      a = std::stod(t, &used);
      if (used != t.size()) throw std::invalid_argument(t);
    } catch (const std::exception&) {
      s.error("interpolate", fmt::format("'{}' is not a number", t), "write e.g. [0.25, 0.5, 0.75]");
      return;
    }
    if (!(a >= 0 && a <= 1)) {
      s.error("interpolate", fmt::format("α = {} is outside [0, 1]", t),
              "interpolate between base (0) and tuned (1); to extrapolate beyond, write the checkpoint with "
              "plinth merge --extrapolate and evaluate it");
      return;
    }
    if (std::find(alphas.begin(), alphas.end(), a) != alphas.end()) {
      s.error("interpolate", fmt::format("α = {} is listed twice", t), "list each α once");
      return;
    }
    alphas.push_back(a);
  }
  for (double end : {0.0, 1.0})
    if (std::find(alphas.begin(), alphas.end(), end) == alphas.end()) alphas.push_back(end);
  std::sort(alphas.begin(), alphas.end());
  out = std::move(alphas);
}

// eval.suites: a list of {name, path, delimiter, metric}; names unique.
void read_suites(ConfigSection& s, std::vector<SuiteSpec>& out) {
  for (ConfigSection& entry : s.list("suites")) {
    SuiteSpec suite;
    suite.where = entry.where();
    entry.read("name", suite.name, Need::Required);
    entry.read("path", suite.path, Need::Required);
    entry.read("delimiter", suite.delimiter);
    entry.read_choice("metric", suite.metric, {"acc", "acc_norm", "acc_mutual_info"});
    entry.finish();
    if (suite.name.empty() && entry.has("name"))
      entry.error("name", "the suite's name is empty", "name it, e.g. arc-mini");
    for (const SuiteSpec& before : out)
      if (!suite.name.empty() && before.name == suite.name)
        entry.error(
            "name",
            fmt::format("the suite name '{}' is used twice (first at {})", suite.name, before.where.str()),
            "give each suite its own name: the report labels suites by name");
    out.push_back(std::move(suite));
  }
}

}  // namespace

void bind(ConfigSection& s, EvalSpec& spec) {
  int64_t seed = static_cast<int64_t>(spec.seed);
  if (s.read("seed", seed, Range<int64_t>::at_least(0))) spec.seed = static_cast<uint64_t>(seed);
  read_count(s, "max_tokens", spec.max_tokens);
  read_count(s, "min_documents", spec.min_documents);
  read_count(s, "max_document_tokens", spec.max_document_tokens);
  read_count(s, "max_documents", spec.max_documents);
  read_fraction(s, "target_ci", spec.target_ci, true,
                "1% (or 0.01; 0 scores every document up to max_tokens)");
  read_fraction(s, "confidence", spec.confidence, false, "95% (or 0.95)");
  s.read("resamples", spec.resamples, Range<int64_t>::between(100, kMaxResamples));
  s.read("batch_size", spec.batch_size, Range<int64_t>::between(1, 4096));
  s.read("context", spec.context, Range<int64_t>::between(0, 1 << 20));
  if (s.read("device", spec.device)) {
    const std::string& d = spec.device;
    bool ok = d == "auto" || d == "cpu" || d == "cuda";
    if (!ok && starts_with(d, "cuda:") && d.size() > 5)
      ok = d.find_first_not_of("0123456789", 5) == std::string::npos;
    if (!ok) s.error("device", "'" + d + "' is not a device", "use auto, cpu, cuda or cuda:N");
  }
  std::string precision = precision_name(spec.precision);
  if (s.read_choice("precision", precision, {"fp32", "bf16"})) spec.precision = *parse_precision(precision);
  read_count(s, "task_examples", spec.task_examples);
  s.read("task_samples", spec.task_samples, Range<int64_t>::between(0, 1000));
  s.read("max_new_tokens", spec.max_new_tokens, Range<int64_t>::between(0, 1 << 20));
  read_alphas(s, spec.interpolate);
  s.read("attribute", spec.attribute);
  read_suites(s, spec.suites);
  read_count(s, "suite_questions", spec.suite_questions);
  s.finish();
}

}  // namespace plinth::eval
