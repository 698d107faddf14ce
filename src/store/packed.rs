//! The lead document as the current layout stores it: a binary attribute
//! ([`COMPACT_DOC_ATTR`](super::doc::COMPACT_DOC_ATTR), type `B`) in a
//! small tagged format of this module.
//!
//! Why not JSON text: DynamoDB's wire protocol is JSON, so a JSON document
//! inside a string attribute travels with every quote escaped, and the
//! SDK unescaped it (a seventh of an export's CPU in the profile of
//! `docs/w1-flamegraph.svg`) before `serde_json` parsed it again. A binary
//! attribute travels as base64 (no escapes; decoded in one pass), is billed
//! by its raw bytes, and holds no member names or quotes: the demo lead's
//! document is about a third smaller. Why not a serde binary format
//! (`postcard`, `bincode`): they need every `Option` member serialized
//! (the model's `skip_serializing_if` would break them), so a second set of
//! mirror types; this codec walks the model's own types.
//!
//! The format (all of it; `docs/design.md` has it with an example):
//! - byte 0 is the format, [`FORMAT`] (1);
//! - then the lead's members, each a tag byte (the member's number below,
//!   in increasing order) and its value; a member that is `None` is left
//!   out; the byte 0 ends the members (of the lead and of each nested
//!   record), and nothing follows the lead's end;
//! - text: its length in UTF-8 bytes as an unsigned LEB128 varint, then
//!   the bytes; a list: its length as a varint, then each value; a record
//!   (a language, an education, ...): its members as above, then 0; a
//!   number (`foundedYear`): a zigzag varint.
//!
//! `firstName` (1) and `lastName` (2) are always written: a name may be
//! empty, never absent. A reader meets any other byte string with an error,
//! never a panic, and allocates no more than the input's length.

use crate::model::{Company, Dates, Education, Language, Lead, NamedOrg, Text, WorkExperience};

/// The first byte of a packed document.
pub const FORMAT: u8 = 1;

/// Ends the members of the lead and of each nested record.
const END: u8 = 0;

/// Why a byte string is not a packed document. No stored value is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Not this format: another first byte, cut short, a member out of
    /// order or unknown, text that is not UTF-8, bytes after the end.
    Malformed,
    /// `firstName` or `lastName` is absent.
    MissingName,
}

/// The packed document of a lead (without its `id`, which is the sort key).
pub fn encode(lead: &Lead) -> Vec<u8> {
    let mut out = Out(Vec::with_capacity(768));
    out.0.push(FORMAT);
    out.tag(1).text(&lead.first_name);
    out.tag(2).text(&lead.last_name);
    out.texts(3, &lead.emails);
    out.texts(4, &lead.phones);
    out.opt(5, &lead.linkedin_url);
    out.opt(6, &lead.city);
    out.opt(7, &lead.state);
    out.opt(8, &lead.state_code);
    out.opt(9, &lead.postal_code);
    out.opt(10, &lead.country);
    out.opt(11, &lead.country_code);
    out.opt(12, &lead.job_title);
    out.opt(13, &lead.seniority);
    out.texts(14, &lead.departments);
    out.texts(15, &lead.sub_departments);
    out.texts(16, &lead.functions);
    out.opt(17, &lead.industry);
    out.texts(18, &lead.skills);
    out.texts(19, &lead.certifications);
    out.records(20, &lead.languages, |out, v: &Language| {
        out.opt(1, &v.language);
        out.opt(2, &v.level);
    });
    out.records(21, &lead.educations, |out, v: &Education| {
        out.record(1, &v.institution, named_org);
        out.opt(2, &v.degree_name);
        out.opt(3, &v.field_of_study);
        out.record(4, &v.dates, dates);
    });
    out.records(22, &lead.work_experiences, |out, v: &WorkExperience| {
        out.record(1, &v.company, named_org);
        out.opt(2, &v.title);
        out.record(3, &v.dates, dates);
    });
    out.record(23, &lead.company, company);
    out.0.push(END);
    out.0
}

fn named_org(out: &mut Out, v: &NamedOrg) {
    out.opt(1, &v.name);
}

fn dates(out: &mut Out, v: &Dates) {
    out.opt(1, &v.start);
    out.opt(2, &v.end);
}

