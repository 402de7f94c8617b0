"""Spoken arithmetic and unit conversion: the safe evaluator computes what it understands and refuses the rest."""
import pytest

from assistant.skills.arithmetic import CalcError, evaluate, tokenize
from assistant.skills.units import UnitError, convert, find_unit

SUMS = [
    ("seventeen times four", 68), ("two plus three", 5), ("a third of ninety", 30), ("twenty percent of eighty", 16),
    ("square root of eighty one", 9), ("the square root of 16", 4), ("2 + 3 * 4", 14), ("(2 + 3) * 4", 20),
    ("two to the power of ten", 1024), ("five squared", 25), ("three cubed", 27), ("half of ten", 5),
    ("two thirds of nine", 6), ("minus five plus three", -2), ("three point five times two", 7),
    ("twice seven", 14), ("add three and four", 7), ("one hundred divided by eight", 12.5),
    ("ten minus four minus three", 3), ("two to the power of three squared", 512), ("100 / 4 / 5", 5),
    ("negative two times negative three", 6), ("ten mod three", 1), ("cube root of twenty seven", 3),
]


@pytest.mark.parametrize("text,expected", SUMS)
def test_evaluate(text, expected):
    assert evaluate(text) == pytest.approx(expected)


JUNK = [
    ("import os", "import"), ("__import__('os').system('ls')", "import"), ("2 +", "stop"), ("plus plus", "stop"),
    ("ten divided by zero", "divide by zero"), ("1 / 0", "divide by zero"), ("square root of minus four", "negative"),
    ("ten to the power of 1000", "too big"), ("", "numbers"), ("what", "numbers"), ("open the door", "open"),
    ("(2 + 3", "bracket"), ("2 3", "sense"), ("lambda x: x", "lambda"),
]


@pytest.mark.parametrize("text,why", JUNK)
def test_evaluator_refuses_junk(text, why):
    with pytest.raises(CalcError, match=why):
        evaluate(text)


def test_tokens_are_only_numbers_and_operators():
    assert tokenize("seventeen times four") == [17.0, "*", 4.0]
    assert tokenize("twenty percent of eighty") == [20.0, "%", "*", 80.0]
    assert tokenize("what is the square root of 9") == ["sqrt", 9.0]


def test_units():
    assert find_unit("kilometres") is find_unit("km") or find_unit("km").singular == "kilometre"
    assert find_unit("fluid ounces").dimension == "volume"
    assert find_unit("parsecs") is None
    value, _ = convert(5, find_unit("miles"), find_unit("kilometres"))
    assert value == pytest.approx(8.04672)
    value, source = convert(10, find_unit("degrees"), find_unit("fahrenheit"))  # bare degrees: the other scale
    assert (value, source.singular) == (pytest.approx(50), "degree Celsius")
    assert convert(0, find_unit("kelvin"), find_unit("celsius"))[0] == pytest.approx(-273.15)
    with pytest.raises(UnitError, match="different things"):
        convert(1, find_unit("miles"), find_unit("grams"))


def test_calc_falls_back_to_the_whole_request_when_the_copied_expression_falls_short():
    from assistant import Memory
    from assistant.skills import SkillContext, Skills
    from dialogue.actions import parse_action

    skills = Skills(Memory(":memory:"))
    short = skills.run(parse_action("<calc> <expr> kilometres"), SkillContext("c", request="how many kilometres is five miles"))
    assert short.text == "5 miles is 8.05 kilometres."
    bad = skills.run(parse_action("<calc> <expr> banana"), SkillContext("c", request="banana split"))
    assert "banana" in bad.text
