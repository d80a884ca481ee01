-- Each distinct feature vector is stored once. Every request for a game logs the same vector
-- until the game's features change (cache hits log the vector their answer was computed
-- from), so keeping it in every record stored the same ~700 bytes hundreds of times. A
-- record now refers to its vector by feature_hash (the sha256 of the float64 little-endian
-- bytes) and its own feature_vector is NULL; a record whose vector does not hash to its
-- feature_hash keeps the vector inline, as before. The writer inserts a vector
-- (ON CONFLICT DO NOTHING) in the same transaction as the first records that refer to it, so
-- no record is ever committed before its vector. Records logged before this migration keep
-- their inline vectors (reads take the inline vector first); they are not rewritten here,
-- since that would rewrite the whole log at start-up.
CREATE TABLE feature_vectors (
    feature_hash    text PRIMARY KEY,
    feature_vector  bytea NOT NULL,
    -- a vector can only be stored under its own hash: whatever refers to the hash gets it
    CONSTRAINT feature_vectors_hash CHECK (feature_hash = encode(sha256(feature_vector), 'hex'))
);

-- The outcome resolver finds a key's latest record with (game_id, predicted_at = t) ORDER BY
-- record_id DESC LIMIT 1. Under a pinned or driven clock (benchmarks, season replays) every
-- record of a game shares one predicted_at, so the lookup read all of them: 1.29 s to fold
-- 2,000 queue entries over a 510,000-record log whose clock stood still, the folding fell
-- behind and took PostgreSQL's CPU beside the API. With record_id in the index the lookup
-- reads one entry backwards: 0.37 s. The index replaces the one of migration 0011 (it serves
-- the same reads) and is 16 bytes a row wider.
CREATE INDEX prediction_log_game_time_record ON prediction_log (game_id, predicted_at, record_id);
DROP INDEX prediction_log_game_time;
