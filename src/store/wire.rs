//! Items of the current layout read straight from a DynamoDB response body.
//!
//! The SDK reads every item of a Query or BatchGetItem response into a map
//! of attribute names to values: a `String` per name and per value, a hash
//! per name, the document decoded into a `Blob`, then the store drains that
//! map. On a bulk export that was about a fifth of the server's CPU
//! (docs/performance.md, "Where an export's CPU goes"). An item of the
//! current layout holds only the attributes the store reads (`orgId`,
//! `leadId`, `s_v`, `d`), so a response whose items all look like that is
//! read here, in one pass over its bytes, into [`WireItem`]s: the lead id,
//! the search version and the decoded document.
//!
//! Anything else goes to the SDK's own deserializer, unchanged: an error
//! response, an item holding another attribute or another type (the
//! earlier layouts), an item of another organization (the store's owner
//! check then fails the read, as before), a string with an escape where
//! none is expected, `UnprocessedKeys`, a body that is not JSON. This
//! reader never guesses: it either reads the whole response as the SDK
//! would, or declines it.
//!
//! [`Capture`] puts the reader in front of the SDK's deserializer for one
//! request (an interceptor that replaces the operation's response
//! deserializer before the request is sent) and hands what it read back to
//! the caller.

use std::borrow::Cow;
use std::sync::{Arc, Mutex, OnceLock};

use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents, RuntimePlugin};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{Error, Output};
use aws_smithy_runtime_api::client::orchestrator::{HttpResponse, OrchestratorError};
use aws_smithy_runtime_api::client::ser_de::{DeserializeResponse, SharedResponseDeserializer};
use aws_smithy_types::config_bag::FrozenLayer;

/// Nesting this reader follows when it skips a member it does not read
/// (`ConsumedCapacity` is three levels deep); deeper, it declines.
const MAX_SKIP_DEPTH: usize = 16;

/// One item of the current layout, as read from the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireItem {
    /// `leadId`.
    pub lead_id: String,
    /// `s_v`, when projected.
    pub version: Option<i64>,
    /// `d`, base64-decoded, when projected.
    pub doc: Option<Vec<u8>>,
}

/// A Query response read by [`read_query`].
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WirePage {
    /// `Items`.
    pub items: Vec<WireItem>,
    /// `Count`.
    pub count: i32,
    /// `ScannedCount`.
    pub scanned_count: i32,
    /// The `leadId` of `LastEvaluatedKey` (its `orgId` is the caller's).
    pub last_key: Option<String>,
}

/// A Query response body, when every item is of the current layout and of
/// `org`; `None` declines it (see the module's documentation).
pub fn read_query(body: &[u8], org: &str) -> Option<WirePage> {
    let mut json = Json::new(body);
    let mut page = WirePage::default();
    json.object(|json, name| match name {
        b"Items" => {
            // DynamoDB writes `Count` first: the items' room is known.
            page.items.reserve(usize::try_from(page.count).unwrap_or(0));
            json.array(|json| {
                page.items.push(item(json, org)?);
                Some(())
            })
        }
        b"Count" => {
            page.count = i32::try_from(json.integer()?).ok()?;
            Some(())
        }
        b"ScannedCount" => {
            page.scanned_count = i32::try_from(json.integer()?).ok()?;
            Some(())
        }
        b"LastEvaluatedKey" => {
            page.last_key = Some(last_key(json, org)?);
            Some(())
        }
        _ => json.skip_value(0),
    })?;
    json.end()?;
    Some(page)
}

/// The items of `table` in a BatchGetItem response body, when every item is
/// of the current layout and of `org` and no key is left unprocessed;
/// `None` declines it.
pub fn read_batch_get(body: &[u8], org: &str, table: &str) -> Option<Vec<WireItem>> {
    let mut json = Json::new(body);
    let mut items = Vec::new();
    json.object(|json, name| match name {
        b"Responses" => json.object(|json, name| {
            if name == table.as_bytes() {
                json.array(|json| {
                    items.push(item(json, org)?);
                    Some(())
                })
            } else {
                json.skip_value(0)
            }
        }),
        // Only an empty one: unprocessed keys are the SDK's to read.
        b"UnprocessedKeys" => json.object(|_, _| None),
        _ => json.skip_value(0),
    })?;
    json.end()?;
    Some(items)
}

