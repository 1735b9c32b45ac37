//! Stripe's search query language, as its search guide describes it: clauses
//! of a field, an operator and a value, joined by spaces, `AND` or `OR`.
//!
//! - `:` is an exact match, `~` a substring match of at least 3 characters
//!   (string fields only), and `>`, `<`, `>=`, `<=` compare numbers.
//! - `-` before a clause negates it, and `field:null` matches a field that
//!   is empty. `metadata["key"]` (or `metadata['key']`) names a metadata key.
//! - String values take single or double quotes, with `\` escaping a quote
//!   inside them. Numbers may go without quotes.
//! - A query has at most 10 clauses. `AND` and `OR` (any case) cannot both
//!   appear in one query, and parentheses are not supported.
//!
//! `parse` reads the text, `Query::check` checks each clause against the
//! fields of one resource, and `Query::matches` evaluates it on an object.

use serde_json::Value;

/// Maximum number of clauses in one query, from Stripe's search guide.
pub const MAX_CLAUSES: usize = 10;

/// Minimum length of a `~` value, in characters, from Stripe's search guide.
pub const MIN_SUBSTRING_CHARS: usize = 3;

/// The logical operator that joins a query's clauses. Clauses separated
/// only by spaces are joined with AND.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Join {
    And,
    Or,
}

/// The field a clause reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A dotted path into the object, such as `amount` or
    /// `payment_method_details.card.last4`.
    Path(String),
    /// One key of the object's `metadata`.
    Metadata(String),
}

/// A clause's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    /// `:`
    Exact,
    /// `~`
    Substring,
    /// `>`
    Greater,
    /// `<`
    Less,
    /// `>=`
    GreaterOrEqual,
    /// `<=`
    LessOrEqual,
}

impl Operator {
    fn symbol(self) -> &'static str {
        match self {
            Operator::Exact => ":",
            Operator::Substring => "~",
            Operator::Greater => ">",
            Operator::Less => "<",
            Operator::GreaterOrEqual => ">=",
            Operator::LessOrEqual => "<=",
        }
    }

    fn compares(self) -> bool {
        matches!(
            self,
            Operator::Greater | Operator::Less | Operator::GreaterOrEqual | Operator::LessOrEqual
        )
    }
}

/// A clause's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// A quoted value, escapes removed.
    Quoted(String),
    /// An unquoted whole number, as written.
    Number(String),
    /// The `null` token, in any case.
    Null,
}

impl Literal {
    /// Returns the value as text for matching, or `None` for `null`.
    fn text(&self) -> Option<&str> {
        match self {
            Literal::Quoted(text) | Literal::Number(text) => Some(text),
            Literal::Null => None,
        }
    }
}

/// One clause: `[-]field operator value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    pub negated: bool,
    pub field: Field,
    pub operator: Operator,
    pub value: Literal,
}

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub join: Join,
    pub clauses: Vec<Clause>,
}

/// What a search field holds, which decides the operators it takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Exact match only, ignoring case (`currency`, `status`, an id).
    Token,
    /// `true` or `false`, exact match only (`active`, `shippable`).
    Boolean,
    /// Text: `:` matches when the field has the value's words in the same
    /// order, and `~` matches a substring; both ignore case.
    Text,
    /// A whole number: `:` and the four comparisons (`amount`, `created`).
    Numeric,
    /// A charge's `refunded`, which Stripe's guide reads in its own way:
    /// `"true"` is fully refunded, `"false"` partly refunded, and `null`
    /// not refunded at all.
    Refunded,
}

/// A field that a resource's search takes.
#[derive(Debug, Clone, Copy)]
pub struct SearchField {
    /// The name in a query, a dotted path into the object.
    pub name: &'static str,
    pub kind: FieldKind,
}

/// Parses `text` into a query. The error is a sentence for the API error's
/// message, which names the position of a syntax error in characters,
/// counting from 1.
pub fn parse(text: &str) -> Result<Query, String> {
    Parser { text, pos: 0 }.query()
}

