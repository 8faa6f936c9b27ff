#include "eval/forgetting_report.h"

#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "util/atomic_file.h"
#include "util/svg_charts.h"

namespace plinth::eval {

namespace {

// A problem with no file position (its message names the file).
Problem problem(std::string message, std::string hint) {
  Problem p;
  p.message = std::move(message);
  p.hint = std::move(hint);
  return p;
}

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

json number_or_null(double v) {
  return std::isfinite(v) ? json(v) : json(nullptr);
}
json optional_number(const std::optional<double>& v) {
  return v ? number_or_null(*v) : json(nullptr);
}

// The values a report derives from the measured ones; one place, used when making and reading.
void derive(ForgettingReport& r) {
  double sum_f = 0, sum_base = 0, sum_tuned = 0;
  r.worst_domain.clear();
  r.worst_forgetting_pct = kNaN;
  for (auto& d : r.domains) {
    d.delta_bpb = d.tuned_bpb - d.base_bpb;
    d.forgetting_pct = 100.0 * d.delta_bpb / d.base_bpb;
    sum_f += d.forgetting_pct, sum_base += d.base_bpb, sum_tuned += d.tuned_bpb;
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
}

std::string pct(double v, int decimals = 2) {
  return std::isfinite(v) ? fmt::format("{:+.{}f}%", v, decimals) : "n/a";
}
std::string num(double v, int decimals = 4) {
  return std::isfinite(v) ? fmt::format("{:.{}f}", v, decimals) : "n/a";
}

// A Markdown table cell: no pipes or line breaks inside, visible when empty.
std::string md_cell(const std::string& s, size_t max_chars = 80) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n' || c == '\r' || c == '\t')
      out += ' ';
    else
      out += c;
  }
  if (out.size() > max_chars) {
    size_t cut = max_chars;
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;  // UTF-8 boundary
    out = out.substr(0, cut) + "…";
  }
  return out.empty() ? "(empty)" : "`" + out + "`";
}

// Reads report.json with errors that name the file and the key.
class JsonReader {
 public:
  explicit JsonReader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const std::string& message) const {
    throw BadInput(fmt::format("report {}: {}", file_, message),
                   "this is not a report.json written by plinth eval, or it was edited: write it again with "
                   "plinth eval");
  }
  const json& at(const json& obj, const std::string& key, const std::string& path) const {
    if (!obj.is_object()) fail(fmt::format("'{}' is not an object", path));
    auto it = obj.find(key);
    if (it == obj.end()) fail(fmt::format("key '{}' is missing", join(path, key)));
    return *it;
  }
  double number(const json& obj, const std::string& key, const std::string& path) const {
    const json& v = at(obj, key, path);
    if (v.is_null()) return kNaN;
    if (!v.is_number()) fail(fmt::format("'{}' is not a number", join(path, key)));
    return v.get<double>();
  }
  std::optional<double> optional_number(const json& obj, const std::string& key,
                                        const std::string& path) const {
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return std::nullopt;
    if (!it->is_number()) fail(fmt::format("'{}' is not a number", join(path, key)));
    return it->get<double>();
  }
  int64_t integer(const json& obj, const std::string& key, const std::string& path) const {
    const json& v = at(obj, key, path);
    if (!v.is_number_integer()) fail(fmt::format("'{}' is not an integer", join(path, key)));
    return v.get<int64_t>();
  }
  std::string string(const json& obj, const std::string& key, const std::string& path) const {
    const json& v = at(obj, key, path);
    if (!v.is_string()) fail(fmt::format("'{}' is not a string", join(path, key)));
    return v.get<std::string>();
  }
  bool boolean(const json& obj, const std::string& key, const std::string& path) const {
    const json& v = at(obj, key, path);
    if (!v.is_boolean()) fail(fmt::format("'{}' is not true or false", join(path, key)));
    return v.get<bool>();
  }
  const json& array(const json& obj, const std::string& key, const std::string& path) const {
    const json& v = at(obj, key, path);
    if (!v.is_array()) fail(fmt::format("'{}' is not a list", join(path, key)));
    return v;
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }

 private:
  std::string file_;
};

}  // namespace

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

