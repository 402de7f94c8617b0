"""Units for spoken conversions: "five miles in kilometres", "how many ounces in two hundred grams".

Cups, pints, quarts, gallons and fluid ounces are US measures unless "imperial" is said; names are
said back with British spelling (kilometres, millilitres), as the rest of the assistant does.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Unit", "find_unit", "convert", "UnitError"]


class UnitError(ValueError):
    """A conversion the words ask for cannot be done; the message is said to the user."""


@dataclass(frozen=True)
class Unit:
    singular: str
    plural: str
    dimension: str  # length, mass, volume, time, speed, area, temperature
    factor: float  # size in the dimension's base unit (metre, gram, millilitre, second, km/h, m², -)

    def name(self, value: float) -> str:
        return self.singular if abs(value) == 1 else self.plural


# (singular, plural, dimension, factor, other ways to say it)
_TABLE = [
    ("millimetre", "millimetres", "length", 0.001, ["mm", "millimeter", "millimeters"]),
    ("centimetre", "centimetres", "length", 0.01, ["cm", "centimeter", "centimeters"]),
    ("metre", "metres", "length", 1.0, ["m", "meter", "meters"]),
    ("kilometre", "kilometres", "length", 1000.0, ["km", "kilometer", "kilometers", "kms", "k"]),
    ("inch", "inches", "length", 0.0254, ["inchs"]),  # not "in": it joins the two sides
    ("foot", "feet", "length", 0.3048, ["ft", "foots"]),
    ("yard", "yards", "length", 0.9144, ["yd", "yds"]),
    ("mile", "miles", "length", 1609.344, ["mi"]),
    ("nautical mile", "nautical miles", "length", 1852.0, []),
    ("milligram", "milligrams", "mass", 0.001, ["mg", "milligramme", "milligrammes"]),
    ("gram", "grams", "mass", 1.0, ["g", "gramme", "grammes", "gs"]),
    ("kilogram", "kilograms", "mass", 1000.0, ["kg", "kgs", "kilo", "kilos", "kilogramme", "kilogrammes"]),
    ("ounce", "ounces", "mass", 28.349523125, ["oz"]),
    ("pound", "pounds", "mass", 453.59237, ["lb", "lbs"]),
    ("stone", "stone", "mass", 6350.29318, ["stones"]),
    ("tonne", "tonnes", "mass", 1_000_000.0, ["metric ton", "metric tons"]),
    ("millilitre", "millilitres", "volume", 1.0, ["ml", "milliliter", "milliliters", "mls"]),
    ("centilitre", "centilitres", "volume", 10.0, ["cl", "centiliter", "centiliters"]),
    ("litre", "litres", "volume", 1000.0, ["l", "liter", "liters"]),
    ("teaspoon", "teaspoons", "volume", 4.92892159375, ["tsp", "teaspoonful", "teaspoonfuls"]),
    ("tablespoon", "tablespoons", "volume", 14.78676478125, ["tbsp", "tablespoonful", "tablespoonfuls"]),
    ("fluid ounce", "fluid ounces", "volume", 29.5735295625, ["fl oz"]),
    ("cup", "cups", "volume", 236.5882365, []),
    ("pint", "pints", "volume", 473.176473, []),
    ("quart", "quarts", "volume", 946.352946, []),
    ("gallon", "gallons", "volume", 3785.411784, []),
    ("imperial pint", "imperial pints", "volume", 568.26125, ["uk pint", "uk pints", "british pint"]),
    ("imperial gallon", "imperial gallons", "volume", 4546.09, ["uk gallon", "uk gallons"]),
    ("second", "seconds", "time", 1.0, ["sec", "secs", "s"]),
    ("minute", "minutes", "time", 60.0, ["min", "mins"]),
    ("hour", "hours", "time", 3600.0, ["hr", "hrs", "h"]),
    ("day", "days", "time", 86400.0, []),
    ("week", "weeks", "time", 604800.0, []),
    ("year", "years", "time", 31_557_600.0, []),  # a Julian year, 365.25 days
    ("kilometre per hour", "kilometres per hour", "speed", 1.0,
     ["kph", "km per hour", "kmh", "kilometers per hour", "kilometer per hour", "km an hour",
      "kilometres an hour", "kilometers an hour"]),
    ("mile per hour", "miles per hour", "speed", 1.609344, ["mph", "miles an hour"]),
    ("metre per second", "metres per second", "speed", 3.6, ["meters per second", "meter per second"]),
    ("knot", "knots", "speed", 1.852, []),
    ("square metre", "square metres", "area", 1.0, ["square meter", "square meters", "sq m"]),
    ("square kilometre", "square kilometres", "area", 1e6, ["square kilometer", "square kilometers"]),
    ("square foot", "square feet", "area", 0.09290304, ["sq ft"]),
    ("square mile", "square miles", "area", 2_589_988.110336, []),
    ("acre", "acres", "area", 4046.8564224, []),
    ("hectare", "hectares", "area", 10_000.0, ["ha"]),
]
# temperatures are not a factor apart; their conversion is a formula through kelvin
_TEMPERATURES = [
    ("degree Celsius", "degrees Celsius", ["celsius", "centigrade", "c", "degree celsius", "degrees celsius",
                                           "degrees centigrade", "degrees c"]),
    ("degree Fahrenheit", "degrees Fahrenheit", ["fahrenheit", "f", "degree fahrenheit", "degrees fahrenheit",
                                                 "degrees f"]),
    ("kelvin", "kelvin", ["kelvins", "k degrees"]),
]

UNITS: dict[str, Unit] = {}
for _s, _p, _dim, _factor, _other in _TABLE:
    for _name in (_s, _p, *_other):
        UNITS.setdefault(_name, Unit(_s, _p, _dim, _factor))
for _s, _p, _other in _TEMPERATURES:
    for _name in (_s.lower(), _p.lower(), *_other):
        UNITS[_name] = Unit(_s, _p, "temperature", 0.0)
UNITS["degrees"] = UNITS["degree"] = Unit("degree", "degrees", "temperature", 0.0)  # which scale: from context
UNITS["kelvin"] = Unit("kelvin", "kelvin", "temperature", 0.0)  # "k" alone stays kilometres


def find_unit(text: str) -> Unit | None:
    """The unit some words name ("kilometres", "km", "fluid ounces"), or None."""
    key = " ".join(text.lower().replace(".", " ").split())
    for prefix in ("a ", "an ", "the ", "in ", "of "):
        if key.startswith(prefix) and key not in UNITS:
            key = key[len(prefix):]
    return UNITS.get(key)


def _to_kelvin(value: float, unit: Unit) -> float:
    if unit.singular == "degree Celsius":
        return value + 273.15
    if unit.singular == "degree Fahrenheit":
        return (value - 32) * 5 / 9 + 273.15
    return value


def _from_kelvin(value: float, unit: Unit) -> float:
    if unit.singular == "degree Celsius":
        return value - 273.15
    if unit.singular == "degree Fahrenheit":
        return (value - 273.15) * 9 / 5 + 32
    return value


def convert(value: float, source: Unit, target: Unit) -> tuple[float, Unit]:
    """`value` in `source` said in `target`: the number and the source unit as understood.

    A bare "degrees" is read as the other common scale than the target (Celsius to Fahrenheit and back).
    Raises UnitError for units of different kinds."""
    if source.dimension != target.dimension:
        raise UnitError(f"I can't convert {source.plural} to {target.plural}: they measure different things.")
    if source.dimension != "temperature":
        return value * source.factor / target.factor, source
    if source.singular == "degree":
        source = UNITS["fahrenheit"] if target.singular == "degree Celsius" else UNITS["celsius"]
    if target.singular == "degree":
        raise UnitError("Into Celsius or Fahrenheit?")
    return _from_kelvin(_to_kelvin(value, source), target), source
