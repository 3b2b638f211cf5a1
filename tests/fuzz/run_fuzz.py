#!/usr/bin/env python3
"""Fuzz the native alert reader (``_core.Reader``: framing, inflating under its memory budget, decoding,
blocks carried across batches, preprocessing), its tar archive reader and the schema compiler for a
bounded time; exit non-zero on a crash, a hang, or an unexpected exception.

Engines:
- ``atheris`` (libFuzzer; ``pip install atheris``): coverage-guided on the Python side. The extension is
  built by GCC here, so its C++ is not coverage-instrumented; libFuzzer still mutates and catches crashes.
- ``random``: a seeded structure-aware mutator (bit flips, interesting bytes, huge/negative varints,
  insert/delete/duplicate/splice, truncation) run in a child process, so a segfault is caught and the
  input that caused it is saved.
``auto`` (default) picks atheris when importable, else random.

Inputs are either whole containers (``Obj\\x01...``) or ``mode byte + record payload``, which is wrapped
into a well-formed container with the synthetic alert schema (mode 0 null, 1 deflate, 2 snappy, 3 a
block claiming several records) so mutations reach the record decoder past the framing. Every input is
read twice: with the buffer's own schema program (if it compiles), in batches of 48 rows and a budget of
8 MiB, and with the synthetic schema's program, in batches of 2 rows (blocks carried across batches) and
the smallest budget the limits allow (decompressed blocks cut batches short). One input in eight is also
packed into a tar archive, mutated, and read through the archive reader.

Usage: python tests/fuzz/run_fuzz.py --seconds 60 [--engine auto|atheris|random] [--seed N]
Crash inputs are written to --crash-dir (default: ./fuzz-crashes).
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests/ (avro_synth)

LIMITS = {"max_block_bytes": 1 << 20, "max_block_records": 4096, "max_depth": 64, "max_items": 1 << 16}
#: (rows per batch, bytes the reader may hold): roomy, and as tight as the limits allow
READS = ((48, 8 << 20), (2, 1 << 20))
STATUSES = range(8)


# ------------------------------------------------------------------------------------------------
# the target


class Target:
    def __init__(self) -> None:
        import avro_synth as S
        import numpy as np

        from btsbot_fast import _core
        from btsbot_fast.prep import schema_program as sp
        from btsbot_fast.prep.variant import ROW_INFO

        self.np, self.S, self.core, self.sp = np, S, _core, sp
        self.row_info = len(ROW_INFO)  # the candidate values reported beside each row (jd, ra, dec, ...)
        self.schema = S.alert_schema()
        self.default_program = sp.compile_schema(self.schema).words
        self.cache = sp.ProgramCache(maxsize=256)
        self.execs = 0
        self.tmp = tempfile.mkdtemp(prefix="btsbot-fuzz-tar-")

    def wrap(self, data: bytes) -> bytes:
        S = self.S
        mode, payload = data[0] % 4, data[1:]
        if mode == 1:
            return S.ocf(self.schema, [(1, S.deflate_block(payload))], codec="deflate")
        if mode == 2:
            try:
                return S.ocf(self.schema, [(1, S.snappy_block(payload))], codec="snappy")
            except ImportError:
                mode = 0
        if mode == 3:
            return S.ocf(self.schema, [(1 + len(payload) % 5, payload)])
        return S.ocf(self.schema, [(1, payload)])

    def read(self, add, capacity: int, inflight: int, own_program: bool) -> None:
        """Every batch of one reader over the input; checks the row invariants."""
        np, core = self.np, self.core
        reader = core.Reader(**LIMITS, max_inflight_bytes=inflight, map_threshold=0)
        add(reader)
        rows: dict[str, list] = {}
        for _ in range(100000):
            trip = np.empty((capacity, 63, 63, 3), np.float32)
            meta = np.empty((capacity, 25), np.float32)
            out = (np.empty(capacity, np.int64), np.empty((capacity, self.row_info)), np.empty(capacity, np.uint16),
                   np.empty(capacity, np.uint8), np.empty(capacity, np.uint8), np.empty(capacity, np.uint8),
                   np.empty(capacity, np.int64), np.empty(capacity, np.int32))
            n, stop, sources, messages, ids, schemas, fallback = reader.next_batch(trip, meta, *out, 1)
            candid, info, bts, status, reason, flags, index, source = out
            assert 0 <= n <= capacity and len(messages) == len(ids) == n
            assert reader.bytes_held <= inflight and reader.peak_bytes_held <= inflight
            for j in range(n):
                st = int(status[j])
                assert st in STATUSES and (ids[j] is None or isinstance(ids[j], str))
                if st == 0:
                    assert np.isfinite(trip[j]).all()
                else:
                    assert not trip[j].any() and not meta[j].any()
                if reason[j] == 1:  # a corrupt record: it ends its source
                    assert st == 1 and messages[j]
                rows.setdefault(sources[source[j]], []).append((int(index[j]), int(reason[j])))
            if stop == "need_schemas":
                for text in schemas:
                    words = None
                    if own_program:
                        prog = self.cache.get(text)  # may only fail with SchemaCompileError
                        words = prog.words if isinstance(prog, self.sp.SchemaProgram) else None
                    else:
                        words = self.default_program
                    reader.set_program(text, words, "fuzz")
            elif stop == "end":
                break
        else:
            raise AssertionError("the reader did not finish")
        for src, got in rows.items():
            assert [i for i, _ in got] == list(range(len(got))), (src, got[:10])
            corrupt = [k for k, (_, r) in enumerate(got) if r == 1]
            assert corrupt in ([], [len(got) - 1]), (src, got[:10])

    def __call__(self, data: bytes) -> None:
        self.execs += 1
        if not data:
            return
        buf = data if data.startswith(b"Obj") else self.wrap(data)
        for (capacity, inflight), own in zip(READS, (True, False)):
            self.read(lambda r: r.add_buffers(["fuzz"], [buf]), capacity, inflight, own)
        if self.execs % 8 == 0:
            self.read_archive(buf, data)

    def read_archive(self, buf: bytes, data: bytes) -> None:
        """The buffer as a tar member (and a hard link to it), the archive's bytes then mutated."""
        import io
        import tarfile

        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w") as tar:
            info = tarfile.TarInfo("a.avro")
            info.size = len(buf)
            tar.addfile(info, io.BytesIO(buf))
            link = tarfile.TarInfo("b.avro")
            link.type, link.linkname = tarfile.LNKTYPE, "a.avro"
            tar.addfile(link)
        raw = bytearray(out.getvalue())
        rng = random.Random(len(data) * 7919 + self.execs)
        for _ in range(rng.randint(0, 3)):
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        path = os.path.join(self.tmp, "fuzz.tar")
        with open(path, "wb") as fh:
            fh.write(raw[: rng.randrange(len(raw) + 1)] if rng.random() < 0.3 else raw)
        self.read(lambda r: r.add_archive(path, path), 3, 8 << 20, True)


