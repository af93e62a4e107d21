"""Context rules of the heart classifier: what a lexicon match is worth where it stands.

A cardiac word is not always a cardiac question. :func:`match_weight` turns a match's lexicon
weight into the weight it carries in its context:

* **negated** ("denies chest pain", "no tengo dolor en el pecho", "sans douleur thoracique"):
  a negation word at most three words before the match, in the same clause -> 0;
* **a vital sign** ("BP 118/74", "heart rate 70", "normal blood pressure", "mild tachycardia at
  102 bpm"): a blood-pressure / heart-rate / pulse term followed by a number or next to
  normal/stable -> 0, unless it is the subject ("my blood pressure", "blood pressure readings",
  "a home blood pressure of 150/95", a sentence that asks about the value);
* **incidental** (inside a note's history or medication field: "PMH: hypertension", "Meds:
  lisinopril") -> x 0.25;
* **chest pain with a lung or gut story** (cough, sputum, pneumonia, asthma, reflux): chest-pain
  terms x 0.5;
* **an anticoagulant with a venous clot story** (DVT, pulmonary embolism): x 0.25.

Centrality (:func:`needs_more_evidence`): a long conversation (more than ``LONG_TEXT`` characters)
with a single distinct cardiac term is a conversation about something else that names the heart in
passing; it needs a second distinct term of weight >= 2.

Example:
    >>> text = "Patient denies chest pain."
    >>> match_weight(text, text.index("chest"), text.index("pain") + 4, "Chest Pain", 3.0)
    0.0
"""

from __future__ import annotations

import bisect
import re
from functools import lru_cache

__all__ = ["LONG_TEXT", "match_weight", "needs_more_evidence"]

LONG_TEXT = 600

