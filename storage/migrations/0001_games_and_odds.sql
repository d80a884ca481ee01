-- Games from the Retrosheet logs: what is known before first pitch.
CREATE TABLE games (
    game_id          text PRIMARY KEY,          -- home team + yyyymmdd + game number
    game_date        date NOT NULL,
    season           smallint NOT NULL,
    game_num         smallint NOT NULL,         -- 0 single game, 1/2/3 doubleheader order
    game_type        text NOT NULL,             -- regular, wildcard, division, lcs, world_series
    day_of_week      text NOT NULL,
    away_team        text NOT NULL,
    away_league      text,
    home_team        text NOT NULL,
    home_league      text,
    away_team_game   smallint,
    home_team_game   smallint,
    day_night        char(1) NOT NULL,
    park_id          text NOT NULL,
    park_tz          text NOT NULL,
    scheduled_start  timestamptz NOT NULL,      -- assumed (see ingest/reference.py)
    away_sp_id       text,
    away_sp_name     text,
    home_sp_id       text,
    home_sp_name     text,
    away_lineup      text[] NOT NULL,           -- player ids in batting order
    home_lineup      text[] NOT NULL,
    source_file      text NOT NULL,
    source_line      integer NOT NULL
);
CREATE INDEX games_date ON games (game_date);
CREATE INDEX games_start ON games (scheduled_start);

-- Post-game facts: only known once the game is over (known_at), never before.
CREATE TABLE game_results (
    game_id          text PRIMARY KEY REFERENCES games (game_id) ON DELETE CASCADE,
    known_at         timestamptz NOT NULL,      -- scheduled start + game duration
    away_score       smallint NOT NULL,
    home_score       smallint NOT NULL,
    length_outs      smallint,
    completion       text,
    attendance       integer,
    duration_min     smallint,
    away_line        text,
    home_line        text,
    away_ab smallint, away_h smallint, away_2b smallint, away_3b smallint, away_hr smallint,
    away_rbi smallint, away_sh smallint, away_sf smallint, away_hbp smallint, away_bb smallint,
    away_ibb smallint, away_k smallint, away_sb smallint, away_cs smallint, away_gdp smallint,
    away_ci smallint, away_lob smallint,
    away_pitchers smallint, away_er smallint, away_e smallint,
    home_ab smallint, home_h smallint, home_2b smallint, home_3b smallint, home_hr smallint,
    home_rbi smallint, home_sh smallint, home_sf smallint, home_hbp smallint, home_bb smallint,
    home_ibb smallint, home_k smallint, home_sb smallint, home_cs smallint, home_gdp smallint,
    home_ci smallint, home_lob smallint,
    home_pitchers smallint, home_er smallint, home_e smallint
);
CREATE INDEX game_results_known ON game_results (known_at);

-- Betting lines joined to games (home/away as in Retrosheet). The opening line is known
-- before the cutoff; the closing line is set at first pitch (evaluation only).
CREATE TABLE odds (
    game_id            text PRIMARY KEY REFERENCES games (game_id) ON DELETE CASCADE,
    season             smallint NOT NULL,
    swapped            boolean NOT NULL,        -- workbook listed home and away the other way
    neutral            boolean NOT NULL,
    open_known_at      timestamptz NOT NULL,
    close_known_at     timestamptz NOT NULL,
    away_pitcher       text,
    home_pitcher       text,
    open_ml_away       integer,
    open_ml_home       integer,
    close_ml_away      integer,
    close_ml_home      integer,
    run_line_away      real,
    run_line_away_price integer,
    run_line_home      real,
    run_line_home_price integer,
    open_total         real,
    open_over_price    integer,
    open_under_price   integer,
    close_total        real,
    close_over_price   integer,
    close_under_price  integer,
    source_file        text NOT NULL,
    source_row         integer NOT NULL
);

-- Workbook games that match no Retrosheet game: reported, never silently dropped.
CREATE TABLE odds_unmatched (
    source_file  text NOT NULL,
    source_row   integer NOT NULL,
    season       smallint NOT NULL,
    odds_date    date NOT NULL,
    away_code    text NOT NULL,
    home_code    text NOT NULL,
    reason       text NOT NULL,
    PRIMARY KEY (source_file, source_row)
);

-- One row per loaded file: what was loaded, from which bytes, when.
CREATE TABLE ingested_files (
    file_name   text NOT NULL,
    season      smallint NOT NULL,
    sha256      text NOT NULL,
    row_count   integer NOT NULL,
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_name, season)
);
