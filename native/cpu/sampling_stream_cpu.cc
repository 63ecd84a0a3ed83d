// StreamSelect: the candidate buffer the first pass over a row fills for the one-pass top-k and
// min-p paths (sampling.h). Entries stay in id order; the buffer is cut back whenever it fills.
#include <algorithm>
#include <cfloat>
#include <cmath>

#include "mtrl/sampling.h"

namespace mtrl::cpu::sampling_detail {

void StreamSelect::reset(int64_t k_, bool min_p_, double delta, size_t cap_) {
  k = k_;
  min_p = min_p_;
  min_p_delta = delta;
  tau = -INFINITY;
  tau_min_p = -INFINITY;
  cap = cap_ + 16;
  n = 0;
  overflow = false;
  if (val.size() < cap + 16) {
    val.resize(cap + 16);
    idx.resize(cap + 16);
  }
}

void StreamSelect::push(const float* v, int64_t base, uint32_t mask) {
  while (mask) {
    int j = __builtin_ctz(mask);
    mask &= mask - 1;
    val[n] = v[j];
    idx[n] = static_cast<int32_t>(base + j);
    ++n;
  }
  if (n + 16 > cap) compact();
}

void StreamSelect::on_max(float running_max) {
  // A token is in the min-p set iff (y - m) * invT >= log(minP) (float ops, m the final max >=
  // running_max), which implies y >= running_max + log(minP) / invT up to a few ulps; the margin
  // below keeps the bound conservative (the exact test runs on the candidates at the end).
  double t = static_cast<double>(running_max) + min_p_delta * (1.0 + 1e-5) - 1e-5 * std::fabs(static_cast<double>(running_max)) - 1e-30;
  if (!(t > -static_cast<double>(FLT_MAX))) return;
  float tf = static_cast<float>(t);
  if (static_cast<double>(tf) > t) tf = std::nextafter(tf, -INFINITY);
  if (tf > tau_min_p) tau_min_p = tf;
  if (tf > tau) tau = tf;
}

namespace {
// Cuts the buffer to the first k entries of the sampling order (value desc, id asc); returns the
// k-th value.
float select_top_k(std::vector<float>& val, std::vector<int32_t>& idx, size_t& n, size_t k, std::vector<float>& tmp) {
  tmp.assign(val.begin(), val.begin() + static_cast<std::ptrdiff_t>(n));
  std::nth_element(tmp.begin(), tmp.begin() + static_cast<std::ptrdiff_t>(k - 1), tmp.end(), std::greater<float>());
  float vk = tmp[k - 1];
  size_t gt = 0;
  for (size_t j = 0; j < n; ++j) gt += val[j] > vk;
  size_t eq_left = k - gt, o = 0;  // equal values: the lowest ids (earliest entries) win
  for (size_t j = 0; j < n; ++j) {
    float v = val[j];
    if (v > vk || (v == vk && eq_left > 0)) {
      if (v == vk) --eq_left;
      val[o] = v;
      idx[o] = idx[j];
      ++o;
    }
  }
  n = o;
  return vk;
}
thread_local std::vector<float> select_tmp;
}  // namespace

void StreamSelect::compact() {
  if (k > 0 && n > static_cast<size_t>(k)) {
    float vk = select_top_k(val, idx, n, static_cast<size_t>(k), select_tmp);
    if (vk > tau) tau = vk;
  }
  if (min_p) {
    size_t o = 0;
    for (size_t j = 0; j < n; ++j)
      if (val[j] > tau_min_p) val[o] = val[j], idx[o] = idx[j], ++o;
    n = o;
  }
  if (n + 16 > cap / 2 + 16 && !(k > 0 && n <= static_cast<size_t>(k))) {
    overflow = true;  // could not cut back: stop collecting, the caller takes the general path
    tau = INFINITY;
  }
}

void StreamSelect::finish() {
  if (k > 0 && n > static_cast<size_t>(k)) select_top_k(val, idx, n, static_cast<size_t>(k), select_tmp);
}

}  // namespace mtrl::cpu::sampling_detail