struct Parser<'a> {
    text: &'a str,
    /// Byte offset of the next character.
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let next = self.peek()?;
        self.pos += next.len_utf8();
        Some(next)
    }

    /// Returns the position of the next character, in characters from 1.
    fn column(&self) -> usize {
        self.text[..self.pos].chars().count() + 1
    }

    fn error_here(&self, message: &str) -> String {
        format!("{message} (at character {}).", self.column())
    }

    fn skip_spaces(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
        self.pos > start
    }

    fn query(mut self) -> Result<Query, String> {
        self.skip_spaces();
        if self.peek().is_none() {
            return Err("The query is empty. Write at least one clause, such as \
                        status:\"succeeded\"."
                .to_owned());
        }
        let mut clauses = vec![self.clause()?];
        let mut join = None;
        loop {
            let spaced = self.skip_spaces();
            if self.peek().is_none() {
                break;
            }
            if !spaced {
                return Err(self.error_here("Expected a space, AND or OR after the clause's value"));
            }
            let next = match self.connector() {
                Some(connector) => {
                    if !self.skip_spaces() || self.peek().is_none() {
                        return Err(self.error_here(&format!(
                            "Expected a clause after {}",
                            connector_name(connector)
                        )));
                    }
                    connector
                }
                None => Join::And,
            };
            match join {
                Some(previous) if previous != next => {
                    return Err(self.error_here(
                        "A query cannot combine AND and OR (clauses separated by a space \
                         combine with AND)",
                    ));
                }
                _ => join = Some(next),
            }
            clauses.push(self.clause()?);
            if clauses.len() > MAX_CLAUSES {
                return Err(format!(
                    "The query has more than {MAX_CLAUSES} clauses, the most a search takes."
                ));
            }
        }
        Ok(Query {
            join: join.unwrap_or(Join::And),
            clauses,
        })
    }

    /// Takes `AND` or `OR`, in any case, when a space or the end follows.
    fn connector(&mut self) -> Option<Join> {
        for (word, join) in [("and", Join::And), ("or", Join::Or)] {
            let Some(head) = self.rest().get(..word.len()) else {
                continue;
            };
            let after = self.rest()[word.len()..].chars().next();
            if head.eq_ignore_ascii_case(word) && after.is_none_or(char::is_whitespace) {
                self.pos += word.len();
                return Some(join);
            }
        }
        None
    }

    fn clause(&mut self) -> Result<Clause, String> {
        if matches!(self.peek(), Some('(' | ')')) {
            return Err(self.error_here(
                "Parentheses are not supported in a search query; join clauses with AND or \
                 with OR",
            ));
        }
        let negated = self.peek() == Some('-');
        if negated {
            self.bump();
        }
        let field = self.field()?;
        let operator = self.operator()?;
        let value = self.value()?;
        Ok(Clause {
            negated,
            field,
            operator,
            value,
        })
    }

    fn field(&mut self) -> Result<Field, String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            self.bump();
        }
        let name = &self.text[start..self.pos];
        if name.is_empty() {
            return Err(
                self.error_here("Expected a field name, such as status or metadata[\"key\"]")
            );
        }
        if name == "metadata" && self.peek() == Some('[') {
            self.bump();
            let key = match self.peek() {
                Some(quote @ ('"' | '\'')) => {
                    self.bump();
                    self.quoted(quote)?
                }
                _ => {
                    return Err(self.error_here(
                        "Put the metadata key in quotes, as in metadata[\"order_id\"]",
                    ));
                }
            };
            if self.bump() != Some(']') {
                return Err(self.error_here("Expected ] after the metadata key"));
            }
            return Ok(Field::Metadata(key));
        }
        if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
            return Err(format!("`{name}` is not a valid field name."));
        }
        Ok(Field::Path(name.to_owned()))
    }

    fn operator(&mut self) -> Result<Operator, String> {
        let operator = match self.peek() {
            Some(':') => Operator::Exact,
            Some('~') => Operator::Substring,
            Some('>') if self.rest().starts_with(">=") => Operator::GreaterOrEqual,
            Some('<') if self.rest().starts_with("<=") => Operator::LessOrEqual,
            Some('>') => Operator::Greater,
            Some('<') => Operator::Less,
            _ => {
                return Err(self.error_here(
                    "Expected an operator (:, ~, >, <, >= or <=) after the field name",
                ));
            }
        };
        self.pos += operator.symbol().len();
        Ok(operator)
    }

    fn value(&mut self) -> Result<Literal, String> {
        match self.peek() {
            Some(quote @ ('"' | '\'')) => {
                self.bump();
                Ok(Literal::Quoted(self.quoted(quote)?))
            }
            None => Err(self.error_here("Expected a value after the operator")),
            Some(c) if c.is_whitespace() => {
                Err(self.error_here("Expected a value right after the operator, without a space"))
            }
            Some(_) => {
                let column = self.column();
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| !c.is_whitespace() && !matches!(c, '(' | ')' | '"' | '\''))
                {
                    self.bump();
                }
                let bare = &self.text[start..self.pos];
                if bare.eq_ignore_ascii_case("null") {
                    Ok(Literal::Null)
                } else if !bare.is_empty() && bare.parse::<i64>().is_ok() {
                    Ok(Literal::Number(bare.to_owned()))
                } else if bare.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
                    let excerpt: String = bare.chars().take(40).collect();
                    Err(format!(
                        "`{excerpt}` is not a whole number from -9223372036854775808 to \
                         9223372036854775807, the numbers a query compares (at character {column})."
                    ))
                } else {
                    let excerpt: String = bare.chars().take(40).collect();
                    Err(format!(
                        "Put string values in quotes, as in \"{excerpt}\". Only numbers and null \
                         may go without them (at character {column})."
                    ))
                }
            }
        }
    }

    /// Reads a quoted value after its opening `quote`, up to the matching
    /// unescaped quote. A backslash makes the next character literal.
    fn quoted(&mut self, quote: char) -> Result<String, String> {
        let column = self.column() - 1;
        let mut value = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(format!(
                        "The quoted value that starts at character {column} has no closing \
                         {quote}."
                    ));
                }
                Some('\\') => match self.bump() {
                    Some(escaped) => value.push(escaped),
                    None => {
                        return Err(format!(
                            "The quoted value that starts at character {column} ends with a \
                             lone backslash."
                        ));
                    }
                },
                Some(c) if c == quote => return Ok(value),
                Some(c) => value.push(c),
            }
        }
    }
}

