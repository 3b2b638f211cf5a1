#include "avro/program.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <unordered_map>

namespace btsbot::avro {

namespace {

[[noreturn]] void bad_program(const std::string& what) { throw std::invalid_argument("bad program: " + what); }

bool is_numeric(std::uint8_t op) {
    return op == kOpBoolean || op == kOpInt || op == kOpLong || op == kOpFloat || op == kOpDouble;
}

void check_target(const Node& n, std::size_t index) {
    const std::uint8_t t = n.target;
    const std::uint8_t op = n.op;
    bool ok;
    if (t == kTgtNone || t == kTgtNotRecord) {
        ok = true;
    } else if (op == kOpNull) {
        ok = true;  // a null where a target could be: the value is absent
    } else if (t == kTgtObjectId) {
        ok = op == kOpString;
    } else if (t == kTgtCandid || t == kTgtCandCandid) {
        ok = op == kOpInt || op == kOpLong;
    } else if (t == kTgtCandidate || t == kTgtPrvItem) {
        ok = op == kOpRecord;
    } else if (t == kTgtPrv) {
        ok = op == kOpArray;
    } else if (t == kTgtPrvJd || t == kTgtPrvMag || t == kTgtPrvFid) {
        ok = is_numeric(op);
    } else if (t == kTgtPrvIsdiffpos || t == kTgtColumn0 + kColIsdiffpos) {
        ok = op == kOpString || is_numeric(op);  // a numeric isdiffpos (2017 prototypes) is never 't'/'1'
    } else if (t >= kTgtStamp0 && t < kTgtStamp0 + kChannels) {
        ok = op == kOpBytes;
    } else if (t >= kTgtColumn0 && t < kTgtColumn0 + kNumCandidateColumns) {
        ok = is_numeric(op);
    } else {
        ok = false;
    }
    if (!ok || (op == kOpUnion && t != kTgtNone)) {
        bad_program("node " + std::to_string(index) + ": target " + std::to_string(t) + " does not fit op " +
                    std::to_string(op));
    }
}

}  // namespace

void RecordFields::reset() {
    object_id = nullptr;
    object_id_size = 0;
    has_object_id = false;
    candid = 0;
    has_candid = false;
    cand_candid = 0;
    has_cand_candid = false;
    has_candidate = false;
    not_record = false;
    present = 0;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (double& v : candidate) v = nan;
    for (Blob& b : stamps) b = Blob{};
}

Program load_program(const std::int64_t* w, std::size_t n_words) {
    if (n_words < kProgramHeaderWords) bad_program("shorter than its header");
    if (w[0] != kProgramMagic) bad_program("wrong magic");
    if (w[1] != kProgramVersion)
        bad_program("version " + std::to_string(w[1]) + ", expected " + std::to_string(kProgramVersion));
    const std::int64_t n_nodes = w[4];
    if (n_nodes < 1 || static_cast<std::uint64_t>(n_nodes) > n_words) bad_program("bad node count");
    Program p;
    p.foreign = (w[3] & kFlagForeign) != 0;
    p.nodes.reserve(static_cast<std::size_t>(n_nodes));
    std::unordered_map<std::int64_t, std::int32_t> index_of;  // word offset -> node index
    std::vector<std::int64_t> kid_offsets;
    std::size_t pos = kProgramHeaderWords;
    while (pos < n_words) {
        if (n_words - pos < 4) bad_program("truncated node at word " + std::to_string(pos));
        const std::int64_t op = w[pos], tgt = w[pos + 1], arg = w[pos + 2], nk = w[pos + 3];
        if (op < 0 || op >= kNumOps) bad_program("unknown op " + std::to_string(op));
        if (tgt < 0 || tgt > 255) bad_program("bad target " + std::to_string(tgt));
        if (nk < 0 || static_cast<std::uint64_t>(nk) > n_words - pos - 4) bad_program("bad kid count");
        if (p.nodes.size() >= static_cast<std::size_t>(n_nodes)) bad_program("more nodes than declared");
        Node n;
        n.op = static_cast<std::uint8_t>(op);
        n.target = static_cast<std::uint8_t>(tgt);
        n.arg = arg;
        n.first_kid = static_cast<std::int32_t>(kid_offsets.size());
        n.n_kids = static_cast<std::int32_t>(nk);
        switch (n.op) {
            case kOpArray:
            case kOpMap:
                if (nk != 1) bad_program("array/map needs exactly one kid");
                break;
            case kOpUnion:
                if (nk < 1) bad_program("union without branches");
                break;
            case kOpRecord:
                if (arg < 0 || arg > 0xF) bad_program("bad record arg");
                break;
            case kOpFixed:
                if (arg < 0 || arg > (std::int64_t{1} << 31)) bad_program("bad fixed size");
                if (nk != 0) bad_program("leaf with kids");
                break;
            case kOpEnum:
                if (arg < 0) bad_program("bad enum symbol count");
                if (nk != 0) bad_program("leaf with kids");
                break;
            default:
                if (nk != 0) bad_program("leaf with kids");
        }
        check_target(n, p.nodes.size());
        index_of.emplace(static_cast<std::int64_t>(pos), static_cast<std::int32_t>(p.nodes.size()));
        for (std::int64_t k = 0; k < nk; ++k) kid_offsets.push_back(w[pos + 4 + static_cast<std::size_t>(k)]);
        p.nodes.push_back(n);
        pos += 4 + static_cast<std::size_t>(nk);
    }
    if (p.nodes.size() != static_cast<std::size_t>(n_nodes)) bad_program("fewer nodes than declared");
    p.kids.resize(kid_offsets.size());
    for (std::size_t k = 0; k < kid_offsets.size(); ++k) {
        const auto it = index_of.find(kid_offsets[k]);
        if (it == index_of.end()) bad_program("kid offset " + std::to_string(kid_offsets[k]) + " is not a node");
        p.kids[k] = it->second;
    }
    const auto root = index_of.find(w[2]);
    if (root == index_of.end()) bad_program("root offset is not a node");
    p.root = root->second;
    const Node& r = p.nodes[static_cast<std::size_t>(p.root)];
    if (r.op != kOpRecord && r.op != kOpUnion) bad_program("root must be a record or a union");

    // Fixed points over the (possibly cyclic) graph: has_targets (least), min_size (from 0 upwards;
    // every iteration only raises values, bounded by the number of nodes), fixed_size.
    const std::size_t nn = p.nodes.size();
    for (Node& n : p.nodes) n.has_targets = n.target != kTgtNone;
    for (bool changed = true; changed;) {
        changed = false;
        for (Node& n : p.nodes) {
            if (n.has_targets) continue;
            for (std::int32_t k = 0; k < n.n_kids; ++k) {
                if (p.nodes[static_cast<std::size_t>(p.kids[static_cast<std::size_t>(n.first_kid + k)])].has_targets) {
                    n.has_targets = true;
                    changed = true;
                    break;
                }
            }
        }
    }
    constexpr std::int64_t kSizeCap = std::int64_t{1} << 40;
    auto leaf_min = [](const Node& n) -> std::int64_t {
        switch (n.op) {
            case kOpNull: return 0;
            case kOpFloat: return 4;
            case kOpDouble: return 8;
            case kOpFixed: return n.arg;
            default: return 1;  // boolean, varints, lengths, counts, union index
        }
    };
    for (Node& n : p.nodes) n.min_size = leaf_min(n);
    for (std::size_t iter = 0, changed = 1; changed && iter <= nn + 1; ++iter) {
        changed = 0;
        for (Node& n : p.nodes) {
            std::int64_t v = leaf_min(n);
            if (n.op == kOpRecord) {
                v = 0;
                for (std::int32_t k = 0; k < n.n_kids; ++k) {
                    v += p.nodes[static_cast<std::size_t>(p.kids[static_cast<std::size_t>(n.first_kid + k)])].min_size;
                    v = std::min(v, kSizeCap);
                }
            } else if (n.op == kOpUnion) {
                std::int64_t best = kSizeCap;
                for (std::int32_t k = 0; k < n.n_kids; ++k) {
                    best = std::min(
                        best,
                        p.nodes[static_cast<std::size_t>(p.kids[static_cast<std::size_t>(n.first_kid + k)])].min_size);
                }
                v = std::min<std::int64_t>(1 + best, kSizeCap);
            }
            if (v > n.min_size) {
                n.min_size = v;
                changed = 1;
            }
        }
    }
    // fixed sizes: leaves with constant size; records of constant-size fields (acyclic by construction:
    // a record that contains itself needs a union/array on the way, which has no fixed size)
    for (Node& n : p.nodes) {
        switch (n.op) {
            case kOpNull: n.fixed_size = 0; break;
            case kOpBoolean: n.fixed_size = 1; break;
            case kOpFloat: n.fixed_size = 4; break;
            case kOpDouble: n.fixed_size = 8; break;
            case kOpFixed: n.fixed_size = n.arg; break;
            default: n.fixed_size = -1;
        }
    }
    for (std::size_t iter = 0, changed = 1; changed && iter <= nn + 1; ++iter) {
        changed = 0;
        for (Node& n : p.nodes) {
            if (n.op != kOpRecord || n.fixed_size >= 0) continue;
            std::int64_t total = 0;
            bool all = true;
            for (std::int32_t k = 0; k < n.n_kids && all; ++k) {
                const Node& kid = p.nodes[static_cast<std::size_t>(p.kids[static_cast<std::size_t>(n.first_kid + k)])];
                if (kid.fixed_size < 0 || &kid == &n) {
                    all = false;
                } else {
                    total = std::min(total + kid.fixed_size, kSizeCap);
                }
            }
            if (all) {
                n.fixed_size = total;
                changed = 1;
            }
        }
    }
    // simple skips: leaves and unions of leaves (no recursion needed to skip them)
    auto leaf_skip = [](const Node& n) -> SimpleSkip {
        if (n.fixed_size >= 0) return SimpleSkip{kSkipFixed, n.fixed_size};
        switch (n.op) {
            case kOpInt:
            case kOpLong: return SimpleSkip{kSkipVarint, 0};
            case kOpEnum: return SimpleSkip{kSkipEnum, n.arg};
            case kOpBytes: return SimpleSkip{kSkipBytes, 0};
            case kOpString: return SimpleSkip{kSkipString, 0};
            default: return SimpleSkip{kSkipComplex, 0};
        }
    };
    for (Node& n : p.nodes) {
        if (n.has_targets) continue;
        if (n.op != kOpUnion) {
            n.skip_kind = leaf_skip(n).kind;
            continue;
        }
        bool simple = true;
        for (std::int32_t k = 0; k < n.n_kids && simple; ++k) {
            const Node& kid = p.nodes[static_cast<std::size_t>(p.kids[static_cast<std::size_t>(n.first_kid + k)])];
            simple = leaf_skip(kid).kind != kSkipComplex;
        }
        if (!simple) continue;
        n.skip_kind = kSkipSimpleUnion;
        n.first_simple = static_cast<std::int32_t>(p.simple.size());
        for (std::int32_t k = 0; k < n.n_kids; ++k) {
            p.simple.push_back(
                leaf_skip(p.nodes[static_cast<std::size_t>(p.kids[static_cast<std::size_t>(n.first_kid + k)])]));
        }
    }
    return p;
}

namespace {

[[noreturn]] BTSBOT_AVRO_COLD void fail_depth(int max_depth) {
    fail("values nested deeper than " + std::to_string(max_depth) + " levels");
}

[[noreturn]] BTSBOT_AVRO_COLD void fail_enum(std::int64_t i) {
    fail("enum index " + std::to_string(i) + " out of range");
}

[[noreturn]] BTSBOT_AVRO_COLD void fail_branch(std::int64_t b, std::int32_t n) {
    fail("union branch index " + std::to_string(b) + " out of range (" + std::to_string(n) + " branches)");
}

[[noreturn]] BTSBOT_AVRO_COLD void fail_utf8(const char* what) { fail(std::string("invalid UTF-8 in a ") + what); }

// isdiffpos 't' or '1': the difference is positive (the BTS filter's positive subtraction/detection)
bool positive_subtraction(const std::uint8_t* s, std::size_t n) { return n == 1 && (s[0] == 't' || s[0] == '1'); }

class Decoder {
public:
    Decoder(const Program& p, const Limits& l, Cursor& c, RecordFields& f, HistorySink& h)
        : prog_(p), limits_(l), c_(c), f_(f), hist_(h), items_left_(l.max_items_per_record) {}

