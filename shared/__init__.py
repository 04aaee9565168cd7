"""capture-status core: settings, client, models, explanation engine, redaction, simulator."""
