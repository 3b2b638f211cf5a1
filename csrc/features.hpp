// The 25 btsbot-v1 metadata features (spec section 3), from candidate values and the detection history.
//
// Missing data (the one rule, README "How it works"; the NumPy twin applies the same): a value is either
// null (absent from the packet: an Avro null, a field the writer schema lacks, a Parquet null) or a
// number. Null is what the spec calls missing: a null required candidate field fails the alert
// (MISSING_FIELD naming it; drb falls back to rb); a null prv_candidates item or an item with a null
// magpsf is not a detection; a detection with a null jd fails the alert. NaN and +-inf are numbers, as in
// the production broker (it tests `is not None`): they enter the arithmetic with IEEE semantics, NaN
// never wins a comparison, and first_alert_jd = min(jdstarthist, min(jd, detection jds...)) with
// Python's min (a later value replaces the running one only when strictly smaller). A non-finite feature
// reaches the model, and a non-finite score becomes MODEL_ERROR there.
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

// `present` mask of a candidate: bit k set = column k is not null; kCandidateRecordBit = the candidate
// record itself is present (without it every column is absent and the alert has no candidate).
inline constexpr std::uint32_t kCandidateRecordBit = 1u << 31;
static_assert(kNumCandidateColumns < 31, "candidate columns must fit the present mask");

// Per history item flags: the item is not null, its jd is not null, its magpsf is not null.
inline constexpr std::uint8_t kHistItem = 1;
inline constexpr std::uint8_t kHistJd = 2;
inline constexpr std::uint8_t kHistMag = 4;

// Model input order: btsbot_fast/prep/variant.py FEATURE_NAMES.
inline constexpr std::size_t kNumFeatures = 25;
extern const char* const kFeatureNames[kNumFeatures];

// One alert's history: `n` prv_candidates items in packet order (values of null fields are ignored).
struct History {
    const double* jd = nullptr;
    const double* magpsf = nullptr;
    const std::uint8_t* flags = nullptr;
    std::size_t n = 0;
};

// Computes in float64 and stores float32 into out[0..25). On a missing candidate, a null required field
// or a detection without jd returns MISSING_FIELD with "missing field: ..." and fills `out` with NaN.
Status compute_features(const double* candidate, std::uint32_t present, const History& history, float* out,
                        std::string& error);

}  // namespace btsbot