    void run() {
        const Node& root = node(prog_.root);
        if (root.has_targets) {
            value(root, 0);
        } else {
            skip_node(root, 0);
        }
    }

private:
    struct Item {
        double jd = 0, mag = 0, fid = 0;
        bool has_jd = false, has_mag = false, has_fid = false, positive = false;
    };

    const Program& prog_;
    const Limits& limits_;
    Cursor& c_;
    RecordFields& f_;
    HistorySink& hist_;
    std::int64_t items_left_;
    Item item_;

    const Node& node(std::int32_t i) const { return prog_.nodes[static_cast<std::size_t>(i)]; }
    const Node& kid(const Node& n, std::int32_t k) const {
        return prog_.nodes[static_cast<std::size_t>(prog_.kids[static_cast<std::size_t>(n.first_kid + k)])];
    }

    void check_depth(int depth) const {
        if (depth > limits_.max_depth) fail_depth(limits_.max_depth);
    }

    std::int64_t branch(const Node& n) {
        const std::int64_t b = c_.read_long();
        if (b < 0 || b >= n.n_kids) fail_branch(b, n.n_kids);
        return b;
    }

    // One array/map block header: returns the item count (0 = end), and the block byte size when the
    // writer gave one (else -1).
    std::int64_t block_count(std::int64_t& byte_size, std::int64_t item_min_size) {
        std::int64_t count = c_.read_long();
        byte_size = -1;
        if (count == 0) return 0;
        if (count < 0) {
            if (count == std::numeric_limits<std::int64_t>::min()) fail("bad array/map block count");
            count = -count;
            byte_size = c_.read_long();
            if (byte_size < 0) fail("negative array/map block size " + std::to_string(byte_size));
            if (static_cast<std::uint64_t>(byte_size) > c_.remaining()) {
                fail("array/map block size " + std::to_string(byte_size) + " exceeds the " +
                     std::to_string(c_.remaining()) + " byte(s) left");
            }
        }
        if (item_min_size > 0 &&
            static_cast<std::uint64_t>(count) > c_.remaining() / static_cast<std::uint64_t>(item_min_size)) {
            fail("array/map block count " + std::to_string(count) + " exceeds what the " +
                 std::to_string(c_.remaining()) + " byte(s) left can hold");
        }
        if (count > items_left_) {
            fail("more than " + std::to_string(limits_.max_items_per_record) + " array/map items in one record");
        }
        items_left_ -= count;
        return count;
    }

