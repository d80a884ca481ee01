"""Ingest against a real PostgreSQL on the real data."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
import pytest

from ingest.errors import DataDirError, IngestError
from ingest.join import GameKey, join_odds
from ingest.loader import ingest
from ingest.odds import read_workbook
from storage.postgres import connect


async def test_every_season_loads_with_expected_counts(ingested: str) -> None:
    conn = await connect(ingested)
    try:
        regular = dict(
            await conn.fetch(
                "SELECT season, count(*) FROM games WHERE game_type = 'regular' GROUP BY season"
            )
        )
        post = await conn.fetchval("SELECT count(*) FROM games WHERE game_type <> 'regular'")
        assert sorted(regular) == list(range(2005, 2025))
        assert regular[2020] == 898  # the 60-game season
        assert regular[2021] == 2429
        assert all(2425 <= n <= 2431 for s, n in regular.items() if s != 2020)
        assert post > 500  # wild card .. World Series games since 2005
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM games g LEFT JOIN game_results r "
                "USING (game_id) WHERE r.game_id IS NULL"
            )
            == 0
        )
    finally:
        await conn.close()


async def test_game_fields_pre_and_post_game(ingested: str) -> None:
    conn = await connect(ingested)
    try:
        g = await conn.fetchrow("SELECT * FROM games WHERE game_id = 'CHN202104010'")
        r = await conn.fetchrow("SELECT * FROM game_results WHERE game_id = 'CHN202104010'")
    finally:
        await conn.close()
    assert (g["away_team"], g["home_team"], g["park_id"], g["day_night"]) == (
        "PIT",
        "CHN",
        "CHI11",
        "D",
    )
    # Day game, Chicago (CDT, UTC-5): assumed first pitch 13:05 local = 18:05 UTC.
    assert g["scheduled_start"] == datetime(2021, 4, 1, 18, 5, tzinfo=UTC)
    assert (g["away_sp_id"], g["home_sp_id"]) == ("kuhlc001", "hendk001")
    assert g["home_lineup"][0] == "happi001" and len(g["away_lineup"]) == 9
    assert (r["away_score"], r["home_score"], r["duration_min"]) == (5, 3, 240)
    # The result is only known once the game is over: first pitch + its 240 minutes.
    assert r["known_at"] == datetime(2021, 4, 1, 22, 5, tzinfo=UTC)


async def test_odds_match_rate_and_report(ingested: str) -> None:
    conn = await connect(ingested)
    try:
        books = await conn.fetchval(
            "SELECT sum(row_count) FROM ingested_files WHERE file_name LIKE 'mlb-odds-%'"
        )
        matched = await conn.fetchval("SELECT count(*) FROM odds")
        unmatched = await conn.fetch("SELECT * FROM odds_unmatched")
        swapped = await conn.fetchval("SELECT count(*) FROM odds WHERE swapped")
    finally:
        await conn.close()
    assert matched + len(unmatched) == books  # nothing dropped silently
    assert matched / books >= 0.999
    assert all(u["reason"] for u in unmatched)
    assert 20 <= swapped <= 80  # "a few dozen relocated games" list home and away swapped


async def test_doubleheaders_pair_by_score(ingested: str, data_dir: Path) -> None:
    """Workbook finals agree with Retrosheet's scores for (nearly) every joined game."""
    conn = await connect(ingested)
    try:
        rows = await conn.fetch(
            "SELECT g.game_id, g.game_date, g.game_num, g.away_team, g.home_team, "
            "r.away_score, r.home_score FROM games g JOIN game_results r USING (game_id) "
            "WHERE g.season = 2021"
        )
    finally:
        await conn.close()
    keys = [GameKey(*r.values()) for r in rows]
    joined = join_odds(read_workbook(data_dir / "odds" / "mlb-odds-2021.xlsx"), keys)
    scores = {k.game_id: (k.away_score, k.home_score) for k in keys}
    agree = sum(scores[gid] == (o.away_final, o.home_final) for gid, o, _ in joined.matched)
    doubleheaders = [(gid, o) for gid, o, _ in joined.matched if gid[-1] in "12"]
    assert len(doubleheaders) > 50
    for gid, o in doubleheaders:
        same_day = {g: sc for g, sc in scores.items() if g[:-1] == gid[:-1]}
        if (o.away_final, o.home_final) in same_day.values():  # a final the workbook got right
            assert scores[gid] == (o.away_final, o.home_final), gid
    # The few disagreements are workbook typos in the final score, not mis-pairings.
    assert agree / len(joined.matched) >= 0.995


