// The build's inflater (vendored libdeflate) and CRC-32: zlib.crc32's checksum of a buffer, GIL-free,
// and its combination; one stamp's gunzip for the benchmarks.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <zlib.h>

#include "inflate.hpp"
#include "py_glue.hpp"
#include "register.hpp"

namespace btsbot::python {

namespace {

std::uint32_t py_crc32(const py::buffer& data, std::uint32_t crc) {
    py::buffer_info b = data.request();
    if (!PyBuffer_IsContiguous(b.view(), 'C')) throw py::value_error("crc32: buffer must be C-contiguous");
    const auto* p = static_cast<const std::uint8_t*>(b.ptr);
    const std::size_t n = static_cast<std::size_t>(b.size * b.itemsize);
    NativeSection section;
    return btsbot::crc32(crc, p, n);
}

}  // namespace

void register_inflate(py::module_& m, py::module_& testing) {
    m.attr("inflater") = inflater_name();

    m.def("crc32", &py_crc32, py::arg("data"), py::arg("crc") = 0,
          "CRC-32 of a contiguous buffer (zlib.crc32's), continuing from `crc`; GIL released.");
    m.def(
        "crc32_combine",
        [](std::uint32_t crc1, std::uint32_t crc2, std::int64_t len2) {
            return static_cast<std::uint32_t>(crc32_combine64(crc1, crc2, static_cast<z_off64_t>(len2)));
        },
        py::arg("crc1"), py::arg("crc2"), py::arg("len2"),
        "The CRC-32 of A + B from crc32(A), crc32(B) and len(B) (zlib's crc32_combine).");

    testing.def(
        "gunzip",
        [](const py::bytes& data) {
            std::string_view v(data);
            Inflater inflater;
            std::vector<std::uint8_t> out;
            std::string error;
            bool ok;
            {
                py::gil_scoped_release release;
                ok = inflater.gunzip(reinterpret_cast<const std::uint8_t*>(v.data()), v.size(), out, error);
            }
            if (!ok) throw py::value_error(error);
            return py::bytes(reinterpret_cast<const char*>(out.data()), out.size());
        },
        py::arg("data"), "One stamp's gzip, inflated by the build's inflater (benchmarks).");
}

}  // namespace btsbot::python
