//! Writing the export as an Excel workbook (`"format": {"type": "xlsx"}`):
//! the CSV's header and rows, every cell a text cell, so a spreadsheet
//! never reads `02134` as a number, `2026-01-02` as a date, `TRUE` as a
//! boolean or `=1+1` as a formula. Only `companyFoundedYear` is a number.
//! The header row is bold and frozen, with an autofilter; column widths
//! follow the longest line of each column, capped at [`MAX_COLUMN_WIDTH`].
//!
//! `rust_xlsxwriter` builds the workbook in memory; the request limits
//! (at most 10,000 manual ids, 1,000 bulk rows, 27 fields) bound it.

use std::io::Write;

use rust_xlsxwriter::{ColNum, Format, RowNum, Workbook, Worksheet, XlsxError};

use crate::deadline::{Deadline, FINISH_RESERVE};
use crate::error::ExportError;
use crate::fields::{Column, Field, FieldList, Part};
use crate::filters::clip;
use crate::model::Lead;

/// `Content-Type` of a workbook.
pub const XLSX_CONTENT_TYPE: &str =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
/// The most characters an Excel cell holds.
pub const MAX_CELL_CHARS: usize = 32_767;
/// The widest column, in Excel's character units.
pub const MAX_COLUMN_WIDTH: usize = 60;
/// The narrowest column, in Excel's character units.
pub const MIN_COLUMN_WIDTH: usize = 8;
/// The name of the one worksheet.
pub const SHEET_NAME: &str = "Prospects";

/// The workbook of `leads`: a bold, frozen header row of the fields'
/// labels with an autofilter, then one row per lead, each cell the field's
/// cell as stored (the CSV formula guard does not apply: a text cell is
/// never a formula). A cell longer than Excel's [`MAX_CELL_CHARS`] is a
/// `VALIDATION_ERROR` naming the lead and the column (CSV holds it).
///
/// The build is CPU-bound and cannot be cut from outside on a
/// single-threaded runtime: it checks `deadline` every [`CHECK_ROWS`] rows
/// and at each write of the zip, and ends with `ExportError::Timeout` once
/// the deadline's stop has come.
pub fn to_xlsx(
    fields: &FieldList,
    leads: &[Lead],
    deadline: &Deadline,
) -> Result<Vec<u8>, ExportError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    write_sheet(sheet, fields, leads, deadline)?;
    let mut out = Checked {
        bytes: Vec::new(),
        deadline,
        late: false,
    };
    let saved = workbook.save_to_writer(&mut out);
    if out.late {
        return Err(ExportError::Timeout { stage: STAGE });
    }
    saved.map_err(ExportError::internal)?;
    Ok(out.bytes)
}

/// Rows written between two looks at the deadline.
pub const CHECK_ROWS: usize = 256;

/// The stage a cut workbook build names.
const STAGE: &str = "building the workbook";

/// The zip's bytes, refused once the deadline's stop has come (which ends
/// the save).
struct Checked<'a> {
    bytes: Vec<u8>,
    deadline: &'a Deadline,
    late: bool,
}

