//! Renders the filter push-down (`filters::Cond`) and projections as DynamoDB
//! expressions, with placeholder names and values throughout.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::filters::{Cond, SEARCH_VERSION, SEARCH_VERSION_ATTR};

/// DynamoDB refuses expressions over 4 KB; stay well below.
const MAX_EXPRESSION_CHARS: usize = 3_500;

/// DynamoDB refuses more than 2 MB of expression attribute names and values
/// together; stay well below.
const MAX_SUBSTITUTION_BYTES: usize = 1 << 20;

/// A rendered FilterExpression with its placeholders.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FilterExpr {
    /// The expression text.
    pub text: String,
    /// `ExpressionAttributeNames`.
    pub names: HashMap<String, String>,
    /// `ExpressionAttributeValues`.
    pub values: HashMap<String, AttributeValue>,
    /// Every conjunct was rendered (none left out for the limits): the text
    /// is equivalent to the condition for items with current search
    /// attributes.
    pub complete: bool,
}

/// Renders the push-down of a compiled filter, or `None` when nothing can be
/// pushed. Items written without the current search attributes always pass
/// (`NOT s_v = :current OR ...`), so the Rust predicate decides for them.
///
/// The top-level conjuncts are rendered once each, in order, and kept while
/// the text stays within [`MAX_EXPRESSION_CHARS`] and the placeholders within
/// [`MAX_SUBSTITUTION_BYTES`]; a conjunct that does not fit is left out (a
/// weaker filter lets more items through but never drops one). The work is
/// linear in the size of the condition.
pub fn render_filter(cond: &Cond) -> Option<FilterExpr> {
    let conjuncts = match cond.clone().simplify() {
        Cond::True => return None,
        Cond::And(parts) => parts,
        other => vec![other],
    };
    let mut r = Renderer::default();
    let version = r.name(SEARCH_VERSION_ATTR);
    let current = r.value(AttributeValue::N(SEARCH_VERSION.to_string()));
    let guard = format!("NOT {version} = {current} OR ");
    // Each kept conjunct is counted with the parentheses and the " AND " it
    // needs among several, so the text assembled at the end never exceeds
    // the limit, whether one or several are kept.
    let mut used = guard.len();
    let mut kept: Vec<(String, Prec)> = Vec::new();
    let mut complete = true;
    for conjunct in &conjuncts {
        let mark = r.mark();
        let room = MAX_EXPRESSION_CHARS.saturating_sub(used + " AND ".len() + 2);
        match r.render(conjunct, room) {
            Ok(None) => {}
            Ok(Some((text, prec))) if r.substitution_bytes <= MAX_SUBSTITUTION_BYTES => {
                used += text.len() + " AND ".len() + if prec < Prec::And { 2 } else { 0 };
                kept.push((text, prec));
            }
            Ok(Some(_)) | Err(TooLong) => {
                r.rollback(mark);
                complete = false;
            }
        }
    }
    let body = match kept.len() {
        0 => return None,
        1 => kept.pop().map(|(text, _)| text).unwrap_or_default(),
        _ => kept
            .into_iter()
            .map(|(text, prec)| wrap(text, prec, Prec::And))
            .collect::<Vec<_>>()
            .join(" AND "),
    };
    Some(FilterExpr {
        text: format!("{guard}{body}"),
        names: r.names.into_iter().collect(),
        values: r.values.into_iter().collect(),
        complete,
    })
}

/// A rendering that outgrew the room it was given.
#[derive(Debug)]
struct TooLong;

/// Placeholders in order of creation, so that a conjunct left out can be
/// taken back.
#[derive(Default)]
struct Renderer {
    names: Vec<(String, String)>,
    by_attr: HashMap<String, String>,
    values: Vec<(String, AttributeValue)>,
    substitution_bytes: usize,
}

/// How many placeholders existed at some point.
#[derive(Clone, Copy)]
struct Mark {
    names: usize,
    values: usize,
    substitution_bytes: usize,
}

impl Renderer {
    fn mark(&self) -> Mark {
        Mark {
            names: self.names.len(),
            values: self.values.len(),
            substitution_bytes: self.substitution_bytes,
        }
    }

    /// Forgets the placeholders created since `mark`.
    fn rollback(&mut self, mark: Mark) {
        for (_, attr) in self.names.drain(mark.names..) {
            self.by_attr.remove(&attr);
        }
        self.values.truncate(mark.values);
        self.substitution_bytes = mark.substitution_bytes;
    }

