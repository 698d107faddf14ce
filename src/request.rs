//! The request body: raw JSON in, validated domain types out. Every failure
//! is a `VALIDATION_ERROR` whose message names the offending field.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::crm::Preset;
use crate::error::ExportError;
use crate::fields::FieldList;
use crate::filters::clip;
use crate::filters::{self, CompiledFilter};

/// Largest accepted request body (1 MiB); larger gets a 413.
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// Most ids `includedIds` or `excludedIds` may hold.
pub const MAX_IDS: usize = 10_000;
/// Largest bulk `targetCount`.
pub const MAX_TARGET_COUNT: usize = 1000;
/// Longest lead id, in bytes (a DynamoDB sort key holds at most 1024).
pub const MAX_ID_BYTES: usize = 1024;

/// A validated export request.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// Which leads.
    pub selection: Selection,
    /// Which columns, or `None` when ids were given and none is known (the
    /// documented `500 No valid export fields specified`).
    pub fields: Option<FieldList>,
    /// How the file is written (`format`).
    pub format: CsvFormat,
    /// `format.type`, `None` when the body does not say (then `Accept`
    /// decides, else CSV).
    pub file_type: Option<FileType>,
}

impl ExportRequest {
    /// The file type of this export: the body's `format.type` when it gives
    /// one (the body wins over `Accept`); otherwise XLSX when the client's
    /// `Accept` prefers it (`accept_prefers_xlsx`, see
    /// `export::negotiate::accepts_xlsx`); otherwise CSV. An XLSX export with
    /// a CSV-only option (`bom`, `delimiter`, `lineEnding`) set to a
    /// non-default value is a `VALIDATION_ERROR`.
    pub fn file_type(&self, accept_prefers_xlsx: bool) -> Result<FileType, ExportError> {
        let chosen = match self.file_type {
            Some(t) => t,
            None if accept_prefers_xlsx => FileType::Xlsx,
            None => FileType::Csv,
        };
        if chosen == FileType::Xlsx {
            if let Some(key) = self.format.csv_only_option() {
                return Err(ExportError::Validation(format!(
                    "format.{key}: applies to CSV only, and this export is xlsx"
                )));
            }
        }
        Ok(chosen)
    }
}

/// The file an export is written as: `format.type`, or the `Accept` header
/// when the body does not say (see [`ExportRequest::file_type`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// `"csv"` (the default): `text/csv`, written by `csv_export`.
    Csv,
    /// `"xlsx"`: an Excel workbook of text cells, written by `xlsx`.
    Xlsx,
}

impl FileType {
    /// The `format.type` value naming this type.
    pub fn name(self) -> &'static str {
        match self {
            FileType::Csv => "csv",
            FileType::Xlsx => "xlsx",
        }
    }
}

/// The CSV field separator (`format.delimiter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Delimiter {
    /// `","` (the default).
    #[default]
    Comma,
    /// `";"`, what Excel expects where the decimal separator is a comma.
    Semicolon,
    /// `"\t"` (tab-separated values).
    Tab,
}

impl Delimiter {
    /// The separator byte.
    pub fn byte(self) -> u8 {
        match self {
            Delimiter::Comma => b',',
            Delimiter::Semicolon => b';',
            Delimiter::Tab => b'\t',
        }
    }
}

/// The CSV record terminator (`format.lineEnding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LineEnding {
    /// `"\r\n"` (the default, RFC 4180).
    #[default]
    CrLf,
    /// `"\n"`.
    Lf,
}

/// The `format` object: options of the written file. Absent or `null` means
/// the defaults, which write today's CSV byte for byte. `bom`, `delimiter`
/// and `lineEnding` shape CSV text only; with an XLSX export a non-default
/// value of one of them is refused ([`ExportRequest::file_type`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvFormat {
    /// `escapeFormulas` (default `true`): cells a spreadsheet would run as a
    /// formula get a leading `'` (see `csv_export::escape_formula`). XLSX
    /// cells are text cells, never formulas: an XLSX export writes every
    /// cell as stored, whatever this says.
    pub escape_formulas: bool,
    /// `bom` (default `false`): the file starts with a UTF-8 byte order mark
    /// (`EF BB BF`), so Excel on Windows reads it as UTF-8.
    pub bom: bool,
    /// `delimiter` (default `","`).
    pub delimiter: Delimiter,
    /// `lineEnding` (default `"\r\n"`).
    pub line_ending: LineEnding,
}

impl Default for CsvFormat {
    fn default() -> Self {
        CsvFormat {
            escape_formulas: true,
            bom: false,
            delimiter: Delimiter::Comma,
            line_ending: LineEnding::CrLf,
        }
    }
}

impl CsvFormat {
    /// The first CSV-only option (`bom`, `delimiter`, `lineEnding`) set to
    /// something other than its default, as its `format.` key.
    pub fn csv_only_option(&self) -> Option<&'static str> {
        let d = CsvFormat::default();
        if self.bom != d.bom {
            Some("bom")
        } else if self.delimiter != d.delimiter {
            Some("delimiter")
        } else if self.line_ending != d.line_ending {
            Some("lineEnding")
        } else {
            None
        }
    }
}