    const std::uint8_t* string_value(const char* what, std::size_t& n) {
        n = c_.read_length(what);
        const std::uint8_t* s = c_.take(n, what);
        if (!valid_utf8(s, n)) fail_utf8(what);
        return s;
    }

#if defined(__GNUC__)
    [[gnu::always_inline]]
#endif
    inline void
    skip_simple(std::uint8_t kind, std::int64_t size) {
        switch (kind) {
            case kSkipFixed: c_.skip(static_cast<std::size_t>(size), "value"); return;
            case kSkipVarint: c_.skip_long(); return;
            case kSkipEnum: {
                const std::int64_t i = c_.read_long();
                if (i < 0 || i >= size) fail_enum(i);
                return;
            }
            case kSkipBytes: c_.skip(c_.read_length("bytes"), "bytes"); return;
            case kSkipString: {
                std::size_t n;
                (void)string_value("string", n);
                return;
            }
            default: fail("internal: bad simple skip");
        }
    }

    // Skips one value of a subtree that extracts nothing: leaves and unions of leaves inline, the rest
    // (records, arrays, maps) by skip_complex.
    void skip_node(const Node& n, int depth) {
        if (n.skip_kind == kSkipSimpleUnion) {
            const SimpleSkip& s = prog_.simple[static_cast<std::size_t>(n.first_simple + branch(n))];
            skip_simple(s.kind, s.size);
        } else if (n.skip_kind != kSkipComplex) {
            skip_simple(n.skip_kind, n.fixed_size >= 0 ? n.fixed_size : n.arg);
        } else {
            skip_complex(n, depth);
        }
    }

