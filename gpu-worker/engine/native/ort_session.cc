// A small Node addon over onnxruntime's C API (the libonnxruntime.so.1 that onnxruntime-node
// ships), for what onnxruntime-node 1.30 cannot do: every input and output of a run is a tensor
// over memory the caller owns (a JavaScript typed array, or device memory allocated here), so
// nothing is copied in or out, an output can be the very buffer an input reads (the KV cache that
// GroupQueryAttention appends to in place), and a CUDA cache never leaves the device. Runs and
// session loads happen on libuv's thread pool: the event loop stays free while the model works.
//
//   createSession(path, {intraThreads, interThreads, optimization, provider, deviceId, memoryPattern, memoryReuse, sharedArena}) -> Promise<Session>
//   session.inputs / session.outputs: [{name, type, dims}]   (dims: -1 where symbolic)
//   session.run([[name, tensor], ...], [[name, tensor], ...]) -> Promise<void>   (outputs preallocated)
//   session.allocate(bytes) -> DeviceMemory on the session's device (CUDA)
//   session.endProfiling() -> the profile's file (sessions created with {profile: prefix})
//   session.arenaStats() -> {InUse, MaxInUse, TotalAllocated, ...} of its CPU arena
//   session.release()
//   version() -> "1.30.0"
//   sampleFiltered(weights, weightSum, topK, topP, u, out) -> top-k / top-p sampling of one row (sampling.cc)
// A tensor is {type, dims, data: TypedArray} or {type, dims, device: DeviceMemory, offset: bytes}.
#include <node_api.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/mman.h>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ort_api.h"
#include "sampling.h"

