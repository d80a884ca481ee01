"""Point-in-time features: one code path for training frames and online vectors."""
