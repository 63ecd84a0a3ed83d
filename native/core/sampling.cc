// Argument checks and device dispatch for token sampling, log-softmax and logprob gathering. Every
// option is validated per row here (so kernels never see a bad value), history ids are range-checked
// on the host, and the per-row status the kernels report becomes an error naming the row.
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "mtrl/check.h"
#include "mtrl/runtime.h"
#include "mtrl/sampling.h"

namespace mtrl {
namespace {

// Shortest decimal that reads back as the same double (as JavaScript prints numbers).
std::string num(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v || !std::isfinite(v)) break;
  }
  return buf;
}

// "row r" only when the option varies by row, so a scalar option's message reads naturally.
std::string where(const std::vector<double>& v, size_t r) { return v.size() > 1 ? " (row " + std::to_string(r) + ")" : ""; }

double pick(const std::vector<double>& v, size_t r, double dflt) { return v.empty() ? dflt : v.size() == 1 ? v[0] : v[r]; }

void check_sizes(const std::vector<double>& v, int64_t B, const char* fn, const char* name) {
  if (!v.empty() && v.size() != 1 && static_cast<int64_t>(v.size()) != B)
    throw_range_error(std::string(fn) + ": " + name + " must be a number or an array with one value per row (B=" + std::to_string(B) +
                      "), got an array of length " + std::to_string(v.size()));
}

bool is_integer(double v) { return std::isfinite(v) && std::floor(v) == v; }

uint64_t check_counter(double v, const char* fn, const char* name) {
  if (!is_integer(v) || v < 0 || v > 9007199254740991.0)
    throw_range_error(std::string(fn) + ": " + name + " must be a non-negative integer below 2^53, got " + num(v));
  return static_cast<uint64_t>(v);
}

std::vector<SampleRow> make_rows(const SampleOptions& o, int64_t B, int64_t V, bool has_history, const char* fn) {
  check_sizes(o.temperature, B, fn, "temperature");
  check_sizes(o.top_k, B, fn, "topK");
  check_sizes(o.top_p, B, fn, "topP");
  check_sizes(o.min_p, B, fn, "minP");
  check_sizes(o.repetition_penalty, B, fn, "repetitionPenalty");
  check_sizes(o.presence_penalty, B, fn, "presencePenalty");
  check_sizes(o.frequency_penalty, B, fn, "frequencyPenalty");
  if (!o.row_ids.empty() && static_cast<int64_t>(o.row_ids.size()) != B)
    throw_range_error(std::string(fn) + ": rowIds must have one id per row (B=" + std::to_string(B) + "), got " +
                      std::to_string(o.row_ids.size()));
  std::vector<SampleRow> rows(static_cast<size_t>(B));
  for (size_t r = 0; r < rows.size(); ++r) {
    SampleRow& s = rows[r];
    double t = pick(o.temperature, r, 1.0);
    if (!std::isfinite(t) || t < 0)
      throw_range_error(std::string(fn) + ": temperature must be a finite number >= 0 (0 = greedy), got " + num(t) + where(o.temperature, r));
    double k = pick(o.top_k, r, 0.0);
    if (!is_integer(k) || k < 0)
      throw_range_error(std::string(fn) + ": topK must be an integer >= 0 (0 = off), got " + num(k) + where(o.top_k, r));
    double p = pick(o.top_p, r, 1.0);
    if (!(p > 0 && p <= 1)) throw_range_error(std::string(fn) + ": topP must be in (0, 1] (1 = off), got " + num(p) + where(o.top_p, r));
    double mp = pick(o.min_p, r, 0.0);
    if (!(mp >= 0 && mp < 1)) throw_range_error(std::string(fn) + ": minP must be in [0, 1) (0 = off), got " + num(mp) + where(o.min_p, r));
    double rep = pick(o.repetition_penalty, r, 1.0);
    if (!std::isfinite(rep) || !(static_cast<float>(rep) > 0) || !std::isfinite(static_cast<float>(rep)))
      throw_range_error(std::string(fn) + ": repetitionPenalty must be a positive finite float32 number (1 = off), got " + num(rep) +
                        where(o.repetition_penalty, r));
    double pres = pick(o.presence_penalty, r, 0.0), freq = pick(o.frequency_penalty, r, 0.0);
    if (!std::isfinite(static_cast<float>(pres)))
      throw_range_error(std::string(fn) + ": presencePenalty must be a finite float32 number (0 = off), got " + num(pres) +
                        where(o.presence_penalty, r));
    if (!std::isfinite(static_cast<float>(freq)))
      throw_range_error(std::string(fn) + ": frequencyPenalty must be a finite float32 number (0 = off), got " + num(freq) +
                        where(o.frequency_penalty, r));
    double id = o.row_ids.empty() ? static_cast<double>(r) : o.row_ids[r];
    if (!is_integer(id) || id < 0 || id > 9007199254740991.0)
      throw_range_error(std::string(fn) + ": rowIds[" + std::to_string(r) + "] must be a non-negative integer below 2^53, got " + num(id));
    s.greedy = t == 0.0;
    double inv = s.greedy ? 1.0 : 1.0 / t;
    s.inv_temperature = inv > FLT_MAX ? FLT_MAX : static_cast<float>(inv);
    s.top_k = k >= static_cast<double>(V) ? 0 : static_cast<int32_t>(k);  // k >= V keeps everything
    s.top_p = p;
    s.log_min_p = mp > 0 ? static_cast<float>(std::log(mp)) : -INFINITY;
    s.repetition_penalty = static_cast<float>(rep);
    s.presence_penalty = static_cast<float>(pres);
    s.frequency_penalty = static_cast<float>(freq);
    s.penalize = has_history && (s.repetition_penalty != 1.0f || s.presence_penalty != 0.0f || s.frequency_penalty != 0.0f);
    s.row_id = static_cast<uint64_t>(id);
  }
  return rows;
}

