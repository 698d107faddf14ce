//! Renders the filter push-down (`filters::Cond`) and projections as DynamoDB
//! expressions, with placeholder names and values throughout.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use crate::filters::{Cond, SEARCH_VERSION, SEARCH_VERSION_ATTR};

/// DynamoDB refuses expressions over 4 KB; stay well below.
const MAX_EXPRESSION_CHARS: usize = 3_500;

/// A rendered FilterExpression with its placeholders.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FilterExpr {
    pub text: String,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

/// Renders the push-down of a compiled filter, or `None` when nothing can be
/// pushed. Items written without the current search attributes always pass
/// (`NOT s_v = :current OR ...`), so the Rust predicate decides for them.
/// When the expression is too long, trailing conjuncts are dropped: a
/// weaker filter lets more items through but never drops one.
pub fn render_filter(cond: &Cond) -> Option<FilterExpr> {
    let mut conjuncts = match cond.clone().simplify() {
        Cond::True => return None,
        Cond::And(parts) => parts,
        other => vec![other],
    };
    while !conjuncts.is_empty() {
        let mut r = Renderer::default();
        let version = r.name(SEARCH_VERSION_ATTR);
        let current = r.value(AttributeValue::N(SEARCH_VERSION.to_string()));
        let body = r.render(&Cond::And(conjuncts.clone()));
        match body {
            None => return None,
            Some((body, _)) => {
                let text = format!("NOT {version} = {current} OR {body}");
                if text.len() <= MAX_EXPRESSION_CHARS {
                    return Some(FilterExpr {
                        text,
                        names: r.names,
                        values: r.values,
                    });
                }
            }
        }
        conjuncts.pop();
    }
    None
}

#[derive(Default)]
struct Renderer {
    names: HashMap<String, String>,
    by_attr: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Renderer {
    fn name(&mut self, attr: &str) -> String {
        if let Some(p) = self.by_attr.get(attr) {
            return p.clone();
        }
        let placeholder = format!("#f{}", self.by_attr.len());
        self.by_attr.insert(attr.to_string(), placeholder.clone());
        self.names.insert(placeholder.clone(), attr.to_string());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":f{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// `None` means "always true". The text has parentheses only where
    /// precedence needs them: DynamoDB refuses redundant ones.
    fn render(&mut self, cond: &Cond) -> Option<(String, Prec)> {
        Some(match cond {
            Cond::True => return None,
            Cond::And(parts) => {
                let rendered: Vec<(String, Prec)> =
                    parts.iter().filter_map(|p| self.render(p)).collect();
                if rendered.len() <= 1 {
                    return rendered.into_iter().next();
                }
                let texts: Vec<String> = rendered
                    .into_iter()
                    .map(|(text, prec)| wrap(text, prec, Prec::And))
                    .collect();
                (texts.join(" AND "), Prec::And)
            }
            Cond::Or(parts) => {
                if parts.is_empty() {
                    return Some((self.always_false(), Prec::Atom));
                }
                let mut texts = Vec::with_capacity(parts.len());
                for part in parts {
                    let (text, prec) = self.render(part)?;
                    texts.push(wrap(text, prec, Prec::Or));
                }
                if texts.len() == 1 {
                    return texts.pop().map(|t| (t, Prec::Or));
                }
                (texts.join(" OR "), Prec::Or)
            }
            Cond::Not(inner) => match self.render(inner) {
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
        })
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

    #[test]
    fn projection_always_has_the_keys_once() {
        let (text, names) = projection(["company", "leadId", "firstName"]);
        assert_eq!(text, "#p0, #p1, #p2, #p4");
        assert_eq!(names.len(), 4);
        assert_eq!(names["#p2"], "company");
    }
}
