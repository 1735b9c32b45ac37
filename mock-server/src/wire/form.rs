//! Decoding of Stripe's request format: `application/x-www-form-urlencoded`
//! bodies and query strings in bracket notation (`metadata[order_id]=42`,
//! `line_items[0][price_data][unit_amount]=2000`, `expand[]=payment_intent`).

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::error::ApiError;

/// Deepest nesting accepted. Stripe's own parameters go about six levels
/// deep (`line_items[0][price_data][product_data][metadata][key]`); the
/// margin lets clients nest metadata-like hashes a little further.
pub const MAX_DEPTH: usize = 16;

/// Decodes a form body into a tree of strings, objects and arrays. Indexed
/// (`a[0]`) and empty-indexed (`a[]`) arrays become JSON arrays, and
/// percent-encoded brackets are decoded the same as literal ones.
pub fn decode(input: &[u8]) -> Result<Map<String, Value>, ApiError> {
    decode_from(input, Source::Body)
}

/// Decodes a query string the same way as a body.
pub fn decode_query(input: &[u8]) -> Result<Map<String, Value>, ApiError> {
    decode_from(input, Source::Query)
}

/// The part of a request the parameters came from, for error messages.
#[derive(Debug, Clone, Copy)]
enum Source {
    Body,
    Query,
}

impl Source {
    /// Returns the name of the part in an error message.
    fn place(self) -> &'static str {
        match self {
            Source::Body => "request body",
            Source::Query => "query string",
        }
    }
}

fn decode_from(input: &[u8], source: Source) -> Result<Map<String, Value>, ApiError> {
    if input.iter().all(|b| b.is_ascii_whitespace() || *b == b'&') {
        return Ok(Map::new());
    }
    if let Some(map) = decode_plain(input) {
        return Ok(map);
    }
    if let Some(err) = diagnose(input, source) {
        return Err(err);
    }
    // Items sent out of index order are the one shape of a valid body that
    // the plain path turns down and that a reorder fixes. The general
    // decoder would read a metadata key of digits as an array index.
    if let Some(map) = in_index_order(input).and_then(|sorted| decode_plain(&sorted)) {
        return Ok(map);
    }
    let value: Value = general_decoder().deserialize_bytes(input).map_err(|err| {
        let detail = err.to_string();
        let param = param_at(input, &detail).or_else(|| failing_name(input));
        // The decoder's words for `a[]=x&a[0]=y`, in either order.
        let mixed = detail.contains("both a sequence and a");
        match (param, mixed) {
            (Some(param), true) => ApiError::invalid_param(
                param.clone(),
                format!(
                    "Invalid array `{param}`: it was sent both as `{param}[]` and with indices \
                     such as `{param}[0]`. Use one form for every item."
                ),
            ),
            (Some(param), false) => invalid_input(source, &detail).with_param(param),
            (None, _) => invalid_input(source, &detail),
        }
    })?;
    match value {
        Value::Object(map) => {
            if has_empty_key(&map) {
                check_keys(&map, "")?;
            }
            Ok(map)
        }
        Value::String(s) if s.is_empty() => Ok(Map::new()),
        _ => Err(invalid_input(source, "expected key=value pairs")),
    }
}

/// Finds the first fault of the client in a body that the plain path
/// turned down, and returns an error that names the parameter at fault.
/// The general decoder would merge a repeated key into an array, and
/// reports the other faults in its own words without a name.
fn diagnose(input: &[u8], source: Source) -> Option<ApiError> {
    check_pairs(input, source).err()
}

/// Checks each pair of a body, then the pairs together: a key sent twice,
/// a name sent both as a value and as a hash or array, and array indices
/// with a gap.
fn check_pairs(input: &[u8], source: Source) -> Result<(), ApiError> {
    let place = source.place();
    let mut seen: HashSet<String> = HashSet::new();
    let mut leaves: Vec<String> = Vec::new();
    let mut containers: HashSet<String> = HashSet::new();
    let mut arrays = ArrayIndices::default();

    for pair in input.split(|b| *b == b'&').filter(|pair| !pair.is_empty()) {
        let key = read_pair(pair, source)?;
        let (name, segments) = check_name(&key, place)?;
        // A key with `[]` adds an item each time it comes.
        let pushed = key.contains("[]");
        if !pushed && !seen.insert(key.clone()) {
            return Err(ApiError::invalid_param(
                key.clone(),
                format!(
                    "Invalid {place}: `{key}` was sent more than once. Send each parameter once."
                ),
            ));
        }
        if segments.len() > MAX_DEPTH {
            // The endpoint names the level past the limit.
            continue;
        }

        let mut prefix = name.to_owned();
        let mut parent = name;
        for segment in &segments {
            arrays.record(&prefix, array_index(segment, parent, &prefix, &key)?);
            containers.insert(prefix.clone());
            if segment.is_empty() {
                // Which item the rest of the key belongs to depends on
                // the order of the pairs.
                break;
            }
            prefix = format!("{prefix}[{segment}]");
            parent = segment;
        }
        if !pushed {
            leaves.push(key);
        }
    }

    if let Some(leaf) = leaves.iter().find(|leaf| containers.contains(*leaf)) {
        return Err(ApiError::invalid_param(
            leaf.clone(),
            format!(
                "Invalid parameter `{leaf}`: it was sent both as a value and as a hash or \
                 array, such as `{leaf}[key]`. Send one or the other."
            ),
        ));
    }
    arrays.check_gaps()
}

