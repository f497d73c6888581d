"""vqa2cli.modeling: the VQA² model on transformers + pytorchvideo (imports nothing heavy at package level).

- ``configuration_vqa2``: ``Vqa2Config``, ``config_from_official`` (official ``llava_qwen`` config.json)
- ``motion_encoder``: SlowFast-R50 fast pathway + position table, motion projector
- ``modeling_vqa2``: ``Vqa2ForConditionalGeneration`` (LLaVA-OneVision + motion tokens)
- ``checkpoint_keys``: official ↔ ours key mapping, dropped keys, load-report check
- ``hub``: ``fetch_weights(ref) → Path`` through the Hugging Face cache
- ``loading``: ``load_model(local_dir, settings) → LoadedModel``
- ``quantization``: bitsandbytes configs, availability check
- ``memory``: peak CUDA memory of a model call
"""
