import json

import pytest

from vqa2cli.config import merge_layers
from vqa2cli.errors import UsageError
from vqa2cli.jobs.provenance import check_or_write, sidecar_path


def test_resume_refuses_other_settings_and_records_them(tmp_path):
    out = str(tmp_path / "scores.csv")
    base = merge_layers({"model": {"repo": "./m"}})
    check_or_write(out, base, resume=False)
    recorded = json.loads(open(sidecar_path(out)).read())
    assert recorded["config"] == base.to_dict() and recorded["tool"]["name"] == "vqa2"
    check_or_write(out, base.replace(runtime={"device": "cuda:3"}), resume=True)  # another GPU is fine
    with pytest.raises(UsageError, match=r"other settings \(runtime.quant, video.max_motion_frames\)"):
        check_or_write(
            out, base.replace(runtime={"quant": "4bit"}, video={"max_motion_frames": 64}), resume=True
        )
    check_or_write(out, base.replace(runtime={"quant": "4bit"}), resume=False)  # --overwrite starts again
    assert json.loads(open(sidecar_path(out)).read())["config"]["runtime"]["quant"] == "4bit"


def test_unreadable_record_is_a_clear_error(tmp_path):
    out = str(tmp_path / "s.jsonl")
    open(sidecar_path(out), "w").write("{not json")
    with pytest.raises(UsageError, match="unreadable settings record"):
        check_or_write(out, merge_layers(), resume=True)


def test_a_key_newer_than_the_record_compares_with_its_default(tmp_path):
    out = str(tmp_path / "old.jsonl")
    base = merge_layers({"model": {"repo": "./m"}})
    check_or_write(out, base, resume=False)
    path = sidecar_path(out)
    data = json.loads(open(path).read())
    del data["config"]["video"]["strict"]  # written before video.strict existed
    open(path, "w").write(json.dumps(data))
    check_or_write(out, base, resume=True, write=False)  # the default then: same settings
    with pytest.raises(UsageError, match=r"other settings \(video.strict\)"):
        check_or_write(out, base.replace(video={"strict": True}), resume=True)
