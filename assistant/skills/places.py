"""Place names to time zones: common cities, countries, US states and zone abbreviations -> IANA zones.

Offline on purpose: a table, not a geocoder. A place that is not here is unknown, and the clock skill
says so rather than guessing. Countries with several zones answer for one named city.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from .numbers import words

__all__ = ["Place", "find_place"]

log = logging.getLogger(__name__)

CITIES = {
    # Europe
    "london": "Europe/London", "manchester": "Europe/London", "edinburgh": "Europe/London",
    "dublin": "Europe/Dublin", "lisbon": "Europe/Lisbon", "madrid": "Europe/Madrid",
    "barcelona": "Europe/Madrid", "paris": "Europe/Paris", "lyon": "Europe/Paris", "marseille": "Europe/Paris",
    "brussels": "Europe/Brussels", "amsterdam": "Europe/Amsterdam", "berlin": "Europe/Berlin",
    "munich": "Europe/Berlin", "hamburg": "Europe/Berlin", "frankfurt": "Europe/Berlin",
    "zurich": "Europe/Zurich", "geneva": "Europe/Zurich", "vienna": "Europe/Vienna", "rome": "Europe/Rome",
    "milan": "Europe/Rome", "naples": "Europe/Rome", "copenhagen": "Europe/Copenhagen",
    "oslo": "Europe/Oslo", "stockholm": "Europe/Stockholm", "helsinki": "Europe/Helsinki",
    "warsaw": "Europe/Warsaw", "prague": "Europe/Prague", "budapest": "Europe/Budapest",
    "athens": "Europe/Athens", "istanbul": "Europe/Istanbul", "kyiv": "Europe/Kyiv", "kiev": "Europe/Kyiv",
    "moscow": "Europe/Moscow", "bucharest": "Europe/Bucharest", "reykjavik": "Atlantic/Reykjavik",
    # Americas
    "new york": "America/New_York", "new york city": "America/New_York", "boston": "America/New_York",
    "washington": "America/New_York", "washington dc": "America/New_York", "miami": "America/New_York",
    "atlanta": "America/New_York", "philadelphia": "America/New_York", "detroit": "America/Detroit",
    "toronto": "America/Toronto", "montreal": "America/Toronto", "ottawa": "America/Toronto",
    "chicago": "America/Chicago", "houston": "America/Chicago", "dallas": "America/Chicago",
    "austin": "America/Chicago", "new orleans": "America/Chicago", "denver": "America/Denver",
    "phoenix": "America/Phoenix", "salt lake city": "America/Denver", "calgary": "America/Edmonton",
    "los angeles": "America/Los_Angeles", "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles", "las vegas": "America/Los_Angeles", "san diego": "America/Los_Angeles",
    "vancouver": "America/Vancouver", "anchorage": "America/Anchorage", "honolulu": "Pacific/Honolulu",
    "mexico city": "America/Mexico_City", "havana": "America/Havana", "bogota": "America/Bogota",
    "lima": "America/Lima", "santiago": "America/Santiago", "buenos aires": "America/Argentina/Buenos_Aires",
    "sao paulo": "America/Sao_Paulo", "rio de janeiro": "America/Sao_Paulo", "rio": "America/Sao_Paulo",
    "caracas": "America/Caracas",
    # Africa and the Middle East
    "cairo": "Africa/Cairo", "lagos": "Africa/Lagos", "nairobi": "Africa/Nairobi",
    "johannesburg": "Africa/Johannesburg", "cape town": "Africa/Johannesburg", "casablanca": "Africa/Casablanca",
    "algiers": "Africa/Algiers", "tunis": "Africa/Tunis", "accra": "Africa/Accra", "dakar": "Africa/Dakar",
    "addis ababa": "Africa/Addis_Ababa", "dubai": "Asia/Dubai", "abu dhabi": "Asia/Dubai",
    "riyadh": "Asia/Riyadh", "doha": "Asia/Qatar", "tehran": "Asia/Tehran", "jerusalem": "Asia/Jerusalem",
    "tel aviv": "Asia/Jerusalem", "beirut": "Asia/Beirut", "baghdad": "Asia/Baghdad",
    # Asia and Oceania
    "karachi": "Asia/Karachi", "delhi": "Asia/Kolkata", "new delhi": "Asia/Kolkata", "mumbai": "Asia/Kolkata",
    "bangalore": "Asia/Kolkata", "kolkata": "Asia/Kolkata", "kathmandu": "Asia/Kathmandu",
    "dhaka": "Asia/Dhaka", "bangkok": "Asia/Bangkok", "hanoi": "Asia/Bangkok",
    "ho chi minh city": "Asia/Ho_Chi_Minh", "jakarta": "Asia/Jakarta", "kuala lumpur": "Asia/Kuala_Lumpur",
    "singapore": "Asia/Singapore", "manila": "Asia/Manila", "hong kong": "Asia/Hong_Kong",
    "beijing": "Asia/Shanghai", "shanghai": "Asia/Shanghai", "taipei": "Asia/Taipei", "seoul": "Asia/Seoul",
    "tokyo": "Asia/Tokyo", "osaka": "Asia/Tokyo", "perth": "Australia/Perth", "adelaide": "Australia/Adelaide",
    "brisbane": "Australia/Brisbane", "sydney": "Australia/Sydney", "melbourne": "Australia/Melbourne",
    "canberra": "Australia/Sydney", "auckland": "Pacific/Auckland", "wellington": "Pacific/Auckland",
}

# country -> (zone, the city answered for when the country has several zones, else None)
COUNTRIES = {
    "england": ("Europe/London", None), "britain": ("Europe/London", None),
    "great britain": ("Europe/London", None), "the uk": ("Europe/London", None), "uk": ("Europe/London", None),
    "united kingdom": ("Europe/London", None), "scotland": ("Europe/London", None),
    "wales": ("Europe/London", None), "ireland": ("Europe/Dublin", None), "portugal": ("Europe/Lisbon", None),
    "spain": ("Europe/Madrid", None), "france": ("Europe/Paris", None), "belgium": ("Europe/Brussels", None),
    "netherlands": ("Europe/Amsterdam", None), "holland": ("Europe/Amsterdam", None),
    "germany": ("Europe/Berlin", None), "switzerland": ("Europe/Zurich", None),
    "austria": ("Europe/Vienna", None), "italy": ("Europe/Rome", None), "denmark": ("Europe/Copenhagen", None),
    "norway": ("Europe/Oslo", None), "sweden": ("Europe/Stockholm", None), "finland": ("Europe/Helsinki", None),
    "poland": ("Europe/Warsaw", None), "czech republic": ("Europe/Prague", None),
    "hungary": ("Europe/Budapest", None), "greece": ("Europe/Athens", None), "turkey": ("Europe/Istanbul", None),
    "ukraine": ("Europe/Kyiv", None), "romania": ("Europe/Bucharest", None), "iceland": ("Atlantic/Reykjavik", None),
    "russia": ("Europe/Moscow", "Moscow"), "america": ("America/New_York", "New York"),
    "the us": ("America/New_York", "New York"), "usa": ("America/New_York", "New York"),
    "the usa": ("America/New_York", "New York"), "united states": ("America/New_York", "New York"),
    "canada": ("America/Toronto", "Toronto"), "mexico": ("America/Mexico_City", "Mexico City"),
    "brazil": ("America/Sao_Paulo", "Sao Paulo"), "argentina": ("America/Argentina/Buenos_Aires", None),
    "chile": ("America/Santiago", None), "peru": ("America/Lima", None), "colombia": ("America/Bogota", None),
    "cuba": ("America/Havana", None), "egypt": ("Africa/Cairo", None), "nigeria": ("Africa/Lagos", None),
    "kenya": ("Africa/Nairobi", None), "south africa": ("Africa/Johannesburg", None),
    "morocco": ("Africa/Casablanca", None), "israel": ("Asia/Jerusalem", None), "iran": ("Asia/Tehran", None),
    "saudi arabia": ("Asia/Riyadh", None), "pakistan": ("Asia/Karachi", None), "india": ("Asia/Kolkata", None),
    "nepal": ("Asia/Kathmandu", None), "bangladesh": ("Asia/Dhaka", None), "thailand": ("Asia/Bangkok", None),
    "vietnam": ("Asia/Ho_Chi_Minh", None), "indonesia": ("Asia/Jakarta", "Jakarta"),
    "malaysia": ("Asia/Kuala_Lumpur", None), "philippines": ("Asia/Manila", None),
    "the philippines": ("Asia/Manila", None), "china": ("Asia/Shanghai", None), "taiwan": ("Asia/Taipei", None),
    "korea": ("Asia/Seoul", None), "south korea": ("Asia/Seoul", None), "japan": ("Asia/Tokyo", None),
    "australia": ("Australia/Sydney", "Sydney"), "new zealand": ("Pacific/Auckland", None),
}

US_STATES = {
    "alabama": "America/Chicago", "alaska": "America/Anchorage", "arizona": "America/Phoenix",
    "arkansas": "America/Chicago", "california": "America/Los_Angeles", "colorado": "America/Denver",
    "connecticut": "America/New_York", "delaware": "America/New_York", "florida": "America/New_York",
    "georgia": "America/New_York", "hawaii": "Pacific/Honolulu", "idaho": "America/Boise",
    "illinois": "America/Chicago", "indiana": "America/Indiana/Indianapolis", "iowa": "America/Chicago",
    "kansas": "America/Chicago", "kentucky": "America/New_York", "louisiana": "America/Chicago",
    "maine": "America/New_York", "maryland": "America/New_York", "massachusetts": "America/New_York",
    "michigan": "America/Detroit", "minnesota": "America/Chicago", "mississippi": "America/Chicago",
    "missouri": "America/Chicago", "montana": "America/Denver", "nebraska": "America/Chicago",
    "nevada": "America/Los_Angeles", "new hampshire": "America/New_York", "new jersey": "America/New_York",
    "new mexico": "America/Denver", "north carolina": "America/New_York", "north dakota": "America/Chicago",
    "ohio": "America/New_York", "oklahoma": "America/Chicago", "oregon": "America/Los_Angeles",
    "pennsylvania": "America/New_York", "rhode island": "America/New_York", "south carolina": "America/New_York",
    "south dakota": "America/Chicago", "tennessee": "America/Chicago", "texas": "America/Chicago",
    "utah": "America/Denver", "vermont": "America/New_York", "virginia": "America/New_York",
    "washington state": "America/Los_Angeles", "west virginia": "America/New_York",
    "wisconsin": "America/Chicago", "wyoming": "America/Denver",
}

# spoken abbreviations and zone names -> (zone, how to say it back)
ZONES = {
    "utc": ("UTC", "UTC"), "gmt": ("UTC", "GMT"), "greenwich mean time": ("UTC", "GMT"),
    "coordinated universal time": ("UTC", "UTC"), "universal time": ("UTC", "UTC"),
    "bst": ("Europe/London", "British time"), "british time": ("Europe/London", "British time"),
    "cet": ("Europe/Paris", "Central European time"), "cest": ("Europe/Paris", "Central European time"),
    "central european time": ("Europe/Paris", "Central European time"),
    "eet": ("Europe/Athens", "Eastern European time"), "eastern european time": ("Europe/Athens", "Eastern European time"),
    "est": ("America/New_York", "Eastern time"), "edt": ("America/New_York", "Eastern time"),
    "eastern": ("America/New_York", "Eastern time"), "eastern time": ("America/New_York", "Eastern time"),
    "cst": ("America/Chicago", "Central time"), "cdt": ("America/Chicago", "Central time"),
    "central time": ("America/Chicago", "Central time"),
    "mst": ("America/Denver", "Mountain time"), "mdt": ("America/Denver", "Mountain time"),
    "mountain time": ("America/Denver", "Mountain time"),
    "pst": ("America/Los_Angeles", "Pacific time"), "pdt": ("America/Los_Angeles", "Pacific time"),
    "pacific": ("America/Los_Angeles", "Pacific time"), "pacific time": ("America/Los_Angeles", "Pacific time"),
    "ist": ("Asia/Kolkata", "India"), "indian time": ("Asia/Kolkata", "India"),
    "jst": ("Asia/Tokyo", "Japan"), "japan time": ("Asia/Tokyo", "Japan"),
    "aest": ("Australia/Sydney", "Sydney"), "aedt": ("Australia/Sydney", "Sydney"),
}

_LOWER_IANA = {name.lower(): name for name in available_timezones()}


@dataclass(frozen=True)
class Place:
    """A resolved place: its zone and the name to say ("Tokyo", "Eastern time")."""

    zone: ZoneInfo
    name: str  # what to say after "in": "Tokyo", "New York"
    note: str | None = None  # "Australia has several time zones" when one city answered for a country


def _title(text: str) -> str:
    small = {"of", "de", "the", "and"}
    return " ".join(w if w in small and k else w.capitalize() for k, w in enumerate(text.split()))


def find_place(text: str) -> Place | None:
    """The time zone of a spoken place, or None when this table does not know it."""
    ws = words(text)
    while ws and ws[0] in ("in", "at", "of", "for"):
        ws = ws[1:]
    key = " ".join(ws).replace("'s", "")
    for suffix in (" city", " state", " time zone", " timezone", " zone"):
        if key.endswith(suffix) and key not in CITIES and key not in US_STATES:
            key = key[: -len(suffix)].strip()
    if key.startswith("the ") and key not in COUNTRIES and key[4:] in (*CITIES, *COUNTRIES, *ZONES):
        key = key[4:]
    try:
        if key in ZONES:
            zone, said = ZONES[key]
            return Place(ZoneInfo(zone), said)
        if key in CITIES:
            return Place(ZoneInfo(CITIES[key]), _title(key))
        if key in US_STATES:
            return Place(ZoneInfo(US_STATES[key]), _title(key.replace(" state", "")))
        if key in COUNTRIES:
            zone, city = COUNTRIES[key]
            country = "the US" if key in ("america", "the us", "usa", "the usa", "united states") else \
                "the UK" if key in ("uk", "the uk") else _title(key)
            if city:
                return Place(ZoneInfo(zone), city, f"{country} has several time zones")
            return Place(ZoneInfo(zone), country)
    except ZoneInfoNotFoundError:  # a zone missing from this system's tz database
        log.warning("time zone for %r is not installed", key)
        return None
    raw = text.strip().lower().replace(" ", "_")
    if raw in _LOWER_IANA:  # an IANA name said as such: "europe/paris", "asia/tokyo"
        name = _LOWER_IANA[raw]
        return Place(ZoneInfo(name), name.split("/")[-1].replace("_", " "))
    return None
