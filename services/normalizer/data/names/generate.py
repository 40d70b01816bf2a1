#!/usr/bin/env python3
"""Regenerates the name lists of this directory from their sources (see README.md).

usage: generate.py NAMES_DIR FAKER_JSON DICT_FILE...

NAMES_DIR: the `names/` folder of the PyPI package `names` 0.3.0 (dist.male.first, dist.female.first, dist.all.last).
FAKER_JSON: {"first": {locale: [..]}, "last": {locale: [..]}} extracted from @faker-js/faker 10.6.0 locales
            de, fr, es, it, nl, pl (the person.first_name and person.last_name definitions).
DICT_FILE: word lists (Debian's wamerican-small, wbritish-small: SCOWL size 35): their lower-case words are
           words.txt, and the names that are also such words (or in EXTRA_COMMON) are common.txt.
"""
import json
import sys
import unicodedata

# Words that are never read as a name, whatever the lists say (function words, titles, and the like).
STOP = {
    "A", "AN", "AND", "AS", "AT", "BE", "BY", "DO", "FOR", "FROM", "HE", "IF", "IN", "IS", "IT", "ME", "MY",
    "NO", "OF", "ON", "OR", "SO", "THE", "TO", "UP", "US", "WE", "WITH", "VIA", "PER", "NOT", "ALL", "ANY",
}
# Capitalized words an incident report writes that the dictionaries list only capitalized (months, days) or that
# name products, vendors and threat groups: a name made of them needs its other word to be unambiguous.
EXTRA_COMMON = {
    "JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER", "OCTOBER", "NOVEMBER",
    "DECEMBER", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY", "CHROME", "EDGE",
    "LINUX", "WINDOWS", "ORACLE", "APACHE", "CISCO", "JENKINS", "RUBY", "JULIA", "KALI", "HIVE", "CONTI", "LAZARUS",
    "ROYAL", "BLACK", "BASTA", "MEDUSA", "LORENZ", "TESLA", "ORION", "NORTON", "JUNIPER", "CHASE", "MORGAN",
    "STANLEY", "SCHWAB", "JONES", "HENRY", "AGENT", "STAR", "MIDNIGHT", "SALT", "VOLT", "SANDWORM", "KIMSUKY",
    "TURLA", "PHOBOS", "DHARMA", "AKIRA", "RAGNAR", "HADES", "ZEPPELIN", "QUANTUM", "CACTUS", "VIDAR", "LUMMA",
    "RACCOON", "HAVOC", "SLIVER", "CLOP", "PLAY", "NOVA", "ATLAS", "APOLLO", "ATHENA", "HERMES", "MERCURY", "OSCAR",
    "VICTOR", "ROMEO", "JULIET", "ECHO", "DELTA", "SIERRA", "TANGO", "INDIA", "LIMA", "PAPA", "KILO", "HOTEL",
    "GOLF", "ALPHA", "BRAVO", "CHARLIE", "FOXTROT", "MIKE", "NOVEMBER", "QUEBEC", "UNIFORM", "WHISKEY", "XRAY",
    "YANKEE", "ZULU", "AZURE", "OKTA", "DUO", "IVANTI", "CITRIX", "FORTINET", "SOPHOS", "VEEAM", "KASEYA", "ZOOM",
    "TEAMS", "SLACK", "OUTLOOK", "EXCHANGE", "OFFICE", "OFFICE365", "SHAREPOINT", "ONEDRIVE", "DROPBOX", "GITHUB",
    "GITLAB", "DOCKER", "KUBERNETES", "PYTHON", "JAVA", "PERL", "RUST", "SWIFT", "DART", "ELIXIR", "GO", "NODE",
    "WARD", "CYBER", "DARK", "SHADOW", "GHOST", "SPIDER", "BEAR", "PANDA", "KITTEN", "TYPHOON", "BLIZZARD",
    "TEMPEST", "SLEET", "STORM", "TIGER", "LION", "WOLF", "FOX", "EAGLE", "PHOENIX", "DRAGON", "COBALT", "STRIKE",
}


def fold(name):
    """Upper-cases and folds to ASCII as the Rust `fold` of pii/names.rs does (diacritics dropped, `ß` as `SS`,
    apostrophes removed)."""
    name = name.strip().upper().replace("ẞ", "SS").replace("ß", "SS")
    for letter, ascii in (("Ø", "O"), ("Ł", "L"), ("Æ", "AE"), ("Œ", "OE"), ("Đ", "D"), ("Ħ", "H"), ("'", ""), ("’", "")):
        name = name.replace(letter, ascii)
    return "".join(c for c in unicodedata.normalize("NFD", name) if not unicodedata.combining(c))


def census(path):
    return {fold(line.split()[0]) for line in open(path, encoding="ascii") if line.strip()}


def main():
    names_dir, faker_json = sys.argv[1], sys.argv[2]
    faker = json.load(open(faker_json, encoding="utf-8"))
    given = census(f"{names_dir}/dist.male.first") | census(f"{names_dir}/dist.female.first")
    surnames = census(f"{names_dir}/dist.all.last")
    for names in faker["first"].values():
        given |= {fold(name) for name in names if " " not in name}
    for names in faker["last"].values():
        surnames |= {fold(name) for name in names if " " not in name}
    keep = lambda name: len(name) >= 2 and name not in STOP and all("A" <= c <= "Z" or c == "-" for c in name)
    given = {name for name in given if keep(name)}
    surnames = {name for name in surnames if keep(name)}
    words = set()
    for path in sys.argv[3:]:
        for line in open(path, encoding="utf-8"):
            word = line.strip()
            if word and word == word.lower() and "'" not in word:
                words.add(fold(word))
    common = {name for name in given | surnames if name in words or name in EXTRA_COMMON}
    common |= EXTRA_COMMON
    words = {word for word in words if word.isalpha() and len(word) >= 2}
    for file, names in (("given.txt", given), ("surnames.txt", surnames), ("common.txt", common), ("words.txt", words)):
        with open(file, "w", encoding="utf-8") as out:
            out.write("\n".join(sorted(names)) + "\n")
        print(file, len(names))


main()
