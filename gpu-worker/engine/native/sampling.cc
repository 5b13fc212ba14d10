// Top-k / top-p sampling of one row of weights (sampling.ts, sampleToken), in C++ because at a
// vocabulary of 151936 the JavaScript loops cost a large share of a decode step at batch 32. The
// algorithm and its arithmetic are exactly those of test/engine/sampling-reference.ts, whose
// tokens and totals it reproduces bit for bit (test/engine/sampling.test.ts):
//   1. one pass buckets the weights by their float32 exponent and top 8 mantissa bits (a larger
//      bucket holds larger weights), counting them and summing their weights in float64;
//   2. the top-k pool is the buckets above the one where the k-th heaviest falls, plus that
//      bucket's heaviest members; the nucleus is the heaviest buckets of the pool until topP of its
//      weight, then the members of the bucket where that happens, heaviest first (ties to the lower
//      id): only those one or two buckets are ever sorted;
//   3. the draw walks the vocabulary in order and stops at the kept token where the cumulative
//      weight passes u times the kept total.
//   sampleFiltered(weights: Float32Array, weightSum, topK, topP, u, out: Float64Array(2))
//     -> out[0] = the token, out[1] = the kept set's total weight
#include "sampling.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace {

constexpr int BUCKET_SHIFT = 15;
constexpr int BUCKETS = 1 << 16;

struct Kept {
  int above;                 // every token of a bucket above this one is kept
  std::vector<int32_t> extra;  // and these (ascending ids, of bucket `above` or below)
  double total;
};

inline int bucketOf(const uint32_t* bits, size_t i) { return static_cast<int>(bits[i] >> BUCKET_SHIFT); }

// the members of bucket b, heaviest first, ties to the lower id
std::vector<int32_t> sortedBucket(const float* w, const uint32_t* bits, size_t n, int b) {
  std::vector<int32_t> members;
  for (size_t i = 0; i < n; i++)
    if (bucketOf(bits, i) == b) members.push_back(static_cast<int32_t>(i));
  std::sort(members.begin(), members.end(), [w](int32_t x, int32_t y) { return w[x] > w[y] || (w[x] == w[y] && x < y); });
  return members;
}

Kept keptTokens(const float* w, size_t n, double weightSum, long topK, double topP) {
  const uint32_t* bits = reinterpret_cast<const uint32_t*>(w);
  // one call at a time per thread: the histogram is reused, zero again between [lowest, highest]
  // after each call; counts only for top-k
  static thread_local std::vector<uint32_t> count(BUCKETS);
  static thread_local std::vector<double> mass(BUCKETS);
  const bool counted = topK > 0 && static_cast<size_t>(topK) < n;
  int lowest = BUCKETS - 1, highest = 0;
  for (size_t i = 0; i < n; i++) {
    const int b = bucketOf(bits, i);
    if (counted) count[b]++;
    mass[b] += w[i];
    lowest = std::min(lowest, b);
    highest = std::max(highest, b);
  }
  struct Clear {
    int lowest, highest;
    ~Clear() {
      std::fill(count.begin() + lowest, count.begin() + highest + 1, 0);
      std::fill(mass.begin() + lowest, mass.begin() + highest + 1, 0.0);
    }
  } clear{lowest, highest};
  // the walks down the buckets start at the highest one: above it every bucket is empty, and an
  // empty bucket changes no sum or comparison of the reference's walks from the top
  int edge = -1;
  std::vector<int32_t> edgeMembers;
  if (counted) {
    double taken = 0;
    for (int b = highest; b >= 0; b--) {
      if (taken + count[b] >= static_cast<double>(topK)) {
        edge = b;
        edgeMembers = sortedBucket(w, bits, n, b);
        edgeMembers.resize(static_cast<size_t>(topK - taken));
        break;
      }
      taken += count[b];
    }
  }
  double poolTotal = weightSum;
  if (edge >= 0) {
    poolTotal = 0;
    for (int32_t i : edgeMembers) poolTotal += w[i];
    for (int b = highest; b > edge; b--) poolTotal += mass[b];
  }
  if (topP >= 1) {
    std::sort(edgeMembers.begin(), edgeMembers.end());
    return {edge, edgeMembers, poolTotal};
  }
  const double goal = topP * poolTotal;
  int above = edge;
  double acc = 0;
  for (int b = highest; b > edge; b--) {
    if (acc + mass[b] >= goal) {
      above = b;
      break;
    }
    acc += mass[b];
  }
  std::vector<int32_t> boundary;
  for (int32_t i : above == edge ? edgeMembers : sortedBucket(w, bits, n, above)) {
    boundary.push_back(i);
    acc += w[i];
    if (acc >= goal) break;
  }
  std::sort(boundary.begin(), boundary.end());
  return {above, boundary, acc};
}

int drawKept(const float* w, size_t n, const Kept& kept, double u) {
  const uint32_t* bits = reinterpret_cast<const uint32_t*>(w);
  double target = u * kept.total;
  size_t e = 0;
  int last = -1;
  for (size_t i = 0; i < n; i++) {
    // extra holds no token of a bucket above `above`, so its pointer moves only on its own ids
    bool keptHere = bucketOf(bits, i) > kept.above;
    if (!keptHere && e < kept.extra.size() && static_cast<size_t>(kept.extra[e]) == i) {
      keptHere = true;
      e++;
    }
    if (keptHere) {
      last = static_cast<int>(i);
      target -= w[i];
      if (target < 0) return static_cast<int>(i);
    }
  }
  return last;  // rounding left target at 0 or above: the last kept token
}

napi_value fail(napi_env e, const char* message) {
  napi_throw_type_error(e, nullptr, message);
  return nullptr;
}

}  // namespace

napi_value sampleFiltered(napi_env e, napi_callback_info info) {
  size_t argc = 6;
  napi_value args[6];
  if (napi_get_cb_info(e, info, &argc, args, nullptr, nullptr) != napi_ok || argc != 6) return fail(e, "sampleFiltered(weights, weightSum, topK, topP, u, out)");
  napi_typedarray_type type;
  size_t length;
  void* data;
  if (napi_get_typedarray_info(e, args[0], &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_float32_array) return fail(e, "weights must be a Float32Array");
  double weightSum, topP, u;
  int64_t topK;
  if (napi_get_value_double(e, args[1], &weightSum) != napi_ok || napi_get_value_int64(e, args[2], &topK) != napi_ok ||
      napi_get_value_double(e, args[3], &topP) != napi_ok || napi_get_value_double(e, args[4], &u) != napi_ok)
    return fail(e, "weightSum, topK, topP and u must be numbers");
  size_t outLength;
  void* outData;
  if (napi_get_typedarray_info(e, args[5], &type, &outLength, &outData, nullptr, nullptr) != napi_ok || type != napi_float64_array || outLength < 2)
    return fail(e, "out must be a Float64Array of 2");
  const float* w = static_cast<const float*>(data);
  const Kept kept = keptTokens(w, length, weightSum, static_cast<long>(topK), topP);
  double* out = static_cast<double*>(outData);
  out[0] = drawKept(w, length, kept, u);
  out[1] = kept.total;
  return nullptr;
}
