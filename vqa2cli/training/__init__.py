"""vqa2cli.training: `vqa2 train` and `vqa2 eval`.

stages.py (stages/*.yaml → TrainConfig), datasets.py + labels.py (instruction JSON, label JSON, path,mos
CSV, MOS → levels), collate.py (sample → tensors via video.decode + pipeline.inputs), trainer.py
(transformers Trainer: trainable groups, vision-tower lr, engines/*.json), checkpoints.py (card + resolved
config in every folder), run.py (one run top to bottom), metrics.py + evaluate.py (SRCC/PLCC/KRCC, scores CSV).
"""
