// The part of onnxruntime's C API this addon calls, declared from the API's published layout:
// `OrtGetApiBase()->GetApi(30)` returns a table of function pointers whose order is fixed across
// releases (members are only ever appended). The indices below are those of onnxruntime 1.30
// (API version 30), each checked against the libonnxruntime.so.1 that onnxruntime-node 1.30.0
// ships; the addon refuses any other library version at load time.
#pragma once
#include <cstddef>
#include <cstdint>

extern "C" {
struct OrtStatus;
struct OrtEnv;
struct OrtSession;
struct OrtSessionOptions;
struct OrtValue;
struct OrtMemoryInfo;
struct OrtAllocator;
struct OrtArenaCfg;
struct OrtTypeInfo;
struct OrtTensorTypeAndShapeInfo;
struct OrtRunOptions;
struct OrtCUDAProviderOptionsV2;
struct OrtKeyValuePairs;

struct OrtApi;
struct OrtApiBase {
  const OrtApi* (*GetApi)(uint32_t version);
  const char* (*GetVersionString)(void);
};
const OrtApiBase* OrtGetApiBase(void);
}

namespace ort {

constexpr uint32_t API_VERSION = 30;
constexpr const char* LIBRARY_VERSION = "1.30.0";

enum ElementType : int { FLOAT = 1, UINT8 = 2, INT8 = 3, UINT16 = 4, INT16 = 5, INT32 = 6, INT64 = 7, BOOL = 9, FLOAT16 = 10, DOUBLE = 11 };
enum AllocatorType : int { DeviceAllocator = 0, ArenaAllocator = 1 };
enum MemType : int { MemTypeDefault = 0 };
enum LoggingLevel : int { LOGGING_WARNING = 2, LOGGING_ERROR = 3, LOGGING_FATAL = 4 };

// The functions used, bound from the table by index (a comment gives each index).
struct Api {
  const OrtApi* table;
  // 1, 2
  int (*GetErrorCode)(const OrtStatus*);
  const char* (*GetErrorMessage)(const OrtStatus*);
  // 3
  OrtStatus* (*CreateEnv)(int level, const char* logid, OrtEnv** out);
  // 7
  OrtStatus* (*CreateSession)(const OrtEnv*, const char* path, const OrtSessionOptions*, OrtSession** out);
  // 9
  OrtStatus* (*Run)(OrtSession*, const OrtRunOptions*, const char* const* input_names, const OrtValue* const* inputs, size_t input_len,
                    const char* const* output_names, size_t output_len, OrtValue** outputs);
  // 10, 14
  OrtStatus* (*CreateSessionOptions)(OrtSessionOptions** out);
  OrtStatus* (*EnableProfiling)(OrtSessionOptions*, const char* prefix);
  // 16, 17, 18, 19
  OrtStatus* (*EnableMemPattern)(OrtSessionOptions*);
  OrtStatus* (*DisableMemPattern)(OrtSessionOptions*);
  OrtStatus* (*EnableCpuMemArena)(OrtSessionOptions*);
  OrtStatus* (*DisableCpuMemArena)(OrtSessionOptions*);
  // 22, 23, 24, 25
  OrtStatus* (*SetSessionLogSeverityLevel)(OrtSessionOptions*, int level);
  OrtStatus* (*SetSessionGraphOptimizationLevel)(OrtSessionOptions*, int level);
  OrtStatus* (*SetIntraOpNumThreads)(OrtSessionOptions*, int threads);
  OrtStatus* (*SetInterOpNumThreads)(OrtSessionOptions*, int threads);
  // 30, 31, 33, 34, 36, 37
  OrtStatus* (*SessionGetInputCount)(const OrtSession*, size_t* out);
  OrtStatus* (*SessionGetOutputCount)(const OrtSession*, size_t* out);
  OrtStatus* (*SessionGetInputTypeInfo)(const OrtSession*, size_t index, OrtTypeInfo** out);
  OrtStatus* (*SessionGetOutputTypeInfo)(const OrtSession*, size_t index, OrtTypeInfo** out);
  OrtStatus* (*SessionGetInputName)(const OrtSession*, size_t index, OrtAllocator*, char** out);
  OrtStatus* (*SessionGetOutputName)(const OrtSession*, size_t index, OrtAllocator*, char** out);
  // 39, 46
  OrtStatus* (*CreateRunOptions)(OrtRunOptions** out);
  OrtStatus* (*RunOptionsSetTerminate)(OrtRunOptions*);
  // 48, 49, 51
  OrtStatus* (*CreateTensorAsOrtValue)(OrtAllocator*, const int64_t* shape, size_t shape_len, int type, OrtValue** out);
  OrtStatus* (*CreateTensorWithDataAsOrtValue)(const OrtMemoryInfo*, void* data, size_t data_len, const int64_t* shape, size_t shape_len,
                                               int type, OrtValue** out);
  OrtStatus* (*GetTensorMutableData)(OrtValue*, void** out);
  // 55, 60, 61, 62
  OrtStatus* (*CastTypeInfoToTensorInfo)(const OrtTypeInfo*, const OrtTensorTypeAndShapeInfo** out);
  OrtStatus* (*GetTensorElementType)(const OrtTensorTypeAndShapeInfo*, int* out);
  OrtStatus* (*GetDimensionsCount)(const OrtTensorTypeAndShapeInfo*, size_t* out);
  OrtStatus* (*GetDimensions)(const OrtTensorTypeAndShapeInfo*, int64_t* dims, size_t length);
  // 68, 69, 76, 78
  OrtStatus* (*CreateMemoryInfo)(const char* name, int allocator_type, int device_id, int mem_type, OrtMemoryInfo** out);
  OrtStatus* (*CreateCpuMemoryInfo)(int allocator_type, int mem_type, OrtMemoryInfo** out);
  OrtStatus* (*AllocatorFree)(OrtAllocator*, void* p);
  OrtStatus* (*GetAllocatorWithDefaultOptions)(OrtAllocator** out);
  // 93 - 100: releases
  void (*ReleaseStatus)(OrtStatus*);
  void (*ReleaseMemoryInfo)(OrtMemoryInfo*);
  void (*ReleaseSession)(OrtSession*);
  void (*ReleaseValue)(OrtValue*);
  void (*ReleaseRunOptions)(OrtRunOptions*);
  void (*ReleaseTypeInfo)(OrtTypeInfo*);
  void (*ReleaseSessionOptions)(OrtSessionOptions*);
  // 110
  OrtStatus* (*SessionEndProfiling)(OrtSession*, OrtAllocator*, char** out);
  // 130, 131, 132
  OrtStatus* (*AddSessionConfigEntry)(OrtSessionOptions*, const char* key, const char* value);
  OrtStatus* (*CreateAllocator)(const OrtSession*, const OrtMemoryInfo*, OrtAllocator** out);
  void (*ReleaseAllocator)(OrtAllocator*);
  // 144
  OrtStatus* (*CreateAndRegisterAllocator)(OrtEnv*, const OrtMemoryInfo*, const OrtArenaCfg* arena_cfg);
  // 204, 205, 206, 208
  OrtStatus* (*SessionOptionsAppendExecutionProvider_CUDA_V2)(OrtSessionOptions*, const OrtCUDAProviderOptionsV2*);
  OrtStatus* (*CreateCUDAProviderOptions)(OrtCUDAProviderOptionsV2** out);
  OrtStatus* (*UpdateCUDAProviderOptions)(OrtCUDAProviderOptionsV2*, const char* const* keys, const char* const* values, size_t n);
  void (*ReleaseCUDAProviderOptions)(OrtCUDAProviderOptionsV2*);
  // 298, 300
  void (*GetKeyValuePairs)(const OrtKeyValuePairs*, const char* const** keys, const char* const** values, size_t* n);
  void (*ReleaseKeyValuePairs)(OrtKeyValuePairs*);
  // 319
  OrtStatus* (*AllocatorGetStats)(const OrtAllocator*, OrtKeyValuePairs** out);
  // 386
  OrtStatus* (*CopyTensors)(const OrtEnv*, const OrtValue* const* src, OrtValue* const* dst, void* stream, size_t n);