namespace {

const ort::Api* api = nullptr;
OrtEnv* env = nullptr;
std::string loadError;

struct Types {
  const char* name;
  int type;
  size_t bytes;
};
const Types TYPES[] = {
    {"float32", ort::FLOAT, 4}, {"float16", ort::FLOAT16, 2}, {"float64", ort::DOUBLE, 8}, {"int64", ort::INT64, 8},
    {"int32", ort::INT32, 4},   {"int8", ort::INT8, 1},       {"uint8", ort::UINT8, 1},    {"bool", ort::BOOL, 1},
    {"uint16", ort::UINT16, 2},
};
const Types* typeByName(const std::string& name) {
  for (const auto& t : TYPES)
    if (name == t.name) return &t;
  return nullptr;
}
const char* typeName(int type) {
  for (const auto& t : TYPES)
    if (t.type == type) return t.name;
  return "unsupported";
}

/** Turns a failed OrtStatus into a message (and releases it); empty on success. */
std::string check(OrtStatus* status) {
  if (!status) return "";
  std::string message = api->GetErrorMessage(status);
  api->ReleaseStatus(status);
  return message.empty() ? "onnxruntime error" : message;
}

napi_value throwError(napi_env e, const std::string& message) {
  napi_throw_error(e, nullptr, message.c_str());
  return nullptr;
}

#define NAPI_CALL(e, call)                                              \
  do {                                                                  \
    if ((call) != napi_ok) return throwError(e, "N-API call failed: " #call); \
  } while (0)

struct Session {
  OrtSession* session = nullptr;
  bool cuda = false;
  int deviceId = 0;
  OrtAllocator* deviceAllocator = nullptr;  // made on the first allocate()
  std::mutex mutex;                          // guards deviceAllocator
  std::vector<std::string> inputNames, outputNames;
  ~Session() {
    if (deviceAllocator) api->ReleaseAllocator(deviceAllocator);
    if (session) api->ReleaseSession(session);
  }
};

/** Device memory: an OrtValue of bytes made by the session's device allocator; keeps the session alive. */
struct DeviceMemory {
  std::shared_ptr<Session> owner;
  OrtValue* value = nullptr;
  void* data = nullptr;
  size_t bytes = 0;
  ~DeviceMemory() {
    if (value) api->ReleaseValue(value);
  }
};

struct SessionHandle {
  std::shared_ptr<Session> session;
};

// ---- tensors described from JavaScript ----

struct TensorArg {
  std::string name;
  int type = 0;
  std::vector<int64_t> dims;
  void* data = nullptr;
  size_t bytes = 0;
  bool onDevice = false;
  napi_ref keep = nullptr;  // the typed array or the device memory, alive until the run ends
};

std::string readTensor(napi_env e, napi_value entry, TensorArg& out) {
  napi_value nameValue, tensor, v;
  if (napi_get_element(e, entry, 0, &nameValue) != napi_ok || napi_get_element(e, entry, 1, &tensor) != napi_ok) return "a tensor entry is [name, tensor]";
  size_t length = 0;
  if (napi_get_value_string_utf8(e, nameValue, nullptr, 0, &length) != napi_ok) return "a tensor name must be a string";
  out.name.resize(length);
  napi_get_value_string_utf8(e, nameValue, out.name.data(), length + 1, &length);
  const std::string where = "tensor " + out.name + ": ";
  char typeBuffer[16] = {0};
  if (napi_get_named_property(e, tensor, "type", &v) != napi_ok || napi_get_value_string_utf8(e, v, typeBuffer, sizeof typeBuffer, &length) != napi_ok) return where + "no type";
  const Types* type = typeByName(typeBuffer);
  if (!type) return where + "unsupported type " + typeBuffer;
  out.type = type->type;
  uint32_t rank = 0;
  if (napi_get_named_property(e, tensor, "dims", &v) != napi_ok || napi_get_array_length(e, v, &rank) != napi_ok) return where + "dims must be an array";
  size_t count = 1;
  for (uint32_t i = 0; i < rank; i++) {
    napi_value d;
    int64_t dim = 0;
    napi_get_element(e, v, i, &d);
    if (napi_get_value_int64(e, d, &dim) != napi_ok || dim < 0) return where + "dims must be non-negative integers";
    out.dims.push_back(dim);
    count *= static_cast<size_t>(dim);
  }
  out.bytes = count * type->bytes;
  bool hasData = false;
  napi_has_named_property(e, tensor, "data", &hasData);
  if (hasData) {
    napi_get_named_property(e, tensor, "data", &v);
    bool isTyped = false;
    napi_is_typedarray(e, v, &isTyped);
    if (!isTyped) return where + "data must be a typed array";
    napi_typedarray_type kind;
    size_t elements = 0, byteOffset = 0;
    napi_value buffer;
    void* data = nullptr;
    napi_get_typedarray_info(e, v, &kind, &elements, &data, &buffer, &byteOffset);
    size_t elementBytes = kind == napi_int8_array || kind == napi_uint8_array || kind == napi_uint8_clamped_array ? 1
                          : kind == napi_int16_array || kind == napi_uint16_array                                  ? 2
                          : kind == napi_float64_array || kind == napi_bigint64_array || kind == napi_biguint64_array ? 8
                                                                                                                     : 4;
    if (elements * elementBytes != out.bytes) {
      return where + "its data holds " + std::to_string(elements * elementBytes) + " bytes, its dims need " + std::to_string(out.bytes);
    }
    out.data = data;
    napi_create_reference(e, v, 1, &out.keep);
    return "";
  }
  napi_value device;
  if (napi_get_named_property(e, tensor, "device", &device) != napi_ok) return where + "needs data or device";
  void* external = nullptr;
  if (napi_get_value_external(e, device, &external) != napi_ok || !external) return where + "device must be memory from session.allocate()";
  auto* memory = static_cast<DeviceMemory*>(external);
  int64_t offset = 0;
  napi_value offsetValue;
  if (napi_get_named_property(e, tensor, "offset", &offsetValue) == napi_ok) napi_get_value_int64(e, offsetValue, &offset);
  if (offset < 0 || static_cast<size_t>(offset) + out.bytes > memory->bytes) return where + "offset and dims run past the device memory";
  out.data = static_cast<char*>(memory->data) + offset;
  out.onDevice = true;
  napi_create_reference(e, device, 1, &out.keep);
  return "";
}

// ---- run ----

struct RunWork {
  std::shared_ptr<Session> session;
  std::vector<TensorArg> inputs, outputs;
  std::string error;
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
};

void executeRun(napi_env, void* data) {
  auto* w = static_cast<RunWork*>(data);
  OrtMemoryInfo *cpu = nullptr, *device = nullptr;
  std::vector<OrtValue*> values;
  auto release = [&]() {
    for (auto* v : values) api->ReleaseValue(v);
    if (cpu) api->ReleaseMemoryInfo(cpu);
    if (device) api->ReleaseMemoryInfo(device);
  };
  w->error = check(api->CreateCpuMemoryInfo(ort::DeviceAllocator, ort::MemTypeDefault, &cpu));
  if (w->error.empty() && w->session->cuda) w->error = check(api->CreateMemoryInfo("Cuda", ort::DeviceAllocator, w->session->deviceId, ort::MemTypeDefault, &device));
  std::vector<const char*> inNames, outNames;
  std::vector<OrtValue*> ins, outs;
  auto make = [&](TensorArg& t) -> OrtValue* {
    OrtValue* value = nullptr;
    if (w->error.empty()) {
      w->error = check(api->CreateTensorWithDataAsOrtValue(t.onDevice ? device : cpu, t.data, t.bytes, t.dims.data(), t.dims.size(), t.type, &value));
      if (!w->error.empty()) w->error = "tensor " + t.name + ": " + w->error;
    }
    if (value) values.push_back(value);
    return value;
  };
  for (auto& t : w->inputs) {
    inNames.push_back(t.name.c_str());
    ins.push_back(make(t));
  }
  for (auto& t : w->outputs) {
    outNames.push_back(t.name.c_str());
    outs.push_back(make(t));
  }
  if (w->error.empty()) {
    w->error = check(api->Run(w->session->session, nullptr, inNames.data(), ins.data(), ins.size(), outNames.data(), outs.size(), outs.data()));
  }
  release();
}

void completeRun(napi_env e, napi_status, void* data) {
  auto* w = static_cast<RunWork*>(data);
  for (auto* list : {&w->inputs, &w->outputs})
    for (auto& t : *list)
      if (t.keep) napi_delete_reference(e, t.keep);
  if (w->error.empty()) {
    napi_value undefined;
    napi_get_undefined(e, &undefined);
    napi_resolve_deferred(e, w->deferred, undefined);
  } else {
    napi_value message, error;
    napi_create_string_utf8(e, w->error.c_str(), NAPI_AUTO_LENGTH, &message);
    napi_create_error(e, nullptr, message, &error);
    napi_reject_deferred(e, w->deferred, error);
  }
  napi_delete_async_work(e, w->work);
  delete w;
}

SessionHandle* handleOf(napi_env e, napi_callback_info info, size_t* argc, napi_value* argv) {
  napi_value self;
  void* data = nullptr;
  napi_get_cb_info(e, info, argc, argv, &self, nullptr);
  napi_unwrap(e, self, &data);
  auto* handle = static_cast<SessionHandle*>(data);
  if (!handle || !handle->session) {
    throwError(e, "the session was released");
    return nullptr;
  }
  return handle;
}

napi_value run(napi_env e, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  SessionHandle* handle = handleOf(e, info, &argc, argv);
  if (!handle) return nullptr;
  auto* w = new RunWork();
  w->session = handle->session;
  for (int side = 0; side < 2; side++) {
    uint32_t n = 0;
    if (argc <= static_cast<size_t>(side) || napi_get_array_length(e, argv[side], &n) != napi_ok) {
      delete w;
      return throwError(e, "run(inputs, outputs): both are arrays of [name, tensor]");
    }
    auto& list = side == 0 ? w->inputs : w->outputs;
    for (uint32_t i = 0; i < n; i++) {
      napi_value entry;
      napi_get_element(e, argv[side], i, &entry);
      list.emplace_back();
      std::string error = readTensor(e, entry, list.back());
      if (!error.empty()) {
        for (auto* l : {&w->inputs, &w->outputs})
          for (auto& t : *l)
            if (t.keep) napi_delete_reference(e, t.keep);
        delete w;
        return throwError(e, error);
      }
    }
  }
  napi_value promise, name;
  NAPI_CALL(e, napi_create_promise(e, &w->deferred, &promise));
  napi_create_string_utf8(e, "prompt-r1:ort-run", NAPI_AUTO_LENGTH, &name);
  NAPI_CALL(e, napi_create_async_work(e, nullptr, name, executeRun, completeRun, w, &w->work));
  NAPI_CALL(e, napi_queue_async_work(e, w->work));
  return promise;
}

void finalizeDevice(napi_env, void* data, void*) { delete static_cast<DeviceMemory*>(data); }

napi_value allocate(napi_env e, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  SessionHandle* handle = handleOf(e, info, &argc, argv);
  if (!handle) return nullptr;
  auto session = handle->session;
  if (!session->cuda) return throwError(e, "allocate(): device memory is for CUDA sessions; on CPU use typed arrays");
  int64_t bytes = 0;
  if (argc < 1 || napi_get_value_int64(e, argv[0], &bytes) != napi_ok || bytes <= 0) return throwError(e, "allocate(bytes): a positive byte count");
  std::string error;
  {
    std::lock_guard<std::mutex> lock(session->mutex);
    if (!session->deviceAllocator) {
      OrtMemoryInfo* memory = nullptr;
      error = check(api->CreateMemoryInfo("Cuda", ort::DeviceAllocator, session->deviceId, ort::MemTypeDefault, &memory));
      if (error.empty()) error = check(api->CreateAllocator(session->session, memory, &session->deviceAllocator));
      if (memory) api->ReleaseMemoryInfo(memory);
    }
  }
  auto* memory = new DeviceMemory();
  memory->owner = session;
  memory->bytes = static_cast<size_t>(bytes);
  if (error.empty()) error = check(api->CreateTensorAsOrtValue(session->deviceAllocator, &bytes, 1, ort::UINT8, &memory->value));
  if (error.empty()) error = check(api->GetTensorMutableData(memory->value, &memory->data));
  if (!error.empty()) {
    delete memory;
    return throwError(e, "allocate(" + std::to_string(bytes) + "): " + error);
  }
  napi_value external;
  NAPI_CALL(e, napi_create_external(e, memory, finalizeDevice, nullptr, &external));
  return external;
}

napi_value endProfiling(napi_env e, napi_callback_info info) {
  size_t argc = 0;
  SessionHandle* handle = handleOf(e, info, &argc, nullptr);
  if (!handle) return nullptr;
  OrtAllocator* allocator = nullptr;
  char* file = nullptr;
  std::string error = check(api->GetAllocatorWithDefaultOptions(&allocator));
  if (error.empty()) error = check(api->SessionEndProfiling(handle->session->session, allocator, &file));
  if (!error.empty()) return throwError(e, error);
  napi_value v;
  napi_create_string_utf8(e, file, NAPI_AUTO_LENGTH, &v);
  api->AllocatorFree(allocator, file);
  return v;
}

// The statistics of the session's CPU arena (the shared one for sessions made with sharedArena), as
// onnxruntime's BFC arena keeps them: InUse, MaxInUse, TotalAllocated, NumAllocs, MaxAllocSize, ...
napi_value arenaStats(napi_env e, napi_callback_info info) {
  size_t argc = 0;
  SessionHandle* handle = handleOf(e, info, &argc, nullptr);
  if (!handle) return nullptr;
  OrtMemoryInfo* cpu = nullptr;
  OrtAllocator* allocator = nullptr;
  OrtKeyValuePairs* stats = nullptr;
  std::string error = check(api->CreateCpuMemoryInfo(ort::ArenaAllocator, ort::MemTypeDefault, &cpu));
  if (error.empty()) error = check(api->CreateAllocator(handle->session->session, cpu, &allocator));
  if (error.empty()) error = check(api->AllocatorGetStats(allocator, &stats));
  napi_value out;
  napi_create_object(e, &out);
  if (stats) {
    const char* const* keys = nullptr;
    const char* const* values = nullptr;
    size_t n = 0;
    api->GetKeyValuePairs(stats, &keys, &values, &n);
    for (size_t i = 0; i < n; i++) {
      napi_value v;
      napi_create_double(e, std::strtod(values[i], nullptr), &v);
      napi_set_named_property(e, out, keys[i], v);
    }
    api->ReleaseKeyValuePairs(stats);
  }
  if (allocator) api->ReleaseAllocator(allocator);
  if (cpu) api->ReleaseMemoryInfo(cpu);
  if (!error.empty()) return throwError(e, error);
  return out;
}

napi_value releaseSession(napi_env e, napi_callback_info info) {
  napi_value self;
  void* data = nullptr;
  napi_get_cb_info(e, info, nullptr, nullptr, &self, nullptr);
  napi_unwrap(e, self, &data);
  // runs in flight and device memory hold their own references; the session goes with the last
  if (data) static_cast<SessionHandle*>(data)->session.reset();
  napi_value undefined;
  napi_get_undefined(e, &undefined);
  return undefined;
}

void finalizeHandle(napi_env, void* data, void*) { delete static_cast<SessionHandle*>(data); }

// ---- create ----

struct CreateWork {
  std::string path, provider, profile;
  int intraThreads = 0, interThreads = 1, optimization = 99, deviceId = 0;
  bool memoryPattern = true, memoryReuse = true, sharedArena = false;
  std::shared_ptr<Session> session;
  struct Meta {
    std::string name;
    int type;
    std::vector<int64_t> dims;
  };
  std::vector<Meta> inputs, outputs;
  std::string error;
  napi_deferred deferred = nullptr;
  napi_async_work work = nullptr;
};

std::string describe(OrtSession* s, bool output, std::vector<CreateWork::Meta>& out) {
  size_t count = 0;
  std::string error = check(output ? api->SessionGetOutputCount(s, &count) : api->SessionGetInputCount(s, &count));
  OrtAllocator* allocator = nullptr;
  if (error.empty()) error = check(api->GetAllocatorWithDefaultOptions(&allocator));
  for (size_t i = 0; error.empty() && i < count; i++) {
    char* name = nullptr;
    error = check(output ? api->SessionGetOutputName(s, i, allocator, &name) : api->SessionGetInputName(s, i, allocator, &name));
    if (!error.empty()) break;
    CreateWork::Meta meta{name, 0, {}};
    api->AllocatorFree(allocator, name);
    OrtTypeInfo* typeInfo = nullptr;
    const OrtTensorTypeAndShapeInfo* tensorInfo = nullptr;
    size_t rank = 0;
    error = check(output ? api->SessionGetOutputTypeInfo(s, i, &typeInfo) : api->SessionGetInputTypeInfo(s, i, &typeInfo));
    if (error.empty()) error = check(api->CastTypeInfoToTensorInfo(typeInfo, &tensorInfo));
    if (error.empty() && tensorInfo) error = check(api->GetTensorElementType(tensorInfo, &meta.type));
    if (error.empty() && tensorInfo) error = check(api->GetDimensionsCount(tensorInfo, &rank));
    meta.dims.resize(rank);
    if (error.empty() && tensorInfo) error = check(api->GetDimensions(tensorInfo, meta.dims.data(), rank));
    if (typeInfo) api->ReleaseTypeInfo(typeInfo);
    out.push_back(meta);
  }
  return error;
}

// Linux: once a session has made its weights (prepacked into onnxruntime's own allocations, 4 KiB
// pages under the default transparent-huge-page mode "madvise"), the anonymous mappings that are
// almost wholly resident are collapsed into 2 MiB pages. A decode step streams every weight once,
// so with 4 KiB pages it pays a page walk per 4 KiB; on this VM that made steps slower and far more
// variable (bench notes in docs/engine.md). Best effort: an older kernel refuses and nothing changes.
void collapseResidentMappings() {
#ifdef __linux__
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  unsigned long start = 0, end = 0;
  bool candidate = false;
  auto consider = [&](unsigned long rssKb) {
    const unsigned long size = end - start;
    if (!candidate || size < (8ul << 20) || rssKb * 1024 < size / 10 * 9) return;
    void* address = reinterpret_cast<void*>(start);
    madvise(address, size, MADV_HUGEPAGE);
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
    madvise(address, size, MADV_COLLAPSE);
  };
  while (std::getline(smaps, line)) {
    if (line.empty()) continue;
    if (line.rfind("Rss:", 0) == 0) {
      consider(std::strtoul(line.c_str() + 4, nullptr, 10));
      candidate = false;
      continue;
    }
    // a mapping's header: "start-end perms offset dev inode [path]"; anonymous ones have inode 0 and no path
    const size_t dash = line.find('-');
    if (dash == std::string::npos || line.find(':') < dash) continue;
    std::istringstream header(line);
    std::string range, perms, offset, device, inode, path;
    header >> range >> perms >> offset >> device >> inode >> path;
    if (perms.size() != 4) continue;
    start = std::strtoul(range.c_str(), nullptr, 16);
    end = std::strtoul(range.c_str() + dash + 1, nullptr, 16);
    candidate = perms == "rw-p" && inode == "0" && path.empty();
  }
#endif
}

// Switches off the allocation planner's buffer reuse (onnxruntime's SessionOptions::enable_mem_reuse),
// which the C API does not expose (only the Python binding sets it). With it, a value is planned into
// the buffer of an earlier value of the same shape, which keeps that buffer from the earlier value's
// last use to the later value's end: in a train graph every layer's attention blocks are planned into
// the previous layer's, so one buffer per block size stays allocated across the run. A LoRA step of
// the 0.6B widths (4 layers, 8192 positions) peaked at 15.5 GB with it and 7.1 GB without, and ran in
// 136 against 92 s (onnxruntime 1.30's Python binding on the same graph). The flag is found rather
// than assumed: enable_mem_pattern, enable_mem_reuse and enable_cpu_mem_arena are adjacent bools of
// SessionOptions, the first member of OrtSessionOptions, so the byte the C API's DisableMemPattern
// clears and the byte DisableCpuMemArena clears must lie two apart with a set byte between them.
std::string disableMemoryReuse(OrtSessionOptions* options) {
  constexpr size_t SPAN = 256;  // well inside SessionOptions, which holds strings, maps and vectors
  auto* bytes = reinterpret_cast<unsigned char*>(options);
  auto clearedBy = [&](OrtStatus* (*clear)(OrtSessionOptions*), long& at) {
    unsigned char before[SPAN];
    std::memcpy(before, bytes, SPAN);
    std::string error = check(clear(options));
    at = -1;
    for (size_t i = 0; error.empty() && i < SPAN; i++) {
      if (before[i] == bytes[i]) continue;
      if (at >= 0 || before[i] != 1 || bytes[i] != 0) return std::string("more than one flag changed");
      at = static_cast<long>(i);
    }
    return error;
  };
  // both flags set (their defaults), then the byte each switch clears, then both set again
  long pattern = -1, arena = -1;
  std::string error = check(api->EnableMemPattern(options));
  if (error.empty()) error = check(api->EnableCpuMemArena(options));
  if (error.empty()) error = clearedBy(api->DisableMemPattern, pattern);
  if (error.empty()) error = clearedBy(api->DisableCpuMemArena, arena);
  if (error.empty()) error = check(api->EnableMemPattern(options));
  if (error.empty()) error = check(api->EnableCpuMemArena(options));
  if (!error.empty() || pattern < 0 || arena != pattern + 2 || bytes[pattern + 1] != 1) {
    return "cannot switch off onnxruntime's memory reuse: its session options are not laid out as in 1.30" + (error.empty() ? "" : " (" + error + ")");
  }
  bytes[pattern + 1] = 0;
  return "";
}

void executeCreate(napi_env, void* data) {
  auto* w = static_cast<CreateWork*>(data);
  OrtSessionOptions* options = nullptr;
  w->error = check(api->CreateSessionOptions(&options));
  auto step = [&](OrtStatus* status) {
    if (w->error.empty()) w->error = check(status);
    else if (status) api->ReleaseStatus(status);
  };
  if (w->error.empty()) {
    step(api->SetSessionLogSeverityLevel(options, ort::LOGGING_ERROR));
    step(api->SetSessionGraphOptimizationLevel(options, w->optimization));
    if (w->intraThreads > 0) step(api->SetIntraOpNumThreads(options, w->intraThreads));
    step(api->SetInterOpNumThreads(options, w->interThreads));
    if (!w->profile.empty()) step(api->EnableProfiling(options, w->profile.c_str()));
    // before the memory pattern's switch: finding the flag sets that one to its default
    if (!w->memoryReuse && w->error.empty()) w->error = disableMemoryReuse(options);
    if (!w->memoryPattern) step(api->DisableMemPattern(options));
    if (w->sharedArena) step(api->AddSessionConfigEntry(options, "session.use_env_allocators", "1"));
  }
  auto session = std::make_shared<Session>();
  if (w->error.empty() && w->provider == "cuda") {
    OrtCUDAProviderOptionsV2* cuda = nullptr;
    step(api->CreateCUDAProviderOptions(&cuda));
    if (cuda) {
      std::string device = std::to_string(w->deviceId);
      // TF32 off: float32 graphs compute in float32, as on CPU and in the reference checks
      const char* keys[] = {"device_id", "use_tf32"};
      const char* values[] = {device.c_str(), "0"};
      step(api->UpdateCUDAProviderOptions(cuda, keys, values, 2));
      step(api->SessionOptionsAppendExecutionProvider_CUDA_V2(options, cuda));
      api->ReleaseCUDAProviderOptions(cuda);
    }
    if (!w->error.empty()) w->error = "the CUDA execution provider cannot start: " + w->error;
    session->cuda = true;
    session->deviceId = w->deviceId;
  } else if (w->error.empty() && w->provider != "cpu") {
    w->error = "execution provider '" + w->provider + "' is not one of cpu, cuda";
  }
  if (w->error.empty()) step(api->CreateSession(env, w->path.c_str(), options, &session->session));
  if (w->error.empty() && !session->cuda) collapseResidentMappings();
  if (options) api->ReleaseSessionOptions(options);
  if (w->error.empty()) w->error = describe(session->session, false, w->inputs);
  if (w->error.empty()) w->error = describe(session->session, true, w->outputs);
  if (w->error.empty()) {
    for (auto& m : w->inputs) session->inputNames.push_back(m.name);
    for (auto& m : w->outputs) session->outputNames.push_back(m.name);
    w->session = session;
  }
}

napi_value metadata(napi_env e, const std::vector<CreateWork::Meta>& list) {
  napi_value array;
  napi_create_array_with_length(e, list.size(), &array);
  for (size_t i = 0; i < list.size(); i++) {
    napi_value item, name, type, dims;
    napi_create_object(e, &item);
    napi_create_string_utf8(e, list[i].name.c_str(), NAPI_AUTO_LENGTH, &name);
    napi_create_string_utf8(e, typeName(list[i].type), NAPI_AUTO_LENGTH, &type);
    napi_create_array_with_length(e, list[i].dims.size(), &dims);
    for (size_t d = 0; d < list[i].dims.size(); d++) {
      napi_value dim;
      napi_create_int64(e, list[i].dims[d], &dim);
      napi_set_element(e, dims, d, dim);
    }
    napi_set_named_property(e, item, "name", name);
    napi_set_named_property(e, item, "type", type);
    napi_set_named_property(e, item, "dims", dims);
    napi_set_element(e, array, i, item);
  }
  return array;
}

void completeCreate(napi_env e, napi_status, void* data) {
  auto* w = static_cast<CreateWork*>(data);
  if (w->error.empty()) {
    napi_value object, fn;
    napi_create_object(e, &object);
    auto* handle = new SessionHandle{w->session};
    napi_wrap(e, object, handle, finalizeHandle, nullptr, nullptr);
    napi_create_function(e, "run", NAPI_AUTO_LENGTH, run, nullptr, &fn);
    napi_set_named_property(e, object, "run", fn);
    napi_create_function(e, "allocate", NAPI_AUTO_LENGTH, allocate, nullptr, &fn);
    napi_set_named_property(e, object, "allocate", fn);
    napi_create_function(e, "endProfiling", NAPI_AUTO_LENGTH, endProfiling, nullptr, &fn);
    napi_set_named_property(e, object, "endProfiling", fn);
    napi_create_function(e, "arenaStats", NAPI_AUTO_LENGTH, arenaStats, nullptr, &fn);
    napi_set_named_property(e, object, "arenaStats", fn);
    napi_create_function(e, "release", NAPI_AUTO_LENGTH, releaseSession, nullptr, &fn);
    napi_set_named_property(e, object, "release", fn);
    napi_set_named_property(e, object, "inputs", metadata(e, w->inputs));
    napi_set_named_property(e, object, "outputs", metadata(e, w->outputs));
    napi_resolve_deferred(e, w->deferred, object);
  } else {
    napi_value message, error;
    napi_create_string_utf8(e, w->error.c_str(), NAPI_AUTO_LENGTH, &message);
    napi_create_error(e, nullptr, message, &error);
    napi_reject_deferred(e, w->deferred, error);
  }
  napi_delete_async_work(e, w->work);
  delete w;
}

int intOption(napi_env e, napi_value options, const char* key, int fallback) {
  bool has = false;
  napi_has_named_property(e, options, key, &has);
  if (!has) return fallback;
  napi_value v;
  int32_t value = fallback;
  napi_get_named_property(e, options, key, &v);
  napi_valuetype kind;
  napi_typeof(e, v, &kind);
  if (kind == napi_number) napi_get_value_int32(e, v, &value);
  return value;
}

napi_value createSession(napi_env e, napi_callback_info info) {
  if (!api) return throwError(e, loadError);
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(e, info, &argc, argv, nullptr, nullptr);
  size_t length = 0;
  if (argc < 2 || napi_get_value_string_utf8(e, argv[0], nullptr, 0, &length) != napi_ok) return throwError(e, "createSession(path, options)");
  auto* w = new CreateWork();
  w->path.resize(length);
  napi_get_value_string_utf8(e, argv[0], w->path.data(), length + 1, &length);
  w->intraThreads = intOption(e, argv[1], "intraThreads", 0);
  w->interThreads = intOption(e, argv[1], "interThreads", 1);
  w->optimization = intOption(e, argv[1], "optimization", 99);
  w->deviceId = intOption(e, argv[1], "deviceId", 0);
  w->memoryPattern = intOption(e, argv[1], "memoryPattern", 1) != 0;
  w->memoryReuse = intOption(e, argv[1], "memoryReuse", 1) != 0;
  w->sharedArena = intOption(e, argv[1], "sharedArena", 0) != 0;
  w->provider = "cpu";
  bool has = false;
  napi_has_named_property(e, argv[1], "profile", &has);
  if (has) {
    napi_value v;
    size_t n = 0;
    napi_get_named_property(e, argv[1], "profile", &v);
    if (napi_get_value_string_utf8(e, v, nullptr, 0, &n) == napi_ok) {
      w->profile.resize(n);
      napi_get_value_string_utf8(e, v, w->profile.data(), n + 1, &n);
    }
  }
  has = false;
  napi_has_named_property(e, argv[1], "provider", &has);
  if (has) {
    napi_value v;
    char buffer[32] = {0};
    napi_get_named_property(e, argv[1], "provider", &v);
    if (napi_get_value_string_utf8(e, v, buffer, sizeof buffer, &length) == napi_ok) w->provider = buffer;
  }
  napi_value promise, name;
  NAPI_CALL(e, napi_create_promise(e, &w->deferred, &promise));
  napi_create_string_utf8(e, "prompt-r1:ort-create", NAPI_AUTO_LENGTH, &name);
  NAPI_CALL(e, napi_create_async_work(e, nullptr, name, executeCreate, completeCreate, w, &w->work));
  NAPI_CALL(e, napi_queue_async_work(e, w->work));
  return promise;
}

napi_value version(napi_env e, napi_callback_info) {
  napi_value v;
  napi_create_string_utf8(e, OrtGetApiBase()->GetVersionString(), NAPI_AUTO_LENGTH, &v);
  return v;
}

napi_value init(napi_env e, napi_value exports) {
  const char* found = OrtGetApiBase()->GetVersionString();
  if (std::strcmp(found, ort::LIBRARY_VERSION) != 0) {
    loadError = std::string("the engine's native module was built for onnxruntime ") + ort::LIBRARY_VERSION + ", the loaded library is " + found;
  } else if (const OrtApi* table = OrtGetApiBase()->GetApi(ort::API_VERSION)) {
    static ort::Api bound(table);
    api = &bound;
    // every failure reaches the caller as the error of its call; the log would only repeat it on stderr
    std::string error = check(api->CreateEnv(ort::LOGGING_FATAL, "prompt-r1", &env));
    // The CPU arena that sessions made with sharedArena use together (session.use_env_allocators):
    // what one session's run has freed, the next session's run reuses, so the train, logprob and
    // warm-start sessions of every packed length cost the largest run's memory, not their sum. Its
    // default growth (to the next power of two) is kept: growing by what is asked (kSameAsRequested)
    // peaked higher for a LoRA step of the 0.6B geometry at 8192 positions (18.4 against 17.7 GB).
    OrtMemoryInfo* cpu = nullptr;
    if (error.empty()) error = check(api->CreateCpuMemoryInfo(ort::ArenaAllocator, ort::MemTypeDefault, &cpu));
    if (error.empty()) error = check(api->CreateAndRegisterAllocator(env, cpu, nullptr));
    if (cpu) api->ReleaseMemoryInfo(cpu);
    if (!error.empty()) {
      loadError = "onnxruntime: " + error;
      api = nullptr;
    }
  } else {
    loadError = "onnxruntime does not offer C API version 30";
  }
  napi_value fn;
  napi_create_function(e, "createSession", NAPI_AUTO_LENGTH, createSession, nullptr, &fn);
  napi_set_named_property(e, exports, "createSession", fn);
  napi_create_function(e, "version", NAPI_AUTO_LENGTH, version, nullptr, &fn);
  napi_set_named_property(e, exports, "version", fn);
  napi_create_function(e, "sampleFiltered", NAPI_AUTO_LENGTH, sampleFiltered, nullptr, &fn);
  napi_set_named_property(e, exports, "sampleFiltered", fn);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
