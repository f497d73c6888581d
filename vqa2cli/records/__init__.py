"""vqa2cli.records: the output schema, below the pipeline.

Every command that prints results builds records (``results.py``: one per file scored or question asked;
``reports.py``: probe, models list, eval, ``train --validate-data``, doctor, batch summary); ``output/`` only
renders them. Records import nothing from ``pipeline``, ``modeling``, ``video``, ``training``, ``cli`` or
``output`` (tests/test_records_layers.py), so every layer may build them.
"""

from .calibration import CalibrationRecord
from .compare import CompareRecord, CompareRow
from .reports import (
    BatchSummaryRecord,
    DataCheckRecord,
    DoctorRecord,
    EvalRecord,
    EvalRow,
    ModelCardRecord,
    ProbeRecord,
)
from .results import AnswerRecord, ScoreRecord
from .verify import VerifyRecord
from .windows import WindowRow

RECORD_TYPES: dict[str, type] = {
    cls.kind: cls
    for cls in (
        ScoreRecord,
        AnswerRecord,
        ProbeRecord,
        ModelCardRecord,
        EvalRecord,
        EvalRow,
        DataCheckRecord,
        DoctorRecord,
        BatchSummaryRecord,
        CompareRecord,
        CompareRow,
        CalibrationRecord,
        VerifyRecord,
        WindowRow,
    )
}
"""Record kind → class: the ``kind`` argument of ``output.render.make_writer``."""
