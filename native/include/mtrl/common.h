// Basic vocabulary shared by every native file: errors that map onto JS error types,
// dtypes and devices. Device-neutral: included by CPU, CUDA and Node-API code alike.
#pragma once
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__CUDACC__)
#define MTRL_HD __host__ __device__ __forceinline__
#else
#define MTRL_HD inline
#endif

namespace mtrl {

// Which JS error class the Node-API layer raises: argument type problems are TypeErrors,
// out-of-range values and shape mismatches are RangeErrors, everything else is an Error.
enum class ErrorKind { Type, Range, Generic };

struct Error : std::runtime_error {
  ErrorKind kind;
  Error(ErrorKind k, const std::string& msg) : std::runtime_error(msg), kind(k) {}
};

[[noreturn]] inline void throw_type_error(const std::string& msg) { throw Error(ErrorKind::Type, msg); }
[[noreturn]] inline void throw_range_error(const std::string& msg) { throw Error(ErrorKind::Range, msg); }
[[noreturn]] inline void throw_error(const std::string& msg) { throw Error(ErrorKind::Generic, msg); }

enum class DType : int32_t { F32 = 0, BF16 = 1, I32 = 2, U8 = 3 };

inline size_t dtype_size(DType t) {
  switch (t) {
    case DType::F32: return 4;
    case DType::BF16: return 2;
    case DType::I32: return 4;
    case DType::U8: return 1;
  }
  return 0;
}

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::F32: return "f32";
    case DType::BF16: return "bf16";
    case DType::I32: return "i32";
    case DType::U8: return "u8";
  }
  return "?";
}

struct Device {
  enum Kind : int32_t { CPU = 0, CUDA = 1 } kind = CPU;
  int32_t index = 0;
  bool is_cpu() const { return kind == CPU; }
  bool is_cuda() const { return kind == CUDA; }
  bool operator==(const Device& o) const { return kind == o.kind && (kind == CPU || index == o.index); }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string name() const { return kind == CPU ? std::string("cpu") : "cuda:" + std::to_string(index); }
};

inline std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  if (shape.size() == 1) s += ",";
  return s + ")";
}

}  // namespace mtrl
