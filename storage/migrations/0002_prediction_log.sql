-- Every served prediction (cache hits too), written in batches off the request path.
CREATE TABLE prediction_log (
    record_id               uuid PRIMARY KEY,        -- idempotent replay from the spill file
    request_id              text NOT NULL,
    endpoint                text NOT NULL,
    game_id                 text NOT NULL,
    model_name              text NOT NULL,           -- the model the client asked for
    model_version           text NOT NULL,
    home_model_version      text NOT NULL,           -- firstpitch-home-win version used
    total_model_version     text NOT NULL,           -- firstpitch-total-over version used
    feature_version         text NOT NULL,
    feature_hash            text NOT NULL,           -- sha256 of the float64 vector bytes
    feature_as_of           timestamptz NOT NULL,
    feature_cutoff          timestamptz NOT NULL,
    predicted_at            timestamptz NOT NULL,
    cache_hit               boolean NOT NULL,
    home_ml_probability     double precision NOT NULL,
    total_over_probability  double precision NOT NULL,
    home_ml_confidence      double precision NOT NULL,
    total_over_confidence   double precision NOT NULL,
    odds_used               jsonb NOT NULL,
    recommendations         jsonb NOT NULL,
    latency_ms              double precision NOT NULL
);
CREATE INDEX prediction_log_game ON prediction_log (game_id, model_name, predicted_at DESC);
CREATE INDEX prediction_log_home ON prediction_log (home_model_version, predicted_at);
CREATE INDEX prediction_log_total ON prediction_log (total_model_version, predicted_at);