ForgettingReport make_forgetting_report(const RunIdentity& id, const EvalReport& base,
                                        const EvalReport& tuned, std::optional<TaskResult> task,
                                        std::optional<GateThresholds> gate) {
  ForgettingReport r;
  r.run = id.run;
  r.recipe_name = id.recipe_name;
  r.method = id.method;
  r.base_checkpoint = base.checkpoint;
  r.tuned_checkpoint = tuned.checkpoint;
  r.base_step = base.step;
  r.tuned_step = tuned.step;
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
    r.domains.push_back(DomainForgetting{b.name, base_bpb, t->bits_per_byte(), 0, 0});
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
  json domains = json::array();
  for (const auto& d : r.domains)
    domains.push_back({{"name", d.name},
                       {"base_bpb", number_or_null(d.base_bpb)},
                       {"tuned_bpb", number_or_null(d.tuned_bpb)},
                       {"delta_bpb", number_or_null(d.delta_bpb)},
                       {"forgetting_pct", number_or_null(d.forgetting_pct)}});
  j["domains"] = std::move(domains);
  j["overall"] = {{"domains", r.domains.size()},
                  {"mean_forgetting_pct", number_or_null(r.mean_forgetting_pct)},
                  {"worst_domain", r.worst_domain},
                  {"worst_forgetting_pct", number_or_null(r.worst_forgetting_pct)},
                  {"mean_base_bpb", number_or_null(r.mean_base_bpb)},
                  {"mean_tuned_bpb", number_or_null(r.mean_tuned_bpb)}};
  if (r.task) {
    const TaskResult& t = *r.task;
    json samples = json::array();
    for (const auto& s : t.samples)
      samples.push_back({{"prompt", s.prompt},
                         {"reference", s.reference},
                         {"base_output", s.base_output},
                         {"tuned_output", s.tuned_output},
                         {"base_correct", s.base_correct},
                         {"tuned_correct", s.tuned_correct}});
    j["task"] = {{"name", t.name},
                 {"examples", t.examples},
                 {"base_loss", number_or_null(t.base_loss)},
                 {"tuned_loss", number_or_null(t.tuned_loss)},
                 {"base_exact_match", number_or_null(t.base_exact_match)},
                 {"tuned_exact_match", number_or_null(t.tuned_exact_match)},
                 {"gain_pct", number_or_null(t.gain_pct())},
                 {"exact_match_gain_points", number_or_null(t.exact_match_gain_points())},
                 {"samples", std::move(samples)}};
  } else {
    j["task"] = nullptr;
  }
  if (r.gate) {
    const GateThresholds& g = *r.gate;
    json domains_limits = json::object();
    for (const auto& [name, p] : g.domain_max_pct) domains_limits[name] = number_or_null(p);
    j["gate"] = {{"max_forgetting_pct", optional_number(g.max_forgetting_pct)},
                 {"max_mean_forgetting_pct", optional_number(g.max_mean_forgetting_pct)},
                 {"domains", std::move(domains_limits)},
                 {"baseline", g.baseline},
                 {"tolerance_pct", optional_number(g.tolerance_pct)},
                 {"min_task_gain_pct", optional_number(g.min_task_gain_pct)}};
  } else {
    j["gate"] = nullptr;
  }
  // Non-ASCII bytes that are not UTF-8 (a sample cut mid-character) become U+FFFD, not an exception.
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

ForgettingReport parse_report_json(const std::string& text, const std::string& file) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
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
  if (schema.get<int64_t>() != kReportSchemaVersion)
    throw BadInput(
        fmt::format("report {} has schema {}; this plinth reads schema {}", file, schema.get<int64_t>(),
                    kReportSchemaVersion),
        "write the report again with this plinth (plinth eval), or read it with the plinth that wrote it");

  ForgettingReport r;
  r.run = rd.string(j, "run", "");
  r.recipe_name = rd.string(j, "recipe", "");
  r.method = rd.string(j, "method", "");
  const json& base = rd.at(j, "base", "");
  r.base_checkpoint = rd.string(base, "checkpoint", "base");
  r.base_step = rd.integer(base, "step", "base");
  const json& tuned = rd.at(j, "tuned", "");
  r.tuned_checkpoint = rd.string(tuned, "checkpoint", "tuned");
  r.tuned_step = rd.integer(tuned, "step", "tuned");
  const json& domains = rd.array(j, "domains", "");
  for (size_t i = 0; i < domains.size(); ++i) {
    std::string path = fmt::format("domains[{}]", i);
    DomainForgetting d;
    d.name = rd.string(domains[i], "name", path);
    d.base_bpb = rd.number(domains[i], "base_bpb", path);
    d.tuned_bpb = rd.number(domains[i], "tuned_bpb", path);
    if (r.find_domain(d.name)) rd.fail(fmt::format("domain '{}' appears twice", d.name));
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
    if (gate.contains("baseline")) g.baseline = rd.string(gate, "baseline", "gate");
    if (gate.contains("domains")) {
      const json& d = gate["domains"];
      if (!d.is_object()) rd.fail("'gate.domains' is not an object");
      for (const auto& [name, v] : d.items()) {
        if (!v.is_number()) rd.fail(fmt::format("'gate.domains.{}' is not a number", name));
        g.set_domain(name, v.get<double>());
      }
    }
    r.gate = std::move(g);
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

std::string report_markdown(const ForgettingReport& r) {
  std::string out = fmt::format("# Forgetting report: {}\n\n", r.run.empty() ? "(unnamed run)" : r.run);
  out += fmt::format("Recipe `{}`, method `{}`.\n", r.recipe_name, r.method.empty() ? "n/a" : r.method);
  auto step = [](int64_t s) { return s >= 0 ? fmt::format(" (step {})", s) : std::string(); };
  out += fmt::format("Base `{}`{}, tuned `{}`{}.\n\n", r.base_checkpoint, step(r.base_step),
                     r.tuned_checkpoint, step(r.tuned_step));

  out +=
      "| domain | base bits/byte | tuned bits/byte | Δ bits/byte | forgetting |\n"
      "|---|---:|---:|---:|---:|\n";
  for (const auto& d : r.domains)
    out += fmt::format("| {} | {} | {} | {} | {} |\n", d.name, num(d.base_bpb), num(d.tuned_bpb),
                       std::isfinite(d.delta_bpb) ? fmt::format("{:+.4f}", d.delta_bpb) : "n/a",
                       pct(d.forgetting_pct));
  out += fmt::format("| **mean** | {} | {} | {} | {} |\n\n", num(r.mean_base_bpb), num(r.mean_tuned_bpb),
                     std::isfinite(r.mean_tuned_bpb - r.mean_base_bpb)
                         ? fmt::format("{:+.4f}", r.mean_tuned_bpb - r.mean_base_bpb)
                         : "n/a",
                     pct(r.mean_forgetting_pct));
  out +=
      fmt::format("Mean forgetting {} over {} domains; worst domain: {} ({}).\n\n",
                  pct(r.mean_forgetting_pct), r.domains.size(), r.worst_domain, pct(r.worst_forgetting_pct));

  if (r.task) {
    const TaskResult& t = *r.task;
    out += fmt::format("## Task: {} ({} examples)\n\n", t.name, t.examples);
    out += "| | base | tuned | change |\n|---|---:|---:|---:|\n";
    out += fmt::format("| loss (nats/token) | {} | {} | task gain {} |\n", num(t.base_loss),
                       num(t.tuned_loss), pct(t.gain_pct()));
    auto em = [](double f) { return std::isfinite(f) ? fmt::format("{:.1f}%", 100 * f) : "n/a"; };
    out += fmt::format("| exact match | {} | {} | {} |\n\n", em(t.base_exact_match), em(t.tuned_exact_match),
                       std::isfinite(t.exact_match_gain_points())
                           ? fmt::format("{:+.1f} points", t.exact_match_gain_points())
                           : "n/a");
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
  if (r.gate) out += fmt::format("Gate thresholds from the recipe: {}.\n\n", describe_thresholds(*r.gate));
  out +=
      "bits/byte: total NLL / UTF-8 bytes / ln 2 on each domain's validation set. forgetting: 100 × (tuned − "
      "base) / base bits/byte, positive = worse after tuning; mean: domains weighted equally. task gain: 100 "
      "× "
      "(base − tuned) / base task loss, positive = learned.\n";
  return out;
}

std::string report_svg(const ForgettingReport& r) {
  BarChart chart;
  chart.title =
      fmt::format("{}: bits per byte before and after tuning{}", r.run.empty() ? "forgetting" : r.run,
                  r.method.empty() ? "" : " (" + r.method + ")");
  chart.y_label = "bits per byte (lower is better)";
  chart.series = {"base", "tuned"};
  for (const auto& d : r.domains)
    chart.groups.push_back(BarGroup{d.name, {d.base_bpb, d.tuned_bpb}, pct(d.forgetting_pct, 1)});
  chart.width = std::max(860, 140 + 200 + 70 * int(r.domains.size()));
  return render_svg(chart);
}

void write_report(const ForgettingReport& report, const fs::path& dir) {
  write_file_atomic(dir / "report.json", report_json(report));
  write_file_atomic(dir / "report.md", report_markdown(report));
  write_file_atomic(dir / "report.svg", report_svg(report));
}

}  // namespace plinth::eval
