// btsbot_fast._core: the pybind11 module. The csrc/register_*.cpp files (with csrc/py_glue.*) are the
// only ones that include pybind11; the core they bind is plain C++. A wrong array is a programming error
// (ValueError/TypeError); a bad alert never raises, it gets a status and a message.
//
// The public module is what btsbot_fast/prep drives; `_core._testing` holds the per-stage hooks the tests
// and benchmarks call (one stamp, one channel, cutouts or features alone, the tar reader, programs).
#include "register.hpp"

PYBIND11_MODULE(_core, m) {
    using namespace btsbot::python;
    m.doc() = "btsbot-fast native core (btsbot-v1): Avro alert reader, gzip/FITS cutouts -> triplets, 25 features";
    py::module_ testing = m.def_submodule("_testing", "Per-stage hooks for tests and benchmarks (not an API).");
    register_preprocess(m, testing);
    register_bts_filter(m, testing);
    register_avro(m, testing);
    register_archive(m, testing);
    register_inflate(m, testing);
    register_pool(m, testing);
}
