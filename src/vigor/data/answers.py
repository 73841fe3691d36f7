"""Final-answer extraction from a model completion and gold-answer normalisation (pure Python, a leaf module:
it imports nothing from vigor, so the data layer and the evaluation layer can both use it).

- "boxed": the content of the last `\\boxed{...}` (or `\\fbox{...}`), nested braces respected.
- "gsm8k": the number after the last `#### `; else the last number in the text (GSM8K's fallback).
- "auto":  boxed, else `####`, else the last number.
Numbers lose thousands separators ("1,234" -> "1234") and a trailing period.
"""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*")
_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")
_HASHES = re.compile(r"####\s*(.+)")
STYLES = ("auto", "boxed", "gsm8k")


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...}; `\\boxed 5` (no braces) gives "5"; unbalanced braces give None."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    for start in reversed(starts):
        if start < len(text) and text[start] == "{":
            depth = 0
            for i in range(start, len(text)):
                depth += {"{": 1, "}": -1}.get(text[i], 0)
                if depth == 0:
                    return text[start + 1:i].strip()
        else:  # "\boxed 5": the argument runs to the next whitespace or "$"
            m = re.match(r"[^\s$]+", text[start:])
            if m:
                return m.group(0)
    return None


def clean_number(s: str) -> str:
    """'1,234.50' -> '1234.50'; '$72.' -> '72' (thousands separators, currency, trailing period)."""
    s = s.strip().rstrip(".").lstrip("$").strip()
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    return s


def last_number(text: str) -> str | None:
    found = _NUMBER.findall(text)
    return clean_number(found[-1]) if found else None


def after_hashes(text: str) -> str | None:
    """Text after the last '#### ' (GSM8K's answer marker), one line, numbers cleaned."""
    found = _HASHES.findall(text)
    return clean_number(found[-1]) if found else None


def extract_answer(text: str, style: str = "auto") -> str | None:
    if style not in STYLES:
        raise ValueError(f"extract_answer: unknown style {style!r}; choose from {STYLES}")
    if text is None:
        return None
    if style in ("boxed", "auto"):
        boxed = last_boxed(text)
        if boxed is not None or style == "boxed":
            return boxed
    return after_hashes(text) or last_number(text)


def normalise_gold(value) -> str | None:
    """A gold answer as a string: numbers keep their value ('27.0' -> '27'), '#### N' -> 'N',
    a worked solution -> its last boxed expression."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    text = str(value).strip()
    if "####" in text:
        return after_hashes(text)
    if _BOXED.search(text):
        return last_boxed(text)
    if re.fullmatch(r"-?\d+\.0+", text):
        return text.split(".")[0]
    return clean_number(text) if _NUMBER.fullmatch(text.replace(",", "")) else text
