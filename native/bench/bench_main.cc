// Entry point of the native benchmarks. Usage: mtrl_native_bench [--filter SUBSTRING] [--quick] [--csv FILE]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>

#include "bench_util.h"
#include "mtrl/runtime.h"

namespace mtrl::bench {
namespace {
bool g_quick = false;
std::vector<std::string> g_csv;
}  // namespace

std::vector<Case>& registry() {
  static std::vector<Case> r;
  return r;
}

bool quick() { return g_quick; }

Timing time_ms(const std::function<void()>& fn, Device device, int warmup, int min_reps, double budget_ms) {
  auto sync = [&] {
    if (device.is_cuda()) cuda_rt::synchronize(device.index);
  };
  for (int i = 0; i < warmup; ++i) fn();
  sync();
  std::vector<double> s;
  double spent = 0;
  while (static_cast<int>(s.size()) < min_reps || (spent < budget_ms && s.size() < 500)) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    sync();
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    s.push_back(ms);
    spent += ms;
  }
  std::sort(s.begin(), s.end());
  auto q = [&](double p) { return s[static_cast<size_t>((s.size() - 1) * p + 0.5)]; };
  return Timing{q(0.5), q(0.2), q(0.8), static_cast<int>(s.size())};
}

void report(const std::string& op, const std::string& impl, const std::string& mode, const std::string& shape, const Timing& t,
            const std::string& metric, double value, const std::string& device) {
  std::printf("%-14s %-14s %-12s %-28s %10.4f ms  %12.4g %s  [%s]\n", op.c_str(), impl.c_str(), mode.c_str(), shape.c_str(), t.p50,
              value, metric.c_str(), device.c_str());
  char line[1024];
  std::snprintf(line, sizeof line, "%s,%s,%s,\"%s\",%.4f,%.4f,%.4f,%s,%.6g,%s,native", op.c_str(), impl.c_str(), mode.c_str(),
                shape.c_str(), t.p50, t.p20, t.p80, metric.c_str(), value, device.c_str());
  g_csv.push_back(line);
}

}  // namespace mtrl::bench

int main(int argc, char** argv) {
  using namespace mtrl::bench;
  const char* filter = nullptr;
  const char* csv = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
    else if (!std::strcmp(argv[i], "--csv") && i + 1 < argc) csv = argv[++i];
    else if (!std::strcmp(argv[i], "--quick")) g_quick = true;
  }
  int failures = 0;
  for (auto& c : registry()) {
    if (filter && c.name.find(filter) == std::string::npos) continue;
    std::cout << "== " << c.name << "\n";
    try {
      c.fn();
    } catch (const std::exception& e) {
      std::cout << "   failed: " << e.what() << "\n";
      ++failures;
    }
  }
  if (csv) {
    std::ofstream f(csv);
    f << "op,impl,mode,shape,p50_ms,p20_ms,p80_ms,metric,value,device,commit\n";
    for (auto& l : g_csv) f << l << "\n";
  }
  return failures ? 1 : 0;
}