fn connector_name(join: Join) -> &'static str {
    match join {
        Join::And => "AND",
        Join::Or => "OR",
    }
}

impl Query {
    /// Checks every clause against `fields`, the search fields of one
    /// resource. `resource` names it in errors (`payment intents`). Every
    /// resource's objects have metadata, so `metadata["key"]` is always a
    /// field.
    pub fn check(&self, fields: &[SearchField], resource: &str) -> Result<(), String> {
        for clause in &self.clauses {
            let kind = match &clause.field {
                Field::Metadata(_) => FieldKind::Token,
                Field::Path(name) => match fields.iter().find(|f| f.name == name) {
                    Some(field) => field.kind,
                    None => {
                        let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                        return Err(format!(
                            "`{name}` is not a search field of {resource}. Use one of {}, or \
                             metadata[\"key\"].",
                            names.join(", ")
                        ));
                    }
                },
            };
            check_clause(clause, kind)?;
        }
        Ok(())
    }

    /// Returns whether `object` matches. The query must have passed
    /// `check` with the same `fields`.
    pub fn matches(&self, object: &Value, fields: &[SearchField]) -> bool {
        let matches_clause = |clause: &Clause| {
            let found = match &clause.field {
                Field::Metadata(key) => {
                    matches_value(object["metadata"].get(key), FieldKind::Token, clause)
                }
                Field::Path(name) => {
                    let kind = fields
                        .iter()
                        .find(|f| f.name == name)
                        .map_or(FieldKind::Token, |f| f.kind);
                    if kind == FieldKind::Refunded {
                        matches_refunded(object, &clause.value)
                    } else {
                        matches_value(lookup(object, name), kind, clause)
                    }
                }
            };
            found != clause.negated
        };
        match self.join {
            Join::And => self.clauses.iter().all(matches_clause),
            Join::Or => self.clauses.iter().any(matches_clause),
        }
    }
}