/// An item holding only `orgId` (equal to `org`), `leadId`, and optionally
/// `s_v` and `d`, each of the type the current layout writes.
fn item(json: &mut Json<'_>, org: &str) -> Option<WireItem> {
    let mut owner = false;
    let mut lead_id = None;
    let mut version = None;
    let mut doc = None;
    json.object(|json, name| {
        match name {
            b"orgId" => owner = json.typed_text(b"S")? == org,
            b"leadId" => lead_id = Some(json.typed_text(b"S")?.into_owned()),
            b"s_v" => version = Some(json.typed_text(b"N")?.parse::<i64>().ok()?),
            b"d" => {
                let (raw, escaped) = json.typed_raw(b"B")?;
                if escaped {
                    return None;
                }
                doc = Some(base64_simd::STANDARD.decode_to_vec(raw).ok()?);
            }
            _ => return None,
        }
        Some(())
    })?;
    owner.then_some(())?;
    Some(WireItem {
        lead_id: lead_id?,
        version,
        doc,
    })
}

/// The `leadId` of a `LastEvaluatedKey` holding the table's two keys, its
/// `orgId` equal to `org`.
fn last_key(json: &mut Json<'_>, org: &str) -> Option<String> {
    let mut owner = false;
    let mut lead_id = None;
    json.object(|json, name| {
        match name {
            b"orgId" => owner = json.typed_text(b"S")? == org,
            b"leadId" => lead_id = Some(json.typed_text(b"S")?.into_owned()),
            _ => return None,
        }
        Some(())
    })?;
    owner.then_some(())?;
    lead_id
}

