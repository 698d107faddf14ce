#!/usr/bin/env python3
"""Checks the golden files of this directory with readers independent of the
crate: Python's csv, gzip and zipfile modules, and LibreOffice when
installed (`soffice`). The expected cells are computed here from
`leads.json`, by the rules of docs/contract.md (the 27 fields and their
cells) and docs/formats.md (the formula guard), and the header from
tests/data/spec_fields.json. Run: python3 tests/data/golden/check.py
"""
import csv
import gzip
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = json.load(open(os.path.join(HERE, "..", "spec_fields.json")))
LEADS = json.load(open(os.path.join(HERE, "leads.json")))


def joined(values):
    return ", ".join(v for v in (values or []))


def cells(lead):
    """The 27 cells of a lead, as stored (docs/contract.md)."""
    c = lead.get("company") or {}
    first, last = lead.get("firstName") or "", lead.get("lastName") or ""
    name = f"{first} {last}" if first and last else first or last
    website = c.get("websiteUrl") or (f"https://{c['domain']}" if c.get("domain") else "")
    langs = ", ".join(l["language"] for l in (lead.get("languages") or []) if l.get("language"))
    year = c.get("foundedYear")
    return [
        name, joined(lead.get("emails")), joined(lead.get("phones")),
        lead.get("linkedinUrl") or "", lead.get("city") or "", lead.get("postalCode") or "",
        lead.get("country") or "", lead.get("jobTitle") or "", lead.get("seniority") or "",
        joined(lead.get("departments")), joined(lead.get("functions")), lead.get("industry") or "",
        joined(lead.get("skills")), langs, c.get("name") or "", c.get("legalName") or "",
        website, c.get("linkedinUrl") or "", joined(c.get("phones")), c.get("city") or "",
        c.get("postalCode") or "", c.get("country") or "", c.get("industry") or "",
        c.get("headcount") or "", c.get("revenue") or "", "" if year is None else str(year),
        c.get("summary") or "",
    ]


def guard(cell):
    """The formula guard of docs/formats.md."""
    s = cell.lstrip(" ")
    if s[:1] in ("=", "@", "\t", "\r", "\n"):
        return "'" + cell
    if s[:1] in ("+", "-") and re.search(r"[^0-9 +\-().,/]", s):
        return "'" + cell
    return cell


HEADER = [f["label"] for f in SPEC["fields"]]
assert len(HEADER) == 27


def expected(escape):
    rows = [HEADER]
    for lead in LEADS:
        row = cells(lead)
        rows.append([guard(c) for c in row] if escape else row)
    return rows


def check_csv(name, data):
    m = re.fullmatch(r"(comma|semicolon|tab)-(crlf|lf)(-bom)?-(guarded|raw)\.csv", name)
    delim = {"comma": ",", "semicolon": ";", "tab": "\t"}[m.group(1)]
    eol = "\r\n" if m.group(2) == "crlf" else "\n"
    bom = bool(m.group(3))
    assert data.startswith(b"\xef\xbb\xbf") == bom, name
    text = data.decode("utf-8")[1 if bom else 0:]
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delim, strict=True))
    want = expected(m.group(4) == "guarded")
    assert rows == want, (name, [(a, b) for a, b in zip(rows, want) if a != b])
    # The bytes: a cell holding the delimiter, a quote, CR or LF is quoted
    # (docs/contract.md, RFC 4180), every record ends with the line ending.
    def quote(cell):
        if any(ch in cell for ch in (delim, '"', "\r", "\n")):
            return '"' + cell.replace('"', '""') + '"'
        return cell
    assert "".join(delim.join(map(quote, row)) + eol for row in want) == text, name
    return len(rows)


def main():
    csv_dir = os.path.join(HERE, "csv")
    names = sorted(os.listdir(csv_dir))
    assert len(names) == 24, names
    for name in names:
        n = check_csv(name, open(os.path.join(csv_dir, name), "rb").read())
        print(f"csv/{name}: {n} rows as expected (csv module, strict; bytes as the contract quotes)")
    for name in sorted(os.listdir(os.path.join(HERE, "gzip"))):
        plain = gzip.decompress(open(os.path.join(HERE, "gzip", name), "rb").read())
        assert plain == open(os.path.join(csv_dir, name[:-3]), "rb").read(), name
        print(f"gzip/{name}: decompresses to csv/{name[:-3]}")
    link = json.load(open(os.path.join(HERE, "link.json")))
    assert link == {"url": "<url>", "expiresAt": "<expiresAt>", "count": len(LEADS),
                    "skipped": 0, "filename": "lance-prospects-<date>.csv"}, link
    print("link.json: the contract's keys, count", len(LEADS))
    check_xlsx(os.path.join(HERE, "export.xlsx"))


