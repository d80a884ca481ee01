-- Backtests: a season (or a date range) scored game by game as of each game's cutoff through
-- the serving path, kept apart from live traffic. A run's records never enter prediction_log,
-- so live performance, leaderboard, recent predictions and today never see them; a run is
-- written whole in one transaction (run, records, outcomes) or not at all.

CREATE TABLE backtest_runs (
    run_id               text PRIMARY KEY CHECK (run_id ~ '^bt-[0-9]{4}-[0-9a-f]{8}$'),
    season               smallint NOT NULL,
    date_from            date NOT NULL,             -- local game dates scored, inclusive
    date_to              date NOT NULL,
    model_name           text NOT NULL,             -- the model the run was asked for
    home_model_version   text NOT NULL,
    total_model_version  text NOT NULL,
    feature_version      text NOT NULL,
    policy               json NOT NULL,             -- the betting policy of every record
    games                integer NOT NULL,
    started_at           timestamptz NOT NULL,
    finished_at          timestamptz NOT NULL,      -- outcomes resolved with results known then
    elapsed_s            double precision NOT NULL,
    summary              jsonb NOT NULL             -- what the report's summary.json holds
);

-- One record per game, as the serving path logged it (the prediction log's columns).
CREATE TABLE backtest_predictions (
    run_id                  text NOT NULL REFERENCES backtest_runs ON DELETE CASCADE,
    record_id               uuid NOT NULL,
    game_id                 text NOT NULL,
    model_name              text NOT NULL,
    model_version           text NOT NULL,
    home_model_version      text NOT NULL,
    total_model_version     text NOT NULL,
    feature_version         text NOT NULL,
    feature_hash            text NOT NULL,
    feature_as_of           timestamptz NOT NULL,
    feature_cutoff          timestamptz NOT NULL,
    predicted_at            timestamptz NOT NULL,
    home_ml_probability     double precision NOT NULL,
    total_over_probability  double precision NOT NULL,
    home_ml_confidence      double precision NOT NULL,
    total_over_confidence   double precision NOT NULL,
    odds_used               json NOT NULL,
    recommendations         jsonb NOT NULL,
    latency_ms              double precision NOT NULL,
    feature_vector          bytea NOT NULL,
    policy                  json NOT NULL,
    PRIMARY KEY (run_id, game_id)
);

-- The outcome terms of each record, with the definitions of prediction_outcomes (0006).
CREATE TABLE backtest_outcomes (
    run_id           text NOT NULL REFERENCES backtest_runs ON DELETE CASCADE,
    prediction_type  text NOT NULL CHECK (prediction_type IN ('moneyline', 'total')),
    model_version    text NOT NULL,
    game_id          text NOT NULL,
    record_id        uuid NOT NULL,
    predicted_at     timestamptz NOT NULL,
    probability      double precision NOT NULL,
    recommendation   jsonb NOT NULL,
    line             double precision,
    game_date        date,
    first_pitch      timestamptz,
    home_score       smallint,
    away_score       smallint,
    result_known_at  timestamptz,
    y                smallint,
    correct          smallint,
    log_loss         double precision,
    brier            double precision,
    bet_profit       double precision,
    bet_stake        double precision,
    closing_decimal  double precision,
    clv              double precision,
    PRIMARY KEY (run_id, prediction_type, game_id)
);

-- A run's outcomes from its records and the results known at `known_by` (the run's end):
-- the same terms, clipping and closing price (outcomes_closing_decimal) as live outcomes.
CREATE FUNCTION backtest_resolve(run text, known_by timestamptz) RETURNS integer
LANGUAGE sql AS $$
    WITH rows AS (
        SELECT p.run_id, t.prediction_type,
               CASE t.prediction_type WHEN 'moneyline' THEN p.home_model_version
                    ELSE p.total_model_version END AS model_version,
               p.game_id, p.record_id, p.predicted_at,
               CASE t.prediction_type WHEN 'moneyline' THEN p.home_ml_probability
                    ELSE p.total_over_probability END AS probability,
               p.recommendations -> t.prediction_type AS rec,
               (p.odds_used ->> 'open_total')::double precision AS line
        FROM backtest_predictions p CROSS JOIN (VALUES ('moneyline'), ('total')) t(prediction_type)
        WHERE p.run_id = run
    ), facts AS (
        SELECT w.*, g.game_date, g.scheduled_start AS first_pitch,
               r.home_score, r.away_score, r.known_at,
               CASE WHEN r.game_id IS NULL THEN NULL
                    WHEN w.prediction_type = 'moneyline'
                        THEN (r.home_score > r.away_score)::int
                    WHEN w.line IS NULL OR r.home_score + r.away_score = w.line THEN NULL
                    ELSE (r.home_score + r.away_score > w.line)::int END AS y,
               greatest(1e-6, least(1 - 1e-6, w.probability)) AS p,
               coalesce((w.rec ->> 'recommended')::boolean, false) AS bet
        FROM rows w
        LEFT JOIN games g ON g.game_id = w.game_id
        LEFT JOIN game_results r ON r.game_id = w.game_id AND r.known_at <= known_by
    ), terms AS (
        SELECT f.*,
               CASE WHEN f.y IS NULL OR NOT f.bet THEN NULL
                    WHEN (f.y = 1) = (f.rec ->> 'side' IN ('home', 'over'))
                        THEN (f.rec ->> 'decimal_odds')::double precision - 1
                    ELSE -1 END AS profit,
               CASE WHEN f.bet AND f.first_pitch IS NOT NULL
                    THEN outcomes_closing_decimal(f.game_id, f.first_pitch, f.rec) END AS close
        FROM facts f
    ), written AS (
        INSERT INTO backtest_outcomes (run_id, prediction_type, model_version, game_id,
            record_id, predicted_at, probability, recommendation, line, game_date, first_pitch,
            home_score, away_score, result_known_at, y, correct, log_loss, brier, bet_profit,
            bet_stake, closing_decimal, clv)
        SELECT t.run_id, t.prediction_type, t.model_version, t.game_id, t.record_id,
               t.predicted_at, t.probability, t.rec, t.line, t.game_date, t.first_pitch,
               t.home_score, t.away_score, t.known_at, t.y,
               CASE WHEN t.y IS NOT NULL THEN ((t.p >= 0.5)::int = t.y)::int END,
               CASE t.y WHEN 1 THEN -ln(t.p) WHEN 0 THEN -ln(1 - t.p) END,
               CASE WHEN t.y IS NOT NULL THEN (t.p - t.y) ^ 2 END,
               t.profit,
               CASE WHEN t.profit IS NOT NULL
                    THEN (t.rec ->> 'recommended_bet_size')::double precision END,
               t.close,
               CASE WHEN t.profit IS NOT NULL AND t.close IS NOT NULL
                    THEN (t.rec ->> 'decimal_odds')::double precision / t.close - 1 END
        FROM terms t
        RETURNING 1
    )
    SELECT count(*)::integer FROM written
$$;
