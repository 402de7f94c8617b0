"""What the assistant can and cannot do: help, about, and one honest "I can't do that offline" per topic.

The refusals never state a fact about the world (no forecast, no score, no price): they say what the
assistant cannot do, why, and what it can do nearby. Phrasings vary, chosen from the request's words by
a checksum, so the same request always gets the same answer (stable tests, no randomness).
"""

from __future__ import annotations

import re
import zlib
from typing import Any

from .base import Env, SkillContext, SkillResult

__all__ = ["HANDLERS", "refusal", "topic_of", "help_text", "ABOUT"]

ABOUT = ("I'm an offline voice assistant: I run on this computer, without the internet. "
         "Ask me what I can do.")

# topic -> (words that name it, what cannot be done, why: offline | devices, what can be done instead)
TOPICS: dict[str, tuple[tuple[str, ...], str, str, str]] = {
    "weather": (("weather", "forecast", "rain", "raining", "snow", "sunny", "umbrella", "temperature outside",
                 "humidity", "wind"), "check the weather", "offline", ""),
    "news": (("news", "headlines", "headline"), "get the news", "offline", ""),
    "music": (("music", "song", "songs", "playlist", "album", "artist", "spotify", "sing"), "play music",
              "devices", ""),
    "email": (("email", "emails", "e mail", "mail", "inbox", "text message", "sms", "message", "messages"),
              "read or send messages", "devices", ""),
    "shopping": (("order", "ordering", "buy", "purchase", "delivery", "amazon", "shopping online"),
                 "order or buy things", "offline", "I can add things to your shopping list, though."),
    "smart home": (("smart home", "light", "lights", "lamp", "thermostat", "heating", "door", "lock", "tv",
                    "television", "plug", "fan", "blinds"), "control things in your home", "devices", ""),
    "calendar": (("calendar", "appointment", "appointments", "meeting", "meetings", "schedule", "agenda"),
                 "see your calendar", "devices", "I can set alarms and reminders, though."),
    "transport": (("taxi", "uber", "cab", "ride", "bus", "train", "trains", "flight", "flights", "transport"),
                  "book rides or check timetables", "offline", ""),
    "traffic": (("traffic", "commute", "directions", "navigation", "route", "map", "maps"),
                "check traffic or directions", "offline", ""),
    "stocks": (("stock", "stocks", "shares", "share price", "market", "bitcoin", "crypto"),
               "look up prices or markets", "offline", ""),
    "currency": (("currency", "currencies", "exchange rate", "exchange rates", "euros", "dollars", "yen"),
                 "check exchange rates", "offline", "I can convert units like miles or grams, though."),
    "definitions": (("define", "definition", "meaning", "dictionary", "spell", "spelling", "synonym",
                     "translate", "translation"), "look words up", "offline", ""),
    "facts": (("fact", "facts", "wikipedia", "who is", "who was", "capital", "population", "president",
               "history", "search", "look up", "google", "internet", "web"), "look facts up", "offline", ""),
    "recipes": (("recipe", "recipes", "cook", "cooking", "bake", "baking"), "find recipes", "offline",
                "I can convert cooking measures and set timers, though."),
    "social media": (("social media", "facebook", "twitter", "instagram", "tiktok", "post", "tweet"),
                     "use social media", "offline", ""),
    "games": (("game", "games", "trivia", "quiz", "play a game"), "play games", "devices", ""),
    "audiobooks": (("audiobook", "audiobooks", "book", "books", "read me"), "play audiobooks", "devices", ""),
    "podcasts": (("podcast", "podcasts", "episode"), "play podcasts", "offline", ""),
    "radio": (("radio", "station", "stations"), "play the radio", "offline", ""),
    "volume": (("volume", "louder", "quieter", "mute", "unmute"), "change the volume", "devices", ""),
    "recommendations": (("recommend", "recommendation", "recommendations", "suggest", "movie", "movies",
                         "restaurant", "restaurants", "film", "films"), "give recommendations", "offline", ""),
    "contacts": (("contact", "contacts", "call", "phone", "dial", "ring"), "make calls or look up contacts",
                 "devices", ""),
    "sports": (("sport", "sports", "score", "scores", "match", "football", "soccer", "basketball"),
               "check scores", "offline", ""),
}
_REASONS = {
    "offline": ("I can't {what}: I work offline, without the internet.",
                "Sorry, I'm an offline assistant, so I can't {what}.",
                "I'm not able to {what}, because I don't connect to the internet."),
    "devices": ("I can't {what}: I'm not connected to any other devices or apps.",
                "Sorry, I can't {what}. I have no connection to your devices or apps.",
                "I'm not able to {what}; I only run here, offline, on my own."),
}
_GENERIC = ("Sorry, I can't do that: I work offline, and I only know a few things.",
            "I'm not able to do that. I'm an offline assistant with a few skills; ask me what I can do.",
            "That's beyond what I can do offline, sorry.")


def topic_of(text: str) -> str | None:
    """The topic some words are about ("weather", "smart home"), or None."""
    said = " " + " ".join(re.sub(r"[^a-z' ]", " ", text.lower()).split()) + " "
    if said.strip() in TOPICS:
        return said.strip()
    for topic, (keys, *_rest) in TOPICS.items():
        if any(f" {key} " in said for key in keys):
            return topic
    return None


def refusal(topic: str, request: str = "") -> str:
    """One honest refusal for a topic, chosen by the request's words so that it is stable."""
    pick = zlib.crc32((request or topic).lower().encode())
    found = topic_of(topic) or topic_of(request)
    if found is None:
        return _GENERIC[pick % len(_GENERIC)]
    _keys, what, reason, instead = TOPICS[found]
    templates = _REASONS[reason]
    text = templates[pick % len(templates)].format(what=what)
    return f"{text} {instead}" if instead else text


def help_text(descriptions: list[str]) -> str:
    return (f"I can {'; '.join(descriptions[:-1])}; and {descriptions[-1]}. "
            "I work offline, so I can't check things like the weather or the news.")


def cannot(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    return SkillResult(refusal(args.get("topic") or "", ctx.request))


def about(env: Env, args: dict[str, Any], ctx: SkillContext) -> SkillResult:
    return SkillResult(ABOUT)


HANDLERS = {"cannot": cannot, "assistant.about": about}