    fn name(&mut self, attr: &str) -> String {
        if let Some(p) = self.by_attr.get(attr) {
            return p.clone();
        }
        let placeholder = format!("#f{}", self.names.len());
        self.by_attr.insert(attr.to_string(), placeholder.clone());
        self.substitution_bytes += placeholder.len() + attr.len();
        self.names.push((placeholder.clone(), attr.to_string()));
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":f{}", self.values.len());
        let size = match &value {
            AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
            _ => 0,
        };
        self.substitution_bytes += placeholder.len() + size;
        self.values.push((placeholder.clone(), value));
        placeholder
    }

    /// `Ok(None)` means "always true" (and leaves no placeholder behind);
    /// `Err(TooLong)` that the text would exceed `room` characters (rendering
    /// stops there). The text has parentheses only where precedence needs
    /// them: DynamoDB refuses redundant ones.
    fn render(&mut self, cond: &Cond, room: usize) -> Result<Option<(String, Prec)>, TooLong> {
        let mark = self.mark();
        let rendered = self.render_unchecked(cond, room);
        if let Ok(None) = rendered {
            // DynamoDB refuses placeholders the expression does not use.
            self.rollback(mark);
        }
        rendered
    }

    fn render_unchecked(
        &mut self,
        cond: &Cond,
        room: usize,
    ) -> Result<Option<(String, Prec)>, TooLong> {
        let rendered = match cond {
            Cond::True => return Ok(None),
            Cond::And(parts) => {
                let mut texts = Vec::with_capacity(parts.len());
                let mut len = 0;
                for part in parts {
                    if let Some(r) = self.render(part, room)? {
                        // A lower bound of the final length (parentheses aside).
                        len += r.0.len() + " AND ".len();
                        if len > room + " AND ".len() {
                            return Err(TooLong);
                        }
                        texts.push(r);
                    }
                }
                if texts.len() <= 1 {
                    return Ok(texts.pop());
                }
                let texts: Vec<String> = texts
                    .into_iter()
                    .map(|(text, prec)| wrap(text, prec, Prec::And))
                    .collect();
                (texts.join(" AND "), Prec::And)
            }
            Cond::Or(parts) => {
                if parts.is_empty() {
                    return Ok(Some((self.always_false(), Prec::Atom)));
                }
                let mut texts = Vec::with_capacity(parts.len());
                let mut len = 0;
                for part in parts {
                    let Some((text, prec)) = self.render(part, room)? else {
                        return Ok(None);
                    };
                    let text = wrap(text, prec, Prec::Or);
                    len += text.len() + " OR ".len();
                    if len > room + " OR ".len() {
                        return Err(TooLong);
                    }
                    texts.push(text);
                }
                if texts.len() == 1 {
                    return Ok(texts.pop().map(|t| (t, Prec::Or)));
                }
                (texts.join(" OR "), Prec::Or)
            }
            Cond::Not(inner) => match self.render(inner, room)? {
                None => (self.always_false(), Prec::Atom),
                Some((text, prec)) => (format!("NOT {}", wrap(text, prec, Prec::Not)), Prec::Not),
            },
            Cond::Contains { attr, value } => {
                let n = self.name(attr);
                let v = self.value(AttributeValue::S(value.clone()));
                (format!("contains({n}, {v})"), Prec::Atom)
            }
            Cond::EqStr { attr, value } => {
                let n = self.name(attr);
                let v = self.value(AttributeValue::S(value.clone()));
                (format!("{n} = {v}"), Prec::Atom)
            }
            Cond::Le { attr, value } => {
                let n = self.name(attr);
                let v = self.value(AttributeValue::N(number(*value)));
                (format!("{n} <= {v}"), Prec::Atom)
            }
            Cond::Ge { attr, value } => {
                let n = self.name(attr);
                let v = self.value(AttributeValue::N(number(*value)));
                (format!("{n} >= {v}"), Prec::Atom)
            }
            Cond::Exists(attr) => (format!("attribute_exists({})", self.name(attr)), Prec::Atom),
            Cond::NotExists(attr) => (
                format!("attribute_not_exists({})", self.name(attr)),
                Prec::Atom,
            ),
        };
        if rendered.0.len() > room {
            return Err(TooLong);
        }
        Ok(Some(rendered))
    }

    /// The sort key exists on every item, so this is false for all of them.
    fn always_false(&mut self) -> String {
        format!("attribute_not_exists({})", self.name("leadId"))
    }
}

/// Binding strength in a condition expression, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Prec {
    Or,
    And,
    Not,
    Atom,
}

