#include "features.hpp"

#include <cmath>
#include <limits>

namespace btsbot {

const char* const kCandidateColumnNames[kNumCandidateColumns] = {
    "jd", "jdstarthist", "sgscore1", "distpsnr1", "sgscore2", "distpsnr2", "fwhm", "magpsf",
    "sigmapsf", "chipsf", "ra", "dec", "diffmaglim", "ndethist", "nmtchps", "drb", "rb", "ncovhist",
    "chinr", "sharpnr", "scorr", "sky", "fid",
};

const char* const kFeatureNames[kNumFeatures] = {
    "sgscore1", "distpsnr1", "sgscore2", "distpsnr2", "fwhm", "magpsf", "sigmapsf", "chipsf",
    "ra", "dec", "diffmaglim", "ndethist", "nmtchps", "age", "days_since_peak", "days_to_peak",
    "peakmag_so_far", "drb", "ncovhist", "nnotdet", "chinr", "sharpnr", "scorr", "sky",
    "maxmag_so_far",
};

namespace {

void fill_nan(float* out) {
    for (std::size_t i = 0; i < kNumFeatures; ++i) out[i] = std::numeric_limits<float>::quiet_NaN();
}

}  // namespace

Status compute_features(const double* cand, const double* hist_jd, const double* hist_magpsf,
                        std::size_t n_hist, float* out, std::string& error) {
    // Every column is required except drb (falls back to rb) and rb (only needed then).
    for (std::size_t k = 0; k < kNumFeatureInputColumns; ++k) {
        if (k == kColDrb || k == kColRb) continue;
        if (std::isnan(cand[k])) {
            error = std::string("missing field: candidate.") + kCandidateColumnNames[k];
            fill_nan(out);
            return Status::MissingField;
        }
    }
    double drb = cand[kColDrb];
    if (std::isnan(drb)) drb = cand[kColRb];
    if (std::isnan(drb)) {
        error = "missing field: candidate.drb (and candidate.rb)";
        fill_nan(out);
        return Status::MissingField;
    }

    const double jd = cand[kColJd];
    // History = detections (non-null magpsf) in packet order, then the candidate itself.
    double peak_mag = 30.0;
    double peak_jd = jd;
    double max_mag = 0.0;
    double first_jd = cand[kColJdStartHist] < jd ? cand[kColJdStartHist] : jd;
    auto visit = [&](double m, double j) {
        if (m < peak_mag) {
            peak_mag = m;
            peak_jd = j;
        }
        if (m > max_mag) max_mag = m;
        if (j < first_jd) first_jd = j;
    };
    for (std::size_t i = 0; i < n_hist; ++i) {
        const double m = hist_magpsf[i];
        if (std::isnan(m)) continue;  // non-detection
        if (std::isnan(hist_jd[i])) {
            error = "missing field: prv_candidates.jd (entry " + std::to_string(i) + ")";
            fill_nan(out);
            return Status::MissingField;
        }
        visit(m, hist_jd[i]);
    }
    visit(cand[kColMagpsf], jd);

    const double values[kNumFeatures] = {
        cand[kColSgscore1], cand[kColDistpsnr1], cand[kColSgscore2], cand[kColDistpsnr2], cand[kColFwhm],
        cand[kColMagpsf], cand[kColSigmapsf], cand[kColChipsf], cand[kColRa], cand[kColDec],
        cand[kColDiffmaglim], cand[kColNdethist], cand[kColNmtchps],
        jd - first_jd,         // age
        jd - peak_jd,          // days_since_peak
        peak_jd - first_jd,    // days_to_peak
        peak_mag,              // peakmag_so_far
        drb,                   // drb (rb when drb is null)
        cand[kColNcovhist],
        cand[kColNcovhist] - cand[kColNdethist],  // nnotdet
        cand[kColChinr], cand[kColSharpnr], cand[kColScorr], cand[kColSky],
        max_mag,               // maxmag_so_far
    };
    for (std::size_t i = 0; i < kNumFeatures; ++i) out[i] = static_cast<float>(values[i]);
    return Status::Ok;
}

}  // namespace btsbot