/// Reads one `key=value` pair and returns its decoded key. Rejects a name
/// or value that is not UTF-8, a pair with no name, and a pair with no `=`.
fn read_pair(pair: &[u8], source: Source) -> Result<String, ApiError> {
    let place = source.place();
    let equals = pair.iter().position(|b| *b == b'=');
    let raw_key = &pair[..equals.unwrap_or(pair.len())];
    let decoded = unescape(raw_key).map_err(|at| bad_escape(raw_key, at, None, source))?;
    let Ok(key) = String::from_utf8(decoded) else {
        // A name that is not text is shown as sent, escapes and all.
        let key = String::from_utf8_lossy(raw_key).into_owned();
        return Err(ApiError::invalid_param(
            key.clone(),
            format!(
                "Invalid parameter name `{key}` in the {place}: it is not UTF-8 text once \
                 percent-decoded."
            ),
        ));
    };
    if key.is_empty() {
        let text = String::from_utf8_lossy(pair);
        return Err(invalid_input(
            source,
            &format!("the pair `{text}` has no parameter name before its `=`"),
        ));
    }
    let Some(equals) = equals else {
        // A malformed name is the first thing to fix, so its error comes
        // before the missing value's, which would repeat the name.
        check_name(&key, place)?;
        return Err(ApiError::invalid_param(
            key.clone(),
            format!(
                "Invalid {place}: `{key}` has no `=` and no value. Send it as `{key}=value`, \
                 or leave it out."
            ),
        ));
    };
    let raw_value = &pair[equals + 1..];
    let value = unescape(raw_value).map_err(|at| bad_escape(raw_value, at, Some(&key), source))?;
    if std::str::from_utf8(&value).is_err() {
        return Err(ApiError::invalid_param(
            key.clone(),
            format!("Invalid `{key}`: its value is not UTF-8 text once percent-decoded."),
        ));
    }
    Ok(key)
}

/// Splits `key` into its name and bracketed segments. Rejects brackets
/// that do not pair up, a name made of digits, and `[]` followed by more
/// segments.
fn check_name<'a>(key: &'a str, place: &str) -> Result<(&'a str, Vec<&'a str>), ApiError> {
    let Some((name, segments)) = split_key(key) else {
        return Err(ApiError::invalid_param(
            key.to_owned(),
            format!(
                "Invalid parameter name `{key}` in the {place}: nested names take the form \
                 `name[key][key]`, with each `[` closed by a `]` before the next one opens \
                 and nothing between a `]` and the next `[`."
            ),
        ));
    };
    if name.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::invalid_param(
            name.to_owned(),
            format!(
                "Invalid parameter name `{name}` in the {place}: no parameter is named by a \
                 number."
            ),
        ));
    }
    if let Some(at) = segments.iter().position(|segment| segment.is_empty())
        && at + 1 < segments.len()
    {
        let list = segments[..at]
            .iter()
            .fold(name.to_owned(), |list, segment| {
                format!("{list}[{segment}]")
            });
        return Err(ApiError::invalid_param(
            key.to_owned(),
            format!(
                "Invalid parameter name `{key}`: `[]` adds a plain value to a list, such as \
                 `expand[]=customer`. For a list of hashes, number the items: \
                 `{list}[0][…]`, `{list}[1][…]`."
            ),
        ));
    }
    Ok((name, segments))
}

/// Returns the array index that `segment` of `key` gives, or `None` for a
/// hash key or `[]`. Rejects an index with a leading zero or too large to
/// read.
fn array_index(
    segment: &str,
    parent: &str,
    prefix: &str,
    key: &str,
) -> Result<Option<u64>, ApiError> {
    let digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    if !digits || is_hash_key(parent, segment) {
        return Ok(None);
    }
    let plain = segment.len() == 1 || !segment.starts_with('0');
    match segment.parse::<u64>() {
        Ok(index) if plain => Ok(Some(index)),
        _ => Err(ApiError::invalid_param(
            prefix.to_owned(),
            format!(
                "Invalid array index `{segment}` in `{key}`: write indices as plain numbers \
                 from 0, without leading zeros."
            ),
        )),
    }
}

/// The indices sent for each prefix that a bracketed segment follows, in
/// order of first use. A prefix that is also followed by a hash key or by
/// `[]` is no array of indices, and has `None`.
#[derive(Default)]
struct ArrayIndices {
    prefixes: Vec<(String, Option<Vec<u64>>)>,
    positions: HashMap<String, usize>,
}