  explicit Api(const OrtApi* t) : table(t) {
    auto at = [t](int i) { return reinterpret_cast<void* const*>(t)[i]; };
#define BIND(MEMBER, INDEX) MEMBER = reinterpret_cast<decltype(MEMBER)>(at(INDEX))
    BIND(GetErrorCode, 1);
    BIND(GetErrorMessage, 2);
    BIND(CreateEnv, 3);
    BIND(CreateSession, 7);
    BIND(Run, 9);
    BIND(CreateSessionOptions, 10);
    BIND(EnableProfiling, 14);
    BIND(EnableMemPattern, 16);
    BIND(DisableMemPattern, 17);
    BIND(EnableCpuMemArena, 18);
    BIND(DisableCpuMemArena, 19);
    BIND(SetSessionLogSeverityLevel, 22);
    BIND(SetSessionGraphOptimizationLevel, 23);
    BIND(SetIntraOpNumThreads, 24);
    BIND(SetInterOpNumThreads, 25);
    BIND(SessionGetInputCount, 30);
    BIND(SessionGetOutputCount, 31);
    BIND(SessionGetInputTypeInfo, 33);
    BIND(SessionGetOutputTypeInfo, 34);
    BIND(SessionGetInputName, 36);
    BIND(SessionGetOutputName, 37);
    BIND(CreateRunOptions, 39);
    BIND(RunOptionsSetTerminate, 46);
    BIND(CreateTensorAsOrtValue, 48);
    BIND(CreateTensorWithDataAsOrtValue, 49);
    BIND(GetTensorMutableData, 51);
    BIND(CastTypeInfoToTensorInfo, 55);
    BIND(GetTensorElementType, 60);
    BIND(GetDimensionsCount, 61);
    BIND(GetDimensions, 62);
    BIND(CreateMemoryInfo, 68);
    BIND(CreateCpuMemoryInfo, 69);
    BIND(AllocatorFree, 76);
    BIND(GetAllocatorWithDefaultOptions, 78);
    BIND(ReleaseStatus, 93);
    BIND(ReleaseMemoryInfo, 94);
    BIND(ReleaseSession, 95);
    BIND(ReleaseValue, 96);
    BIND(ReleaseRunOptions, 97);
    BIND(ReleaseTypeInfo, 98);
    BIND(ReleaseSessionOptions, 100);
    BIND(SessionEndProfiling, 110);
    BIND(AddSessionConfigEntry, 130);
    BIND(CreateAllocator, 131);
    BIND(ReleaseAllocator, 132);
    BIND(CreateAndRegisterAllocator, 144);
    BIND(SessionOptionsAppendExecutionProvider_CUDA_V2, 204);
    BIND(CreateCUDAProviderOptions, 205);
    BIND(UpdateCUDAProviderOptions, 206);
    BIND(ReleaseCUDAProviderOptions, 208);
    BIND(GetKeyValuePairs, 298);
    BIND(ReleaseKeyValuePairs, 300);
    BIND(AllocatorGetStats, 319);
    BIND(CopyTensors, 386);
#undef BIND
  }
};

}  // namespace ort
