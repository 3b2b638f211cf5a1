// The 25 btsbot-v1 metadata features (spec section 3), from candidate values and the detection history.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "status.hpp"

namespace btsbot {

// Column order of the candidate matrix: btsbot_fast/prep/variant.py CANDIDATE_COLUMNS (a test checks).
enum CandidateColumn : std::size_t {
    kColJd, kColJdStartHist, kColSgscore1, kColDistpsnr1, kColSgscore2, kColDistpsnr2, kColFwhm,
    kColMagpsf, kColSigmapsf, kColChipsf, kColRa, kColDec, kColDiffmaglim, kColNdethist, kColNmtchps,
    kColDrb, kColRb, kColNcovhist, kColChinr, kColSharpnr, kColScorr, kColSky,
    // not a feature input: reported beside the score (autoscan keeps per-source history by filter)
    kColFid,
    kNumCandidateColumns
};
// Columns [0, kNumFeatureInputColumns) feed compute_features; the rest are row information only.
inline constexpr std::size_t kNumFeatureInputColumns = kColFid;
extern const char* const kCandidateColumnNames[kNumCandidateColumns];

// Model input order: btsbot_fast/prep/variant.py FEATURE_NAMES.
inline constexpr std::size_t kNumFeatures = 25;
extern const char* const kFeatureNames[kNumFeatures];

// One alert. `candidate` holds kNumCandidateColumns float64 values (NaN = null); the history holds
// `n_hist` (jd, magpsf) pairs in packet order, magpsf NaN marking a non-detection (skipped).
// Computes in float64 and stores float32 into out[0..25). On a null required field returns
// MISSING_FIELD with "missing field: candidate.<name>" and fills `out` with NaN.
Status compute_features(const double* candidate, const double* hist_jd, const double* hist_magpsf,
                        std::size_t n_hist, float* out, std::string& error);

}  // namespace btsbot