impl ArrayIndices {
    /// Records that `prefix` was followed by `index`, or by a segment that
    /// is not an index.
    fn record(&mut self, prefix: &str, index: Option<u64>) {
        match self.positions.get(prefix) {
            Some(&at) => match (self.prefixes[at].1.as_mut(), index) {
                (Some(indices), Some(index)) => indices.push(index),
                _ => self.prefixes[at].1 = None,
            },
            None => {
                self.positions
                    .insert(prefix.to_owned(), self.prefixes.len());
                self.prefixes
                    .push((prefix.to_owned(), index.map(|index| vec![index])));
            }
        }
    }

    /// Rejects the first array whose indices do not count up from 0 without
    /// a gap.
    fn check_gaps(mut self) -> Result<(), ApiError> {
        for (prefix, indices) in &mut self.prefixes {
            let Some(indices) = indices else { continue };
            indices.sort_unstable();
            indices.dedup();
            let gap = (0u64..)
                .zip(indices.iter())
                .find(|(expected, got)| *got != expected);
            if let Some((expected, got)) = gap {
                return Err(ApiError::invalid_param(
                    prefix.clone(),
                    format!(
                        "Invalid array `{prefix}`: its indices must count up from 0 with none \
                         skipped, but `{prefix}[{got}]` came where `{prefix}[{expected}]` was \
                         expected."
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Splits a decoded key into its name and bracketed segments, or returns
/// `None` when the brackets do not pair up.
fn split_key(key: &str) -> Option<(&str, Vec<&str>)> {
    let (name, mut rest) = key.split_at(key.find('[').unwrap_or(key.len()));
    if name.is_empty() || name.contains(']') {
        return None;
    }
    let mut segments = Vec::new();
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let close = inner.find(']')?;
        let segment = &inner[..close];
        if segment.contains('[') {
            return None;
        }
        segments.push(segment);
        rest = &inner[close + 1..];
    }
    Some((name, segments))
}

/// Decodes `+` and `%XX` escapes into bytes. A `%` without two
/// hexadecimal digits after it is an error that contains its offset.
fn unescape(raw: &[u8]) -> Result<Vec<u8>, usize> {
    let mut out = Vec::with_capacity(raw.len());
    let mut at = 0;
    while at < raw.len() {
        match raw[at] {
            b'%' => {
                let escaped = match raw.get(at + 1..at + 3) {
                    Some([high, low]) => hex_value(*high).zip(hex_value(*low)),
                    _ => None,
                };
                let (high, low) = escaped.ok_or(at)?;
                out.push(high * 16 + low);
                at += 3;
                continue;
            }
            b'+' => out.push(b' '),
            byte => out.push(byte),
        }
        at += 1;
    }
    Ok(out)
}

/// Builds the error for a `%` at `offset` of `raw` that does not start an
/// escape. `key` is the decoded parameter name, or `None` when the bad
/// escape is in the name itself.
fn bad_escape(raw: &[u8], offset: usize, key: Option<&str>, source: Source) -> ApiError {
    let sent: String = String::from_utf8_lossy(&raw[offset..])
        .chars()
        .take(3)
        .collect();
    let (param, part) = match key {
        Some(key) => (key.to_owned(), format!("the value of `{key}`")),
        None => {
            let name = String::from_utf8_lossy(raw).into_owned();
            let part = format!("the parameter name `{name}`");
            (name, part)
        }
    };
    let check = match source {
        Source::Body => "check your POST parameters",
        Source::Query => "check your query string",
    };
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        super::error::ErrorType::InvalidRequest,
        format!(
            "Invalid request ({check}): {part} has a `%` that two hexadecimal digits do not \
             follow (`{sent}`). Percent-encode the text: a literal % is %25."
        ),
    )
    .with_param(param)
}

fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|value| value as u8)
}

/// Returns the general decoder, with the nesting limit and `+` read as a
/// space.
fn general_decoder() -> serde_qs::Config {
    serde_qs::Config::new()
        .max_depth(MAX_DEPTH)
        .use_form_encoding(true)
}

/// Maximum number of bracketed segments after a name that `decode_plain`
/// takes.
const PLAIN_DEPTH: usize = 8;

/// Decodes a body in the shape clients send, such as
/// `line_items[0][price_data][currency]=eur&metadata[k]=v&expand[]=x`,
/// without the general decoder, which costs several times as much. It
/// returns `None` for anything less plain, and the general decoder then
/// decides, after `diagnose` has named any fault of the client. Less plain
/// means a pair without `=`, text that is not UTF-8, a key sent twice, an
/// index out of order, a name used both as a value and as a hash or array,
/// a bad percent escape, or deep nesting. Like the general decoder, it keeps
/// the text after a value's first `=`. Unlike it, it keeps a
/// `metadata` key of digits as a key, as Stripe does.
fn decode_plain(input: &[u8]) -> Option<Map<String, Value>> {
    let mut root = Map::new();
    // For each array seen, the key up to it and whether it was filled with
    // `[]`: the general decoder rejects an array sent in both forms.
    let mut arrays: Vec<(String, bool)> = Vec::new();
    // An empty pair, as from a trailing `&`, carries nothing.
    for pair in input.split(|b| *b == b'&').filter(|pair| !pair.is_empty()) {
        let equals = pair.iter().position(|b| *b == b'=')?;
        let (raw_key, raw_value) = (&pair[..equals], &pair[equals + 1..]);
        let key = percent_decode(raw_key)?;
        let value = percent_decode(raw_value)?;
        let mut parts = key.split('[');
        let name = parts.next()?;
        // A name of digits makes the general decoder build an array.
        if name.bytes().all(|b| b.is_ascii_digit()) || name.contains(']') {
            return None;
        }
        let mut path: Vec<&str> = Vec::with_capacity(4);
        let mut offset = name.len();
        for part in parts {
            let segment = part.strip_suffix(']')?;
            if segment.contains(']') || path.len() == PLAIN_DEPTH {
                return None;
            }
            let parent = path.last().copied().unwrap_or(name);
            if segment.is_empty()
                || (segment.bytes().all(|b| b.is_ascii_digit()) && !is_hash_key(parent, segment))
            {
                let prefix = &key[..offset];
                let pushed = segment.is_empty();
                match arrays.iter().find(|(seen, _)| seen == prefix) {
                    Some((_, form)) if *form != pushed => return None,
                    Some(_) => {}
                    None => arrays.push((prefix.to_owned(), pushed)),
                }
            }
            offset += part.len() + 1;
            path.push(segment);
        }
        insert_plain(&mut root, name, &path, value)?;
    }
    Some(root)
}

/// The sort position of a pair: for each segment of its key, `false` and
/// the index for an array index, or `true` and the rank of a hash key.
type SortKey = Vec<(bool, u64)>;

/// Returns the pairs of `input` with the items of every indexed array in
/// index order, so `a[1]=x&a[0]=y` becomes `a[0]=y&a[1]=x`. Everything
/// else keeps the order it came in: hash keys by where they first came,
/// `[]` items as sent. Returns `None` for a key that is not UTF-8 or has
/// an unclosed bracket, which `diagnose` rejects first.
fn in_index_order(input: &[u8]) -> Option<Vec<u8>> {
    // The rank of each hash key by where it first came, under its prefix.
    let mut ranks: HashMap<String, u64> = HashMap::new();
    let mut keyed: Vec<(SortKey, &[u8])> = Vec::new();
    for pair in input.split(|b| *b == b'&').filter(|pair| !pair.is_empty()) {
        let equals = pair.iter().position(|b| *b == b'=').unwrap_or(pair.len());
        let key = percent_decode(&pair[..equals])?;
        let mut order = Vec::new();
        let mut parent = "";
        let mut end = 0;
        for (depth, part) in key.split('[').enumerate() {
            // Past the limit, the general decoder rejects the key. Each
            // segment copies its prefix, so a deep key must stop here.
            if depth > MAX_DEPTH {
                return None;
            }
            let segment = if depth == 0 {
                part
            } else {
                part.strip_suffix(']')?
            };
            end += part.len() + usize::from(depth > 0);
            let index = if depth == 0 || is_hash_key(parent, segment) {
                None
            } else {
                plain_index(segment)
            };
            // Indices sort before keys. After `diagnose`, no array
            // contains both.
            order.push(match index {
                Some(index) => (false, index as u64),
                None => {
                    let next = ranks.len() as u64;
                    (true, *ranks.entry(key[..end].to_owned()).or_insert(next))
                }
            });
            parent = segment;
        }
        keyed.push((order, pair));
    }
    // A stable sort keeps pairs with equal keys, such as `[]` items, in
    // the order they came.
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut sorted = Vec::with_capacity(input.len());
    for (_, pair) in keyed {
        if !sorted.is_empty() {
            sorted.push(b'&');
        }
        sorted.extend_from_slice(pair);
    }
    Some(sorted)
}

/// Puts `value` at `name` and then `path` inside `map`.
fn insert_plain(
    map: &mut Map<String, Value>,
    name: &str,
    path: &[&str],
    value: String,
) -> Option<()> {
    match path.split_first() {
        None => {
            if map.contains_key(name) {
                return None;
            }
            map.insert(name.to_owned(), Value::String(value));
        }
        Some((first, rest)) => match map.get_mut(name) {
            Some(node) => insert_at(node, name, first, rest, value)?,
            None => {
                map.insert(name.to_owned(), new_plain(name, first, rest, value)?);
            }
        },
    }
    Some(())
}

/// Puts `value` at `segment` and then `rest` inside an existing array or
/// hash, the value of `parent`.
fn insert_at(
    node: &mut Value,
    parent: &str,
    segment: &str,
    rest: &[&str],
    value: String,
) -> Option<()> {
    match node {
        Value::Array(items) => {
            let index = if segment.is_empty() {
                items.len()
            } else {
                plain_index(segment)?
            };
            if index == items.len() {
                let next = match rest.split_first() {
                    None => Value::String(value),
                    Some((first, rest)) if !segment.is_empty() => {
                        new_plain(segment, first, rest, value)?
                    }
                    Some(_) => return None,
                };
                items.push(next);
                Some(())
            } else {
                let (first, rest) = rest.split_first()?;
                if segment.is_empty() {
                    return None;
                }
                insert_at(items.get_mut(index)?, segment, first, rest, value)
            }
        }
        // The general decoder reads a key of digits in a hash as a number
        // (`01` becomes `1`), so such keys are left to it, except in
        // metadata.
        Value::Object(map)
            if !segment.bytes().all(|b| b.is_ascii_digit()) || is_hash_key(parent, segment) =>
        {
            insert_plain(map, segment, rest, value)
        }
        _ => None,
    }
}

/// Builds the new value of `parent`: an array (for an index or `[]`) or
/// hash that contains `value` at `segment` and then `rest`.
fn new_plain(parent: &str, segment: &str, rest: &[&str], value: String) -> Option<Value> {
    if is_hash_key(parent, segment) {
        let mut map = Map::new();
        insert_plain(&mut map, segment, rest, value)?;
        Some(Value::Object(map))
    } else if segment.is_empty() || plain_index(segment).is_some() {
        let mut items = Value::Array(Vec::new());
        insert_at(&mut items, parent, segment, rest, value)?;
        Some(items)
    } else if segment.bytes().all(|b| b.is_ascii_digit()) {
        // An index with a leading zero or too many digits.
        None
    } else {
        let mut map = Map::new();
        insert_plain(&mut map, segment, rest, value)?;
        Some(Value::Object(map))
    }
}

/// Returns whether `segment` is a key of a `metadata` hash, which may be
/// all digits (`metadata[123]=x`), where elsewhere digits are an index.
/// The general decoder would read it as an array index and reject it.
fn is_hash_key(parent: &str, segment: &str) -> bool {
    parent == "metadata" && !segment.is_empty()
}

/// Parses an array index as clients write it: digits without a leading
/// zero, small enough for a request body.
fn plain_index(segment: &str) -> Option<usize> {
    let plain = !segment.is_empty()
        && segment.len() <= 4
        && segment.bytes().all(|b| b.is_ascii_digit())
        && (segment == "0" || !segment.starts_with('0'));
    plain.then(|| segment.parse().ok()).flatten()
}

/// Decodes `+` and `%XX` escapes, or gives up on a bad escape or on bytes
/// that are not UTF-8, which `diagnose` then names.
fn percent_decode(raw: &[u8]) -> Option<String> {
    if !raw.iter().any(|b| matches!(b, b'%' | b'+')) {
        return std::str::from_utf8(raw).ok().map(str::to_owned);
    }
    String::from_utf8(unescape(raw).ok()?).ok()
}

/// Returns whether any hash in the tree has an empty key.
fn has_empty_key(map: &Map<String, Value>) -> bool {
    map.iter().any(|(key, value)| {
        key.is_empty()
            || match value {
                Value::Object(inner) => has_empty_key(inner),
                Value::Array(items) => items.iter().any(|item| match item {
                    Value::Object(inner) => has_empty_key(inner),
                    _ => false,
                }),
                _ => false,
            }
    })
}

/// Rejects an empty key anywhere in the tree, which is what the decoder makes
/// of a parameter sent both as a value and as a hash (`a=1&a[b]=2`).
fn check_keys(map: &Map<String, Value>, prefix: &str) -> Result<(), ApiError> {
    for (key, value) in map {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}[{key}]")
        };
        if key.is_empty() {
            let param = if prefix.is_empty() {
                "(empty)".to_owned()
            } else {
                prefix.to_owned()
            };
            return Err(ApiError::invalid_param(
                param.clone(),
                format!("Invalid parameter `{param}`: it was sent both as a value and as a hash."),
            ));
        }
        match value {
            Value::Object(inner) => check_keys(inner, &path)?,
            Value::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    if let Value::Object(inner) = item {
                        check_keys(inner, &format!("{path}[{index}]"))?;
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The name of the parameter whose pair holds the byte offset that the
/// decoder's message reports (`… at position: 21`), so the error can name it.
fn param_at(input: &[u8], detail: &str) -> Option<String> {
    let position: usize = detail
        .rsplit("position: ")
        .next()?
        .trim_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()?;
    let position = position.min(input.len());
    let start = input[..position]
        .iter()
        .rposition(|b| *b == b'&')
        .map_or(0, |i| i + 1);
    let pair = &input[start..];
    let end = pair
        .iter()
        .position(|b| matches!(b, b'&' | b'='))
        .unwrap_or(pair.len());
    let key = url::form_urlencoded::parse(&pair[..end])
        .next()
        .map(|(k, _)| k.into_owned())?;
    let name = key.split('[').next().unwrap_or_default().to_owned();
    (!name.is_empty()).then_some(name)
}

/// Finds the parameter that the general decoder fails on when its error
/// gives no position, as for an array index it finds missing: the first
/// top-level name whose pairs, decoded without the others, fail too.
fn failing_name(input: &[u8]) -> Option<String> {
    let mut names: Vec<&[u8]> = Vec::new();
    for pair in input.split(|b| *b == b'&') {
        let name = top_level_name(pair);
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names.into_iter().find_map(|name| {
        let pairs: Vec<&[u8]> = input
            .split(|b| *b == b'&')
            .filter(|pair| top_level_name(pair) == name)
            .collect();
        let alone = pairs.join(&b'&');
        general_decoder()
            .deserialize_bytes::<Value>(&alone)
            .is_err()
            .then(|| {
                String::from_utf8_lossy(&unescape(name).unwrap_or_else(|_| name.to_vec()))
                    .into_owned()
            })
    })
}

/// Returns the part of a raw pair before its first bracket or `=`, as
/// sent, escapes and all. A `%5B` counts as a bracket.
fn top_level_name(pair: &[u8]) -> &[u8] {
    let end = (0..pair.len())
        .find(|&i| {
            matches!(pair[i], b'[' | b'=')
                || pair[i..].starts_with(b"%5B")
                || pair[i..].starts_with(b"%5b")
        })
        .unwrap_or(pair.len());
    &pair[..end]
}

fn invalid_input(source: Source, detail: &str) -> ApiError {
    let message = match source {
        Source::Body => format!(
            "Invalid request body: {detail}. Send parameters as application/x-www-form-urlencoded \
             in bracket notation, such as metadata[order_id]=42."
        ),
        Source::Query => format!(
            "Invalid query string: {detail}. Send parameters in bracket notation, such as \
             expand[]=payment_intent."
        ),
    };
    ApiError::new(
        axum::http::StatusCode::BAD_REQUEST,
        super::error::ErrorType::InvalidRequest,
        message,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::strategy::Strategy;
    use serde_json::json;

    #[test]
    fn decodes_nested_and_arrays() {
        let map = decode(
            b"line_items[0][price_data][unit_amount]=2000&line_items[0][quantity]=2&expand[]=payment_intent&metadata[k]=a+b",
        )
        .unwrap();
        assert_eq!(
            Value::Object(map),
            json!({
                "line_items": [{"price_data": {"unit_amount": "2000"}, "quantity": "2"}],
                "expand": ["payment_intent"],
                "metadata": {"k": "a b"}
            })
        );
    }

    /// Decodes `input` with the general decoder only.
    fn general(input: &[u8]) -> Result<Map<String, Value>, ApiError> {
        let value: Value = general_decoder()
            .deserialize_bytes(input)
            .map_err(|err| ApiError::invalid_param("body", err.to_string()))?;
        match value {
            Value::Object(map) if !has_empty_key(&map) => Ok(map),
            other => Err(ApiError::invalid_param("body", other.to_string())),
        }
    }

    #[test]
    fn client_bodies_take_the_plain_path() {
        for body in [
            &b"mode=payment&success_url=https%3A%2F%2Fshop.example%2Fok%3Fid%3D%7BCHECKOUT_SESSION_ID%7D&line_items[0][price_data][currency]=eur&line_items[0][price_data][unit_amount]=2490&line_items[0][price_data][product_data][name]=Linen+shirt&line_items[0][quantity]=2&line_items[1][price][x]=y&metadata[order_id]=1042"[..],
            b"expand[]=payment_intent&expand[]=line_items",
            b"expand%5B0%5D=customer&metadata%5Bk%5D=%E2%82%AC",
            b"success_url=https://shop.example/ok?a=b&name=100%25&metadata[k]=a%2Bb",
        ] {
            let plain = decode_plain(body).expect("a plain body");
            assert_eq!(plain, general(body).unwrap(), "{}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn metadata_keys_may_be_digits() {
        let map = decode(
            b"metadata[123]=x&metadata[0]=y&line_items[0][price_data][product_data][metadata][7]=z",
        )
        .unwrap();
        assert_eq!(map["metadata"], json!({"123": "x", "0": "y"}));
        assert_eq!(
            map["line_items"][0]["price_data"]["product_data"]["metadata"],
            json!({"7": "z"})
        );
    }

    #[test]
    fn unusual_bodies_go_to_the_general_decoder() {
        for body in [
            &b"a=1&a=2"[..],
            b"a=1&a[b]=2",
            b"a[b]=1&a=2",
            b"a[1]=x",
            b"a[0]=x&a[0]=y",
            b"a[]=x&a[0]=y",
            b"a[0]=x&a[b]=y",
            b"a[b]=x&a[0]=y",
            b"a[01]=x",
            b"a[]]=x",
            b"a[b=x",
            b"a",
            b"a=%ff",
            b"=x",
            b"a[b][c][d][e][f][g][h][i][j]=deep",
            b"a[0][b]=1&a[]=x",
            b"a[]=x&a[1]=y",
            b"a[0][c][]=x&a[0][c][0]=y",
            b"c[x]=1&c[01]=2",
            b"0=x",
        ] {
            assert_eq!(
                decode_plain(body),
                None,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    proptest::proptest! {
        // Whatever the plain path decodes, the general decoder decodes the
        // same way. The generated names leave out `metadata`, whose keys of
        // digits only the plain path reads as keys.
        #[test]
        fn plain_path_agrees_with_general_decoder(
            pairs in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        8 => "[a-d]{1,2}",
                        1 => "([a-b0-9._-]|\\+|%20|%C3%A9){1,3}",
                    ],
                    proptest::collection::vec(
                        proptest::prop_oneof![
                            8 => "(|0|1|2|x|y)",
                            1 => "(01|%5B|%5D|\\[|\\]|[a.+_-]{1,2}|%20)",
                        ],
                        0..4,
                    ),
                    proptest::prop_oneof![
                        8 => "([a-z0-9+]|%2[0-9B]|%C3%A9|é){0,6}",
                        1 => "([a-z+=&]|%zz|%E2%82){0,4}",
                    ],
                ),
                1..6,
            ),
            encoded in proptest::bool::ANY,
        ) {
            let (open, close) = if encoded { ("%5B", "%5D") } else { ("[", "]") };
            let body = pairs
                .iter()
                .map(|(name, path, value)| {
                    let mut key = name.clone();
                    for segment in path {
                        key.push_str(open);
                        key.push_str(segment);
                        key.push_str(close);
                    }
                    format!("{key}={value}")
                })
                .collect::<Vec<_>>()
                .join("&");
            if let Some(plain) = decode_plain(body.as_bytes()) {
                let general = general(body.as_bytes());
                proptest::prop_assert!(general.is_ok(), "{body}: {:?}", general.err());
                proptest::prop_assert_eq!(plain, general.unwrap(), "{}", body);
            }
        }
    }

    /// Pairs of a body with `items` line items, each with a price, a
    /// quantity and a metadata key of digits, in index order.
    fn item_pairs(items: usize) -> Vec<String> {
        let mut pairs = vec!["metadata[10]=top".to_owned(), "expand[]=a".to_owned()];
        for i in 0..items {
            pairs.push(format!("line_items[{i}][price]=price_{i}"));
            pairs.push(format!("line_items[{i}][quantity]={}", i + 1));
            pairs.push(format!(
                "line_items[{i}][price_data][product_data][metadata][{i}]=m"
            ));
        }
        pairs
    }

    proptest::proptest! {
        // However the pairs are shuffled, the body decodes as in order,
        // with metadata keys of digits kept as keys.
        #[test]
        fn shuffled_items_decode_as_in_order(
            pairs in (1usize..12).prop_flat_map(|items| {
                proptest::strategy::Just(item_pairs(items)).prop_shuffle()
            })
        ) {
            let items = (pairs.len() - 2) / 3;
            let expected = decode(item_pairs(items).join("&").as_bytes()).unwrap();
            let shuffled = decode(pairs.join("&").as_bytes());
            proptest::prop_assert_eq!(shuffled.as_ref().ok(), Some(&expected), "{}", pairs.join("&"));
            proptest::prop_assert_eq!(&expected["metadata"], &json!({"10": "top"}));
        }
    }

    #[test]
    fn percent_encoded_brackets_match_literal() {
        let literal = decode(b"metadata[order_id]=1&expand[]=x").unwrap();
        let encoded = decode(b"metadata%5Border_id%5D=1&expand%5B%5D=x").unwrap();
        assert_eq!(literal, encoded);
    }

    #[test]
    fn ten_levels_deep() {
        let map = decode(b"a[b][c][d][e][f][g][h][i][j][k]=deep").unwrap();
        let leaf = &map["a"]["b"]["c"]["d"]["e"]["f"]["g"]["h"]["i"]["j"]["k"];
        assert_eq!(leaf, "deep");
    }

    #[test]
    fn value_and_hash_clash_is_rejected() {
        let err = decode(b"metadata=1&metadata[a]=2").unwrap_err();
        assert_eq!(err.param.as_deref(), Some("metadata"));
    }

    #[test]
    fn mixed_array_forms_are_named() {
        for body in [
            &b"line_items[]=a&line_items[0][quantity]=1"[..],
            b"line_items[0][quantity]=1&line_items[]=a",
        ] {
            let err = decode(body).unwrap_err();
            assert_eq!(err.param.as_deref(), Some("line_items"));
            assert!(
                err.message.starts_with("Invalid array `line_items`"),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn client_faults_name_the_parameter() {
        let cases: &[(&[u8], &str, &str)] = &[
            (b"mode=payment&mode=setup", "mode", "sent more than once"),
            (
                b"metadata[k]=a&metadata[k]=b",
                "metadata[k]",
                "sent more than once",
            ),
            (b"mode", "mode", "has no `=`"),
            (b"metadata[k]&name=x", "metadata[k]", "has no `=`"),
            (b"metadata[k", "metadata[k", "nested names take the form"),
            (b"metadata[k]=%FF", "metadata[k]", "not UTF-8"),
            (b"metadata%5B%FF%5D=x", "metadata%5B%FF%5D", "not UTF-8"),
            (b"name=100%", "name", "the value of `name` has a `%`"),
            (b"name=100%&mode=payment", "name", "(`%`)"),
            (b"metadata[k]=%zz", "metadata[k]", "(`%zz`)"),
            (b"email=a%2", "email", "(`%2`)"),
            (
                b"meta%ZZdata=x",
                "meta%ZZdata",
                "the parameter name `meta%ZZdata`",
            ),
            (
                b"line_items[][price]=p",
                "line_items[][price]",
                "`line_items[0][…]`",
            ),
            (b"a[b][][c]=1", "a[b][][c]", "`a[b][0][…]`"),
            (b"a[0]=x&a[00]=y", "a", "Invalid array index `00`"),
            (
                b"line_items[99999999999999999999][quantity]=1",
                "line_items",
                "`99999999999999999999`",
            ),
            (
                b"metadata[a[b]=v",
                "metadata[a[b]",
                "nested names take the form",
            ),
            (b"a[b]c=1", "a[b]c", "nested names take the form"),
            (b"[a]=1", "[a]", "nested names take the form"),
            (
                b"metadata=x&metadata[k]=v",
                "metadata",
                "both as a value and as a hash",
            ),
            (
                b"metadata[k]=1&metadata[k][j]=2",
                "metadata[k]",
                "both as a value",
            ),
            (
                b"line_items[0][quantity]=1&line_items[2][quantity]=1",
                "line_items",
                "`line_items[2]` came where `line_items[1]`",
            ),
            (
                b"a[b][1][c]=1&a[b][0][c]=1&a[b][3][c]=1",
                "a[b]",
                "`a[b][3]` came where `a[b][2]`",
            ),
            (
                b"line_items[1][quantity]=1",
                "line_items",
                "`line_items[0]` was",
            ),
            (b"ui_mode[1][]=x", "ui_mode", "`ui_mode[0]` was"),
            (b"expand=x&expand[]=y", "expand", "both as a value"),
            (b"name=x&5=", "5", "named by a number"),
        ];
        for (body, param, words) in cases {
            let text = String::from_utf8_lossy(body);
            let err = decode(body).expect_err(&text);
            assert_eq!(err.status.as_u16(), 400, "{text}");
            assert_eq!(
                err.param.as_deref(),
                Some(*param),
                "{text}: {}",
                err.message
            );
            assert!(err.message.contains(words), "{text}: {}", err.message);
        }
    }

    #[test]
    fn empty_pairs_keep_metadata_keys_of_digits() {
        for body in [
            &b"name=P&metadata[0]=a&"[..],
            b"&name=P&&metadata[0]=a",
            b"name=P&metadata[0]=a&&",
        ] {
            let map = decode(body).unwrap();
            assert_eq!(
                map["metadata"],
                json!({"0": "a"}),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let map = decode(b"metadata[5]=a&").unwrap();
        assert_eq!(map["metadata"], json!({"5": "a"}));
    }

    #[test]
    fn nameless_pair_is_quoted() {
        let err = decode(b"name=x&=y").unwrap_err();
        assert_eq!(err.param, None);
        assert!(
            err.message.contains("`=y` has no parameter name"),
            "{}",
            err.message
        );
    }

    #[test]
    fn lists_and_metadata_digits_pass_the_checks() {
        for body in [
            &b"expand[]=a&expand[]=b&a[1]=x&a[0]=y"[..],
            b"line_items[1][quantity]=2&line_items[0][quantity]=1&x=%7A",
            b"metadata[2]=a&metadata[0]=b&metadata[k]=%2B&c[1]=1&c[0]=2&",
        ] {
            let text = String::from_utf8_lossy(body);
            assert!(
                decode_plain(body).is_none(),
                "{text} takes the general path"
            );
            assert_eq!(
                diagnose(body, Source::Body).map(|err| err.message),
                None,
                "{text}"
            );
        }
        let map = decode(b"line_items[1][quantity]=2&line_items[0][quantity]=1&name=a=b").unwrap();
        assert_eq!(
            map["line_items"],
            json!([{"quantity": "1"}, {"quantity": "2"}])
        );
        assert_eq!(map["name"], "a=b");
    }

    #[test]
    fn unordered_items_keep_digit_metadata() {
        let map = decode(
            b"metadata[2]=a&line_items[1][price]=p2&metadata[0]=b&line_items[0][price]=p1&\
              line_items[1][metadata][7]=c&line_items[0][quantity]=1&expand[]=x&expand[]=y",
        )
        .unwrap();
        assert_eq!(map["metadata"], json!({"2": "a", "0": "b"}));
        assert_eq!(
            map["line_items"],
            json!([{"price": "p1", "quantity": "1"}, {"price": "p2", "metadata": {"7": "c"}}])
        );
        assert_eq!(map["expand"], json!(["x", "y"]));
        let keys: Vec<&String> = map["metadata"].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["2", "0"], "metadata keeps the order it came in");
    }

    #[test]
    fn unbalanced_bracket_is_rejected() {
        let err = decode(b"metadata[a=1").unwrap_err();
        assert_eq!(err.status.as_u16(), 400);
        assert_eq!(err.param.as_deref(), Some("metadata[a"));
        assert!(
            err.message.contains("in the request body"),
            "{}",
            err.message
        );
        let err = decode_query(b"metadata[a=1").unwrap_err();
        assert!(
            err.message.contains("in the query string"),
            "{}",
            err.message
        );
    }
}
