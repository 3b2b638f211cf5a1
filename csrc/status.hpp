// Per-alert outcome codes. The integers are those of btsbot_fast/status.py (Status); keep them in step
// (tests/test_native_core.py parses this file and compares).
#pragma once

#include <cstdint>

namespace btsbot {

enum class Status : std::uint8_t {
    Ok = 0,
    DecodeError = 1,
    BadCutout = 2,
    MissingCutout = 3,
    EmptyCutout = 4,
    MissingField = 5,
    UnsupportedSchema = 6,
    ModelError = 7,
};

}  // namespace btsbot
