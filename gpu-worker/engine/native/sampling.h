// Top-k / top-p sampling of one row of weights (sampling.cc).
#pragma once
#include <node_api.h>

napi_value sampleFiltered(napi_env e, napi_callback_info info);