    void skip_complex(const Node& n, int depth) {
        check_depth(depth + 1);
        switch (n.op) {
            case kOpArray:
            case kOpMap: {
                const Node& item = kid(n, 0);
                const std::int64_t item_min = item.min_size + (n.op == kOpMap ? 1 : 0);
                while (true) {
                    std::int64_t size;
                    const std::int64_t count = block_count(size, item_min);
                    if (count == 0) break;
                    if (size >= 0) {  // the writer gave the block's byte size: skip it whole
                        c_.skip(static_cast<std::size_t>(size), "array/map block");
                        continue;
                    }
                    for (std::int64_t k = 0; k < count; ++k) {
                        if (n.op == kOpMap) {
                            std::size_t len;
                            (void)string_value("map key", len);
                        }
                        skip_node(item, depth + 1);
                    }
                }
                return;
            }
            case kOpUnion: skip_node(kid(n, static_cast<std::int32_t>(branch(n))), depth + 1); return;
            case kOpRecord:
                for (std::int32_t k = 0; k < n.n_kids; ++k) skip_node(kid(n, k), depth + 1);
                return;
            default:  // unreachable: every leaf has a simple skip
                fail("internal: unexpected op");
        }
    }

    void number(const Node& n, double v) {
        const std::uint8_t t = n.target;
        if (t >= kTgtColumn0) {
            // isdiffpos: only the strings 't' and '1' are positive (kOpString in value()), never a number
            f_.candidate[t - kTgtColumn0] = t == kTgtColumn0 + kColIsdiffpos ? 0.0 : v;
            f_.present |= column_bit(t - kTgtColumn0);
        } else if (t == kTgtPrvJd) {
            item_.jd = v;
            item_.has_jd = true;
        } else if (t == kTgtPrvMag) {
            item_.mag = v;
            item_.has_mag = true;
        } else if (t == kTgtPrvFid) {
            item_.fid = v;
            item_.has_fid = true;
        }
    }

