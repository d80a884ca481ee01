-- The outcome resolver's cost no longer grows with the log.
--
-- Before: a queue entry said when a key's latest record was made (latest_at), and the
-- resolver searched the log for the greatest record id at that time. Where many records of a
-- game share one predicted_at (a pinned or driven clock; several versions at one instant) that
-- search read every one of them: ~0.7 ms a key on a 3.2-million-record log, and under
-- sustained 50-game batches the resolver used half a core and fell behind (a backlog of
-- 887,000 entries). Then every fold recomputed the outcome of every game it touched, though a
-- game asked for again gets the same answer (same probability, recommendation and line) and
-- its outcome cannot change.
--
-- Now: the trigger, which sees the statement's records, queues each key's latest record id
-- (greatest (predicted_at, record_id)), so the resolver reads that one record by primary
-- key; and a fold recomputes only the games whose facts changed (a marker), a key that is
-- new, or a key whose latest record answers differently. Entries queued before this
-- migration (no record id) are folded as before.
ALTER TABLE prediction_outcome_queue ADD COLUMN latest_record uuid;

CREATE OR REPLACE FUNCTION outcomes_queue_predictions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO prediction_outcome_queue (game_id, prediction_type, model_version, logged,
                                          latest_at, latest_record)
    SELECT game_id, 'moneyline', home_model_version, count(*), max(predicted_at),
           (array_agg(record_id ORDER BY predicted_at DESC, record_id DESC))[1]
    FROM added WHERE NOT shadow OR model_name = 'firstpitch-home-win'
    GROUP BY game_id, home_model_version
    UNION ALL
    SELECT game_id, 'total', total_model_version, count(*), max(predicted_at),
           (array_agg(record_id ORDER BY predicted_at DESC, record_id DESC))[1]
    FROM added WHERE NOT shadow OR model_name = 'firstpitch-total-over'
    GROUP BY game_id, total_model_version;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION outcomes_resolve(batch integer DEFAULT 50000) RETURNS integer
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