/// A cursor over JSON text, reading only what a DynamoDB response holds.
/// Every reader returns `None` on anything it does not expect.
struct Json<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Json<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Json { bytes, at: 0 }
    }

    /// The next byte after white space, not consumed.
    fn peek(&mut self) -> Option<u8> {
        while let Some(&b) = self.bytes.get(self.at) {
            if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                return Some(b);
            }
            self.at += 1;
        }
        None
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.at += 1)
    }

    /// Only white space is left.
    fn end(&mut self) -> Option<()> {
        self.peek().is_none().then_some(())
    }

    /// A string's bytes between its quotes, and whether it holds an escape
    /// (its bytes are then the escaped text).
    fn raw_string(&mut self) -> Option<(&'a [u8], bool)> {
        self.eat(b'"')?;
        let start = self.at;
        let mut escaped = false;
        loop {
            let rest = self.bytes.get(self.at..)?;
            let i = self.at + memchr::memchr2(b'"', b'\\', rest)?;
            if self.bytes[i] == b'"' {
                self.at = i + 1;
                return Some((&self.bytes[start..i], escaped));
            }
            // The escaped character is never the closing quote.
            escaped = true;
            self.at = i + 2;
        }
    }

    /// A string's text, unescaped.
    fn text(&mut self) -> Option<Cow<'a, str>> {
        let before = self.at;
        let (raw, escaped) = self.raw_string()?;
        if escaped {
            // Rare in a lead id: serde_json reads the escapes.
            let quoted = &self.bytes[before..self.at];
            let quoted = &quoted[quoted.iter().position(|&b| b == b'"')?..];
            serde_json::from_slice::<String>(quoted)
                .ok()
                .map(Cow::Owned)
        } else {
            simdutf8::basic::from_utf8(raw).ok().map(Cow::Borrowed)
        }
    }

    /// A member name (without escapes) and its colon.
    fn name(&mut self) -> Option<&'a [u8]> {
        let (raw, escaped) = self.raw_string()?;
        if escaped {
            return None;
        }
        self.eat(b':')?;
        Some(raw)
    }

    /// The members of an object, each handed to `member` with its name
    /// (which must read the value).
    fn object(&mut self, mut member: impl FnMut(&mut Self, &'a [u8]) -> Option<()>) -> Option<()> {
        self.between(b'{', b'}', |json| {
            let name = json.name()?;
            member(json, name)
        })
    }

    /// The elements of an array, each read by `element`.
    fn array(&mut self, element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.between(b'[', b']', element)
    }

    /// What `open` and `close` hold, comma-separated, each read by `each`.
    fn between(
        &mut self,
        open: u8,
        close: u8,
        mut each: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        self.eat(open)?;
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            each(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b if b == close => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// An attribute value of one type, `{"<kind>": <string>}`: its string,
    /// as `read` reads it.
    fn typed<T>(&mut self, kind: &[u8], read: impl FnOnce(&mut Self) -> Option<T>) -> Option<T> {
        self.eat(b'{')?;
        (self.name()? == kind).then_some(())?;
        let value = read(self)?;
        self.eat(b'}')?;
        Some(value)
    }

    /// [`Json::typed`]: the raw string.
    fn typed_raw(&mut self, kind: &[u8]) -> Option<(&'a [u8], bool)> {
        self.typed(kind, Self::raw_string)
    }

    /// [`Json::typed`]: the text, unescaped.
    fn typed_text(&mut self, kind: &[u8]) -> Option<Cow<'a, str>> {
        self.typed(kind, Self::text)
    }

    /// A non-negative integer without fraction or exponent.
    fn integer(&mut self) -> Option<i64> {
        self.peek()?;
        let start = self.at;
        while self.bytes.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        if matches!(self.bytes.get(self.at), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        std::str::from_utf8(&self.bytes[start..self.at])
            .ok()?
            .parse()
            .ok()
    }

    /// Any value, not read.
    fn skip_value(&mut self, depth: usize) -> Option<()> {
        if depth > MAX_SKIP_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => self.raw_string().map(drop),
            b'{' => self.object(|json, _| json.skip_value(depth + 1)),
            b'[' => self.array(|json| json.skip_value(depth + 1)),
            _ => {
                let start = self.at;
                while self
                    .bytes
                    .get(self.at)
                    .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.'))
                {
                    self.at += 1;
                }
                (self.at > start).then_some(())
            }
        }
    }
}

/// What [`Capture`] read from the response of its request.
#[derive(Debug)]
pub enum Read {
    /// A Query page.
    Query(WirePage),
    /// The items of a BatchGetItem.
    BatchGet(Vec<WireItem>),
}

/// The operation a [`Capture`] reads.
#[derive(Debug, Clone)]
enum Operation {
    Query,
    BatchGet { table: Arc<str> },
}

/// Reads the response of one request ([`read_query`],
/// [`read_batch_get`]) in place of the SDK, when it can: added to the
/// request as an interceptor, taken with [`Capture::take`] once it is sent.
/// When it is `None`, the SDK read the response, and its output holds the
/// items.
#[derive(Debug, Clone)]
pub struct Capture {
    org: Arc<str>,
    operation: Operation,
    read: Arc<Mutex<Option<Read>>>,
}

impl Capture {
    /// For a Query of `org`'s partition.
    pub fn query(org: &str) -> Self {
        Capture {
            org: org.into(),
            operation: Operation::Query,
            read: Arc::default(),
        }
    }

    /// For a BatchGetItem of `org`'s keys in `table`.
    pub fn batch_get(org: &str, table: &str) -> Self {
        Capture {
            org: org.into(),
            operation: Operation::BatchGet {
                table: table.into(),
            },
            read: Arc::default(),
        }
    }

    /// What this reader read from the last response (the one whose output
    /// the request returned).
    pub fn take(&self) -> Option<Read> {
        self.read.lock().expect("lock poisoned").take()
    }
}

impl Intercept for Capture {
    fn name(&self) -> &'static str {
        "wire::Capture"
    }

    // Once per request, before the retry loop: the deserializer the
    // orchestrator loads after each attempt is this one.
    fn modify_before_serialization(
        &self,
        _: &mut aws_sdk_dynamodb::config::interceptors::BeforeSerializationInterceptorContextMut<
            '_,
        >,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(SharedResponseDeserializer::new(Deserializer {
                capture: self.clone(),
            }));
        Ok(())
    }
}

