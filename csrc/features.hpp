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
    kColJd,
    kColJdStartHist,
    kColSgscore1,
    kColDistpsnr1,
    kColSgscore2,
    kColDistpsnr2,
    kColFwhm,
    kColMagpsf,
    kColSigmapsf,
    kColChipsf,
    kColRa,
    kColDec,
    kColDiffmaglim,
    kColNdethist,
    kColNmtchps,
    kColDrb,
    kColRb,
    kColNcovhist,
    kColChinr,
    kColSharpnr,
    kColScorr,
    kColSky,
    // not feature inputs: fid is reported beside the score (autoscan keeps per-source history by filter);
    // fid and the rest feed the BTS candidate filter (bts_filter.hpp). isdiffpos is a string in the packet:
    // its column holds 1 when it is 't' or '1' (a positive subtraction), else 0.
    kColFid,
    kColIsdiffpos,
    kColSgscore3,
    kColDistpsnr3,
    kColSrmag1,
    kColSrmag2,
    kColSrmag3,
    kColSgmag1,
    kColSimag1,
    kColSzmag1,
    kColMagnr,
    kColDistnr,
    kColNeargaia,
    kColMaggaia,
    kColNeargaiabright,
    kColMaggaiabright,
    kColSsdistnr,
    kColSsmagnr,
    kNumCandidateColumns
};
// Columns [0, kNumFeatureInputColumns) feed compute_features; the rest are row information only.
inline constexpr std::size_t kNumFeatureInputColumns = kColFid;
// The candidate values reported beside each score (the score row's candidate columns), in the order of
// btsbot_fast/prep/variant.py ROW_INFO.
inline constexpr CandidateColumn kRowInfo[] = {kColJd, kColRa, kColDec, kColMagpsf, kColFid};
inline constexpr std::size_t kRowInfoColumns = sizeof(kRowInfo) / sizeof(kRowInfo[0]);
extern const char* const kCandidateColumnNames[kNumCandidateColumns];

// `present` mask of a candidate (uint64): bit k set = column k is not null; kCandidateRecordBit = the
// candidate record itself is present (without it every column is absent and the alert has no candidate).
// Bits kPrvLacksShift + j (j: kPrvLacksIsdiffpos ...): a non-null prv_candidates item of this alert has
// no such field at all (a writer schema without it; the BTS filter cannot be evaluated then).
using PresentMask = std::uint64_t;
inline constexpr PresentMask kCandidateRecordBit = PresentMask{1} << 63;
inline constexpr unsigned kPrvLacksShift = 59;
inline constexpr unsigned kPrvLacksIsdiffpos = 0, kPrvLacksJd = 1, kPrvLacksMagpsf = 2, kPrvLacksFid = 3;
inline constexpr PresentMask kPrvLacksMask = PresentMask{0xF} << kPrvLacksShift;
static_assert(kNumCandidateColumns <= kPrvLacksShift, "candidate columns must fit the present mask");
inline constexpr PresentMask column_bit(std::size_t k) { return PresentMask{1} << k; }

// Per history item flags: the item is not null, its jd is not null, its magpsf is not null; its
// isdiffpos is 't' or '1' (a positive detection, for the BTS filter); its fid is not null.
inline constexpr std::uint8_t kHistItem = 1;
inline constexpr std::uint8_t kHistJd = 2;
inline constexpr std::uint8_t kHistMag = 4;
inline constexpr std::uint8_t kHistPositive = 8;
inline constexpr std::uint8_t kHistFid = 16;

// Model input order: btsbot_fast/prep/variant.py FEATURE_NAMES.
inline constexpr std::size_t kNumFeatures = 25;
extern const char* const kFeatureNames[kNumFeatures];

// One alert's history: `n` prv_candidates items in packet order (values of null fields are ignored).
struct History {
    const double* jd = nullptr;
    const double* magpsf = nullptr;
    const double* fid = nullptr;  // read where flags & kHistFid
    const std::uint8_t* flags = nullptr;
    std::size_t n = 0;
};

// Computes in float64 and stores float32 into out[0..25). On a missing candidate, a null required field
// or a detection without jd returns MISSING_FIELD with "missing field: ..." and fills `out` with NaN.
Status compute_features(const double* candidate, PresentMask present, const History& history, float* out,
                        std::string& error);

}  // namespace btsbot
