// One alert, and many alerts in parallel (no Python): cutouts + features into model-ready rows. Outputs
// are written per alert index, so threads never share a slot. A failed alert gets a status, a message
// and zeros in its output rows (the rule every Batch follows).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bts_filter.hpp"
#include "cutout.hpp"
#include "features.hpp"
#include "status.hpp"

namespace btsbot {

// What preprocessing needs of one alert (views; nothing is owned).
struct AlertInput {
    Blob stamps[kChannels];
    const double* candidate = nullptr;  // kNumCandidateColumns values
    PresentMask present = 0;            // see features.hpp
    History history;
};

// A failed alert's output rows: zeros (`triplet`: 63*63*3 floats, `metadata`: 25).
void zero_outputs(float* triplet, float* metadata);

// The candidate record first (no candidate: MISSING_FIELD before any cutout is read), then the three
// cutouts, then the features; the first failure wins. `triplet` holds 63*63*3 floats, `metadata` 25.
// `bts` gets the BTS filter's verdict whatever the status (it needs only the candidate and history).
Status preprocess_alert(const AlertInput& alert, StampScratch& scratch, float* triplet, float* metadata,
                        BtsVerdict& bts, std::string& message);

// Columns of N alerts: alert i owns history items [hist_offsets[i], hist_offsets[i+1]).
struct AlertColumns {
    std::size_t n = 0;
    const Blob* stamps[kChannels] = {nullptr, nullptr, nullptr};
    const double* candidate = nullptr;           // n x kNumCandidateColumns, row-major
    const PresentMask* present = nullptr;        // n
    const std::int64_t* hist_offsets = nullptr;  // n + 1
    const double* hist_jd = nullptr;
    const double* hist_magpsf = nullptr;
    const double* hist_fid = nullptr;
    const std::uint8_t* hist_flags = nullptr;

    AlertInput alert(std::size_t i) const;  // needs the stamps
    History history(std::size_t i) const;
};

// Per-alert outcome arrays, owned by the caller and sized n.
struct BatchResult {
    std::uint8_t* status;                // n codes (Status)
    std::vector<std::string>* messages;  // resized to n by the callee; "" when ok
};

// out: n x 63 x 63 x 3 and n x 25 floats, n BTS verdicts.
void preprocess_batch(const AlertColumns& alerts, float* triplets_out, float* metadata_out, BtsVerdict* bts_out,
                      BatchResult result, int n_threads);

// The stages alone (per-stage tests and benchmarks): cutouts only (failed slots NaN-filled), features only
// (reads no stamps: they may be null).
void prepare_triplets_batch(const AlertColumns& alerts, float* out, BatchResult result, int n_threads);
void compute_features_batch(const AlertColumns& alerts, float* out, BatchResult result);

}  // namespace btsbot
