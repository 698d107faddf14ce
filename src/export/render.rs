//! Leads into the sink as they arrive: CSV a row at a time, XLSX as one
//! workbook. Items the store could not read are counted and logged (their
//! lead id and fault kind, nothing of their content), and left out.

use futures::{TryFutureExt, TryStreamExt};

use crate::csv_export;
use crate::deadline::Deadline;
use crate::deliver::Sink;
use crate::error::ExportError;
use crate::fields::FieldList;
use crate::model::Lead;
use crate::request::CsvFormat;
use crate::store::{LeadPages, Skipped};

/// What a rendering wrote: rows, and stored items left out because they
/// could not be read into a lead.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rendered {
    /// Rows written (leads in the file).
    pub rows: usize,
    /// Items of the selection skipped.
    pub skipped: usize,
}

/// Logs one skipped item: its lead id and fault kind (and where the JSON
/// parser stopped), never a stored value.
fn log_skipped(skipped: &[Skipped]) {
    for s in skipped {
        tracing::warn!(
            lead_id = s.id.as_deref(),
            fault = s.fault.label(),
            line = s.at.map(|(line, _)| line as u64),
            column = s.at.map(|(_, column)| column as u64),
            "stored item skipped"
        );
    }
}

/// Renders the CSV of `leads` into `sink` as they arrive, each lead once
/// (the header before the first row; nothing for an empty selection).
pub async fn render_csv(
    sink: &mut Sink<'_>,
    mut leads: LeadPages<'_>,
    fields: &FieldList,
    format: &CsvFormat,
) -> Result<Rendered, ExportError> {
    let mut csv = csv_export::RowWriter::new(fields, format);
    let mut skipped = 0;
    loop {
        let next = leads.try_next().map_err(ExportError::from);
        let Some(page) = sink.alongside("reading the leads", next).await? else {
            return Ok(Rendered {
                rows: csv.rows(),
                skipped,
            });
        };
        log_skipped(&page.skipped);
        skipped += page.skipped.len();
        for lead in &page.leads {
            if csv.rows() == 0 {
                sink.write(csv.header()).await?;
            }
            sink.write(csv.row(lead)).await?;
        }
    }
}

/// Renders the workbook of `leads` (rust_xlsxwriter builds it in memory,
/// so the leads are collected first) and writes it into `sink`. Nothing is written for an empty selection. The build
/// stops with `ExportError::Timeout` when `deadline` comes (it checks as it
/// goes: nothing else can cut it).
pub async fn render_xlsx(
    sink: &mut Sink<'_>,
    leads: LeadPages<'_>,
    fields: &FieldList,
    deadline: &Deadline,
) -> Result<Rendered, ExportError> {
    let collect = leads.map_err(ExportError::from).try_fold(
        (Vec::<Lead>::new(), 0),
        |(mut all, skipped), page| async move {
            log_skipped(&page.skipped);
            all.extend(page.leads);
            Ok((all, skipped + page.skipped.len()))
        },
    );
    let (leads, skipped) = sink.alongside("reading the leads", collect).await?;
    if !leads.is_empty() {
        let bytes = crate::xlsx::to_xlsx(fields, &leads, deadline)?;
        sink.write(&bytes).await?;
    }
    Ok(Rendered {
        rows: leads.len(),
        skipped,
    })
}
