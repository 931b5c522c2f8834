"""Which core vital-signs profile an Observation must meet, by its code.

R4 (observation-vitalsigns.html) says an Observation that records a vital sign SHALL conform to the
core profile for it (bodytemp for a body temperature, whose LOINC code 8310-5 it then requires), and
the HL7 validator applies that profile whatever meta.profile says. A vital sign is recognised, as
there, by a LOINC or SNOMED CT code of it in Observation.code; the first kind that matches decides.
"""

from __future__ import annotations

from typing import Any

from adapter.validation.r4 import BASE

LOINC, SNOMED = "http://loinc.org", "http://snomed.info/sct"

# profile id → the codes that name that vital sign (the HL7 validator's list, codes as data)
_BY_LOINC: dict[str, frozenset[str]] = {
    "vitalspanel": frozenset({"85353-1"}),
    "resprate": frozenset({
        "9279-1", "76170-0", "76172-6", "76171-8", "19840-8", "33438-3", "76270-8", "11291-2",
    }),
    "heartrate": frozenset({
        "60978-4", "73795-7", "73799-9", "76476-1", "76477-9", "8867-4", "8889-8", "8890-6", "8891-4",
        "8892-2", "8893-0", "40443-4", "55425-3", "68999-2", "11328-2", "69000-8", "8886-4",
    }),
    "oxygensat": frozenset({
        "2708-6", "19224-5", "20564-1", "2709-4", "2710-2", "2713-6", "51733-4", "59408-5", "59417-6",
        "89276-0", "97549-0",
    }),
    "bodytemp": frozenset({
        "8310-5", "60834-9", "60835-6", "60836-4", "60838-0", "60955-2", "61009-7", "75539-7", "75987-8",
        "76010-8", "76011-6", "76278-1", "8309-7", "8328-7", "8329-5", "8330-3", "8331-1", "8332-9",
        "8333-7", "8334-5", "91371-5", "98657-0", "98663-8",
    }),
    "bodyheight": frozenset({"8302-2", "3137-7", "3138-5", "8306-3", "8308-9"}),
    "headcircum": frozenset({"9843-4", "8287-5"}),
    "bodyweight": frozenset({"29463-7", "3141-9", "3142-7", "75292-3", "79348-9", "8350-1", "8351-9"}),
    "bmi": frozenset({"39156-5", "89270-3"}),
    "bp": frozenset({"85354-9", "35094-2", "8459-0", "76534-7", "55284-4", "8480-6"}),
}  # fmt: skip
_BY_SNOMED: dict[str, frozenset[str]] = {
    "vitalspanel": frozenset({"46680005"}),
    "resprate": frozenset({"86290005", "271625008", "271306003"}),
    "heartrate": frozenset({
        "271306003", "249043002", "444981005", "399017001", "251670001", "429525003", "429614003",
    }),
    "oxygensat": frozenset({"442476006", "431314004"}),
    "bodytemp": frozenset({
        "386725007", "276885007", "300076005", "1222808002", "364246006", "307047009", "708499008",
        "431598003", "698831002", "698832009", "415882003", "415974002", "415929009", "415945006",
    }),
    "bodyheight": frozenset({
        "1153637007", "1162419008", "50373000", "1162418000", "1230278008", "1162392001", "1162417005",
    }),
    "headcircum": frozenset({"363812007", "169876006", "1269262007", "363811000"}),
    "bodyweight": frozenset({"735395000", "425024002", "424927000", "784399000", "1162416001", "1162415002"}),
    "bmi": frozenset({"60621009"}),
    "bp": frozenset({
        "251076008", "163033001", "163035008", "386534000", "386536003", "271649006", "271650006",
        "407556006", "407554009", "716579001", "399304008",
    }),
}  # fmt: skip
_ORDER = ((LOINC, _BY_LOINC), (SNOMED, _BY_SNOMED))


def vital_sign_profile(observation: dict[str, Any]) -> str | None:
    """The URL of the core profile an Observation's code makes it meet, or None."""
    code = observation.get("code")
    codings = code.get("coding") if type(code) is dict else None
    if type(codings) is not list:
        return None
    for system, table in _ORDER:
        codes = {c.get("code") for c in codings if type(c) is dict and c.get("system") == system}
        if codes:
            for profile, names in table.items():
                if not codes.isdisjoint(names):
                    return BASE + profile
    return None
