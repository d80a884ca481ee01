"""Training LightGBM models on point-in-time features, evaluated against the market."""
