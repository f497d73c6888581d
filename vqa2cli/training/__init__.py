"""vqa2cli.training: `vqa2 train` (`vqa2 eval` is a job: vqa2cli/jobs/evaluate.py; it reads labels with datasets.py).

stages.py (stages/*.yaml → TrainConfig), datasets.py + labels.py (instruction JSON, label JSON, path,mos
CSV, MOS → levels), collate.py (sample → tensors via video.decode + pipeline.inputs), trainer.py
(transformers Trainer: trainable groups, vision-tower lr, engines/*.json), checkpoints.py (card + resolved
config in every folder), run.py (one run top to bottom).
"""
