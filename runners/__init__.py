"""BentoML model services: load the champion models, predict and explain; no other I/O."""
