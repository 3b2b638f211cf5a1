"""The native module and the Python layer agree on constants (status codes: tests/test_native_core.py)."""

from btsbot_fast.status import Status


def test_native_module_agrees():
    from btsbot_fast import _core
    from btsbot_fast.prep.variant import CANDIDATE_COLUMNS, FEATURE_NAMES, STAMP_SIZE

    assert _core.STAMP_SIZE == STAMP_SIZE
    assert _core.N_FEATURES == len(FEATURE_NAMES)
    assert _core.N_CANDIDATE_COLUMNS == len(CANDIDATE_COLUMNS)
    assert _core.inflater in ("zlib", "libdeflate")
