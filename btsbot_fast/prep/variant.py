"""The ``btsbot-v1`` preprocessing variant: names, orders and constants both engines share.

See ../shared/spec/btsbot-v1.md (sections 2 and 3). The model registry entry names this variant and lists
its 25 features; the registry checks that the two lists agree, so the code and the data cannot drift.
"""

from __future__ import annotations

VARIANT = "btsbot-v1"

STAMP_SIZE = 63
#: bottom/right padding value for stamps smaller than 63 (applied after normalising)
PAD_VALUE = 1e-9

CUTOUT_FIELDS = ("cutoutScience", "cutoutTemplate", "cutoutDifference")

#: model input order of the 25 metadata features
FEATURE_NAMES = (
    "sgscore1", "distpsnr1", "sgscore2", "distpsnr2", "fwhm", "magpsf", "sigmapsf", "chipsf",
    "ra", "dec", "diffmaglim", "ndethist", "nmtchps", "age", "days_since_peak", "days_to_peak",
    "peakmag_so_far", "drb", "ncovhist", "nnotdet", "chinr", "sharpnr", "scorr", "sky",
    "maxmag_so_far",
)

#: the candidate fields the features are computed from, in the column order of the float64 matrix
#: handed to the native ``compute_features`` (null -> NaN). ``drb`` falls back to ``rb`` when null.
CANDIDATE_COLUMNS = (
    "jd", "jdstarthist", "sgscore1", "distpsnr1", "sgscore2", "distpsnr2", "fwhm", "magpsf",
    "sigmapsf", "chipsf", "ra", "dec", "diffmaglim", "ndethist", "nmtchps", "drb", "rb", "ncovhist",
    "chinr", "sharpnr", "scorr", "sky",
    # not a feature input (the features never read it): reported beside the score, see ROW_INFO
    "fid",
)
#: candidate columns the features never read (a null one is no MISSING_FIELD)
INFO_ONLY_COLUMNS = ("fid",)

#: per-row information reported beside the score (``Batch.info`` columns): candidate jd, magpsf, fid
ROW_INFO = ("jd", "magpsf", "fid")
