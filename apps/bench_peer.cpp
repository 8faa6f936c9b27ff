#include "bench_peer.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <vector>

#include "util/error.h"
#include "util/log.h"

namespace plinth {

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char ch : s) out += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
  return out + "'";
}

std::string peer_environment(const std::string& tunables) {
  const char* core = std::getenv("OPENBLAS_CORETYPE");
  return (tunables.empty() ? "" : "GLIBC_TUNABLES=" + shell_quote(tunables) + " ") +
         (core ? "OPENBLAS_CORETYPE=" + shell_quote(core) + " " : "");
}

nlohmann::json run_peer(const std::string& command, const std::string& python, int threads) {
  log::info("running the peer: {}", command);
  std::fflush(nullptr);  // what plinth printed so far, before the peer's lines
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) throw Failure("cannot start " + python);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = ::pclose(pipe);
  const auto brace = out.rfind("\n{");
  const std::string line = out.substr(brace == std::string::npos ? out.find('{') : brace + 1);
  if (status != 0 || line.empty() || line[0] != '{')
    throw Failure(fmt::format("the peer failed (status {}):\n{}", status, out));
  auto result = nlohmann::json::parse(line);
  if (result.value("threads", 0) != threads)
    throw Failure(fmt::format("the peer ran on {} threads, plinth on {}: not the same work",
                              result.value("threads", 0), threads));
  return result;
}

void print_profile_summary(const std::string& trace_file, int units, const std::string& what) {
  std::ifstream in(trace_file);
  nlohmann::json trace = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (trace.is_object()) trace = trace.value("traceEvents", nlohmann::json::array());
  if (!trace.is_array()) {
    log::warn("cannot read the profile {}", trace_file);
    return;
  }
  struct Event {
    double ts, dur;
    std::string name;
  };
  std::map<std::string, std::vector<Event>> by_thread;
  for (const auto& e : trace)
    if (e.value("ph", "") == "X" && e.contains("dur"))
      by_thread[e.contains("tid") ? e["tid"].dump() : "0"].push_back(
          {e.value("ts", 0.0), e.value("dur", 0.0), e.value("name", std::string("?"))});
  std::map<std::string, double> self;
  double total = 0;
  for (auto& [tid, events] : by_thread) {
    std::sort(events.begin(), events.end(),
              [](const Event& a, const Event& b) { return a.ts < b.ts || (a.ts == b.ts && a.dur > b.dur); });
    std::vector<std::pair<double, std::string>> open;  // (end time, name) of the enclosing ops
    for (const auto& e : events) {
      while (!open.empty() && open.back().first <= e.ts) open.pop_back();
      if (open.empty())
        total += e.dur;
      else
        self[open.back().second] -= e.dur;
      self[e.name] += e.dur;
      open.emplace_back(e.ts + e.dur, e.name);
    }
  }
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [name, us] : self) rows.emplace_back(us, name);
  std::sort(rows.rbegin(), rows.rend());
  fmt::print("where {} time goes (self time, {} of them, trace {}):\n", what, units, trace_file);
  for (size_t i = 0; i < std::min<size_t>(15, rows.size()); ++i)
    fmt::print("  {:<40} {:8.1f} ms each  {:5.1f}%\n", rows[i].second, rows[i].first / 1e3 / units,
               total > 0 ? 100 * rows[i].first / total : 0.0);
}

}  // namespace plinth