    void fields(const Node& n, int depth) {
        for (std::int32_t k = 0; k < n.n_kids; ++k) {
            const Node& f = kid(n, k);
            if (f.has_targets) {
                value(f, depth + 1);
            } else {
                skip_node(f, depth + 1);
            }
        }
    }

    // One value of a subtree that extracts something.
    void value(const Node& n, int depth) {
        if (n.target == kTgtNotRecord) f_.not_record = true;
        switch (n.op) {
            case kOpNull: return;
            case kOpBoolean: {
                const std::uint8_t b = *c_.take(1, "boolean");
                number(n, b != 0 ? 1.0 : 0.0);
                return;
            }
            case kOpInt:
            case kOpLong: {
                const std::int64_t v = c_.read_long();
                if (n.target == kTgtCandid) {
                    f_.candid = v;
                    f_.has_candid = true;
                } else if (n.target == kTgtCandCandid) {
                    f_.cand_candid = v;
                    f_.has_cand_candid = true;
                } else {
                    number(n, static_cast<double>(v));
                }
                return;
            }
            case kOpFloat: number(n, static_cast<double>(c_.read_float())); return;
            case kOpDouble: number(n, c_.read_double()); return;
            case kOpBytes: {
                const std::size_t len = c_.read_length("bytes");
                const std::uint8_t* p = c_.take(len, "bytes");
                if (n.target >= kTgtStamp0 && n.target < kTgtStamp0 + kChannels) {
                    f_.stamps[n.target - kTgtStamp0] = Blob{p, len, true};
                }
                return;
            }
            case kOpString: {
                std::size_t len;
                const std::uint8_t* p = string_value("string", len);
                if (n.target == kTgtObjectId) {
                    f_.object_id = p;
                    f_.object_id_size = len;
                    f_.has_object_id = true;
                } else if (n.target == kTgtPrvIsdiffpos) {
                    item_.positive = positive_subtraction(p, len);
                } else if (n.target == kTgtColumn0 + kColIsdiffpos) {
                    f_.candidate[kColIsdiffpos] = positive_subtraction(p, len) ? 1.0 : 0.0;
                    f_.present |= column_bit(kColIsdiffpos);
                }
                return;
            }
            case kOpFixed:
            case kOpEnum: skip_simple(n.op == kOpFixed ? kSkipFixed : kSkipEnum, n.arg); return;
            case kOpArray:
            case kOpMap: {
                check_depth(depth + 1);
                const Node& item = kid(n, 0);
                const std::int64_t item_min = item.min_size + (n.op == kOpMap ? 1 : 0);
                while (true) {
                    std::int64_t size;
                    const std::int64_t count = block_count(size, item_min);
                    if (count == 0) break;
                    const std::uint8_t* block_end = size >= 0 ? c_.p + size : nullptr;
                    for (std::int64_t k = 0; k < count; ++k) {
                        if (n.op == kOpMap) {
                            std::size_t len;
                            (void)string_value("map key", len);
                        }
                        if (item.has_targets) {
                            value(item, depth + 1);
                        } else {
                            skip_node(item, depth + 1);
                        }
                    }
                    if (block_end != nullptr && c_.p != block_end)
                        fail("array/map block size does not match its items");
                }
                return;
            }
            case kOpUnion: {
                check_depth(depth + 1);
                const Node& b = kid(n, static_cast<std::int32_t>(branch(n)));
                if (b.has_targets) {
                    value(b, depth + 1);
                } else {
                    skip_node(b, depth + 1);
                }
                return;
            }
            case kOpRecord: {
                check_depth(depth + 1);
                if (n.target == kTgtCandidate) f_.has_candidate = true;
                if (n.target == kTgtPrvItem) {
                    const Item saved = item_;
                    item_ = Item{};
                    f_.present |= static_cast<PresentMask>(n.arg) << kPrvLacksShift;
                    fields(n, depth);
                    // a detection (non-null magpsf, NaN included) enters the history; a null jd is flagged,
                    // for compute_features to report as a missing field
                    if (item_.has_mag) {
                        hist_.jd.push_back(item_.has_jd ? item_.jd : std::numeric_limits<double>::quiet_NaN());
                        hist_.magpsf.push_back(item_.mag);
                        hist_.fid.push_back(item_.has_fid ? item_.fid : std::numeric_limits<double>::quiet_NaN());
                        hist_.flags.push_back(static_cast<std::uint8_t>(
                            kHistItem | kHistMag | (item_.has_jd ? kHistJd : 0) | (item_.has_fid ? kHistFid : 0) |
                            (item_.positive ? kHistPositive : 0)));
                    }
                    item_ = saved;
                    return;
                }
                fields(n, depth);
                return;
            }
            default: fail("internal: unexpected op");
        }
    }
};

}  // namespace

void decode_record(const Program& program, const Limits& limits, Cursor& cursor, RecordFields& out,
                   HistorySink& history) {
    Decoder(program, limits, cursor, out, history).run();
}

}  // namespace btsbot::avro
