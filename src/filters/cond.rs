//! Evaluation (DynamoDB semantics) and simplification of [`Cond`].

use super::{Cond, SearchAttrs, SearchValue};

impl Cond {
    /// Always false (an empty `Or`).
    pub const FALSE: Cond = Cond::Or(Vec::new());

    /// Evaluates the condition against search attributes the way DynamoDB
    /// evaluates the rendered `FilterExpression`.
    pub fn eval(&self, attrs: &SearchAttrs) -> bool {
        match self {
            Cond::True => true,
            Cond::And(cs) => cs.iter().all(|c| c.eval(attrs)),
            Cond::Or(cs) => cs.iter().any(|c| c.eval(attrs)),
            Cond::Not(c) => !c.eval(attrs),
            Cond::Contains { attr, value } => match attrs.get(attr) {
                Some(SearchValue::StrSet(set)) => set.contains(value),
                Some(SearchValue::Str(s)) => s.contains(value.as_str()),
                _ => false,
            },
            Cond::EqStr { attr, value } => {
                matches!(attrs.get(attr), Some(SearchValue::Str(s)) if s == value)
            }
            Cond::Le { attr, value } => {
                matches!(attrs.get(attr), Some(SearchValue::Num(n)) if n <= value)
            }
            Cond::Ge { attr, value } => {
                matches!(attrs.get(attr), Some(SearchValue::Num(n)) if n >= value)
            }
            Cond::Exists(attr) => attrs.contains_key(attr),
            Cond::NotExists(attr) => !attrs.contains_key(attr),
        }
    }

    /// An equivalent, simpler condition: nested `And`/`Or` flattened, `True`
    /// dropped from `And` and absorbing in `Or` (dually for false), single
    /// children unwrapped, double negations and negated `Exists` removed.
    pub fn simplify(self) -> Cond {
        match self {
            Cond::And(cs) => {
                let mut out = Vec::with_capacity(cs.len());
                for c in cs {
                    match c.simplify() {
                        Cond::True => {}
                        Cond::And(inner) => out.extend(inner),
                        Cond::Or(inner) if inner.is_empty() => return Cond::FALSE,
                        c => out.push(c),
                    }
                }
                match out.len() {
                    0 => Cond::True,
                    1 => out.pop().unwrap_or(Cond::True),
                    _ => Cond::And(out),
                }
            }
            Cond::Or(cs) => {
                let mut out = Vec::with_capacity(cs.len());
                for c in cs {
                    match c.simplify() {
                        Cond::True => return Cond::True,
                        Cond::Or(inner) => out.extend(inner),
                        c => out.push(c),
                    }
                }
                if out.len() == 1 {
                    out.pop().unwrap_or(Cond::FALSE)
                } else {
                    Cond::Or(out)
                }
            }
            Cond::Not(c) => match c.simplify() {
                Cond::True => Cond::FALSE,
                Cond::Or(inner) if inner.is_empty() => Cond::True,
                Cond::Not(inner) => *inner,
                Cond::Exists(a) => Cond::NotExists(a),
                Cond::NotExists(a) => Cond::Exists(a),
                c => Cond::Not(Box::new(c)),
            },
            c => c,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs() -> SearchAttrs {
        let mut a = SearchAttrs::new();
        a.insert("s".into(), SearchValue::Str("hello world".into()));
        a.insert(
            "set".into(),
            SearchValue::StrSet(["a".to_string(), "bc".to_string()].into()),
        );
        a.insert("n".into(), SearchValue::Num(5.0));
        a
    }

    fn contains(attr: &str, value: &str) -> Cond {
        Cond::Contains {
            attr: attr.into(),
            value: value.into(),
        }
    }

    #[test]
    fn eval_follows_dynamodb() {
        let a = attrs();
        assert!(contains("s", "lo wo").eval(&a), "substring of a string");
        assert!(contains("set", "bc").eval(&a), "member of a set");
        assert!(!contains("set", "b").eval(&a), "no substring in a set");
        assert!(!contains("missing", "a").eval(&a), "missing is false");
        assert!(!contains("n", "5").eval(&a), "number is false");
        assert!(Cond::Not(Box::new(contains("missing", "a"))).eval(&a));
        let eq = |attr: &str, v: &str| Cond::EqStr {
            attr: attr.into(),
            value: v.into(),
        };
        assert!(eq("s", "hello world").eval(&a));
        assert!(!eq("s", "hello").eval(&a));
        assert!(!eq("set", "a").eval(&a));
        let le = |attr: &str, value| Cond::Le {
            attr: attr.into(),
            value,
        };
        let ge = |attr: &str, value| Cond::Ge {
            attr: attr.into(),
            value,
        };
        assert!(le("n", 5.0).eval(&a) && ge("n", 5.0).eval(&a));
        assert!(!le("n", 4.0).eval(&a) && !ge("n", 6.0).eval(&a));
        assert!(!le("missing", 1.0).eval(&a) && !ge("missing", 1.0).eval(&a));
        assert!(Cond::Exists("n".into()).eval(&a) && !Cond::Exists("x".into()).eval(&a));
        assert!(Cond::NotExists("x".into()).eval(&a));
        assert!(Cond::True.eval(&a) && Cond::And(vec![]).eval(&a));
        assert!(!Cond::FALSE.eval(&a));
    }

    #[test]
    fn simplify_flattens_and_absorbs() {
        let x = contains("s", "x");
        let y = contains("s", "y");
        let c = Cond::And(vec![
            Cond::True,
            Cond::And(vec![x.clone(), Cond::True]),
            Cond::Or(vec![y.clone(), Cond::Or(vec![x.clone()])]),
        ]);
        assert_eq!(
            c.simplify(),
            Cond::And(vec![x.clone(), Cond::Or(vec![y.clone(), x.clone()])])
        );
        assert_eq!(Cond::Or(vec![x.clone(), Cond::True]).simplify(), Cond::True);
        assert_eq!(
            Cond::And(vec![x.clone(), Cond::FALSE]).simplify(),
            Cond::FALSE
        );
        assert_eq!(Cond::Or(vec![x.clone(), Cond::FALSE]).simplify(), x);
        assert_eq!(Cond::And(vec![]).simplify(), Cond::True);
        assert_eq!(
            Cond::Not(Box::new(Cond::Not(Box::new(x.clone())))).simplify(),
            x
        );
        assert_eq!(Cond::Not(Box::new(Cond::True)).simplify(), Cond::FALSE);
        assert_eq!(Cond::Not(Box::new(Cond::FALSE)).simplify(), Cond::True);
        assert_eq!(
            Cond::Not(Box::new(Cond::Exists("a".into()))).simplify(),
            Cond::NotExists("a".into())
        );
    }
}
