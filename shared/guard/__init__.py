"""The guards around every upstream call: budget, cooldown, breaker, cache, Redis link."""
