// Schema-compiled field projection: a compact program (compiled in Python by
// btsbot_fast/io/schema_program.py from the writer schema) tells the record decoder, for every value in
// writer order, whether to skip it or where to put it. Only what btsbot-v1 needs is extracted:
// objectId, candid (top level, else candidate.candid), the candidate columns (as float64, null -> NaN;
// the string isdiffpos as 1 for 't'/'1', else 0), prv_candidates' jd/magpsf/fid/isdiffpos, and the three
// stampData byte strings (views into the record bytes).
//
// Program layout (int64 words; keep in step with schema_program.py, a test checks the constants):
//   header: [kProgramMagic, kProgramVersion, root_offset, flags, n_nodes]
//   node:   [op, target, arg, n_kids, kid_offset * n_kids]   (offsets are word indices)
// op/arg: Null, Boolean, Int, Long, Float, Double, Bytes, String; Fixed (arg = size); Enum (arg = number
// of symbols); Array / Map (one kid: items / values); Union (kids = branches); Record (kids = fields;
// arg of the prv_candidates item record: the kPrvLacks* bits of fields the item record does not have).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "avro/cursor.hpp"
#include "avro/limits.hpp"
#include "cutout.hpp"
#include "features.hpp"

namespace btsbot::avro {

inline constexpr std::int64_t kProgramMagic = 0x4254534250524731;  // "BTSBPRG1"
inline constexpr std::int64_t kProgramVersion = 2;
inline constexpr std::size_t kProgramHeaderWords = 5;
inline constexpr std::int64_t kFlagForeign = 1;  // not a ZTF alert: UNSUPPORTED_SCHEMA rows

enum Op : std::uint8_t {
    kOpNull = 0,
    kOpBoolean,
    kOpInt,
    kOpLong,
    kOpFloat,
    kOpDouble,
    kOpBytes,
    kOpString,
    kOpFixed,
    kOpEnum,
    kOpArray,
    kOpMap,
    kOpUnion,
    kOpRecord,
    kNumOps
};

enum Target : std::uint8_t {
    kTgtNone = 0,
    kTgtObjectId = 1,       // string
    kTgtCandid = 2,         // int/long: top-level candid
    kTgtCandidate = 3,      // record: the candidate is present
    kTgtCandCandid = 4,     // int/long: candidate.candid
    kTgtPrv = 5,            // array: prv_candidates (informational)
    kTgtPrvItem = 6,        // record: one prv_candidates entry
    kTgtPrvJd = 7,          // numeric: its jd
    kTgtPrvMag = 8,         // numeric: its magpsf
    kTgtStamp0 = 9,         // bytes: cutoutScience.stampData (10: template, 11: difference)
    kTgtNotRecord = 12,     // any non-record root union branch: "record is not an Avro record"
    kTgtPrvIsdiffpos = 13,  // string: a prv_candidates entry's isdiffpos
    kTgtPrvFid = 14,        // numeric: its fid
    kTgtColumn0 = 32,       // numeric (string for kColIsdiffpos): candidate column (kTgtColumn0 + CandidateColumn)
};

// How a value without targets is skipped without recursion (derived when loading; the common ZTF field is
// a union of null and a primitive).
enum SkipKind : std::uint8_t {
    kSkipComplex = 0,  // records, arrays, maps, unions of those: recursive skip
    kSkipFixed,        // `size` bytes (null, boolean, float, double, fixed, constant-size records)
    kSkipVarint,       // int, long
    kSkipEnum,         // varint index < `size`
    kSkipBytes,        // length + bytes
    kSkipString,       // length + UTF-8 bytes
    kSkipSimpleUnion,  // index, then the branch's simple skip (Program::simple[first_simple + index])
};

struct SimpleSkip {
    std::uint8_t kind = kSkipComplex;
    std::int64_t size = 0;
};

struct Node {
    std::uint8_t op = kOpNull;
    std::uint8_t target = kTgtNone;
    bool has_targets = false;  // this subtree extracts something
    std::uint8_t skip_kind = kSkipComplex;
    std::int32_t first_simple = 0;  // kSkipSimpleUnion: index into Program::simple
    std::int64_t arg = 0;
    std::int32_t first_kid = 0;  // index into Program::kids
    std::int32_t n_kids = 0;
    std::int64_t min_size = 0;     // fewest bytes one value can take (array count sanity checks)
    std::int64_t fixed_size = -1;  // exact encoded size when constant, else -1
};

struct Program {
    std::vector<Node> nodes;
    std::vector<std::int32_t> kids;  // node indices
    std::vector<SimpleSkip> simple;  // branch skips of kSkipSimpleUnion nodes
    std::int32_t root = 0;
    bool foreign = false;
};

// Validates and loads a program; throws std::invalid_argument naming the problem (a bad program is a
// programming error, not bad data).
Program load_program(const std::int64_t* words, std::size_t n_words);

// What one record yields. History entries are appended to the caller's vectors.
struct RecordFields {
    const std::uint8_t* object_id = nullptr;
    std::size_t object_id_size = 0;
    bool has_object_id = false;
    std::int64_t candid = 0;
    bool has_candid = false;
    std::int64_t cand_candid = 0;
    bool has_cand_candid = false;
    bool has_candidate = false;
    bool not_record = false;
    double candidate[kNumCandidateColumns];
    PresentMask present = 0;  // bit k: candidate column k was not null; kPrvLacks* bits (features.hpp)
    Blob stamps[kChannels];

    void reset();
};

// Where a record's detections go (prv_candidates items with a non-null magpsf, in packet order; null
// items and non-detections are left out). Appended to, never cleared, by decode_record.
struct HistorySink {
    std::vector<double> jd;
    std::vector<double> magpsf;
    std::vector<double> fid;          // NaN when null
    std::vector<std::uint8_t> flags;  // kHistItem | kHistMag | kHistJd, kHistFid when not null | kHistPositive

    std::size_t size() const noexcept { return jd.size(); }
    void clear() noexcept {
        jd.clear();
        magpsf.clear();
        fid.clear();
        flags.clear();
    }
};

// Decodes one record at `cursor` (advancing it past the record). Throws AvroError on malformed data.
void decode_record(const Program& program, const Limits& limits, Cursor& cursor, RecordFields& out,
                   HistorySink& history);

}  // namespace btsbot::avro