impl Write for Checked<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.deadline.check(STAGE, FINISH_RESERVE).is_err() {
            self.late = true;
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the export's deadline has come",
            ));
        }
        self.bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_sheet(
    sheet: &mut Worksheet,
    fields: &FieldList,
    leads: &[Lead],
    deadline: &Deadline,
) -> Result<(), ExportError> {
    let columns = fields.columns();
    let last_col = ColNum::try_from(columns.len().saturating_sub(1))
        .map_err(|_| ExportError::internal("too many columns for a worksheet"))?;
    let last_row = RowNum::try_from(leads.len())
        .map_err(|_| ExportError::internal("too many rows for a worksheet"))?;
    sheet.set_name(SHEET_NAME).map_err(ExportError::internal)?;
    let bold = Format::new().set_bold();
    let mut widths: Vec<usize> = Vec::with_capacity(columns.len());
    for (col, column) in (0..).zip(columns) {
        sheet
            .write_string_with_format(0, col, column.header, &bold)
            .map_err(ExportError::internal)?;
        widths.push(display_width(column.header));
    }
    let mut scratch = String::new();
    for (row, lead) in (1..).zip(leads) {
        if row as usize % CHECK_ROWS == 0 {
            deadline.check(STAGE, FINISH_RESERVE)?;
        }
        for (col, column) in (0..).zip(columns) {
            let width = write_cell(sheet, row, col, column, lead, &mut scratch)?;
            let w = &mut widths[usize::from(col)];
            *w = (*w).max(width);
        }
    }
    for (col, width) in (0..).zip(&widths) {
        let width = (*width + 2).clamp(MIN_COLUMN_WIDTH, MAX_COLUMN_WIDTH);
        sheet
            .set_column_width(col, width as f64)
            .map_err(ExportError::internal)?;
    }
    sheet
        .set_freeze_panes(1, 0)
        .map_err(ExportError::internal)?;
    sheet
        .autofilter(0, 0, last_row, last_col)
        .map_err(ExportError::internal)?;
    Ok(())
}

/// Writes one cell; returns its display width.
fn write_cell(
    sheet: &mut Worksheet,
    row: RowNum,
    col: ColNum,
    column: &Column,
    lead: &Lead,
    scratch: &mut String,
) -> Result<usize, ExportError> {
    if column.field == Field::CompanyFoundedYear && column.part == Part::Whole {
        if let Some(year) = lead.company.as_ref().and_then(|c| c.founded_year) {
            // Exact as an f64 (Excel's number) below 2^53; beyond, text.
            if year.unsigned_abs() < 1 << 53 {
                sheet
                    .write_number(row, col, year as f64)
                    .map_err(ExportError::internal)?;
                return Ok(year.to_string().len());
            }
        }
    }
    let cell = match column.cell_into(lead, scratch) {
        Some(cell) => cell,
        None => scratch.as_str(),
    };
    if cell.is_empty() {
        return Ok(0);
    }
    let chars = cell.chars().count();
    if chars > MAX_CELL_CHARS {
        return Err(ExportError::Validation(format!(
            "format.type: an xlsx cell holds at most {MAX_CELL_CHARS} characters; \
             the {} of lead {} has {chars} (use \"csv\")",
            column.header,
            clip(&lead.id)
        )));
    }
    sheet
        .write_string(row, col, cell)
        .map_err(|e: XlsxError| ExportError::internal(e))?;
    Ok(display_width(cell))
}

/// The characters of the longest line of `cell`.
fn display_width(cell: &str) -> usize {
    cell.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn later() -> Deadline {
        Deadline::after(std::time::Duration::from_secs(600))
    }

    #[test]
    fn widths_follow_the_longest_line() {
        assert_eq!(display_width(""), 0);
        assert_eq!(display_width("Zürich"), 6);
        assert_eq!(display_width("Head of\nInternational Sales"), 19);
    }

    #[test]
    fn a_cell_over_excels_limit_is_refused_naming_it() {
        let lead = Lead {
            id: "lead-7".into(),
            job_title: Some("x".repeat(MAX_CELL_CHARS + 1).into()),
            ..Lead::default()
        };
        let fields = FieldList::from_ids(["name", "jobTitle"]).unwrap();
        match to_xlsx(&fields, std::slice::from_ref(&lead), &later()) {
            Err(ExportError::Validation(m)) => assert_eq!(
                m,
                "format.type: an xlsx cell holds at most 32767 characters; \
                 the Job Title of lead lead-7 has 32768 (use \"csv\")"
            ),
            other => panic!("{other:?}"),
        }
        let fits = Lead {
            job_title: Some("é".repeat(MAX_CELL_CHARS).into()),
            ..lead
        };
        assert!(to_xlsx(&fields, &[fits], &later()).is_ok());
    }
}
