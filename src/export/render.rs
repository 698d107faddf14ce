//! Leads into the sink as they arrive: CSV a row at a time, XLSX as one
//! workbook.

use futures::{TryFutureExt, TryStreamExt};

use crate::csv_export;
use crate::deadline::Deadline;
use crate::deliver::Sink;
use crate::error::ExportError;
use crate::fields::FieldList;
use crate::request::CsvFormat;
use crate::store::LeadPages;

/// Renders the CSV of `leads` into `sink` as they arrive, each lead once
/// (the header before the first row; nothing for an empty selection);
/// returns the number of rows.
pub async fn render_csv(
    sink: &mut Sink<'_>,
    mut leads: LeadPages<'_>,
    fields: &FieldList,
    format: &CsvFormat,
) -> Result<usize, ExportError> {
    let mut csv = csv_export::RowWriter::new(fields, format);
    loop {
        let next = leads.try_next().map_err(ExportError::from);
        let Some(page) = sink.alongside("reading the leads", next).await? else {
            return Ok(csv.rows());
        };
        for lead in &page {
            if csv.rows() == 0 {
                sink.write(csv.header().map_err(ExportError::internal)?)
                    .await?;
            }
            sink.write(csv.row(lead).map_err(ExportError::internal)?)
                .await?;
        }
    }
}

/// Renders the workbook of `leads` (rust_xlsxwriter builds it in memory,
/// so the leads are collected first) and writes it into `sink`; returns the
/// number of rows. Nothing is written for an empty selection. The build
/// stops with `ExportError::Timeout` when `deadline` comes (it checks as it
/// goes: nothing else can cut it).
pub async fn render_xlsx(
    sink: &mut Sink<'_>,
    leads: LeadPages<'_>,
    fields: &FieldList,
    deadline: &Deadline,
) -> Result<usize, ExportError> {
    let collect = leads.map_err(ExportError::from).try_concat();
    let leads: Vec<crate::model::Lead> = sink.alongside("reading the leads", collect).await?;
    if leads.is_empty() {
        return Ok(0);
    }
    let bytes = crate::xlsx::to_xlsx(fields, &leads, deadline)?;
    sink.write(&bytes).await?;
    Ok(leads.len())
}
