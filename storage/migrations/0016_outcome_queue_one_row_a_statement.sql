-- The log's trigger queues one row per logging statement, not one per key.
--
-- Before: every COPY or INSERT into the log queued a row per (game, prediction type, model
-- version) it touched, in its own transaction. Under sustained 50-game batches that cycle
-- through a season's games, a 2,000-record COPY touches ~2,000 games and queued ~4,000 rows:
-- two heap rows and two primary-key entries per logged record, each deleted again by the next
-- fold and then vacuumed (after 650,000 records the queue had had 1.3 million rows inserted
-- and held 2.2 million dead ones).
--
-- Now: the statement's keys (the same ones, with the same counts and latest records) go into
-- one row of prediction_outcome_batches, as an array; the resolver unnests it. What a
-- transaction queues still commits or vanishes with it. prediction_outcome_queue keeps the
-- markers (a game whose facts changed) and any entries queued before this migration, and the
-- resolver folds both.
CREATE TYPE outcome_key AS (
    game_id          text,
    prediction_type  text,
    model_version    text,
    logged           bigint,
    latest_at        timestamptz,
    latest_record    uuid
);

CREATE TABLE prediction_outcome_batches (
    id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    n     integer NOT NULL,            -- cardinality(keys), read without detoasting them
    keys  outcome_key[] NOT NULL
);
-- written once and read once: not worth compressing
ALTER TABLE prediction_outcome_batches ALTER COLUMN keys SET STORAGE EXTERNAL;

CREATE OR REPLACE FUNCTION outcomes_queue_predictions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO prediction_outcome_batches (n, keys)
    SELECT count(*), array_agg(k) FROM (
        SELECT ROW(game_id, 'moneyline', home_model_version, count(*), max(predicted_at),
                   (array_agg(record_id ORDER BY predicted_at DESC, record_id DESC))[1]
               )::outcome_key AS k
        FROM added WHERE NOT shadow OR model_name = 'firstpitch-home-win'
        GROUP BY game_id, home_model_version
        UNION ALL
        SELECT ROW(game_id, 'total', total_model_version, count(*), max(predicted_at),
                   (array_agg(record_id ORDER BY predicted_at DESC, record_id DESC))[1]
               )::outcome_key
        FROM added WHERE NOT shadow OR model_name = 'firstpitch-total-over'
        GROUP BY game_id, total_model_version
    ) t
    HAVING count(*) > 0;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION outcomes_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM prediction_outcome_queue WHERE prediction_type IS NOT NULL;
    DELETE FROM prediction_outcome_batches;
    DELETE FROM prediction_outcomes;
    RETURN NULL;
END $$;

-- As migration 0015's, but its entries are both tables': up to `batch` queue rows, and the
-- statements' rows until `batch` keys are taken (at least one row); returns the entries taken.
CREATE OR REPLACE FUNCTION outcomes_resolve(batch integer DEFAULT 50000) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    touched text[];
    taken integer;
BEGIN
    PERFORM pg_advisory_xact_lock(7201912);  -- one resolver at a time, in every process
    WITH queued AS (
        DELETE FROM prediction_outcome_queue WHERE id IN (
            SELECT id FROM prediction_outcome_queue ORDER BY id LIMIT batch)
        RETURNING game_id, prediction_type, model_version, logged, latest_at, latest_record
    ), statements AS (
        DELETE FROM prediction_outcome_batches WHERE id IN (
            SELECT id FROM (
                SELECT id, sum(n) OVER (ORDER BY id) - n AS before
                FROM prediction_outcome_batches) b
            WHERE before < batch)
        RETURNING keys
    ), entries AS (
        SELECT * FROM queued
        UNION ALL
        SELECT k.* FROM statements s, unnest(s.keys) k
    ), keys AS (
        -- a key's latest record among its entries; unknown (searched for as before) when
        -- any of them was queued without one
        SELECT prediction_type, model_version, game_id, sum(logged) AS logged,
               max(latest_at) AS latest_at,
               CASE WHEN bool_and(latest_record IS NOT NULL)
                    THEN (array_agg(latest_record ORDER BY latest_at DESC,
                                    latest_record DESC))[1] END AS latest_record
        FROM entries WHERE prediction_type IS NOT NULL
        GROUP BY prediction_type, model_version, game_id
    ), latest AS (
        SELECT k.prediction_type, k.model_version, k.game_id, k.logged, p.record_id,
               p.predicted_at,
               CASE k.prediction_type WHEN 'moneyline' THEN p.home_ml_probability
                    ELSE p.total_over_probability END AS probability,
               (p.recommendations -> k.prediction_type)::jsonb AS recommendation,
               (p.odds_used ->> 'open_total')::double precision AS line
        FROM keys k CROSS JOIN LATERAL (
            (SELECT * FROM prediction_log l WHERE l.record_id = k.latest_record)
            UNION ALL
            (SELECT * FROM prediction_log l
             WHERE k.latest_record IS NULL
               AND k.prediction_type = 'moneyline' AND l.home_model_version = k.model_version
               AND l.predicted_at = k.latest_at AND l.game_id = k.game_id
               AND (NOT l.shadow OR l.model_name = 'firstpitch-home-win')
             ORDER BY l.record_id DESC LIMIT 1)
            UNION ALL
            (SELECT * FROM prediction_log l
             WHERE k.latest_record IS NULL
               AND k.prediction_type = 'total' AND l.total_model_version = k.model_version
               AND l.predicted_at = k.latest_at AND l.game_id = k.game_id
               AND (NOT l.shadow OR l.model_name = 'firstpitch-total-over')
             ORDER BY l.record_id DESC LIMIT 1)
        ) p
    ), changed AS (
        -- every sub-statement sees the rows as they were before this fold: a new key, or a
        -- later record that answers differently, changes the game's outcome
        SELECT DISTINCT n.game_id
        FROM latest n LEFT JOIN prediction_outcomes o
            ON o.prediction_type = n.prediction_type AND o.model_version = n.model_version
           AND o.game_id = n.game_id
        WHERE o.game_id IS NULL
           OR ((n.predicted_at, n.record_id) > (o.predicted_at, o.record_id)
               AND (n.probability IS DISTINCT FROM o.probability
                    OR n.recommendation IS DISTINCT FROM o.recommendation
                    OR n.line IS DISTINCT FROM o.line))
    ), folded AS (
        INSERT INTO prediction_outcomes AS o (prediction_type, model_version, game_id, logged,
            record_id, predicted_at, probability, recommendation, line)
        SELECT prediction_type, model_version, game_id, logged, record_id, predicted_at,
               probability, recommendation, line
        FROM latest
        ORDER BY prediction_type, model_version, game_id
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
    SELECT (SELECT array_agg(g) FROM (
                SELECT game_id FROM entries WHERE prediction_type IS NULL
                UNION SELECT game_id FROM changed) t(g)),
           (SELECT count(*) FROM entries)
      INTO touched, taken;
    IF touched IS NOT NULL THEN
        PERFORM outcomes_recompute(touched);
    END IF;
    RETURN taken;
END $$;

-- Entries waiting to be folded, in either table.
CREATE FUNCTION outcomes_queued() RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT (SELECT count(*) FROM prediction_outcome_queue)
         + (SELECT coalesce(sum(n), 0) FROM prediction_outcome_batches)
$$;
