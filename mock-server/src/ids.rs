//! Object ids in Stripe's shapes (`cs_test_…`, `pi_…`, `evt_…`).
//!
//! An account numbers its ids from a start that its seed decides, so a
//! seed replays the same ids on a new account. On an account that already
//! drew from a seed, the same seed goes on where it stopped. The characters after the prefix are a
//! function of that number: the last eleven spell it through a fixed
//! bijection of 64-bit numbers, and the ones before them come from a hash
//! of it. So an id can be turned back into its number, and the store keeps
//! the number of an id it derived, not the id's text.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The two characters that spell each number below 62 * 62, least
/// significant digit first: entry `n` is `[ALPHABET[n % 62], ALPHABET[n / 62]]`.
const DIGIT_PAIRS: [[u8; 2]; 3844] = {
    let mut pairs = [[0u8; 2]; 3844];
    let mut n = 0;
    while n < 3844 {
        pairs[n] = [ALPHABET[n % 62], ALPHABET[n / 62]];
        n += 1;
    }
    pairs
};

/// Characters that spell the number. 62^11 is above 2^64, so eleven are
/// enough for every number.
const NUMBER_CHARS: usize = 11;

/// The lengths of the part after the prefix that ids come in: most ids,
/// webhook secrets, and checkout sessions, as Stripe's do.
pub const LENGTHS: [usize; 3] = [24, 32, 58];

/// A seeded source of ids and secrets.
#[derive(Debug, Clone)]
pub struct IdGenerator {
    next: u64,
    /// The number the current run of ids started from.
    start: u64,
    /// Each earlier run of ids: the number it started from and the number
    /// after its last id.
    earlier: Vec<(u64, u64)>,
}

impl IdGenerator {
    pub fn new(seed: u64) -> Self {
        let start = splitmix(seed);
        IdGenerator {
            next: start,
            start,
            earlier: Vec::new(),
        }
    }

    /// Draws the next ids from `seed`'s numbers. A seed this generator has
    /// drawn from before goes on after the last id it gave, so no id comes
    /// twice. An app that keeps event ids across a reset of the account
    /// would otherwise drop a new event as a duplicate.
    pub fn restart(&mut self, seed: u64) {
        match self.earlier.iter_mut().find(|run| run.0 == self.start) {
            Some(run) => run.1 = self.next,
            None => self.earlier.push((self.start, self.next)),
        }
        let start = splitmix(seed);
        self.next = self
            .earlier
            .iter()
            .find(|run| run.0 == start)
            .map_or(start, |run| run.1);
        self.start = start;
    }

    /// The number the next id will have.
    pub fn upcoming(&self) -> u64 {
        self.next
    }

    /// An id with `prefix` and the length Stripe's ids of that kind have
    /// after it.
    pub fn next(&mut self, prefix: &str) -> String {
        let len = match prefix {
            "cs_test_" => 58,
            "whsec_" => 32,
            _ => 24,
        };
        let number = self.next;
        self.next = self.next.wrapping_add(1);
        let mut id = String::with_capacity(prefix.len() + len);
        id.push_str(prefix);
        push_body(&mut id, number, len);
        id
    }
}

/// An id in 24 bytes without an allocation when this module derived it and
/// its prefix is at most 8 bytes. Tasks on the schedule use it, because an
/// account can have a task per open session.
#[derive(Clone, PartialEq, Eq)]
pub enum CompactId {
    Derived {
        prefix: [u8; 8],
        prefix_len: u8,
        len: u8,
        number: u64,
    },
    Text(Box<str>),
}

impl From<&str> for CompactId {
    fn from(id: &str) -> Self {
        if let Some((prefix, number)) = split(id)
            && prefix.len() <= 8
        {
            let mut bytes = [0u8; 8];
            bytes[..prefix.len()].copy_from_slice(prefix.as_bytes());
            return CompactId::Derived {
                prefix: bytes,
                prefix_len: prefix.len() as u8,
                // LENGTHS are all below 256.
                len: (id.len() - prefix.len()) as u8,
                number,
            };
        }
        CompactId::Text(id.into())
    }
}

