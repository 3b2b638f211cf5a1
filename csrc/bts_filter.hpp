// The Bright Transient Survey's candidate filter (Fremling et al. 2020, Perley et al. 2020; the version in
// operation since 2020-07-10, published as dperley/ztf-bts-filters rcf2020.py), restated from the facts in
// ../shared/spec/bts-filter.md. Evaluated from the same decoded candidate columns and history as the
// features; the Python twin is btsbot_fast/prep/bts.py (the two are tested to agree).
//
// Missing data (the filter's own rule, not the features'): a field the filter reads that is null or
// absent makes the verdict unknown, naming the first such field in kBtsFieldNames order (the order in
// which the published code reads them, so it names the field that code raised on). Unknown is never a
// candidate, and never an alert failure. A null prv_candidates item, or one with a null magpsf or an
// isdiffpos other than 't'/'1', is not a positive detection; a positive detection with a null jd, or an
// item whose record lacks isdiffpos/jd/magpsf/fid altogether, makes the verdict unknown.
#pragma once

#include <cstddef>
#include <cstdint>

#include "features.hpp"

namespace btsbot {

// Criteria in the spec's order; bit k of a verdict = criterion k failed (the alert is rejected by it).
enum BtsCriterion : unsigned {
    kBtsLatitude,
    kBtsBright,
    kBtsPointUnderneath,
    kBtsStationary,
    kBtsReal,
    kBtsPositiveSubtraction,
    kBtsBrightStar,
    kBtsRock,
    kBtsVariableSource,
    kNumBtsCriteria
};
extern const char* const kBtsCriterionNames[kNumBtsCriteria];

// A verdict (uint16): 0 = a BTS candidate; bits [0, kNumBtsCriteria) = the failed criteria; with
// kBtsUnknown set, the low byte is the index in kBtsFieldNames of the missing field (0: no candidate).
using BtsVerdict = std::uint16_t;
inline constexpr BtsVerdict kBtsUnknown = 0x8000;
inline constexpr BtsVerdict kBtsNoCandidate = kBtsUnknown;  // field 0, "candidate"

inline constexpr std::size_t kNumBtsFields = 34;
extern const char* const kBtsFieldNames[kNumBtsFields];

// Galactic latitude (degrees) of ICRS (ra, dec) in degrees: the ICRS -> Galactic rotation astropy uses.
// NaN when (ra, dec) is no position (non-finite, |dec| > 90): the latitude cut then does not reject.
double galactic_latitude(double ra_deg, double dec_deg);

BtsVerdict bts_verdict(const double* candidate, PresentMask present, const History& history);

}  // namespace btsbot
