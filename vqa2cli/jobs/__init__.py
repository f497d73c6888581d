"""vqa2cli.jobs: the job engine below the CLI, shared by `vqa2 batch` and `vqa2 eval`.

A job scores many files into row files that survive crashes: discover.py (folders, globs, @LIST → videos;
shards), loop.py (prefetching workers, one row per file, error rows, stats), rowfiles.py (rows appended and
fsync'd), resume.py (torn-tail repair, the path + size + mtime resume index, part-file merge), lock.py (one
writer per output), provenance.py (the settings beside each output), distributed.py (torchrun ranks),
windows.py (tidy per-window rows, gate, plots), engine.py (`run_job(spec) → JobStats`), evaluate.py +
metrics.py (`vqa2 eval`: the same rows plus a mos column, then SRCC/PLCC/KRCC). Imports go one way:
cli → jobs → pipeline → records → output.
"""
