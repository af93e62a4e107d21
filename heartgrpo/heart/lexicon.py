"""The curated cardiology lexicon behind :func:`heartgrpo.heart.classifier.classify`.

Each theme (the paper's 14) maps to ``(pattern, weight)`` pairs. Patterns are regular
expressions matched with word boundaries; ``(?-i:...)`` marks case-sensitive abbreviations
(``MI``, ``ECG``) so that "mi" or "ecg" inside ordinary words never match. Weight expresses how
specific a term is to its theme: generic words ("heart", "cardiac") carry little weight so that
any specific term decides the theme.

``FALSE_FRIENDS`` are phrases that contain a cardiac word but are not about the heart
("heartburn", "by heart", "portal hypertension", "Ludwig's angina", "gastric bypass"); their
spans are blanked out before the lexicon is applied.
"""

from __future__ import annotations

THEMES: tuple[str, ...] = (
    "Cardiac Medications",
    "Cardiomyopathy",
    "Cardiovascular Disease",
    "Cardiovascular Risk Factors",
    "Chest Pain",
    "Congenital Heart Disease",
    "Coronary Artery Disease",
    "ECG/EKG Interpretation",
    "Heart Attack (MI)",
    "Heart Failure",
    "Heart Palpitations",
    "Heart Rhythm Disorders (Arrhythmia)",
    "Heart Valve Problems",
    "High Blood Pressure (Hypertension)",
)

GENERIC_THEME = "Cardiovascular Disease"

# Tie-break order when two themes score the same: the more specific theme wins.
THEME_PRIORITY: tuple[str, ...] = (
    "Heart Attack (MI)",
    "Congenital Heart Disease",
    "Heart Valve Problems",
    "Cardiomyopathy",
    "Heart Failure",
    "ECG/EKG Interpretation",
    "Heart Rhythm Disorders (Arrhythmia)",
    "Heart Palpitations",
    "Coronary Artery Disease",
    "Chest Pain",
    "High Blood Pressure (Hypertension)",
    "Cardiac Medications",
    "Cardiovascular Risk Factors",
    "Cardiovascular Disease",
)

