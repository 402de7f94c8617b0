"""Arithmetic and unit conversion from spoken words: "seventeen times four", "a third of ninety",
"twenty percent of eighty", "square root of eighty one", "five miles in kilometres".

A safe evaluator: the words become numbers and operators, and a small precedence parser computes them.
Nothing is ever handed to `eval`, and any word it does not know makes the whole input unreadable.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .base import Env, SkillContext, SkillResult
from .numbers import format_number, take_number, words
from .units import UnitError, convert, find_unit

__all__ = ["HANDLERS", "DESCRIPTION", "evaluate", "CalcError", "tokenize"]

DESCRIPTION = "do arithmetic and convert units (miles, grams, cups, degrees, ...)"


class CalcError(ValueError):
    """Input the evaluator cannot compute; the message is said to the user."""


_DENOMINATORS = {"half": 2, "halves": 2, "third": 3, "thirds": 3, "quarter": 4, "quarters": 4, "fourth": 4,
                 "fourths": 4, "fifth": 5, "fifths": 5, "sixth": 6, "sixths": 6, "seventh": 7, "sevenths": 7,
                 "eighth": 8, "eighths": 8, "ninth": 9, "ninths": 9, "tenth": 10, "tenths": 10}
# word sequences -> operator tokens; longest first
_PHRASES = [
    (("to", "the", "power", "of"), "^"), (("raised", "to", "the", "power", "of"), "^"), (("raised", "to"), "^"),
    (("to", "the", "power"), "^"), (("square", "root", "of"), "sqrt"), (("square", "root"), "sqrt"),
    (("cube", "root", "of"), "cbrt"), (("cube", "root"), "cbrt"), (("root", "of"), "sqrt"),
    (("multiplied", "by"), "*"), (("divided", "by"), "/"), (("take", "away"), "-"), (("percent", "of"), "%of"),
    (("per", "cent", "of"), "%of"), (("per", "cent"), "%"), (("modulo",), "mod"), (("mod",), "mod"),
    (("plus",), "+"), (("and",), "+"), (("+",), "+"), (("minus",), "-"), (("-",), "-"), (("negative",), "neg"),
    (("times",), "*"), (("x",), "*"), (("×",), "*"), (("*",), "*"), (("multiply",), "*"),
    (("over",), "/"), (("divide",), "/"), (("÷",), "/"), (("/",), "/"), (("^",), "^"), (("power",), "^"),
    (("squared",), "sq"), (("cubed",), "cube"), (("percent",), "%"), (("%",), "%"), (("(",), "("), ((")",), ")"),
    (("sqrt",), "sqrt"), (("twice",), "2*"), (("double",), "2*"), (("triple",), "3*"), (("of",), "of"),
]
_FILLER = {"what", "what's", "whats", "is", "are", "the", "equals", "equal", "by", "please", "calculate",
           "compute", "how", "much", "tell", "me", "can", "you", "work", "out", "answer", "number", "to",
           "do", "does", "make", "makes", "it", "?", "add", "sum"}
_LEAD = re.compile(r"^\s*(what's|whats|what is|how much is|how much are|calculate|compute|work out|"
                   r"can you tell me|tell me|please|and)\s+", re.I)


def tokenize(text: str) -> list[float | str]:
    """Numbers (floats) and operator names; `CalcError` for a word that is neither."""
    ws = words(text)
    out: list[float | str] = []
    i = 0
    while i < len(ws):
        w = ws[i]
        # fractions: "a third", "two thirds", "half"
        if w in ("a", "an", "one") and i + 1 < len(ws) and ws[i + 1] in _DENOMINATORS:
            out.append(1 / _DENOMINATORS[ws[i + 1]])
            i += 2
            continue
        if w in ("half", "halves"):
            out.append(0.5)
            i += 1
            continue
        got = take_number(ws, i, ordinals=False)
        if got is not None:
            value, i, _ = got
            if i < len(ws) and ws[i] in _DENOMINATORS and ws[i] not in ("half",):
                value, i = value / _DENOMINATORS[ws[i]], i + 1
            out.append(float(value))
            continue
        for phrase, op in _PHRASES:
            if tuple(ws[i:i + len(phrase)]) == phrase:
                if op == "2*" or op == "3*":
                    out += [float(op[0]), "*"]
                elif op == "%of":
                    out += ["%", "*"]
                elif op == "of":  # "a third of ninety": times; otherwise ("the square root of") a filler
                    if out and (isinstance(out[-1], float) or out[-1] == "%"):
                        out.append("*")
                elif op == "+" and w == "and" and (not out or not isinstance(out[-1], float)):
                    pass  # "and" that joins no numbers
                else:
                    out.append(op)
                i += len(phrase)
                break
        else:
            if w in _FILLER or w in ("a", "an"):
                i += 1
                continue
            raise CalcError(f"I don't know how to calculate with \"{w}\".")
    return out


class _Parser:
    """expr := term (+|- term)*; term := unary (*|/|mod unary)*; unary := -unary | power;
    power := postfix (^ unary)?; postfix := primary (% | squared | cubed)*; primary := number | (expr) |
    sqrt unary | cbrt unary."""

    def __init__(self, tokens: list[float | str]):
        self.tokens = tokens
        self.i = 0

    def peek(self) -> float | str | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> float | str:
        token = self.peek()
        if token is None:
            raise CalcError("That sum seems to stop in the middle.")
        self.i += 1
        return token

    def parse(self) -> float:
        if not self.tokens:
            raise CalcError("I didn't hear any numbers to calculate with.")
        value = self.expr()
        if self.peek() is not None:
            raise CalcError("I couldn't make sense of that sum.")
        return value

    def expr(self) -> float:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            right = self.term()
            value = value + right if op == "+" else value - right
        return value

    def term(self) -> float:
        value = self.unary()
        while self.peek() in ("*", "/", "mod"):
            op = self.take()
            right = self.unary()
            if op == "*":
                value = value * right
            elif right == 0:
                raise CalcError("I can't divide by zero.")
            else:
                value = value / right if op == "/" else math.fmod(value, right)
        return value

    def unary(self) -> float:
        if self.peek() in ("-", "neg"):
            self.take()
            return -self.unary()
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> float:
        base = self.postfix()
        if self.peek() == "^":
            self.take()
            return _pow(base, self.unary())
        return base

    def postfix(self) -> float:
        value = self.primary()
        while self.peek() in ("%", "sq", "cube"):
            op = self.take()
            value = value / 100 if op == "%" else _pow(value, 2 if op == "sq" else 3)
        return value

    def primary(self) -> float:
        token = self.take()
        if isinstance(token, float):
            return token
        if token == "(":
            value = self.expr()
            if self.peek() != ")":
                raise CalcError("A bracket is not closed.")
            self.take()
            return value
        if token == "sqrt":
            value = self.unary()
            if value < 0:
                raise CalcError("I can't take the square root of a negative number.")
            return math.sqrt(value)
        if token == "cbrt":
            value = self.unary()
            return math.copysign(abs(value) ** (1 / 3), value)
        raise CalcError("I couldn't make sense of that sum.")


def _pow(base: float, exponent: float) -> float:
    try:
        value = math.pow(base, exponent)
    except OverflowError:
        raise CalcError("That number is too big for me.") from None
    except ValueError:  # a negative number to a fractional power
        raise CalcError("That has no real answer.") from None
    return value


def evaluate(text: str) -> float:
    """The value of spoken arithmetic; `CalcError` (with a sentence to say) when it cannot be computed."""
    value = _Parser(tokenize(text)).parse()
    if not math.isfinite(value):
        raise CalcError("That number is too big for me.")
    return value


def _clean(text: str) -> str:
    text = text.strip().rstrip("?.! ")
    while True:
        stripped = _LEAD.sub("", text)
        if stripped == text:
            return text
        text = stripped


def _conversion(text: str) -> SkillResult | None:
    """A unit conversion the words ask for, said with its answer; None when they ask none."""
    ws = [w for w in words(text) if w not in ("convert", "?")]
    if ws[:2] in (["how", "many"], ["how", "much"]):  # how many ounces (are) in two hundred grams
        for k in range(2, len(ws)):
            if ws[k] in ("in", "is", "are", "make", "makes"):
                target = find_unit(" ".join(ws[2:k]))
                rest = [w for w in ws[k:] if w not in ("in", "is", "are", "there", "make", "makes")]
                if target is not None:
                    return _convert_words(rest, target)
        return None
    for k in range(len(ws) - 1, 0, -1):  # five miles in kilometres; the last joining word that splits well
        if ws[k] in ("in", "to", "into", "as"):
            target = find_unit(" ".join(w for w in ws[k + 1:] if w not in ("how", "many")))
            if target is not None:
                result = _convert_words(ws[:k], target)
                if result is not None:
                    return result
    return None


def _convert_words(ws: list[str], target) -> SkillResult | None:
    sign = 1.0
    while ws and ws[0] in ("minus", "negative", "-", "is", "are"):
        sign, ws = (-sign if ws[0] in ("minus", "negative", "-") else sign), ws[1:]
    if ws[:1] in (["a"], ["an"], ["one"]) and len(ws) > 1 and find_unit(" ".join(ws[1:])):
        value, rest = 1.0, ws[1:]
    else:
        got = take_number(ws, 0, ordinals=False)
        if got is None:
            return None
        value, rest = float(got[0]), ws[got[1]:]
    source = find_unit(" ".join(rest))
    if source is None:
        return None
    value *= sign
    try:
        answer, source = convert(value, source, target)
    except UnitError as exc:
        return SkillResult(str(exc))
    return SkillResult(f"{format_number(value)} {source.name(value)} is {format_number(answer)} "
                       f"{target.name(round(answer, 2))}.")


def _answer(text: str) -> SkillResult:
    """The answer to one spoken calculation; CalcError when the words are not one."""
    converted = _conversion(text)
    if converted is not None:
        return converted
    value = evaluate(text)
    said = text[:1].upper() + text[1:]
    return SkillResult(f"{said} is {format_number(value)}.")


def calc(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    # The model's expression first; when it cannot be computed (the model copied too little, as in
    # "how many kilometres is five miles" -> "kilometres"), the whole request the user said.
    texts = [t for t in dict.fromkeys([_clean(args.get("expr") or ""), _clean(ctx.request or "")]) if t]
    if not texts:
        return SkillResult("What would you like me to calculate?")
    first_error = None
    for text in texts:
        try:
            return _answer(text)
        except CalcError as exc:
            first_error = first_error or exc
    return SkillResult(str(first_error))


HANDLERS = {"calc": calc}