def xlsx_rows(path):
    """Cells of the first sheet with zipfile and ElementTree: (type, text)."""
    ns = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}
    z = zipfile.ZipFile(path)
    shared = []
    if "xl/sharedStrings.xml" in z.namelist():
        for si in ET.fromstring(z.read("xl/sharedStrings.xml")).findall("m:si", ns):
            shared.append("".join(t.text or "" for t in si.iter(f"{{{ns['m']}}}t")))
    sheet = ET.fromstring(z.read("xl/worksheets/sheet1.xml"))
    rows = {}
    for row in sheet.find("m:sheetData", ns).findall("m:row", ns):
        out = {}
        for c in row.findall("m:c", ns):
            col = re.match(r"[A-Z]+", c.get("r")).group(0)
            idx = 0
            for ch in col:
                idx = idx * 26 + ord(ch) - 64
            t = c.get("t")
            assert c.find("m:f", ns) is None, "a formula"
            v = c.find("m:v", ns)
            if t == "s":
                out[idx - 1] = ("s", shared[int(v.text)])
            elif t == "inlineStr":
                out[idx - 1] = ("s", "".join(x.text or "" for x in c.iter(f"{{{ns['m']}}}t")))
            else:
                out[idx - 1] = ("n", v.text if v is not None else "")
        rows[int(row.get("r"))] = [out.get(i, ("", "")) for i in range(27)]
    # A row without cells has no <row> element.
    return [rows.get(r, [("", "")] * 27) for r in range(1, max(rows) + 1)]


def unescape_xlsx(s):
    # _xHHHH_ escapes of control characters in OOXML strings.
    return re.sub(r"_x([0-9A-Fa-f]{4})_", lambda m: chr(int(m.group(1), 16)), s)


def check_xlsx(path):
    rows = xlsx_rows(path)
    want = expected(False)
    assert len(rows) == len(want), len(rows)
    for r, (got, exp) in enumerate(zip(rows, want)):
        for col, ((kind, text), e) in enumerate(zip(got, exp)):
            if col == 25 and r > 0 and e:
                assert kind == "n" and float(text) == float(e), (r, col, kind, text, e)
            elif e == "":
                assert text == "", (r, col, text)
            else:
                assert kind == "s" and unescape_xlsx(text) == e, (r, col, kind, text, e)
    print(f"export.xlsx: {len(rows)} rows as expected (zipfile + ElementTree; text cells, the year a number, no formula)")
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if not soffice:
        print("export.xlsx: LibreOffice not installed; skipped its check")
        return
    with tempfile.TemporaryDirectory() as tmp:
        # Unicode text, comma separated, every text cell quoted: CSV filter
        # options 44,34,76,1,,0,true (separator, quote, UTF-8, first row,
        # column formats, language, quote all text cells).
        subprocess.run([soffice, f"-env:UserInstallation=file://{tmp}/profile", "--headless",
                        "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,true",
                        "--outdir", tmp, path], check=True, capture_output=True, timeout=120)
        text = open(os.path.join(tmp, "export.csv"), encoding="utf-8").read()
    lo_rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(lo_rows) == len(want), len(lo_rows)
    for r, (got, exp) in enumerate(zip(lo_rows, want)):
        got = got + [""] * (27 - len(got))
        exp = [e.replace("\r\n", "\n").replace("\r", "\n") for e in exp]
        got = [g.replace("\r\n", "\n").replace("\r", "\n") for g in got]
        assert got == exp, (r, [(i, a, b) for i, (a, b) in enumerate(zip(got, exp)) if a != b])
    print(f"export.xlsx: LibreOffice ({soffice}) reads {len(lo_rows)} rows as expected")


if __name__ == "__main__":
    main()
    print("all golden files check out")