/// Rejects an operator or value that the field's kind does not take.
fn check_clause(clause: &Clause, kind: FieldKind) -> Result<(), String> {
    let name = match &clause.field {
        Field::Path(name) => name.clone(),
        Field::Metadata(key) => format!("metadata[\"{key}\"]"),
    };
    let symbol = clause.operator.symbol();
    if clause.value == Literal::Null {
        if clause.operator != Operator::Exact {
            return Err(format!(
                "null only works with the : operator, as in {name}:null, not with {symbol}."
            ));
        }
        return Ok(());
    }
    let text = clause.value.text().unwrap_or_default();
    match (kind, clause.operator) {
        (FieldKind::Numeric, Operator::Substring) => Err(format!(
            "`{name}` is a number, so it takes :, >, <, >= and <=, not ~."
        )),
        (FieldKind::Numeric, _) if text.trim().parse::<i64>().is_err() => Err(format!(
            "`{name}` is a number, so its value must be a whole number, not \"{text}\"."
        )),
        (FieldKind::Numeric, _) => Ok(()),
        (FieldKind::Text, operator) if operator.compares() => Err(format!(
            "`{name}` is a string, so it takes : and ~, not {symbol}."
        )),
        (FieldKind::Text, Operator::Substring) if text.chars().count() < MIN_SUBSTRING_CHARS => {
            Err(format!(
                "A substring search (~) needs at least {MIN_SUBSTRING_CHARS} characters; \
                 \"{text}\" has {}.",
                text.chars().count()
            ))
        }
        (FieldKind::Text, _) => Ok(()),
        (_, Operator::Exact) => {
            let two_valued = matches!(kind, FieldKind::Boolean | FieldKind::Refunded);
            let true_or_false =
                text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false");
            if two_valued && !true_or_false {
                return Err(format!(
                    "`{name}` takes only \"true\" or \"false\"{}, not \"{text}\".",
                    if kind == FieldKind::Refunded {
                        " or null"
                    } else {
                        ""
                    }
                ));
            }
            Ok(())
        }
        (_, _) => Err(format!(
            "`{name}` takes only the exact match operator :, not {symbol}."
        )),
    }
}

/// Follows a dotted path such as `payment_method_details.card.last4`.
fn lookup<'a>(object: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(object, |value, part| value.get(part))
}

/// Returns a scalar field as text for a match: a string as it is, a number
/// or boolean as JSON writes it.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        Value::Bool(flag) => Some(flag.to_string()),
        _ => None,
    }
}

fn matches_value(value: Option<&Value>, kind: FieldKind, clause: &Clause) -> bool {
    let value = value.unwrap_or(&Value::Null);
    let Some(expected) = clause.value.text() else {
        return match value {
            Value::Null => true,
            Value::String(text) => text.is_empty(),
            _ => false,
        };
    };
    match kind {
        FieldKind::Numeric => {
            let (Some(actual), Ok(expected)) = (value.as_i64(), expected.trim().parse::<i64>())
            else {
                return false;
            };
            match clause.operator {
                Operator::Exact => actual == expected,
                Operator::Greater => actual > expected,
                Operator::Less => actual < expected,
                Operator::GreaterOrEqual => actual >= expected,
                Operator::LessOrEqual => actual <= expected,
                Operator::Substring => false,
            }
        }
        FieldKind::Text => {
            let Some(actual) = scalar_text(value) else {
                return false;
            };
            let (actual, expected) = (actual.to_lowercase(), expected.to_lowercase());
            match clause.operator {
                Operator::Substring => actual.contains(&expected),
                _ => contains_words(&actual, &expected),
            }
        }
        FieldKind::Token | FieldKind::Boolean | FieldKind::Refunded => scalar_text(value)
            .is_some_and(|actual| actual.to_lowercase() == expected.to_lowercase()),
    }
}

