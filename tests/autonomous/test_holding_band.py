"""The holding band: a held name stays while it ranks within the first band x N names, the places left go
to the best names not held, and band 1 is today's top N whatever is held."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autonomous.holding_band import held_names, pick_with_band

RANKED = [f"T{i:02d}" for i in range(10)]


@st.composite
def cases(draw: st.DrawFn) -> tuple[list[str], frozenset[str], int, int]:
    names = draw(st.lists(st.sampled_from([f"N{i:02d}" for i in range(30)]), unique=True, max_size=30))
    held = frozenset(draw(st.lists(st.sampled_from([*names, "OUTSIDE"]), unique=True)))
    return names, held, draw(st.integers(1, 12)), draw(st.integers(1, 4))


@given(cases())
def test_the_band_picks_min_n_names_keeps_held_names_inside_it_and_nothing_outside(
    case: tuple[list[str], frozenset[str], int, int],
) -> None:
    ranked, held, top_n, band = case
    picks = pick_with_band(ranked, held, top_n, band)
    chosen = list(picks.tickers)
    assert len(chosen) == min(top_n, len(ranked))
    assert chosen == [ticker for ticker in ranked if ticker in set(chosen)]  # in ranking order, no repeats
    inside = [ticker for ticker in ranked[: band * top_n] if ticker in held]
    assert set(inside[:top_n]) <= set(chosen)  # held names in the band kept (the best N when more)
    for position, ticker in enumerate(ranked):
        if ticker in set(chosen) and position >= top_n:  # beyond the top N only by the band
            assert ticker in held
            assert position < band * top_n
    assert picks.kept_by_band == sum(1 for ticker in chosen if ranked.index(ticker) >= top_n)


@given(cases())
def test_band_one_gives_todays_top_n_exactly_whatever_is_held(case: tuple[list[str], frozenset[str], int, int]) -> None:
    ranked, held, top_n, _ = case
    picks = pick_with_band(ranked, held, top_n, 1)
    assert picks.tickers == tuple(ranked[:top_n])
    assert picks.kept_by_band == 0


@given(cases())
def test_the_picks_depend_only_on_the_ranking_and_the_set_of_held_names(
    case: tuple[list[str], frozenset[str], int, int],
) -> None:
    ranked, held, top_n, band = case
    first = pick_with_band(ranked, held, top_n, band)
    assert pick_with_band(list(ranked), sorted(held, reverse=True), top_n, band) == first
    assert pick_with_band(tuple(ranked), list(held), top_n, band) == first


def test_a_held_name_just_below_the_top_n_keeps_its_place_and_the_worst_new_name_waits() -> None:
    picks = pick_with_band(RANKED, {"T00", "T04"}, top_n=3, band=2)
    assert picks.tickers == ("T00", "T01", "T04")
    assert picks.kept_by_band == 1
    assert picks.band_note == ": 2 of the top 3, and 1 held name ranked within the first 6 that the holding band kept"


def test_a_held_name_below_the_band_is_sold_for_the_best_name_not_held() -> None:
    picks = pick_with_band(RANKED, {"T00", "T06"}, top_n=3, band=2)
    assert picks.tickers == ("T00", "T01", "T02")
    assert (picks.kept_by_band, picks.band_note, picks.selection) == (0, "", "the top 3")


def test_more_held_names_in_the_band_than_places_keeps_the_best_of_them() -> None:
    picks = pick_with_band(RANKED, {"T01", "T03", "T04", "T05"}, top_n=2, band=3)
    assert picks.tickers == ("T01", "T03")
    assert picks.selection == "2"


def test_dust_and_short_positions_are_not_held_names() -> None:
    assert held_names({"A": 0.05, "B": 1e-12, "C": 0.0, "D": -0.01}) == frozenset({"A"})


@pytest.mark.parametrize(("top_n", "band", "message"), [(0, 2, "top_n must be at least 1"), (3, 0, "band must be")])
def test_a_top_n_or_band_below_one_is_refused(top_n: int, band: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        pick_with_band(RANKED, (), top_n, band)
