"""Reference tables: park time zones, assumed first-pitch times and odds team codes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Every park used 2005-2024 (regular season, postseason and special sites), with its zone.
PARK_TIMEZONES: dict[str, str] = {
    "ANA01": "America/Los_Angeles",
    "ARL02": "America/Chicago",
    "ARL03": "America/Chicago",
    "ATL02": "America/New_York",
    "ATL03": "America/New_York",
    "BAL12": "America/New_York",
    "BIR01": "America/Chicago",
    "BOS07": "America/New_York",
    "BUF05": "America/New_York",
    "CHI11": "America/Chicago",
    "CHI12": "America/Chicago",
    "CIN09": "America/New_York",
    "CLE08": "America/New_York",
    "DEN02": "America/Denver",
    "DET05": "America/Detroit",
    "DUN01": "America/New_York",
    "DYE01": "America/Chicago",
    "FTB01": "America/New_York",
    "HOU03": "America/Chicago",
    "KAN06": "America/Chicago",
    "LBV01": "America/New_York",
    "LON01": "Europe/London",
    "LOS03": "America/Los_Angeles",
    "MEX02": "America/Mexico_City",
    "MIA01": "America/New_York",
    "MIA02": "America/New_York",
    "MIL06": "America/Chicago",
    "MIN03": "America/Chicago",
    "MIN04": "America/Chicago",
    "MNT01": "America/Monterrey",
    "NYC16": "America/New_York",
    "NYC17": "America/New_York",
    "NYC20": "America/New_York",
    "NYC21": "America/New_York",
    "OAK01": "America/Los_Angeles",
    "OMA01": "America/Chicago",
    "PHI13": "America/New_York",
    "PHO01": "America/Phoenix",
    "PIT08": "America/New_York",
    "SAN02": "America/Los_Angeles",
    "SEA03": "America/Los_Angeles",
    "SEO01": "Asia/Seoul",
    "SFO03": "America/Los_Angeles",
    "SJU01": "America/Puerto_Rico",
    "STL09": "America/Chicago",
    "STL10": "America/Chicago",
    "STP01": "America/New_York",
    "SYD01": "Australia/Sydney",
    "TOK01": "Asia/Tokyo",
    "TOR02": "America/Toronto",
    "WAS10": "America/New_York",
    "WAS11": "America/New_York",
    "WIL02": "America/New_York",
}

# Assumed local first pitch. The logs carry no start time, only a day/night flag:
# day games at 13:05 local, night games at 19:05 local; a later game of a doubleheader with
# the same flag as an earlier one that day starts 3 h 30 min after it.
DAY_START = time(13, 5)
NIGHT_START = time(19, 5)
DOUBLEHEADER_GAP = timedelta(hours=3, minutes=30)


def scheduled_start(
    game_date: date, day_night: str, park_id: str, earlier_same_flag: int = 0
) -> datetime:
    """The assumed first pitch in UTC (see the module notes for the rule)."""
    zone = PARK_TIMEZONES.get(park_id)
    if zone is None:
        raise KeyError(f"park {park_id!r} has no time zone in ingest.reference.PARK_TIMEZONES")
    local = datetime.combine(game_date, NIGHT_START if day_night == "N" else DAY_START)
    local = local.replace(tzinfo=ZoneInfo(zone)) + DOUBLEHEADER_GAP * earlier_same_flag
    return local.astimezone(UTC)


# Odds workbook team code -> Retrosheet team code. Only codes that differ are listed.
ODDS_TEAM_CODES: dict[str, str] = {
    "CUB": "CHN",
    "CHC": "CHN",
    "CWS": "CHA",
    "KAN": "KCA",
    "LAA": "ANA",
    "LOS": "LAN",
    "LAD": "LAN",
    "NYM": "NYN",
    "NYY": "NYA",
    "SDG": "SDN",
    "SFO": "SFN",
    "SFG": "SFN",
    "STL": "SLN",
    "TAM": "TBA",
    "BRS": "BOS",
    "WAS": "WAS",
}


def retrosheet_team(odds_code: str, season: int) -> str:
    code = odds_code.strip().upper()
    if code == "MIA":
        return "FLO" if season <= 2011 else "MIA"
    return ODDS_TEAM_CODES.get(code, code)
