#include "avro/decode.hpp"

#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <new>

#include "cutout.hpp"
#include "features.hpp"
#include "parallel.hpp"
#include "status.hpp"

namespace btsbot::avro {

namespace {

constexpr std::uint8_t kNotCovered = 254;  // internal: a row no task writes
constexpr std::uint8_t kPreprocess = 0;    // internal: a decoded alert that goes through the core

std::string codec_message(const ScanInfo& s) {
    if (s.codec == Codec::SnappyUnavailable) return "codec snappy not compiled in";
    return "unsupported codec '" + std::string(s.codec_name) + "'";
}

}  // namespace

void scan_buffers(const BufferRef* buffers, std::size_t n, const Limits& limits, std::vector<ScanInfo>& info,
                  std::vector<BlockEntry>& blocks) {
    info.assign(n, ScanInfo{});
    blocks.clear();
    std::unique_ptr<Inflater> inflater;
    std::vector<std::uint8_t> scratch;
    for (std::size_t i = 0; i < n; ++i) {
        ScanInfo& s = info[i];
        const BufferRef& b = buffers[i];
        OcfHeader h;
        try {
            h = parse_header(b.data, b.size, limits);
        } catch (const AvroError& e) {
            s.state = ScanState::HeaderError;
            s.message = e.what();
            continue;
        }
        s.schema = h.schema;
        s.codec = h.codec;
        s.codec_name = h.codec_name;
        if (h.codec == Codec::SnappyUnavailable || h.codec == Codec::Unknown) {
            s.state = ScanState::CodecUnsupported;
            s.message = codec_message(s);
            continue;
        }
        s.first_block = blocks.size();
        std::size_t off = h.data_offset;
        try {
            while (off < b.size) {
                const BlockFrame f = read_block_frame(b.data, b.size, off, h, limits);
                if (f.count == 0) {
                    // no record slot to report a later decompression failure in: check it now
                    if (h.codec != Codec::Null) {
                        if (!inflater) inflater = std::make_unique<Inflater>();
                        (void)decompress_block(f, h.codec, *inflater, scratch, limits);
                    }
                } else {
                    blocks.push_back(BlockEntry{static_cast<std::int64_t>(off), f.count});
                    s.n_records += f.count;
                }
                off = f.next;
            }
        } catch (const AvroError& e) {
            s.state = ScanState::BodyError;
            s.message = e.what();
        } catch (const std::bad_alloc&) {
            s.state = ScanState::BodyError;
            s.message = "out of memory";
        }
        s.n_blocks = blocks.size() - s.first_block;
    }
}

namespace {

struct RowInput {
    Blob stamps[kChannels];
    double candidate[kNumCandidateColumns];
    const std::uint8_t* object_id = nullptr;  // view (nullptr: none)
    std::size_t object_id_size = 0;
    std::int64_t candid = 0;
    std::size_t task = 0;
    std::size_t hist_begin = 0, hist_end = 0;
    std::uint8_t pre = kNotCovered;  // kPreprocess, a final Status, kRowUnused or kNotCovered
    bool has_candid = false;
    bool has_candidate = false;
};

struct TaskState {
    std::vector<std::vector<std::uint8_t>> blocks;  // decompressed bytes the row views point into
    std::vector<double> hist_jd, hist_mag;
};

struct DecodeScratch {
    Inflater inflater;
    RecordFields fields;
    std::vector<double> sink_jd, sink_mag;
};

std::string corrupt_message(std::int64_t index, const char* detail) {
    std::string m = "corrupt Avro data";
    if (index > 0) m += " after " + std::to_string(index) + " record(s)";
    return m + ": " + detail;
}

void run_task(std::size_t ti, const Task& t, const BufferRef* buffers, const Program* programs, const Limits& limits,
              std::vector<RowInput>& rows, TaskState& ts, DecodeScratch& scratch, const DecodeOutputs& out) {
    const BufferRef& b = buffers[t.buffer];
    const Program& prog = programs[t.program];
    std::int64_t row = 0;
    std::int64_t record = t.first_record;
    std::int64_t to_skip = t.skip;
    const char* failure = nullptr;
    std::string failure_text;
    try {
        const OcfHeader h = parse_header(b.data, b.size, limits);
        std::size_t off = static_cast<std::size_t>(t.block_offset);
        while (row < t.n_rows) {
            if (off >= b.size) fail("the buffer holds fewer records than its scan found");
            const BlockFrame f = read_block_frame(b.data, b.size, off, h, limits);
            off = f.next;
            if (f.count == 0) continue;
            if (to_skip >= f.count) {
                to_skip -= f.count;
                continue;
            }
            ts.blocks.emplace_back();
            const ByteView v = decompress_block(f, h.codec, scratch.inflater, ts.blocks.back(), limits);
            if (h.codec == Codec::Null) ts.blocks.pop_back();  // views point into the caller's buffer
            Cursor c(v.data, v.size);
            for (std::int64_t k = 0; k < f.count && row < t.n_rows; ++k) {
                if (to_skip > 0) {
                    scratch.sink_jd.clear();
                    scratch.sink_mag.clear();
                    decode_record(prog, limits, c, scratch.fields, scratch.sink_jd, scratch.sink_mag);
                    --to_skip;
                    continue;
                }
                RowInput& r = rows[static_cast<std::size_t>(t.row_offset + row)];
                RecordFields& fl = scratch.fields;
                fl.reset();
                const std::size_t hist_begin = ts.hist_jd.size();
                decode_record(prog, limits, c, fl, ts.hist_jd, ts.hist_mag);
                r.task = ti;
                r.hist_begin = hist_begin;
                r.hist_end = ts.hist_jd.size();
                std::string& msg = (*out.messages)[static_cast<std::size_t>(t.row_offset + row)];
                if (fl.not_record) {
                    r.pre = static_cast<std::uint8_t>(Status::DecodeError);
                    msg = "record is not an Avro record";
                } else {
                    r.object_id = fl.has_object_id ? fl.object_id : nullptr;
                    r.object_id_size = fl.object_id_size;
                    r.has_candid = fl.has_candid || fl.has_cand_candid;
                    r.candid = fl.has_candid ? fl.candid : fl.cand_candid;
                    r.has_candidate = fl.has_candidate;
                    std::memcpy(r.candidate, fl.candidate, sizeof r.candidate);
                    for (std::size_t ch = 0; ch < kChannels; ++ch) r.stamps[ch] = fl.stamps[ch];
                    if (prog.foreign) {
                        r.has_candidate = false;  // jd unknown, like the fastavro path (no record kept)
                        r.pre = static_cast<std::uint8_t>(Status::UnsupportedSchema);
                    } else if (!fl.has_candidate) {
                        r.pre = static_cast<std::uint8_t>(Status::MissingField);
                        msg = "missing field: candidate";
                    } else {
                        r.pre = kPreprocess;
                    }
                }
                ++row;
                ++record;
            }
        }
        return;
    } catch (const AvroError& e) {
        failure_text = e.what();
    } catch (const std::bad_alloc&) {
        failure_text = "out of memory";
    } catch (const std::exception& e) {
        failure_text = std::string("internal error: ") + e.what();
    }
    failure = failure_text.c_str();
    out.task_errors[ti] = record;
    if (row >= t.n_rows) return;  // no slot (cannot happen for tasks with n_rows >= 1)
    // the failing record's slot becomes the error row; later rows of this task are dropped
    RowInput& r = rows[static_cast<std::size_t>(t.row_offset + row)];
    r = RowInput{};
    r.task = ti;
    r.pre = static_cast<std::uint8_t>(Status::DecodeError);
    (*out.messages)[static_cast<std::size_t>(t.row_offset + row)] = corrupt_message(record, failure);
    for (std::int64_t k = row + 1; k < t.n_rows; ++k) {
        RowInput& u = rows[static_cast<std::size_t>(t.row_offset + k)];
        u = RowInput{};
        u.task = ti;
        u.pre = kRowUnused;
    }
}

void zero_row(const DecodeOutputs& out, std::size_t i) {
    std::memset(out.triplets + i * kTripletFloats, 0, kTripletFloats * sizeof(float));
    std::memset(out.metadata + i * kNumFeatures, 0, kNumFeatures * sizeof(float));
}

}  // namespace

void decode_preprocess(const BufferRef* buffers, const Program* programs, const Task* tasks, std::size_t n_tasks,
                       const DecodeOutputs& out, const Limits& limits, int n_threads) {
    const std::size_t n = out.n_rows;
    out.messages->assign(n, std::string());
    out.object_ids->assign(n, ObjectId{});
    for (std::size_t t = 0; t < n_tasks; ++t) out.task_errors[t] = -1;
    std::vector<RowInput> rows(n);
    std::vector<TaskState> states(n_tasks);

    // phase 1: decode (one task per worker at a time; tasks are buffers or block ranges)
    parallel_for<DecodeScratch>(n_tasks, n_threads, 1, [&](std::size_t b, std::size_t e, DecodeScratch& s) {
        for (std::size_t t = b; t < e; ++t) run_task(t, tasks[t], buffers, programs, limits, rows, states[t], s, out);
    });

    // phase 2: cutouts + features per row (the expensive part, balanced over rows)
    constexpr std::size_t kRowChunk = 4;
    const double nan = std::numeric_limits<double>::quiet_NaN();
    parallel_for<StampScratch>(n, n_threads, kRowChunk, [&](std::size_t b, std::size_t e, StampScratch& s) {
        for (std::size_t i = b; i < e; ++i) {
            const RowInput& r = rows[i];
            if (r.pre == kNotCovered) continue;
            if (r.pre == kRowUnused) {
                out.status[i] = kRowUnused;
                out.flags[i] = 0;
                continue;
            }
            out.candid[i] = r.has_candid ? r.candid : -1;
            out.flags[i] = r.has_candid ? kRowHasCandid : 0;
            double* info = out.info + i * kRowInfoColumns;
            info[0] = r.has_candidate ? r.candidate[kColJd] : nan;
            info[1] = r.has_candidate ? r.candidate[kColMagpsf] : nan;
            info[2] = r.has_candidate ? r.candidate[kColFid] : nan;
            if (r.object_id != nullptr) {
                ObjectId& oid = (*out.object_ids)[i];
                oid.text.assign(reinterpret_cast<const char*>(r.object_id), r.object_id_size);
                oid.present = true;
            }
            if (r.pre != kPreprocess) {
                out.status[i] = r.pre;
                zero_row(out, i);
                continue;
            }
            std::string& msg = (*out.messages)[i];
            Status st;
            try {
                st = prepare_triplet(r.stamps[0], r.stamps[1], r.stamps[2], s, out.triplets + i * kTripletFloats, msg);
                if (st == Status::Ok) {
                    const TaskState& ts = states[r.task];
                    st = compute_features(r.candidate, ts.hist_jd.data() + r.hist_begin,
                                          ts.hist_mag.data() + r.hist_begin, r.hist_end - r.hist_begin,
                                          out.metadata + i * kNumFeatures, msg);
                }
            } catch (const std::exception& ex) {
                msg = std::string("internal error: ") + ex.what();
                st = Status::DecodeError;
            }
            if (st != Status::Ok) zero_row(out, i);
            out.status[i] = static_cast<std::uint8_t>(st);
        }
    });
}

}  // namespace btsbot::avro
