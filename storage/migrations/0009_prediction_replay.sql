-- What a logged prediction needs to be reproduced bit for bit, beside what was served: the
-- feature vector it was computed from (float64, little-endian, in FEATURE_NAMES order; its
-- sha256 is feature_hash) and the betting policy its recommendations were made under. The
-- model versions (home_model_version, total_model_version) and the odds used (odds_used)
-- were already kept. Records logged before this migration have neither and cannot be
-- replayed (the replay endpoint says so).
ALTER TABLE prediction_log
    ADD COLUMN feature_vector bytea,
    ADD COLUMN policy json;
