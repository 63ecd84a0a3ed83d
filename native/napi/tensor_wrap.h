// The JS handle of a native Tensor. The TypeScript Tensor class owns one of these; dispose() frees
// the storage at once (and detaches any typed-array view), the finalizer frees what users forget.
#pragma once
#include <napi.h>

#include <memory>

#include "mtrl/tensor.h"

namespace mtrl::napi {

class TensorWrap : public Napi::ObjectWrap<TensorWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, Tensor t);
  static bool IsTensor(Napi::Env env, const Napi::Value& v);

  explicit TensorWrap(const Napi::CallbackInfo& info);
  ~TensorWrap() override;

  Tensor tensor;
  bool disposed = false;

 private:
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value DTypeName(const Napi::CallbackInfo& info);
  Napi::Value DeviceName(const Napi::CallbackInfo& info);
  Napi::Value View(const Napi::CallbackInfo& info);
  Napi::Value CopyOut(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value SameStorage(const Napi::CallbackInfo& info);
  void DetachView();

  // The zero-copy view handed out for CPU tensors: a weak reference to its ArrayBuffer and the
  // finalizer hint that keeps the storage alive while the view lives.
  Napi::Reference<Napi::ArrayBuffer> view_ref_;
  std::shared_ptr<Storage>* view_owner_ = nullptr;
};

}  // namespace mtrl::napi
