"""Text for synthesis and for the word n-gram LM: what people say to a voice assistant.

Sources, all rebuildable offline after a one-time download:
- templates in this file (commands, questions, small talk, numbers, times, dates, names, short words);
- PyPI dialogue corpora read straight from their wheels: chatterbot-corpus==1.3.3 (BSD-3-Clause),
  chitchat-dataset==0.9.0 (MIT);
- Debian `fortunes-min` (fortune cookie texts) for general sentences and `wamerican` for vocabulary.

Evaluation text is kept out: every sentence that equals a multi-word transcript of the shared real
speech manifests, or shares any 5-word sequence with a CMU ARCTIC prompt read there (kathleen,
cmu_arctic), is dropped. No Harvard/IEEE, LibriSpeech or TIMIT text is used by any source here.
"""
from __future__ import annotations

import json
import logging
import random
import re
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from .normalize import get_normalizer, is_clean
from .numbers import digit_string, number_words, ordinal_words, time_words, year_words
from .util import apt_install, read_jsonl, write_text_atomic

__all__ = ["TextConfig", "build_text", "template_sentences", "short_utterances", "EvalFilter"]

log = logging.getLogger(__name__)

PYPI_CORPORA = ["chatterbot-corpus==1.3.3", "chitchat-dataset==0.9.0"]
DEBIAN_TEXT = {"fortunes-min": Path("/usr/share/games/fortunes"), "wamerican": Path("/usr/share/dict/american-english")}


@dataclass
class TextConfig:
    """How much text to build and how to sample the TTS prompts."""
    seed: int = 1234                 # random seed for templates and sampling (same seed -> same files)
    template_lines: int = 250_000    # template sentences drawn for the LM text (before de-duplication)
    tts_prompts: int = 60_000        # prompts in tts_prompts.txt, in synthesis order
    max_tts_words: int = 22          # longest prompt sent to TTS, in words
    max_tts_chars: int = 140         # longest prompt sent to TTS, in characters
    share_templates: float = 0.45    # fraction of TTS prompts from assistant templates
    share_short: float = 0.25        # fraction of TTS prompts that are digits / short command words
    share_chat: float = 0.22         # fraction of TTS prompts from the dialogue corpora
    share_general: float = 0.08      # fraction of TTS prompts from fortunes (general sentences)


# ---------------------------------------------------------------- word lists
NAMES = """james mary john patricia robert jennifer michael linda william elizabeth david barbara richard susan
joseph jessica thomas sarah charles karen chris nancy daniel lisa matthew betty anthony margaret mark sandra
donald ashley steven kimberly paul emily andrew donna joshua michelle kenneth dorothy kevin carol brian amanda
george melissa timothy deborah ronald stephanie edward rebecca jason sharon jeffrey laura ryan cynthia jacob
kathleen gary amy nicholas angela eric shirley jonathan anna stephen brenda larry pamela justin emma scott
nicole brandon helen benjamin samantha samuel katherine gregory christine alexander debra frank rachel
patrick carolyn raymond janet jack catherine dennis maria jerry heather tyler diane aaron ruth jose julie
adam olivia henry joyce nathan virginia douglas victoria zachary kelly peter lauren kyle christina ethan
joan walter evelyn noah judith jeremy megan christian andrea keith cheryl roger hannah terry jacqueline
gerald martha harold gloria sean teresa austin ann carl sara arthur madison lawrence frances dylan kathryn
jesse janice jordan jean bryan abigail billy alice joe judy bruce sophia gabriel grace logan denise albert
amber willie doris alan marilyn juan danielle wayne beverly elijah isabella randy theresa roy diana vincent
natalie ralph brittany eugene charlotte russell marie bobby kayla mason alexis philip lori liam mia lucas
oliver ava leo zoe max chloe sam ella jake lily ben ruby tom lucy dan sophie mike kate tim anne nick jane
priya raj wei mei yuki omar fatima ahmed aisha carlos sofia diego lucia ivan olga hans ingrid pierre amelie""".split()
FAMILY = ["mom", "dad", "mum", "grandma", "grandpa", "my wife", "my husband", "my sister", "my brother",
          "my mother", "my father", "my son", "my daughter", "my boss", "the office", "home", "my doctor",
          "the dentist", "aunt sarah", "uncle bob", "my friend"]
