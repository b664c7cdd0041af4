//! Codes customers type at checkout (offer codes, reward codes): derived, not stored.

/// Letters a code is made of: no 0/O or 1/I/L to misread.
const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
pub const CODE_LETTERS: usize = 8;

/// A code: `PREFIX-` and eight letters, the same for the same `key` (a retry shows the same
/// code), unguessable without the shop's `secret`.
pub fn code(prefix: &str, secret: &[u8], key: &str) -> String {
    let mut seed = secret.to_vec();
    seed.push(0);
    seed.extend_from_slice(key.as_bytes());
    let mut n = crate::hash::mixed64(&seed);
    let mut letters = String::with_capacity(CODE_LETTERS);
    for _ in 0..CODE_LETTERS {
        letters.push(ALPHABET[(n % ALPHABET.len() as u64) as usize] as char);
        n /= ALPHABET.len() as u64;
        if n == 0 {
            n = crate::hash::mixed64(letters.as_bytes());
        }
    }
    format!("{prefix}-{letters}")
}