/// Returns whether the words of `expected` appear in `actual` as a run of whole
/// words in the same order. Words are split at white space.
// NOTE: Stripe's guide requires a string exact match to have the query's words
// in the same order, but does not say where it splits words. Splitting at
// punctuation as well would let email:"amy" match amy@example.com.
fn contains_words(actual: &str, expected: &str) -> bool {
    let actual: Vec<&str> = actual.split_whitespace().collect();
    let expected: Vec<&str> = expected.split_whitespace().collect();
    if expected.is_empty() {
        return actual.is_empty();
    }
    actual
        .windows(expected.len())
        .any(|window| window == expected)
}

fn matches_refunded(charge: &Value, value: &Literal) -> bool {
    let refunded = charge["refunded"].as_bool().unwrap_or(false);
    let amount_refunded = charge["amount_refunded"].as_i64().unwrap_or(0);
    match value.text().map(str::to_ascii_lowercase).as_deref() {
        None => amount_refunded == 0,
        Some("true") => refunded,
        Some("false") => amount_refunded > 0 && !refunded,
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const FIELDS: &[SearchField] = &[
        SearchField {
            name: "amount",
            kind: FieldKind::Numeric,
        },
        SearchField {
            name: "currency",
            kind: FieldKind::Token,
        },
        SearchField {
            name: "name",
            kind: FieldKind::Text,
        },
        SearchField {
            name: "active",
            kind: FieldKind::Boolean,
        },
        SearchField {
            name: "refunded",
            kind: FieldKind::Refunded,
        },
        SearchField {
            name: "card.last4",
            kind: FieldKind::Token,
        },
    ];

    fn checked(text: &str) -> Query {
        let query = parse(text).unwrap_or_else(|err| panic!("{text}: {err}"));
        query
            .check(FIELDS, "things")
            .unwrap_or_else(|err| panic!("{text}: {err}"));
        query
    }

    fn rejected(text: &str) -> String {
        match parse(text).and_then(|query| query.check(FIELDS, "things")) {
            Ok(()) => panic!("{text} was accepted"),
            Err(message) => message,
        }
    }

    fn matches(text: &str, object: &Value) -> bool {
        checked(text).matches(object, FIELDS)
    }

    #[test]
    fn parses_clause_parts() {
        let query = checked("-metadata['order id']:\"a \\\"b\\\" c\"");
        assert_eq!(query.join, Join::And);
        assert_eq!(
            query.clauses,
            [Clause {
                negated: true,
                field: Field::Metadata("order id".into()),
                operator: Operator::Exact,
                value: Literal::Quoted("a \"b\" c".into()),
            }]
        );
    }

    #[test]
    fn parses_each_operator() {
        for (text, operator) in [
            ("amount:5", Operator::Exact),
            ("name~'abc'", Operator::Substring),
            ("amount>5", Operator::Greater),
            ("amount<5", Operator::Less),
            ("amount>=5", Operator::GreaterOrEqual),
            ("amount<=5", Operator::LessOrEqual),
        ] {
            assert_eq!(checked(text).clauses[0].operator, operator, "{text}");
        }
    }

    #[test]
    fn connectors_ignore_case() {
        assert_eq!(checked("amount:1 and amount:2").join, Join::And);
        assert_eq!(checked("amount:1 Or amount:2 OR amount:3").join, Join::Or);
        assert_eq!(checked("amount:1 amount:2").clauses.len(), 2);
    }

    #[test]
    fn null_token_ignores_case() {
        assert_eq!(checked("name:NULL").clauses[0].value, Literal::Null);
    }

    #[test]
    fn rejects_malformed_queries() {
        for (text, start) in [
            ("", "The query is empty"),
            ("   ", "The query is empty"),
            (
                "amount:1 AND amount:2 OR amount:3",
                "A query cannot combine AND and OR",
            ),
            (
                "amount:1 amount:2 OR amount:3",
                "A query cannot combine AND and OR",
            ),
            ("(amount:1)", "Parentheses are not supported"),
            ("amount:1 AND", "Expected a clause after AND"),
            ("amount:1 or ", "Expected a clause after OR"),
            ("amount", "Expected an operator"),
            ("amount=5", "Expected an operator"),
            ("amount:", "Expected a value after the operator"),
            ("amount: 5", "Expected a value right after the operator"),
            ("currency:usd", "Put string values in quotes"),
            ("created:1.5", "`1.5` is not a whole number"),
            (
                "created>99999999999999999999",
                "`99999999999999999999` is not a whole number",
            ),
            (
                "name:'abc",
                "The quoted value that starts at character 6 has no closing '",
            ),
            (
                "name:'abc\\",
                "The quoted value that starts at character 6 ends with a lone",
            ),
            ("name:'a'name:'b'", "Expected a space, AND or OR"),
            ("metadata[key]:'a'", "Put the metadata key in quotes"),
            ("metadata['key':'a'", "Expected ] after the metadata key"),
            (":'a'", "Expected a field name"),
            ("card..last4:'a'", "`card..last4` is not a valid field name"),
        ] {
            let message = rejected(text);
            assert!(message.starts_with(start), "{text:?}: {message}");
        }
    }

    #[test]
    fn syntax_error_names_position() {
        assert_eq!(
            rejected("name:'é' total=2"),
            "Expected an operator (:, ~, >, <, >= or <=) after the field name (at character 15)."
        );
    }

    #[test]
    fn rejects_eleventh_clause() {
        let ten = ["amount:1"; MAX_CLAUSES].join(" ");
        assert_eq!(checked(&ten).clauses.len(), MAX_CLAUSES);
        let message = rejected(&format!("{ten} amount:1"));
        assert_eq!(
            message,
            "The query has more than 10 clauses, the most a search takes."
        );
    }

    #[test]
    fn rejects_operator_field_mismatch() {
        for (text, message) in [
            (
                "colour:'red'",
                "`colour` is not a search field of things. Use one of amount, currency, name, \
                 active, refunded, card.last4, or metadata[\"key\"].",
            ),
            (
                "currency>'usd'",
                "`currency` takes only the exact match operator :, not >.",
            ),
            (
                "currency~'usd'",
                "`currency` takes only the exact match operator :, not ~.",
            ),
            ("name>5", "`name` is a string, so it takes : and ~, not >."),
            (
                "amount~'12'",
                "`amount` is a number, so it takes :, >, <, >= and <=, not ~.",
            ),
            (
                "amount>'ten'",
                "`amount` is a number, so its value must be a whole number, not \"ten\".",
            ),
            (
                "name~'ab'",
                "A substring search (~) needs at least 3 characters; \"ab\" has 2.",
            ),
            (
                "active:'yes'",
                "`active` takes only \"true\" or \"false\", not \"yes\".",
            ),
            (
                "refunded:'partly'",
                "`refunded` takes only \"true\" or \"false\" or null, not \"partly\".",
            ),
            (
                "amount>null",
                "null only works with the : operator, as in amount:null, not with >.",
            ),
        ] {
            assert_eq!(rejected(text), message, "{text}");
        }
    }

    #[test]
    fn token_match_ignores_case() {
        let object = json!({"currency": "usd"});
        assert!(matches("currency:'USD'", &object));
        assert!(!matches("currency:'us'", &object));
    }

    #[test]
    fn numeric_comparisons() {
        let object = json!({"amount": 1500});
        for (text, expected) in [
            ("amount:1500", true),
            ("amount:'1500'", true),
            ("amount:1501", false),
            ("amount>1499", true),
            ("amount>1500", false),
            ("amount>=1500", true),
            ("amount<1500", false),
            ("amount<=1500", true),
            ("amount<1501", true),
        ] {
            assert_eq!(matches(text, &object), expected, "{text}");
        }
    }

    #[test]
    fn text_exact_needs_words_in_order() {
        let object = json!({"name": "One Two three four"});
        for (text, expected) in [
            ("name:'one two three'", true),
            ("name:'two three four'", true),
            ("name:'one three'", false),
            ("name:'two one'", false),
            ("name:'on'", false),
            ("name~'wo thr'", true),
            ("name~'xyz'", false),
        ] {
            assert_eq!(matches(text, &object), expected, "{text}");
        }
    }

    #[test]
    fn metadata_and_null() {
        let object = json!({"metadata": {"order_id": "1234"}, "name": null});
        assert!(matches("metadata['order_id']:'1234'", &object));
        assert!(matches("metadata[\"order_id\"]:1234", &object));
        assert!(!matches("metadata['order_id']:'12345'", &object));
        assert!(!matches("metadata['Order_id']:'1234'", &object));
        assert!(matches("metadata['other']:null", &object));
        assert!(matches("-metadata['order_id']:null", &object));
        assert!(!matches("metadata['order_id']:null", &object));
        assert!(matches("name:null", &object));
        assert!(matches("-amount:5", &object));
    }

    #[test]
    fn nested_path_and_booleans() {
        let object = json!({"card": {"last4": "4242"}, "active": true});
        assert!(matches("card.last4:4242", &object));
        assert!(matches("active:'TRUE'", &object));
        assert!(!matches("active:'false'", &object));
    }

    #[test]
    fn refunded_reads_three_states() {
        let none = json!({"refunded": false, "amount_refunded": 0});
        let part = json!({"refunded": false, "amount_refunded": 300});
        let full = json!({"refunded": true, "amount_refunded": 1000});
        for (text, expected) in [
            ("refunded:'true'", [false, false, true]),
            ("refunded:'false'", [false, true, false]),
            ("refunded:null", [true, false, false]),
        ] {
            let got = [&none, &part, &full].map(|charge| matches(text, charge));
            assert_eq!(got, expected, "{text}");
        }
    }

    #[test]
    fn and_or_and_negation() {
        let object = json!({"amount": 700, "currency": "eur"});
        assert!(matches("amount:700 currency:'eur'", &object));
        assert!(!matches("amount:700 AND currency:'usd'", &object));
        assert!(matches("amount:1 OR currency:'eur'", &object));
        assert!(!matches("amount:1 OR currency:'usd'", &object));
        assert!(matches("-currency:'usd' AND amount<1000", &object));
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Any text parses or returns an error, never a panic.
            #[test]
            fn any_text_never_panics(text in "\\PC{0,80}") {
                if let Ok(query) = parse(&text) {
                    let _ = query.check(FIELDS, "things");
                }
            }

            /// Text built from the language's own pieces parses, checks and
            /// matches without a panic in 512 random cases.
            #[test]
            fn query_like_text_never_panics(
                parts in proptest::collection::vec(
                    "(-|\\(|\\)| |AND|or|amount|name|card\\.last4|metadata\\[|\\]|'|\"|\\\\|:|~|>=|<=|>|<|null|[0-9]{1,3}|é|[a-z]{1,4})",
                    0..24,
                )
            ) {
                let text = parts.concat();
                let object = json!({"amount": 5, "name": "a b", "metadata": {"a": "b"}});
                if let Ok(query) = parse(&text)
                    && query.check(FIELDS, "things").is_ok()
                {
                    let _ = query.matches(&object, FIELDS);
                }
            }
        }
    }
}