CITIES = ["london", "paris", "new york", "chicago", "boston", "seattle", "san francisco", "los angeles", "tokyo",
          "berlin", "madrid", "rome", "toronto", "sydney", "melbourne", "dublin", "edinburgh", "glasgow",
          "manchester", "liverpool", "birmingham", "leeds", "bristol", "cardiff", "amsterdam", "brussels", "vienna",
          "prague", "warsaw", "stockholm", "oslo", "copenhagen", "helsinki", "lisbon", "barcelona", "munich",
          "zurich", "geneva", "athens", "istanbul", "cairo", "nairobi", "lagos", "cape town", "mumbai", "delhi",
          "bangalore", "singapore", "hong kong", "beijing", "shanghai", "seoul", "bangkok", "manila", "jakarta",
          "auckland", "vancouver", "montreal", "ottawa", "calgary", "denver", "austin", "dallas", "houston", "miami",
          "atlanta", "phoenix", "portland", "detroit", "philadelphia", "washington", "nashville", "new orleans",
          "las vegas", "san diego", "orlando", "minneapolis", "pittsburgh", "baltimore", "cleveland",
          "salt lake city", "honolulu", "anchorage", "mexico city", "buenos aires", "rio de janeiro", "lima",
          "bogota", "santiago", "reykjavik", "dubai", "oxford", "cambridge", "york", "belfast", "brooklyn"]
ROOMS = ["kitchen", "living room", "bedroom", "bathroom", "hallway", "office", "garage", "dining room",
         "basement", "attic", "kids room", "guest room", "porch", "garden", "study", "nursery", "den"]
DEVICES = ["lights", "lamp", "fan", "heater", "air conditioner", "tv", "television", "radio", "coffee maker",
           "kettle", "dishwasher", "washing machine", "oven", "thermostat", "speaker", "alarm", "camera",
           "sprinklers", "blinds", "curtains", "heating", "music", "fireplace", "porch light", "ceiling fan"]
GENRES = ["jazz", "rock", "pop", "classical music", "country", "hip hop", "blues", "reggae", "folk music",
          "some music", "relaxing music", "the news", "a podcast", "the radio", "my playlist", "something upbeat",
          "workout music", "piano music", "lullabies", "christmas songs", "eighties hits", "the top forty",
          "some background music", "rain sounds", "white noise", "an audiobook", "the beatles", "mozart",
          "bach", "taylor swift", "the rolling stones", "queen", "elvis", "my favorites", "dance music", "metal",
          "soul music", "the blues brothers", "something new", "the last song", "my morning playlist"]
ITEMS = ["milk", "eggs", "bread", "butter", "cheese", "apples", "bananas", "coffee", "tea", "sugar", "rice",
         "pasta", "tomatoes", "onions", "potatoes", "chicken", "fish", "yogurt", "orange juice", "cereal",
         "toilet paper", "soap", "shampoo", "toothpaste", "batteries", "dog food", "cat food", "flour", "salt",
         "pepper", "olive oil", "lettuce", "carrots", "garlic", "lemons", "ice cream", "chocolate", "cookies",
         "paper towels", "dish soap", "light bulbs", "water", "beer", "wine", "avocados", "strawberries"]
LISTS = ["shopping list", "grocery list", "to do list", "list", "packing list", "wish list"]
HOLIDAYS = ["christmas", "new year", "new year's eve", "halloween", "thanksgiving", "easter", "valentine's day",
            "my birthday", "the weekend", "friday", "summer", "the holidays", "independence day",
            "mother's day", "father's day", "spring", "my vacation", "the wedding", "hanukkah", "diwali"]