_NEGATOR = re.compile(
    r"(?<!\w)(no|not|denies|denied|deny|without|negative for|free of|absence of"
    r"|sin|niega|ni|sans|pas de|aucune?|nie|sem|n[aã]o|nega|nem|kein\w*|nicht|ohne|senza|non|нет|без|не|отрицает)"
    r"(?!\w)(?!\s+(idea|sure|matter|only|longer|doubt|one|clue)\b)(\W+[\w'’-]+){0,3}\W*$",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(r"[.;!?\n|]|\b(but|pero|mais|mas|aber|но|ma)\b", re.IGNORECASE)

_VITAL_TERM = re.compile(
    r"^(blood pressure|(?-i:BP)|heart rates?|pulse|(tachy|brady|tachi)cardi\w*|presi[oó]n arterial|press[aã]o arterial"
    r"|tension art[ée]rielle|pressione arteriosa|blutdruck|артериальн\w* давлени\w*)$",
    re.IGNORECASE,
)
_VITAL_AFTER = re.compile(r"^\W{0,3}([\w'’]+\W+){0,4}?\d|^\W{0,3}(is |was |are |were )?(normal|stable|within normal|wnl|ok)\b",
                          re.IGNORECASE)
_VITAL_BEFORE = re.compile(r"(normal|stable|vitals?( signs?)?|mild|slight(ly)?( elevated)?)\W+(\w+\W+)?$", re.IGNORECASE)
_SUBJECT_BEFORE = re.compile(r"((my|our|your|mom'?s|dad'?s|mother'?s|father'?s|husband'?s|wife'?s)\s+((daily|home|morning|evening|resting)\s+)?"
                             r"|(daily|home|morning|evening|resting)\s+)$", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?\n]")
_SUBJECT_AFTER = re.compile(r"^\s*(readings?|log|monitor|meds?|medications?|cuff|spikes?|keeps|is (high|low|up)|goes up)\b",
                            re.IGNORECASE)

_FIELD = re.compile(r"(?<!\w)(PMH|PSH|PHx|FHx?|Hx|past (medical )?history|medical history|family history|social history"
                    r"|meds|medications|current medications|home medications|allergies)\s*(:|\bof\b)", re.IGNORECASE)
_FIELD_END = re.compile(r"[.;\n]|(?<!\w)(HPI|ROS|Vitals?|Vital signs|Exam|Assessment|Plan|Labs?)\s*:", re.IGNORECASE)

_LUNG_OR_GUT = re.compile(r"(?<!\w)(cough\w*|sputum|pneumon\w*|asthma\w*|hemoptysis|haemoptysis|coccidioid\w*|valley fever"
                          r"|tubercul\w*|reflux|gerd|heartburn|sickle|pleur\w*|toux|tos|tosse|кашель|husten)(?!\w)", re.IGNORECASE)
_CLOT = re.compile(r"(?<!\w)((?-i:DVT|PE|VTE|TVP|TEP)|deep vein thrombosis|pulmonary embol\w*|embolia pulmonar|embolie pulmonaire"
                   r"|venous thrombo\w*)(?!\w)", re.IGNORECASE)
_ANTICOAGULANT = re.compile(r"^(anticoagula\w*|warfarin\w*|varfarin\w*|apixaban|rivaroxaban|dabigatran|edoxaban|(?-i:DOACs?)"
                            r"|coumadin|sintrom|marcoumar|варфарин\w*)$", re.IGNORECASE)


@lru_cache(maxsize=4)
def _mentions(pattern: re.Pattern[str], text: str) -> bool:
    """Whether ``pattern`` occurs anywhere in ``text``, searched once per text (not once per match)."""
    return pattern.search(text) is not None


@lru_cache(maxsize=4)
def _sentence_ends(text: str) -> list[int]:
    return [m.start() for m in _SENTENCE_END.finditer(text)]


def _next_sentence_end(text: str, pos: int) -> str | None:
    """The first sentence-ending character at or after ``pos`` (as ``_SENTENCE_END.search(text, pos)``)."""
    ends = _sentence_ends(text)
    i = bisect.bisect_left(ends, pos)
    return text[ends[i]] if i < len(ends) else None


def _clause_before(text: str, start: int, width: int = 60) -> str:
    window = text[max(0, start - width):start]
    ends = list(_CLAUSE_END.finditer(window))
    return window[ends[-1].end():] if ends else window


def _negated(text: str, start: int) -> bool:
    return bool(_NEGATOR.search(_clause_before(text, start)))


def _vital_sign(text: str, start: int, end: int, term: str) -> bool:
    if not _VITAL_TERM.match(term):
        return False
    before, after = text[max(0, start - 40):start], text[end:end + 30]
    if _SUBJECT_BEFORE.search(before) or _SUBJECT_AFTER.match(after):
        return False
    if _next_sentence_end(text, end) == "?":  # the value is what the question asks about
        return False
    return bool(_VITAL_AFTER.match(after) or _VITAL_BEFORE.search(before))


def _incidental(text: str, start: int) -> bool:
    window = text[max(0, start - 80):start]
    fields = list(_FIELD.finditer(window))
    return bool(fields) and not _FIELD_END.search(window[fields[-1].end():])


def match_weight(text: str, start: int, end: int, theme: str, weight: float) -> float:
    """The weight a lexicon match ``text[start:end]`` of ``theme`` carries in its context (rules above)."""
    term = text[start:end]
    if _negated(text, start) or _vital_sign(text, start, end, term):
        return 0.0
    if _incidental(text, start):
        weight *= 0.25
    if theme == "Chest Pain" and _mentions(_LUNG_OR_GUT, text):
        weight *= 0.5
    if _ANTICOAGULANT.match(term) and _mentions(_CLOT, text):
        weight *= 0.25
    return weight


def needs_more_evidence(text: str, strong_terms: int) -> bool:
    """True when a long text names only one distinct cardiac term of weight >= 2 (see module docstring)."""
    return len(text) > LONG_TEXT and strong_terms < 2
