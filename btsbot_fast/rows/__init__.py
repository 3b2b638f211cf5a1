"""The result rows, defined once (:mod:`.score`): what every writer and reader of scores derives from
(``score`` files, stream records and their Avro schema, Spark columns, score-table readers), the column
types and their encodings (:mod:`.columns`) and the cell parsers of score tables (:mod:`.cells`)."""

from __future__ import annotations

from .cells import PARSERS, cell_float, cell_int, cell_str, parse_verdict
from .columns import Column, csv_cell, names
from .score import (
    CANDIDATE_FIELDS,
    HOOK_FIELDS,
    MESSAGE_COLUMNS,
    SCORE_COLUMNS,
    SCORED_AT,
    SPARK_ID_COLUMNS,
    SPARK_PREFIX,
    SPARK_SCORE_COLUMNS,
    STREAM_COLUMNS,
    ScoreResult,
    candidate_values,
    stream_avro_schema,
)

__all__ = ["CANDIDATE_FIELDS", "Column", "HOOK_FIELDS", "MESSAGE_COLUMNS", "PARSERS", "SCORED_AT", "SCORE_COLUMNS",
           "SPARK_ID_COLUMNS", "SPARK_PREFIX", "SPARK_SCORE_COLUMNS", "STREAM_COLUMNS", "ScoreResult",
           "candidate_values", "cell_float", "cell_int", "cell_str", "csv_cell", "names", "parse_verdict",
           "stream_avro_schema"]
