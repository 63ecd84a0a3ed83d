// The JS handle of a native Tensor.
#include "tensor_wrap.h"

#include <cstring>

#include "args.h"
#include "mtrl/bf16.h"
#include "mtrl/ops.h"

namespace mtrl::napi {
namespace {
struct AddonData {
  Napi::FunctionReference ctor;
};
AddonData* data(Napi::Env env) { return env.GetInstanceData<AddonData>(); }
}  // namespace

Napi::Function TensorWrap::Define(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeTensor",
                                    {InstanceMethod("shape", &TensorWrap::Shape), InstanceMethod("dtype", &TensorWrap::DTypeName),
                                     InstanceMethod("device", &TensorWrap::DeviceName), InstanceMethod("view", &TensorWrap::View),
                                     InstanceMethod("copyOut", &TensorWrap::CopyOut), InstanceMethod("dispose", &TensorWrap::Dispose),
                                     InstanceMethod("isDisposed", &TensorWrap::IsDisposed),
                                     InstanceMethod("sameStorage", &TensorWrap::SameStorage)});
  auto* d = new AddonData();
  d->ctor = Napi::Persistent(ctor);
  env.SetInstanceData<AddonData>(d);
  return ctor;
}

Napi::Object TensorWrap::Wrap(Napi::Env env, Tensor t) {
  Napi::Object obj = data(env)->ctor.New({});
  TensorWrap::Unwrap(obj)->tensor = std::move(t);
  return obj;
}

bool TensorWrap::IsTensor(Napi::Env env, const Napi::Value& v) {
  return v.IsObject() && v.As<Napi::Object>().InstanceOf(data(env)->ctor.Value());
}

TensorWrap::TensorWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorWrap>(info) {}

TensorWrap::~TensorWrap() {
  // The view (if any) still owns the storage through its finalizer hint; nothing to detach here,
  // since this runs from GC where calling into JS is not allowed.
  tensor.storage.reset();
}

void TensorWrap::DetachView() {
  if (view_owner_ && !view_ref_.IsEmpty()) {
    Napi::ArrayBuffer ab = view_ref_.Value();
    if (!ab.IsEmpty()) {
      // The view is still reachable: cut it off and drop its ownership so memory is freed now.
      if (!ab.IsDetached()) ab.Detach();
      view_owner_->reset();
    }
  }
  if (!view_ref_.IsEmpty()) view_ref_.Reset();
  view_owner_ = nullptr;
}

Napi::Value TensorWrap::Shape(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env(), tensor.shape.size());
  for (size_t i = 0; i < tensor.shape.size(); ++i) a.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(tensor.shape[i])));
  return a;
}

Napi::Value TensorWrap::DTypeName(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), dtype_name(tensor.dtype)); }
Napi::Value TensorWrap::DeviceName(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), tensor.device().name()); }

// Zero-copy view of a CPU tensor's bytes (one per tensor, created on first use).
Napi::Value TensorWrap::View(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (disposed) throw_error("Tensor.data: the tensor was disposed");
    if (!tensor.device().is_cpu())
      throw_type_error("Tensor.data: a zero-copy view exists only for cpu tensors, this one is on " + tensor.device().name() +
                       "; use toArray() (copies) or .to('cpu')");
    if (!view_ref_.IsEmpty()) {
      Napi::ArrayBuffer ab = view_ref_.Value();
      if (!ab.IsEmpty()) return ab;
      view_ref_.Reset();
      view_owner_ = nullptr;
    }
    auto* owner = new std::shared_ptr<Storage>(tensor.storage);
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
        env, tensor.raw(), tensor.nbytes(), [](Napi::Env, void*, std::shared_ptr<Storage>* hint) { delete hint; }, owner);
    view_ref_ = Napi::Weak(ab);
    view_owner_ = owner;
    return ab;
  });
}

// Copies the elements into a new ArrayBuffer (works for every device; bf16 is widened to f32).
Napi::Value TensorWrap::CopyOut(const Napi::CallbackInfo& info) {
  return guarded(info, [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    if (disposed) throw_error("Tensor.toArray: the tensor was disposed");
    Tensor host = tensor.device().is_cpu() ? tensor : to_device(tensor, Device{});
    if (host.dtype == DType::BF16) {
      Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, static_cast<size_t>(host.numel()) * 4);
      auto* dst = static_cast<float*>(ab.Data());
      const auto* src = host.ptr<uint16_t>();
      for (int64_t i = 0; i < host.numel(); ++i) dst[i] = bf16_to_f32(src[i]);
      return ab;
    }
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, host.nbytes());
    if (host.nbytes()) std::memcpy(ab.Data(), host.raw(), host.nbytes());
    return ab;
  });
}

Napi::Value TensorWrap::Dispose(const Napi::CallbackInfo& info) {
  if (!disposed) {
    DetachView();
    tensor.storage.reset();
    disposed = true;
  }
  return info.Env().Undefined();
}

Napi::Value TensorWrap::IsDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed); }

Napi::Value TensorWrap::SameStorage(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !IsTensor(info.Env(), info[0])) return Napi::Boolean::New(info.Env(), false);
  TensorWrap* o = Unwrap(info[0].As<Napi::Object>());
  return Napi::Boolean::New(info.Env(), !disposed && !o->disposed && o->tensor.storage == tensor.storage);
}

}  // namespace mtrl::napi