async def test_second_run_changes_nothing(ingested: str, data_dir: Path) -> None:
    conn = await connect(ingested)
    try:
        before = await conn.fetchval("SELECT sum(hashtext(g::text)) FROM games g")
        loaded_at = await conn.fetchval("SELECT max(loaded_at) FROM ingested_files")
        summary = await ingest(conn, data_dir, set(range(2005, 2025)))
        after = await conn.fetchval("SELECT sum(hashtext(g::text)) FROM games g")
        assert await conn.fetchval("SELECT max(loaded_at) FROM ingested_files") == loaded_at
    finally:
        await conn.close()
    assert summary.files_loaded == []
    assert before == after
    assert summary.seasons["2021"].odds_matched == summary.seasons["2021"].odds_games


def _copy_data(data_dir: Path, tmp_path: Path, season: int) -> Path:
    (tmp_path / "retrosheet").mkdir()
    (tmp_path / "odds").mkdir()
    shutil.copy(data_dir / "retrosheet" / f"gl{season}.txt", tmp_path / "retrosheet")
    shutil.copy(data_dir / "odds" / f"mlb-odds-{season}.xlsx", tmp_path / "odds")
    return tmp_path


async def test_corrupt_line_names_file_and_line_and_writes_nothing(
    scratch_db: asyncpg.Connection, data_dir: Path, tmp_path: Path
) -> None:
    root = _copy_data(data_dir, tmp_path, 2021)
    log = root / "retrosheet" / "gl2021.txt"
    lines = log.read_text(encoding="latin-1").splitlines(keepends=True)
    lines[99] = lines[99].replace('"20210', '"2021x', 1)  # line 100: a broken date
    log.write_text("".join(lines), encoding="latin-1")
    with pytest.raises(IngestError) as err:
        await ingest(scratch_db, root, {2021})
    assert err.value.path.name == "gl2021.txt" and err.value.line == 100
    assert "yyyymmdd" in err.value.reason
    assert await scratch_db.fetchval("SELECT count(*) FROM games") == 0
    assert await scratch_db.fetchval("SELECT count(*) FROM ingested_files") == 0


async def test_truncated_line_is_refused(
    scratch_db: asyncpg.Connection, data_dir: Path, tmp_path: Path
) -> None:
    root = _copy_data(data_dir, tmp_path, 2021)
    log = root / "retrosheet" / "gl2021.txt"
    lines = log.read_text(encoding="latin-1").splitlines(keepends=True)
    lines[2000] = lines[2000][:300] + "\n"
    log.write_text("".join(lines), encoding="latin-1")
    with pytest.raises(IngestError, match=r"gl2021.txt, line 2001: expected 161 fields"):
        await ingest(scratch_db, root, {2021})
    assert await scratch_db.fetchval("SELECT count(*) FROM games") == 0


async def test_corrupt_workbook_keeps_games_and_writes_no_odds(
    scratch_db: asyncpg.Connection, data_dir: Path, tmp_path: Path
) -> None:
    root = _copy_data(data_dir, tmp_path, 2021)
    (root / "odds" / "mlb-odds-2021.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(IngestError, match=r"mlb-odds-2021\.xlsx: cannot read workbook"):
        await ingest(scratch_db, root, {2021})
    assert await scratch_db.fetchval("SELECT count(*) FROM games") == 2429  # its own file: whole
    assert await scratch_db.fetchval("SELECT count(*) FROM odds") == 0


async def test_changed_file_is_reloaded_whole(
    scratch_db: asyncpg.Connection, data_dir: Path, tmp_path: Path
) -> None:
    root = _copy_data(data_dir, tmp_path, 2021)
    first = await ingest(scratch_db, root, {2021})
    # Without the postseason logs, the 37 postseason lines are reported unmatched.
    assert (first.seasons["2021"].odds_matched, first.seasons["2021"].odds_unmatched) == (2425, 37)
    log = root / "retrosheet" / "gl2021.txt"
    log.write_text(
        "".join(log.read_text(encoding="latin-1").splitlines(keepends=True)[:100]),
        encoding="latin-1",
    )
    second = await ingest(scratch_db, root, {2021})
    assert second.files_loaded == ["gl2021.txt", "mlb-odds-2021.xlsx"]
    assert second.seasons["2021"].games == 100
    assert second.seasons["2021"].odds_matched + second.seasons["2021"].odds_unmatched == 2462


def test_wrong_data_directory_is_a_clear_error(tmp_path: Path) -> None:
    from ingest.files import locate_files

    with pytest.raises(DataDirError, match="no retrosheet/ folder"):
        locate_files(tmp_path, {2021})


def test_workbook_quirks(data_dir: Path) -> None:
    games = read_workbook(data_dir / "odds" / "mlb-odds-2010.xlsx")
    first = games[0]
    assert (first.odds_date, first.away_code, first.home_code) == (date(2010, 4, 4), "NYA", "BOS")
    assert first.open_total == 9.0 and first.open_over_price == -116
    assert first.open_under_price == -104
    # The two rows of one game carry different dates in this workbook; both are kept.
    assert any(g.odds_date != g.home_row_date for g in games)