fn company(out: &mut Out, v: &Company) {
    out.opt(1, &v.id);
    out.opt(2, &v.name);
    out.opt(3, &v.legal_name);
    out.opt(4, &v.domain);
    out.opt(5, &v.website_url);
    out.opt(6, &v.linkedin_url);
    out.texts(7, &v.phones);
    out.opt(8, &v.city);
    out.opt(9, &v.state);
    out.opt(10, &v.state_code);
    out.opt(11, &v.postal_code);
    out.opt(12, &v.country);
    out.opt(13, &v.country_code);
    out.opt(14, &v.industry);
    out.opt(15, &v.company_type);
    out.opt(16, &v.headcount);
    out.opt(17, &v.revenue);
    if let Some(year) = v.founded_year {
        out.tag(18).varint(((year << 1) ^ (year >> 63)) as u64);
    }
    out.opt(19, &v.summary);
}

/// The lead of a packed document (its `id` empty: the caller sets it from
/// the key).
pub fn decode(bytes: &[u8]) -> Result<Lead, Fault> {
    let mut input = In {
        bytes,
        at: 0,
        checked_from: 0,
        checked: utf8_run(bytes, 0),
    };
    if input.byte()? != FORMAT {
        return Err(Fault::Malformed);
    }
    let mut lead = Lead::default();
    let (mut first, mut last) = (false, false);
    input.members(|input, tag| {
        match tag {
            1 => (lead.first_name, first) = (input.text()?, true),
            2 => (lead.last_name, last) = (input.text()?, true),
            3 => lead.emails = Some(input.texts()?),
            4 => lead.phones = Some(input.texts()?),
            5 => lead.linkedin_url = Some(input.text()?),
            6 => lead.city = Some(input.text()?),
            7 => lead.state = Some(input.text()?),
            8 => lead.state_code = Some(input.text()?),
            9 => lead.postal_code = Some(input.text()?),
            10 => lead.country = Some(input.text()?),
            11 => lead.country_code = Some(input.text()?),
            12 => lead.job_title = Some(input.text()?),
            13 => lead.seniority = Some(input.text()?),
            14 => lead.departments = Some(input.texts()?),
            15 => lead.sub_departments = Some(input.texts()?),
            16 => lead.functions = Some(input.texts()?),
            17 => lead.industry = Some(input.text()?),
            18 => lead.skills = Some(input.texts()?),
            19 => lead.certifications = Some(input.texts()?),
            20 => lead.languages = Some(input.list(read_language)?),
            21 => lead.educations = Some(input.list(read_education)?),
            22 => lead.work_experiences = Some(input.list(read_work)?),
            23 => lead.company = Some(read_company(input)?),
            _ => return Err(Fault::Malformed),
        }
        Ok(())
    })?;
    if input.at != bytes.len() {
        return Err(Fault::Malformed);
    }
    if !(first && last) {
        return Err(Fault::MissingName);
    }
    Ok(lead)
}

fn read_language(input: &mut In) -> Result<Language, Fault> {
    let mut v = Language::default();
    input.members(|input, tag| {
        match tag {
            1 => v.language = Some(input.text()?),
            2 => v.level = Some(input.text()?),
            _ => return Err(Fault::Malformed),
        }
        Ok(())
    })?;
    Ok(v)
}

fn read_named_org(input: &mut In) -> Result<NamedOrg, Fault> {
    let mut v = NamedOrg::default();
    input.members(|input, tag| {
        match tag {
            1 => v.name = Some(input.text()?),
            _ => return Err(Fault::Malformed),
        }
        Ok(())
    })?;
    Ok(v)
}

fn read_dates(input: &mut In) -> Result<Dates, Fault> {
    let mut v = Dates::default();
    input.members(|input, tag| {
        match tag {
            1 => v.start = Some(input.text()?),
            2 => v.end = Some(input.text()?),
            _ => return Err(Fault::Malformed),
        }
        Ok(())
    })?;
    Ok(v)
}

fn read_education(input: &mut In) -> Result<Education, Fault> {
    let mut v = Education::default();
    input.members(|input, tag| {
        match tag {
            1 => v.institution = Some(read_named_org(input)?),
            2 => v.degree_name = Some(input.text()?),
            3 => v.field_of_study = Some(input.text()?),
            4 => v.dates = Some(read_dates(input)?),
            _ => return Err(Fault::Malformed),
        }
        Ok(())
    })?;
    Ok(v)
}