/// Which leads to export.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Exactly these ids, in this order, each once.
    Manual {
        /// The ids, de-duplicated, in request order.
        ids: Vec<String>,
    },
    /// A range over the leads matching a filter, plus and minus explicit ids.
    Bulk(BulkSelection),
}

/// The bulk selection: `[start, start + count)` over the matching leads in
/// ascending id order, minus `excluded`, then `included` appended.
#[derive(Debug, Clone)]
pub struct BulkSelection {
    /// 0-based position of the first lead of the range.
    pub start: usize,
    /// Length of the range, 1..=1000 (an export job: up to its limit, or
    /// `usize::MAX` for the whole search).
    pub count: usize,
    /// The compiled People Search filter.
    pub filter: CompiledFilter,
    /// Ids removed from the range (no backfill); never added back by `included`.
    pub excluded: HashSet<String>,
    /// Ids added after the range, in order, each once.
    pub included: Vec<String>,
}

/// The limits a request is parsed with: the synchronous export's
/// ([`EXPORT_LIMITS`]) or an export job's (`crate::jobs::JOB_LIMITS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest bulk `targetCount`.
    pub max_target_count: usize,
    /// Whether a bulk `targetCount` may be left out, meaning every match
    /// from `startIndex` on (the whole search).
    pub whole_search: bool,
}

/// The synchronous export's limits: `targetCount` required, 1..=1000.
pub const EXPORT_LIMITS: Limits = Limits {
    max_target_count: MAX_TARGET_COUNT,
    whole_search: false,
};

/// Parses and validates a request body of the synchronous export.
pub fn parse(body: &[u8]) -> Result<ExportRequest, ExportError> {
    parse_with(body, &EXPORT_LIMITS)
}

