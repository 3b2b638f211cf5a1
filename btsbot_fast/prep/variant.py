"""The ``btsbot-v1`` preprocessing variant: names, orders and constants both engines share.

See ../shared/spec/btsbot-v1.md (sections 2 and 3). The model registry entry names this variant and lists
its 25 features; the registry checks that the two lists agree, so the code and the data cannot drift.

Missing data, one rule for the C++ core (csrc/features.hpp), the NumPy twin (reference.py) and every
reader (Avro natively or with fastavro, Parquet row by row or column by column):

- A value is *null* when the packet does not carry it: an Avro null, a field the writer schema does not
  have, a Parquet null (and NaN in a Parquet column the Avro schema declares integer: pandas' null, since
  an Avro int cannot be NaN). Null is what the spec calls missing: a null required candidate field fails
  the alert with MISSING_FIELD naming it (``drb`` falls back to ``rb``); an alert without a candidate
  record fails with ``missing field: candidate``; a null ``prv_candidates`` item, or one whose ``magpsf``
  is null, is not a detection; a detection whose ``jd`` is null fails the alert.
- NaN and +-inf in a float or double field are *values*, as in the production broker, which tests
  ``is not None``: they enter the feature arithmetic (float64, IEEE), a NaN ``magpsf`` is a detection,
  NaN never wins a comparison (peak and faintest magnitude), and first_alert_jd is production's
  ``min(jdstarthist, min([jd] + detection jds))`` with Python's ``min`` (a later value replaces the
  running one only when strictly smaller). A non-finite feature reaches the model; a non-finite score
  becomes MODEL_ERROR ("model returned a non-finite score").
- Cutout pixels: NaN -> 0 and +-inf -> +-float32 max (spec section 2), before the norm.
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
    # not feature inputs (the features never read them): fid is reported beside the score (ROW_INFO);
    # fid and the rest feed the BTS candidate filter (prep/bts.py). isdiffpos, a string in the packet,
    # enters the matrix as 1.0 when it is 't' or '1' (a positive subtraction), else 0.0
    "fid", "isdiffpos", "sgscore3", "distpsnr3", "srmag1", "srmag2", "srmag3", "sgmag1", "simag1", "szmag1",
    "magnr", "distnr", "neargaia", "maggaia", "neargaiabright", "maggaiabright", "ssdistnr", "ssmagnr",
)
#: candidate columns the features never read (a null one is no MISSING_FIELD)
INFO_ONLY_COLUMNS = CANDIDATE_COLUMNS[CANDIDATE_COLUMNS.index("fid"):]
#: the string column of the matrix (1.0 = positive subtraction)
ISDIFFPOS_COLUMN = "isdiffpos"
#: isdiffpos values of a positive subtraction (a positive detection in prv_candidates)
POSITIVE_ISDIFFPOS = ("t", "1")

#: per-row information reported beside the score (``Batch.info`` columns): candidate jd, ra, dec, magpsf, fid
ROW_INFO = ("jd", "ra", "dec", "magpsf", "fid")
