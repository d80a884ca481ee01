-- Challengers scored in shadow: every game a champion scores is scored by each challenger
-- too (a version carrying a `challenger` alias), and the challenger's answer is logged
-- beside the served one, flagged `shadow`: logged, never served. A shadow record names both
-- versions it was computed with (the challenger for its own model, the other model's
-- champion), so it replays like any record; it belongs to the challenged model's market only
-- (its model_name), so the other market's outcomes neither count it nor take it as a game's
-- latest prediction. (A constant default: the column is added without rewriting the log.)
ALTER TABLE prediction_log ADD COLUMN shadow boolean NOT NULL DEFAULT false;

CREATE OR REPLACE FUNCTION outcomes_queue_predictions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- one hash aggregate: which record is the latest is found by the resolver
    INSERT INTO prediction_outcome_queue (game_id, prediction_type, model_version, logged,
                                          latest_at)
    SELECT game_id, 'moneyline', home_model_version, count(*), max(predicted_at)
    FROM added WHERE NOT shadow OR model_name = 'firstpitch-home-win'
    GROUP BY game_id, home_model_version
    UNION ALL
    SELECT game_id, 'total', total_model_version, count(*), max(predicted_at)
    FROM added WHERE NOT shadow OR model_name = 'firstpitch-total-over'
    GROUP BY game_id, total_model_version;
    RETURN NULL;
END $$;

-- As in 0006, but a key's latest record is one that counts for its market (above).
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
        FROM keys k CROSS JOIN LATERAL (
            (SELECT * FROM prediction_log l
             WHERE k.prediction_type = 'moneyline' AND l.home_model_version = k.model_version
               AND l.predicted_at = k.latest_at AND l.game_id = k.game_id
               AND (NOT l.shadow OR l.model_name = 'firstpitch-home-win')
             ORDER BY l.record_id DESC LIMIT 1)
            UNION ALL
            (SELECT * FROM prediction_log l
             WHERE k.prediction_type = 'total' AND l.total_model_version = k.model_version
               AND l.predicted_at = k.latest_at AND l.game_id = k.game_id
               AND (NOT l.shadow OR l.model_name = 'firstpitch-total-over')
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
