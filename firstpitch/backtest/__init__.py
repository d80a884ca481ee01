"""Backtests: a season scored as of each game's cutoff through the serving path, stored
apart from live traffic, and a report of it (HTML, PNG plots, JSON) logged to MLflow."""
