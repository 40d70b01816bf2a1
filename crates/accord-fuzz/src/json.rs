//! Structural mutations of a JSON document: a node removed, replaced by a value of another type, wrapped, or
//! repeated, and byte-level damage to its serialization.

use proptest::prelude::*;
use serde_json::{Value, json};

/// One structural mutation, applied to the node with index `node % count` in a depth-first walk.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Removes the node from its object or array.
    Remove(u32),
    /// Replaces the node with a value of another shape.
    Replace(u32, u8),
    /// Wraps the node in an array.
    Wrap(u32),
    /// Repeats the elements of an array node `n` times.
    Repeat(u32, u8),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => any::<u32>().prop_map(Mutation::Remove),
        4 => (any::<u32>(), any::<u8>()).prop_map(|(node, with)| Mutation::Replace(node, with)),
        1 => any::<u32>().prop_map(Mutation::Wrap),
        1 => (any::<u32>(), 1u8..20).prop_map(|(node, times)| Mutation::Repeat(node, times)),
    ]
}

/// Returns a strategy of zero to `max` structural mutations.
pub fn mutations(max: usize) -> BoxedStrategy<Vec<Mutation>> {
    prop::collection::vec(mutation(), 0..=max).boxed()
}

/// A replacement value of another shape.
fn replacement(with: u8) -> Value {
    match with % 14 {
        0 => Value::Null,
        1 => json!(true),
        2 => json!(0),
        3 => json!(-1),
        4 => json!(1e308),
        5 => json!(u64::MAX),
        6 => json!(""),
        7 => json!(" "),
        8 => json!([]),
        9 => json!({}),
        10 => json!("x".repeat(10_000)),
        11 => json!("CVE-2024-3094"),
        12 => json!("2026-01-01T00:00:00Z"),
        _ => json!(["unclassified"]),
    }
}

fn count(value: &Value) -> u32 {
    1 + match value {
        Value::Array(items) => items.iter().map(count).sum(),
        Value::Object(map) => map.values().map(count).sum(),
        _ => 0,
    }
}

/// Applies `mutation` to the node with index `target` (0 is the root); returns `true` once applied.
fn apply_at(value: &mut Value, target: &mut u32, mutation: &Mutation) -> bool {
    let children: Vec<String> = match value {
        Value::Object(map) => map.keys().cloned().collect(),
        Value::Array(items) => (0..items.len()).map(|index| index.to_string()).collect(),
        _ => Vec::new(),
    };
    for key in children {
        *target = target.saturating_sub(1);
        if *target == 0 {
            match (mutation, &mut *value) {
                (Mutation::Remove(_), Value::Object(map)) => {
                    map.remove(&key);
                }
                (Mutation::Remove(_), Value::Array(items)) => {
                    items.remove(key.parse().unwrap_or(0));
                }
                (Mutation::Replace(_, with), _) => *child(value, &key) = replacement(*with),
                (Mutation::Wrap(_), _) => {
                    let inner = child(value, &key).take();
                    *child(value, &key) = json!([inner]);
                }
                (Mutation::Repeat(_, times), _) => {
                    if let Value::Array(items) = child(value, &key) {
                        let copy = items.clone();
                        for _ in 0..*times {
                            items.extend(copy.iter().cloned());
                        }
                    }
                }
                _ => {}
            }
            return true;
        }
        if apply_at(child(value, &key), target, mutation) {
            return true;
        }
    }
    false
}

fn child<'a>(value: &'a mut Value, key: &str) -> &'a mut Value {
    match value {
        Value::Object(map) => map.entry(key.to_owned()).or_insert(Value::Null),
        Value::Array(items) => {
            let index: usize = key.parse().unwrap_or(0);
            &mut items[index]
        }
        _ => value,
    }
}

/// Applies `mutations` to `document`, in order.
pub fn apply(mut document: Value, mutations: &[Mutation]) -> Value {
    for mutation in mutations {
        let nodes = count(&document);
        let (Mutation::Remove(node)
        | Mutation::Replace(node, _)
        | Mutation::Wrap(node)
        | Mutation::Repeat(node, _)) = mutation;
        let mut target = node % nodes;
        if target == 0 {
            if let Mutation::Replace(_, with) = mutation {
                document = replacement(*with);
            }
            continue;
        }
        apply_at(&mut document, &mut target, mutation);
    }
    document
}

/// Returns a strategy of `base`'s documents with up to `max` structural mutations (none in about a third of the
/// cases).
pub fn mutate(base: impl Strategy<Value = Value> + 'static, max: usize) -> BoxedStrategy<Value> {
    (base, mutations(max), 0u8..3)
        .prop_map(|(document, mutations, keep)| {
            if keep == 0 {
                document
            } else {
                apply(document, &mutations)
            }
        })
        .boxed()
}

/// Damage to a serialized document: cut, a byte replaced, or garbage inserted.
#[derive(Debug, Clone)]
pub enum ByteDamage {
    /// Leaves the bytes alone.
    None,
    /// Cuts the body at a fraction (`at / u16::MAX`) of its length.
    Truncate(u16),
    /// Replaces the byte at a fraction of the length.
    Flip(u16, u8),
    /// Inserts bytes at a fraction of the length.
    Insert(u16, Vec<u8>),
}

/// Returns a strategy of byte damage, none in most cases.
pub fn byte_damage() -> BoxedStrategy<ByteDamage> {
    prop_oneof![
        6 => Just(ByteDamage::None),
        1 => any::<u16>().prop_map(ByteDamage::Truncate),
        1 => (any::<u16>(), any::<u8>()).prop_map(|(at, byte)| ByteDamage::Flip(at, byte)),
        1 => (any::<u16>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(at, bytes)| ByteDamage::Insert(at, bytes)),
    ]
    .boxed()
}

/// Applies `damage` to `bytes`.
pub fn damage(mut bytes: Vec<u8>, damage: &ByteDamage) -> Vec<u8> {
    let at = |fraction: u16, len: usize| usize::from(fraction) * len / usize::from(u16::MAX);
    match damage {
        ByteDamage::None => {}
        ByteDamage::Truncate(fraction) => bytes.truncate(at(*fraction, bytes.len())),
        ByteDamage::Flip(fraction, byte) => {
            if !bytes.is_empty() {
                let index = at(*fraction, bytes.len() - 1);
                bytes[index] = *byte;
            }
        }
        ByteDamage::Insert(fraction, inserted) => {
            let index = at(*fraction, bytes.len());
            bytes.splice(index..index, inserted.iter().copied());
        }
    }
    bytes
}
