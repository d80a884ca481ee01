-- API keys: only a SHA-256 digest of each key is kept; the key itself is shown once.
CREATE TABLE api_keys (
    key_id                  text PRIMARY KEY,        -- public part of the key, safe to show
    name                    text NOT NULL,
    secret_sha256           bytea NOT NULL,
    scopes                  text[] NOT NULL CHECK (cardinality(scopes) > 0),
    rate_limit_per_minute   integer CHECK (rate_limit_per_minute > 0),  -- NULL: the default
    created_at              timestamptz NOT NULL DEFAULT now(),
    revoked_at              timestamptz
);
CREATE INDEX api_keys_active ON api_keys (key_id) WHERE revoked_at IS NULL;
