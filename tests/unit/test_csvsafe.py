"""The CSV neutraliser (OWASP CSV injection): formulas become text, everything else is unchanged."""

import csv
import io

import pytest

from shared.platform.csvsafe import csv_line, neutralise


@pytest.mark.parametrize("cell", ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3+cmd|' /C calc'!A0",
                                  "@SUM(1+1)", "\t=1+1", "\r=1+1", "-", "="])  # fmt: skip
def test_a_cell_a_spreadsheet_would_run_gets_a_leading_apostrophe(cell):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["Siti Aminah", "Dr. H. Ahmad, M.Si.", "Kanwil Kemenag - Jawa Barat", " =x", "'=x",
                                  "", "0001/BH/HUMAS-LU/2026", "http://127.0.0.1/verify/x-y"])  # fmt: skip
def test_text_that_does_not_start_a_formula_is_unchanged(cell):
    assert neutralise(cell) == cell


@pytest.mark.parametrize("value", [32, -1, 2.5, None])
def test_numbers_and_empty_cells_stay_as_they_are(value):
    assert neutralise(value) is value


def test_neutralising_twice_changes_nothing_more():
    assert neutralise(neutralise("=1+1")) == "'=1+1"


def test_a_csv_line_neutralises_every_cell_and_still_quotes_properly():
    line = csv_line(["0001/BH", '=HYPERLINK("u","a,b")', 32, "@x"])
    assert line.endswith("\r\n")
    assert next(csv.reader(io.StringIO(line))) == ["0001/BH", '\'=HYPERLINK("u","a,b")', "32", "'@x"]