void check_history(const Tensor& h, const Tensor& logits, const char* fn) {
  check_dtype(h, DType::I32, fn, "history");
  check_ndim(h, 2, fn, "history", "(B, L)");
  check_same_device(logits, h, fn, "logits", "history");
  int64_t B = logits.dim(0), V = logits.dim(1), L = h.dim(1);
  if (h.dim(0) != B)
    throw_range_error(std::string(fn) + ": history must have shape (B=" + std::to_string(B) + ", L), got " + shape_str(h.shape));
  Tensor host = h.device().is_cpu() ? h : to_device(h, Device{});
  const int32_t* p = host.ptr<int32_t>();
  for (int64_t r = 0; r < B; ++r)
    for (int64_t j = 0; j < L; ++j) {
      int32_t t = p[r * L + j];
      if (t != -1 && (t < 0 || t >= V))
        throw_range_error(std::string(fn) + ": history[" + std::to_string(r) + "][" + std::to_string(j) + "] = " + std::to_string(t) +
                          " is neither a token id in [0, V=" + std::to_string(V) + ") nor the padding value -1");
    }
}

void check_logits(const Tensor& logits, const char* fn, bool matrix) {
  check_float(logits, fn, "logits");
  if (matrix) check_ndim(logits, 2, fn, "logits", "(B, V)");
  else if (logits.ndim() < 1)
    throw_range_error(std::string(fn) + ": logits must have shape (..., V) with at least 1 dim, got " + shape_str(logits.shape));
  int64_t V = logits.dim(-1);
  if (V < 1) throw_range_error(std::string(fn) + ": logits must have a vocabulary dim V >= 1, got " + shape_str(logits.shape));
  if (V > kSampleMaxVocab)
    throw_range_error(std::string(fn) + ": vocabulary size V=" + std::to_string(V) + " exceeds the supported maximum " +
                      std::to_string(kSampleMaxVocab));
}

// Turns the first bad row's status into an error that names it.
void raise_status(const std::vector<int32_t>& status, const std::vector<int32_t>& bad, const char* fn) {
  for (size_t r = 0; r < status.size(); ++r) {
    std::string row = std::string(fn) + ": logits row " + std::to_string(r);
    switch (status[r]) {
      case kSampleOk: continue;
      case kSampleNaN:
        throw_range_error(row + " contains NaN (at index " + std::to_string(bad[r]) + "); logits must be finite or -Infinity (masked)");
      case kSamplePosInf:
        throw_range_error(row + " contains +Infinity (at index " + std::to_string(bad[r]) +
                          "); logits must be finite or -Infinity (masked)");
      case kSampleAllMasked:
        throw_range_error(row + " has no finite logit (every token is -Infinity, after penalties); at least one token must stay allowed");
      case kSamplePenaltyNonFinite:
        throw_range_error(std::string(fn) + ": penalties turned the logit of token " + std::to_string(bad[r]) + " in row " +
                          std::to_string(r) + " into NaN or +Infinity; use smaller penalties");
      default: throw_error(row + ": unknown sampling status " + std::to_string(status[r]));
    }
  }
}

