"""Fine-tuning the generator: training data, validation, LoRA training, export from the bot's database."""
