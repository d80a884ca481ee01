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