void run_sample(const Tensor& logits, const Tensor* history, const SampleOptions& opts, SampleResult& out, bool reference) {
  const char* fn = reference ? "sampleTokensSortReference" : "sampleTokens";
  check_logits(logits, fn, true);
  if (history) check_history(*history, logits, fn);
  int64_t B = logits.dim(0), V = logits.dim(1);
  uint64_t seed = check_counter(opts.seed, fn, "seed");
  uint64_t offset = check_counter(opts.offset, fn, "offset");
  std::vector<SampleRow> rows = make_rows(opts, B, V, history != nullptr && history->dim(1) > 0, fn);
  out.resize(B);
  if (B == 0) return;
  const Tensor* h = history && history->dim(1) > 0 ? history : nullptr;
  if (reference) {
    if (!logits.device().is_cpu())
      throw_type_error(std::string(fn) + ": the sort-based reference runs on the CPU; move logits (on " + logits.device().name() +
                       ") with .to('cpu')");
    cpu::sample_tokens_sort_reference(logits, h, rows, seed, offset, out);
  } else if (logits.device().is_cpu()) {
    cpu::sample_tokens(logits, h, rows, seed, offset, out);
  } else {
    cuda_rt::require_device(logits.device().index, fn);
#ifdef MTRL_WITH_CUDA
    cuda::sample_tokens(logits, h, rows, seed, offset, out);
#endif
  }
  raise_status(out.status, out.bad_index, fn);
}

}  // namespace

void sample_tokens(const Tensor& logits, const Tensor* history, const SampleOptions& opts, SampleResult& out) {
  run_sample(logits, history, opts, out, false);
}

void sample_tokens_sort_reference(const Tensor& logits, const Tensor* history, const SampleOptions& opts, SampleResult& out) {
  run_sample(logits, history, opts, out, true);
}

void log_softmax(const Tensor& logits, Tensor& out) {
  const char* fn = "logSoftmax";
  check_logits(logits, fn, false);
  check_dtype(out, DType::F32, fn, "out");
  check_same_device(logits, out, fn, "logits", "out");
  check_same_shape(logits, out, fn, "logits", "out");
  int64_t V = logits.dim(-1), R = V ? logits.numel() / V : 0;
  if (R == 0) return;
  std::vector<int32_t> status(static_cast<size_t>(R), kSampleOk), bad(static_cast<size_t>(R), -1);
  if (logits.device().is_cpu()) {
    cpu::log_softmax(logits, out, status, bad);
  } else {
    cuda_rt::require_device(logits.device().index, fn);
#ifdef MTRL_WITH_CUDA
    cuda::log_softmax(logits, out, status, bad);
#endif
  }
  raise_status(status, bad, fn);
}

void gather_logprobs(const Tensor& logits, const std::vector<int32_t>& tokens, std::vector<float>& out) {
  const char* fn = "gatherLogprobs";
  check_logits(logits, fn, false);
  int64_t V = logits.dim(-1), R = V ? logits.numel() / V : 0;
  std::vector<int64_t> lead(logits.shape.begin(), logits.shape.end() - 1);
  if (static_cast<int64_t>(tokens.size()) != R)
    throw_range_error(std::string(fn) + ": tokens must have one id per row of logits " + shape_str(logits.shape) + ", i.e. " +
                      std::to_string(R) + " ids with shape " + shape_str(lead) + ", got " + std::to_string(tokens.size()));
  for (size_t r = 0; r < tokens.size(); ++r)
    if (tokens[r] < 0 || tokens[r] >= V)
      throw_range_error(std::string(fn) + ": tokens[" + std::to_string(r) + "] = " + std::to_string(tokens[r]) +
                        " is not a token id in [0, V=" + std::to_string(V) + ")");
  out.assign(static_cast<size_t>(R), 0.f);
  if (R == 0) return;
  std::vector<int32_t> status(static_cast<size_t>(R), kSampleOk), bad(static_cast<size_t>(R), -1);
  if (logits.device().is_cpu()) {
    cpu::gather_logprobs(logits, tokens, out, status, bad);
  } else {
    cuda_rt::require_device(logits.device().index, fn);
#ifdef MTRL_WITH_CUDA
    cuda::gather_logprobs(logits, tokens, out, status, bad);
#endif
  }
  raise_status(status, bad, fn);
}

}  // namespace mtrl
