#include "bts_filter.hpp"

#include <cmath>

namespace btsbot {

const char* const kBtsCriterionNames[kNumBtsCriteria] = {
    "latitude",   "bright", "pointunderneath", "stationary", "real", "positivesubtraction",
    "brightstar", "rock",   "variablesource",
};

namespace {

// The candidate fields the filter reads, in the order it checks them (after the candidate record itself).
constexpr CandidateColumn kFieldColumns[] = {
    kColMagpsf,
    kColJd,
    kColFid,
    kColIsdiffpos,
    kColRb,
    kColSgscore1,
    kColSgscore2,
    kColSgscore3,
    kColSrmag1,
    kColSrmag2,
    kColSrmag3,
    kColSgmag1,
    kColSimag1,
    kColSzmag1,
    kColDistpsnr1,
    kColDistpsnr2,
    kColDistpsnr3,
    kColMagnr,
    kColDistnr,
    kColNeargaia,
    kColMaggaia,
    kColNeargaiabright,
    kColMaggaiabright,
    kColSsdistnr,
    kColSsmagnr,
    kColJdStartHist,
    kColRa,
    kColDec,
    kColDrb,
};
constexpr std::size_t kNumFieldColumns = sizeof(kFieldColumns) / sizeof(kFieldColumns[0]);
// then the history's: kPrvLacks* order, and a positive detection's null jd is "prv_candidates.jd"
constexpr std::size_t kFirstPrvField = 1 + kNumFieldColumns;
static_assert(kFirstPrvField + 4 == kNumBtsFields, "kBtsFieldNames lists every field");

// Row 3 of the ICRS -> Galactic rotation matrix (astropy's, via FK5 J2000 with the frame bias): the
// Galactic z axis (the north Galactic pole) in ICRS Cartesian coordinates.
constexpr double kPoleX = -0.8676661375596576;
constexpr double kPoleY = -0.19807633727300053;
constexpr double kPoleZ = 0.4559838136873016;
constexpr double kDeg = 3.14159265358979323846 / 180.0;

double no_match_to_99(double distance) { return distance < 0 ? 99.0 : distance; }

BtsVerdict unknown(std::size_t field) { return static_cast<BtsVerdict>(kBtsUnknown | field); }

}  // namespace

const char* const kBtsFieldNames[kNumBtsFields] = {
    "candidate",
    "magpsf",
    "jd",
    "fid",
    "isdiffpos",
    "rb",
    "sgscore1",
    "sgscore2",
    "sgscore3",
    "srmag1",
    "srmag2",
    "srmag3",
    "sgmag1",
    "simag1",
    "szmag1",
    "distpsnr1",
    "distpsnr2",
    "distpsnr3",
    "magnr",
    "distnr",
    "neargaia",
    "maggaia",
    "neargaiabright",
    "maggaiabright",
    "ssdistnr",
    "ssmagnr",
    "jdstarthist",
    "ra",
    "dec",
    "drb",
    "prv_candidates.isdiffpos",
    "prv_candidates.jd",
    "prv_candidates.magpsf",
    "prv_candidates.fid",
};

double galactic_latitude(double ra_deg, double dec_deg) {
    // not a position on the sky: NaN (never inside the plane's band), as the Python twin
    if (!std::isfinite(ra_deg) || !(dec_deg >= -90.0 && dec_deg <= 90.0)) return std::nan("");
    const double ra = ra_deg * kDeg, dec = dec_deg * kDeg;
    const double cd = std::cos(dec);
    double s = kPoleX * cd * std::cos(ra) + kPoleY * cd * std::sin(ra) + kPoleZ * std::sin(dec);
    s = s > 1.0 ? 1.0 : (s < -1.0 ? -1.0 : s);
    return std::asin(s) / kDeg;
}

BtsVerdict bts_verdict(const double* c, PresentMask present, const History& h) {
    if (!(present & kCandidateRecordBit)) return kBtsNoCandidate;
    for (std::size_t k = 0; k < kNumFieldColumns; ++k) {
        if (!(present & column_bit(kFieldColumns[k]))) return unknown(1 + k);
    }
    if (present & kPrvLacksMask) {
        const PresentMask lacks = (present & kPrvLacksMask) >> kPrvLacksShift;
        for (unsigned j = 0; j < 4; ++j) {
            if (lacks & (PresentMask{1} << j)) return unknown(kFirstPrvField + j);
        }
    }
    const double magpsf = c[kColMagpsf], jd = c[kColJd], fid = c[kColFid];
    const double rb = c[kColRb], drb = c[kColDrb];
    const double sg1 = c[kColSgscore1], sg2 = c[kColSgscore2], sg3 = c[kColSgscore3];
    const double sr1 = c[kColSrmag1], sr2 = c[kColSrmag2], sr3 = c[kColSrmag3];
    const double sgm1 = c[kColSgmag1], si1 = c[kColSimag1], sz1 = c[kColSzmag1];
    const double d1 = no_match_to_99(c[kColDistpsnr1]), d2 = no_match_to_99(c[kColDistpsnr2]),
                 d3 = no_match_to_99(c[kColDistpsnr3]), distnr = no_match_to_99(c[kColDistnr]);
    const double magnr = c[kColMagnr], neargaia = c[kColNeargaia], maggaia = c[kColMaggaia];
    const double age = jd - c[kColJdStartHist];

    // the previous positive detections
    bool rescue = false, stationary = false;
    int prevpasscount = 0;
    double peakmag = 99.0;
    constexpr std::uint8_t kPositive = kHistItem | kHistMag | kHistPositive;
    for (std::size_t i = 0; i < h.n; ++i) {
        const std::uint8_t f = h.flags[i];
        if ((f & kPositive) != kPositive) continue;
        if (!(f & kHistJd)) return unknown(kFirstPrvField + kPrvLacksJd);
        const double dt = jd - h.jd[i];
        const double m = h.magpsf[i];
        if (-0.75 < dt && dt < 0.75 && m < 19.0) rescue = true;
        if (dt > 0.02 && m < 99.0) stationary = true;
        if (dt != 0.0 && m < 99.0 && (f & kHistFid) && h.fid[i] == fid) {
            if (m < 19.0) ++prevpasscount;
            if (m < peakmag) peakmag = m;
        }
    }

    // PS1 magnitudes of the nearest match: the first usable of r, i, g, z; and the brightest, starting from
    // r: a band replaces it only when positive and smaller (so a missing r, -999, stays and becomes 99, as
    // in the published code: the reference run confirms it on two dev alerts)
    double ps1mag = sr1;
    for (const double m : {si1, sgm1, sz1}) {
        if (ps1mag <= 0 || ps1mag > 30) ps1mag = m;
    }
    if (ps1mag <= 0) ps1mag = 99.0;
    double ps1maxmag = sr1;
    for (const double m : {si1, sgm1, sz1}) {
        if (m > 0 && m < ps1maxmag) ps1maxmag = m;
    }
    if (ps1maxmag <= 0) ps1maxmag = 99.0;

    const bool bright = magpsf < 19.0 || rescue;
    const double b = galactic_latitude(c[kColRa], c[kColDec]);
    const bool latitude = !(-7.0 < b && b < 7.0);
    const bool positive = c[kColIsdiffpos] == 1.0;
    const bool pointunderneath =
        (sg1 > 0.76 && d1 < 2) ||
        (sg1 > 0.2 && d1 < 1 && ((sr1 > 0 && sz1 > 0 && sr1 - sz1 > 3) || (sr1 > 0 && si1 > 0 && sr1 - si1 > 3)));

    bool real = rb > 0.2;
    if (rb < 0.35 &&
        ((0 < neargaia && neargaia < 1.0 && 0 < maggaia && maggaia < 17.0) ||
         (d1 < 1.0 && sg1 > 0.49 && ((0 < sr1 && sr1 < 17.0) || (0 < si1 && si1 < 17.0) || (0 < sz1 && sz1 < 16.5))))) {
        real = false;
    }
    if (rb < 0.45 &&
        ((0 < neargaia && neargaia < 1.5 && 0 < maggaia && maggaia < 15.5) ||
         (d1 < 1.5 && sg1 > 0.49 && ((0 < sr1 && sr1 < 15.5) || (0 < si1 && si1 < 15.5) || (0 < sz1 && sz1 < 15.0))))) {
        real = false;
    }
    if (drb < 0.1) real = false;
    if (drb < 0.5 && age > 90 && ((d1 < 3.0 && ps1mag < 16) || (d1 < 1.1 && ps1mag < 18))) real = false;
    if (drb < 0.8 && age > 90 && ((d1 < 1.5 && ps1mag < 15.5) || (d1 < 0.8 && ps1mag < 17.5))) real = false;

    const double ngb = c[kColNeargaiabright], mgb = c[kColMaggaiabright];
    const bool brightstar =
        (0 < ngb && ngb < 20 && 0 < mgb && mgb < 12) || (sg1 > 0.9 && d1 < 20 && 0 < sr1 && sr1 < 14) ||
        (sg2 > 0.9 && d2 < 20 && 0 < sr2 && sr2 < 14) || (sg3 > 0.9 && d3 < 20 && 0 < sr3 && sr3 < 14) ||
        (sg1 > 0.9 && d1 < 20 && 0 < si1 && si1 < 14) || (sg1 > 0.9 && d1 < 10 && 0 < sz1 && sz1 < 14);

    const double ssdistnr = c[kColSsdistnr];
    const bool rock = 0 <= ssdistnr && ssdistnr < 12 && c[kColSsmagnr] < 20;

    const bool atmax = magpsf <= peakmag;
    const int needed = 3 - (age > 90 ? 1 : 0) - (age > 360 ? 1 : 0);
    const bool variable =
        (age > 90 && prevpasscount >= needed && !(atmax && magpsf < 18.5) && magnr > 0 &&
         ((distnr < 0.4 && magnr < 19.5) || (distnr < 0.8 && magnr < 17.5) || (distnr < 1.2 && magnr < 15.5))) ||
        (maggaia > 0 && neargaia > 0 &&
         ((neargaia < 0.35 && maggaia < 17.0 && age > 30) ||
          (neargaia < 0.35 && maggaia < 19.0 && age > 300 && magpsf > 18.5) ||
          (neargaia < 0.2 && maggaia < 18.0 && age > 90))) ||
        (sg1 > 0.25 && d1 < 3 && age > 90 && ps1maxmag < 16) ||
        (sg1 == 0.5 && d1 < 0.5 && age > 90 && ps1maxmag < 17) ||
        (0 < magnr && magnr < magpsf - 1 && age > 90 && distnr < 0.5 && !atmax);

    BtsVerdict v = 0;
    auto reject = [&v](bool failed, BtsCriterion k) {
        if (failed) v = static_cast<BtsVerdict>(v | (1u << k));
    };
    reject(!latitude, kBtsLatitude);
    reject(!bright, kBtsBright);
    reject(pointunderneath, kBtsPointUnderneath);
    reject(!stationary, kBtsStationary);
    reject(!real, kBtsReal);
    reject(!positive, kBtsPositiveSubtraction);
    reject(brightstar, kBtsBrightStar);
    reject(rock, kBtsRock);
    reject(variable, kBtsVariableSource);
    return v;
}

}  // namespace btsbot
