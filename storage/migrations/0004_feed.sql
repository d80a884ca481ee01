-- Live facts arrive through the feed (POST /api/v1/feed/{kind}, `firstpitch feed`), each with
-- the time it became known. Odds become a time series: every snapshot is kept.
CREATE TABLE odds_snapshots (
    game_id      text NOT NULL REFERENCES games (game_id) ON DELETE CASCADE,
    market       text NOT NULL CHECK (market IN ('moneyline', 'total', 'run_line')),
    source       text NOT NULL,                 -- who quoted it (a book, "workbook-open", ...)
    observed_at  timestamptz NOT NULL,          -- when the price was seen: its known time
    home_price   integer,                       -- moneyline / run line, American odds
    away_price   integer,
    over_price   integer,                       -- total, American odds
    under_price  integer,
    line         real,                          -- total points, or the home side's run line
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (game_id, market, source, observed_at)
);
CREATE INDEX odds_snapshots_seen ON odds_snapshots (game_id, market, observed_at);

-- The workbooks' lines are two snapshots per game: the opening line (as of its assumed
-- known time, kept even where the workbook has no usable price, exactly as the odds table
-- holds it) and the closing line (at first pitch); their one run line is a closing quote.
INSERT INTO odds_snapshots (game_id, market, source, observed_at, home_price, away_price,
                            over_price, under_price, line)
SELECT game_id, 'moneyline', 'workbook', open_known_at, open_ml_home, open_ml_away,
       NULL::integer, NULL::integer, NULL::real FROM odds
UNION ALL
SELECT game_id, 'moneyline', 'workbook', close_known_at, close_ml_home, close_ml_away,
       NULL, NULL, NULL FROM odds WHERE close_ml_home IS NOT NULL OR close_ml_away IS NOT NULL
UNION ALL
SELECT game_id, 'total', 'workbook', open_known_at, NULL, NULL, open_over_price,
       open_under_price, open_total FROM odds
UNION ALL
SELECT game_id, 'total', 'workbook', close_known_at, NULL, NULL, close_over_price,
       close_under_price, close_total FROM odds WHERE close_total IS NOT NULL
UNION ALL
SELECT game_id, 'run_line', 'workbook', close_known_at, run_line_home_price,
       run_line_away_price, NULL, NULL, run_line_home FROM odds
       WHERE run_line_home IS NOT NULL
ON CONFLICT DO NOTHING;

-- Starters and lineups as they are announced (the latest also lands on games).
CREATE TABLE lineup_snapshots (
    game_id      text NOT NULL REFERENCES games (game_id) ON DELETE CASCADE,
    side         text NOT NULL CHECK (side IN ('home', 'away')),
    kind         text NOT NULL CHECK (kind IN ('starter', 'lineup')),
    players      text[] NOT NULL,               -- a starter: one pitcher id; a lineup: nine
    known_at     timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (game_id, side, kind, known_at)
);

-- Postponed, suspended, cancelled, rescheduled: a history, the latest on games.status.
ALTER TABLE games ADD COLUMN status text NOT NULL DEFAULT 'scheduled'
    CHECK (status IN ('scheduled', 'postponed', 'suspended', 'cancelled', 'rescheduled'));
CREATE TABLE game_status_changes (
    game_id          text NOT NULL REFERENCES games (game_id) ON DELETE CASCADE,
    status           text NOT NULL,
    scheduled_start  timestamptz,               -- the new first pitch of a rescheduled game
    reason           text,
    known_at         timestamptz NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (game_id, known_at, status)
);

-- A corrected result replaces the earlier one; what it replaced is kept here.
CREATE TABLE game_result_corrections (
    game_id      text NOT NULL,
    replaced_at  timestamptz NOT NULL DEFAULT now(),
    previous     jsonb NOT NULL
);