# ------------------------------------------------------------------------------------------------
# engines


def load_corpus(dirs: list[Path]) -> list[bytes]:
    seeds = []
    for d in dirs:
        if d.is_dir():
            seeds += [p.read_bytes() for p in sorted(d.iterdir()) if p.is_file()]
    if not seeds:
        raise SystemExit(f"no seeds in {', '.join(map(str, dirs))} (run tests/fuzz/make_corpus.py)")
    return seeds


_INTERESTING = [0, 1, 0x7F, 0x80, 0xFF, 0xFE, 0x02, 0x01]


def _varint(n: int) -> bytes:
    z = ((n << 1) ^ (n >> 63)) & ((1 << 64) - 1)
    out = bytearray()
    while True:
        b, z = z & 0x7F, z >> 7
        out.append(b | (0x80 if z else 0))
        if not z:
            return bytes(out)


def mutate(rng: random.Random, data: bytes, seeds: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(10)
        pos = rng.randrange(len(b) + 1) if b else 0
        if op == 0 and b:
            b[min(pos, len(b) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            b[min(pos, len(b) - 1)] = rng.choice(_INTERESTING)
        elif op == 2:
            v = rng.choice([1 << 62, -(1 << 62), -1, 1 << 31, 2**63 - 1, -(2**63), 10**6, 0])
            b[pos:pos + rng.randint(0, 3)] = _varint(v)
        elif op == 3:
            b[pos:pos] = os.urandom(rng.randint(1, 16))
        elif op == 4 and b:
            del b[pos:pos + rng.randint(1, 64)]
        elif op == 5 and b:
            start = rng.randrange(len(b))
            chunk = b[start:start + rng.randint(1, 256)]
            b[pos:pos] = chunk
        elif op == 6:
            other = rng.choice(seeds)
            cut = rng.randrange(len(other) + 1)
            b = b[:pos] + bytearray(other[cut:])
        elif op == 7 and b:
            b = b[:rng.randrange(len(b))]
        elif op == 8 and len(b) > 4:
            i = rng.randrange(len(b) - 4)
            b[i:i + 4] = struct.pack("<I", rng.choice([0, 0xFFFFFFFF, 0x7FFFFFFF, len(b)]))
        elif op == 9 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
    return bytes(b)


def run_worker(args: argparse.Namespace) -> int:
    """In-process random fuzzing; writes each input to --current before running it."""
    target = Target()
    seeds = load_corpus(args.corpus)
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.seconds
    fd = os.open(args.current, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    found = list(seeds)
    for s in seeds:  # the seeds themselves first
        target(s)
    while time.monotonic() < deadline:
        data = mutate(rng, rng.choice(found), seeds)
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        try:
            target(data)
        except Exception as exc:
            print(f"fuzz: {type(exc).__name__}: {exc}", file=sys.stderr)
            return 3
        if rng.random() < 0.02 and len(found) < 2000:
            found.append(data)  # keep some mutants as new starting points
    print(f"fuzz(random): {target.execs} executions in {args.seconds:.0f} s, no crash")
    return 0


def run_random(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        current = Path(tmp) / "current-input"
        cmd = [sys.executable, __file__, "--worker", "--seconds", str(args.seconds), "--seed", str(args.seed),
               "--current", str(current)] + [x for d in args.corpus for x in ("--corpus", str(d))]
        try:
            rc = subprocess.run(cmd, timeout=args.seconds + 120).returncode
        except subprocess.TimeoutExpired:
            rc = -999
        if rc != 0:
            args.crash_dir.mkdir(parents=True, exist_ok=True)
            out = args.crash_dir / f"crash-random-seed{args.seed}-rc{rc}.bin"
            if current.exists():
                out.write_bytes(current.read_bytes())
            why = "hang" if rc == -999 else (f"signal {-rc}" if rc < 0 else f"exit {rc}")
            print(f"fuzz(random): FAILED ({why}); input saved to {out}", file=sys.stderr)
            return 1
    return 0


def run_atheris(args: argparse.Namespace) -> int:
    import atheris

    with atheris.instrument_imports():
        from btsbot_fast.prep import schema_program  # noqa: F401
    target = Target()
    args.crash_dir.mkdir(parents=True, exist_ok=True)
    work = tempfile.mkdtemp(prefix="btsbot-fuzz-")
    argv = [sys.argv[0], work, *map(str, args.corpus), f"-max_total_time={int(args.seconds)}", "-timeout=20",
            "-rss_limit_mb=4096", f"-seed={args.seed}", "-max_len=65536", "-print_final_stats=1",
            f"-artifact_prefix={args.crash_dir}/"]

    def one_input(data: bytes) -> None:
        target(data)

    atheris.Setup(argv, one_input)
    atheris.Fuzz()  # exits the process: 0 when time is up, non-zero on a crash
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--engine", choices=["auto", "atheris", "random"], default="auto")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--corpus", type=Path, action="append")
    ap.add_argument("--crash-dir", type=Path, default=Path("fuzz-crashes"))
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--current", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.corpus = args.corpus or [HERE / "corpus"]
    if args.worker:
        return run_worker(args)
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "random"
    return run_atheris(args) if engine == "atheris" else run_random(args)


if __name__ == "__main__":
    sys.exit(main())
