"""The 4DME study's Table 4 and rules 1-7, case by case, with each rule's edge."""

from __future__ import annotations

import pytest

from mestudio.analysis.emotion import DECISIVE, DEPENDENT, NO_EMOTION, emotion_from_aus, parse_aus


def label(*aus, static=()):
    return emotion_from_aus(list(aus), static).label


# Table 4, row by row: every decisive AU alone gives its emotion
@pytest.mark.parametrize("au", [1, 4, 7, 9, 10])
def test_negative_key_aus(au):
    assert label(au) == "Negative"


def test_positive_key_au():
    assert label(12) == "Positive"


def test_surprise_key_aus_au2_and_au1_plus_2():
    assert label(2) == "Surprise"
    assert label(1, 2) == "Surprise"  # AU1+2 is Surprise's combination, not Negative+Surprise


@pytest.mark.parametrize("au", [14, 15, 17, 24])
def test_repression_key_aus(au):
    assert label(au) == "Repression"


def test_table_covers_the_studys_22_aus_exactly_once():
    rows = list(DECISIVE.values()) + [DEPENDENT, NO_EMOTION]
    all_aus = [a for r in rows for a in r]
    assert len(all_aus) == len(set(all_aus)) == 22


# Rule 1: five categories only
def test_rule1_results_are_within_the_five_categories_or_none():
    import itertools

    seen = set()
    for n in (1, 2, 3):
        for combo in itertools.combinations([1, 2, 4, 6, 12, 14, 45], n):
            r = emotion_from_aus(combo)
            seen.update(r.emotions)
    assert seen <= {"Positive", "Negative", "Surprise", "Repression", "Others"}


# Rule 2: Negative not divided: several negative AUs are still one Negative
def test_rule2_negative_is_not_divided():
    r = emotion_from_aus([4, 7, 9, 10])
    assert r.emotions == ("Negative",) and r.rule == "table"


# Rule 3: two emotions allowed (edge: exactly two)
def test_rule3_two_emotions():
    assert label(12, 2) == "Positive+Surprise"
    assert label(4, 17) == "Negative+Repression"
    assert label(2, 14) == "Surprise+Repression"
    assert label(12, 14) == "Positive+Repression"


def test_rule3_au1_with_au2_and_a_negative_au_is_negative_plus_surprise():
    # AU1 is taken by AU1+2 (Surprise); AU4 still makes Negative: two emotions
    assert label(1, 2, 4) == "Negative+Surprise"


# Rule 4: three or more emotions -> Others (edge: two stays two, three becomes Others)
def test_rule4_three_emotions_are_others():
    r = emotion_from_aus([2, 4, 14])  # Surprise, Negative, Repression
    assert r.emotions == ("Others",) and r.rule == "rule 4"
    assert emotion_from_aus([2, 4]).rule == "table"


# Rule 5: only dependent AUs -> Others (edge: a dependent AU with a decisive one does not)
@pytest.mark.parametrize("au", [5, 6, 20, 25])
def test_rule5_only_dependent_aus_are_others(au):
    r = emotion_from_aus([au])
    assert r.emotions == ("Others",) and r.rule == "rule 5"


def test_rule5_dependent_plus_decisive_takes_the_decisive_emotion():
    assert label(6, 12) == "Positive"  # the Duchenne smile
    assert label(5, 25, 1, 2) == "Surprise"
    assert label(5, 6, 20, 25) == "Others"


def test_rule5_dependent_with_no_emotion_aus_is_still_only_dependent():
    assert emotion_from_aus([6, 45]).rule == "rule 5"


# Rule 6: Positive + Negative -> Others (edge: Positive + another emotion is fine)
def test_rule6_positive_and_negative_conflict():
    r = emotion_from_aus([12, 4])
    assert r.emotions == ("Others",) and r.rule == "rule 6"
    assert emotion_from_aus([12, 1]).rule == "rule 6"  # AU1 alone is Negative
    assert label(12, 1, 2) == "Positive+Surprise"  # ... but AU1+2 is Surprise


def test_rule6_wins_over_rule4_both_give_others():
    assert label(12, 4, 2) == "Others"


# Rule 7: static AUs count like active ones
def test_rule7_static_aus_are_considered():
    r = emotion_from_aus([1, 2, 5], static_aus=[12])  # the study's Fig. 6 example, AU12 static
    assert r.emotions == ("Positive", "Surprise") and 12 in r.aus
    assert label(static=[12]) == "Positive"
    assert label(4, static=["12(k)"]) == "Others"  # static AU12 + active AU4: rule 6


def test_no_emotion_aus_alone_give_no_emotion():
    for au in NO_EMOTION:
        r = emotion_from_aus([au])
        assert r.emotions == () and r.label == "None" and r.rule == "no emotion"
    assert emotion_from_aus([]).label == "None"
    assert label(45, 12) == "Positive"  # a blink does not change a smile's emotion


def test_aus_outside_the_table_are_ignored_and_listed():
    r = emotion_from_aus([26, 12])
    assert r.label == "Positive" and r.ignored == (26,)


def test_label_book_codes_parse():
    assert parse_aus("4+7+L10") == [4, 7, 10]
    assert parse_aus("AU12, R14B; 1") == [12, 14, 1]
    assert parse_aus(["AU4A", 7, "12(k)"]) == [4, 7, 12]
    assert label("L12") == "Positive"
    with pytest.raises(ValueError, match="not an AU code"):
        parse_aus("smile")


def test_the_face_rigs_labels_follow_table_4():
    """The synthetic rig's ground truth names the emotion the study's rules give its AUs."""
    from mestudio.capture.face.script import EXPRESSIONS

    for aus, label in EXPRESSIONS:
        assert emotion_from_aus(aus).label.lower() == label, aus
