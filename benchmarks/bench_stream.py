#!/usr/bin/env python
"""Stream benchmark: `btsbot-fast stream` from Kafka vs `btsbot-fast score` from files, and latency from
produce to published score at a steady input rate, in one run.

    python benchmarks/bench_stream.py [--alerts 2000] [--repeat 2] [--latency-seconds 20] [--kills N] [--json out.json]

Broker: librdkafka's mock cluster, started in this process (its threads share the machine with the
stream process: a real broker would run elsewhere). Each mock partition keeps only its newest ~5 MB, so
the backlog is spread over several 4-partition topics (``bench_tput_*``, read with --topic-pattern).

1. Throughput: the same alerts (scorable single-record dev alerts, repeated to --alerts) as files in a
   directory for `btsbot-fast score DIR -o scores.jsonl`, and as a produced backlog for `btsbot-fast
   stream --max-alerts N --output-topic ...` (also with `-o scores.jsonl`). Compared: alerts/s over each
   command's own working window (score: after the model is loaded; stream: first message received to
   last batch durable, from its final stats), plus whole-process wall times and alerts per CPU-second of
   each whole process (model load included; steadier than wall time when other jobs share the cores).
2. Latency: a stream process is started on an empty topic; alerts are then produced at half the measured
   stream throughput for --latency-seconds; a consumer of the output topic takes, per score, the time
   from the produce() call of its alert to the score's arrival: p50, p90, p99, max.

3. With --kills N: the stream is killed with SIGKILL N times at random moments while it works through a
   backlog (batch 16) and restarted with the same group each time; lost and duplicated messages counted.

No assertions: prints a table and writes JSON (read the ratio; these machines are shared and noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import load_corpus  # noqa: E402  (the same corpus as the throughput benchmark)

PARTITIONS = 4  # what the mock broker gives an auto-created topic
PARTITION_BUDGET = 3_500_000  # bytes per partition, under the mock's ~5 MB retention
STREAM_X = ["-X", "session.timeout.ms=6000", "-X", "heartbeat.interval.ms=500"]


def start_broker():
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"test.mock.num.brokers": "1", "log_level": "3"})
    broker = next(iter(admin.list_topics(timeout=10).brokers.values()))
    return admin, f"{broker.host}:{broker.port}"


def produce_backlog(bootstrap: str, prefix: str, buffers: list[bytes]) -> int:
    """Spread ``buffers`` over as many 4-partition topics as the retention needs; return the topic count."""
    from confluent_kafka import Producer

    per_topic = max(1, int(PARTITION_BUDGET * PARTITIONS / (sum(map(len, buffers)) / len(buffers))))
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "message.max.bytes": 20_000_000})
    topics = 0
    for i, value in enumerate(buffers):
        topic = f"{prefix}{i // per_topic:03d}"
        topics = i // per_topic + 1
        while True:
            try:
                producer.produce(topic, value=value, partition=i % PARTITIONS)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(120):
        raise SystemExit("the mock broker did not take the backlog")
    return topics


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_score(files_dir: Path, out: Path, env: dict) -> dict:
    t, cpu = time.perf_counter(), _child_cpu()
    res = subprocess.run([sys.executable, "-m", "btsbot_fast", "score", str(files_dir), "-o", str(out)],
                         env=env, cwd=out.parent, capture_output=True, text=True, check=True)
    wall, cpu = time.perf_counter() - t, _child_cpu() - cpu
    # "scored N, failed M, T alerts in X s (R alerts/s) ..." : X is after the model is loaded
    words = res.stderr.split()
    n = int(words[words.index("alerts") - 1])
    seconds = float(words[words.index("in") + 1])
    return {"alerts": n, "work_s": seconds, "alerts_per_s": n / seconds, "process_wall_s": wall,
            "process_cpu_s": cpu, "alerts_per_cpu_s": n / cpu}


def run_stream(bootstrap: str, pattern: str, n: int, out_dir: Path, env: dict, extra: list[str], tag: str) -> dict:
    stats = out_dir / f"stats-{tag}.jsonl"
    cmd = [sys.executable, "-m", "btsbot_fast", "stream", "--bootstrap-servers", bootstrap, "--topic-pattern", pattern,
           "--group-id", f"bench-{tag}", "--from-beginning", "--max-alerts", str(n), "--stats-interval", "0",
           "--stats-json", str(stats), "--output-topic", f"bench_scores_{tag}", *STREAM_X, *extra]
    t, cpu = time.perf_counter(), _child_cpu()
    res = subprocess.run(cmd, env=env, cwd=out_dir, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t, _child_cpu() - cpu
    if res.returncode:
        raise SystemExit(f"stream failed:\n{res.stderr[-3000:]}")
    final = json.loads(stats.read_text().splitlines()[-1])
    work = final["alerts"] / final["mean_alerts_per_s"]
    return {"alerts": final["alerts"], "work_s": work, "alerts_per_s": final["mean_alerts_per_s"],
            "process_wall_s": wall, "process_cpu_s": cpu, "alerts_per_cpu_s": final["alerts"] / cpu,
            "errors": final["errors"]}


def measure_latency(bootstrap: str, buffers: list[bytes], rate: float, seconds: float, out_dir: Path,
                    env: dict) -> dict:
    from confluent_kafka import Consumer, Producer

    topic, scores = "bench_latency_in", "bench_latency_scores"
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    sent: dict[tuple[int, int], float] = {}

    def delivered_at(t_sent):
        def cb(err, msg):
            if err is None:
                sent[(msg.partition(), msg.offset())] = t_sent
        return cb

    producer.produce(topic, value=buffers[0], partition=0, on_delivery=delivered_at(time.time()))  # creates the topic
    producer.flush(10)
    reader = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-latency-reader",
                       "auto.offset.reset": "earliest", "enable.auto.commit": False, "fetch.wait.max.ms": 5})
    reader.subscribe([scores])
    cmd = [sys.executable, "-m", "btsbot_fast", "stream", "--bootstrap-servers", bootstrap, "--topic", topic,
           "--group-id", "bench-latency", "--from-beginning", "--output-topic", scores, "--stats-interval", "0",
           "--idle-timeout", "5", *STREAM_X, *(["-v"] if os.environ.get("BENCH_STREAM_STDERR") else [])]
    stream = subprocess.Popen(cmd, env=env, cwd=out_dir, stderr=subprocess.PIPE, text=True)
    latencies: list[float] = []
    to_scored: list[float] = []  # produce -> the row's scored_at (the rest is publishing + delivery)
    got: set[tuple[int, int]] = set()

    def read(until: float, want: int) -> None:
        while time.time() < until and len(got) < want:
            for msg in reader.consume(100, timeout=0.05):
                if msg.error() is not None:
                    continue
                now = time.time()
                row = json.loads(msg.value())
                key = (row["partition"], row["offset"])
                if key in sent and key not in got:
                    got.add(key)
                    latencies.append(now - sent[key])
                    scored = datetime.fromisoformat(row["scored_at"].replace("Z", "+00:00")).timestamp()
                    to_scored.append(scored - sent[key])

    read(time.time() + 60, 1)  # the warm-up alert: the stream is assigned and scoring
    if not got:
        stream.kill()
        raise SystemExit("the stream never published the warm-up score:\n" + stream.communicate()[1][-2000:])
    latencies.clear()
    to_scored.clear()
    reading = threading.Thread(target=read, args=(time.time() + seconds + 30, 1 + int(rate * seconds)), daemon=True)
    reading.start()
    interval, start, i = 1.0 / rate, time.time(), 0
    while (now := time.time()) < start + seconds:  # steady pacing: produce alert i at start + i/rate
        target = start + i * interval
        if now < target:
            time.sleep(min(target - now, 0.01))
            continue
        producer.produce(topic, value=buffers[i % len(buffers)], partition=i % PARTITIONS,
                         on_delivery=delivered_at(time.time()))
        producer.poll(0)
        i += 1
    producer.flush(30)
    reading.join()
    stream.terminate()
    err = stream.communicate(timeout=60)[1]
    if os.environ.get("BENCH_STREAM_STDERR"):
        Path(os.environ["BENCH_STREAM_STDERR"]).write_text(err)
    reader.close()
    lat = np.array(latencies) * 1000
    return {"rate_per_s": rate, "produced": i, "scored": len(lat), "p50_ms": float(np.percentile(lat, 50)),
            "p90_ms": float(np.percentile(lat, 90)), "p99_ms": float(np.percentile(lat, 99)),
            "max_ms": float(lat.max()),
            "to_scored_at_p50_ms": float(np.percentile(np.array(to_scored) * 1000, 50)),
            "to_scored_at_p99_ms": float(np.percentile(np.array(to_scored) * 1000, 99))}


def kill_trials(bootstrap: str, buffers: list[bytes], kills: int, batch: int, out_dir: Path, env: dict) -> dict:
    """kill -9 the stream ``kills`` times at random moments while it works through a backlog, restart it each
    time with the same group, then let it finish: count lost and duplicated messages in its JSONL output."""
    import random
    import signal
    from collections import Counter

    from confluent_kafka import Producer

    topic = "bench_kill_in"
    per_partition = PARTITION_BUDGET // (sum(map(len, buffers)) // len(buffers))
    values = buffers[: per_partition * PARTITIONS]
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    placed: list[tuple[int, int]] = []
    for i, value in enumerate(values):
        producer.produce(topic, value=value, partition=i % PARTITIONS,
                         on_delivery=lambda err, msg: placed.append((msg.partition(), msg.offset())))
    producer.flush(60)
    out = out_dir / "kill.jsonl"
    cmd = [sys.executable, "-m", "btsbot_fast", "stream", "--bootstrap-servers", bootstrap, "--topic", topic,
           "--group-id", "bench-kill", "--from-beginning", "-o", str(out), "--batch-size", str(batch),
           "--idle-timeout", "3", "--stats-interval", "0", *STREAM_X]
    done_kills = 0
    while True:
        before = out.read_bytes().count(b"\n") if out.exists() else 0
        proc = subprocess.Popen(cmd, env=env, cwd=out_dir, stderr=subprocess.DEVNULL)
        if done_kills < kills:
            while proc.poll() is None and (out.read_bytes().count(b"\n") if out.exists() else 0) == before:
                time.sleep(0.01)
            time.sleep(random.uniform(0, 0.5))
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                done_kills += 1
        if proc.wait(300) == 0:
            break
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    seen = Counter((r["partition"], r["offset"]) for r in rows if r["record_index"] == 0)
    return {"messages": len(placed), "kills": done_kills, "batch_size": batch, "rows": len(rows),
            "lost": len(set(placed) - set(seen)), "duplicated_messages": sum(n - 1 for n in seen.values())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--alerts", type=int, default=2000)
    ap.add_argument("--latency-seconds", type=float, default=20.0)
    ap.add_argument("--repeat", type=int, default=2, help="interleaved throughput rounds (best kept)")
    ap.add_argument("--kills", type=int, default=0, metavar="N",
                    help="also kill -9 the stream N times at random moments and count lost/duplicated messages")
    ap.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--only-latency", type=float, default=None, metavar="RATE",
                    help="skip the throughput runs; measure latency at this input rate")
    ap.add_argument("-X", dest="stream_x", action="append", default=[], metavar="KEY=VALUE",
                    help="extra librdkafka property for the stream processes")
    args = ap.parse_args()

    buffers = load_corpus(args.shared, args.alerts)
    env = {**os.environ}
    STREAM_X.extend(x for kv in args.stream_x for x in ("-X", kv))
    if args.kills and args.only_latency is None and args.repeat == 0:
        admin, bootstrap = start_broker()
        with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
            print(kill_trials(bootstrap, buffers, args.kills, 16, Path(tmp), env))
        return
    if args.only_latency:
        admin, bootstrap = start_broker()
        with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
            print(measure_latency(bootstrap, buffers, args.only_latency, args.latency_seconds, Path(tmp), env))
        return
    admin, bootstrap = start_broker()
    with tempfile.TemporaryDirectory(prefix="bench-stream-") as tmp:
        tmp = Path(tmp)
        files = tmp / "night"
        files.mkdir()
        for i, data in enumerate(buffers):
            (files / f"{i:06d}.avro").write_bytes(data)
        topics = produce_backlog(bootstrap, "bench_tput_", buffers)
        rounds: dict[str, list[dict]] = {"score": [], "topic": [], "file": []}
        for r in range(args.repeat):  # interleaved rounds; the best of each is kept (shared, noisy machine)
            rounds["score"].append(run_score(files, tmp / "scores.jsonl", env))
            rounds["topic"].append(run_stream(bootstrap, "^bench_tput_", args.alerts, tmp, env, [], f"topic{r}"))
            rounds["file"].append(run_stream(bootstrap, "^bench_tput_", args.alerts, tmp, env,
                                             ["-o", str(tmp / f"s{r}.jsonl")], f"file{r}"))
        score, stream, stream_file = (max(rounds[k], key=lambda x: x["alerts_per_s"])
                                      for k in ("score", "topic", "file"))
        rate = 0.5 * stream["alerts_per_s"]
        latency = measure_latency(bootstrap, buffers, rate, args.latency_seconds, tmp, env)
        kills = kill_trials(bootstrap, buffers, args.kills, 16, tmp, env) if args.kills else None
    del admin

    result = {
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "python": platform.python_version()},
        "alerts": args.alerts, "backlog_topics": topics,
        "score_files": score, "stream_to_topic": stream, "stream_to_topic_and_jsonl": stream_file,
        "ratio_stream_vs_score": stream["alerts_per_s"] / score["alerts_per_s"],
        "ratio_stream_jsonl_vs_score": stream_file["alerts_per_s"] / score["alerts_per_s"],
        "cpu_ratio_stream_vs_score": stream["alerts_per_cpu_s"] / score["alerts_per_cpu_s"],
        "latency": latency,
        "kill_trials": kills,
        "rounds": rounds,
    }
    print(f"\n{args.alerts} alerts ({topics} backlog topics x {PARTITIONS} partitions), batch 64, "
          f"best of {args.repeat} interleaved rounds\n")
    print("| command | alerts/s (working window) | vs score | alerts per CPU-s (whole process) | vs score | "
          "process wall s |\n|---|---:|---:|---:|---:|---:|")
    for name, r in (("btsbot-fast score DIR -o scores.jsonl", score),
                    ("btsbot-fast stream --output-topic", stream),
                    ("btsbot-fast stream --output-topic -o scores.jsonl", stream_file)):
        print(f"| {name} | {r['alerts_per_s']:,.0f} | {r['alerts_per_s'] / score['alerts_per_s']:.2f} | "
              f"{r['alerts_per_cpu_s']:,.0f} | {r['alerts_per_cpu_s'] / score['alerts_per_cpu_s']:.2f} | "
              f"{r['process_wall_s']:.1f} |")
    print(f"\nlatency, produce -> published score, at {latency['rate_per_s']:.0f} alerts/s for "
          f"{args.latency_seconds:g} s ({latency['scored']}/{latency['produced']} scored): "
          f"p50 {latency['p50_ms']:.0f} ms, p90 {latency['p90_ms']:.0f} ms, p99 {latency['p99_ms']:.0f} ms, "
          f"max {latency['max_ms']:.0f} ms")
    if kills:
        print(f"\nkill -9 x {kills['kills']} at random moments (batch {kills['batch_size']}), "
              f"{kills['messages']} messages: "
              f"{kills['lost']} lost, {kills['duplicated_messages']} duplicated")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