impl From<&String> for CompactId {
    fn from(id: &String) -> Self {
        CompactId::from(id.as_str())
    }
}

impl std::fmt::Display for CompactId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CompactId::Derived {
                prefix,
                prefix_len,
                len,
                number,
            } => {
                let mut id = String::with_capacity(usize::from(*prefix_len + *len));
                // The prefix was copied from a `&str` whole.
                id.push_str(std::str::from_utf8(&prefix[..usize::from(*prefix_len)]).unwrap_or(""));
                push_body(&mut id, *number, usize::from(*len));
                f.write_str(&id)
            }
            CompactId::Text(id) => f.write_str(id),
        }
    }
}

impl std::fmt::Debug for CompactId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.to_string())
    }
}

/// Appends the `len` characters that follow the prefix of id `number`.
pub fn push_body(out: &mut String, number: u64, len: usize) {
    let mut bytes = [0u8; 64];
    let body = &mut bytes[..len];
    write_body(body, number);
    // Every byte comes from ALPHABET, so the text is ASCII.
    out.push_str(std::str::from_utf8(body).unwrap_or_default());
}

/// Writes the characters of id `number` into `body`, whose length is one
/// of `LENGTHS`.
pub(crate) fn write_body(body: &mut [u8], number: u64) {
    let (hashed, spelled) = body.split_at_mut(body.len() - NUMBER_CHARS);
    let mut state = number ^ TAIL_KEY;
    for chunk in hashed.chunks_mut(10) {
        state = state.wrapping_add(GOLDEN);
        let mut bits = mix(state);
        // Two digits per division and a table look-up spell the same
        // characters as one digit per division, at half the divisions.
        let mut pairs = chunk.chunks_exact_mut(2);
        for pair in &mut pairs {
            pair.copy_from_slice(&DIGIT_PAIRS[(bits % 3844) as usize]);
            bits /= 3844;
        }
        if let [last] = pairs.into_remainder() {
            *last = ALPHABET[(bits % 62) as usize];
        }
    }
    let mut value = scramble(number);
    for b in spelled.iter_mut().rev() {
        *b = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
}

/// Returns the number of a derived id given the part after its prefix, or
/// `None` if this module did not write those characters.
pub fn number_of_body(body: &[u8]) -> Option<u64> {
    if !LENGTHS.contains(&body.len()) {
        return None;
    }
    let mut value: u64 = 0;
    for b in &body[body.len() - NUMBER_CHARS..] {
        let digit = digit(*b)?;
        value = value.checked_mul(62)?.checked_add(u64::from(digit))?;
    }
    let number = unscramble(value);
    let mut expected = [0u8; 64];
    let expected = &mut expected[..body.len()];
    write_body(expected, number);
    (expected == body).then_some(number)
}

/// Splits a derived id into its prefix and its number. Returns `None` for an
/// id this module did not write, such as a product id the caller chose.
pub fn split(id: &str) -> Option<(&str, u64)> {
    let cut = id.rfind('_').map_or(0, |at| at + 1);
    let (prefix, body) = id.split_at(cut);
    number_of_body(body.as_bytes()).map(|number| (prefix, number))
}

fn digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'Z' => Some(b - b'A' + 10),
        b'a'..=b'z' => Some(b - b'a' + 36),
        _ => None,
    }
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;
const TAIL_KEY: u64 = 0x5bd1_e995_6a09_e667;
const SCRAMBLE_KEY: u64 = 0x3c6e_f372_a54f_f53a;
const M1: u64 = 0xff51_afd7_ed55_8ccd;
const M2: u64 = 0xc4ce_b9fe_1a85_ec53;
const M1_INVERSE: u64 = inverse(M1);
const M2_INVERSE: u64 = inverse(M2);