/// `text` as an operand of an operator of strength `outer`.
fn wrap(text: String, prec: Prec, outer: Prec) -> String {
    if prec < outer {
        format!("({text})")
    } else {
        text
    }
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        format!("{value}")
    }
}

/// A ProjectionExpression over `attributes` plus the key attributes.
pub fn projection<'a>(
    attributes: impl IntoIterator<Item = &'a str>,
) -> (String, HashMap<String, String>) {
    let mut names = HashMap::new();
    let mut parts = Vec::new();
    for (i, attr) in ["orgId", "leadId"]
        .into_iter()
        .chain(attributes)
        .enumerate()
    {
        if names.values().any(|a: &String| a == attr) {
            continue;
        }
        let placeholder = format!("#p{i}");
        parts.push(placeholder.clone());
        names.insert(placeholder, attr.to_string());
    }
    (parts.join(", "), names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contains(attr: &str, value: &str) -> Cond {
        Cond::Contains {
            attr: attr.into(),
            value: value.into(),
        }
    }

    #[test]
    fn true_renders_nothing() {
        assert_eq!(render_filter(&Cond::True), None);
        assert_eq!(render_filter(&Cond::And(vec![Cond::True])), None);
    }

    #[test]
    fn renders_with_placeholders_and_the_version_guard() {
        let cond = Cond::And(vec![
            Cond::Or(vec![
                contains("s_loc", "berlin"),
                contains("s_loc", "paris"),
            ]),
            Cond::Not(Box::new(Cond::EqStr {
                attr: "s_sen".into(),
                value: "vp".into(),
            })),
            Cond::Ge {
                attr: "s_hc_lo".into(),
                value: 51.0,
            },
        ]);
        let r = render_filter(&cond).unwrap();
        assert_eq!(
            r.text,
            "NOT #f0 = :f0 OR (contains(#f1, :f1) OR contains(#f1, :f2)) AND NOT #f2 = :f3 AND #f3 >= :f4"
        );
        assert!(r.complete);
        assert_eq!(r.names["#f0"], "s_v");
        assert_eq!(r.names["#f1"], "s_loc");
        assert_eq!(r.values[":f4"], AttributeValue::N("51".into()));
        assert_eq!(
            r.values[":f0"],
            AttributeValue::N(SEARCH_VERSION.to_string())
        );
    }

    #[test]
    fn parentheses_only_where_precedence_needs_them() {
        let a = || contains("s_a", "x");
        let b = || contains("s_b", "y");
        let c = || contains("s_c", "z");
        let text = |cond: Cond| render_filter(&cond).unwrap().text;
        assert_eq!(
            text(Cond::Not(Box::new(Cond::Or(vec![a(), b()])))),
            "NOT #f0 = :f0 OR NOT (contains(#f1, :f1) OR contains(#f2, :f2))"
        );
        assert_eq!(
            text(Cond::Or(vec![Cond::And(vec![a(), b()]), c()])),
            "NOT #f0 = :f0 OR contains(#f1, :f1) AND contains(#f2, :f2) OR contains(#f3, :f3)"
        );
        assert_eq!(
            text(Cond::Not(Box::new(Cond::And(vec![
                a(),
                Cond::Not(Box::new(b()))
            ])))),
            "NOT #f0 = :f0 OR NOT (contains(#f1, :f1) AND NOT contains(#f2, :f2))"
        );
        assert_eq!(
            text(Cond::Or(vec![])),
            "NOT #f0 = :f0 OR attribute_not_exists(#f1)"
        );
        for t in [
            text(Cond::Not(Box::new(Cond::Or(vec![a(), b()])))),
            text(Cond::And(vec![Cond::Or(vec![a(), b()]), c()])),
        ] {
            assert!(!t.contains("(("), "{t}");
        }
    }

    #[test]
    fn too_long_drops_trailing_conjuncts_only() {
        let many: Vec<Cond> = (0..400)
            .map(|i| contains("s_skill", &format!("skill-{i}")))
            .collect();
        let r = render_filter(&Cond::And(many)).unwrap();
        assert!(r.text.len() <= MAX_EXPRESSION_CHARS);
        assert!(r.text.contains("AND"));
        assert!(!r.complete, "conjuncts were left out");
        let big_or = Cond::Or(
            (0..400)
                .map(|i| contains("s_skill", &format!("skill-{i}")))
                .collect(),
        );
        assert_eq!(
            render_filter(&big_or),
            None,
            "an OR cannot be weakened by cutting"
        );
    }

    /// Every placeholder of the text is defined, and every definition used
    /// (DynamoDB refuses both kinds of mismatch).
    fn assert_placeholders_match(r: &FilterExpr) {
        let used: std::collections::BTreeSet<&str> = r
            .text
            .split(|c: char| !(c.is_alphanumeric() || c == '#' || c == ':'))
            .filter(|t| t.starts_with('#') || t.starts_with(':'))
            .collect();
        let defined: std::collections::BTreeSet<&str> = r
            .names
            .keys()
            .chain(r.values.keys())
            .map(String::as_str)
            .collect();
        assert_eq!(used, defined, "{}", r.text);
    }

    #[test]
    fn eight_thousand_conjuncts_render_once_within_the_limit() {
        let many: Vec<Cond> = (0..8_000)
            .map(|i| contains("s_sk", &format!("skill-{i}")))
            .collect();
        let r = render_filter(&Cond::And(many)).unwrap();
        assert!(r.text.len() <= MAX_EXPRESSION_CHARS, "{}", r.text.len());
        assert!(
            r.text.len() > MAX_EXPRESSION_CHARS - 40,
            "filled: {}",
            r.text.len()
        );
        assert!(r.text.contains("contains(#f1, :f1) AND contains(#f1, :f2)"));
        assert_placeholders_match(&r);
    }

    #[test]
    fn a_conjunct_left_out_leaves_no_placeholder_and_later_ones_still_fit() {
        let big_or = Cond::Or(
            (0..400)
                .map(|i| contains("s_big", &format!("skill-{i}")))
                .collect(),
        );
        let cond = Cond::And(vec![
            contains("s_a", "x"),
            big_or,
            Cond::Or(vec![contains("s_b", "y"), contains("s_c", "z")]),
        ]);
        let r = render_filter(&cond).unwrap();
        assert_eq!(
            r.text,
            "NOT #f0 = :f0 OR contains(#f1, :f1) AND (contains(#f2, :f2) OR contains(#f3, :f3))"
        );
        assert_eq!(r.names.len(), 4);
        assert_eq!(r.values.len(), 4);
        assert!(!r.complete);
        assert_placeholders_match(&r);
    }

    #[test]
    fn substituted_values_stay_within_dynamodbs_total() {
        let huge = |attr: &str, c: &str| contains(attr, &c.repeat(600_000));
        let cond = Cond::And(vec![
            huge("s_a", "a"),
            huge("s_b", "b"),
            contains("s_c", "c"),
        ]);
        let r = render_filter(&cond).unwrap();
        assert_eq!(
            r.text,
            "NOT #f0 = :f0 OR contains(#f1, :f1) AND contains(#f2, :f2)"
        );
        assert_eq!(r.names["#f2"], "s_c");
        let bytes: usize = r
            .values
            .values()
            .map(|v| match v {
                AttributeValue::S(s) | AttributeValue::N(s) => s.len(),
                _ => 0,
            })
            .sum();
        assert!(bytes <= MAX_SUBSTITUTION_BYTES, "{bytes}");
    }

    #[test]
    fn the_largest_legal_filter_renders_within_4_kb() {
        let filter = crate::filters::compile(&crate::filters::largest_legal_filter())
            .expect("the largest legal filter is legal");
        let r = render_filter(&filter.pushdown()).expect("something is pushed");
        assert!(r.text.len() <= 4096, "{}", r.text.len());
        assert!(r.text.len() <= MAX_EXPRESSION_CHARS);
        assert_placeholders_match(&r);
        for value in r.values.values() {
            if let AttributeValue::S(s) = value {
                // A `STRICT` term is looked up between two U+001F.
                let term = s
                    .strip_prefix('\u{1f}')
                    .and_then(|t| t.strip_suffix('\u{1f}'));
                let term = term.unwrap_or(s);
                assert!(!term.is_empty() && term.chars().count() <= crate::filters::MAX_TERM_CHARS);
            }
        }
    }

    #[test]
    fn numbers_are_plain_decimals() {
        assert_eq!(number(51.0), "51");
        assert_eq!(number(-1e15), "-1000000000000000");
        assert_eq!(number(1e15), "1000000000000000");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(-0.0), "0");
    }

    #[test]
    fn projection_always_has_the_keys_once() {
        let (text, names) = projection(["company", "leadId", "firstName"]);
        assert_eq!(text, "#p0, #p1, #p2, #p4");
        assert_eq!(names.len(), 4);
        assert_eq!(names["#p2"], "company");
    }
}
