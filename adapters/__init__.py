"""The generator side: model backends, LoRA fine-tuning and the adapter registry."""
