from engine.workdays import after, noon_next_day, working_days_after


def test_noon_next_working_day_skips_christmas_and_boxing_day():
    # Submitted Wednesday 24 December 2025: 25th and 26th are bank holidays, then a weekend.
    assert noon_next_day("2025-12-24T15:00:00+00:00") == "2025-12-29T12:00:00+00:00"


def test_noon_next_working_day_after_a_friday_is_monday():
    assert noon_next_day("2025-12-19T16:00:00+00:00") == "2025-12-22T12:00:00+00:00"


def test_noon_next_calendar_day_when_working_days_are_switched_off():
    assert noon_next_day("2025-12-19T16:00:00+00:00", working=False) == "2025-12-20T12:00:00+00:00"


def test_noon_next_day_is_in_london_time_in_summer():
    assert noon_next_day("2026-06-10T09:00:00+01:00") == "2026-06-11T12:00:00+01:00"


def test_three_calendar_months_clamps_to_the_end_of_a_short_month():
    assert after("2025-11-30T10:00:00+00:00", "P3M") == "2026-02-28T10:00:00+00:00"


def test_six_weeks_and_one_week():
    assert after("2025-10-01T10:00:00+01:00", "P6W") == "2025-11-12T10:00:00+00:00"
    assert after("2025-12-19T16:00:00+00:00", "P1W") == "2025-12-26T16:00:00+00:00"


def test_working_days_skip_bank_holidays():
    assert working_days_after("2025-12-23T10:00:00+00:00", 2) == "2025-12-29T10:00:00+00:00"
