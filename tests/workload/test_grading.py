"""SQuAD-style answer grading."""

import pytest

from fsr.workload.grading import exact_match, normalize_answer, token_f1


def test_normalize_drops_case_punctuation_articles_and_spaces() -> None:
    assert normalize_answer("  The  Aldoran-Observatory! ") == "aldoranobservatory"
    assert normalize_answer("an Emerald   Serpent.") == "emerald serpent"
    assert normalize_answer("") == ""


def test_exact_match() -> None:
    assert exact_match("Mira Kessel.", "mira kessel")
    assert exact_match("an emerald serpent", "Emerald serpent")
    assert not exact_match("Mira", "Mira Kessel")
    assert exact_match("", "")


@pytest.mark.parametrize(
    ("pred", "gold", "f1"),
    [
        ("Mira Kessel", "Mira Kessel", 1.0),
        ("Kessel", "Mira Kessel", 2 * 1.0 * 0.5 / 1.5),
        ("House Zedes of Old", "House Zedes", 2 * 0.5 * 1.0 / 1.5),
        ("nothing alike", "Mira Kessel", 0.0),
        ("", "Mira Kessel", 0.0),
        ("the", "", 1.0),  # both normalise to nothing
    ],
)
def test_token_f1(pred: str, gold: str, f1: float) -> None:
    assert token_f1(pred, gold) == pytest.approx(f1)


def test_token_f1_counts_repeated_tokens_once_each() -> None:
    assert token_f1("a b b", "b") == pytest.approx(2 * 0.5 * 1.0 / 1.5)
