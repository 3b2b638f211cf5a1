#include "features.hpp"

#include <cmath>
#include <limits>

namespace btsbot {

const char* const kCandidateColumnNames[kNumCandidateColumns] = {
    "jd",       "jdstarthist", "sgscore1", "distpsnr1", "sgscore2",       "distpsnr2",     "fwhm",     "magpsf",
    "sigmapsf", "chipsf",      "ra",       "dec",       "diffmaglim",     "ndethist",      "nmtchps",  "drb",
    "rb",       "ncovhist",    "chinr",    "sharpnr",   "scorr",          "sky",           "fid",      "isdiffpos",
    "sgscore3", "distpsnr3",   "srmag1",   "srmag2",    "srmag3",         "sgmag1",        "simag1",   "szmag1",
    "magnr",    "distnr",      "neargaia", "maggaia",   "neargaiabright", "maggaiabright", "ssdistnr", "ssmagnr",
};

const char* const kFeatureNames[kNumFeatures] = {
    "sgscore1",     "distpsnr1",      "sgscore2", "distpsnr2", "fwhm",
    "magpsf",       "sigmapsf",       "chipsf",   "ra",        "dec",
    "diffmaglim",   "ndethist",       "nmtchps",  "age",       "days_since_peak",
    "days_to_peak", "peakmag_so_far", "drb",      "ncovhist",  "nnotdet",
    "chinr",        "sharpnr",        "scorr",    "sky",       "maxmag_so_far",
};

namespace {

Status missing(std::string message, float* out, std::string& error) {
    error = std::move(message);
    for (std::size_t i = 0; i < kNumFeatures; ++i) out[i] = std::numeric_limits<float>::quiet_NaN();
    return Status::MissingField;
}

bool is_detection(std::uint8_t flags) { return (flags & kHistItem) && (flags & kHistMag); }

}  // namespace

Status compute_features(const double* cand, PresentMask present, const History& h, float* out, std::string& error) {
    if (!(present & kCandidateRecordBit)) return missing("missing field: candidate", out, error);
    // Every column is required except drb (falls back to rb) and rb (only needed then).
    for (std::size_t k = 0; k < kNumFeatureInputColumns; ++k) {
        if (k == kColDrb || k == kColRb) continue;
        if (!(present & column_bit(k))) {
            return missing(std::string("missing field: candidate.") + kCandidateColumnNames[k], out, error);
        }
    }
    double drb;
    if (present & column_bit(kColDrb)) {
        drb = cand[kColDrb];
    } else if (present & column_bit(kColRb)) {
        drb = cand[kColRb];
    } else {
        return missing("missing field: candidate.drb (and candidate.rb)", out, error);
    }
    const double jd = cand[kColJd];
    // first_alert_jd = min(jdstarthist, min(jd, detection jds...)), Python's min: strictly smaller wins.
    double inner = jd;
    // History = detections in packet order, then the candidate itself.
    double peak_mag = 30.0;
    double peak_jd = jd;
    double max_mag = 0.0;
    auto visit = [&](double m, double j) {
        if (m < peak_mag) {
            peak_mag = m;
            peak_jd = j;
        }
        if (m > max_mag) max_mag = m;
    };
    // One pass: a detection without jd fails the alert before anything is written.
    std::size_t detection = 0;
    for (std::size_t i = 0; i < h.n; ++i) {
        if (!is_detection(h.flags[i])) continue;
        if (!(h.flags[i] & kHistJd)) {
            return missing("missing field: prv_candidates.jd (entry " + std::to_string(detection) + ")", out, error);
        }
        ++detection;
        if (h.jd[i] < inner) inner = h.jd[i];
        visit(h.magpsf[i], h.jd[i]);
    }
    visit(cand[kColMagpsf], jd);
    const double first_jd = inner < cand[kColJdStartHist] ? inner : cand[kColJdStartHist];

    const double values[kNumFeatures] = {
        cand[kColSgscore1],
        cand[kColDistpsnr1],
        cand[kColSgscore2],
        cand[kColDistpsnr2],
        cand[kColFwhm],
        cand[kColMagpsf],
        cand[kColSigmapsf],
        cand[kColChipsf],
        cand[kColRa],
        cand[kColDec],
        cand[kColDiffmaglim],
        cand[kColNdethist],
        cand[kColNmtchps],
        jd - first_jd,       // age
        jd - peak_jd,        // days_since_peak
        peak_jd - first_jd,  // days_to_peak
        peak_mag,            // peakmag_so_far
        drb,                 // drb (rb when drb is null)
        cand[kColNcovhist],
        cand[kColNcovhist] - cand[kColNdethist],  // nnotdet
        cand[kColChinr],
        cand[kColSharpnr],
        cand[kColScorr],
        cand[kColSky],
        max_mag,  // maxmag_so_far
    };
    for (std::size_t i = 0; i < kNumFeatures; ++i) out[i] = static_cast<float>(values[i]);
    return Status::Ok;
}

}  // namespace btsbot