/// Parses and validates a request body with `limits`: the same rules and
/// messages as [`parse`] but for the bulk `targetCount`.
pub fn parse_with(body: &[u8], limits: &Limits) -> Result<ExportRequest, ExportError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ExportError::PayloadTooLarge {
            limit: MAX_BODY_BYTES,
        });
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(invalid("request body is empty; expected a JSON object"));
    }
    let root: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("request body is not valid JSON: {e}")))?;
    let root = root
        .as_object()
        .ok_or_else(|| invalid("request body must be a JSON object"))?;
    let selection = match present(root, "selection") {
        None => return Err(invalid("selection is required")),
        Some(Value::Object(s)) => parse_selection(s, limits)?,
        Some(_) => return Err(invalid("selection must be an object")),
    };
    let fields = match present(root, "exportFields") {
        None => Some(FieldList::defaults()),
        Some(Value::Array(items)) => {
            let ids = items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str()
                        .ok_or_else(|| invalid(format!("exportFields[{i}] must be a string")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if ids.is_empty() {
                Some(FieldList::defaults())
            } else {
                FieldList::from_ids(ids)
            }
        }
        Some(_) => return Err(invalid("exportFields must be an array of strings")),
    };
    let (format, file_type, preset) = match present(root, "format") {
        None => (CsvFormat::default(), None, None),
        Some(Value::Object(f)) => parse_format(f)?,
        Some(_) => return Err(invalid("format must be an object")),
    };
    let fields = match (fields, preset) {
        (Some(fields), Some(preset)) => Some(preset.apply(fields).ok_or_else(|| {
            invalid(format!(
                "format.preset: \"{}\" has no column for any of the exported fields",
                preset.name()
            ))
        })?),
        (fields, _) => fields,
    };
    Ok(ExportRequest {
        selection,
        fields,
        format,
        file_type,
    })
}

/// The `format` object into its options; every key is optional, none may
/// be `null`, an unknown key or value is refused naming it.
fn parse_format(
    f: &Map<String, Value>,
) -> Result<(CsvFormat, Option<FileType>, Option<Preset>), ExportError> {
    let mut format = CsvFormat::default();
    let mut file_type = None;
    let mut preset = None;
    for (key, value) in f {
        match key.as_str() {
            "type" => {
                file_type = Some(one_of(
                    "type",
                    value,
                    &[("csv", FileType::Csv), ("xlsx", FileType::Xlsx)],
                )?);
            }
            "preset" => {
                let choices: Vec<(&str, Preset)> =
                    Preset::ALL.iter().map(|p| (p.name(), *p)).collect();
                preset = Some(one_of("preset", value, &choices)?);
            }
            "escapeFormulas" => format.escape_formulas = boolean("escapeFormulas", value)?,
            "bom" => format.bom = boolean("bom", value)?,
            "delimiter" => {
                format.delimiter = one_of(
                    "delimiter",
                    value,
                    &[
                        (",", Delimiter::Comma),
                        (";", Delimiter::Semicolon),
                        ("\t", Delimiter::Tab),
                    ],
                )?;
            }
            "lineEnding" => {
                format.line_ending = one_of(
                    "lineEnding",
                    value,
                    &[("\r\n", LineEnding::CrLf), ("\n", LineEnding::Lf)],
                )?;
            }
            _ => return Err(invalid(format!("format.{}: unknown key", clip(key)))),
        }
    }
    Ok((format, file_type, preset))
}

fn boolean(key: &str, value: &Value) -> Result<bool, ExportError> {
    value
        .as_bool()
        .ok_or_else(|| invalid(format!("format.{key}: expected true or false")))
}

/// The option `choices` names by `value`; anything else is refused with
/// the choices, as JSON strings (so a tab shows as `"\t"`), and what was
/// given when it is a string (cut with `clip`).
fn one_of<T: Copy>(key: &str, value: &Value, choices: &[(&str, T)]) -> Result<T, ExportError> {
    let given = value.as_str();
    if let Some(&(_, choice)) = choices.iter().find(|(name, _)| Some(*name) == given) {
        return Ok(choice);
    }
    let expected = choices
        .iter()
        .map(|(name, _)| Value::from(*name).to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let got = match given {
        Some(s) => Value::from(clip(s).into_owned()).to_string(),
        None => "a value that is not a string".to_string(),
    };
    Err(invalid(format!(
        "format.{key}: expected one of {expected}; got {got}"
    )))
}

fn parse_selection(s: &Map<String, Value>, limits: &Limits) -> Result<Selection, ExportError> {
    let included = id_list(s, "includedIds")?;
    let excluded = id_list(s, "excludedIds")?;
    match s.get("mode").and_then(Value::as_str) {
        Some("manual") => {
            let ids = included
                .ok_or_else(|| invalid("selection.includedIds is required for manual mode"))?;
            Ok(Selection::Manual {
                ids: dedup(ids, &HashSet::new()),
            })
        }
        Some("bulk") => {
            let start = match present(s, "startIndex") {
                None => 0,
                Some(v) => whole_number(v)
                    .ok_or_else(|| invalid("selection.startIndex must be an integer >= 0"))?,
            };
            let max = limits.max_target_count;
            let count = match present(s, "targetCount") {
                None if limits.whole_search => usize::MAX,
                None => return Err(invalid("selection.targetCount is required for bulk mode")),
                Some(v) => whole_number(v)
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| {
                        invalid(format!("selection.targetCount must be between 1 and {max}"))
                    })?,
            };
            let filter = match present(s, "filters") {
                None => {
                    return Err(invalid(
                        "selection.filters is required for bulk mode (use {} for all leads)",
                    ))
                }
                Some(v) => filters::compile(v).map_err(|e| invalid(e.to_string()))?,
            };
            let excluded: HashSet<String> = excluded.unwrap_or_default().into_iter().collect();
            let included = dedup(included.unwrap_or_default(), &excluded);
            Ok(Selection::Bulk(BulkSelection {
                start,
                count,
                filter,
                excluded,
                included,
            }))
        }
        _ => Err(invalid("Invalid selection mode")),
    }
}

/// A JSON number that is a whole number >= 0 and fits a `usize`: `324` and
/// also `324.0`, which JSON (and JSON Schema's `integer`) counts as the same
/// integer; `2.5`, `-1`, `"3"` and anything from 2^64 on are `None`.
fn whole_number(v: &Value) -> Option<usize> {
    let n = match v.as_u64() {
        Some(n) => n,
        None => {
            let x = v.as_f64()?;
            // 2^64 is exact as an f64; a whole f64 in [0, 2^64) fits a u64.
            if !(x.fract() == 0.0 && (0.0..18_446_744_073_709_551_616.0).contains(&x)) {
                return None;
            }
            x as u64
        }
    };
    usize::try_from(n).ok()
}

/// An optional list of lead ids; `null` counts as absent.
fn id_list(s: &Map<String, Value>, key: &str) -> Result<Option<Vec<String>>, ExportError> {
    let items = match present(s, key) {
        None => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(invalid(format!(
                "selection.{key} must be an array of strings"
            )))
        }
    };
    if items.len() > MAX_IDS {
        return Err(invalid(format!(
            "selection.{key} holds {} ids; at most {MAX_IDS} are allowed",
            items.len()
        )));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| match v.as_str() {
            Some(id) if !id.is_empty() && id.len() <= MAX_ID_BYTES => Ok(id.to_string()),
            Some(_) => Err(invalid(format!(
                "selection.{key}[{i}] must be a non-empty id of at most {MAX_ID_BYTES} bytes"
            ))),
            None => Err(invalid(format!("selection.{key}[{i}] must be a string"))),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Keeps the first occurrence of each id, in order, leaving out `skip`.
fn dedup(ids: Vec<String>, skip: &HashSet<String>) -> Vec<String> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.into_iter()
        .filter(|id| !skip.contains(id) && seen.insert(id.clone()))
        .collect()
}

/// The value of `key` unless it is absent or `null`.
fn present<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn invalid(message: impl Into<String>) -> ExportError {
    ExportError::Validation(message.into())
}