/// Computes the inverse of an odd number modulo 2^64, by Newton's iteration: each
/// step doubles the number of correct low bits.
const fn inverse(odd: u64) -> u64 {
    let mut x = odd;
    let mut step = 0;
    while step < 6 {
        x = x.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(x)));
        step += 1;
    }
    x
}

/// Maps 64-bit numbers one to one, spreading consecutive numbers apart.
/// Each step can be undone: a shift by 33 or more xored in is its own
/// inverse, and multiplication by an odd number has an inverse.
fn scramble(number: u64) -> u64 {
    let mut x = number ^ SCRAMBLE_KEY;
    x ^= x >> 33;
    x = x.wrapping_mul(M1);
    x ^= x >> 33;
    x = x.wrapping_mul(M2);
    x ^= x >> 33;
    x
}

fn unscramble(value: u64) -> u64 {
    let mut x = value;
    x ^= x >> 33;
    x = x.wrapping_mul(M2_INVERSE);
    x ^= x >> 33;
    x = x.wrapping_mul(M1_INVERSE);
    x ^= x >> 33;
    x ^ SCRAMBLE_KEY
}

fn mix(state: u64) -> u64 {
    let mut z = state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn splitmix(seed: u64) -> u64 {
    mix(seed.wrapping_add(GOLDEN))
}

/// Upper bound (2^53) of the seeds the fake draws itself. JSON readers that
/// hold numbers as doubles, such as JavaScript and jq, read smaller integers
/// exactly, so they can pass such a seed back.
pub const MAX_DRAWN_SEED: u64 = 1 << 53;

/// A stable seed for an account that has not set one, from its key.
pub fn seed_from_key(key: &str) -> u64 {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash % MAX_DRAWN_SEED
}

/// Returns the seed of a new account: its key's, mixed with the server's
/// seed when the server has one. It is below [`MAX_DRAWN_SEED`], as the
/// account's plan shows it.
pub fn account_seed(server_seed: Option<u64>, key: &str) -> u64 {
    let from_key = seed_from_key(key);
    match server_seed {
        None => from_key,
        Some(seed) => splitmix(seed ^ from_key) % MAX_DRAWN_SEED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_from_keys_survive_a_double() {
        for key in ["sk_test_a", "sk_test_bench_1", "sk_test_ääää", ""] {
            let seed = seed_from_key(key);
            assert!(seed < MAX_DRAWN_SEED, "{key}: {seed}");
            assert_eq!(seed as f64 as u64, seed, "{key}");
        }
    }

    #[test]
    fn restart_never_repeats_an_id() {
        let mut ids = IdGenerator::new(1);
        let mut seen = std::collections::HashSet::new();
        let mut first_of_seed_5 = None;
        for seed in [5, 9, 5, 1, 5] {
            ids.restart(seed);
            let first = ids.next("evt_");
            first_of_seed_5.get_or_insert_with(|| first.clone());
            assert!(seen.insert(first.clone()), "seed {seed} gave {first} again");
            for _ in 0..3 {
                let id = ids.next("evt_");
                assert!(seen.insert(id.clone()), "seed {seed} gave {id} again");
            }
        }
        // A seed the generator has not drawn from starts where a new
        // generator would.
        let mut fresh = IdGenerator::new(0);
        fresh.restart(5);
        assert_eq!(Some(fresh.next("evt_")), first_of_seed_5);
    }

    #[test]
    fn same_seed_same_ids() {
        let mut a = IdGenerator::new(7);
        let mut b = IdGenerator::new(7);
        assert_eq!(a.next("cs_test_"), b.next("cs_test_"));
        let mut c = IdGenerator::new(8);
        assert_ne!(a.next("pi_"), c.next("pi_"));
    }

    #[test]
    fn shapes_match_stripe() {
        let mut ids = IdGenerator::new(1);
        let session = ids.next("cs_test_");
        assert_eq!(session.len(), "cs_test_".len() + 58);
        let intent = ids.next("pi_");
        assert_eq!(intent.len(), 27);
        assert!(intent[3..].bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(ids.next("whsec_").len(), "whsec_".len() + 32);
    }

    #[test]
    fn compact_ids_print_as_they_came() {
        let mut ids = IdGenerator::new(5);
        let session = ids.next("cs_test_");
        let compact = CompactId::from(&session);
        assert!(matches!(compact, CompactId::Derived { .. }));
        assert_eq!(compact.to_string(), session);
        let long_prefix = ids.next("connected_account_");
        let own = "cs_test_chosen_by_a_test";
        for id in [long_prefix.as_str(), own] {
            let compact = CompactId::from(id);
            assert!(matches!(compact, CompactId::Text(_)));
            assert_eq!(compact.to_string(), id);
        }
        assert_eq!(std::mem::size_of::<CompactId>(), 24);
    }

    #[test]
    fn scramble_is_undone() {
        for n in [0, 1, 2, u64::MAX, GOLDEN, 1 << 63] {
            assert_eq!(unscramble(scramble(n)), n);
        }
        assert_eq!(M1.wrapping_mul(M1_INVERSE), 1);
        assert_eq!(M2.wrapping_mul(M2_INVERSE), 1);
    }

    #[test]
    fn consecutive_ids_look_unrelated() {
        let mut ids = IdGenerator::new(3);
        let a = ids.next("pi_");
        let b = ids.next("pi_");
        let same = a.bytes().zip(b.bytes()).filter(|(x, y)| x == y).count();
        // The shared prefix and, by chance, a character or two more.
        assert!(same < 8, "{a} and {b} share {same} characters");
    }

    #[test]
    fn ids_split_back_to_their_number() {
        let mut ids = IdGenerator::new(9);
        let first = ids.next("cs_test_");
        let second = ids.next("price_");
        let (prefix, n1) = split(&first).unwrap();
        assert_eq!(prefix, "cs_test_");
        let (prefix, n2) = split(&second).unwrap();
        assert_eq!(prefix, "price_");
        assert_eq!(n2, n1.wrapping_add(1));
        let mut rebuilt = String::from("price_");
        push_body(&mut rebuilt, n2, 24);
        assert_eq!(rebuilt, second);
        // One character changed, and the id is no longer one of ours.
        let mut forged = second.clone().into_bytes();
        let last = forged.len() - 1;
        forged[last] = if forged[last] == b'a' { b'b' } else { b'a' };
        assert!(split(std::str::from_utf8(&forged).unwrap()).is_none());
        assert!(split("prod_my_own_product").is_none());
        assert!(split("").is_none());
    }

    /// Spells a body one digit per division, the plain form of what
    /// `write_body` computes two digits at a time.
    fn body_one_digit_at_a_time(len: usize, number: u64) -> Vec<u8> {
        let mut body = vec![0u8; len];
        let (hashed, spelled) = body.split_at_mut(len - NUMBER_CHARS);
        let mut state = number ^ TAIL_KEY;
        for chunk in hashed.chunks_mut(10) {
            state = state.wrapping_add(GOLDEN);
            let mut bits = mix(state);
            for b in chunk {
                *b = ALPHABET[(bits % 62) as usize];
                bits /= 62;
            }
        }
        let mut value = scramble(number);
        for b in spelled.iter_mut().rev() {
            *b = ALPHABET[(value % 62) as usize];
            value /= 62;
        }
        body
    }

    #[test]
    fn digit_pairs_spell_like_single_digits() {
        let mut numbers = vec![0, 1, u64::MAX, u64::MAX / 3];
        numbers.extend((0..2000).map(splitmix));
        for number in numbers {
            for len in LENGTHS {
                let mut body = vec![0u8; len];
                write_body(&mut body, number);
                assert_eq!(
                    body,
                    body_one_digit_at_a_time(len, number),
                    "{number} {len}"
                );
            }
        }
    }
}