fn read_work(input: &mut In) -> Result<WorkExperience, Fault> {
    let mut v = WorkExperience::default();
    input.members(|input, tag| {
        match tag {
            1 => v.company = Some(read_named_org(input)?),
            2 => v.title = Some(input.text()?),
            3 => v.dates = Some(read_dates(input)?),
            _ => return Err(Fault::Malformed),
        }
        Ok(())
    })?;
    Ok(v)
}

fn read_company(input: &mut In) -> Result<Company, Fault> {
    let mut v = Company::default();
    input.members(|input, tag| {
        match tag {
            1 => v.id = Some(input.text()?),
            2 => v.name = Some(input.text()?),
            3 => v.legal_name = Some(input.text()?),
            4 => v.domain = Some(input.text()?),
            5 => v.website_url = Some(input.text()?),
            6 => v.linkedin_url = Some(input.text()?),
            7 => v.phones = Some(input.texts()?),
            8 => v.city = Some(input.text()?),
            9 => v.state = Some(input.text()?),
            10 => v.state_code = Some(input.text()?),
            11 => v.postal_code = Some(input.text()?),
            12 => v.country = Some(input.text()?),
            13 => v.country_code = Some(input.text()?),
            14 => v.industry = Some(input.text()?),
            15 => v.company_type = Some(input.text()?),
            16 => v.headcount = Some(input.text()?),
            17 => v.revenue = Some(input.text()?),
            18 => {
                let z = input.varint()?;
                v.founded_year = Some((z >> 1) as i64 ^ -((z & 1) as i64));
            }
            19 => v.summary = Some(input.text()?),
            _ => return Err(Fault::Malformed),
        }
        Ok(())
    })?;
    Ok(v)
}

/// The bytes being written.
struct Out(Vec<u8>);

impl Out {
    fn tag(&mut self, tag: u8) -> &mut Self {
        self.0.push(tag);
        self
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn text(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }

    fn opt(&mut self, tag: u8, v: &Option<Text>) {
        if let Some(s) = v {
            self.tag(tag).text(s);
        }
    }

    fn texts(&mut self, tag: u8, v: &Option<Vec<Text>>) {
        if let Some(list) = v {
            self.tag(tag).varint(list.len() as u64);
            for s in list {
                self.text(s);
            }
        }
    }

    fn record<T>(&mut self, tag: u8, v: &Option<T>, members: impl Fn(&mut Self, &T)) {
        if let Some(v) = v {
            self.tag(tag);
            members(self, v);
            self.0.push(END);
        }
    }

    fn records<T>(&mut self, tag: u8, v: &Option<Vec<T>>, members: impl Fn(&mut Self, &T)) {
        if let Some(list) = v {
            self.tag(tag).varint(list.len() as u64);
            for v in list {
                members(self, v);
                self.0.push(END);
            }
        }
    }
}

/// The bytes being read, and where.
///
/// Texts are not checked as UTF-8 one by one: the document is checked in
/// long runs (with SIMD instructions, `simdutf8`; the standard library's
/// check, a word at a time and once per text, was about 5% of an export's
/// CPU), and a text is a slice of the run that holds it, taken at
/// character boundaries. The tags and the one-byte lengths are ASCII, so
/// the first run usually reaches a multi-byte number (a founded year, a
/// length of 128 or more); a text past the run starts a new run at its
/// first byte.
struct In<'a> {
    bytes: &'a [u8],
    at: usize,
    /// `bytes[checked_from..checked_from + checked.len()]`, UTF-8.
    checked_from: usize,
    checked: &'a str,
}

/// The longest run of UTF-8 text of `bytes` from `from` on.
fn utf8_run(bytes: &[u8], from: usize) -> &str {
    let rest = &bytes[from..];
    match simdutf8::compat::from_utf8(rest) {
        Ok(text) => text,
        // The part before `valid_up_to` is UTF-8: never the default.
        Err(e) => simdutf8::basic::from_utf8(&rest[..e.valid_up_to()]).unwrap_or_default(),
    }
}

