"""The kit's report: a summary on the console, HTML with every exchange and finding (for a vendor
and a region), JUnit XML (for the vendor's CI: one test case per exchange, a failure per finding)."""

from __future__ import annotations

import html
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree as ET

from adapter.testkit.run import Exchange


def summary(role: str, target: str, exchanges: list[Exchange]) -> str:
    failed = [e for e in exchanges if not e.passed]
    passed = len(exchanges) - len(failed)
    lines = [f"LUS test kit, role {role}, target {target}: {passed} of {len(exchanges)} passed"]
    for exchange in failed:
        lines.append(f"FAIL {exchange.title} ({exchange.direction})")
        lines += [f"  {finding}" for finding in exchange.findings]
    rules = Counter(f.rule for e in failed for f in e.findings)
    if rules:
        lines.append("rules broken: " + ", ".join(f"{rule} ×{n}" for rule, n in sorted(rules.items())))
    return "\n".join(lines)


def write_junit(path: Path, role: str, exchanges: list[Exchange]) -> None:
    failures = sum(1 for e in exchanges if not e.passed)
    suite = ET.Element(
        "testsuite", name=f"lus-testkit.{role}", tests=str(len(exchanges)), failures=str(failures), errors="0"
    )
    for exchange in exchanges:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"lus-testkit.{role}.{exchange.direction.replace(' ', '-')}",
            name=exchange.title,
        )
        for finding in exchange.findings:
            failure = ET.SubElement(case, "failure", type=finding.rule, message=str(finding))
            failure.text = exchange.answer or exchange.request[:2000]
        if exchange.notes:
            ET.SubElement(case, "system-out").text = "\n".join(exchange.notes)
    root = ET.Element("testsuites")
    root.append(suite)
    ET.indent(root)
    path.write_text(ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n", "utf-8")


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}
.pass{color:#17622b}.fail{color:#a4161a}
details{border:1px solid #ccc;border-radius:4px;margin:.4em 0;padding:.3em .6em}
pre{background:#f6f6f6;padding:.6em;overflow:auto;max-height:30em;font-size:.85em}
table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:.2em .6em;text-align:left}
"""


def write_html(path: Path, role: str, target: str, exchanges: list[Exchange]) -> None:
    e = html.escape
    failed = [x for x in exchanges if not x.passed]
    verdict = "fail" if failed else "pass"
    rules = Counter(f.rule for x in failed for f in x.findings)
    parts = [
        "<!doctype html><html lang=en><meta charset=utf-8>",
        f"<title>LUS test kit: {e(role)} – {verdict}</title><style>{_STYLE}</style>",
        f"<h1>LUS test kit: role {e(role)}</h1>",
        f"<p>Target <code>{e(target)}</code>. <strong class={verdict}>{verdict.upper()}</strong>:"
        f" {len(exchanges) - len(failed)} of {len(exchanges)} exchanges passed.</p>",
    ]
    if rules:
        parts.append("<h2>Rules broken</h2><table><tr><th>rule</th><th>findings</th></tr>")
        parts += [f"<tr><td>{e(rule)}</td><td>{n}</td></tr>" for rule, n in sorted(rules.items())]
        parts.append("</table>")
    parts.append("<h2>Exchanges</h2>")
    for x in exchanges:
        status = "pass" if x.passed else "fail"
        parts.append(
            f"<details{' open' if not x.passed else ''}><summary class={status}>{status.upper()}"
            f" – {e(x.title)} ({e(x.direction)}, party {e(x.party)}"
            f"{f', HTTP {x.status}' if x.status is not None else ''})</summary>"
        )
        if x.findings:
            parts.append(
                "<ul>"
                + "".join(f"<li class=fail><b>{e(f.rule)}</b>: {e(f.text)}</li>" for f in x.findings)
                + "</ul>"
            )
        if x.notes:
            parts.append("<ul>" + "".join(f"<li>{e(n)}</li>" for n in x.notes) + "</ul>")
        if x.request:
            parts.append(f"<p>Message</p><pre>{e(x.request)}</pre>")
        if x.answer:
            parts.append(f"<p>Answer</p><pre>{e(x.answer)}</pre>")
        parts.append("</details>")
    path.write_text("\n".join(parts) + "\n", "utf-8")
