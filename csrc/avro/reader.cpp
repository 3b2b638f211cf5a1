#include "avro/reader.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>

#include "batch.hpp"
#include "pool.hpp"
#include "status.hpp"

namespace btsbot::avro {

struct Reader::Source {
    enum class Kind { Buffer, File, Member, Error, Archive };
    enum class Header { Unparsed, NeedSchema, Native, Fallback };

    Kind kind = Kind::Buffer;
    std::string name;
    std::string path;             // File, Archive
    std::shared_ptr<void> owner;  // Buffer: the caller's object; Member: its bytes
    BufferRef bytes;
    bool loaded = false;
    FileBytes file;
    std::size_t held = 0;  // budget bytes taken for the contents
    std::string error;     // Error: the detail of its one row
    std::unique_ptr<ArchiveSource> archive;

    // This source becomes one ReadError row with `detail`.
    void make_error(std::string detail) {
        kind = Kind::Error;
        error = std::move(detail);
        loaded = true;
    }

    Header header = Header::Unparsed;
    OcfHeader h;
    std::string schema_text;  // NeedSchema
    std::shared_ptr<ProgramEntry> program;

    // progress
    std::size_t next_offset = 0;  // the next block to frame
    std::int64_t next_record = 0;
    bool finished = false;
    // a block whose records are partly used: its bytes and where the next record starts
    struct Carry {
        bool active = false;
        BudgetedBytes bytes;  // empty for codec null (the view is into the source's bytes)
        ByteView view;
        std::size_t cursor = 0;
        std::int64_t left = 0;
    } carry;
};

struct Reader::Task {
    std::size_t source = 0;
    BlockFrame frame;
    bool from_carry = false;
    std::int64_t n_rows = 0;
    std::size_t row_offset = 0;
    std::int64_t first_record = 0;
    // results of phase 1
    BudgetedBytes bytes;
    ByteView view;
    std::size_t end_cursor = 0;
    std::int64_t block_left = 0;  // records of the block after this task's
    HistorySink history;
    bool deferred = false;
    std::int64_t failed_at = -1;
    std::string failure;
};

struct Reader::Row {
    std::size_t source = 0;
    std::int64_t record = 0;
    RowReason reason = RowReason::None;
    std::string detail;
    std::int64_t task = -1;
    bool keep = true;
    bool has_candid = false;
    bool has_object_id = false;
    std::int64_t candid = 0;
    const std::uint8_t* object_id = nullptr;
    std::size_t object_id_size = 0;
    Blob stamps[kChannels];
    double candidate[kNumCandidateColumns];
    PresentMask present = 0;  // with kCandidateRecordBit: the record has a candidate
    std::size_t hist_begin = 0, hist_end = 0;
};

namespace {

struct DecodeScratch {
    Inflater inflater;
    RecordFields fields;
};

struct Saved {
    std::size_t next_offset;
    std::int64_t next_record;
    bool finished;
};

}  // namespace

Reader::Reader(const ReaderOptions& options) : options_(options), budget_(options.max_inflight_bytes) {
    if (options.max_inflight_bytes < options.limits.max_block_bytes + options.map_threshold) {
        throw std::invalid_argument("max_inflight_bytes must be at least max_block_bytes + map_threshold (" +
                                    std::to_string(options.limits.max_block_bytes + options.map_threshold) + ")");
    }
}

Reader::~Reader() {
    for (auto& s : queue_) {
        if (s->held > 0) budget_.release(s->held);
    }
}

void Reader::add_buffer(std::string name, BufferRef bytes, std::shared_ptr<void> owner) {
    auto s = std::make_unique<Source>();
    s->kind = Source::Kind::Buffer;
    s->name = std::move(name);
    s->bytes = bytes;
    s->owner = std::move(owner);
    s->loaded = true;
    queue_.push_back(std::move(s));
}

void Reader::add_file(std::string name, std::string path) {
    auto s = std::make_unique<Source>();
    s->kind = Source::Kind::File;
    s->name = std::move(name);
    s->path = std::move(path);
    queue_.push_back(std::move(s));
}

void Reader::add_archive(std::string name, std::string path) {
    auto s = std::make_unique<Source>();
    s->kind = Source::Kind::Archive;
    s->name = name;
    s->path = path;
    s->archive = std::make_unique<ArchiveSource>(std::move(path), std::move(name), options_.archive_read_ahead,
                                                 options_.archive_link_cache, options_.max_inflight_bytes / 2);
    queue_.push_back(std::move(s));
}

void Reader::add_error(std::string name, std::string detail) {
    auto s = std::make_unique<Source>();
    s->name = std::move(name);
    s->make_error(std::move(detail));
    queue_.push_back(std::move(s));
}

void Reader::set_program(const std::string& schema_text, std::unique_ptr<Program> program, std::string schema_name) {
    auto entry = std::make_shared<ProgramEntry>();
    entry->program = std::move(program);
    entry->schema_name = std::move(schema_name);
    programs_[schema_text] = entry;
    last_schema_.clear();
    last_program_.reset();
    for (auto& s : queue_) {  // sources waiting for this schema
        if (s->header == Source::Header::NeedSchema && s->schema_text == schema_text) {
            s->program = entry;
            s->header = entry->program ? Source::Header::Native : Source::Header::Fallback;
            s->schema_text.clear();
        }
    }
}

std::vector<std::shared_ptr<void>> Reader::take_retired() {
    std::vector<std::shared_ptr<void>> out;
    out.swap(retired_);
    return out;
}

void Reader::retire_front(std::size_t n) {
    for (std::size_t k = 0; k < n && !queue_.empty(); ++k) {
        Source& s = *queue_.front();
        if (s.held > 0) budget_.release(s.held);
        if (s.owner) retired_.push_back(std::move(s.owner));
        queue_.pop_front();
    }
}

void Reader::parse_header(Source& s) {
    if (s.header != Source::Header::Unparsed) return;
    try {
        s.h = avro::parse_header(s.bytes.data, s.bytes.size, options_.limits);
    } catch (const AvroError&) {
        s.header = Source::Header::Fallback;  // fastavro words the problem, as the reference path does
        return;
    }
    if (s.h.codec == Codec::SnappyUnavailable || s.h.codec == Codec::Unknown) {
        s.header = Source::Header::Fallback;
        return;
    }
    s.next_offset = s.h.data_offset;
    const std::string_view text = s.h.schema;
    if (last_program_ && text == last_schema_) {
        s.program = last_program_;
    } else {
        const auto it = programs_.find(std::string(text));
        if (it == programs_.end()) {
            s.header = Source::Header::NeedSchema;
            s.schema_text.assign(text);
            return;
        }
        s.program = it->second;
        last_schema_.assign(text);
        last_program_ = it->second;
    }
    s.header = s.program->program ? Source::Header::Native : Source::Header::Fallback;
}

void Reader::materialize_archive(std::size_t i) {
    Source& a = *queue_[i];
    ArchiveMember m;
    if (!a.archive->next(m)) {
        queue_.erase(queue_.begin() + static_cast<std::ptrdiff_t>(i));
        return;
    }
    auto s = std::make_unique<Source>();
    s->name = std::move(m.name);
    if (!m.error.empty() || !m.bytes) {
        s->make_error(std::move(m.error));
    } else {
        s->kind = Source::Kind::Member;
        s->bytes = BufferRef{m.bytes->data(), m.bytes->size()};
        s->owner = std::const_pointer_cast<std::vector<std::uint8_t>>(m.bytes);
        s->loaded = false;  // admitted when the budget takes its bytes
    }
    queue_.insert(queue_.begin() + static_cast<std::ptrdiff_t>(i), std::move(s));
}

void Reader::load_files(std::size_t first, std::size_t max_files, bool must_load_first, int n_threads) {
    std::vector<std::size_t> idx;
    for (std::size_t i = first; i < queue_.size() && idx.size() < max_files; ++i) {
        const Source& s = *queue_[i];
        if (s.kind != Source::Kind::File || s.loaded) break;
        idx.push_back(i);
    }
    if (idx.empty()) return;
    std::vector<std::uint8_t> deferred(idx.size(), 0);
    const std::size_t threshold = options_.map_threshold;
    auto load_one = [&](std::size_t k) {
        Source& s = *queue_[idx[k]];
        std::string error;
        bool deferred_here = false;
        std::size_t reserved = 0;
        const bool ok = s.file.open(
            s.path, threshold,
            [&](std::size_t size) {
                if (!budget_.reserve(size)) return false;
                reserved = size;
                return true;
            },
            deferred_here, error);
        if (!ok) {
            budget_.release(reserved);
            s.make_error(std::move(error));
            return;
        }
        if (deferred_here) {
            deferred[k] = 1;
            return;
        }
        if (s.file.size() < reserved) budget_.release(reserved - s.file.size());
        s.held = s.file.mapped() ? 0 : s.file.size();
        s.bytes = BufferRef{s.file.data(), s.file.size()};
        s.loaded = true;
    };
    parallel_for<int>(idx.size(), n_threads, 8, [&](std::size_t b, std::size_t e, int&) {
        for (std::size_t k = b; k < e; ++k) load_one(k);
    });
    // keep a prefix: files after the first one the budget could not take are unloaded again
    std::size_t cut = idx.size();
    for (std::size_t k = 0; k < idx.size(); ++k) {
        if (deferred[k]) {
            cut = k;
            break;
        }
    }
    for (std::size_t k = cut; k < idx.size(); ++k) {
        Source& s = *queue_[idx[k]];
        if (s.kind == Source::Kind::File && s.loaded) unload_file(s);
    }
    if (cut == 0 && must_load_first) {  // cut == 0: the first file was deferred
        load_one(0);                    // everything before it is consumed: it fits unless it alone exceeds the budget
        Source& s = *queue_[idx[0]];
        if (s.kind == Source::Kind::File && !s.loaded) {
            s.make_error("file larger than the reader's memory limit (" + std::to_string(budget_.limit()) + " bytes)");
        }
    }
}

void Reader::unload_file(Source& s) {
    budget_.release(s.held);
    s.held = 0;
    s.file.reset();
    s.bytes = BufferRef{};
    s.loaded = false;
    s.header = Source::Header::Unparsed;  // parsed from the bytes just dropped
    s.program.reset();
}

void Reader::next_batch(const BatchOutputs& out, BatchInfo& info, int n_threads) {
    info = BatchInfo{};
    const std::size_t cap = out.capacity;
    if (cap == 0) throw std::invalid_argument("capacity must be >= 1");
    const Limits& limits = options_.limits;
    std::vector<Row> rows;
    std::vector<std::unique_ptr<Task>> tasks;
    std::vector<std::pair<std::size_t, Saved>> touched;
    bool solo = false;  // retry after a budget cut with nothing decoded: one task, everything else unloaded

    while (true) {
        rows.clear();
        tasks.clear();
        touched.clear();
        auto touch = [&](std::size_t i) {
            const Source& s = *queue_[i];
            if (touched.empty() || touched.back().first != i) {
                touched.emplace_back(i, Saved{s.next_offset, s.next_record, s.finished});
            }
        };
        auto add_row = [&](std::size_t source, std::int64_t record) -> Row& {
            rows.emplace_back();
            Row& r = rows.back();
            r.source = source;
            r.record = record;
            return r;
        };
        // the source's last row: it cannot be read from `record` on (reason + detail), nothing after it
        auto end_source = [&](std::size_t i, std::int64_t record, RowReason reason, std::string detail) {
            Row& r = add_row(i, record);
            r.reason = reason;
            r.detail = std::move(detail);
            queue_[i]->finished = true;
        };
        // the next n records of source i, decoded from its carried block (frame == nullptr) or `*frame`
        auto add_task = [&](std::size_t i, std::int64_t n, const BlockFrame* frame) {
            Source& s = *queue_[i];
            auto t = std::make_unique<Task>();
            t->source = i;
            t->from_carry = frame == nullptr;
            if (frame != nullptr) t->frame = *frame;
            t->n_rows = n;
            t->row_offset = rows.size();
            t->first_record = s.next_record;
            for (std::int64_t k = 0; k < n; ++k)
                add_row(i, s.next_record + k).task = static_cast<std::int64_t>(tasks.size());
            tasks.push_back(std::move(t));
            s.next_record += n;
        };

        // ---- plan (sequential: framing, headers, loading) ----------------------------------------
        std::size_t i = 0;
        bool stop_planning = false;
        while (rows.size() < cap && !stop_planning) {
            if (i >= queue_.size()) break;
            if (queue_[i]->kind == Source::Kind::Archive) {
                materialize_archive(i);
                continue;
            }
            Source& s = *queue_[i];
            if (s.finished) {
                ++i;
                continue;
            }
            if (!s.loaded) {
                if (s.kind == Source::Kind::File) {
                    load_files(i, solo ? 1 : cap - rows.size(), rows.empty(), n_threads);
                } else if (s.kind == Source::Kind::Member) {
                    if (budget_.reserve(s.bytes.size)) {
                        s.held = s.bytes.size;
                        s.loaded = true;
                    } else if (rows.empty()) {  // cannot happen within the construction invariant
                        s.make_error("archive member larger than the reader's memory limit");
                    }
                }
                if (!s.loaded) break;  // the budget is full: the batch ends here
            }
            touch(i);
            if (s.kind == Source::Kind::Error) {
                end_source(i, 0, RowReason::ReadError, s.error);
                ++i;
                continue;
            }
            parse_header(s);
            if (s.header == Source::Header::NeedSchema) {
                if (rows.empty()) {  // every schema waiting among the sources already loaded
                    std::vector<std::string> texts;
                    for (std::size_t j = i; j < queue_.size(); ++j) {
                        Source& t = *queue_[j];
                        if (t.kind == Source::Kind::Archive) break;
                        if (!t.loaded || t.kind == Source::Kind::Error) continue;
                        parse_header(t);
                        if (t.header == Source::Header::NeedSchema &&
                            std::find(texts.begin(), texts.end(), t.schema_text) == texts.end()) {
                            texts.push_back(t.schema_text);
                        }
                    }
                    info.schemas = std::move(texts);
                    info.stop = BatchInfo::Stop::NeedSchemas;
                    return;
                }
                break;
            }
            if (s.header == Source::Header::Fallback) {
                if (rows.empty()) {
                    info.fallback.name = s.name;
                    info.fallback.bytes = s.bytes;
                    if (s.kind == Source::Kind::File) {
                        auto holder = std::make_shared<FileBytes>(std::move(s.file));
                        info.fallback.bytes = BufferRef{holder->data(), holder->size()};
                        info.fallback.owner = holder;
                    } else {
                        info.fallback.owner = s.owner;
                    }
                    s.finished = true;
                    retire_front(i + 1);
                    info.stop = BatchInfo::Stop::Fallback;
                    return;
                }
                break;
            }
            // a natively read source: its carried block first, then the next blocks
            if (s.carry.active) {
                const std::int64_t n =
                    std::min<std::int64_t>(s.carry.left, static_cast<std::int64_t>(cap - rows.size()));
                add_task(i, n, nullptr);
                if (n < s.carry.left) break;  // full
            }
            while (rows.size() < cap && !s.finished) {
                if (s.next_offset >= s.bytes.size) {
                    s.finished = true;
                    break;
                }
                BlockFrame f;
                try {
                    f = read_block_frame(s.bytes.data, s.bytes.size, s.next_offset, s.h, limits);
                } catch (const AvroError& e) {
                    end_source(i, s.next_record, RowReason::Corrupt, e.what());
                    break;
                }
                if (f.count == 0) {  // no record slot to report a later decompression failure in: check now
                    if (s.h.codec != Codec::Null) {
                        BudgetedBytes scratch(&budget_);
                        ByteView v;
                        Inflater inflater;
                        bool fits;
                        try {
                            fits = decompress_block(f, s.h.codec, inflater, scratch, limits, v);
                        } catch (const AvroError& e) {
                            end_source(i, s.next_record, RowReason::Corrupt, e.what());
                            break;
                        }
                        if (!fits) {
                            if (!rows.empty()) {
                                stop_planning = true;
                                break;
                            }
                            end_source(i, s.next_record, RowReason::Corrupt,
                                       "decompressed block larger than the reader's memory limit");
                            break;
                        }
                    }
                    s.next_offset = f.next;
                    continue;
                }
                const std::int64_t n = std::min<std::int64_t>(f.count, static_cast<std::int64_t>(cap - rows.size()));
                add_task(i, n, &f);
                s.next_offset = f.next;
                if (solo) stop_planning = true;
                if (n < f.count || solo) break;
            }
            if (!s.finished) break;  // full, or stopped inside this source
            ++i;
        }

        // ---- phase 1: inflate and decode the tasks' records (parallel over tasks) ------------------
        parallel_for<DecodeScratch>(tasks.size(), n_threads, 1, [&](std::size_t b, std::size_t e, DecodeScratch& sc) {
            for (std::size_t ti = b; ti < e; ++ti) {
                Task& t = *tasks[ti];
                Source& s = *queue_[t.source];
                const Program& prog = *s.program->program;
                std::int64_t record = t.first_record;
                try {
                    std::size_t cursor = 0;
                    std::int64_t block_records;
                    if (t.from_carry) {
                        t.view = s.carry.view;
                        cursor = s.carry.cursor;
                        block_records = s.carry.left;
                    } else {
                        t.bytes = BudgetedBytes(&budget_);
                        if (!decompress_block(t.frame, s.h.codec, sc.inflater, t.bytes, limits, t.view)) {
                            t.deferred = true;
                            continue;
                        }
                        block_records = t.frame.count;
                    }
                    Cursor c(t.view.data + cursor, t.view.size - cursor);
                    for (std::int64_t k = 0; k < t.n_rows; ++k, ++record) {
                        Row& r = rows[t.row_offset + static_cast<std::size_t>(k)];
                        RecordFields& fl = sc.fields;
                        fl.reset();
                        r.hist_begin = t.history.size();
                        decode_record(prog, limits, c, fl, t.history);
                        r.hist_end = t.history.size();
                        if (fl.not_record) {
                            r.reason = RowReason::NotRecord;
                            continue;
                        }
                        r.has_object_id = fl.has_object_id;
                        r.object_id = fl.object_id;
                        r.object_id_size = fl.object_id_size;
                        r.has_candid = fl.has_candid || fl.has_cand_candid;
                        r.candid = fl.has_candid ? fl.candid : fl.cand_candid;
                        if (prog.foreign) {
                            r.reason = RowReason::Foreign;  // jd unknown, like the fastavro path (no record kept)
                            r.detail = s.program->schema_name;
                            continue;
                        }
                        std::memcpy(r.candidate, fl.candidate, sizeof r.candidate);
                        r.present = fl.present | (fl.has_candidate ? kCandidateRecordBit : 0);
                        for (std::size_t ch = 0; ch < kChannels; ++ch) r.stamps[ch] = fl.stamps[ch];
                    }
                    t.end_cursor = static_cast<std::size_t>(c.p - t.view.data);
                    t.block_left = block_records - t.n_rows;
                } catch (const AvroError& e) {
                    t.failed_at = record;
                    t.failure = e.what();
                } catch (const std::bad_alloc&) {
                    t.failed_at = record;
                    t.failure = "out of memory";
                } catch (const std::exception& e) {
                    t.failed_at = record;
                    t.failure = std::string("internal error: ") + e.what();
                }
            }
        });

        // ---- a budget cut: rows from the first deferred task on wait for the next batch --------------
        std::size_t d = tasks.size();
        for (std::size_t ti = 0; ti < tasks.size(); ++ti) {
            if (tasks[ti]->deferred) {
                d = ti;
                break;
            }
        }
        if (d < tasks.size()) {
            const Task& td = *tasks[d];
            const std::size_t rows_kept = td.row_offset;
            for (const auto& [idx, saved] : touched) {
                Source& s = *queue_[idx];
                if (idx > td.source) {
                    s.next_offset = saved.next_offset;
                    s.next_record = saved.next_record;
                    s.finished = saved.finished;
                } else if (idx == td.source) {
                    s.next_offset = td.frame.offset;
                    s.next_record = td.first_record;
                    s.finished = false;
                }
            }
            tasks.resize(d);  // frees their bytes
            rows.resize(rows_kept);
            if (rows.empty()) {
                if (solo) throw std::runtime_error("internal error: one block does not fit the reader's budget");
                solo = true;  // free every loaded file ahead of the front, then one task alone
                for (std::size_t j = 1; j < queue_.size(); ++j) {
                    Source& s = *queue_[j];
                    if (!s.loaded || s.next_record != 0 || s.finished || s.carry.active) continue;
                    if (s.kind == Source::Kind::File) {
                        unload_file(s);
                    } else if (s.kind == Source::Kind::Member) {
                        budget_.release(s.held);  // its bytes stay with the source, admitted again later
                        s.held = 0;
                        s.loaded = false;
                    }
                }
                continue;
            }
        }
        break;
    }

    // ---- failures: a source ends at its first broken record ------------------------------------------
    std::unordered_map<std::size_t, std::int64_t> failed_at;
    auto note_failure = [&](std::size_t source, std::int64_t record) {
        auto it = failed_at.find(source);
        if (it == failed_at.end() || record < it->second) failed_at[source] = record;
    };
    for (const auto& t : tasks) {
        if (t->failed_at >= 0) note_failure(t->source, t->failed_at);
    }
    for (const Row& r : rows) {
        if (r.task < 0 && r.reason == RowReason::Corrupt) note_failure(r.source, r.record);
    }
    for (const auto& t : tasks) {
        if (t->failed_at < 0) continue;
        Row& r = rows[t->row_offset + static_cast<std::size_t>(t->failed_at - t->first_record)];
        if (failed_at[t->source] == t->failed_at) {
            r = Row{};
            r.source = t->source;
            r.record = t->failed_at;
            r.reason = RowReason::Corrupt;
            r.detail = t->failure;
        }
    }
    for (Row& r : rows) {
        const auto it = failed_at.find(r.source);
        if (it != failed_at.end() && r.record > it->second) r.keep = false;
    }
    std::vector<BudgetedBytes> failed_carries;  // rows before the failure may still read them
    for (const auto& [idx, rec] : failed_at) {
        Source& s = *queue_[idx];
        s.finished = true;
        s.carry.active = false;
        failed_carries.push_back(std::move(s.carry.bytes));
    }

    // ---- carry: the last block, partly used, stays decoded-up-to-here for the next batch ------------
    std::vector<BudgetedBytes> used_up;  // carried blocks finished in this batch: their rows still read them
    for (auto& tp : tasks) {
        Task& t = *tp;
        Source& s = *queue_[t.source];
        if (failed_at.count(t.source)) continue;
        if (t.from_carry) {
            s.carry.cursor = t.end_cursor;
            s.carry.left = t.block_left;
            if (t.block_left == 0) {
                s.carry.active = false;
                used_up.push_back(std::move(s.carry.bytes));
            }
        } else if (t.block_left > 0) {
            s.carry.active = true;
            s.carry.bytes = std::move(t.bytes);
            s.carry.view = t.view;  // still valid: the vector's buffer moved, not its address
            s.carry.cursor = t.end_cursor;
            s.carry.left = t.block_left;
        }
    }

    // ---- phase 2: cutouts + features of the kept rows (parallel over rows) --------------------------
    std::vector<std::size_t> kept;
    kept.reserve(rows.size());
    for (std::size_t k = 0; k < rows.size(); ++k) {
        if (rows[k].keep) kept.push_back(k);
    }
    const std::size_t n = kept.size();
    info.n_rows = n;
    info.messages.assign(n, std::string());
    info.object_ids.assign(n, ObjectId{});
    // rows follow the queue (planning only moves forward), so a source's rows are adjacent
    for (std::size_t j = 0; j < n; ++j) {
        const std::size_t src = rows[kept[j]].source;
        if (j == 0 || src != rows[kept[j - 1]].source) info.sources.push_back(queue_[src]->name);
        out.source[j] = static_cast<std::int32_t>(info.sources.size() - 1);
    }
    const double nan = std::numeric_limits<double>::quiet_NaN();
    parallel_for<StampScratch>(n, n_threads, 2, [&](std::size_t b, std::size_t e, StampScratch& sc) {
        for (std::size_t j = b; j < e; ++j) {
            Row& r = rows[kept[j]];
            float* trip = out.triplets + j * kTripletFloats;
            float* meta = out.metadata + j * kNumFeatures;
            out.record_index[j] = r.record;
            out.reason[j] = static_cast<std::uint8_t>(r.reason);
            out.candid[j] = r.has_candid ? r.candid : -1;
            out.flags[j] = r.has_candid ? kRowHasCandid : 0;
            double* info_row = out.info + j * kRowInfoColumns;
            const auto value = [&](CandidateColumn col) {
                const bool known = (r.present & kCandidateRecordBit) && (r.present & column_bit(col));
                return known ? r.candidate[col] : nan;
            };
            for (std::size_t c = 0; c < kRowInfoColumns; ++c) info_row[c] = value(kRowInfo[c]);
            if (r.has_object_id) {
                info.object_ids[j].text.assign(reinterpret_cast<const char*>(r.object_id), r.object_id_size);
                info.object_ids[j].present = true;
            }
            if (r.reason != RowReason::None) {
                out.status[j] = static_cast<std::uint8_t>(r.reason == RowReason::Foreign ? Status::UnsupportedSchema
                                                                                         : Status::DecodeError);
                info.messages[j] = std::move(r.detail);
                out.bts[j] = kBtsNoCandidate;
                zero_outputs(trip, meta);
                continue;
            }
            AlertInput a;
            for (std::size_t ch = 0; ch < kChannels; ++ch) a.stamps[ch] = r.stamps[ch];
            a.candidate = r.candidate;
            a.present = r.present;
            const HistorySink& hs = tasks[static_cast<std::size_t>(r.task)]->history;
            a.history =
                History{hs.jd.data() + r.hist_begin, hs.magpsf.data() + r.hist_begin, hs.fid.data() + r.hist_begin,
                        hs.flags.data() + r.hist_begin, r.hist_end - r.hist_begin};
            out.status[j] =
                static_cast<std::uint8_t>(preprocess_alert(a, sc, trip, meta, out.bts[j], info.messages[j]));
        }
    });

    // ---- bookkeeping: consumed sources leave the queue -------------------------------------------------
    std::size_t done = 0;
    while (done < queue_.size() && queue_[done]->finished && queue_[done]->kind != Source::Kind::Archive) ++done;
    retire_front(done);
    bool more = false;
    for (const auto& s : queue_) {
        if (!s->finished) {
            more = true;
            break;
        }
    }
    info.stop = more ? BatchInfo::Stop::Full : BatchInfo::Stop::End;
}

}  // namespace btsbot::avro
