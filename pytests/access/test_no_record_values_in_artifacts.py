"""Quarantine reasons, logs, alerts and every artifact the pipeline writes carry no record values (#14.5).

The `secured` fixture runs the main job on simulated data with every fault the simulator injects
(truncated and corrupt files, schema drift, bad encodings, ...), with the dbt docs, and keeps what it
printed and logged (every logger, every level). This test gathers everything that run wrote outside
the warehouse's own tables:

- every file under its target/ (manifest, run_results, compiled and run SQL, the docs site and
  catalog, the lineage page, dbt's log, partial_parse.msgpack);
- the main job's log records (loaders, dbt runner, simulator) and its printed output;
- the load ledger's quarantine reasons;
- the alert `unify alert` would publish for that target/ (subject, message, attributes), rendered
  without SNS;

and looks in them for every value of the sources' personal-data columns (SourceTable columns flagged
pii: customer names, destination addresses, e-mail addresses), as landed in raw, and for the PII key
(both halves, from the vault). A value found is reported by kind, artifact and length, never printed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from loaders.source_tables import ALL_TABLES
from support import pinned_env

from unify.alerting import collect_alerts, message_attributes, render_message, render_subject
from unify.dbt_runner import run_dbt

_WORD = re.compile(r"\w+")
_JSON_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def personal_values(secured) -> dict[str, str]:
    """value -> kind, for every PII column of every source table, as landed in raw."""
    values: dict[str, str] = {}
    for table in ALL_TABLES:
        for column in table.columns:
            if not column.pii:
                continue
            name = column.name.lower()
            for (value,) in secured.query(f"select distinct {name} from {table.qualified_raw_name} "
                                          f"where {name} is not null"):
                if len(value.strip()) >= 5:  # shorter strings match by chance (and are no identity)
                    values[value] = f"{table.qualified_raw_name}.{name}"
    return values


def artifacts(secured) -> dict[str, str]:
    """name -> text of everything the main job wrote outside the warehouse tables."""
    found: dict[str, str] = {}
    for path in sorted(Path(secured.target_path).rglob("*")):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="ignore")
            # JSON artifacts may escape non-ASCII characters (\u00eb): look at them unescaped too
            found[str(path.relative_to(secured.target_path.parent))] = _JSON_ESCAPE.sub(
                lambda m: chr(int(m.group(1), 16)), text)
    found["main job log records"] = secured.log_path.read_text(encoding="utf-8")
    found["main job output"] = secured.say_path.read_text(encoding="utf-8")
    reasons = secured.query("select object_key, reason from unify_loader.load_ledger where reason is not null")
    assert reasons, "the faults must have quarantined files, or the reasons are not tested"
    found["load ledger reasons"] = "\n".join(f"{key}: {reason}" for key, reason in reasons)
    # `unify alert` reads a build's or a test's results, never those of the `dbt docs generate` that ended
    # the main job: the data tests of the models that carry PII, run with their own target path as
    # `unify cycle` runs its build, give the alert its input (and their artifacts are scanned too).
    tests_target = Path(secured.target_path).parent / "target-tests"
    with pinned_env(**secured.env()):
        run_dbt(["test", "-s", "stg_azureware__orders", "stg_salesforce__users"], secured.settings,
                target_path=tests_target, capture=True, check=False)
    for path in sorted(tests_target.rglob("*")):
        if path.is_file():
            found[str(path.relative_to(tests_target.parent))] = _JSON_ESCAPE.sub(
                lambda m: chr(int(m.group(1), 16)), path.read_bytes().decode("utf-8", errors="ignore"))
    report = collect_alerts(tests_target)
    assert sum(report.counts.values()) > 0, "the alert must have read the tests' results"
    found["alert payload"] = "\n".join([render_subject(report), render_message(report),
                                        json.dumps(message_attributes(report), ensure_ascii=False)])
    return found


def find_leaks(needles: dict[str, str], texts: dict[str, str]) -> list[str]:
    """(kind, artifact, length) of each needle found in a text. A needle is looked for only in texts
    holding all its words (a set lookup), then as an exact substring."""
    leaks = []
    for name, text in texts.items():
        words = set(_WORD.findall(text))
        for needle, kind in needles.items():
            needle_words = _WORD.findall(needle)
            if needle_words and not all(w in words for w in needle_words):
                continue
            if needle in text:
                leaks.append(f"{kind} ({len(needle)} characters) in {name}")
    return leaks


def test_no_personal_value_or_key_in_any_artifact(secured):
    needles = personal_values(secured)
    kinds = set(needles.values())
    assert {"raw_azureware.orders.customername", "raw_azureware.orders.destinationaddress"} <= kinds
    assert len(needles) > 100, "the simulation must produce personal data to look for"
    (inner, outer), = secured.query("select inner_key, outer_key from analytics_pii.pii_hash_key")
    needles[inner], needles[outer] = "the PII key (inner)", "the PII key (outer)"
    texts = artifacts(secured)
    assert any(name.endswith("manifest.json") for name in texts) and any(name.endswith("catalog.json") for name in texts)
    assert any(name.endswith("dbt.log") for name in texts)
    assert "file_quarantined" in texts["main job log records"], "the loaders' events must be in the captured log"
    # The scan is able to find what it looks for: a value planted in a copy of the texts is found.
    sample = next(v for v, k in needles.items() if k.endswith("customername"))
    assert find_leaks({sample: "planted"}, {"planted copy": texts["load ledger reasons"] + sample})
    leaks = find_leaks(needles, texts)
    assert not leaks, f"{len(leaks)} personal values or key halves found: " + "; ".join(sorted(set(leaks))[:40])

