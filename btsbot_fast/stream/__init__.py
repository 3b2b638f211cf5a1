"""Live scoring from Kafka: consume ZTF alert messages, score them with :class:`~btsbot_fast.Scorer`,
publish one result per alert record, commit offsets only once the results are durable (at least once).

Embedding::

    from btsbot_fast import Scorer
    from btsbot_fast.stream import StreamScorer, run_stream

    summary = run_stream(bootstrap_servers="localhost:9092", group_id="btsbot", topics=["ztf_20240501_programid1"],
                         output_topic="btsbot_scores", idle_timeout=600,
                         kafka_config={"security.protocol": "SASL_SSL", ...}, on_batch=my_hook)

``confluent-kafka`` (the ``[kafka]`` extra) is imported when a stream starts, not by this module.
"""

from .config import KafkaConfigError, merged, parse_overrides, read_properties
from .loop import BatchHook, StreamError, StreamHookError, StreamScorer, StreamSummary, run_stream
from .rows import HOOK_FIELDS, OUTPUT_FIELDS, OUTPUT_FORMATS, output_schema
from .sinks import SinkError

__all__ = [
    "BatchHook", "HOOK_FIELDS", "KafkaConfigError", "OUTPUT_FIELDS", "OUTPUT_FORMATS", "SinkError", "StreamError",
    "StreamHookError", "StreamScorer", "StreamSummary", "merged", "output_schema", "parse_overrides",
    "read_properties", "run_stream",
]