/// The operation's own layer of the SDK (its serializer, deserializer and
/// signing settings), built once: the SDK's deserializer is taken from it.
fn sdk_layer(operation: &Operation) -> &'static FrozenLayer {
    static QUERY: OnceLock<FrozenLayer> = OnceLock::new();
    static BATCH_GET: OnceLock<FrozenLayer> = OnceLock::new();
    match operation {
        Operation::Query => QUERY.get_or_init(|| {
            aws_sdk_dynamodb::operation::query::Query::new()
                .config()
                .expect("the Query operation has a config layer")
        }),
        Operation::BatchGet { .. } => BATCH_GET.get_or_init(|| {
            aws_sdk_dynamodb::operation::batch_get_item::BatchGetItem::new()
                .config()
                .expect("the BatchGetItem operation has a config layer")
        }),
    }
}

#[derive(Debug)]
struct Deserializer {
    capture: Capture,
}

impl DeserializeResponse for Deserializer {
    fn deserialize_nonstreaming_with_config(
        &self,
        response: &HttpResponse,
        cfg: &ConfigBag,
    ) -> Result<Output, OrchestratorError<Error>> {
        let capture = &self.capture;
        // What an earlier attempt read is not this response's.
        capture.take();
        let body = response
            .body()
            .bytes()
            .filter(|_| response.status().is_success());
        if let Some(body) = body {
            let read = match &capture.operation {
                Operation::Query => read_query(body, &capture.org).map(|page| {
                    let output = aws_sdk_dynamodb::operation::query::QueryOutput::builder()
                        .count(page.count)
                        .scanned_count(page.scanned_count)
                        .build();
                    (Output::erase(output), Read::Query(page))
                }),
                Operation::BatchGet { table } => read_batch_get(body, &capture.org, table).map(
                    |items| {
                        let output =
                            aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput::builder()
                                .build();
                        (Output::erase(output), Read::BatchGet(items))
                    },
                ),
            };
            if let Some((output, read)) = read {
                *capture.read.lock().expect("lock poisoned") = Some(read);
                return Ok(output);
            }
        }
        sdk_layer(&capture.operation)
            .load::<SharedResponseDeserializer>()
            .expect("the SDK's operation layer holds its deserializer")
            .deserialize_nonstreaming_with_config(response, cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "org-1";

    fn b64(bytes: &[u8]) -> String {
        base64_simd::STANDARD.encode_to_string(bytes)
    }

    #[test]
    fn a_query_page_of_the_current_layout_is_read() {
        let body = format!(
            r#"{{"Count":2,"Items":[
                {{"orgId":{{"S":"org-1"}},"leadId":{{"S":"a"}},"s_v":{{"N":"2"}},"d":{{"B":"{}"}}}},
                {{"leadId":{{"S":"b\"c"}},"orgId":{{"S":"org-1"}},"s_v":{{"N":"1"}}}}
            ],"ScannedCount":7,"LastEvaluatedKey":{{"orgId":{{"S":"org-1"}},"leadId":{{"S":"b\"c"}}}},
            "ConsumedCapacity":{{"TableName":"leads","CapacityUnits":1.5,"Table":{{"CapacityUnits":1.5}}}}}}"#,
            b64(b"\x01\x02doc")
        );
        let page = read_query(body.as_bytes(), ORG).expect("read");
        assert_eq!(
            page,
            WirePage {
                items: vec![
                    WireItem {
                        lead_id: "a".into(),
                        version: Some(2),
                        doc: Some(b"\x01\x02doc".to_vec()),
                    },
                    WireItem {
                        lead_id: "b\"c".into(),
                        version: Some(1),
                        doc: None,
                    },
                ],
                count: 2,
                scanned_count: 7,
                last_key: Some("b\"c".into()),
            }
        );
    }

    #[test]
    fn an_empty_page_is_read() {
        let page = read_query(br#"{"Count":0,"Items":[],"ScannedCount":0}"#, ORG).expect("read");
        assert_eq!(page, WirePage::default());
    }

    #[test]
    fn anything_else_is_declined() {
        let item = |attrs: &str| format!(r#"{{"Count":1,"Items":[{{{attrs}}}],"ScannedCount":1}}"#);
        let declined = [
            // Another attribute: an earlier layout.
            item(r#""orgId":{"S":"org-1"},"leadId":{"S":"a"},"doc":{"S":"{}"}"#),
            // The document as a string: the layout before the packed one.
            item(r#""orgId":{"S":"org-1"},"leadId":{"S":"a"},"d":{"S":"{}"}"#),
            // Another organization, or none.
            item(r#""orgId":{"S":"org-2"},"leadId":{"S":"a"}"#),
            item(r#""leadId":{"S":"a"}"#),
            // No lead id, or one of another type.
            item(r#""orgId":{"S":"org-1"}"#),
            item(r#""orgId":{"S":"org-1"},"leadId":{"N":"1"}"#),
            // A version that is no integer.
            item(r#""orgId":{"S":"org-1"},"leadId":{"S":"a"},"s_v":{"N":"2.5"}"#),
            // A value of two types, or a document that is not base64.
            item(r#""orgId":{"S":"org-1"},"leadId":{"S":"a","N":"1"}"#),
            item(r#""orgId":{"S":"org-1"},"leadId":{"S":"a"},"d":{"B":"@@@"}"#),
            // A key of the next page of another organization.
            r#"{"Count":0,"Items":[],"ScannedCount":0,"LastEvaluatedKey":{"orgId":{"S":"org-2"},"leadId":{"S":"a"}}}"#.into(),
            // Not JSON, or not all of it.
            r#"{"Count":0,"Items":[]"#.into(),
            r#"{"Count":0} {}"#.into(),
            r#"{"Count":-1}"#.into(),
            "<html>".into(),
            String::new(),
        ];
        for body in declined {
            assert_eq!(read_query(body.as_bytes(), ORG), None, "{body}");
        }
    }

    #[test]
    fn deep_nesting_is_declined_not_followed() {
        let body = format!(
            r#"{{"Other":{}1{}}}"#,
            "[".repeat(10_000),
            "]".repeat(10_000)
        );
        assert_eq!(read_query(body.as_bytes(), ORG), None);
    }

    #[test]
    fn a_batch_get_of_the_current_layout_is_read() {
        let body = format!(
            r#"{{"Responses":{{"leads":[{{"orgId":{{"S":"org-1"}},"leadId":{{"S":"a"}},"d":{{"B":"{}"}}}}]}},"UnprocessedKeys":{{}}}}"#,
            b64(b"x")
        );
        assert_eq!(
            read_batch_get(body.as_bytes(), ORG, "leads"),
            Some(vec![WireItem {
                lead_id: "a".into(),
                version: None,
                doc: Some(b"x".to_vec()),
            }])
        );
        // Another table's items are not this read's.
        assert_eq!(read_batch_get(body.as_bytes(), ORG, "other"), Some(vec![]));
    }

    #[test]
    fn a_batch_get_with_unprocessed_keys_is_declined() {
        let body = r#"{"Responses":{"leads":[]},"UnprocessedKeys":{"leads":{"Keys":[{"orgId":{"S":"org-1"},"leadId":{"S":"a"}}]}}}"#;
        assert_eq!(read_batch_get(body.as_bytes(), ORG, "leads"), None);
    }

    #[test]
    fn non_ascii_and_escaped_texts_are_read() {
        let body = r#"{"Count":2,"Items":[{"orgId":{"S":"org-1"},"leadId":{"S":"zoë"}},{"orgId":{"S":"org-1"},"leadId":{"S":"zo\u00eb\\"}}],"ScannedCount":2}"#;
        let page = read_query(body.as_bytes(), ORG).expect("read");
        let ids: Vec<&str> = page.items.iter().map(|i| i.lead_id.as_str()).collect();
        assert_eq!(ids, ["zoë", "zoë\\"]);
    }
}
