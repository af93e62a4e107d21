"""More forms for the heart lexicon: the main HealthBench languages, colloquial and misspelled forms.

Same shape as :data:`heartgrpo.heart.lexicon.LEXICON` (theme -> ``(pattern, weight)``);
:func:`heartgrpo.heart.classifier.classify` matches both. Languages: French, Spanish, Portuguese,
German, Italian, Russian (HealthBench's most frequent non-English ones). Patterns are written
without accents where the accent varies in practice (``card[ií]aco``).

``FALSE_FRIENDS_EXTRA`` are idioms in those languages ("par cœur" = by heart, "de todo corazón"
= wholeheartedly) blanked out like the English ones.
"""

from __future__ import annotations

LEXICON_EXTRA: dict[str, tuple[tuple[str, float], ...]] = {
    "Heart Attack (MI)": (
        (r"heart att?a(ck|k)s?|hart attacks?", 3.0),
        (r"infarto( agudo)?( (de|do) mioc[aá]rdio)?|infarctus( du myocarde)?|инфаркт\w*|herzinfarkt\w*", 3.0),
        (r"crise cardiaque|ataque (card[ií]aco|al coraz[oó]n|do cora[cç][aã]o)|attacco cardiaco", 3.0),
    ),
    "Heart Valve Problems": (
        (r"heart murmers?|murmers? in (the|his|her|my) heart", 4.0),
        (r"souffle cardiaque|soplo (card[ií]aco|en el coraz[oó]n)|sopro (card[ií]aco|no cora[cç][aã]o)|шум в сердце|herzger[aä]usch\w*", 4.0),
        (r"(valvule|v[aá]lvula|valvola) (mitral|a[oó]rtic|tric[uú]spid|pulmonar)\w*|herzklappe\w*", 4.0),
    ),
    "Heart Failure": (
        (r"hf(r|p|mr)ef", 4.0),
        (r"(?-i:ARNI)|arni\b", 3.0),
        (r"insuficiencia card[ií]aca|insuffisance cardiaque|insufici[eê]ncia card[ií]aca|scompenso cardiaco|insufficienza cardiaca", 4.0),
        (r"сердечн\w* недостаточност\w*|herzinsuffizienz|herzschw[aä]che", 4.0),
        (r"fracci[oó]n de eyecci[oó]n|fraction d'?[eé]jection|fra[cç][aã]o de eje[cç][aã]o|фракци\w* выброса", 3.0),
    ),
    "ECG/EKG Interpretation": (
        (r"[ée]lectrocardiogra\w+|электрокардиограм\w*|(?-i:ЭКГ)", 3.0),
    ),
    "Heart Rhythm Disorders (Arrhythmia)": (
        (r"arr?h?ythmi\w*|arythmie\w*|arritmi\w*|аритми\w*|herzrhythmusst[oö]rung\w*", 4.0),
        (r"fibrilaci[oó]n auricular|fibrillation (auriculaire|atriale)|fibrila[cç][aã]o atrial|fibrillazione atriale|фибрилляци\w* предсерди\w*|vorhofflimmern", 4.0),
        (r"cha2?ds2(-?vasc)?", 4.0),
        (r"cardio-?pulmonary resuscitation|(?-i:CPR)|r[ée]animation cardio-?pulmonaire|(?-i:RCP)|reanimaci[oó]n cardiopulmonar", 3.0),
        (r"ressuscita[cç][aã]o cardiopulmonar|сердечно-л[её]гочн\w* реанимац\w*|herz-lungen-wiederbelebung|rianimazione cardiopolmonare", 3.0),
        (r"defibrillat\w+|(?-i:AED)|no pulse|pulseless|sin pulso|sem pulso|pas de pouls", 3.0),
        (r"paro card[ií]aco|arr[eê]t cardiaque|parada card[ií]aca|arresto cardiaco|остановк\w* сердца|herzstillstand", 3.0),
    ),
    "Heart Palpitations": (
        (r"palp[ai]t\w*ions?|palpitaciones|palpita[cç][oõ]es|palpitazioni|сердцебиени\w*|herzrasen|herzklopfen|herzstolpern", 4.0),
        (r"pounding ?heart|heart ?pounding|racing ?heart(beat)?|heart ?racing|heart flutters?|flutter(s|ing)? in my chest", 4.0),
        (r"(mon|mi|meu) (c(oe|œ)ur|coraz[oó]n|cora[cç][aã]o) (bat|late|est[aá] acelerado|se acelera|dispara)\w*", 4.0),
    ),
    "Coronary Artery Disease": (
        (r"coronari[ao]s?|coronarien\w*|коронар\w*|koronar\w*|st[eé]nts? coronari\w*", 3.0),
        (r"angine de poitrine|стенокарди\w*", 4.0),
    ),
    "Chest Pain": (
        (r"chest (felt|feels|feeling|is|was|got) (so |really |very |kind of |a bit )?(tight|heavy)", 3.0),
        (r"tight(ness)? (feeling |pressure )?in (my|the|his|her) chest|tight feeling in (my|the|his|her) chest", 3.0),
        (r"douleurs? (thoracique|à la poitrine|dans la poitrine)|oppression thoracique", 3.0),
        (r"dolor (de|en el) pecho|dolor tor[aá]cico|opresi[oó]n en el pecho", 3.0),
        (r"dor(es)? no peito|dor tor[aá]cica|aperto no peito", 3.0),
        (r"бол\w* в груди|загрудинн\w* бол\w*|brustschmerz\w*|schmerzen in der brust|dolore (al petto|toracico)", 3.0),
    ),
    "High Blood Pressure (Hypertension)": (
        (r"h[iy]pert[ea]n[st]i\w*|hypertonie|bluthochdruck|гипертони\w*|гипертенз\w*|(?-i:HTN)", 4.0),
        (r"presi[oó]n (arterial )?alta|tensi[oó]n alta|press[aã]o alta|tension (art[ée]rielle )?[ée]lev[ée]e|pressione alta|высок\w* давлени\w*", 4.0),
        (r"presi[oó]n arterial|press[aã]o arterial|tension art[ée]rielle|pressione arteriosa|артериальн\w* давлени\w*|blutdruck", 2.5),
    ),
    "Cardiac Medications": (
        (r"estatinas?|statines?|статин\w*", 3.0),
        (r"varfarina|warfarina|варфарин\w*|coumadin|marcoumar|sintrom", 2.0),
        (r"betabloqueantes?|b[êe]ta-?bloquants?|betabloqueadores?|бета-?блокатор\w*|betablocker\w*", 3.0),
    ),
    "Cardiovascular Risk Factors": (
        (r"cholest[eé]?r[oa]l\w*|colesterol\w*|холестерин\w*|cholesterin\w*|(?-i:HLD)", 3.0),
    ),
    "Cardiovascular Disease": (
        (r"(poor|bad|reduced) (blood )?circulation", 2.5),
        (r"heart ?beats?|muffled heart( sounds?)?", 2.0),
        (r"(my|his|her|your|grandpa'?s|grandma'?s|dad'?s|mom'?s) ticker", 2.5),
        (r"(?-i:RVSP)|right heart cath\w*|wedge pressure", 3.0),
        (r"c(oe|œ)ur|coraz[oó]n|cora[cç][aã]o|сердц\w*|сердечн\w*|herz(en|ens)?|cuore", 2.0),
        (r"cardiaque|card[ií]ac[oa]s?|cardiologue|cardi[oó]log[oa]s?|kardiolog\w*|кардиолог\w*", 2.0),
        (r"low blood pressure|hypotension|tension (art[ée]rielle )?basse|presi[oó]n baja|press[aã]o baixa", 1.0),
    ),
}

FALSE_FRIENDS_EXTRA: tuple[str, ...] = (
    r"par c(oe|œ)ur|de bon c(oe|œ)ur|(à|a) c(oe|œ)ur (ouvert|joie)|mal au c(oe|œ)ur|haut-le-c(oe|œ)ur",
    r"de (todo )?coraz[oó]n|de (todo )?cora[cç][aã]o|con el coraz[oó]n en la mano",
    r"von (ganzem )?herzen|am herzen liegen|di cuore|col cuore",
    r"от (всего )?сердца",
)