impl In<'_> {
    #[inline]
    fn byte(&mut self) -> Result<u8, Fault> {
        let b = *self.bytes.get(self.at).ok_or(Fault::Malformed)?;
        self.at += 1;
        Ok(b)
    }

    #[inline]
    fn varint(&mut self) -> Result<u64, Fault> {
        // Nearly every length and count is below 128: one byte.
        if let Some(&b) = self.bytes.get(self.at) {
            if b < 0x80 {
                self.at += 1;
                return Ok(u64::from(b));
            }
        }
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                // The tenth byte may hold one bit only.
                return if shift == 63 && b > 1 {
                    Err(Fault::Malformed)
                } else {
                    Ok(v)
                };
            }
        }
        Err(Fault::Malformed)
    }

    /// A length or count: no more than the bytes left, so a cut or forged
    /// length never makes a large allocation.
    #[inline]
    fn len(&mut self) -> Result<usize, Fault> {
        let n = self.varint()?;
        let left = (self.bytes.len() - self.at) as u64;
        if n > left {
            return Err(Fault::Malformed);
        }
        Ok(n as usize)
    }

    #[inline]
    fn text(&mut self) -> Result<Text, Fault> {
        let n = self.len()?;
        let (start, end) = (self.at, self.at + n);
        if start < self.checked_from || end > self.checked_from + self.checked.len() {
            self.checked = utf8_run(self.bytes, start);
            self.checked_from = start;
        }
        // A slice of UTF-8 text between two character boundaries is UTF-8;
        // `get` is `None` when an end is not a boundary (a length that cuts
        // a character) or past the run (text that is not UTF-8): malformed.
        let s = self
            .checked
            .get(start - self.checked_from..end - self.checked_from)
            .ok_or(Fault::Malformed)?;
        self.at += n;
        Ok(Text::from(s))
    }

    fn texts(&mut self) -> Result<Vec<Text>, Fault> {
        self.list(In::text)
    }

    fn list<T>(
        &mut self,
        mut one: impl FnMut(&mut Self) -> Result<T, Fault>,
    ) -> Result<Vec<T>, Fault> {
        // Every value takes at least one byte.
        let n = self.len()?;
        let mut list = Vec::with_capacity(n);
        for _ in 0..n {
            list.push(one(self)?);
        }
        Ok(list)
    }

    /// Reads tagged members up to [`END`], each tag greater than the one
    /// before.
    fn members(
        &mut self,
        mut member: impl FnMut(&mut Self, u8) -> Result<(), Fault>,
    ) -> Result<(), Fault> {
        let mut last = END;
        loop {
            let tag = self.byte()?;
            if tag == END {
                return Ok(());
            }
            if tag <= last {
                return Err(Fault::Malformed);
            }
            last = tag;
            member(self, tag)?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lead with every kind of member, and its bytes written out by hand
    /// from the format in the module's documentation.
    #[test]
    fn a_lead_packs_into_the_documented_bytes() {
        let lead = Lead {
            first_name: "Jo".into(),
            last_name: Default::default(),
            emails: Some(vec!["a@b".into()]),
            functions: Some(vec![]),
            languages: Some(vec![Language {
                language: Some("Fr".into()),
                level: None,
            }]),
            company: Some(Company {
                founded_year: Some(-2),
                ..Company::default()
            }),
            ..Lead::default()
        };
        let expected: &[u8] = &[
            1, // format
            1, 2, b'J', b'o', // firstName "Jo"
            2, 0, // lastName ""
            3, 1, 3, b'a', b'@', b'b', // emails ["a@b"]
            16, 0, // functions []
            20, 1, 1, 2, b'F', b'r', 0, // languages [{language: "Fr"}]
            23, 18, 3, 0, // company {foundedYear: -2 (zigzag 3)}
            0, // end
        ];
        assert_eq!(encode(&lead), expected);
        assert_eq!(decode(expected), Ok(lead));
    }

    #[test]
    fn a_long_text_takes_a_two_byte_length() {
        let lead = Lead {
            first_name: "x".repeat(200).into(),
            last_name: "y".into(),
            ..Lead::default()
        };
        let bytes = encode(&lead);
        // 200 = 0b1_1001000: 0xC8 then 0x01.
        assert_eq!(&bytes[..4], &[1, 1, 0xC8, 0x01]);
        assert_eq!(decode(&bytes), Ok(lead));
    }

    /// Texts are read from the document checked in runs of UTF-8: one run
    /// (the whole document), or several (a length of two bytes, a founded
    /// year, break the runs): all the same.
    #[test]
    fn texts_read_the_same_from_a_document_whole_or_not() {
        let short = Lead {
            first_name: "Zoë".into(),
            last_name: "Ångström".into(),
            city: Some("München".into()),
            ..Lead::default()
        };
        let bytes = encode(&short);
        assert!(std::str::from_utf8(&bytes).is_ok());
        assert_eq!(decode(&bytes), Ok(short));
        let long = Lead {
            first_name: "é".repeat(100).into(),
            last_name: "ü".into(),
            ..Lead::default()
        };
        let bytes = encode(&long);
        assert!(std::str::from_utf8(&bytes).is_err());
        assert_eq!(decode(&bytes), Ok(long));
        // Texts before and after a founded year of two bytes.
        let company = Lead {
            first_name: "Zoë".into(),
            last_name: "x".repeat(130).into(),
            company: Some(Company {
                city: Some("Zürich".into()),
                founded_year: Some(1990),
                summary: Some("Gründer, née à Besançon".into()),
                ..Company::default()
            }),
            ..Lead::default()
        };
        let bytes = encode(&company);
        assert!(std::str::from_utf8(&bytes).is_err());
        assert_eq!(decode(&bytes), Ok(company));
    }

    /// Text that is not UTF-8 after a run was broken by a number is
    /// refused.
    #[test]
    fn text_past_a_run_is_checked() {
        // company {foundedYear: 1990 (zigzag 3980: 0x8C 0x1F), summary: FF}
        let bytes: &[u8] = &[1, 1, 0, 2, 0, 23, 18, 0x8C, 0x1F, 19, 1, 0xFF, 0, 0];
        assert_eq!(decode(bytes), Err(Fault::Malformed));
        let good: &[u8] = &[1, 1, 0, 2, 0, 23, 18, 0x8C, 0x1F, 19, 1, b'a', 0, 0];
        let lead = decode(good).unwrap();
        let company = lead.company.unwrap();
        assert_eq!(company.founded_year, Some(1990));
        assert_eq!(company.summary.as_deref(), Some("a"));
    }

    /// A length that ends inside a character is refused, also when the
    /// document as a whole is UTF-8.
    #[test]
    fn a_length_that_cuts_a_character_is_refused() {
        // firstName: one byte of "é" (C3 A9); then A9 is read as a tag.
        let whole_utf8: &[u8] = &[1, 1, 1, 0xC3, 0xA9, 2, 0, 0];
        assert!(std::str::from_utf8(whole_utf8).is_ok());
        assert_eq!(decode(whole_utf8), Err(Fault::Malformed));
        // lastName: "é" then a length starting inside it.
        let cut_start: &[u8] = &[1, 1, 2, 0xC3, 0xA9, 2, 1, 0xA9, 0];
        assert_eq!(decode(cut_start), Err(Fault::Malformed));
    }

    #[test]
    fn names_must_be_present() {
        assert_eq!(decode(&[1, 1, 0, 0]), Err(Fault::MissingName));
        assert_eq!(decode(&[1, 2, 0, 0]), Err(Fault::MissingName));
        assert_eq!(decode(&[1, 0]), Err(Fault::MissingName));
    }

    #[test]
    fn malformed_documents_are_refused() {
        for bytes in [
            &[][..],
            &[2, 1, 0, 2, 0, 0],             // another format
            &[1, 1, 0, 2, 0],                // no end
            &[1, 1, 0, 2, 0, 0, 0],          // a byte after the end
            &[1, 2, 0, 1, 0, 0],             // out of order
            &[1, 1, 0, 1, 0, 0],             // twice
            &[1, 1, 0, 2, 0, 24, 0, 0],      // an unknown member
            &[1, 1, 5, b'a', 0],             // a length past the end
            &[1, 1, 2, 0xC3, 0x28, 2, 0, 0], // not UTF-8
            &[
                1, 3, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F,
            ], // a count past u64
            &[1, 20, 1, 3, 0, 0],            // a language member that does not exist
        ] {
            assert_eq!(decode(bytes), Err(Fault::Malformed), "{bytes:?}");
        }
    }

    #[test]
    fn founded_years_round_trip_at_the_extremes() {
        for year in [0, 1, -1, 1995, i64::MAX, i64::MIN] {
            let lead = Lead {
                company: Some(Company {
                    founded_year: Some(year),
                    ..Company::default()
                }),
                ..Lead::default()
            };
            assert_eq!(decode(&encode(&lead)), Ok(lead), "{year}");
        }
    }
}
