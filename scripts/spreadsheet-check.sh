#!/usr/bin/env bash
# make spreadsheet-check: open an export of hostile leads with LibreOffice
# (formula evaluation on, as Excel does) and fail if any cell became a
# formula, or if a phone number or a plain number lost its value.
#
#   scripts/spreadsheet-check.sh             # the default export (guard on): must pass
#   scripts/spreadsheet-check.sh --no-guard  # "escapeFormulas": false: must fail
#
# Installs LibreOffice (libreoffice-calc-nogui, Debian) when soffice is
# missing; that needs root and takes about 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

escape=true
case "${1:-}" in
  "") ;;
  --no-guard) escape=false ;;
  *) echo "usage: $0 [--no-guard]" >&2; exit 2 ;;
esac

if ! command -v soffice >/dev/null; then
  echo "== installing LibreOffice (libreoffice-calc-nogui)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libreoffice-calc-nogui >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== writing the hostile export through the handler (escapeFormulas: $escape)"
SPREADSHEET_CHECK_DIR="$work" SPREADSHEET_CHECK_ESCAPE="$escape" \
  cargo test --quiet --test it -- --ignored --exact \
  formula::write_hostile_export_for_the_spreadsheet_check >"$work/cargo.log" 2>&1 \
  || { cat "$work/cargo.log" >&2; exit 1; }

# CSV import options: separator 44 (,), quote 34 ("), UTF-8 (76), from line 1,
# en-US, quoted fields not forced to text, detect special numbers, and the
# 13th token: evaluate formulas. The second run also trims spaces.
filters=(
  "evaluate formulas|CSV:44,34,76,1,,1033,false,true,false,false,false,-1,true"
  "evaluate formulas, trim spaces|CSV:44,34,76,1,,1033,false,true,false,false,true,-1,true"
)
status=0
for entry in "${filters[@]}"; do
  name=${entry%%|*}
  filter=${entry#*|}
  trim=false
  [[ $name == *trim* ]] && trim=true
  rm -f "$work/hostile.fods"
  # A private profile: no first-start dialogs, no clash with a running soffice.
  HOME="$work/home" soffice --headless --infilter="$filter" \
    --convert-to fods --outdir "$work" "$work/hostile.csv" >"$work/soffice.log" 2>&1 || true
  if [[ ! -s $work/hostile.fods ]]; then
    echo "soffice produced no .fods:" >&2
    cat "$work/soffice.log" >&2
    exit 1
  fi
  echo "== LibreOffice $(soffice --version | awk '{print $2}'), $name"
  python3 - "$work/hostile.csv" "$work/hostile.fods" "$trim" <<'PY' || status=1
import csv, re, sys
import xml.etree.ElementTree as ET

csv_path, fods_path, trim = sys.argv[1], sys.argv[2], sys.argv[3] == "true"
TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"

def text_of(el):
    """The text of an ODF element: <text:s c=n/> spaces, tabs, line breaks."""
    out = [el.text or ""]
    for child in el:
        if child.tag == TEXT + "s":
            out.append(" " * int(child.get(TEXT + "c", "1")))
        elif child.tag == TEXT + "tab":
            out.append("\t")
        elif child.tag == TEXT + "line-break":
            out.append("\n")
        else:
            out.append(text_of(child))
        out.append(child.tail or "")
    return "".join(out)

def cells(row):
    for c in row.iter(TABLE + "table-cell"):
        for _ in range(int(c.get(TABLE + "number-columns-repeated", "1"))):
            yield c

with open(csv_path, newline="", encoding="utf-8") as f:
    expected = list(csv.reader(f))
root = ET.parse(fods_path).getroot()
rows = [list(cells(r)) for r in root.iter(TABLE + "table-row")]

NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
problems, formulas, texts, numbers = [], 0, 0, 0
for r, want_row in enumerate(expected):
    got_row = rows[r] if r < len(rows) else []
    for c, want in enumerate(want_row):
        cell = got_row[c] if c < len(got_row) else None
        where = f"row {r + 1} col {c + 1} {want!r}"
        if cell is None:
            problems.append(f"{where}: missing")
            continue
        formula = cell.get(TABLE + "formula")
        if formula is not None:
            formulas += 1
            problems.append(f"{where}: became the formula {formula!r}")
            continue
        kind = cell.get(OFFICE + "value-type")
        if NUMBER.fullmatch(want):
            numbers += 1
            if kind != "float" or float(cell.get(OFFICE + "value")) != float(want):
                problems.append(f"{where}: expected the number, got {kind} {cell.get(OFFICE + 'value')}")
            continue
        texts += 1
        shown = "\n".join(text_of(p) for p in cell.iter(TEXT + "p"))
        want_text = want.replace("\r\n", "\n").replace("\r", "\n")
        # "Trim spaces" trims unquoted fields only.
        allowed = {want_text, want_text.strip(" ")} if trim else {want_text}
        if kind != "string" or shown not in allowed:
            problems.append(f"{where}: expected the text, got {kind} {shown!r}")

# Any formula anywhere in the document, not only where a cell was expected.
total = sum(1 for c in root.iter(TABLE + "table-cell") if c.get(TABLE + "formula") is not None)
print(f"{len(expected) - 1} leads, {texts} text cells and {numbers} number cells compared, "
      f"{total} formula cells in the document")
for p in problems:
    print("  " + p)
if problems or total:
    print("FAIL: the spreadsheet would run formulas or changed values")
    sys.exit(1)
print("OK: no formula; phones and texts kept as text, numbers as numbers")
PY
done
exit $status
