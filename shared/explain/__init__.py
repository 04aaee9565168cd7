"""The explanation engine: what happened, why, what next; masking and request summaries."""
