"""One status vocabulary for per-alert outcomes, shared by the native core and the NumPy twin.

The integer codes are the ones ``csrc/status.hpp`` uses; keep the two in step (a test checks it).
"""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """What happened to one alert record: the ``status`` of a :class:`~btsbot_fast.scorer.ScoreResult`.

    Output rows carry the lower-case name (:attr:`label`: ``ok``, ``bad_cutout``, ...); the integer
    codes are those of the native core. Only ``OK`` rows have a score; the others say why in ``error``.

    Examples
    --------
    >>> from btsbot_fast import Status
    >>> Status.BAD_CUTOUT.label
    'bad_cutout'
    >>> Status(0) is Status.OK
    True
    """

    #: scored
    OK = 0
    #: the file / Avro container / record could not be decoded at all
    DECODE_ERROR = 1
    #: a cutout is present but unusable: bad gzip, not FITS, JPEG, BITPIX != -32, NAXIS != 2,
    #: larger than 63x63, truncated data
    BAD_CUTOUT = 2
    #: a cutout (or its stampData) is absent
    MISSING_CUTOUT = 3
    #: a channel is all zero before normalising (its L2 norm is 0; production would emit NaN)
    EMPTY_CUTOUT = 4
    #: a field the 25 features need is null or absent
    MISSING_FIELD = 5
    #: the record is not a ZTF alert this model can score (e.g. ZUDS, Rubin)
    UNSUPPORTED_SCHEMA = 6
    #: the model gave this alert a non-finite score (an ONNX Runtime failure stops the run instead)
    MODEL_ERROR = 7

    @property
    def label(self) -> str:
        """The lower-case name written to output rows (``ok``, ``bad_cutout`` ...)."""
        return self.name.lower()


def status_label(code: int) -> str:
    """The output label of an integer status code (``status_label(2) == "bad_cutout"``)."""
    return Status(int(code)).label