TASKS = ["call mom", "take out the trash", "buy milk", "water the plants", "pay the rent", "feed the cat",
         "walk the dog", "pick up the kids", "take my medicine", "check the oven", "send the report",
         "book a table", "call the dentist", "renew my passport", "charge my phone", "lock the door",
         "pay the electricity bill", "go to the gym", "drink some water", "stretch", "call my sister",
         "email john", "buy a birthday present", "finish my homework", "clean the kitchen", "wash the car",
         "back up my computer", "cancel the subscription", "order more coffee", "pick up the dry cleaning",
         "turn off the oven", "check the mail", "prepare for the meeting", "go to bed", "leave for work",
         "return the library books", "call the plumber", "submit my timesheet", "buy flowers", "call grandma"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "today", "tomorrow",
        "tonight", "this evening", "this afternoon", "this weekend", "next week", "tomorrow morning",
        "next monday", "the day after tomorrow"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
APPS = ["the camera", "spotify", "maps", "the calculator", "settings", "my email", "the calendar",
        "the weather app", "youtube", "netflix", "the browser", "messages", "notes", "the clock", "photos"]
UNITS = [("kilometers", "miles"), ("miles", "kilometers"), ("pounds", "kilograms"), ("kilograms", "pounds"),
         ("celsius", "fahrenheit"), ("fahrenheit", "celsius"), ("cups", "milliliters"), ("inches", "centimeters"),
         ("feet", "meters"), ("ounces", "grams"), ("dollars", "euros"), ("euros", "pounds"), ("liters", "gallons")]
WAKE = ["hey computer", "computer", "okay computer", "alexa", "jarvis", "hey jarvis", "hey assistant",
        "assistant", "excuse me", "hey", "okay", "snowboy", "hey mirror"]
TOPICS = ["cats", "dogs", "the moon", "the ocean", "dinosaurs", "space", "the weather", "history", "music",
          "computers", "robots", "food", "football", "the olympics", "volcanoes", "sharks", "trees", "bees",
          "the sun", "mars", "the internet", "coffee", "chess", "penguins", "rainbows", "black holes"]
SHORT_WORDS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "cancel", "pause",
               "play", "next", "back", "previous", "repeat", "skip", "resume", "mute", "unmute", "louder",
               "quieter", "help", "okay", "ok", "sure", "nope", "yeah", "yep", "done", "start", "enter", "exit",
               "hello", "hi", "bye", "goodbye", "thanks", "please", "wait", "continue", "again", "more", "less",
               "open", "close", "lights", "music", "weather", "time", "timer", "alarm", "volume", "reset",
               "undo", "confirm", "select", "menu", "home", "call", "answer", "ignore", "snooze", "dismiss",
               "bed", "bird", "cat", "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "zero", "oh",
               "rubout", "computer", "alexa", "jarvis", "snowboy", "smart mirror", "view glass", "forward",
               "backward", "faster", "slower", "higher", "lower", "shuffle", "learn", "follow", "visual"]
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


def _pick(rng: random.Random, items):
    return items[rng.randrange(len(items))]


