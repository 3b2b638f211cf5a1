// Batch entry points over many alerts (threaded, no Python). Outputs are written per alert index, so
// threads never share a slot. A failed alert gets a status, a message and NaN in its output rows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cutout.hpp"
#include "features.hpp"
#include "status.hpp"

namespace btsbot {

// Per-alert outcome arrays, owned by the caller and sized n.
struct BatchResult {
    std::uint8_t* status;               // n codes (Status)
    std::vector<std::string>* messages;  // resized to n by the callee; "" when ok
};

// Views of the history columns: alert i owns [offsets[i], offsets[i+1]) of jd/magpsf.
struct HistoryView {
    const std::int64_t* offsets;  // n + 1
    const double* jd;
    const double* magpsf;
};

// out: n x 63 x 63 x 3 floats.
void prepare_triplets_batch(const Blob* science, const Blob* tmpl, const Blob* difference, std::size_t n,
                            float* out, BatchResult result, int n_threads);

// candidate: n x kNumCandidateColumns (row-major); out: n x kNumFeatures.
void compute_features_batch(const double* candidate, HistoryView history, std::size_t n, float* out,
                            BatchResult result, int n_threads);

// Both in one pass; the first failure (cutouts first) wins and NaN-fills both output rows.
void preprocess_batch(const Blob* science, const Blob* tmpl, const Blob* difference, const double* candidate,
                      HistoryView history, std::size_t n, float* triplets_out, float* metadata_out,
                      BatchResult result, int n_threads);

}  // namespace btsbot
