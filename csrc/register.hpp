// The areas of btsbot_fast._core: csrc/module.cpp creates the module and its `_testing` submodule and
// calls one register_* function per area (csrc/register_<area>.cpp). Each adds that area's functions,
// classes and constants to `m`, and its per-stage hooks for tests and benchmarks to `testing`.
#pragma once

#include <pybind11/pybind11.h>

namespace btsbot::python {

namespace py = pybind11;

void register_preprocess(py::module_& m, py::module_& testing);  // cutouts, features: preprocess()
void register_bts_filter(py::module_& m, py::module_& testing);  // BTS filter verdict names
void register_avro(py::module_& m, py::module_& testing);        // the native alert reader
void register_archive(py::module_& m, py::module_& testing);     // tar(.gz) members for fastavro
void register_inflate(py::module_& m, py::module_& testing);     // the inflater, CRC-32
void register_pool(py::module_& m, py::module_& testing);        // cores, pool, GIL accounting

}  // namespace btsbot::python