def _count(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.5:
        return number_words(rng.randint(1, 20))
    if r < 0.8:
        return number_words(rng.choice([25, 30, 35, 40, 45, 50, 55, 60, 90, 100, 120]))
    return number_words(rng.randint(1, 999))


def _clock(rng: random.Random) -> str:
    h, m = rng.randint(1, 12), rng.choice([0, 0, 0, 5, 10, 15, 15, 20, 30, 30, 40, 45, 45, 50, rng.randint(0, 59)])
    r = rng.random()
    if r < 0.5:
        return time_words(h, m, rng.choice(["am", "pm"]))
    if r < 0.7:
        return time_words(h, m) + " " + rng.choice(["in the morning", "in the evening", "at night",
                                                      "in the afternoon", "tonight", "tomorrow"])
    if r < 0.8:
        q = {15: "quarter past ", 30: "half past ", 45: "quarter to "}.get(m)
        if q:
            return q + number_words(h if m != 45 else h % 12 + 1)
        if m == 0:
            return number_words(h) + " o'clock"
    if r < 0.85:
        return rng.choice(["noon", "midnight", "six", "seven", "eight"])
    return time_words(h, m)


def _date(rng: random.Random) -> str:
    month, day = _pick(rng, MONTHS), rng.randint(1, 28)
    r = rng.random()
    if r < 0.4:
        return f"{month} {ordinal_words(day)}"
    if r < 0.7:
        return f"the {ordinal_words(day)} of {month}"
    if r < 0.85:
        return f"{month} {ordinal_words(day)} {year_words(rng.randint(1950, 2035))}"
    return _pick(rng, DAYS)


def _duration(rng: random.Random) -> str:
    unit = rng.choice(["minutes", "minutes", "minutes", "seconds", "hours"])
    n = _count(rng)
    if n == "one":
        unit = unit[:-1]
    if rng.random() < 0.1:
        return rng.choice(["half an hour", "an hour", "a minute", "ninety seconds", "an hour and a half",
                           "one and a half hours", "two and a half minutes"])
    return f"{n} {unit}"


def _phone(rng: random.Random) -> str:
    n = "".join(str(rng.randint(0, 9)) for _ in range(rng.choice([3, 4, 7, 10])))
    return digit_string(n)


def _temperature(rng: random.Random) -> str:
    return number_words(rng.randint(15, 80)) + rng.choice([" degrees", "", " degrees celsius", " degrees fahrenheit"])


def _contact(rng: random.Random) -> str:
    return _pick(rng, NAMES) if rng.random() < 0.7 else _pick(rng, FAMILY)


def _math(rng: random.Random) -> str:
    a, b = rng.randint(1, 100), rng.randint(1, 100)
    op = rng.choice(["plus", "minus", "times", "divided by"])
    return f"{rng.choice(['what is', 'what^s', 'calculate', 'how much is'])} {number_words(a)} {op} {number_words(b)}"


# Each entry: (weight, generator). Generators return spoken-form lowercase text.
def _templates() -> list[tuple[float, Callable[[random.Random], str]]]:
    p = _pick
    return [
        (6, lambda r: f"{r.choice(['set a', 'set the', 'start a', 'start the', 'set me a', 'can you set a', 'please set a'])} timer for {_duration(r)}"),
        (2, lambda r: f"{_duration(r)} timer"),
        (2, lambda r: r.choice(["how much time is left", "how much time is left on my timer", "cancel the timer",
                                "stop the timer", "pause the timer", "resume the timer", "cancel all timers",
                                "what timers do i have", "add five minutes to the timer", "delete my timer"])),
        (5, lambda r: f"{r.choice(['set an alarm for', 'wake me up at', 'set my alarm for', 'wake me up', 'create an alarm for', 'i need an alarm at'])} {_clock(r)}"),
        (2, lambda r: r.choice(["turn off my alarm", "cancel my alarm", "snooze", "snooze for ten minutes",
                                "what time is my alarm", "delete all alarms", "cancel the alarm for tomorrow"])),
        (6, lambda r: f"{r.choice(['turn on', 'turn off', 'switch on', 'switch off', 'dim', 'brighten'])} the {p(r, DEVICES)}{r.choice(['', ' in the ' + p(r, ROOMS)])}"),
        (3, lambda r: f"turn the {p(r, DEVICES)} {r.choice(['on', 'off', 'up', 'down'])}{r.choice(['', ' in the ' + p(r, ROOMS), ' please'])}"),
        (2, lambda r: f"set the {r.choice(['thermostat', 'temperature', 'heating'])} to {_temperature(r)}"),
        (2, lambda r: f"{r.choice(['set the lights to', 'dim the lights to', 'set the brightness to'])} {number_words(r.choice([10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 90, 100]))} percent"),
        (2, lambda r: f"{r.choice(['make the', 'change the'])} {p(r, ROOMS)} lights {r.choice(['red', 'blue', 'green', 'warm white', 'yellow', 'purple', 'brighter', 'dimmer', 'orange'])}"),
        (2, lambda r: f"{r.choice(['lock', 'unlock', 'open', 'close'])} the {r.choice(['front door', 'back door', 'garage door', 'windows', 'blinds', 'curtains', 'gate'])}"),
        (5, lambda r: f"{r.choice(['play', 'put on', 'can you play', 'i want to listen to', 'play me', 'shuffle'])} {p(r, GENRES)}"),
        (4, lambda r: r.choice(["volume up", "volume down", "turn it up", "turn it down", "louder please",
                                "a bit quieter", "mute", "unmute", "next song", "previous song", "skip this song",
                                "pause the music", "stop the music", "resume playback", "what song is this",
                                "who sings this", "play it again", "i like this song", "shuffle my playlist",
                                "turn the volume up", "turn the volume down", "repeat this song"])),
        (2, lambda r: f"set the volume to {number_words(r.randint(1, 10))}"),
        (6, lambda r: f"{r.choice(['what is the weather', 'what^s the weather', 'how is the weather', 'what^s the weather like', 'will it rain', 'is it going to rain', 'will it snow', 'how hot is it', 'how cold is it', 'what^s the temperature', 'do i need an umbrella', 'what^s the forecast'])}{r.choice(['', ' in ' + p(r, CITIES), ' ' + p(r, DAYS), ' in ' + p(r, CITIES) + ' ' + p(r, DAYS)])}"),
        (5, lambda r: f"{r.choice(['call', 'phone', 'ring', 'dial', 'text', 'message', 'send a message to', 'video call', 'facetime'])} {_contact(r)}{r.choice(['', '', ' on speaker', ' at home', ' on their mobile', ' and say i am running late'])}"),
        (2, lambda r: f"{r.choice(['dial', 'call'])} {_phone(r)}"),
        (2, lambda r: f"{r.choice(['tell', 'text', 'send a text to'])} {_contact(r)} {r.choice(['that', ''])} {r.choice(['i will be late', 'i am on my way', 'dinner is ready', 'i love you', 'happy birthday', 'call me back', 'i am running ten minutes late', 'the meeting is cancelled', 'see you soon'])}"),
        (6, lambda r: f"{r.choice(['remind me to', 'please remind me to', 'set a reminder to', 'don^t let me forget to', 'can you remind me to'])} {p(r, TASKS)}{r.choice(['', ' ' + p(r, DAYS), ' at ' + _clock(r), ' in ' + _duration(r), ' when i get home'])}"),
        (2, lambda r: r.choice(["what are my reminders", "delete that reminder", "what's on my calendar",
                                "what's on my calendar today", "do i have any meetings tomorrow",
                                "what's my next appointment", "clear my reminders", "show my reminders"])),
        (3, lambda r: f"{r.choice(['schedule a meeting with', 'add a meeting with', 'book lunch with', 'set up a call with'])} {p(r, NAMES)} {r.choice(['', 'on ']) + p(r, DAYS)} at {_clock(r)}"),
        (4, lambda r: r.choice(["what time is it", "what's the time", "what is the time", "what time is it now",
                                "what's the date", "what is the date today", "what day is it", "what day is it today",
                                "what's today's date", "what year is it", "what month is it", "is it morning",
                                "tell me the time", "what time is it in " + p(r, CITIES), "what's the time in " + p(r, CITIES)])),
        (3, lambda r: f"{r.choice(['how many days until', 'how long until', 'when is', 'how many weeks until', 'what day is'])} {p(r, HOLIDAYS)}"),
        (2, lambda r: f"what day of the week is {_date(r)}"),
        (4, lambda r: f"{r.choice(['add', 'put', 'please add'])} {p(r, ITEMS)}{r.choice(['', ' and ' + p(r, ITEMS)])} to my {p(r, LISTS)}"),
        (2, lambda r: f"{r.choice(['remove', 'take', 'delete'])} {p(r, ITEMS)} {r.choice(['from', 'off'])} my {p(r, LISTS)}"),
        (1, lambda r: f"{r.choice(['what^s on my', 'read my', 'clear my', 'show me my'])} {p(r, LISTS)}"),
        (3, lambda r: _math(r)),
        (2, lambda r: f"{r.choice(['convert', 'how many', 'what is'])} {_count(r)} {(u := p(r, UNITS))[0]} {r.choice(['in', 'to'])} {u[1]}"),
        (2, lambda r: f"what is {number_words(r.choice([5, 10, 15, 20, 25, 50]))} percent of {number_words(r.randint(10, 500))}"),
        (3, lambda r: f"{r.choice(['open', 'launch', 'start', 'close'])} {p(r, APPS)}"),
        (3, lambda r: f"{r.choice(['how do you spell', 'spell', 'what does', 'define', 'what is the meaning of'])} {p(r, TOPICS if r.random() < .3 else ITEMS + ROOMS + DEVICES + GENRES[:10])}{' mean' if 0 else ''}"),
        (4, lambda r: f"{r.choice(['tell me about', 'tell me a fact about', 'what do you know about', 'i want to learn about', 'search for', 'look up', 'find'])} {p(r, TOPICS)}"),
        (3, lambda r: f"{r.choice(['how far is', 'how do i get to', 'navigate to', 'directions to', 'take me to', 'how long does it take to get to'])} {r.choice([p(r, CITIES), 'the airport', 'the nearest gas station', 'the train station', 'work', 'home', 'the hospital', 'the nearest pharmacy', 'a coffee shop', 'the supermarket'])}"),
        (2, lambda r: f"{r.choice(['find', 'are there any', 'show me'])} {r.choice(['restaurants', 'italian restaurants', 'pizza places', 'coffee shops', 'pharmacies', 'parking', 'hotels', 'cinemas'])} {r.choice(['near me', 'nearby', 'in ' + p(r, CITIES), 'open now'])}"),
        (2, lambda r: f"{r.choice(['what^s the score of the', 'when is the next', 'who won the'])} {r.choice(['football game', 'match', 'game', 'race', 'basketball game', 'world cup'])}{r.choice(['', ' ' + p(r, DAYS)])}"),
        (2, lambda r: f"{r.choice(['how old is', 'who is', 'where is', 'what is the population of', 'what is the capital of'])} {r.choice([p(r, CITIES), 'the president', 'the queen', 'the eiffel tower', 'mount everest', 'france', 'japan', 'canada', 'australia', 'brazil', 'kenya', 'spain', 'italy', 'germany', 'india', 'china'])}"),
        (8, lambda r: r.choice([
            "hello", "hi there", "hey", "good morning", "good afternoon", "good evening", "good night",
            "how are you", "how are you doing", "how's it going", "what's up", "what's your name",
            "who are you", "what are you", "are you a robot", "are you human", "are you real", "who made you",
            "who created you", "where do you live", "how old are you", "what can you do", "what can i ask you",
            "tell me a joke", "tell me another joke", "tell me a story", "tell me something interesting",
            "tell me a fun fact", "sing me a song", "say something", "do you like music", "do you have feelings",
            "what's your favorite color", "what's your favorite food", "do you dream", "are you listening",
            "can you hear me", "thank you", "thanks", "thanks a lot", "thank you very much", "you're welcome",
            "goodbye", "bye", "see you later", "see you tomorrow", "good job", "well done", "that's great",
            "that's funny", "that's not right", "that's wrong", "i don't understand", "what do you mean",
            "never mind", "forget it", "cancel", "cancel that", "stop", "stop it", "shut up", "be quiet",
            "repeat that", "say that again", "can you repeat that", "sorry", "pardon", "what did you say",
            "speak slower", "speak louder", "i love you", "you're funny", "you're smart", "i'm bored",
            "i'm tired", "i'm hungry", "i'm happy", "i'm sad", "i'm fine", "i'm good thanks", "not bad",
            "nice to meet you", "do you know siri", "are you smarter than me", "what is the meaning of life",
            "what should i eat for dinner", "what should i do today", "flip a coin", "roll a die",
            "pick a number between one and ten", "give me a random number", "how do i make pancakes",
            "how long do i boil an egg", "what's the news today", "read me the news", "what's new",
            "turn everything off", "good night everyone", "i'm home", "i'm leaving", "where's my phone",
            "find my phone", "help me", "what's the wifi password", "how much battery is left",
            "is it going to be sunny tomorrow", "yes please", "no thanks", "no thank you", "of course",
            "maybe later", "i don't know", "let me think", "that's all", "that's it", "go ahead",
            "sounds good", "absolutely", "not now", "definitely", "correct", "exactly", "wrong", "try again",
            "start over", "go back", "next one", "the first one", "the second one", "the last one"])),
        (3, lambda r: f"{p(r, WAKE)} {r.choice(['what time is it', 'turn on the lights', 'play some music', 'stop', 'what^s the weather', 'set a timer for ' + _duration(r), 'call ' + _contact(r), 'volume up', 'good morning', 'tell me a joke', 'turn off the ' + p(r, DEVICES), 'are you there', 'cancel', 'next song', 'add ' + p(r, ITEMS) + ' to my shopping list'])}"),
        (2, lambda r: f"{r.choice(['my number is', 'the code is', 'the pin is', 'enter', 'room', 'flight', 'extension', 'zip code', 'order number', 'account number'])} {_phone(r)}"),
        (2, lambda r: f"{r.choice(['my birthday is', 'the meeting is on', 'book it for', 'remind me on', 'i was born on', 'the party is on'])} {_date(r)}"),
        (1, lambda r: f"{r.choice(['it costs', 'that^s', 'send', 'transfer', 'pay'])} {number_words(r.randint(1, 500))} {r.choice(['dollars', 'pounds', 'euros', 'dollars and ' + number_words(r.randint(1, 99)) + ' cents'])}"),
        (1, lambda r: f"{r.choice(['go to', 'skip to', 'play', 'open'])} {r.choice(['chapter', 'track', 'page', 'episode', 'step', 'channel', 'level'])} {number_words(r.randint(1, 60))}"),
        (1, lambda r: f"{r.choice(['turn to', 'switch to', 'change to'])} channel {number_words(r.randint(1, 99))}"),
    ]


def template_sentences(rng: random.Random, n: int) -> Iterator[str]:
    """`n` assistant requests drawn from the weighted templates."""
    table = _templates()
    weights = [w for w, _ in table]
    gens = [g for _, g in table]
    for _ in range(n):
        # "^" stands for an apostrophe inside f-string expressions (no backslashes allowed there in 3.11)
        yield " ".join(rng.choices(gens, weights)[0](rng).replace("^", "'").split())


def short_utterances(rng: random.Random, n: int) -> Iterator[str]:
    """Single digits, digit strings, numbers and short command words (the <10% WER target)."""
    for _ in range(n):
        r = rng.random()
        if r < 0.35:
            yield _pick(rng, DIGITS)
        elif r < 0.65:
            yield _pick(rng, SHORT_WORDS)
        elif r < 0.8:
            yield " ".join(_pick(rng, DIGITS) for _ in range(rng.randint(2, 7)))
        elif r < 0.9:
            yield number_words(rng.choice([rng.randint(0, 100), rng.randint(0, 20), rng.randint(100, 9999)]))
        else:
            yield f"{_pick(rng, SHORT_WORDS)} {_pick(rng, SHORT_WORDS)}"


# ---------------------------------------------------------------- corpora
def download_pypi_corpora(dest: Path) -> list[Path]:
    """`pip download --no-deps` the pinned dialogue corpora into dest (skipped when already there)."""
    dest.mkdir(parents=True, exist_ok=True)
    have = {p.name.split("-")[0].lower(): p for p in dest.glob("*.whl")}
    wanted = {spec.split("==")[0].replace("-", "_"): spec for spec in PYPI_CORPORA}
    missing = [spec for key, spec in wanted.items() if key not in have]
    if missing:
        log.info("pip download --no-deps %s", " ".join(missing))
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", *missing, "-d", str(dest)], check=True)
    return sorted(dest.glob("*.whl"))


def _yaml_items(text: str) -> Iterator[str]:
    """Single-line list items of a chatterbot YAML file (`- - a` / `  - b`), without a YAML library."""
    for line in text.splitlines():
        m = re.match(r"^\s*(?:- )+(.*)$", line)
        if not m:
            continue
        item = m.group(1).strip()
        if not item or item in ("|", ">", "|-", ">-"):
            continue
        if len(item) >= 2 and item[0] == item[-1] and item[0] in "\"'":
            item = item[1:-1]
        yield item


def chatterbot_lines(wheel: Path) -> Iterator[str]:
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(z.namelist()):
            if "/data/english/" in name and name.endswith(".yml") and not name.endswith(("coding.yml", "botprofile.yml")):
                yield from _yaml_items(z.read(name).decode("utf-8", "replace"))


def chitchat_lines(wheel: Path) -> Iterator[str]:
    with zipfile.ZipFile(wheel) as z:
        data = json.loads(z.read("chitchat_dataset/dataset.json"))
    for conv in data.values():
        for turn in conv.get("messages", []):
            for msg in turn:
                yield msg.get("text", "")


def fortune_lines(folder: Path) -> Iterator[str]:
    """Sentences of the fortune files (English only; offensive sets are not in fortunes-min)."""
    if not folder.exists():
        return
    for f in sorted(folder.iterdir()):
        if f.suffix or not f.is_file():
            continue
        for cookie in f.read_text(encoding="utf-8", errors="replace").split("\n%\n"):
            body = "\n".join(l for l in cookie.splitlines() if not re.match(r"^\s*(--|\u2014)", l))
            body = " ".join(body.split())
            for sent in re.split(r"(?<=[.!?])\s+", body):
                yield sent


def wordlist(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [w for w in path.read_text(encoding="utf-8", errors="replace").split() if re.fullmatch(r"[a-z]{3,12}", w)]


# ---------------------------------------------------------------- evaluation text filter
class EvalFilter:
    """Rejects text that belongs to evaluation material read in the shared real speech."""

    NGRAM = 5

    def __init__(self, shared: Path | None, normalize: Callable[[str], str]):
        self.exact: set[str] = set()
        self.ngrams: set[tuple[str, ...]] = set()
        if shared is None:
            return
        for mf in sorted(Path(shared).glob("*.jsonl")):
            for row in read_jsonl(mf):
                words = normalize(row.get("text", "")).split()
                # Short commands (yes, stop, computer...) are exactly what the assistant must learn; the
                # rule is about read sentences, so only multi-word transcripts are banned outright.
                self.ban(words, exact=len(words) >= 3,
                         ngrams=row.get("corpus") in ("kathleen", "cmu_arctic") or len(words) >= 6)
        log.info("evaluation filter: %d banned transcripts, %d banned %d-grams", len(self.exact), len(self.ngrams), self.NGRAM)

    def ban(self, words: list[str], exact: bool = True, ngrams: bool = True) -> None:
        """Reject this (normalised, split) text itself and/or every text sharing a 5-word run with it."""
        if exact:
            self.exact.add(" ".join(words))
        if ngrams:
            for i in range(len(words) - self.NGRAM + 1):
                self.ngrams.add(tuple(words[i:i + self.NGRAM]))

    def ok(self, text: str) -> bool:
        if text in self.exact:
            return False
        w = text.split()
        return not any(tuple(w[i:i + self.NGRAM]) in self.ngrams for i in range(len(w) - self.NGRAM + 1))


# Read sentences of the shared training split that may teach the LM how read speech goes. Kathleen reads
# CMU ARCTIC prompts (Project Gutenberg text, and the cmu_arctic test speakers read the same prompts), so
# her transcripts never go in.
READ_TEXT_CORPORA = ("speechocean762",)


def read_train_sentences(shared: Path, normalize: Callable[[str], str],
                         corpora: Sequence[str] = READ_TEXT_CORPORA) -> list[str]:
    """Transcripts of ``corpora`` in shared/train.jsonl, minus every sentence of the dev and test
    manifests and every sentence sharing a 5-word run with them (the corpus reuses some prompts across
    speakers, so a speaker-disjoint split alone would leak test sentences into the LM)."""
    held = EvalFilter(None, normalize)
    for name in ("dev.jsonl", "test.jsonl"):
        for row in read_jsonl(Path(shared) / name):
            words = normalize(row.get("text", "")).split()
            held.ban(words, exact=len(words) >= 2)
    out = []
    for row in read_jsonl(Path(shared) / "train.jsonl"):
        if row.get("corpus") in corpora:
            t = normalize(row.get("text", ""))
            if t and is_clean(t) and held.ok(t):
                out.append(t)
    return out


# ---------------------------------------------------------------- build
def _clean(lines: Iterable[str], normalize, flt: EvalFilter, max_words: int = 40) -> Iterator[str]:
    for line in lines:
        if not line or len(line) > 400:
            continue
        if sum(c.isascii() for c in line) < 0.95 * len(line):
            continue
        if re.search(r"https?:|www\.|[{}<>\[\]\\|=_#]", line):  # code, markup, links
            continue
        t = normalize(line)
        if not t or not is_clean(t) or len(t.split()) > max_words or not flt.ok(t):
            continue
        yield t


def build_text(out_text: Path, shared: Path | None, cfg: TextConfig = TextConfig(), install: bool = True) -> dict:
    """Write out_text/assistant_lm.txt (LM text) and out_text/tts_prompts.txt (TTS prompts, in order)."""
    normalize = get_normalizer()
    rng = random.Random(cfg.seed)
    flt = EvalFilter(shared, normalize)
    if install:
        missing = [pkg for pkg, path in DEBIAN_TEXT.items() if not path.exists()]
        if missing:
            try:
                apt_install(missing)
            except Exception as exc:  # general text is optional; templates and PyPI corpora still work
                log.warning("could not install %s (%s); continuing without them", missing, exc)
    wheels = download_pypi_corpora(out_text / "downloads")
    chat: list[str] = []
    for w in wheels:
        if w.name.startswith("chatterbot_corpus"):
            chat += list(_clean(chatterbot_lines(w), normalize, flt))
        elif w.name.startswith("chitchat_dataset"):
            chat += list(_clean(chitchat_lines(w), normalize, flt))
    general = list(_clean(fortune_lines(DEBIAN_TEXT["fortunes-min"]), normalize, flt, max_words=30))
    templates = list(_clean(template_sentences(rng, cfg.template_lines), normalize, flt))
    shorts = list(_clean(short_utterances(rng, 30_000), normalize, flt))
    words = wordlist(DEBIAN_TEXT["wamerican"])
    vocab_lines = []
    if words:
        for _ in range(20_000):
            w = _pick(rng, words)
            vocab_lines.append(rng.choice([f"how do you spell {w}", f"what does {w} mean", f"define {w}",
                                           f"search for {w}", f"add {w} to my list", f"{w}", f"say {w}"]))
        vocab_lines = list(_clean(vocab_lines, normalize, flt))

    lm_lines = list(dict.fromkeys(templates + shorts + chat + general + vocab_lines))
    rng.shuffle(lm_lines)
    write_text_atomic(out_text / "assistant_lm.txt", "\n".join(lm_lines) + "\n")
    read_lines = read_train_sentences(shared, normalize) if shared is not None else []
    if read_lines:  # a separate file, so the LM build chooses its weight (scripts/build_lm.py FILE:W)
        write_text_atomic(out_text / "read_train.txt", "\n".join(read_lines) + "\n")

    # TTS prompts from chat/fortunes must be spelled properly (chat text has "im", "niceee"...): every
    # word must be a dictionary word (wamerican) or occur in the templates.
    known = {w.lower() for w in DEBIAN_TEXT["wamerican"].read_text(encoding="utf-8", errors="replace").split()} \
        if DEBIAN_TEXT["wamerican"].exists() else set()
    known |= {w for t in templates + shorts for w in t.split()}

    def fits(t: str) -> bool:
        return len(t) <= cfg.max_tts_chars and len(t.split()) <= cfg.max_tts_words

    def spelled(t: str) -> bool:
        return not known or all(w in known for w in t.split())

    pools = {"templates": [t for t in templates if fits(t)], "short": shorts,
             "chat": [t for t in chat if fits(t) and spelled(t)],
             "general": [t for t in general if fits(t) and spelled(t)] or [t for t in chat if fits(t) and spelled(t)]}
    shares = {"templates": cfg.share_templates, "short": cfg.share_short, "chat": cfg.share_chat, "general": cfg.share_general}
    names = list(pools)
    prompts = []
    for _ in range(cfg.tts_prompts):
        src = rng.choices(names, [shares[n] for n in names])[0]
        prompts.append((src, _pick(rng, pools[src])))
    write_text_atomic(out_text / "tts_prompts.tsv", "".join(f"{s}\t{t}\n" for s, t in prompts))
    stats = {"lm_lines": len(lm_lines), "read_train": len(read_lines), "templates": len(set(templates)), "short": len(set(shorts)),
             "chat": len(chat), "general": len(general), "vocab": len(vocab_lines), "tts_prompts": len(prompts)}
    log.info("text: %s", stats)
    return stats


def read_prompts(path: Path) -> list[tuple[str, str]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        src, _, text = line.partition("\t")
        if text:
            out.append((src, text))
    return out