LEXICON: dict[str, tuple[tuple[str, float], ...]] = {
    "Heart Attack (MI)": (
        (r"heart attacks?", 3.0),
        (r"myocardial infarctions?", 3.0),
        (r"(?-i:N?STEMI)", 3.0),
        (r"(?-i:MI)", 2.0),
        (r"acute coronary syndromes?", 3.0),
        (r"troponins?", 3.0),
        (r"st[- ]elevation", 2.0),
    ),
    "Congenital Heart Disease": (
        (r"congenital heart( disease| defects?)?", 4.0),
        (r"tetralogy of fallot", 4.0),
        (r"(atrial|ventricular) septal defects?", 4.0),
        (r"(?-i:ASD|VSD|PFO)", 3.0),
        (r"patent (ductus arteriosus|foramen ovale)", 4.0),
        (r"coarctation( of the aorta)?", 4.0),
        (r"hole in (the|his|her|my|their|your) heart", 4.0),
        (r"transposition of the great (arteries|vessels)", 4.0),
        (r"hypoplastic left heart", 4.0),
        (r"eisenmenger", 4.0),
        (r"blue baby", 2.0),
    ),
    "Heart Valve Problems": (
        (r"(aortic|mitral|tricuspid|pulmonary|pulmonic) (valve|stenosis|regurgitation|insufficiency|prolapse)", 4.0),
        (r"heart valves?", 4.0),
        (r"valv(e|ular) (disease|replacement|repair|surgery)", 3.0),
        (r"valvular heart disease", 4.0),
        (r"bicuspid aortic valve", 4.0),
        (r"(?-i:TAVR|TAVI)", 4.0),
        (r"heart murmurs?|(systolic|diastolic|holosystolic|ejection|cardiac) murmurs?", 4.0),
        (r"murmurs?", 1.5),  # alone ambiguous ("a murmur of disapproval")
        (r"rheumatic (heart|fever)", 3.0),
        (r"(infective )?endocarditis", 3.0),
        (r"prosthetic valves?|mechanical valves?", 3.0),
    ),
    "Cardiomyopathy": (
        (r"cardiomyopath(y|ies)", 4.0),
        (r"takotsubo", 4.0),
        (r"broken heart syndrome", 4.0),
        (r"(?-i:HCM|DCM)", 3.0),
        (r"myocarditis", 3.0),
        (r"(left )?ventricular hypertrophy", 2.0),
        (r"(?-i:LVH)", 2.0),
        (r"enlarged heart", 2.5),
    ),
    "Heart Failure": (
        (r"(congestive )?heart failure", 4.0),
        (r"(?-i:CHF|HFrEF|HFpEF|HFmrEF)", 4.0),
        (r"ejection fraction", 3.0),
        (r"(?-i:NT-proBNP|BNP)", 3.0),
        (r"(?-i:LVEF)", 3.0),
        (r"cardiogenic (shock|pulmonary edema)", 3.0),
        (r"sacubitril|entresto", 3.0),
        (r"orthopn(o)?ea|paroxysmal nocturnal dyspn(o)?ea", 3.0),
        (r"(breathless(ness)?|short of breath|shortness of breath) (when |while |if )?(i |he |she )?(lie|lies|lying) (down )?flat", 3.0),
        (r"swollen (ankles|legs|feet)|(ankle|leg) swelling|(ankles|legs) (swell|are swollen)", 1.0),
        (r"weak heart|failing heart|heart (is|was|be) (weak|failing|not pumping)", 3.0),
    ),
    "ECG/EKG Interpretation": (
        (r"(?-i:ECGs?|EKGs?)", 3.0),
        (r"electrocardiogra(m|ms|phy|phic)", 3.0),
        (r"(?-i:QTc?) (interval|prolongation)|long (?-i:QT)( syndrome)?|(?-i:QTc)", 3.0),
        (r"(?-i:QRS)( complex(es)?)?", 3.0),
        (r"(?-i:PR) interval", 3.0),
        (r"(?-i:[PT])[- ]waves?", 3.0),
        (r"st[- ](segment|depression)", 3.0),
        (r"holter( monitor)?", 3.0),
        (r"bundle branch block", 3.0),
        (r"(?-i:LBBB|RBBB)", 3.0),
    ),
    "Heart Rhythm Disorders (Arrhythmia)": (
        (r"arrhythmi(a|as|c)|dysrhythmias?", 4.0),
        (r"atrial (fibrillation|flutter)", 4.0),
        (r"(?-i:AFib|A-fib|AF)", 3.0),
        (r"a-?fib", 3.0),
        (r"ventricular (fibrillation|tachycardia)", 4.0),
        (r"(?-i:SVT|VT|VF|WPW)", 3.0),
        (r"supraventricular tachycardia", 4.0),
        (r"wolff[- ]parkinson[- ]white", 4.0),
        (r"(tachy|brady|tachi)cardi(a|c)", 1.5),  # a sign (sepsis, fever, a vital sign): weak alone
        (r"heart block|(av|atrioventricular) block", 4.0),
        (r"sick sinus syndrome", 4.0),
        (r"pacemakers?|implantable (cardioverter[- ])?defibrillators?", 3.0),
        (r"cardioversion|catheter ablation", 3.0),
        (r"irregular (heart ?beats?|heart rhythm|pulse)", 3.0),
        (r"(resting|fast|slow|high|low|irregular|rapid) heart rates?", 3.0),
        (r"(heart|cardiac) rhythm", 3.0),
        (r"cardiac arrest|sudden cardiac death", 3.0),
        (r"premature (ventricular|atrial) (contractions?|beats?)|(?-i:PVCs?)", 3.0),
    ),
    "Heart Palpitations": (
        (r"palpitations?", 4.0),
        (r"heart (is |was |keeps )?(racing|pounding|fluttering|skipping|flip-flopping|races|pounds|flutters)", 4.0),
        (r"heart (\w+ ){0,4}skip(s|ped|ping)? (a )?beats?|skips a beat", 4.0),
        (r"(racing|pounding|fluttering) heart(beat)?", 4.0),
        (r"skipped (heart ?)?beats?", 3.0),
        (r"fluttering in (my|the|his|her) chest", 3.0),
        (r"heart ?beat feels|feel(s|ing)? my heart ?beat", 3.0),
    ),
    "Coronary Artery Disease": (
        (r"coronary (artery|heart) disease|coronary arteries|coronary", 4.0),
        (r"(?-i:CAD|CHD|PCI|CABG)", 3.0),
        (r"angina( pectoris)?", 4.0),
        (r"atherosclero(sis|tic)", 3.0),
        (r"(cardiac|coronary) (stents?|catheteri[sz]ation|bypass)", 4.0),
        (r"stents?|angioplasty", 2.0),
        (r"(heart|triple|quadruple) bypass( surgery)?", 4.0),
        (r"(?-i:CT) coronary|calcium score|(cardiac )?stress test", 2.5),
        (r"blocked arter(y|ies)|clogged arter(y|ies)", 3.0),
        (r"ischemic heart disease", 4.0),
    ),
    "Chest Pain": (
        (r"chest (pain|tightness|pressure|discomfort|heaviness)", 3.0),
        (r"(tight|heavy|crushing|squeezing) chest", 3.0),
        (r"chest (hurts|feels tight|feels heavy)", 3.0),
        (r"(pain|burning|pressure|tightness|heaviness) in (the (middle|centre|center|left side) of )?(my|the|his|her|their|your) chest", 3.0),
    ),
    "High Blood Pressure (Hypertension)": (
        (r"hypertensi(on|ve)", 4.0),
        (r"(high|elevated|raised) blood pressure", 4.0),
        (r"blood pressure", 2.5),
        (r"(?-i:BP)", 1.5),
        (r"antihypertensives?", 4.0),
        (r"(pre-?)?eclampsia", 2.0),  # a hypertensive disorder of pregnancy
    ),
    "Cardiac Medications": (
        (r"statins?|atorvastatin|rosuvastatin|simvastatin|pravastatin", 3.0),
        (r"beta[- ]?blockers?|metoprolol|bisoprolol|carvedilol|atenolol|propranolol", 3.0),
        (r"(?-i:ACE) inhibitors?|lisinopril|enalapril|ramipril|losartan|valsartan|candesartan|(?-i:ARBs?)", 3.0),
        (r"calcium channel blockers?|amlodipine|diltiazem|verapamil|nifedipine", 3.0),
        (r"digoxin|amiodarone|flecainide|sotalol|dofetilide|nitroglycerin|nitrates?|isosorbide", 3.0),
        (r"anticoagula(nt|nts|tion)|warfarin|apixaban|rivaroxaban|dabigatran|edoxaban|(?-i:DOACs?)", 2.0),  # x 0.25 with a venous clot story
        (r"antiplatelets?|clopidogrel|ticagrelor|prasugrel|dual antiplatelet", 3.0),
        (r"spironolactone|eplerenone|furosemide|diuretics?|hydrochlorothiazide|chlorthalidone", 1.0),
        (r"(heart|cardiac|blood pressure) (medications?|medicines?|meds|pills?|drugs?)", 3.0),
    ),
    "Cardiovascular Risk Factors": (
        (r"(high |elevated )?cholesterol|hypercholesterol(a)?emia|hyperlipid(a)?emia|dyslipid(a)?emia", 3.0),
        (r"(?-i:LDL|HDL)( cholesterol)?|triglycerides?|lipid (panel|profile)|lipoprotein\(a\)", 3.0),
        (r"(cardiovascular|cardiac|heart) (risk|health)", 3.0),
        (r"(?-i:ASCVD)|framingham|risk (score|calculator)", 3.0),
        (r"familial hypercholesterol(a)?emia", 4.0),
        (r"risks? of (a |having a )?(heart (disease|attacks?)|cardiovascular disease|coronary (artery|heart) disease)", 4.5),
        (r"smoking|vaping|diabetes|obesity|sedentary", 1.0),
    ),
    "Cardiovascular Disease": (
        (r"cardiovascular( disease| system| events?)?|(?-i:CVD)", 2.0),
        (r"heart (disease|condition|problems?|health|surgery|transplant|muscle|damage)", 2.0),
        (r"heart rates?", 1.5),  # a vital sign: alone it is weak evidence (fitness questions)
        (r"cardiac|cardio(logist|logy|logists)|cardiothoracic", 2.0),
        (r"hearts?", 2.0),
        (r"pericardi(tis|al effusion|al)|cardiac tamponade", 3.0),
        (r"aortic (aneurysm|dissection)|(?-i:AAA)", 3.0),
        (r"peripheral arter(y|ial) disease|(?-i:PAD)|(intermittent )?claudication", 2.0),
        (r"pulmonary (arterial )?hypertension", 3.0),
        (r"echocardiogra(m|ms|phy)|echo(cardiogram)? of (the|my) heart|(?-i:TTE|TEE)", 2.0),
        (r"(cardiac|heart) (catheteri[sz]ation|(?-i:MRI))", 2.0),
        (r"angiogra(m|ms|phy)", 1.5),
    ),
}

