//! Writing the CSV: a header row of labels, then a row per lead; RFC 4180
//! quoting (the `csv` crate), CRLF line ends, UTF-8.

use std::io::Write;

use crate::fields::FieldList;
use crate::model::Lead;

/// A CSV writer with the export's dialect: RFC 4180 quoting where needed,
/// CRLF line ends.
pub fn writer<W: Write>(out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .quote_style(csv::QuoteStyle::Necessary)
        .from_writer(out)
}

/// Writes the header row of `fields`.
pub fn write_header<W: Write>(w: &mut csv::Writer<W>, fields: &FieldList) -> csv::Result<()> {
    w.write_record(fields.fields().iter().map(|f| f.label()))
}

/// Writes the row of one lead.
pub fn write_row<W: Write>(
    w: &mut csv::Writer<W>,
    fields: &FieldList,
    lead: &Lead,
) -> csv::Result<()> {
    w.write_record(fields.fields().iter().map(|f| f.cell(lead).into_owned()))
}

/// Writes the header and one row per lead to `out`.
pub fn write_csv<W: Write>(out: W, fields: &FieldList, leads: &[Lead]) -> csv::Result<W> {
    let mut w = writer(out);
    write_header(&mut w, fields)?;
    for lead in leads {
        write_row(&mut w, fields, lead)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

/// The whole CSV in memory.
pub fn to_csv(fields: &FieldList, leads: &[Lead]) -> Vec<u8> {
    write_csv(Vec::new(), fields, leads).expect("writing to a Vec cannot fail")
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
        let csv = String::from_utf8(to_csv(&fields, &[lead])).unwrap();
        assert_eq!(
            csv,
            "Name,Email(s),Job Title,City\r\n\"Jane O\"\"Neil\",\"a@x.com, b@y.com\",\"Head of\nSales\",Zürich\r\n"
        );
    }

    #[test]
    fn header_only_when_no_rows() {
        let csv = to_csv(&FieldList::defaults(), &[]);
        assert_eq!(
            String::from_utf8(csv).unwrap(),
            "Name,Email(s),Phone(s),LinkedIn URL,City,Country,Job Title,Company Name\r\n"
        );
    }
}
