-- When a historical game's starters and lineups became known. The game logs record who
-- started and batted, never when it was announced, so one rule assigns the times (see
-- ingest/known_times.py and the README): a starting pitcher is known at 10:00 local the
-- day before the game, a batting order three hours before first pitch. Both lie before the
-- default cutoff (first pitch - 60 min). A season replay sends exactly these records.
CREATE FUNCTION starter_known_at(game_date date, park_tz text) RETURNS timestamptz
    LANGUAGE sql STABLE STRICT AS
    $$ SELECT ((game_date - 1) + time '10:00') AT TIME ZONE park_tz $$;

CREATE FUNCTION lineup_known_at(scheduled_start timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE STRICT AS $$ SELECT scheduled_start - interval '3 hours' $$;

-- The announcements of one loaded game-log file, as lineup snapshots at those times.
CREATE FUNCTION announce_history(file_name text) RETURNS bigint LANGUAGE sql AS $$
    WITH added AS (
        INSERT INTO lineup_snapshots (game_id, side, kind, players, known_at)
        SELECT g.game_id, s.side, s.kind, s.players, s.known_at
        FROM games g CROSS JOIN LATERAL (VALUES
            ('home', 'starter', ARRAY[g.home_sp_id], starter_known_at(g.game_date, g.park_tz)),
            ('away', 'starter', ARRAY[g.away_sp_id], starter_known_at(g.game_date, g.park_tz)),
            ('home', 'lineup', g.home_lineup, lineup_known_at(g.scheduled_start)),
            ('away', 'lineup', g.away_lineup, lineup_known_at(g.scheduled_start))
        ) AS s(side, kind, players, known_at)
        WHERE g.source_file = file_name
          AND array_position(s.players, NULL) IS NULL AND array_position(s.players, '') IS NULL
          AND cardinality(s.players) = CASE s.kind WHEN 'starter' THEN 1 ELSE 9 END
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
    SELECT count(*) FROM added
$$;

SELECT announce_history(f.source_file)
FROM (SELECT DISTINCT source_file FROM games WHERE source_file <> 'feed') f;

-- Which results changed since a reader last looked: the writing transaction's id, set on
-- every insert and update (COPY included). A reader keeps the oldest transaction still
-- running when it read (pg_snapshot_xmin); every result written since has an id >= it.
ALTER TABLE game_results ADD COLUMN change_xid xid8 NOT NULL DEFAULT '0';
CREATE FUNCTION game_results_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_xid := pg_current_xact_id();
    RETURN NEW;
END $$;
CREATE TRIGGER game_results_change BEFORE INSERT OR UPDATE ON game_results
    FOR EACH ROW EXECUTE FUNCTION game_results_change();
CREATE INDEX game_results_changed ON game_results (change_xid);
