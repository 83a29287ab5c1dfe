"""Matching a training answer to the passage that holds it: numbers by value, not as words."""
from builder._data import answer_recall, find_oracle


def test_numbers_match_by_value_however_they_are_written():
    assert answer_recall("1,577", "a total of 1577.00 dollars") == 1.0
    assert answer_recall("$1.6 billion", "net income of $1,600 million") == 1.0
    # a range is two numbers, not one glued word
    assert answer_recall("533,340-315,535", "Revenue was 533,340 in 2019 and 315,535 in 2018") == 1.0
    assert answer_recall("533,340-315,535", "Revenue was 533340315535") == 0.0
    assert answer_recall("Revenue rose to 1,577.", "Revenue rose to 1,877.") < 1.0  # (within 0.5%, a rounding, still matches)


def test_an_answer_of_bare_years_needs_the_question_too():
    question = "Which years did Acme report losses?"
    assert answer_recall("2018; 2019.", "In 2018 and 2019 the weather was mild.", question) == 0.0
    assert answer_recall("2018; 2019.", "Acme reported losses in 2018 and 2019.", question) == 1.0


def test_the_oracle_is_the_chunk_holding_the_figure():
    from dataclasses import dataclass

    @dataclass
    class Hit:
        id: str
        text: str

    class KB:
        def search(self, text, k=3, mode=None):
            return []

    hits = [Hit("a", "Total revenue in 2023 and 2022 is shown below."), Hit("b", "Total revenue was 91,471 in 2023 and 86,392 in 2022.")]
    assert find_oracle(KB(), "What was total revenue in 2023?", "$91,471 million", hits, 0.5, None).id == "b"
