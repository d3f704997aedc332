"""ragbot's composition layer: settings, the pipeline of stages, the Slack app and the CLI."""
