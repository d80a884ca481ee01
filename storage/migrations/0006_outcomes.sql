-- Outcomes close the loop: every logged prediction is resolved against its game's result,
-- into one maintained row per (prediction type, model version, game). The model endpoints
-- read these rows, never the log.
--
-- How a row stays exact however things race (see README, "Outcomes"):
-- * Statement-level triggers (one call per COPY or INSERT statement, never per row) append
--   what changed to prediction_outcome_queue, in the same transaction as the change: a
--   batch of log records adds, per (game, type, version), how many it logged and when its
--   latest was made; a result, an odds snapshot or a new first pitch adds a marker for its game.
--   What a transaction queues commits or vanishes with it, so nothing is seen half-done and
--   nothing is missed, whatever the order in which writers commit.
-- * outcomes_resolve() takes queued entries (one resolver at a time), folds the counts and
--   latest predictions into prediction_outcomes and recomputes every touched game's outcome
--   from what the database holds now. A prediction logged after its result, a result that
--   arrives after its predictions, a correction, a replay: each queues the game again, and
--   the recomputation is a function of the current facts only, so it is counted once.
-- * Records a spill replay finds already logged (ON CONFLICT DO NOTHING) are not inserted,
--   so they are not in the statement's transition table and are not counted again.

CREATE TABLE prediction_outcome_queue (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    game_id          text NOT NULL,
    prediction_type  text,                      -- NULL: a marker (the game's facts changed)
    model_version    text,
    logged           bigint,                    -- records of this statement for the key
    latest_at        timestamptz                -- the latest predicted_at among them
);

CREATE TABLE prediction_outcomes (
    prediction_type  text NOT NULL CHECK (prediction_type IN ('moneyline', 'total')),
    model_version    text NOT NULL,             -- home_model_version / total_model_version
    game_id          text NOT NULL,
    logged           bigint NOT NULL,           -- log records of this game by this version
    record_id        uuid NOT NULL,             -- the latest: greatest (predicted_at, record_id)
    predicted_at     timestamptz NOT NULL,
    probability      double precision NOT NULL, -- home win, or over
    recommendation   jsonb NOT NULL,            -- that market's betting recommendation
    line             double precision,          -- the total the prediction priced (odds_used)
    -- the game, as the database holds it now
    game_date        date,
    first_pitch      timestamptz,
    home_score       smallint,
    away_score       smallint,
    result_known_at  timestamptz,               -- counted only once the clock passes it
    y                smallint,                  -- 1/0 the predicted event; NULL: unknown, push
    -- the terms the endpoints average (NULL where they do not apply)
    correct          smallint,                  -- (clipped p >= 0.5) = y
    log_loss         double precision,          -- p clipped to [1e-6, 1 - 1e-6]
    brier            double precision,
    bet_profit       double precision,          -- a recommended bet: decimal - 1, or -1
    bet_stake        double precision,          -- its recommended fraction of bankroll
    closing_decimal  double precision,          -- the bet side's price in the last snapshot
    clv              double precision,          --   at or before first pitch; decimal/close - 1
    resolved_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (prediction_type, model_version, game_id)
);
CREATE INDEX prediction_outcomes_recent
    ON prediction_outcomes (prediction_type, model_version, predicted_at DESC);
CREATE INDEX prediction_outcomes_date ON prediction_outcomes (prediction_type, game_date);
CREATE INDEX prediction_outcomes_game ON prediction_outcomes (game_id);

CREATE FUNCTION outcomes_queue_predictions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- one hash aggregate: which record is the latest is found by the resolver
    INSERT INTO prediction_outcome_queue (game_id, prediction_type, model_version, logged,
                                          latest_at)
    SELECT game_id, 'moneyline', home_model_version, count(*), max(predicted_at)
    FROM added GROUP BY game_id, home_model_version
    UNION ALL
    SELECT game_id, 'total', total_model_version, count(*), max(predicted_at)
    FROM added GROUP BY game_id, total_model_version;
    RETURN NULL;
END $$;

CREATE FUNCTION outcomes_queue_games() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO prediction_outcome_queue (game_id) SELECT DISTINCT game_id FROM changed;
    RETURN NULL;
END $$;

CREATE FUNCTION outcomes_queue_rescheduled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO prediction_outcome_queue (game_id)
    SELECT n.game_id FROM changed n JOIN previous o USING (game_id)
    WHERE n.scheduled_start IS DISTINCT FROM o.scheduled_start
       OR n.game_date IS DISTINCT FROM o.game_date;
    RETURN NULL;
END $$;

-- The log is append-only; emptying it (benchmarks, tests) empties what was derived from it.
CREATE FUNCTION outcomes_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM prediction_outcome_queue WHERE prediction_type IS NOT NULL;
    DELETE FROM prediction_outcomes;
    RETURN NULL;
END $$;

-- The last price of the bet's side at or before first pitch (ties: the greater source name)
-- as decimal odds; for a total only where that snapshot quotes the bet's line.
CREATE FUNCTION outcomes_closing_decimal(game text, first_pitch timestamptz, bet jsonb)
RETURNS double precision LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN price IS NULL THEN NULL
                WHEN bet ->> 'market' = 'total'
                     AND line IS DISTINCT FROM (bet ->> 'line')::double precision THEN NULL
                WHEN price > 0 THEN 1 + price::double precision / 100
                ELSE 1 + 100 / (-price)::double precision END
    FROM (
        SELECT CASE bet ->> 'side' WHEN 'home' THEN s.home_price WHEN 'away' THEN s.away_price
                    WHEN 'over' THEN s.over_price ELSE s.under_price END AS price,
               s.line::double precision AS line
        FROM odds_snapshots s
        WHERE s.game_id = game AND s.observed_at <= first_pitch
          AND s.market = CASE WHEN bet ->> 'market' = 'total' THEN 'total' ELSE 'moneyline' END
          AND CASE bet ->> 'side' WHEN 'home' THEN s.home_price WHEN 'away' THEN s.away_price
                   WHEN 'over' THEN s.over_price ELSE s.under_price END IS NOT NULL
        ORDER BY s.observed_at DESC, s.source DESC
        LIMIT 1
    ) last
$$;

-- Recompute the outcome of every row of these games from the facts held now.
CREATE FUNCTION outcomes_recompute(games text[]) RETURNS void LANGUAGE sql AS $$
    WITH facts AS (
        SELECT o.prediction_type, o.model_version, o.game_id, g.game_date,
               g.scheduled_start AS first_pitch, r.home_score, r.away_score, r.known_at,
               CASE WHEN r.game_id IS NULL THEN NULL
                    WHEN o.prediction_type = 'moneyline'
                        THEN (r.home_score > r.away_score)::int
                    WHEN o.line IS NULL OR r.home_score + r.away_score = o.line THEN NULL
                    ELSE (r.home_score + r.away_score > o.line)::int END AS y,
               greatest(1e-6, least(1 - 1e-6, o.probability)) AS p,
               coalesce((o.recommendation ->> 'recommended')::boolean, false) AS bet,
               o.recommendation AS rec
        FROM prediction_outcomes o
        LEFT JOIN games g ON g.game_id = o.game_id
        LEFT JOIN game_results r ON r.game_id = o.game_id
        WHERE o.game_id = ANY(games)
    ), terms AS (
        SELECT f.*,
               CASE WHEN f.y IS NULL OR NOT f.bet THEN NULL
                    WHEN (f.y = 1) = (f.rec ->> 'side' IN ('home', 'over'))
                        THEN (f.rec ->> 'decimal_odds')::double precision - 1
                    ELSE -1 END AS profit,
               CASE WHEN f.bet AND f.first_pitch IS NOT NULL
                    THEN outcomes_closing_decimal(f.game_id, f.first_pitch, f.rec) END AS close
        FROM facts f
    )
    UPDATE prediction_outcomes o SET
        game_date = t.game_date, first_pitch = t.first_pitch, home_score = t.home_score,
        away_score = t.away_score, result_known_at = t.known_at, y = t.y,
        correct = CASE WHEN t.y IS NOT NULL THEN ((t.p >= 0.5)::int = t.y)::int END,
        log_loss = CASE t.y WHEN 1 THEN -ln(t.p) WHEN 0 THEN -ln(1 - t.p) END,
        brier = CASE WHEN t.y IS NOT NULL THEN (t.p - t.y) ^ 2 END,
        bet_profit = t.profit,
        bet_stake = CASE WHEN t.profit IS NOT NULL
                         THEN (t.rec ->> 'recommended_bet_size')::double precision END,
        closing_decimal = t.close,
        clv = CASE WHEN t.profit IS NOT NULL AND t.close IS NOT NULL
                   THEN (t.rec ->> 'decimal_odds')::double precision / t.close - 1 END,
        resolved_at = now()
    FROM terms t
    WHERE o.prediction_type = t.prediction_type AND o.model_version = t.model_version
      AND o.game_id = t.game_id
$$;

-- Fold up to `batch` queued entries; returns how many were taken (0: nothing was queued).
CREATE FUNCTION outcomes_resolve(batch integer DEFAULT 50000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    touched text[];
    taken integer;
BEGIN
    PERFORM pg_advisory_xact_lock(7201912);  -- one resolver at a time, in every process
    WITH entries AS (
        DELETE FROM prediction_outcome_queue WHERE id IN (
            SELECT id FROM prediction_outcome_queue ORDER BY id LIMIT batch)
        RETURNING *
    ), keys AS (
        SELECT prediction_type, model_version, game_id, sum(logged) AS logged,
               max(latest_at) AS latest_at
        FROM entries WHERE prediction_type IS NOT NULL
        GROUP BY prediction_type, model_version, game_id
    ), folded AS (
        INSERT INTO prediction_outcomes AS o (prediction_type, model_version, game_id, logged,
            record_id, predicted_at, probability, recommendation, line)
        SELECT k.prediction_type, k.model_version, k.game_id, k.logged, p.record_id,
               p.predicted_at,
               CASE k.prediction_type WHEN 'moneyline' THEN p.home_ml_probability
                    ELSE p.total_over_probability END,
               p.recommendations -> k.prediction_type,
               (p.odds_used ->> 'open_total')::double precision
        -- the latest record at that moment: the greatest id among the key's records logged
        -- at the latest time (a batch logs its games at one time; the version's index finds
        -- them). One committed later at the same time queues its own entry.
        FROM keys k CROSS JOIN LATERAL (
            (SELECT * FROM prediction_log l
             WHERE k.prediction_type = 'moneyline' AND l.home_model_version = k.model_version
               AND l.predicted_at = k.latest_at AND l.game_id = k.game_id
             ORDER BY l.record_id DESC LIMIT 1)
            UNION ALL
            (SELECT * FROM prediction_log l
             WHERE k.prediction_type = 'total' AND l.total_model_version = k.model_version
               AND l.predicted_at = k.latest_at AND l.game_id = k.game_id
             ORDER BY l.record_id DESC LIMIT 1)
        ) p
        ORDER BY k.prediction_type, k.model_version, k.game_id
        ON CONFLICT (prediction_type, model_version, game_id) DO UPDATE SET
            logged = o.logged + EXCLUDED.logged,
            record_id = CASE WHEN (EXCLUDED.predicted_at, EXCLUDED.record_id)
                > (o.predicted_at, o.record_id) THEN EXCLUDED.record_id ELSE o.record_id END,
            probability = CASE WHEN (EXCLUDED.predicted_at, EXCLUDED.record_id)
                > (o.predicted_at, o.record_id) THEN EXCLUDED.probability ELSE o.probability END,
            recommendation = CASE WHEN (EXCLUDED.predicted_at, EXCLUDED.record_id)
                > (o.predicted_at, o.record_id) THEN EXCLUDED.recommendation
                ELSE o.recommendation END,
            line = CASE WHEN (EXCLUDED.predicted_at, EXCLUDED.record_id)
                > (o.predicted_at, o.record_id) THEN EXCLUDED.line ELSE o.line END,
            predicted_at = greatest(o.predicted_at, EXCLUDED.predicted_at)
        RETURNING 1
    )
    SELECT array_agg(DISTINCT e.game_id), count(*) INTO touched, taken FROM entries e;
    IF taken > 0 THEN
        PERFORM outcomes_recompute(touched);
    END IF;
    RETURN taken;
END $$;

CREATE TRIGGER prediction_log_outcomes AFTER INSERT ON prediction_log
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION outcomes_queue_predictions();
CREATE TRIGGER prediction_log_truncated AFTER TRUNCATE ON prediction_log
    FOR EACH STATEMENT EXECUTE FUNCTION outcomes_truncated();
CREATE TRIGGER game_results_inserted AFTER INSERT ON game_results
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION outcomes_queue_games();
CREATE TRIGGER game_results_updated AFTER UPDATE ON game_results
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION outcomes_queue_games();
CREATE TRIGGER game_results_deleted AFTER DELETE ON game_results
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION outcomes_queue_games();
CREATE TRIGGER odds_snapshots_inserted AFTER INSERT ON odds_snapshots
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION outcomes_queue_games();
CREATE TRIGGER odds_snapshots_updated AFTER UPDATE ON odds_snapshots
    REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION outcomes_queue_games();
CREATE TRIGGER odds_snapshots_deleted AFTER DELETE ON odds_snapshots
    REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION outcomes_queue_games();
CREATE TRIGGER games_rescheduled AFTER UPDATE ON games
    REFERENCING OLD TABLE AS previous NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION outcomes_queue_rescheduled();

-- Existing databases: the log as it stands, queued once (the triggers above, created first in
-- this transaction, hold off concurrent writers until it commits), then resolved.
INSERT INTO prediction_outcome_queue (game_id, prediction_type, model_version, logged, latest_at)
SELECT game_id, 'moneyline', home_model_version, count(*), max(predicted_at)
FROM prediction_log GROUP BY game_id, home_model_version
UNION ALL
SELECT game_id, 'total', total_model_version, count(*), max(predicted_at)
FROM prediction_log GROUP BY game_id, total_model_version;
SELECT outcomes_resolve(2147483647);
