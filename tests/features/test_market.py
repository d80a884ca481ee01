from __future__ import annotations

import pytest

from features.market import decimal_odds, devig, implied


def test_implied_and_decimal() -> None:
    assert implied(-150) == pytest.approx(0.6)
    assert implied(150) == pytest.approx(0.4)
    assert decimal_odds(-200) == pytest.approx(1.5)
    assert decimal_odds(120) == pytest.approx(2.2)
    with pytest.raises(ValueError, match="not valid"):
        implied(-50)


@pytest.mark.parametrize("method", ["multiplicative", "power", "shin"])
def test_devig_sums_to_one_and_keeps_order(method: str) -> None:
    fair = devig([-180, 160], method)
    assert sum(fair) == pytest.approx(1.0, abs=1e-9)
    assert fair[0] > fair[1]
    assert fair[0] < implied(-180)  # the vig is removed from the favourite too


def test_power_and_shin_shift_probability_to_the_favourite() -> None:
    mult, power, shin = (devig([-300, 250], m)[0] for m in ("multiplicative", "power", "shin"))
    assert power > mult and shin > mult  # the favourite-longshot bias correction


def test_even_market_is_fifty_fifty() -> None:
    for method in ("multiplicative", "power", "shin"):
        assert devig([-110, -110], method) == pytest.approx([0.5, 0.5])


def test_unknown_method() -> None:
    with pytest.raises(ValueError, match="unknown de-vig method"):
        devig([-110, -110], "nonsense")