# Phrases blanked out before matching: idioms and non-cardiac uses of cardiac words.
FALSE_FRIENDS: tuple[str, ...] = (
    r"heart ?burn\w*",
    r"heart of the (matter|problem|issue|city|town|story|debate)",
    r"heart of darkness",
    r"(artichoke|chicken|beef|lamb|turkey|duck|palm|celery|lettuce|romaine)s? hearts?|hearts of (palm|romaine|celery|artichokes?)",
    r"murmur(s|ed|ing)? of (dis)?approval|murmur(s|ed|ing)? (of|from|in) (the )?(crowd|audience|voices?|room)",
    r"(maximum|max|target|peak) heart rates?|heart rate (zones?|training)",
    r"in the heart of",
    r"(learn(ed|t|ing)?|know(s|n|ing)?|memori[sz]e[ds]?) (\w+ )?by heart",
    r"by heart",
    r"at heart",
    r"heart[- ]to[- ]heart",
    r"(take|took|lose|lost|losing|taking) heart",
    r"change of heart",
    r"(have|has|had|my|his|her) heart set on",
    r"heart (is|was) (set|in it|in the right place|not in it)",
    r"(bottom|depths) of (my|our|his|her) hearts?",
    r"heart and soul",
    r"(sweet|brave|kind|light|big|soft|warm|faint|half|whole|broken|cold)[- ]?heart(ed|edly|s)?(?! syndrome)",
    r"heart ?(felt|break|breaking|broken|ache)\w*(?! syndrome)",
    r"(cross|bless) (my|your) heart",
    r"heart of gold",
    r"purple heart",
    r"cardiac (sphincter|notch|orifice)|gastric cardia",
    r"(portal|intracranial|ocular|intra-?abdominal) hypertension",
    r"idiopathic intracranial hypertension",
    r"(ludwig'?s|vincent'?s) angina",
    r"gastric bypass|(bariatric|intestinal|jejunoileal) bypass",
    r"(ureteral|ureteric|biliary|esophageal|oesophageal|bile duct|carotid) stents?",
    r"(?-i:AF) (team|group)",
)
