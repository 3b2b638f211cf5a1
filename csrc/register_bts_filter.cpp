// The BTS filter (csrc/bts_filter.hpp): the names of its criteria and fields, which the verdicts
// preprocess() writes are read by (prep/bts.py), and the galactic latitude it computes.
#include <pybind11/pybind11.h>

#include "bts_filter.hpp"
#include "register.hpp"

namespace btsbot::python {

void register_bts_filter(py::module_& m, py::module_& testing) {
    py::list criteria, fields;
    for (const char* name : kBtsCriterionNames) criteria.append(name);
    for (const char* name : kBtsFieldNames) fields.append(name);
    m.attr("BTS_CRITERIA") = py::tuple(criteria);
    m.attr("BTS_FIELDS") = py::tuple(fields);
    m.attr("BTS_UNKNOWN") = static_cast<int>(kBtsUnknown);

    testing.def("galactic_latitude", &galactic_latitude, py::arg("ra"), py::arg("dec"),
                "Galactic latitude (deg) of ICRS (ra, dec) in degrees, as the BTS filter computes it.");
}

}  // namespace btsbot::python
